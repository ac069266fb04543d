//! The production layout on loopback: four processes of the real `idic` binary, one
//! `idic serve --service <name>` each, on one fresh PostgreSQL database and one Redis
//! key space, with API keys on and every peer reached by its configured address, as
//! `deploy/overlays/production` runs them. A test can route a process's database,
//! Redis or peer traffic through a [`crate::proxy::FaultProxy`] to break it on purpose,
//! and SIGKILL and restart any process.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use idic_proto::v1::customization_service_client::CustomizationServiceClient;
use idic_proto::v1::differentiation_service_client::DifferentiationServiceClient;
use idic_proto::v1::identity_service_client::IdentityServiceClient;
use idic_proto::v1::interaction_service_client::InteractionServiceClient;
use idic_runtime::config::Secret;
use idic_runtime::peers::{PeerChannel, PeerInterceptor};
use idic_testkit::{TestPostgres, TestRedis, require_postgres, require_redis};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// The four services, in the order they are started.
pub const SERVICES: [Service; 4] = [
    Service::Identity,
    Service::Differentiation,
    Service::Interaction,
    Service::Customization,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Service {
    Identity,
    Differentiation,
    Interaction,
    Customization,
}

impl Service {
    pub fn name(self) -> &'static str {
        match self {
            Service::Identity => "identity",
            Service::Differentiation => "differentiation",
            Service::Interaction => "interaction",
            Service::Customization => "customization",
        }
    }

    fn peer_variable(self) -> String {
        format!("IDIC_PEERS__{}", self.name().to_ascii_uppercase())
    }
}

/// The key the services present to each other, with the scopes `deploy/base/secrets.example.env` gives it.
const PEER_KEY: &str = "idic-peers-production-test-key";
const PEER_SCOPES: &[&str] = &[
    "identity:read",
    "identity:write",
    "differentiation:read",
    "interaction:read",
];

/// The clients of the stories, each with only the scopes its job needs.
const CLIENTS: &[(&str, &[&str])] = &[
    (
        "callcenter",
        &[
            "identity:read",
            "identity:write",
            "interaction:read",
            "interaction:write",
            "differentiation:read",
        ],
    ),
    (
        "web",
        &[
            "identity:read",
            "identity:write",
            "interaction:read",
            "interaction:write",
        ],
    ),
    (
        "orders",
        &[
            "identity:read",
            "identity:write",
            "differentiation:read",
            "differentiation:write",
            "customization:read",
        ],
    ),
    ("loader", &["identity:read", "identity:write"]),
    (
        "merchandising",
        &["customization:read", "customization:write"],
    ),
    ("dpo", &["admin"]),
];

/// The API key of one of [`CLIENTS`].
pub fn key_of(client: &str) -> String {
    assert!(
        CLIENTS.iter().any(|(name, _)| *name == client),
        "{client} is a client of the test"
    );
    format!("{client}-production-test-key")
}

/// `IDIC_AUTH__KEYS` as the Secret holds it: a TOML inline array on one line.
fn auth_keys_variable() -> String {
    let entry = |client: &str, key: &str, scopes: &[&str]| {
        let scopes: Vec<String> = scopes.iter().map(|scope| format!("\"{scope}\"")).collect();
        format!(
            "{{client=\"{client}\", key=\"{key}\", scopes=[{}]}}",
            scopes.join(",")
        )
    };
    let mut entries = vec![entry("idic-peers", PEER_KEY, PEER_SCOPES)];
    for (client, scopes) in CLIENTS {
        entries.push(entry(client, &key_of(client), scopes));
    }
    format!("[{}]", entries.join(", "))
}

/// Where a process finds its dependencies: a proxy's address where a test breaks one.
#[derive(Default, Clone)]
pub struct Routes {
    /// The proxy a service reaches PostgreSQL through, if any.
    pub database: BTreeMap<Service, SocketAddr>,
    /// The proxy a service reaches Redis through, if any.
    pub redis: BTreeMap<Service, SocketAddr>,
    /// The address `from` dials to reach `to`, when not `to`'s own.
    pub peer: BTreeMap<(Service, Service), SocketAddr>,
}

impl Routes {
    /// Every service reaches PostgreSQL through `proxy`.
    pub fn database_through(proxy: SocketAddr) -> Routes {
        Routes {
            database: SERVICES.iter().map(|service| (*service, proxy)).collect(),
            ..Routes::default()
        }
    }

    /// Every service reaches Redis through `proxy`.
    pub fn redis_through(proxy: SocketAddr) -> Routes {
        Routes {
            redis: SERVICES.iter().map(|service| (*service, proxy)).collect(),
            ..Routes::default()
        }
    }
}

