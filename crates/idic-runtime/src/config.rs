//! Layered configuration: built-in defaults, then a TOML file, then environment
//! variables (`IDIC_...`, with `__` between section and key), then command-line flags.
//!
//! Secrets are held in [`Secret`], which never prints: [`Config::to_masked_toml`] is what
//! `idic config` shows.

use std::collections::BTreeSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use crate::service_name::ServiceName;

/// A value that must never appear in logs or printed configuration.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The clear value, for the one place that needs it (a connection, a comparison).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(********)")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("********")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

/// A connection URL whose password must not print; the rest of it may.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(String);

impl SecretUrl {
    pub fn new(value: impl Into<String>) -> Self {
        SecretUrl(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with its password (if any) replaced by `********`.
    pub fn masked(&self) -> String {
        match url::Url::parse(&self.0) {
            Ok(mut parsed) if parsed.password().is_some() => {
                // set_password only fails for URLs that cannot have one.
                let _ = parsed.set_password(Some("********"));
                parsed.to_string()
            }
            Ok(_) => self.0.clone(),
            Err(_) => "********".to_owned(),
        }
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretUrl({})", self.masked())
    }
}

impl Serialize for SecretUrl {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.masked())
    }
}

impl<'de> Deserialize<'de> for SecretUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(SecretUrl)
    }
}

/// Where the suite runs: development allows running without credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    #[default]
    Development,
    Production,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Human,
    /// One JSON object per line, for log collectors.
    Json,
}

/// One client allowed to call the suite. Give either the key itself (`key`) or its
/// SHA-256 digest in hex (`key_sha256`, e.g. `printf %s "$KEY" | sha256sum`), so that
/// configuration need not hold the key. Several keys may share a client name (rotation).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiKeyConfig {
    /// A name for the client, recorded as "who" in audits and metrics.
    pub client: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_sha256: Option<String>,
    /// Scopes such as `identity:read`, `interaction:write`, `admin`.
    pub scopes: BTreeSet<String>,
}

impl ApiKeyConfig {
    /// The digest the key is known by.
    pub fn digest(&self) -> Result<crate::key_digest::KeyDigest, String> {
        match (&self.key, &self.key_sha256) {
            (Some(key), None) => Ok(crate::key_digest::digest_key(key.expose())),
            (None, Some(hex_digest)) => {
                let mut digest = [0u8; 32];
                hex::decode_to_slice(hex_digest.trim(), &mut digest).map_err(|_| {
                    format!(
                        "auth.keys: key_sha256 of client '{}' is not 64 hexadecimal digits",
                        self.client
                    )
                })?;
                Ok(digest)
            }
            (Some(_), Some(_)) => Err(format!(
                "auth.keys: client '{}' has both key and key_sha256; keep one",
                self.client
            )),
            (None, None) => Err(format!(
                "auth.keys: client '{}' has neither key nor key_sha256",
                self.client
            )),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct AuthConfig {
    pub keys: Vec<ApiKeyConfig>,
}

/// Tuning of the gRPC server.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct GrpcConfig {
    /// The longest a request may run; a client's shorter `grpc-timeout` wins.
    pub max_request_ms: u64,
    /// The same for long-running streams (bulk imports, watches): they end at this
    /// limit, and watchers resume from their last event.
    pub max_stream_ms: u64,
    /// Requests handled at once; more are shed with UNAVAILABLE and a retry hint.
    pub concurrency_limit: usize,
    /// How long in-flight calls may take to finish after SIGTERM.
    pub shutdown_grace_ms: u64,
    /// The largest message accepted or sent, in bytes.
    pub max_message_bytes: usize,
    /// PEM certificate and key: with both set the server speaks TLS.
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    /// PEM CA bundle: with it set, clients must present a certificate it signed (mTLS).
    pub tls_client_ca_file: Option<PathBuf>,
}

impl Default for GrpcConfig {
    fn default() -> Self {
        GrpcConfig {
            max_request_ms: 30_000,
            max_stream_ms: 3_600_000,
            concurrency_limit: 1024,
            shutdown_grace_ms: 20_000,
            max_message_bytes: 16 * 1024 * 1024,
            tls_cert_file: None,
            tls_key_file: None,
            tls_client_ca_file: None,
        }
    }
}

impl GrpcConfig {
    pub fn max_request(&self) -> Duration {
        Duration::from_millis(self.max_request_ms)
    }

    pub fn max_stream(&self) -> Duration {
        Duration::from_millis(self.max_stream_ms)
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.shutdown_grace_ms)
    }
}

/// Addresses of the other services. Unset peers are reached at this process's own
/// listen address, which is right for the all-in-one server.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct PeersConfig {
    pub identity: Option<String>,
    pub differentiation: Option<String>,
    pub interaction: Option<String>,
    pub customization: Option<String>,
    /// The API key this process presents to its peers when they require one.
    pub api_key: Option<Secret>,
    /// PEM CA bundle that signs the peers' certificates (for `https://` peers).
    pub tls_ca_file: Option<PathBuf>,
    /// PEM certificate and key this process presents to peers that ask (mTLS).
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    /// How long a resolved reference (identifier or alias -> customer id) is cached.
    /// Identity's change events invalidate entries sooner; this bounds how long one
    /// missed event could leave an entry stale.
    pub resolve_cache_ttl_ms: u64,
    /// Resolved references cached per process, at most.
    pub resolve_cache_entries: u64,
}

