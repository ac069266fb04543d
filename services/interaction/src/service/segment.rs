//! Segment and RudderStack ingest: `identify` sends a source record to identity;
//! `track`, `page` and `screen` become interactions; `group` links the person to an
//! organization; `alias` sends identity one record carrying both ids, which links
//! them. Each event is keyed by its `messageId`: a retry changes nothing.

use std::time::Duration;

use idic_runtime::error::{MAX_MESSAGE_BYTES, bounded};
use idic_runtime::storage::now_micros;
use idic_runtime::{ApiError, ApiResult};

use super::Interactions;
use crate::adapters::identity::{self, Identified};
use crate::domain::{NewInteraction, ThreadRequest};
use crate::resolve::resolve_or_create;
use crate::segment::{
    EventKind, SegmentEvent, SegmentIngest, SegmentResult, group_of, interaction_of, parse_event,
    previous_id, profile_of,
};
use crate::store::WriteOutcome;

impl Interactions {
    /// IngestSegmentEvents: ingests each event; a malformed one, or one identity
    /// refuses, is reported in its result and the others go on. Only a failure that is
    /// not the event's (a peer or the store unavailable) fails the call; the events
    /// before it stay ingested, and a retry of the whole batch is safe because each
    /// event is keyed by its `messageId`.
    pub async fn ingest_segment(
        &self,
        raw_events: &[String],
        budget: Duration,
    ) -> ApiResult<SegmentIngest> {
        let mut ingest = SegmentIngest::default();
        for raw in raw_events {
            let result = match parse_event(raw) {
                Err(reason) => SegmentResult {
                    error: format!("the event {reason}"),
                    ..Default::default()
                },
                Ok(event) => match self.ingest_event(&event, budget).await {
                    Ok(result) => result,
                    Err(error) => SegmentResult {
                        error: rejection(error)?,
                        ..SegmentResult::of(&event)
                    },
                },
            };
            ingest.push(result);
        }
        Ok(ingest)
    }

    async fn ingest_event(
        &self,
        event: &SegmentEvent,
        budget: Duration,
    ) -> ApiResult<SegmentResult> {
        let mut result = SegmentResult::of(event);
        if let Some((_, customer_id, interaction_id)) = self
            .store
            .segment_message(&event.message_id)
            .await
            .map_err(ApiError::internal)?
        {
            result.duplicate = true;
            result.customer_id = customer_id;
            result.interaction_id = interaction_id;
            return Ok(result);
        }
        let now = now_micros();
        match event.kind {
            EventKind::Identify => {
                let profile = profile_of(event);
                match identity::upsert_profile(&self.peers, &profile, budget).await? {
                    Identified::Stored {
                        customer_id,
                        warnings,
                    } => {
                        if let Some(anonymous_id) = &event.anonymous_id {
                            self.link_anonymous(&customer_id, anonymous_id, event, budget)
                                .await?;
                        }
                        result.customer_id = customer_id;
                        result.warnings = warnings;
                    }
                    Identified::Refused(reason) => {
                        result.error = reason;
                        return Ok(result);
                    }
                }
            }
            EventKind::Alias => {
                let previous = previous_id(event);
                let user_id = event.user_id.clone().unwrap_or_default();
                let customer_id = identity::alias(&self.peers, &user_id, &previous, budget).await?;
                self.link_anonymous(&customer_id, &previous, event, budget)
                    .await?;
                result.customer_id = customer_id;
            }
            EventKind::Group => {
                let customer = resolve_or_create(&self.peers, &person(event), budget).await?;
                let (group_id, name) = group_of(event);
                self.store
                    .link_organization(
                        &customer.anchor,
                        &customer.customer_id,
                        &group_id,
                        &name,
                        now,
                    )
                    .await
                    .map_err(ApiError::internal)?;
                result.customer_id = customer.customer_id;
            }
            EventKind::Track | EventKind::Page | EventKind::Screen => {
                let customer = resolve_or_create(&self.peers, &person(event), budget).await?;
                let mut interaction = interaction_of(event, now);
                interaction.customer_id = customer.customer_id.clone();
                interaction.anchor = customer.anchor;
                let item = NewInteraction {
                    interaction,
                    thread: ThreadRequest::None,
                    requested_status: 0,
                };
                let outcome = self.recorder.record(vec![item]).await?;
                match outcome.into_iter().next() {
                    Some(WriteOutcome::Created { interaction, .. })
                    | Some(WriteOutcome::Duplicate { interaction, .. }) => {
                        result.interaction_id = interaction.interaction_id;
                    }
                    _ => {}
                }
                result.customer_id = customer.customer_id;
            }
        }
        self.store
            .record_segment_message(
                &event.message_id,
                event.kind.as_str(),
                &result.customer_id,
                &result.interaction_id,
                now,
            )
            .await
            .map_err(ApiError::internal)?;
        Ok(result)
    }

    /// Segment's identify and alias say that the anonymous visitor is the user.
    /// Identity does not link two customers on a shared device id alone, so the
    /// customers this service created for the anonymous id's history are merged into
    /// the user's (identity's Merge; the merge comes back through identity's change
    /// stream, which moves the rows here).
    async fn link_anonymous(
        &self,
        customer_id: &str,
        anonymous_id: &str,
        event: &SegmentEvent,
        budget: Duration,
    ) -> ApiResult<()> {
        let anchor = identity::device(anonymous_id).anchor();
        let mut customer_ids = vec![customer_id.to_owned()];
        for other in self
            .store
            .customers_of_anchor(&anchor)
            .await
            .map_err(ApiError::internal)?
        {
            if !customer_ids.contains(&other) {
                customer_ids.push(other);
            }
        }
        if customer_ids.len() < 2 {
            return Ok(());
        }
        let reason = format!(
            "segment: anonymous visitor identified (message {})",
            event.message_id
        );
        identity::merge(&self.peers, customer_ids, reason, budget).await
    }
}

/// The person of an event: the user id when known, else the anonymous id.
fn person(event: &SegmentEvent) -> idic_runtime::refs::CustomerSelector {
    identity::segment_person(event.user_id.as_deref(), event.anonymous_id.as_deref())
}

/// Why an event was rejected, for a failure that is the event's own (its ids refused,
/// ambiguous or unknown); any other failure is the call's.
fn rejection(error: ApiError) -> ApiResult<String> {
    match error {
        ApiError::InvalidArgument(_)
        | ApiError::NotFound(_)
        | ApiError::FailedPrecondition(_)
        | ApiError::AlreadyExists(_) => Ok(bounded(&error.to_string(), MAX_MESSAGE_BYTES)),
        other => Err(other),
    }
}