/// How to start the cluster.
#[derive(Default)]
pub struct ClusterOptions {
    /// The OTLP/gRPC endpoint spans are exported to.
    pub otlp_endpoint: Option<String>,
    pub routes: Routes,
    /// Extra variables for every process.
    pub env: Vec<(String, String)>,
    /// The gRPC address of a service, when the test must know it before the start.
    pub grpc_addresses: BTreeMap<Service, SocketAddr>,
}

struct Process {
    child: Child,
    grpc: SocketAddr,
    admin: SocketAddr,
}

/// The four running processes and what they run on. Dropping it kills them.
pub struct Cluster {
    /// Taken by [`Cluster::stop`] to drop the database.
    postgres: Option<TestPostgres>,
    pub database_url: String,
    pub redis: TestRedis,
    options: ClusterOptions,
    processes: BTreeMap<Service, Process>,
    data_dir: tempfile::TempDir,
}

/// A port nobody listens on now; the process binds it a moment later.
pub fn free_address() -> SocketAddr {
    idic_testkit::free_loopback_address()
}

impl Cluster {
    /// A fresh database and Redis key space, and the four processes on them; `None`
    /// when PostgreSQL or Redis is missing outside CI.
    pub async fn start(options: ClusterOptions) -> Option<Cluster> {
        let postgres = require_postgres().await?;
        let redis = require_redis().await?;
        let mut cluster = Cluster {
            database_url: postgres.url.clone(),
            postgres: Some(postgres),
            redis,
            options,
            processes: BTreeMap::new(),
            data_dir: tempfile::tempdir().expect("a temporary directory"),
        };
        let addresses: Vec<(Service, SocketAddr, SocketAddr)> = SERVICES
            .iter()
            .map(|service| {
                let grpc = cluster
                    .options
                    .grpc_addresses
                    .get(service)
                    .copied()
                    .unwrap_or_else(free_address);
                (*service, grpc, free_address())
            })
            .collect();
        let mut starting = Vec::new();
        for (service, grpc, admin) in &addresses {
            let child = cluster.spawn(*service, *grpc, *admin, &addresses);
            starting.push((*service, child, *grpc, *admin));
        }
        for (service, child, grpc, admin) in starting {
            let child = wait_until_listening(service, child);
            cluster
                .processes
                .insert(service, Process { child, grpc, admin });
        }
        Some(cluster)
    }

    fn spawn(
        &self,
        service: Service,
        grpc: SocketAddr,
        admin: SocketAddr,
        addresses: &[(Service, SocketAddr, SocketAddr)],
    ) -> Child {
        let routes = &self.options.routes;
        let mut command = Command::new(env!("CARGO_BIN_EXE_idic"));
        command
            .args(["serve", "--service", service.name()])
            .arg("--listen")
            .arg(grpc.to_string())
            .arg("--admin-listen")
            .arg(admin.to_string())
            .arg("--data-dir")
            .arg(self.data_dir.path().join(service.name()))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("IDIC_ENV", "production")
            .env("IDIC_LOG_FORMAT", "json")
            .env("IDIC_LOG_FILTER", "error")
            .env("IDIC_AUTH__KEYS", auth_keys_variable())
            .env("IDIC_PEERS__API_KEY", PEER_KEY)
            .env(
                "DATABASE_URL",
                routes.database.get(&service).map_or_else(
                    || self.database_url.clone(),
                    |proxy| crate::proxy::via(&self.database_url, *proxy),
                ),
            )
            .env(
                "REDIS_URL",
                routes.redis.get(&service).map_or_else(
                    || self.redis.url.clone(),
                    |proxy| crate::proxy::via(&self.redis.url, *proxy),
                ),
            )
            .env("IDIC_REDIS__KEY_PREFIX", &self.redis.key_prefix)
            .env("IDIC_DATABASE__MAX_CONNECTIONS", "4")
            .env("IDIC_GRPC__SHUTDOWN_GRACE_MS", "1000")
            // Debug builds on a shared 2-core machine: give the fan-out a wider
            // deadline than the 200 ms default so a whole answer is not a matter of luck.
            .env("IDIC_CUSTOMIZATION__DEPENDENCY_TIMEOUT_MS", "1000")
            .env("OTEL_SERVICE_NAME", format!("idic-{}", service.name()))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (peer, peer_grpc, _) in addresses {
            let address = routes
                .peer
                .get(&(service, *peer))
                .copied()
                .unwrap_or(*peer_grpc);
            command.env(peer.peer_variable(), format!("http://{address}"));
        }
        if let Some(endpoint) = &self.options.otlp_endpoint {
            command
                .env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
                // Export every few hundred milliseconds so the test need not wait 5 s.
                .env("OTEL_BSP_SCHEDULE_DELAY", "200");
        }
        // A developer's RUST_LOG reaches the processes (their logs go to stderr).
        if let Some(filter) = std::env::var_os("RUST_LOG") {
            command.env("RUST_LOG", filter);
        }
        for (name, value) in &self.options.env {
            command.env(name, value);
        }
        command.spawn().expect("the idic binary starts")
    }