impl Default for PeersConfig {
    fn default() -> Self {
        PeersConfig {
            identity: None,
            differentiation: None,
            interaction: None,
            customization: None,
            api_key: None,
            tls_ca_file: None,
            tls_cert_file: None,
            tls_key_file: None,
            resolve_cache_ttl_ms: 300_000,
            resolve_cache_entries: 200_000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct DatabaseConfig {
    /// Connections per service pool.
    pub max_connections: u32,
    /// How long to wait for a free connection.
    pub acquire_timeout_ms: u64,
    /// Embedded mode: how much of each read-heavy service's SQLite file is read
    /// through a memory map (0: none). Identity never maps its file.
    pub sqlite_mmap_mb: u64,
    /// Embedded mode: the page cache of identity's writer connection, which commits the
    /// engine's changes, in MiB (0: no writer of its own, SQLite's default of 2 MiB on
    /// every connection). Identity's bulk commits need more than the default; memory
    /// for it is taken only as pages are used. Its other connections keep the default.
    pub sqlite_identity_cache_mb: u64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            max_connections: 8,
            acquire_timeout_ms: 5_000,
            sqlite_mmap_mb: 1024,
            sqlite_identity_cache_mb: 24,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct RedisConfig {
    /// Prefix of every key and stream, so several suites can share one Redis.
    pub key_prefix: String,
    /// Entries kept per event stream (approximate trim).
    pub stream_max_len: u64,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            key_prefix: "idic".to_owned(),
            stream_max_len: 1_000_000,
        }
    }
}

/// Identity resolution settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct IdentityConfig {
    /// ISO 3166-1 alpha-2 region for phones without a country code and addresses
    /// without a country.
    pub default_region: String,
    /// Match probability from which two records are linked (0 < p < 1; default 0.99,
    /// chosen once, on the tuning data, before the measurement sets). In bits (the sum
    /// of log2 m/u) it is log2(p / (1 - p)) - log2(prior / (1 - prior)) with the prior
    /// of the current parameters: 15.0 bits with the priors; estimated parameters
    /// bring their own prior. Fixed here, never tuned per query.
    pub match_probability: f64,
    /// The former setting, kept as an alias: a match weight in bits that, when set,
    /// replaces `match_probability` whatever the parameters' prior.
    pub match_threshold: Option<f64>,
    /// Trust of each source system for golden-record survivorship, 0..=100 (default 50).
    pub source_trust: std::collections::BTreeMap<String, u8>,
    /// Replicas on PostgreSQL: the `host:port` at which the other replicas and clients
    /// reach this replica's gRPC server, published while it leads so that a follower
    /// can name (and forward writes to) the leader. Empty: the listen address.
    pub advertise_address: String,
    /// Where the engine's snapshots go (local disk: a pod's `emptyDir`). Empty: under
    /// the data directory in the embedded mode, none on PostgreSQL; `off`: none.
    pub snapshot_dir: String,
    /// A snapshot is taken this often when records changed, and at graceful shutdown.
    pub snapshot_every_seconds: u64,
    /// ... and as soon as this many records changed since the last one.
    pub snapshot_every_changes: u64,
    /// After an import, while the base has no estimated parameters and holds at least
    /// 10,000 records, estimate them and recluster the whole base in the background
    /// (default on; `IDIC_IDENTITY__AUTO_ESTIMATE=false` turns it off).
    pub auto_estimate: bool,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        IdentityConfig {
            default_region: "US".to_owned(),
            match_probability: 0.99,
            match_threshold: None,
            source_trust: std::collections::BTreeMap::new(),
            advertise_address: String::new(),
            snapshot_dir: String::new(),
            snapshot_every_seconds: 300,
            snapshot_every_changes: 100_000,
            auto_estimate: true,
        }
    }
}

