//! The `idic` binary as a newcomer runs it: the example files of `examples/` imported
//! into a running suite with the client flags before the command, every report drawn
//! as a well-formed SVG, `--json` with RFC 3339 times, the offering's "why" and its
//! outcome, an import with a rejected row failing after its summary, a closed pipe
//! ending a command quietly, and `idic demo` walking its steps end to end.

use std::path::Path;
use std::process::{Output, Stdio};

use idic_testkit::TestSuite;
use tokio::io::AsyncBufReadExt as _;

const IDIC: &str = env!("CARGO_BIN_EXE_idic");

fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
        .display()
        .to_string()
}

/// `idic --server URL ARGS...`: the client flag before the command.
async fn idic(suite: &TestSuite, args: &[&str]) -> Output {
    tokio::process::Command::new(IDIC)
        .args(["--server", &suite.endpoint()])
        .args(args)
        .env_remove("IDIC_API_KEY")
        .output()
        .await
        .expect("idic runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Standard output of a command that must succeed.
async fn ok(suite: &TestSuite, args: &[&str]) -> String {
    let output = idic(suite, args).await;
    assert!(
        output.status.success(),
        "idic {args:?}: {}{}",
        stdout(&output),
        String::from_utf8_lossy(&output.stderr)
    );
    stdout(&output)
}

/// The texts of an SVG file, after checking that it is well-formed.
fn svg_texts(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("the chart was written");
    let document = roxmltree::Document::parse(&text).expect("well-formed SVG");
    assert_eq!(document.root_element().tag_name().name(), "svg");
    document
        .descendants()
        .filter(|node| node.has_tag_name("text"))
        .filter_map(|node| node.text())
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_rfc3339(text: &str) -> bool {
    text.len() >= 20
        && text.as_bytes()[4] == b'-'
        && text.as_bytes()[10] == b'T'
        && text.ends_with('Z')
}

#[tokio::test]
async fn the_examples_import_and_every_report_draws() {
    let suite = TestSuite::start().await;
    let charts = tempfile::tempdir().unwrap();

    let records = ok(&suite, &["import", "records", &example("records.csv")]).await;
    assert!(records.contains("700 received, 700 stored"), "{records}");
    assert!(records.contains("0 rejected"), "{records}");
    let transactions = ok(
        &suite,
        &["import", "transactions", &example("transactions.csv")],
    )
    .await;
    assert!(
        transactions.contains("325 rows") && transactions.contains(", 0 rejected"),
        "{transactions}"
    );
    let interactions = ok(
        &suite,
        &["import", "interactions", &example("interactions.csv")],
    )
    .await;
    assert!(
        interactions.contains("232 interactions recorded") && interactions.contains("0 rejected"),
        "{interactions}"
    );
    let catalog = ok(&suite, &["catalog", "import", &example("catalog.json")]).await;
    assert!(catalog.contains("rules: version 1"), "{catalog}");
    ok(
        &suite,
        &["value", "refit", "--observation-end", "2026-01-01"],
    )
    .await;

    // The client flags after the command work as well as before it.
    let skew_svg = charts.path().join("skew.svg");
    let skew = tokio::process::Command::new(IDIC)
        .args(["report", "skew", "--svg"])
        .arg(&skew_svg)
        .args(["--server", &suite.endpoint()])
        .output()
        .await
        .unwrap();
    assert!(
        skew.status.success(),
        "{}",
        String::from_utf8_lossy(&skew.stderr)
    );
    assert!(stdout(&skew).contains("Gini"), "{}", stdout(&skew));
    let texts = svg_texts(&skew_svg);
    for wanted in ["Gini", "top 2%", "top 20%", "tier A", "Lorenz curve"] {
        assert!(
            texts.contains(wanted),
            "{wanted} not in the skew chart: {texts}"
        );
    }

    let channels_svg = charts.path().join("channels.svg");
    let channels = ok(
        &suite,
        &[
            "report",
            "channels",
            "--from",
            "2025-01-01",
            "--to",
            "2026-01-01",
            "--svg",
            channels_svg.to_str().unwrap(),
        ],
    )
    .await;
    assert!(channels.contains("call-center"), "{channels}");
    let texts = svg_texts(&channels_svg);
    for wanted in ["automated share", "call-center", "web", "cost per contact"] {
        assert!(
            texts.contains(wanted),
            "{wanted} not in the channel chart: {texts}"
        );
    }

    // --json: the protobuf mapping, times in RFC 3339 (not "1749393030s").
    let json: serde_json::Value =
        serde_json::from_str(&ok(&suite, &["--json", "value", "skew"]).await).unwrap();
    let computed_at = json["computed_at"].as_str().expect("a time string");
    assert!(is_rfc3339(computed_at), "{computed_at}");
    assert!(json["gini"].as_f64().unwrap() > 0.0, "{json}");
    let strategy: serde_json::Value =
        serde_json::from_str(&ok(&suite, &["strategy", "--json"]).await).unwrap();
    assert!(
        !strategy["focus"].as_str().unwrap().is_empty(),
        "{strategy}"
    );
    let tier_a: serde_json::Value = serde_json::from_str(
        &ok(
            &suite,
            &["--json", "value", "list", "--tier", "A", "--limit", "5"],
        )
        .await,
    )
    .unwrap();
    let listed = tier_a["customers"].as_array().unwrap();
    assert!(!listed.is_empty() && listed.len() <= 5, "{tier_a}");
    assert!(listed.iter().all(|c| c["tier"] == "TIER_A"), "{tier_a}");

    // One customer of the examples: golden record, agent's view, offering and its why.
    let reference = std::fs::read_to_string(example("transactions.csv"))
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_owned();
    let customer = ok(&suite, &["customer", &reference]).await;
    assert!(
        customer.contains("golden record") && customer.contains("linked records"),
        "{customer}"
    );
    let context = ok(&suite, &["context", &reference]).await;
    assert!(context.contains("last interactions"), "{context}");
    let offering: serde_json::Value = serde_json::from_str(
        &ok(
            &suite,
            &[
                "--json",
                "offer",
                &reference,
                "--order",
                &example("order.json"),
            ],
        )
        .await,
    )
    .unwrap();
    let offering_id = offering["offering_id"].as_str().unwrap().to_owned();
    assert!(
        is_rfc3339(offering["created_at"].as_str().unwrap()),
        "{offering}"
    );
    let recorded = ok(
        &suite,
        &["outcome", &offering_id, "--accepted", "packaging"],
    )
    .await;
    assert!(recorded.contains("1 outcome(s) recorded"), "{recorded}");
    let why = ok(&suite, &["offering", &offering_id]).await;
    assert!(why.contains("why:") && why.contains("outcomes:"), "{why}");
    let learning_svg = charts.path().join("learning.svg");
    let learning = ok(
        &suite,
        &[
            "report",
            "learning",
            "--svg",
            learning_svg.to_str().unwrap(),
        ],
    )
    .await;
    assert!(learning.contains("learning policy"), "{learning}");
    let texts = svg_texts(&learning_svg);
    assert!(texts.contains("control group"), "{texts}");

    let history: serde_json::Value =
        serde_json::from_str(&ok(&suite, &["--json", "identity", "history", &reference]).await)
            .unwrap();
    assert!(history["events"].is_array(), "{history}");
    suite.stop().await.unwrap();
}

#[tokio::test]
async fn an_import_with_a_rejected_row_fails_after_its_summary() {
    let suite = TestSuite::start().await;
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        file.path(),
        "customer_ref,channel,type,key\n\
         loyalty:1,web,web-visit,k-1\n\
         loyalty:1,pigeon,call,k-2\n",
    )
    .unwrap();
    let output = idic(
        &suite,
        &["import", "interactions", file.path().to_str().unwrap()],
    )
    .await;
    let printed = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{printed}");
    assert!(
        printed.contains("1 interactions recorded, 0 already recorded, 1 rejected"),
        "{printed}"
    );
    assert!(printed.contains("line 3: channel"), "{printed}");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("1 rows rejected"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    suite.stop().await.unwrap();
}

#[tokio::test]
async fn a_reader_that_stops_early_ends_a_command_quietly() {
    // Completions print thousands of lines and need no server.
    let mut child = tokio::process::Command::new(IDIC)
        .args(["completions", "bash"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(lines.next_line().await.unwrap().is_some());
    drop(lines);
    let output = child.wait_with_output().await.unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[tokio::test]
async fn the_demo_walks_the_four_steps_and_learns() {
    let output = tokio::process::Command::new(IDIC)
        .args([
            "demo",
            "--customers",
            "500",
            "--exit",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ])
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .output()
        .await
        .expect("idic demo runs");
    let printed = stdout(&output);
    assert!(
        output.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for wanted in [
        "0. A company of your own",
        "0 rejected",
        "1. Identify",
        "systems recorded",
        "matched them into one customer",
        "above the threshold",
        "2. Differentiate",
        "Gini",
        "focus",
        "3. Interact",
        "open threads (",
        "damaged item",
        "4. Customize",
        "why: eco packaging",
        "5. Learn",
        "(changed by the answer)",
        "Reports",
        "The demo took",
        "the suite stopped (--exit)",
    ] {
        assert!(
            printed.contains(wanted),
            "{wanted:?} missing from:\n{printed}"
        );
    }
}
