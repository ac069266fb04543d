//! What differentiation announces on the event bus: each recorded transaction, on
//! [`idic_proto::topics::TRANSACTIONS`], in its contract form.

use std::time::Duration;

use idic_runtime::bus::EventBus;
use idic_runtime::{ApiError, ApiResult};
use prost::Message as _;

use crate::domain::Transaction;

/// The bus topic every new transaction is published on.
pub const TRANSACTIONS_TOPIC: &str = idic_proto::topics::TRANSACTIONS.name();

/// Publishes `transaction`; a bus that cannot take it is UNAVAILABLE, so that the
/// caller retries (consumers are idempotent by order id).
pub async fn publish_transaction(bus: &dyn EventBus, transaction: &Transaction) -> ApiResult<()> {
    let event = crate::convert::transaction_event(transaction);
    bus.publish(TRANSACTIONS_TOPIC, &event.encode_to_vec())
        .await
        .map_err(|error| ApiError::Unavailable {
            message: error.to_string(),
            retry_after: Duration::from_millis(200),
        })?;
    Ok(())
}
