//! A TCP proxy the test controls, put between a process and one of its dependencies
//! (PostgreSQL, Redis, a peer) to break that dependency on purpose: [`Mode::Cut`]
//! closes every connection and every new one at once (a restart or crash as the
//! client sees it), [`Mode::Hang`] keeps connections open but forwards nothing (a
//! dependency that stopped answering), [`Mode::Forward`] passes bytes both ways.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Forward,
    Hang,
    Cut,
}

pub struct FaultProxy {
    address: SocketAddr,
    mode: watch::Sender<Mode>,
}

impl FaultProxy {
    /// A proxy to `upstream` on a loopback port, forwarding.
    pub async fn start(upstream: SocketAddr) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let address = listener.local_addr().expect("a bound address");
        let (mode, watcher) = watch::channel(Mode::Forward);
        tokio::spawn(accept_loop(listener, upstream, watcher));
        FaultProxy { address, mode }
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }
}

async fn accept_loop(listener: TcpListener, upstream: SocketAddr, mode: watch::Receiver<Mode>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            return;
        };
        if *mode.borrow() == Mode::Cut {
            drop(client);
            continue;
        }
        tokio::spawn(forward(client, upstream, mode.clone()));
    }
}

/// Copies bytes both ways while the mode is `Forward`, holds them while `Hang`, and
/// drops both sides at `Cut` or when either side closes.
async fn forward(mut client: TcpStream, upstream: SocketAddr, mut mode: watch::Receiver<Mode>) {
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let mut from_client = vec![0u8; 16 * 1024];
    let mut from_server = vec![0u8; 16 * 1024];
    loop {
        let current = *mode.borrow_and_update();
        match current {
            Mode::Cut => return,
            Mode::Hang => {
                if mode.changed().await.is_err() {
                    return;
                }
            }
            Mode::Forward => {
                tokio::select! {
                    read = client.read(&mut from_client) => match read {
                        Ok(0) | Err(_) => return,
                        Ok(n) => if server.write_all(&from_client[..n]).await.is_err() { return },
                    },
                    read = server.read(&mut from_server) => match read {
                        Ok(0) | Err(_) => return,
                        Ok(n) => if client.write_all(&from_server[..n]).await.is_err() { return },
                    },
                    changed = mode.changed() => if changed.is_err() { return },
                }
            }
        }
    }
}

/// `url` with its host and port replaced by `address` (the proxy's).
pub fn via(url: &str, address: SocketAddr) -> String {
    let mut parsed = url::Url::parse(url).expect("a valid URL");
    parsed
        .set_ip_host(address.ip())
        .expect("the URL has a host");
    parsed
        .set_port(Some(address.port()))
        .expect("the URL takes a port");
    parsed.to_string()
}

/// The host and port `url` points at.
pub fn target_of(url: &str) -> SocketAddr {
    let parsed = url::Url::parse(url).expect("a valid URL");
    let host = parsed.host_str().expect("the URL has a host");
    let host = if host == "localhost" {
        "127.0.0.1"
    } else {
        host
    };
    let port = parsed
        .port_or_known_default()
        .unwrap_or(match parsed.scheme() {
            "redis" => 6379,
            _ => 5432,
        });
    format!("{host}:{port}")
        .parse()
        .expect("a loopback IP address")
}
