//! The all-in-one suite started in this process on a loopback port, and what the
//! identity benchmarks (accuracy, FEBRL) read from it: a leaf both use.

use std::path::Path;

use futures::StreamExt;
use idic_proto::v1 as pb;
use idic_proto::v1::identity_service_client::IdentityServiceClient;
use tonic::transport::Channel;

/// Starts the suite with its data in `directory` (and identity's match threshold, when
/// given); its channel, the token that stops it and its task.
pub(crate) async fn start_suite(
    directory: &Path,
    threshold: Option<f64>,
) -> anyhow::Result<(
    Channel,
    tokio_util::sync::CancellationToken,
    tokio::task::JoinHandle<anyhow::Result<()>>,
)> {
    let mut config = idic_runtime::Config {
        listen: "127.0.0.1:0".parse()?,
        admin_listen: None,
        data_dir: directory.to_path_buf(),
        ..idic_runtime::Config::default()
    };
    if let Some(threshold) = threshold {
        config.identity.match_threshold = Some(threshold);
    }
    let application = idic::Application::build(config).await?;
    let address = application.grpc_address();
    let stop = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn(application.run_until_stopped(stop.clone().cancelled_owned()));
    let channel = Channel::from_shared(format!("http://{address}"))?
        .connect()
        .await?;
    Ok((channel, stop, task))
}

/// The threshold in bits the server links at by default: the configured match
/// probability under the priors (the bench does not estimate parameters).
pub(crate) fn default_threshold_bits() -> f64 {
    idic_matching::params::MatchParameters::default().threshold_for_probability(
        idic_runtime::config::IdentityConfig::default().match_probability,
    )
}

/// Every record's customer, keyed as the generator keys records.
pub(crate) async fn clusters(channel: Channel) -> anyhow::Result<Vec<(String, String)>> {
    let mut client = IdentityServiceClient::new(channel);
    let mut stream = client
        .export_clusters(pb::ExportClustersRequest {})
        .await?
        .into_inner();
    let mut assignments = Vec::new();
    while let Some(assignment) = stream.next().await {
        let assignment = assignment?;
        assignments.push((
            format!(
                "{}/{}",
                assignment.source_system, assignment.source_record_id
            ),
            assignment.customer_id,
        ));
    }
    Ok(assignments)
}
