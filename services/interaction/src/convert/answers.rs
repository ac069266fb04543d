//! Domain answers to messages: what each use case returned, in its contract form.

use idic_proto::v1 as pb;
use idic_runtime::paging::{Page, finish_page};
use idic_runtime::storage::timestamp_from_micros;
use idic_runtime::warnings::FieldWarnings;

use super::messages::{
    consent_to_proto, event_of, interaction_to_proto, money, preference_to_proto, thread_to_proto,
};
use crate::domain::{
    ChannelSummary, Consent, ConsentAnswer, CustomerContext, CustomerItems, CustomerSummary,
    Interaction, Preferences, Thread, ThreadView, TimelineCursor, ValueSummary,
};
use crate::segment::SegmentIngest;
use crate::service::record::Recorded;
use crate::store::{CustomerExport, WriteOutcome};

/// RecordInteraction: the stored interaction and its thread; `warnings` name what was
/// left out.
pub fn recorded(recorded: Recorded, warnings: FieldWarnings) -> pb::RecordInteractionResponse {
    let (interaction, thread, duplicate) = match recorded.outcome {
        WriteOutcome::Created {
            interaction,
            thread,
        } => (interaction, thread, false),
        WriteOutcome::Duplicate {
            interaction,
            thread,
        } => (interaction, thread, true),
        WriteOutcome::ThreadOfAnotherCustomer => return pb::RecordInteractionResponse::default(),
    };
    let last_step = thread
        .as_ref()
        .filter(|thread| thread.last_interaction_id == interaction.interaction_id)
        .map(|_| interaction.clone());
    pb::RecordInteractionResponse {
        thread: thread.map(|thread| thread_to_proto(thread, last_step)),
        interaction: Some(interaction_to_proto(interaction)),
        duplicate,
        customer_created: recorded.customer_created,
        warnings: warnings.into_proto(),
    }
}

/// RecordInteractions: a result per item, in order, and the counts.
pub fn recorded_batch(
    items: Vec<Recorded>,
    warnings: Vec<FieldWarnings>,
) -> pb::RecordInteractionsResponse {
    let duplicates = items
        .iter()
        .filter(|item| matches!(item.outcome, WriteOutcome::Duplicate { .. }))
        .count() as u64;
    let results: Vec<_> = items
        .into_iter()
        .zip(warnings)
        .map(|(item, warnings)| recorded(item, warnings))
        .collect();
    pb::RecordInteractionsResponse {
        created: results.len() as u64 - duplicates,
        duplicates,
        results,
    }
}

/// GetContext.
pub fn context(context: CustomerContext) -> pb::GetContextResponse {
    pb::GetContextResponse {
        customer_id: context.customer_id,
        customer: context.customer.map(customer_summary),
        value: context.value.map(value_summary),
        recent_interactions: context
            .recent
            .into_iter()
            .map(interaction_to_proto)
            .collect(),
        open_threads: context
            .open_threads
            .into_iter()
            .map(|(thread, step)| thread_to_proto(thread, step))
            .collect(),
        preferences: context
            .preferences
            .into_iter()
            .map(preference_to_proto)
            .collect(),
        consents: context.consents.into_iter().map(consent_to_proto).collect(),
        suggested_next_step: Some(pb::SuggestedNextStep {
            action: context.next_step.action.to_owned(),
            text: context.next_step.text,
            thread_id: context.next_step.thread_id,
        }),
        degraded: context.degraded,
        withheld: context.withheld,
        interaction_count: context.interaction_count.max(0) as u64,
        organizations: organizations(context.organizations),
    }
}

fn customer_summary(summary: CustomerSummary) -> pb::CustomerSummary {
    pb::CustomerSummary {
        display_name: summary.display_name,
        organization_name: summary.organization_name,
        email: summary.email,
        phone: summary.phone,
        locality: summary.locality,
        country: summary.country,
        source_records: summary.source_records,
        aliases: summary.aliases,
        customer_since: summary.customer_since_micros.map(timestamp_from_micros),
    }
}

fn value_summary(summary: ValueSummary) -> pb::ValueSummary {
    pb::ValueSummary {
        tier: summary.tier,
        rank_percentile: summary.rank_percentile,
        predicted_clv: summary.predicted_clv,
        currency: summary.currency,
        probability_alive: summary.probability_alive,
        order_count: summary.order_count,
        last_purchase_at: summary.last_purchase_at_micros.map(timestamp_from_micros),
        revenue: summary.revenue.into_iter().map(money).collect(),
    }
}

fn organizations(links: Vec<(String, String)>) -> Vec<pb::OrganizationLink> {
    links
        .into_iter()
        .map(|(group_id, name)| pb::OrganizationLink { group_id, name })
        .collect()
}

/// ListTimeline: the page of `timeline` (fetched one past the page) and its token.
pub fn timeline(page: &Page, timeline: CustomerItems<Interaction>) -> pb::ListTimelineResponse {
    let (items, page) = finish_page(page, timeline.items, |item| {
        TimelineCursor::of(item).encode()
    });
    pb::ListTimelineResponse {
        customer_id: timeline.customer_id,
        interactions: items.into_iter().map(interaction_to_proto).collect(),
        page: Some(page),
    }
}