/// Customization settings: the fan-out to the other services and the learning policy.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct CustomizationConfig {
    /// Longest wait for each dependency (identity, differentiation, interaction) of a
    /// tailored offering; always within what is left of the caller's deadline.
    pub dependency_timeout_ms: u64,
    /// Part of the caller's deadline kept for composing and storing the offering.
    pub reserve_ms: u64,
    /// How long dependency answers stay in the shared cache (identity's changes
    /// invalidate them sooner).
    pub cache_ttl_ms: u64,
    /// Consecutive failures that open a dependency's circuit breaker.
    pub breaker_failures: u32,
    /// How long an open breaker skips its dependency before trying it again.
    pub breaker_open_ms: u64,
    /// Share of customers, in percent, assigned to the control group (static rules).
    pub control_group_percent: u8,
    /// Highest share of offers the bandit may spend exploring, in [0, 1].
    pub max_exploration: f64,
}

impl Default for CustomizationConfig {
    fn default() -> Self {
        CustomizationConfig {
            dependency_timeout_ms: 200,
            reserve_ms: 10,
            cache_ttl_ms: 60_000,
            breaker_failures: 5,
            breaker_open_ms: 5_000,
            control_group_percent: 10,
            max_exploration: 0.2,
        }
    }
}

/// Differentiation settings: value models, tiers and the refit schedule.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct DifferentiationConfig {
    /// Time unit the models are fitted in: "day" or "week".
    pub time_unit: String,
    /// Horizon of expected purchases and predicted lifetime value, in time units.
    pub horizon_periods: u32,
    /// Cumulative value shares that close tiers A, B and C (D takes the rest).
    pub tier_cutoffs: [f64; 3],
    /// Refit models, tiers, segments and the skew snapshot this often; 0 disables.
    pub refit_interval_secs: u64,
    /// The currency modelled; unset means the most common purchase currency.
    pub model_currency: Option<String>,
    /// The most needs segments tried.
    pub max_segments: usize,
}

impl Default for DifferentiationConfig {
    fn default() -> Self {
        DifferentiationConfig {
            time_unit: "week".to_owned(),
            horizon_periods: 52,
            tier_cutoffs: [0.50, 0.80, 0.95],
            refit_interval_secs: 86_400,
            model_currency: None,
            max_segments: 8,
        }
    }
}

