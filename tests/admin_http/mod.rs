//! Shared by the admin-port tests: the suite with its admin port on an ephemeral
//! address, and a minimal HTTP/1.1 client (raw, so the tests see exactly what crossed
//! the wire: status, every header, the body).

#![allow(dead_code)]

use std::net::SocketAddr;

use idic::Application;
use idic_runtime::Config;
use idic_runtime::config::{ApiKeyConfig, Secret};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The suite serving gRPC and its admin port; [`AdminSuite::stop`] ends it.
pub struct AdminSuite {
    pub grpc: SocketAddr,
    pub admin: SocketAddr,
    config: Config,
    keys: idic::app::KeyReloader,
    stop: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
    _data_dir: tempfile::TempDir,
}

/// A client holding `scopes`, with the test kit's key for `name`.
pub fn client(name: &str, scopes: &[&str]) -> ApiKeyConfig {
    ApiKeyConfig {
        client: name.to_owned(),
        key: Some(Secret::new(idic_testkit::api_key(name))),
        key_sha256: None,
        scopes: scopes.iter().map(|scope| (*scope).to_owned()).collect(),
    }
}

impl AdminSuite {
    /// The embedded suite with `keys` (none: authentication off).
    pub async fn start(keys: Vec<ApiKeyConfig>) -> AdminSuite {
        let data_dir = tempfile::tempdir().expect("a temporary directory");
        let mut config = Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            admin_listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            data_dir: data_dir.path().to_path_buf(),
            ..Config::default()
        };
        config.auth.keys = keys;
        let application = Application::build(config).await.expect("the suite starts");
        let grpc = application.grpc_address();
        let admin = application.admin_address().expect("the admin port is on");
        let config = application.config().clone();
        let keys = application.key_reloader();
        let stop = CancellationToken::new();
        let task = tokio::spawn(application.run_until_stopped(stop.clone().cancelled_owned()));
        AdminSuite {
            grpc,
            admin,
            config,
            keys,
            stop,
            task,
            _data_dir: data_dir,
        }
    }

    /// Replaces the accepted keys, as `idic serve` does on SIGHUP.
    pub fn reload_keys(&self, keys: Vec<ApiKeyConfig>) {
        let mut config = self.config.clone();
        config.auth.keys = keys;
        self.keys
            .reload(&config.validated().expect("valid keys"))
            .expect("the keys reload");
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.grpc)
    }

    /// A gRPC channel presenting `key`.
    pub fn channel(&self, key: Option<&str>) -> idic_runtime::peers::PeerChannel {
        let channel = tonic::transport::Channel::from_shared(self.endpoint())
            .expect("a valid endpoint")
            .connect_lazy();
        let key = key.map(Secret::new);
        tonic::service::interceptor::InterceptedService::new(
            channel,
            idic_runtime::peers::PeerInterceptor::new(key.as_ref()).expect("a header-safe key"),
        )
    }

    pub async fn stop(self) {
        self.stop.cancel();
        self.task
            .await
            .expect("the suite task")
            .expect("the suite stops cleanly");
    }
}

/// An HTTP answer as received.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    /// Names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(header, _)| header == name)
            .map(|(_, value)| value.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|error| panic!("{error}: {}", self.body))
    }
}

/// Sends one request and reads its answer: to the end of the declared length, the
/// last chunk, or the closed connection (servers may keep it open whatever we ask).
pub async fn http(
    address: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpResponse {
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("the server accepts");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {address}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.expect("sending");
    stream.write_all(body).await.expect("sending the body");
    let mut raw = Vec::new();
    let mut buffer = [0u8; 16 * 1024];
    loop {
        if answer_complete(&raw) {
            break;
        }
        let read = stream.read(&mut buffer).await.expect("reading");
        if read == 0 {
            break;
        }
        raw.extend_from_slice(&buffer[..read]);
    }
    parse_response(&raw)
}

/// Whether `raw` holds a whole answer: its head and the body the head announces.
fn answer_complete(raw: &[u8]) -> bool {
    let text = String::from_utf8_lossy(raw);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    let head = head.to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse::<usize>().ok());
    if let Some(length) = length {
        return body.len() >= length;
    }
    if head.contains("transfer-encoding: chunked") {
        return body.ends_with("0\r\n\r\n");
    }
    false
}

fn parse_response(raw: &[u8]) -> HttpResponse {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").expect("a complete HTTP answer");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(name, value)| name == "transfer-encoding" && value.contains("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    HttpResponse {
        status,
        headers,
        body,
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.push_str(&rest[..size.min(rest.len())]);
        body = rest.get(size + 2..).unwrap_or("");
    }
    out
}
