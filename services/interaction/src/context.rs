//! GetContext: what the agent's screen shows when a customer calls. Identity (who),
//! differentiation (value) and this service's store are asked at the same time, each
//! peer within its own deadline; a peer that fails or is late leaves its part empty
//! and is named in `degraded`, so the screen still opens.

use std::time::Duration;

use idic_proto::v1 as pb;
use idic_runtime::delegation::caller_may;
use idic_runtime::storage::now_micros;
use idic_runtime::{ApiError, ApiResult};

use crate::convert::{
    consent_to_proto, interaction_to_proto, preference_to_proto, thread_to_proto, type_name,
};
use crate::domain::{Thread, current_consents, latest_preferences, suggest_next_step};
use crate::service::Interactions;

/// The most a peer may take; the screen must open even when a peer hangs.
const PEER_BUDGET: Duration = Duration::from_millis(300);

fn by_id(customer_id: &str) -> Option<pb::CustomerRef> {
    Some(pb::CustomerRef {
        r#ref: Some(pb::customer_ref::Ref::CustomerId(customer_id.to_owned())),
    })
}

/// What a peer answered: its part, none (nothing known, not a failure), a failure, or
/// not asked because the caller's key lacks the scope the part needs.
enum PeerPart<T> {
    Found(T),
    Nothing,
    Failed,
    Withheld,
}

/// The scopes the peers' parts of a context need from the caller's key: each part is
/// another service's data, which a key without that service's read scope must not see.
const IDENTITY_PART_SCOPE: &str = "identity:read";
const VALUE_PART_SCOPE: &str = "differentiation:read";

async fn customer_summary(
    core: &Interactions,
    customer_id: &str,
    budget: Duration,
) -> PeerPart<pb::CustomerSummary> {
    if !caller_may(IDENTITY_PART_SCOPE) {
        return PeerPart::Withheld;
    }
    let mut request = tonic::Request::new(pb::GetCustomerRequest {
        customer: by_id(customer_id),
    });
    request.set_timeout(budget);
    let mut client = core.peers.identity();
    let call = client.get_customer(request);
    match tokio::time::timeout(budget, call).await {
        Ok(Ok(response)) => match response.into_inner().customer {
            Some(customer) => PeerPart::Found(summarize_customer(customer)),
            None => PeerPart::Nothing,
        },
        Ok(Err(status)) if status.code() == tonic::Code::NotFound => PeerPart::Nothing,
        Ok(Err(status)) => {
            tracing::warn!(code = ?status.code(), "identity failed for a context; degrading");
            PeerPart::Failed
        }
        Err(_) => {
            tracing::warn!("identity was late for a context; degrading");
            PeerPart::Failed
        }
    }
}

fn summarize_customer(customer: pb::Customer) -> pb::CustomerSummary {
    let golden = customer.golden.unwrap_or_default();
    let person = [
        golden.given_name.as_str(),
        golden.middle_name.as_str(),
        golden.family_name.as_str(),
    ]
    .iter()
    .filter(|part| !part.is_empty())
    .copied()
    .collect::<Vec<_>>()
    .join(" ");
    let display_name = if person.is_empty() {
        golden.organization_name.clone()
    } else {
        person
    };
    let address = golden.addresses.first();
    pb::CustomerSummary {
        display_name,
        organization_name: golden.organization_name,
        email: golden.emails.first().cloned().unwrap_or_default(),
        phone: golden.phones.first().cloned().unwrap_or_default(),
        locality: address.map(|a| a.locality.clone()).unwrap_or_default(),
        country: address.map(|a| a.country.clone()).unwrap_or_default(),
        source_records: u32::try_from(customer.records.len()).unwrap_or(u32::MAX),
        aliases: customer.aliases,
        customer_since: customer.created_at,
    }
}

async fn value_summary(
    core: &Interactions,
    customer_id: &str,
    budget: Duration,
) -> PeerPart<pb::ValueSummary> {
    if !caller_may(VALUE_PART_SCOPE) {
        return PeerPart::Withheld;
    }
    let mut request = tonic::Request::new(pb::GetCustomerValueRequest {
        customer: by_id(customer_id),
    });
    request.set_timeout(budget);
    let mut client = core.peers.differentiation();
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

fn summarize_value(value: pb::CustomerValue) -> pb::ValueSummary {
    let tier = pb::Tier::try_from(value.tier)
        .ok()
        .filter(|tier| *tier != pb::Tier::Unspecified)
        .map(|tier| tier.as_str_name().trim_start_matches("TIER_").to_owned())
        .unwrap_or_default();
    pb::ValueSummary {
        tier,
        rank_percentile: value.rank_percentile,
        predicted_clv: value.predicted_clv,
        currency: value.model_currency,
        probability_alive: value.probability_alive,
        order_count: value.order_count,
        last_purchase_at: value.last_purchase_at,
        revenue: value.revenue,
    }
}

/// Builds the context of a resolved customer.
pub async fn build(
    core: &Interactions,
    customer_id: String,
    recent_limit: i64,
    caller_budget: Duration,
) -> ApiResult<pb::GetContextResponse> {
    let budget = caller_budget.min(PEER_BUDGET);
    let (who, worth, stored) = tokio::join!(
        customer_summary(core, &customer_id, budget),
        value_summary(core, &customer_id, budget),
        core.store.context(&customer_id, recent_limit),
    );
    let stored = stored.map_err(ApiError::internal)?;
    let mut degraded = Vec::new();
    let mut withheld = Vec::new();
    let customer = match who {
        PeerPart::Found(summary) => Some(summary),
        PeerPart::Nothing => None,
        PeerPart::Failed => {
            degraded.push("identity".to_owned());
            None
        }
        PeerPart::Withheld => {
            withheld.push(IDENTITY_PART_SCOPE.to_owned());
            None
        }
    };
    let value = match worth {
        PeerPart::Found(summary) => Some(summary),
        PeerPart::Nothing => None,
        PeerPart::Failed => {
            degraded.push("differentiation".to_owned());
            None
        }
        PeerPart::Withheld => {
            withheld.push(VALUE_PART_SCOPE.to_owned());
            None
        }
    };
    let active: Vec<Thread> = stored
        .active_threads
        .iter()
        .map(|(thread, _)| thread.clone())
        .collect();
    let next = suggest_next_step(&active, &stored.recent, now_micros(), type_name);
    Ok(pb::GetContextResponse {
        customer_id,
        customer,
        value,
        recent_interactions: stored
            .recent
            .into_iter()
            .map(interaction_to_proto)
            .collect(),
        open_threads: stored
            .active_threads
            .into_iter()
            .map(|(thread, step)| thread_to_proto(thread, step))
            .collect(),
        preferences: latest_preferences(stored.preferences)
            .into_iter()
            .map(preference_to_proto)
            .collect(),
        consents: current_consents(stored.consents)
            .into_iter()
            .map(consent_to_proto)
            .collect(),
        suggested_next_step: Some(pb::SuggestedNextStep {
            action: next.action.to_owned(),
            text: next.text,
            thread_id: next.thread_id,
        }),
        degraded,
        withheld,
        interaction_count: stored.interaction_count.max(0) as u64,
        organizations: stored
            .organizations
            .into_iter()
            .map(|(group_id, name)| pb::OrganizationLink { group_id, name })
            .collect(),
    })
}