/// The effective configuration of one process.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    pub env: Environment,
    /// gRPC listen address; all enabled services share it.
    pub listen: SocketAddr,
    /// HTTP admin address for `/metrics` and `/healthz`; unset disables it.
    pub admin_listen: Option<SocketAddr>,
    /// SQLite files live here when `database_url` is unset.
    pub data_dir: PathBuf,
    /// PostgreSQL URL (`DATABASE_URL`); unset means embedded SQLite under `data_dir`.
    pub database_url: Option<SecretUrl>,
    /// Redis URL (`REDIS_URL`); unset means an in-process cache and event bus.
    pub redis_url: Option<SecretUrl>,
    /// Services this process runs; empty means all four.
    pub services: Vec<ServiceName>,
    pub log_format: LogFormat,
    /// A tracing filter such as `info` or `idic=debug,info`; `RUST_LOG` wins when set.
    pub log_filter: String,
    pub auth: AuthConfig,
    pub grpc: GrpcConfig,
    pub peers: PeersConfig,
    pub database: DatabaseConfig,
    pub redis: RedisConfig,
    pub identity: IdentityConfig,
    pub differentiation: DifferentiationConfig,
    pub customization: CustomizationConfig,
    /// What loading noticed but did not refuse (unknown `IDIC_` variables), for the
    /// caller to log once logging is set up.
    #[serde(skip)]
    pub load_warnings: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            env: Environment::Development,
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            admin_listen: Some(SocketAddr::from(([127, 0, 0, 1], 9464))),
            data_dir: PathBuf::from("./data"),
            database_url: None,
            redis_url: None,
            services: Vec::new(),
            log_format: LogFormat::Human,
            log_filter: "info".to_owned(),
            auth: AuthConfig::default(),
            grpc: GrpcConfig::default(),
            peers: PeersConfig::default(),
            database: DatabaseConfig::default(),
            redis: RedisConfig::default(),
            identity: IdentityConfig::default(),
            differentiation: DifferentiationConfig::default(),
            customization: CustomizationConfig::default(),
            load_warnings: Vec::new(),
        }
    }
}

/// `IDIC_` variables that belong to the command-line client, not the server.
const CLIENT_ONLY_VARIABLES: &[&str] = &["server", "api_key", "config"];

/// `IDIC_` variables of the tests and benchmarks (test kit, FEBRL data, hostile-input
/// run), which may be set in the shell a server runs from.
const TEST_KIT_VARIABLES: &[&str] = &[
    "test_database_url",
    "test_redis_url",
    "febrl_dir",
    "febrl_cache",
    "febrl_diagnose",
    "hostile_cases",
    "test_restart_postgres",
];

#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(pub(crate) String);

