//! Reading identity's streams in tests: the change events and the cluster export.

use std::time::Duration;

use futures::StreamExt;
use idic_proto::v1 as pb;
use idic_proto::v1::identity_service_client::IdentityServiceClient;
use tonic::codegen::{Body, Bytes, StdError};

/// The committed change events after `after`. The stored ones are replayed at once,
/// so a stream quiet for `quiet` has given them all.
pub async fn change_events<T: Transport>(
    client: &mut IdentityServiceClient<T>,
    after: u64,
    quiet: Duration,
) -> Vec<pb::ChangeEvent> {
    let mut stream = client
        .watch_changes(pb::WatchChangesRequest {
            after_event_id: after,
            from_start: true,
        })
        .await
        .expect("WatchChanges is answered")
        .into_inner();
    let mut events = Vec::new();
    while let Ok(Some(event)) = tokio::time::timeout(quiet, stream.next()).await {
        events.push(event.expect("a change event"));
    }
    events
}

/// Every record's assignment to a customer, as `ExportClusters` streams them.
pub async fn cluster_rows<T: Transport>(
    client: &mut IdentityServiceClient<T>,
) -> Vec<pb::RecordAssignment> {
    let mut stream = client
        .export_clusters(pb::ExportClustersRequest {})
        .await
        .expect("ExportClusters is answered")
        .into_inner();
    let mut rows = Vec::new();
    while let Some(row) = stream.next().await {
        rows.push(row.expect("an exported row"));
    }
    rows
}

/// Any channel a generated client runs on (a plain `Channel`, or one with the peers'
/// interceptor): what tonic's generated methods ask of it.
pub trait Transport:
    tonic::client::GrpcService<
        tonic::body::Body,
        Error: Into<StdError>,
        ResponseBody: Body<Data = Bytes, Error: Into<StdError> + Send> + Send + 'static,
    >
{
}

impl<T> Transport for T where
    T: tonic::client::GrpcService<
            tonic::body::Body,
            Error: Into<StdError>,
            ResponseBody: Body<Data = Bytes, Error: Into<StdError> + Send> + Send + 'static,
        >
{
}
