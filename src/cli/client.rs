//! Client commands: a channel to the suite with the API key on every call.

use std::io::Write as _;

use clap::Args;
use idic_runtime::ServiceName;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

use super::output;
use idic_runtime::config::Secret;
use idic_runtime::peers::PeerInterceptor;

/// How client commands reach the suite and print. Global: accepted before or after
/// the subcommand.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// The suite's gRPC address.
    #[arg(
        long,
        global = true,
        env = "IDIC_SERVER",
        default_value = "http://127.0.0.1:50051"
    )]
    pub server: String,
    /// API key, when the suite has authentication on.
    #[arg(long, global = true, env = "IDIC_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Print JSON instead of tables (the protobuf JSON mapping: RFC 3339 times, enum
    /// names, every field).
    #[arg(long, global = true)]
    pub json: bool,
}

pub type SuiteChannel = InterceptedService<Channel, PeerInterceptor>;

/// Connects to the suite named by `--server`.
pub async fn connect(args: &ClientArgs) -> anyhow::Result<SuiteChannel> {
    let channel = Channel::from_shared(args.server.clone())?
        .connect()
        .await
        .map_err(|error| anyhow::anyhow!("cannot reach the suite at {}: {error}", args.server))?;
    let key = args.api_key.as_ref().map(|key| Secret::new(key.clone()));
    Ok(InterceptedService::new(
        channel,
        PeerInterceptor::new(key.as_ref())?,
    ))
}

#[derive(Debug, Args)]
pub struct HealthArgs {
    /// Ask only about this service; repeat for several [default: all four]. A process
    /// started with `--service NAME` serves only those.
    #[arg(long = "service", value_name = "NAME")]
    pub services: Vec<ServiceName>,
}

/// `idic health`: each service's serving status; fails unless all those asked about serve.
pub async fn health(client_args: &ClientArgs, args: &HealthArgs) -> anyhow::Result<()> {
    let all = ServiceName::ALL;
    let services: &[ServiceName] = if args.services.is_empty() {
        &all
    } else {
        &args.services
    };
    let mut client = HealthClient::new(connect(client_args).await?);
    let mut out = output::stdout();
    let mut all_serving = true;
    for service in services {
        let status = client
            .check(HealthCheckRequest {
                service: service.grpc_name().to_owned(),
            })
            .await;
        let text = match status {
            Ok(response) => format!("{:?}", response.into_inner().status()),
            Err(status) => format!("{:?}: {}", status.code(), status.message()),
        };
        all_serving &= text == "Serving";
        writeln!(out, "{:<32} {text}", service.grpc_name())?;
    }
    out.flush()?;
    anyhow::ensure!(all_serving, "not every service is serving");
    Ok(())
}

/// The answer of a call, or its failure as an error naming the gRPC code and the
/// server's message: `let response = answer(client.get_thread(request)).await?;`.
pub async fn answer<T>(
    call: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> anyhow::Result<T> {
    Ok(call.await.map_err(status_error)?.into_inner())
}

/// A failed call as an error that names its gRPC code and the server's message.
pub fn status_error(status: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{:?}: {}", status.code(), status.message())
}
