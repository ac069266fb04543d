//! SIGTERM during a call: the process stops accepting, lets the call finish, exits 0.
//! Runs the real `idic` binary; the in-flight call is a reflection stream that stays
//! open across the signal and is used again after it.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

fn list_services() -> ServerReflectionRequest {
    ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    }
}

/// Starts `idic` on free ports and returns it with the address it printed.
fn start_idic(data_dir: &std::path::Path) -> (std::process::Child, String) {
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
        .env("IDIC_GRPC__SHUTDOWN_GRACE_MS", "10000")
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
    // Keep draining stdout so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, address)
}

fn send_sigterm(child: &std::process::Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn sigterm_lets_the_call_in_flight_finish_and_exits_zero() {
    let data_dir = tempfile::tempdir().unwrap();
    let (mut child, address) = start_idic(data_dir.path());
    let endpoint = format!("http://{address}");
    let channel = Channel::from_shared(endpoint.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut reflection = ServerReflectionClient::new(channel);

    let (requests, request_stream) = mpsc::channel(4);
    requests.send(list_services()).await.unwrap();
    let mut responses = reflection
        .server_reflection_info(ReceiverStream::new(request_stream))
        .await
        .unwrap()
        .into_inner();
    assert!(
        responses.next().await.unwrap().is_ok(),
        "the call is under way"
    );

    send_sigterm(&child);
    tokio::time::sleep(Duration::from_millis(500)).await;

    // New connections are refused once shutdown began...
    let refused = tokio::time::timeout(
        Duration::from_secs(2),
        Channel::from_shared(endpoint).unwrap().connect(),
    )
    .await;
    assert!(
        !matches!(refused, Ok(Ok(_))),
        "a new connection was accepted after SIGTERM"
    );
    assert!(
        child.try_wait().unwrap().is_none(),
        "the process waits for the call in flight"
    );

    // ...while the call in flight goes on and finishes normally.
    requests.send(list_services()).await.unwrap();
    let answer = responses
        .next()
        .await
        .unwrap()
        .expect("the in-flight call still answers");
    assert!(matches!(
        answer.message_response,
        Some(MessageResponse::ListServicesResponse(_))
    ));
    drop(requests);
    assert!(responses.next().await.is_none(), "the call ends cleanly");

    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0), "exit status after SIGTERM");
}