impl Config {
    /// Defaults, then `file` (if given; it must exist), then the environment.
    ///
    /// An unknown key in the file is refused (a typo there would silently keep a default
    /// in production); an unknown `IDIC_` variable is a warning naming the closest valid
    /// one, since the environment of a process holds variables meant for other versions
    /// and tools that must not stop it.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let figment = Self::figment(file);
        let mut config = figment
            .extract::<Config>()
            .map_err(|error| ConfigError(error.to_string()))?;
        config.load_warnings = crate::config_keys::check_unknown_keys::<Config>(&figment, file)
            .map_err(ConfigError)?;
        config.validated()
    }

    fn figment(file: Option<&Path>) -> Figment {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            figment = figment.merge(Toml::file_exact(path));
        }
        figment
            .merge(
                Env::prefixed("IDIC_")
                    .ignore(CLIENT_ONLY_VARIABLES)
                    .ignore(TEST_KIT_VARIABLES)
                    .split("__"),
            )
            .merge(Env::raw().only(&["database_url", "redis_url"]))
    }

    /// Checks what types alone cannot: rules across fields.
    pub fn validated(mut self) -> Result<Config, ConfigError> {
        if self.env == Environment::Production && self.auth.keys.is_empty() {
            return Err(ConfigError(
                "IDIC_ENV=production requires at least one API key in auth.keys".to_owned(),
            ));
        }
        self.auth.keys = validated_keys(std::mem::take(&mut self.auth.keys))?;
        validate_tls(&self)?;
        let probability = self.identity.match_probability;
        let probability_valid = probability > 0.0 && probability < 1.0; // NaN is not
        if !probability_valid {
            return Err(ConfigError(format!(
                "identity.match_probability must be between 0 and 1 (exclusive), not {probability}"
            )));
        }
        if let Some(bits) = self
            .identity
            .match_threshold
            .filter(|bits| !bits.is_finite())
        {
            return Err(ConfigError(format!(
                "identity.match_threshold must be a finite number of bits, not {bits}"
            )));
        }
        if self.grpc.concurrency_limit == 0 {
            return Err(ConfigError(
                "grpc.concurrency_limit must be at least 1".to_owned(),
            ));
        }
        Ok(self)
    }

    /// The services this process runs.
    pub fn enabled_services(&self) -> Vec<ServiceName> {
        if self.services.is_empty() {
            return ServiceName::ALL.to_vec();
        }
        let mut services = self.services.clone();
        services.sort();
        services.dedup();
        services
    }

    /// The address at which `service` is reached from this process.
    pub fn peer_address(&self, service: ServiceName) -> String {
        self.configured_peer(service)
            .clone()
            .unwrap_or_else(|| self.own_address())
    }

    /// Whether `service` is reached at this process's own listener (no address set).
    pub fn peer_is_this_process(&self, service: ServiceName) -> bool {
        self.configured_peer(service).is_none()
    }

    fn configured_peer(&self, service: ServiceName) -> &Option<String> {
        match service {
            ServiceName::Identity => &self.peers.identity,
            ServiceName::Differentiation => &self.peers.differentiation,
            ServiceName::Interaction => &self.peers.interaction,
            ServiceName::Customization => &self.peers.customization,
        }
    }

    /// Where this process's own listener is reached from inside it.
    pub fn own_socket_address(&self) -> SocketAddr {
        let mut address = self.listen;
        // A wildcard listen address is not something a client can connect to.
        if address.ip().is_unspecified() {
            address.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        address
    }

    fn own_address(&self) -> String {
        let scheme = if self.grpc.tls_cert_file.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.own_socket_address())
    }

    pub fn auth_enabled(&self) -> bool {
        !self.auth.keys.is_empty()
    }

    /// The configuration as TOML, with every secret masked.
    pub fn to_masked_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|error| format!("# cannot render: {error}\n"))
    }
}

/// Checks every key and replaces clear keys by their digests, so that the running
/// process holds no key in clear. Unknown scopes and a key given twice are refused:
/// both are mistakes that would otherwise show only as refused calls.
fn validated_keys(keys: Vec<ApiKeyConfig>) -> Result<Vec<ApiKeyConfig>, ConfigError> {
    let known = crate::scopes::known_scopes();
    let mut seen = std::collections::HashMap::new();
    let mut hashed = Vec::with_capacity(keys.len());
    for key in keys {
        if let Some(clear) = &key.key
            && clear.expose().len() < 16
        {
            return Err(ConfigError(format!(
                "auth.keys: the key of client '{}' is shorter than 16 characters",
                key.client
            )));
        }
        if key.scopes.is_empty() {
            return Err(ConfigError(format!(
                "auth.keys: client '{}' has no scopes",
                key.client
            )));
        }
        for scope in &key.scopes {
            if !known.contains(scope) {
                return Err(ConfigError(format!(
                    "auth.keys: client '{}' has unknown scope '{scope}'{}; valid scopes: {}",
                    key.client,
                    crate::config_keys::did_you_mean(scope, known.iter().map(String::as_str)),
                    known.iter().cloned().collect::<Vec<_>>().join(", ")
                )));
            }
        }
        let digest = key.digest().map_err(ConfigError)?;
        if let Some(first) = seen.insert(digest, key.client.clone()) {
            return Err(ConfigError(format!(
                "auth.keys: clients '{first}' and '{}' have the same key; every key must be unique",
                key.client
            )));
        }
        hashed.push(ApiKeyConfig {
            key: None,
            key_sha256: Some(hex::encode(digest)),
            ..key
        });
    }
    Ok(hashed)
}