    /// SIGKILL: no shutdown, no flush, as an OOM kill or a lost node.
    pub fn kill(&mut self, service: Service) {
        let process = self.processes.get_mut(&service).expect("a started service");
        process.child.kill().expect("SIGKILL is delivered");
        process.child.wait().expect("the killed process is reaped");
    }

    /// Starts `service` again on the same addresses, and waits until it listens.
    pub fn restart(&mut self, service: Service) {
        let addresses: Vec<(Service, SocketAddr, SocketAddr)> = self
            .processes
            .iter()
            .map(|(name, process)| (*name, process.grpc, process.admin))
            .collect();
        let process = &self.processes[&service];
        let (grpc, admin) = (process.grpc, process.admin);
        let child = self.spawn(service, grpc, admin, &addresses);
        let child = wait_until_listening(service, child);
        self.processes.get_mut(&service).expect("known").child = child;
    }

    pub fn grpc_address(&self, service: Service) -> SocketAddr {
        self.processes[&service].grpc
    }

    pub fn admin_address(&self, service: Service) -> SocketAddr {
        self.processes[&service].admin
    }

    /// A channel to `service` presenting `client`'s key.
    pub fn channel(&self, service: Service, client: &str) -> PeerChannel {
        let channel = Channel::from_shared(format!("http://{}", self.grpc_address(service)))
            .expect("a valid endpoint")
            .connect_timeout(Duration::from_secs(2))
            .connect_lazy();
        let key = Secret::new(key_of(client));
        InterceptedService::new(
            channel,
            PeerInterceptor::new(Some(&key)).expect("a header-safe key"),
        )
    }

    pub fn identity(&self, client: &str) -> IdentityServiceClient<PeerChannel> {
        IdentityServiceClient::new(self.channel(Service::Identity, client))
    }

    pub fn differentiation(&self, client: &str) -> DifferentiationServiceClient<PeerChannel> {
        DifferentiationServiceClient::new(self.channel(Service::Differentiation, client))
    }

    pub fn interaction(&self, client: &str) -> InteractionServiceClient<PeerChannel> {
        InteractionServiceClient::new(self.channel(Service::Interaction, client))
    }

    pub fn customization(&self, client: &str) -> CustomizationServiceClient<PeerChannel> {
        CustomizationServiceClient::new(self.channel(Service::Customization, client))
    }

    /// The body of `GET /metrics` on `service`'s admin port.
    pub async fn scrape(&self, service: Service) -> String {
        crate::http::get(self.admin_address(service), "/metrics").await
    }

    /// Stops the processes and drops the database and the Redis keys.
    pub async fn stop(mut self) {
        for process in self.processes.values_mut() {
            let _ = process.child.kill();
            let _ = process.child.wait();
        }
        self.processes.clear();
        let _ = self.redis.clean().await;
        if let Some(postgres) = self.postgres.take() {
            let _ = postgres.drop_database().await;
        }
    }

    /// The data directory (unused on PostgreSQL, but each process is given one).
    #[allow(dead_code)]
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir.path().to_path_buf()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for process in self.processes.values_mut() {
            let _ = process.child.kill();
            let _ = process.child.wait();
        }
    }
}

/// Reads the process's announcement; panics with its exit status if it never comes.
fn wait_until_listening(service: Service, mut child: Child) -> Child {
    let stdout = child.stdout.take().expect("stdout is piped");
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let mut announced = false;
        for line in lines.by_ref() {
            let Ok(line) = line else { break };
            if !announced && line.starts_with("IDIC suite listening on ") {
                announced = true;
                let _ = sender.send(());
            }
        }
    });
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        if receiver.recv_timeout(Duration::from_millis(100)).is_ok() {
            return child;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "idic serve --service {} exited at start: {status}",
                service.name()
            );
        }
    }
    let _ = child.kill();
    panic!(
        "idic serve --service {} did not listen within 60 s",
        service.name()
    );
}
