//! The domain's core values as contract messages: interactions, threads, consent and
//! preferences, and the bus event of a recorded interaction. A leaf: it imports the
//! domain only, so that the answers and the bus adapter can both use it.

use idic_proto::v1 as pb;
use idic_runtime::storage::timestamp_from_micros;

use crate::domain::{Consent, Cost, Interaction, Preference, Thread};

pub fn money(cost: Cost) -> pb::Money {
    pb::Money {
        currency: cost.currency,
        minor_units: cost.minor_units,
    }
}

pub fn interaction_to_proto(interaction: Interaction) -> pb::Interaction {
    pb::Interaction {
        interaction_id: interaction.interaction_id,
        customer_id: interaction.customer_id,
        channel: interaction.channel,
        r#type: interaction.kind,
        direction: interaction.direction,
        occurred_at: Some(timestamp_from_micros(interaction.occurred_at_micros)),
        thread_id: interaction.thread_id,
        topic: interaction.topic,
        summary: interaction.summary,
        needs: interaction
            .needs
            .into_iter()
            .map(|(key, value)| pb::ExpressedNeed { key, value })
            .collect(),
        outcome: interaction.outcome,
        sentiment: interaction.sentiment,
        agent: interaction.agent,
        cost: interaction.cost.map(money),
        idempotency_key: interaction.idempotency_key,
        automated: interaction.automated,
        recorded_at: Some(timestamp_from_micros(interaction.recorded_at_micros)),
        thread_status: interaction.thread_status,
    }
}

/// The bus and stream event of a recorded interaction.
pub fn event_of(interaction: &Interaction) -> pb::InteractionEvent {
    let message = interaction_to_proto(interaction.clone());
    pb::InteractionEvent {
        customer_id: message.customer_id.clone(),
        channel: message.channel,
        r#type: message.r#type,
        occurred_at: message.occurred_at,
        topic: message.topic.clone(),
        needs: message.needs.clone(),
        interaction: Some(message),
        anchor: interaction.anchor.clone(),
    }
}

pub fn thread_to_proto(thread: Thread, last_step: Option<Interaction>) -> pb::Thread {
    pb::Thread {
        thread_id: thread.thread_id,
        customer_id: thread.customer_id,
        topic: thread.topic,
        status: thread.status,
        opened_by: thread.opened_by,
        opened_channel: thread.opened_channel,
        opened_at: Some(timestamp_from_micros(thread.opened_at_micros)),
        last_activity_at: Some(timestamp_from_micros(thread.last_activity_at_micros)),
        resolved_at: (thread.resolved_at_micros != 0)
            .then(|| timestamp_from_micros(thread.resolved_at_micros)),
        step_count: u32::try_from(thread.step_count).unwrap_or(u32::MAX),
        last_step: last_step.map(interaction_to_proto),
    }
}

pub fn consent_to_proto(consent: Consent) -> pb::ConsentState {
    pb::ConsentState {
        channel: consent.channel,
        purpose: consent.purpose,
        status: consent.status,
        decided_at: Some(timestamp_from_micros(consent.decided_at_micros)),
        source: consent.source,
    }
}

pub fn preference_to_proto(preference: Preference) -> pb::CustomerPreference {
    pb::CustomerPreference {
        key: preference.key,
        value: preference.value,
        channel: preference.channel,
        expressed_at: Some(timestamp_from_micros(preference.expressed_at_micros)),
        interaction_id: preference.interaction_id,
    }
}