/// ListThreads: the page of `threads` (fetched one past the page) and its token.
pub fn threads(
    page: &Page,
    threads: CustomerItems<(Thread, Option<Interaction>)>,
) -> pb::ListThreadsResponse {
    let (items, page) = finish_page(page, threads.items, |(thread, _)| {
        format!("{}|{}", thread.last_activity_at_micros, thread.thread_id)
    });
    pb::ListThreadsResponse {
        customer_id: threads.customer_id,
        threads: items
            .into_iter()
            .map(|(thread, step)| thread_to_proto(thread, step))
            .collect(),
        page: Some(page),
    }
}

/// GetThread.
pub fn thread(view: ThreadView) -> pb::GetThreadResponse {
    pb::GetThreadResponse {
        thread: Some(thread_to_proto(view.thread, view.last_step)),
        steps: view.steps.into_iter().map(interaction_to_proto).collect(),
    }
}

/// StreamTimeline and StreamInteractions: a new interaction, without its anchor (the
/// anchor is for the services following the bus, not for clients).
pub fn stream_event(interaction: Interaction) -> pb::InteractionEvent {
    pb::InteractionEvent {
        anchor: String::new(),
        ..event_of(&interaction)
    }
}

/// IngestSegmentEvents.
pub fn segment_ingest(ingest: SegmentIngest) -> pb::IngestSegmentEventsResponse {
    pb::IngestSegmentEventsResponse {
        results: ingest
            .results
            .into_iter()
            .map(|result| pb::SegmentEventResult {
                message_id: result.message_id,
                r#type: result.kind,
                duplicate: result.duplicate,
                customer_id: result.customer_id,
                interaction_id: result.interaction_id,
                error: result.error,
                warnings: result.warnings,
            })
            .collect(),
        ingested: ingest.ingested,
        duplicates: ingest.duplicates,
        rejected: ingest.rejected,
    }
}

/// RecordConsent: the customer and its current decision for the channel and purpose.
pub fn consent_recorded(
    (customer_id, current): (String, Option<Consent>),
) -> pb::RecordConsentResponse {
    pb::RecordConsentResponse {
        customer_id,
        consent: current.map(consent_to_proto),
    }
}

/// CheckConsent.
pub fn consent_answer(answer: ConsentAnswer) -> pb::CheckConsentResponse {
    let state = answer.current.map(consent_to_proto);
    pb::CheckConsentResponse {
        customer_id: answer.customer_id,
        allowed: answer.allowed,
        status: state.as_ref().map_or(0, |state| state.status),
        decided_at: state.as_ref().and_then(|state| state.decided_at),
        source: state.map(|state| state.source).unwrap_or_default(),
    }
}

/// GetPreferences.
pub fn preferences(preferences: Preferences) -> pb::GetPreferencesResponse {
    pb::GetPreferencesResponse {
        customer_id: preferences.customer_id,
        preferences: preferences
            .preferences
            .into_iter()
            .map(preference_to_proto)
            .collect(),
        consents: preferences
            .consents
            .into_iter()
            .map(consent_to_proto)
            .collect(),
    }
}

/// ExportCustomerData.
pub fn export((customer_id, export): (String, CustomerExport)) -> pb::InteractionCustomerData {
    pb::InteractionCustomerData {
        customer_id,
        interactions: export
            .interactions
            .into_iter()
            .map(interaction_to_proto)
            .collect(),
        threads: export
            .threads
            .into_iter()
            .map(|thread| thread_to_proto(thread, None))
            .collect(),
        preferences: export
            .preferences
            .into_iter()
            .map(preference_to_proto)
            .collect(),
        consents: export.consents.into_iter().map(consent_to_proto).collect(),
        organizations: organizations(export.organizations),
        customer_references: export.anchors,
    }
}

/// GetChannelReport.
pub fn channel_report(summary: ChannelSummary) -> pb::GetChannelReportResponse {
    pb::GetChannelReportResponse {
        channels: summary
            .channels
            .into_iter()
            .map(|figures| pb::ChannelFigures {
                channel: figures.channel,
                contacts: figures.contacts,
                automated_contacts: figures.automated_contacts,
                cost: figures.cost.into_iter().map(money).collect(),
                average_cost_minor_units: figures.average_cost_minor_units,
            })
            .collect(),
        contacts: summary.contacts,
        total_cost: summary.total_cost.into_iter().map(money).collect(),
        automated_share: summary.automated_share,
        repeat_contact_rate: summary.repeat_contact_rate,
        repeat_contacts: summary.repeat_contacts,
        threads_resolved: summary.threads_resolved,
        average_resolution_seconds: summary.average_resolution_seconds,
        repeat_window_days: summary.repeat_window_days,
        not_contacts: summary.not_contacts,
    }
}
