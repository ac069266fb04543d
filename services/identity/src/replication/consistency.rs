//! Read your writes across replicas, in gRPC metadata so that every RPC has it without
//! a contract change: a write's answer carries the log position it committed at
//! (`idic-log-position`); a read sent with `idic-min-log-position` is answered only by
//! an engine that holds at least that position: a follower waits up to two seconds for
//! it, then answers UNAVAILABLE with retry info.

use std::time::Duration;

use idic_runtime::{ApiError, ApiResult};
use tonic::metadata::MetadataMap;

use super::{Replication, Role};

/// The response header holding a write's log position.
pub const POSITION_HEADER: &str = "idic-log-position";

/// The request header asking for at least a log position.
pub const MIN_POSITION_HEADER: &str = "idic-min-log-position";

/// Longest wait of a read for its position.
const MAX_WAIT: Duration = Duration::from_secs(2);

/// The position a read asks for, if any.
fn requested_position(metadata: &MetadataMap) -> ApiResult<Option<u64>> {
    let Some(value) = metadata.get(MIN_POSITION_HEADER) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|text| text.trim().parse::<u64>().ok())
        .map(Some)
        .ok_or_else(|| {
            ApiError::invalid(
                MIN_POSITION_HEADER,
                "must be a log position (a whole number) from idic-log-position",
            )
        })
}

/// Returns once this replica's engine holds the position the read asks for.
pub async fn await_requested(replication: &Replication, metadata: &MetadataMap) -> ApiResult<()> {
    let Some(wanted) = requested_position(metadata)? else {
        return Ok(());
    };
    // The single replica answers every write before it returns: nothing to wait for.
    if replication.role() == Role::Single || replication.wait_for(wanted, MAX_WAIT).await {
        return Ok(());
    }
    Err(ApiError::Unavailable {
        message: format!(
            "this identity replica holds log position {}, the read asked for at least {wanted}: retry",
            replication.position()
        ),
        retry_after: Duration::from_millis(200),
    })
}

/// Adds the write's log position to its answer.
pub fn tag<T>(mut response: tonic::Response<T>, position: u64) -> tonic::Response<T> {
    response
        .metadata_mut()
        .insert(POSITION_HEADER, position.into());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_read_waits_for_its_position_or_answers_unavailable() {
        let replication = Replication::replicated();
        let mut metadata = MetadataMap::new();
        assert!(await_requested(&replication, &metadata).await.is_ok());

        metadata.insert(MIN_POSITION_HEADER, "7".parse().unwrap());
        replication.set_position(7);
        assert!(await_requested(&replication, &metadata).await.is_ok());

        metadata.insert(MIN_POSITION_HEADER, "8".parse().unwrap());
        let waited = tokio::time::Instant::now();
        let refused = await_requested(&replication, &metadata).await;
        assert!(
            matches!(refused, Err(ApiError::Unavailable { .. })),
            "{refused:?}"
        );
        assert!(waited.elapsed() >= MAX_WAIT);

        metadata.insert(MIN_POSITION_HEADER, "soon".parse().unwrap());
        let invalid = await_requested(&replication, &metadata).await;
        assert!(
            matches!(&invalid, Err(ApiError::InvalidArgument(violations)) if violations[0].field == MIN_POSITION_HEADER),
            "{invalid:?}"
        );
    }
}
