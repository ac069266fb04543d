//! `idic serve` and `idic config`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::Args;
use idic_runtime::config::{Config, Environment};
use idic_runtime::{ServiceName, shutdown, telemetry};

use crate::Application;
use crate::app::KeyReloader;

#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// gRPC listen address [default: 127.0.0.1:50051]
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// HTTP admin address for /metrics and /healthz [default: 127.0.0.1:9464]
    #[arg(long)]
    pub admin_listen: Option<SocketAddr>,
    /// Directory of the embedded SQLite files [default: ./data]
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Run only this service; repeat for several [default: all four]
    #[arg(long = "service", value_name = "NAME")]
    pub services: Vec<ServiceName>,
}

impl ServeArgs {
    /// No flag given.
    pub fn is_empty(&self) -> bool {
        self.listen.is_none()
            && self.admin_listen.is_none()
            && self.data_dir.is_none()
            && self.services.is_empty()
    }

    /// Flags are the last layer, over file and environment.
    fn apply(self, config: &mut Config) {
        if let Some(listen) = self.listen {
            config.listen = listen;
        }
        if let Some(admin) = self.admin_listen {
            config.admin_listen = Some(admin);
        }
        if let Some(data_dir) = self.data_dir {
            config.data_dir = data_dir;
        }
        if !self.services.is_empty() {
            config.services = self.services;
        }
    }
}

fn load(file: Option<&Path>, args: ServeArgs) -> anyhow::Result<Config> {
    let mut config = Config::load(file)?;
    args.apply(&mut config);
    Ok(config.validated()?)
}

pub fn print_config(file: Option<&Path>, args: ServeArgs) -> anyhow::Result<()> {
    print!("{}", load(file, args)?.to_masked_toml());
    Ok(())
}

pub async fn serve(file: Option<&Path>, args: ServeArgs) -> anyhow::Result<()> {
    let config = load(file, args.clone())?;
    let _telemetry = telemetry::init(config.log_format, &config.log_filter)?;
    for warning in &config.load_warnings {
        tracing::warn!("configuration: {warning}");
    }
    if !config.auth_enabled() && config.env == Environment::Development {
        tracing::warn!(
            "authentication is off: any client may call every RPC (configure auth.keys to turn it on)"
        );
    }
    let application = Application::build(config).await?;
    // Before announcing: a SIGHUP right after the announcement must reload, not kill.
    reload_keys_on_hangup(
        file.map(Path::to_path_buf),
        args,
        application.key_reloader(),
    )?;
    // Listening for SIGTERM before announcing too: one right after must drain, not kill.
    let stopped = shutdown::signal();
    announce(&application);
    application.run_until_stopped(stopped).await?;
    tracing::info!("stopped");
    Ok(())
}

/// On SIGHUP, reads the configuration again (file and environment, as at start) and
/// swaps in its `auth.keys`: keys can be added, rotated and revoked without a restart.
/// Everything else keeps its start-up value. A configuration that does not load keeps
/// the old keys and says why.
#[cfg(unix)]
fn reload_keys_on_hangup(
    file: Option<PathBuf>,
    args: ServeArgs,
    keys: KeyReloader,
) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangups = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            let reloaded =
                load(file.as_deref(), args.clone()).and_then(|config| keys.reload(&config));
            match reloaded {
                Ok(clients) => tracing::info!(keys = clients, "API keys reloaded"),
                Err(error) => {
                    tracing::error!(
                        error = format!("{error:#}"),
                        "API keys not reloaded; the previous keys stay"
                    );
                }
            }
        }
    });
    Ok(())
}

#[cfg(not(unix))]
fn reload_keys_on_hangup(
    _file: Option<PathBuf>,
    _args: ServeArgs,
    _keys: KeyReloader,
) -> anyhow::Result<()> {
    Ok(())
}

fn announce(application: &Application) {
    let config = application.config();
    let address = application.grpc_address();
    let services: Vec<_> = config
        .enabled_services()
        .iter()
        .map(|service| service.grpc_name())
        .collect();
    let storage = if config.database_url.is_some() {
        "PostgreSQL (DATABASE_URL)".to_owned()
    } else {
        format!("SQLite under {}", config.data_dir.display())
    };
    let cache = if config.redis_url.is_some() {
        "Redis (REDIS_URL)"
    } else {
        "in-process"
    };
    tracing::info!(%address, services = ?services, storage, cache, "serving");
    let transport = if config.grpc.tls_cert_file.is_some() {
        "gRPC over TLS"
    } else {
        "gRPC, plaintext"
    };
    println!("IDIC suite listening on {address} ({transport})");
    println!("  services: {}", services.join(", "));
    println!("  storage:  {storage}; cache and events: {cache}");
    if let Some(admin) = application.admin_address() {
        println!("  metrics:  http://{admin}/metrics   liveness: http://{admin}/healthz");
        println!("  console:  http://{admin}/console/   (log in with an API key when auth is on)");
    }
    for (index, hint) in try_hints(address, &config.enabled_services())
        .iter()
        .enumerate()
    {
        let label = if index == 0 { "  try:" } else { "" };
        println!("{label:<12}{hint}");
    }
}

/// Commands to try against this process with the `idic` binary itself (no other tool
/// needed), naming only services it serves: a process started with
/// `--service differentiation` has no identity service to ask about or load into.
fn try_hints(address: SocketAddr, services: &[ServiceName]) -> Vec<String> {
    let service_flags: String = if services.len() == ServiceName::ALL.len() {
        String::new()
    } else {
        services
            .iter()
            .map(|service| format!(" --service {service}"))
            .collect()
    };
    let server = format!("--server http://{address}");
    let mut hints = vec![format!("idic health {server}{service_flags}")];
    if services.contains(&ServiceName::Identity) {
        hints.push(format!("idic import records examples/records.csv {server}"));
        hints.push(format!("idic whois --email ann@example.com {server}"));
    }
    hints.push("gRPC calls for any client: examples/grpcurl.md, examples/python/".to_owned());
    hints
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_ask_about_the_services_this_process_serves() {
        let address = SocketAddr::from(([127, 0, 0, 1], 50051));
        let hints = try_hints(address, &[ServiceName::Differentiation]);
        assert_eq!(
            hints[0],
            "idic health --server http://127.0.0.1:50051 --service differentiation"
        );
        assert!(
            !hints.concat().contains("import records"),
            "no identity here to load records into: {hints:?}"
        );
        assert!(!hints.concat().contains("grpcurl -"), "{hints:?}");
        let all = try_hints(address, &ServiceName::ALL);
        assert_eq!(all[0], "idic health --server http://127.0.0.1:50051");
        assert!(
            all[1].starts_with("idic import records examples/"),
            "{all:?}"
        );
    }
}
