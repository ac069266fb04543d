//! [`TestSuite`]: the four services in-process on an ephemeral port.

use std::net::SocketAddr;

use idic::Application;
use idic::app::KeyReloader;
use idic_proto::v1::customization_service_client::CustomizationServiceClient;
use idic_proto::v1::differentiation_service_client::DifferentiationServiceClient;
use idic_proto::v1::identity_service_client::IdentityServiceClient;
use idic_proto::v1::interaction_service_client::InteractionServiceClient;
use idic_runtime::config::{ApiKeyConfig, Config, Secret, SecretUrl};
use idic_runtime::peers::{PeerChannel, PeerInterceptor};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic_health::pb::health_client::HealthClient;

use crate::servers::{TestPostgres, TestRedis, require_postgres, require_redis};

/// Where the suite keeps its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite files in a temporary directory, in-process cache and bus.
    Embedded,
    /// A fresh PostgreSQL database and an isolated Redis key space.
    Postgres,
}

/// A last change to the configuration before the suite starts.
pub type ConfigChange = Box<dyn FnOnce(&mut Config) + Send>;

/// How to start the suite.
pub struct SuiteOptions {
    pub backend: Backend,
    /// Clients allowed to call; empty leaves authentication off.
    pub api_keys: Vec<ApiKeyConfig>,
    /// Last changes to the configuration before start.
    pub configure: Option<ConfigChange>,
}

impl SuiteOptions {
    pub fn new(backend: Backend) -> Self {
        SuiteOptions {
            backend,
            api_keys: Vec::new(),
            configure: None,
        }
    }

    /// Turns authentication on with a client `name` holding `scopes`.
    pub fn with_client(mut self, name: &str, scopes: &[&str]) -> Self {
        self.api_keys.push(ApiKeyConfig {
            client: name.to_owned(),
            key: Some(Secret::new(crate::api_key(name))),
            key_sha256: None,
            scopes: scopes.iter().map(|scope| (*scope).to_owned()).collect(),
        });
        self
    }

    pub fn configure(mut self, change: impl FnOnce(&mut Config) + Send + 'static) -> Self {
        self.configure = Some(Box::new(change));
        self
    }
}

/// A running suite. Call [`TestSuite::stop`] at the end to shut it down cleanly and
/// remove its PostgreSQL database and Redis keys.
pub struct TestSuite {
    pub address: SocketAddr,
    pub config: Config,
    keys: KeyReloader,
    stop: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
    postgres: Option<TestPostgres>,
    redis: Option<TestRedis>,
    _data_dir: tempfile::TempDir,
}

impl TestSuite {
    /// The suite on the embedded default.
    pub async fn start() -> TestSuite {
        Self::start_with(SuiteOptions::new(Backend::Embedded))
            .await
            .expect("the embedded suite starts")
    }

    /// The suite as `options` say; `None` when its servers are missing outside CI.
    pub async fn start_with(options: SuiteOptions) -> Option<TestSuite> {
        let data_dir = tempfile::tempdir().expect("a temporary directory");
        let mut config = Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            admin_listen: None,
            data_dir: data_dir.path().to_path_buf(),
            ..Config::default()
        };
        config.auth.keys = options.api_keys;
        let (postgres, redis) = match options.backend {
            Backend::Embedded => (None, None),
            Backend::Postgres => {
                let postgres = require_postgres().await?;
                let redis = require_redis().await?;
                config.database_url = Some(SecretUrl::new(postgres.url.clone()));
                config.database.max_connections = 4;
                config.redis_url = Some(SecretUrl::new(redis.url.clone()));
                config.redis.key_prefix = redis.key_prefix.clone();
                (Some(postgres), Some(redis))
            }
        };
        if let Some(configure) = options.configure {
            configure(&mut config);
        }
        let application = Application::build(config).await.expect("the suite starts");
        let address = application.grpc_address();
        let config = application.config().clone();
        let keys = application.key_reloader();
        let stop = CancellationToken::new();
        let task = tokio::spawn(application.run_until_stopped(stop.clone().cancelled_owned()));
        Some(TestSuite {
            address,
            config,
            keys,
            stop,
            task,
            postgres,
            redis,
            _data_dir: data_dir,
        })
    }

    /// Replaces the API keys the running suite accepts, as `idic serve` does on SIGHUP.
    pub fn reload_keys(&self, keys: Vec<ApiKeyConfig>) -> anyhow::Result<usize> {
        let mut config = self.config.clone();
        config.auth.keys = keys;
        self.keys.reload(&config.validated()?)
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// A channel presenting `api_key` (or nothing) on every call.
    pub fn channel_with_key(&self, api_key: Option<&str>) -> PeerChannel {
        let channel = Channel::from_shared(self.endpoint())
            .expect("a valid endpoint")
            .connect_lazy();
        let key = api_key.map(Secret::new);
        InterceptedService::new(
            channel,
            PeerInterceptor::new(key.as_ref()).expect("a header-safe key"),
        )
    }

    fn channel(&self) -> PeerChannel {
        self.channel_with_key(None)
    }

    pub fn identity(&self) -> IdentityServiceClient<PeerChannel> {
        IdentityServiceClient::new(self.channel())
    }

    pub fn differentiation(&self) -> DifferentiationServiceClient<PeerChannel> {
        DifferentiationServiceClient::new(self.channel())
    }

    pub fn interaction(&self) -> InteractionServiceClient<PeerChannel> {
        InteractionServiceClient::new(self.channel())
    }

    pub fn customization(&self) -> CustomizationServiceClient<PeerChannel> {
        CustomizationServiceClient::new(self.channel())
    }

    pub fn health(&self) -> HealthClient<PeerChannel> {
        HealthClient::new(self.channel())
    }

    /// Stops the suite and starts it again on the same data (SQLite files or
    /// PostgreSQL database and Redis keys), as after a crash or a rolling restart.
    pub async fn restart(self) -> TestSuite {
        self.restart_with(|_| {}).await
    }

    /// Stops the suite and starts it again on the same data with `change` made to its
    /// configuration (another match threshold, say), as an operator's redeploy does.
    pub async fn restart_with(mut self, change: impl FnOnce(&mut Config)) -> TestSuite {
        self.stop.cancel();
        (&mut self.task)
            .await
            .expect("the suite task")
            .expect("the suite stops cleanly");
        let mut config = self.config.clone();
        config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        change(&mut config);
        let application = Application::build(config)
            .await
            .expect("the suite restarts");
        let stop = CancellationToken::new();
        let address = application.grpc_address();
        let config = application.config().clone();
        let keys = application.key_reloader();
        let task = tokio::spawn(application.run_until_stopped(stop.clone().cancelled_owned()));
        TestSuite {
            address,
            config,
            keys,
            stop,
            task,
            postgres: self.postgres.take(),
            redis: self.redis.take(),
            _data_dir: self._data_dir,
        }
    }

    /// Shuts the suite down, waits for it, and removes its database and keys.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.stop.cancel();
        self.task.await??;
        if let Some(redis) = self.redis {
            redis.clean().await?;
        }
        if let Some(postgres) = self.postgres {
            postgres.drop_database().await?;
        }
        Ok(())
    }
}
