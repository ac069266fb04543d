//! The Python call-center example (examples/python/call_center.py) against a live
//! suite: the `idic` binary is started as a user would start it, and the script, with
//! its gRPC code generated from proto/ at run time, resolves the caller, reads the
//! context, records the call (twice: the retry changes nothing) and gets an offering.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

/// The suite process, killed when the test ends however it ends.
struct Suite(Child);

impl Drop for Suite {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `idic serve` on free ports and returns it with its gRPC address, read from
/// the start-up announcement.
fn start_suite(data_dir: &Path) -> (Suite, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_idic"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the idic binary starts");
    let stdout = child.stdout.take().expect("its standard output");
    let suite = Suite(child);
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let line = line.expect("a line of the announcement");
        if let Some(rest) = line.strip_prefix("IDIC suite listening on ") {
            let address = rest
                .split_whitespace()
                .next()
                .expect("an address")
                .to_owned();
            // Keep reading, so that the suite's later output never meets a closed pipe.
            std::thread::spawn(move || lines.for_each(drop));
            return (suite, address);
        }
    }
    panic!("the suite ended without announcing its address");
}

fn python_ready() -> bool {
    let probe = Command::new("python3")
        .args(["-c", "import grpc, grpc_tools"])
        .output();
    match probe {
        Ok(output) if output.status.success() => true,
        outcome => {
            assert!(
                std::env::var_os("CI").is_none(),
                "python3 with grpcio and grpcio-tools is required under CI (pip install -r examples/python/requirements.txt): {outcome:?}"
            );
            eprintln!("skipped: python3 with grpcio and grpcio-tools not found");
            false
        }
    }
}

fn call_center(address: &str, extra: &[&str]) -> Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/python/call_center.py");
    Command::new("python3")
        .arg(script)
        .args(["--server", address])
        .args(extra)
        .output()
        .expect("python3 runs")
}

/// The first word after `prefix` on the line that starts with it.
fn after(output: &str, prefix: &str) -> String {
    output
        .lines()
        .find_map(|line| line.strip_prefix(prefix))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("a line '{prefix}…' in: {output}"))
        .to_owned()
}

/// The catalog an order system would have loaded: one packaging component.
fn load_catalog(address: &str) {
    use idic_proto::v1 as pb;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut client = pb::customization_service_client::CustomizationServiceClient::connect(
            format!("http://{address}"),
        )
        .await
        .expect("the suite accepts gRPC");
        client
            .upsert_components(pb::UpsertComponentsRequest {
                components: vec![pb::Component {
                    component_id: "packaging.standard".into(),
                    slot: pb::Slot::Packaging as i32,
                    name: "standard box".into(),
                    cost: Some(pb::Money {
                        currency: "EUR".into(),
                        minor_units: 50,
                    }),
                    available: true,
                    ..Default::default()
                }],
            })
            .await
            .expect("the catalog loads");
    });
}

#[test]
fn the_python_call_center_example_runs_against_a_live_suite() {
    if !python_ready() {
        return;
    }
    let data_dir = tempfile::tempdir().unwrap();
    let (_suite, address) = start_suite(data_dir.path());
    load_catalog(&address);

    let first = call_center(&address, &["--seed-caller", "--call-id", "call-42"]);
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(
        first.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let caller = stdout
        .lines()
        .find_map(|line| line.strip_prefix("caller: "))
        .unwrap_or_else(|| panic!("the caller is resolved: {stdout}"));
    assert!(
        caller.starts_with("cus_") && caller.contains("Ada Lovelace"),
        "{stdout}"
    );
    assert!(stdout.contains("context: Ada Lovelace"), "{stdout}");
    let recorded = after(&stdout, "call recorded: ");
    assert!(
        stdout.contains("packaging: standard box - "),
        "the offering has the catalog's packaging with its reason: {stdout}"
    );
    let offering = after(&stdout, "offering: ");

    // The telephony system retries the same call: recorded once, the same offering.
    let retry = call_center(&address, &["--call-id", "call-42"]);
    let retried = String::from_utf8_lossy(&retry.stdout);
    assert!(retry.status.success(), "{retried}");
    assert_eq!(after(&retried, "call already recorded: "), recorded);
    assert_eq!(after(&retried, "offering: "), offering);
}
