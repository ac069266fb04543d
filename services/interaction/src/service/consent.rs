//! Consent per channel and purpose: recording a decision (for a customer created in
//! identity when its identifier is new) and checking the current one. Opt-in: only an
//! explicit, current GRANTED allows.

use std::time::Duration;

use idic_runtime::storage::now_micros;
use idic_runtime::{ApiError, ApiResult};

use super::Interactions;
use crate::domain::{
    Consent, ConsentAnswer, ConsentDecision, ConsentQuery, consent_allows, current_consents, new_id,
};
use crate::resolve::resolve_or_create;

impl Interactions {
    /// RecordConsent: stores the decision (a retry with its key changes nothing) and
    /// answers the customer and its current decision for that channel and purpose.
    pub async fn record_consent(
        &self,
        decision: ConsentDecision,
        budget: Duration,
    ) -> ApiResult<(String, Option<Consent>)> {
        let customer = resolve_or_create(&self.peers, &decision.selector, budget).await?;
        let now = now_micros();
        let consent_id = new_id("cns");
        let consent = Consent {
            idempotency_key: if decision.idempotency_key.is_empty() {
                consent_id.clone()
            } else {
                decision.idempotency_key
            },
            consent_id,
            customer_id: customer.customer_id.clone(),
            anchor: customer.anchor,
            channel: decision.channel,
            purpose: decision.purpose,
            status: decision.status,
            decided_at_micros: decision.decided_at_micros.unwrap_or(now),
            source: decision.source,
            recorded_at_micros: now,
        };
        self.store
            .insert_consent(&consent)
            .await
            .map_err(ApiError::internal)?;
        let current = self
            .current_consent(&customer.customer_id, consent.channel, &consent.purpose)
            .await?;
        Ok((customer.customer_id, current))
    }

    /// CheckConsent: whether the customer may be contacted on the channel for the
    /// purpose, and the decision that says so.
    pub async fn check_consent(
        &self,
        query: &ConsentQuery,
        budget: Duration,
    ) -> ApiResult<ConsentAnswer> {
        let customer_id = self.peers.resolve_customer(&query.selector, budget).await?;
        let current = self
            .current_consent(&customer_id, query.channel, &query.purpose)
            .await?;
        Ok(ConsentAnswer {
            customer_id,
            allowed: consent_allows(current.as_ref()),
            current,
        })
    }

    async fn current_consent(
        &self,
        customer_id: &str,
        channel: i32,
        purpose: &str,
    ) -> ApiResult<Option<Consent>> {
        let decisions = self
            .store
            .consents(customer_id)
            .await
            .map_err(ApiError::internal)?;
        Ok(current_consents(decisions)
            .into_iter()
            .find(|decision| decision.channel == channel && decision.purpose == purpose))
    }
}
