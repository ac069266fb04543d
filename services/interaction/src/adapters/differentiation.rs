//! The call interaction makes to differentiation: the value summary of an agent's
//! context. Protobuf stays here; the context gets a domain [`ValueSummary`].

use std::time::Duration;

use idic_proto::v1 as pb;
use idic_runtime::peers::Peers;
use idic_runtime::refs::CustomerSelector;
use idic_runtime::storage::micros_from_timestamp;

use super::PeerPart;
use crate::domain::{Cost, ValueSummary};

/// The value summary of a resolved customer, within `budget`.
pub async fn value_summary(
    peers: &Peers,
    customer_id: &str,
    budget: Duration,
) -> PeerPart<ValueSummary> {
    let mut request = tonic::Request::new(pb::GetCustomerValueRequest {
        customer: Some(CustomerSelector::Id(customer_id.to_owned()).to_proto()),
    });
    request.set_timeout(budget);
    let mut client = peers.differentiation();
    let call = client.get_customer_value(request);
    match tokio::time::timeout(budget, call).await {
        Ok(Ok(response)) => match response.into_inner().value {
            Some(value) => PeerPart::Found(summarize_value(value)),
            None => PeerPart::Nothing,
        },
        Ok(Err(status)) if status.code() == tonic::Code::NotFound => PeerPart::Nothing,
        Ok(Err(status)) => {
            tracing::warn!(code = ?status.code(), "differentiation failed for a context; degrading");
            PeerPart::Failed
        }
        Err(_) => {
            tracing::warn!("differentiation was late for a context; degrading");
            PeerPart::Failed
        }
    }
}

fn summarize_value(value: pb::CustomerValue) -> ValueSummary {
    let tier = pb::Tier::try_from(value.tier)
        .ok()
        .filter(|tier| *tier != pb::Tier::Unspecified)
        .map(|tier| tier.as_str_name().trim_start_matches("TIER_").to_owned())
        .unwrap_or_default();
    ValueSummary {
        tier,
        rank_percentile: value.rank_percentile,
        predicted_clv: value.predicted_clv,
        currency: value.model_currency,
        probability_alive: value.probability_alive,
        order_count: value.order_count,
        last_purchase_at_micros: value.last_purchase_at.as_ref().map(micros_from_timestamp),
        revenue: value
            .revenue
            .into_iter()
            .map(|money| Cost {
                currency: money.currency,
                minor_units: money.minor_units,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tier_is_named_without_its_prefix() {
        let value = pb::CustomerValue {
            tier: pb::Tier::A as i32,
            order_count: 3,
            ..Default::default()
        };
        let summary = summarize_value(value);
        assert_eq!(summary.tier, "A");
        assert_eq!(summary.order_count, 3);
        assert_eq!(summarize_value(pb::CustomerValue::default()).tier, "");
    }
}
