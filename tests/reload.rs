//! SIGHUP reloads the API keys from the configuration file: a rotated key works and the
//! old one is refused, without a restart. Runs the real `idic` binary.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use idic_proto::v1::identity_service_client::IdentityServiceClient;
use idic_proto::v1::{CustomerRef, GetCustomerRequest, customer_ref};
use idic_runtime::config::Secret;
use idic_runtime::peers::PeerInterceptor;
use tonic::Code;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

const OLD_KEY: &str = "callcenter-old-key-0001";
const NEW_KEY: &str = "callcenter-new-key-0002";

fn write_keys(file: &Path, key: &str) {
    std::fs::write(
        file,
        format!(
            "[[auth.keys]]\nclient = \"callcenter\"\nkey_sha256 = \"{}\"\nscopes = [\"identity:read\"]\n",
            idic_runtime::auth::hex_digest(key)
        ),
    )
    .unwrap();
}

fn start_idic(config: &Path, data_dir: &Path) -> (std::process::Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_idic"))
        .arg("serve")
        .arg("--config")
        .arg(config)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(data_dir)
        // Internal watch streams stay open until the grace period ends: keep it short.
        .env("IDIC_GRPC__SHUTDOWN_GRACE_MS", "1000")
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("idic starts");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let address = loop {
        let line = lines.next().expect("idic prints its address").unwrap();
        if let Some(rest) = line.strip_prefix("IDIC suite listening on ") {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (child, address)
}

fn signal(child: &std::process::Child, name: &str) {
    let status = Command::new("kill")
        .args([name, &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

/// The status a GetCustomer with `key` gets: NOT_FOUND means the key was accepted.
async fn answer_to(address: &str, key: &str) -> Code {
    let channel = Channel::from_shared(format!("http://{address}"))
        .unwrap()
        .connect_lazy();
    let interceptor = PeerInterceptor::new(Some(&Secret::new(key))).unwrap();
    let mut identity = IdentityServiceClient::new(InterceptedService::new(channel, interceptor));
    identity
        .get_customer(GetCustomerRequest {
            customer: Some(CustomerRef {
                r#ref: Some(customer_ref::Ref::CustomerId("cus_unknown".into())),
            }),
        })
        .await
        .expect_err("no customer is stored")
        .code()
}

#[tokio::test]
async fn sighup_rotates_api_keys_without_a_restart() {
    let directory = tempfile::tempdir().unwrap();
    let config = directory.path().join("idic.toml");
    write_keys(&config, OLD_KEY);
    let (mut child, address) = start_idic(&config, &directory.path().join("data"));
    assert_eq!(answer_to(&address, OLD_KEY).await, Code::NotFound);
    assert_eq!(answer_to(&address, NEW_KEY).await, Code::Unauthenticated);

    write_keys(&config, NEW_KEY);
    signal(&child, "-HUP");
    let mut rotated = false;
    for _ in 0..50 {
        if answer_to(&address, NEW_KEY).await == Code::NotFound {
            rotated = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(rotated, "the new key is accepted after SIGHUP");
    assert_eq!(answer_to(&address, OLD_KEY).await, Code::Unauthenticated);

    // A file that does not validate keeps the current keys.
    std::fs::write(
        &config,
        "[[auth.keys]]\nclient = \"x\"\nkey = \"short\"\nscopes = [\"identity:read\"]\n",
    )
    .unwrap();
    signal(&child, "-HUP");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(answer_to(&address, NEW_KEY).await, Code::NotFound);
    assert!(child.try_wait().unwrap().is_none(), "still serving");

    signal(&child, "-TERM");
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}