/// TLS set half-way must not start a plaintext server: refuse instead, naming what is
/// missing. Files are checked here so that a typo fails at start, not at first call.
fn validate_tls(config: &Config) -> Result<(), ConfigError> {
    let grpc = &config.grpc;
    if grpc.tls_cert_file.is_some() != grpc.tls_key_file.is_some() {
        return Err(ConfigError(
            "grpc.tls_cert_file and grpc.tls_key_file must be set together".to_owned(),
        ));
    }
    if grpc.tls_client_ca_file.is_some() && grpc.tls_cert_file.is_none() {
        return Err(ConfigError(
            "grpc.tls_client_ca_file (mTLS) needs grpc.tls_cert_file and grpc.tls_key_file: without them the server would run in plaintext".to_owned(),
        ));
    }
    let peers = &config.peers;
    if peers.tls_cert_file.is_some() != peers.tls_key_file.is_some() {
        return Err(ConfigError(
            "peers.tls_cert_file and peers.tls_key_file must be set together".to_owned(),
        ));
    }
    let files = [
        ("grpc.tls_cert_file", &grpc.tls_cert_file),
        ("grpc.tls_key_file", &grpc.tls_key_file),
        ("grpc.tls_client_ca_file", &grpc.tls_client_ca_file),
        ("peers.tls_ca_file", &peers.tls_ca_file),
        ("peers.tls_cert_file", &peers.tls_cert_file),
        ("peers.tls_key_file", &peers.tls_key_file),
    ];
    for (name, path) in files {
        if let Some(path) = path
            && !path.is_file()
        {
            return Err(ConfigError(format!(
                "{name}: {} is not a readable file",
                path.display()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
// figment's test jail returns its own (large) error type; that is its API, not ours.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let mut config = Config::default();
        config.auth.keys.push(ApiKeyConfig {
            client: "callcenter".into(),
            key: Some(Secret::new("super-secret-key-123")),
            key_sha256: None,
            scopes: ["identity:read".to_owned()].into(),
        });
        config.database_url = Some(SecretUrl::new("postgres://idic:hunter2@db:5432/idic"));
        let printed = config.to_masked_toml();
        assert!(!printed.contains("super-secret-key-123"), "{printed}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(
            printed.contains("postgres://idic:********@db:5432/idic"),
            "{printed}"
        );
        let debugged = format!("{config:?}");
        assert!(!debugged.contains("super-secret-key-123"));
        assert!(!debugged.contains("hunter2"));
    }

    /// The automatic estimate after an import is on unless switched off.
    #[test]
    fn the_automatic_estimate_is_on_by_default_and_switches_off() {
        figment::Jail::expect_with(|jail| {
            assert!(Config::load(None).expect("defaults").identity.auto_estimate);
            jail.set_env("IDIC_IDENTITY__AUTO_ESTIMATE", "false");
            assert!(!Config::load(None).expect("valid").identity.auto_estimate);
            Ok(())
        });
    }

    /// The match probability is checked, and the former bits setting still reads.
    #[test]
    fn the_match_probability_is_checked_and_the_bits_alias_reads() {
        figment::Jail::expect_with(|jail| {
            let config = Config::load(None).expect("defaults");
            assert_eq!(config.identity.match_probability, 0.99);
            assert_eq!(config.identity.match_threshold, None);
            jail.set_env("IDIC_IDENTITY__MATCH_THRESHOLD", "18.5");
            let config = Config::load(None).expect("valid");
            assert_eq!(config.identity.match_threshold, Some(18.5));
            for bad in ["1", "0", "1.5", "-0.2"] {
                jail.set_env("IDIC_IDENTITY__MATCH_PROBABILITY", bad);
                let error = Config::load(None).unwrap_err().to_string();
                assert!(
                    error.contains("identity.match_probability"),
                    "{bad}: {error}"
                );
            }
            Ok(())
        });
    }

    #[test]
    fn layers_apply_in_order_file_then_environment() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "idic.toml",
                r#"
                listen = "0.0.0.0:6000"
                log_format = "json"
                [grpc]
                concurrency_limit = 7
                max_request_ms = 1000
                "#,
            )?;
            jail.set_env("IDIC_GRPC__CONCURRENCY_LIMIT", "9");
            jail.set_env("IDIC_SERVER", "http://ignored:1");
            jail.set_env("DATABASE_URL", "postgres://localhost/test");
            let config = Config::load(Some(Path::new("idic.toml"))).expect("valid");
            assert_eq!(config.listen, "0.0.0.0:6000".parse().unwrap());
            assert_eq!(config.log_format, LogFormat::Json);
            assert_eq!(config.grpc.max_request_ms, 1000);
            assert_eq!(
                config.grpc.concurrency_limit, 9,
                "environment wins over file"
            );
            assert_eq!(
                config.database_url.as_ref().map(SecretUrl::expose),
                Some("postgres://localhost/test")
            );
            assert_eq!(
                config.peer_address(ServiceName::Identity),
                "http://127.0.0.1:6000"
            );
            Ok(())
        });
    }

    #[test]
    fn production_refuses_to_run_without_keys() {
        let config = Config {
            env: Environment::Production,
            ..Config::default()
        };
        let error = config.validated().unwrap_err();
        assert!(error.to_string().contains("production"));
    }

    fn key(client: &str, key: &str, scopes: &[&str]) -> ApiKeyConfig {
        ApiKeyConfig {
            client: client.into(),
            key: Some(Secret::new(key)),
            key_sha256: None,
            scopes: scopes.iter().map(|scope| (*scope).to_owned()).collect(),
        }
    }

    fn refusal(config: Config) -> String {
        config.validated().unwrap_err().to_string()
    }

    #[test]
    fn unknown_scopes_and_duplicate_keys_are_refused() {
        let mut config = Config::default();
        config.auth.keys = vec![key(
            "callcenter",
            "0123456789abcdef0123",
            &["identity:raed"],
        )];
        let error = refusal(config.clone());
        assert!(error.contains("unknown scope 'identity:raed'"), "{error}");
        assert!(error.contains("did you mean 'identity:read'"), "{error}");

        config.auth.keys = vec![
            key("callcenter", "0123456789abcdef0123", &["identity:read"]),
            key("orders", "0123456789abcdef0123", &["customization:read"]),
        ];
        let error = refusal(config.clone());
        assert!(error.contains("same key"), "{error}");

        // One client may hold two keys at once: that is how a key is rotated.
        config.auth.keys = vec![
            key("callcenter", "0123456789abcdef0123", &["identity:read"]),
            key("callcenter", "0123456789abcdef0456", &["identity:read"]),
        ];
        assert!(config.validated().is_ok());
    }

    #[test]
    fn clear_keys_are_kept_only_as_digests() {
        let mut config = Config::default();
        config.auth.keys = vec![key(
            "callcenter",
            "0123456789abcdef0123",
            &["identity:read"],
        )];
        let validated = config.validated().unwrap();
        let held = &validated.auth.keys[0];
        assert!(held.key.is_none(), "no key in clear after loading");
        assert_eq!(
            held.key_sha256.as_deref(),
            Some(crate::key_digest::hex_digest("0123456789abcdef0123").as_str())
        );
        let mut both = Config::default();
        both.auth.keys = vec![ApiKeyConfig {
            key_sha256: Some(crate::key_digest::hex_digest("0123456789abcdef0123")),
            ..key("callcenter", "0123456789abcdef0123", &["identity:read"])
        }];
        assert!(refusal(both).contains("both key and key_sha256"));
        let mut bad_hex = Config::default();
        bad_hex.auth.keys = vec![ApiKeyConfig {
            key: None,
            key_sha256: Some("abc".into()),
            ..key("callcenter", "", &["identity:read"])
        }];
        assert!(refusal(bad_hex).contains("64 hexadecimal digits"));
    }

    #[test]
    fn half_set_tls_refuses_to_start_instead_of_serving_plaintext() {
        let directory = tempfile_directory();
        let pem = directory.join("present.pem");
        std::fs::write(&pem, "not checked here").unwrap();

        let mut ca_only = Config::default();
        ca_only.grpc.tls_client_ca_file = Some(pem.clone());
        let error = refusal(ca_only);
        assert!(error.contains("grpc.tls_client_ca_file"), "{error}");
        assert!(error.contains("plaintext"), "{error}");

        let mut missing = Config::default();
        missing.grpc.tls_cert_file = Some(pem.clone());
        missing.grpc.tls_key_file = Some(pem.clone());
        missing.grpc.tls_client_ca_file = Some(directory.join("missing-ca.pem"));
        let error = refusal(missing);
        assert!(error.contains("missing-ca.pem"), "{error}");

        let mut peer_half = Config::default();
        peer_half.peers.tls_cert_file = Some(pem);
        assert!(refusal(peer_half).contains("peers.tls_key_file"));
    }

    fn tempfile_directory() -> PathBuf {
        let directory = std::env::temp_dir().join(format!("idic-config-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&directory).unwrap();
        directory
    }

    #[test]
    fn keys_come_from_the_environment() {
        figment::Jail::expect_with(|jail| {
            jail.set_env(
                "IDIC_AUTH__KEYS",
                r#"[{client="orders", key="0123456789abcdef0123", scopes=["customization:read"]}]"#,
            );
            let config = Config::load(None).expect("valid");
            assert_eq!(config.auth.keys.len(), 1);
            assert_eq!(config.auth.keys[0].client, "orders");
            Ok(())
        });
    }

    #[test]
    fn the_known_keys_include_unset_options_and_tables() {
        let keys = crate::config_keys::known_keys::<Config>();
        for key in [
            "customization",
            "grpc.concurrency_limit",
            "grpc.tls_client_ca_file",
            "peers.api_key",
            "database_url",
        ] {
            assert!(keys.iter().any(|known| known == key), "{key} in {keys:?}");
        }
    }

    #[test]
    fn a_misspelled_key_in_the_file_is_refused_with_the_closest_one() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "idic.toml",
                r#"
                [customisation]
                cache_ttl_ms = 5
                "#,
            )?;
            let error = Config::load(Some(Path::new("idic.toml")))
                .unwrap_err()
                .to_string();
            assert!(error.contains("unknown key 'customisation'"), "{error}");
            assert!(error.contains("did you mean 'customization'"), "{error}");
            jail.create_file(
                "idic.toml",
                r#"
                [[auth.keys]]
                client = "orders"
                kye = "0123456789abcdef0123"
                key = "0123456789abcdef0124"
                scopes = ["customization:read"]
                "#,
            )?;
            let error = Config::load(Some(Path::new("idic.toml")))
                .unwrap_err()
                .to_string();
            assert!(error.contains("auth.keys.0.kye"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn a_misspelled_variable_is_a_warning_naming_the_closest_one() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("IDIC_GRPC__CONCURENCY_LIMIT", "9");
            jail.set_env("IDIC_TEST_DATABASE_URL", "postgres://elsewhere/test");
            jail.set_env("IDIC_SERVER", "http://127.0.0.1:1");
            jail.set_env("IDIC_LOG_FILTER", "debug");
            jail.set_env("IDIC_FEBRL_DIR", "/var/cache/febrl");
            let config = Config::load(None).expect("variables only warn");
            assert_eq!(config.grpc.concurrency_limit, 1024, "the default stays");
            assert_eq!(config.load_warnings.len(), 1, "{:?}", config.load_warnings);
            let warning = &config.load_warnings[0];
            assert!(warning.contains("IDIC_GRPC__CONCURENCY_LIMIT"), "{warning}");
            assert!(
                warning.contains("did you mean 'IDIC_GRPC__CONCURRENCY_LIMIT'"),
                "{warning}"
            );
            Ok(())
        });
    }
}
