//! Interaction commands: `idic context REF`, `idic timeline REF`,
//! `idic record-interaction ...`, `idic report channels --from ... --to ...`.

use anyhow::Context as _;
use clap::Args;
use idic_proto::v1 as pb;
use idic_proto::v1::interaction_service_client::InteractionServiceClient;
use idic_runtime::money::{format_major, format_money, minor_unit_exponent};

use super::ClientArgs;
use super::client::{SuiteChannel, connect};

type Client = InteractionServiceClient<SuiteChannel>;

/// A customer reference on the command line: a customer id (`cus_...`), `KIND:value`
/// (email, phone, loyalty, account, device, national, or `external:SYSTEM:value`), or a
/// bare e-mail address or phone number.
fn parse_reference(text: &str) -> anyhow::Result<pb::CustomerRef> {
    use pb::IdentifierKind as Kind;
    use pb::customer_ref::Ref;
    let identifier = |kind: Kind, value: &str, system: &str| {
        Ref::Identifier(pb::Identifier {
            kind: kind as i32,
            value: value.to_owned(),
            system: system.to_owned(),
            address: None,
        })
    };
    let reference = match text.split_once(':') {
        Some(("email", value)) => identifier(Kind::Email, value, ""),
        Some(("phone", value)) => identifier(Kind::Phone, value, ""),
        Some(("loyalty", value)) => identifier(Kind::LoyaltyId, value, ""),
        Some(("account", value)) => identifier(Kind::AccountCode, value, ""),
        Some(("device", value)) => identifier(Kind::DeviceId, value, ""),
        Some(("national", value)) => identifier(Kind::NationalId, value, ""),
        Some(("external", rest)) => {
            let (system, value) = rest
                .split_once(':')
                .context("an external id is external:SYSTEM:VALUE")?;
            identifier(Kind::ExternalId, value, system)
        }
        Some((kind, _)) => anyhow::bail!("unknown identifier kind '{kind}'"),
        None if text.contains('@') => identifier(Kind::Email, text, ""),
        None if text.starts_with('+') || text.chars().all(|c| c.is_ascii_digit() || c == ' ') => {
            identifier(Kind::Phone, text, "")
        }
        None => Ref::CustomerId(text.to_owned()),
    };
    Ok(pb::CustomerRef {
        r#ref: Some(reference),
    })
}

/// `call-center` -> CHANNEL_CALL_CENTER, and so on for the other enums.
fn parse_enum<E>(prefix: &str, text: &str, from_name: fn(&str) -> Option<E>) -> anyhow::Result<E> {
    let name = format!(
        "{prefix}_{}",
        text.trim().to_uppercase().replace(['-', ' '], "_")
    );
    from_name(&name).with_context(|| format!("'{text}' is not a known {}", prefix.to_lowercase()))
}

fn enum_label(name: &str, prefix: &str) -> String {
    name.trim_start_matches(prefix)
        .trim_start_matches('_')
        .to_lowercase()
        .replace('_', "-")
}

fn channel_label(value: i32) -> String {
    pb::Channel::try_from(value).map_or("?".into(), |c| enum_label(c.as_str_name(), "CHANNEL"))
}

fn type_label(value: i32) -> String {
    pb::InteractionType::try_from(value).map_or("?".into(), |t| {
        enum_label(t.as_str_name(), "INTERACTION_TYPE")
    })
}

fn status_label(value: i32) -> String {
    pb::ThreadStatus::try_from(value)
        .map_or("?".into(), |s| enum_label(s.as_str_name(), "THREAD_STATUS"))
}

fn parse_time(text: &str) -> anyhow::Result<prost_types::Timestamp> {
    let text = if text.len() == 10 {
        format!("{text}T00:00:00Z")
    } else {
        text.to_owned()
    };
    text.parse()
        .map_err(|_| anyhow::anyhow!("'{text}' is not an RFC 3339 time or a YYYY-MM-DD date"))
}

fn show_time(timestamp: Option<&prost_types::Timestamp>) -> String {
    timestamp.map_or_else(String::new, |t| {
        let mut text = t.to_string();
        // "2026-03-02T09:00:00Z" is precise enough for a screen.
        if let Some(dot) = text.find('.') {
            text.truncate(dot);
            text.push('Z');
        }
        text
    })
}

fn status_error(status: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{:?}: {}", status.code(), status.message())
}

fn print_interaction(interaction: &pb::Interaction) {
    let thread = if interaction.thread_id.is_empty() {
        String::new()
    } else {
        format!(
            "  [{} {}]",
            interaction.thread_id,
            status_label(interaction.thread_status)
        )
    };
    println!(
        "  {}  {:<12} {:<16} {}{}",
        show_time(interaction.occurred_at.as_ref()),
        channel_label(interaction.channel),
        type_label(interaction.r#type),
        interaction.topic,
        thread
    );
    if !interaction.summary.is_empty() {
        println!("      {}", interaction.summary);
    }
}

#[derive(Debug, Args)]
pub struct ContextArgs {
    /// The customer: cus_..., email:..., phone:..., an e-mail address or a phone number.
    pub reference: String,
    /// How many of the last interactions to show.
    #[arg(long, default_value_t = 10)]
    pub recent: u32,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `idic context REF`: what the agent's screen shows.
pub async fn context(args: &ContextArgs) -> anyhow::Result<()> {
    let mut client = Client::new(connect(&args.client).await?);
    let context = client
        .get_context(pb::GetContextRequest {
            customer: Some(parse_reference(&args.reference)?),
            recent_limit: args.recent,
        })
        .await
        .map_err(status_error)?
        .into_inner();
    println!("customer   {}", context.customer_id);
    if let Some(who) = &context.customer {
        println!("name       {}", who.display_name);
        println!("contact    {} {}", who.email, who.phone);
        println!(
            "records    {} linked, {} aliases",
            who.source_records,
            who.aliases.len()
        );
    }
    if let Some(value) = &context.value {
        println!(
            "value      tier {}  rank {:.0}%  CLV {}  p(alive) {:.2}  orders {}",
            if value.tier.is_empty() {
                "-"
            } else {
                &value.tier
            },
            value.rank_percentile,
            format_major(value.predicted_clv, &value.currency),
            value.probability_alive,
            value.order_count
        );
    }
    for organization in &context.organizations {
        let name = if organization.name.is_empty() {
            &organization.group_id
        } else {
            &organization.name
        };
        println!("member of  {name} ({})", organization.group_id);
    }
    if !context.degraded.is_empty() {
        println!("degraded   {} did not answer", context.degraded.join(", "));
    }
    if let Some(next) = &context.suggested_next_step {
        println!("next step  {}", next.text);
    }
    println!("open threads ({}):", context.open_threads.len());
    for thread in &context.open_threads {
        println!(
            "  {}  {:<8} {} since {}, {} step(s)",
            thread.thread_id,
            status_label(thread.status),
            thread.topic,
            show_time(thread.opened_at.as_ref()),
            thread.step_count
        );
        if let Some(step) = &thread.last_step {
            print_interaction(step);
        }
    }
    println!("last interactions ({} in all):", context.interaction_count);
    for interaction in &context.recent_interactions {
        print_interaction(interaction);
    }
    if !context.preferences.is_empty() {
        println!("preferences:");
        for preference in &context.preferences {
            println!(
                "  {} = {}  ({}, {})",
                preference.key,
                preference.value,
                channel_label(preference.channel),
                show_time(preference.expressed_at.as_ref())
            );
        }
    }
    if !context.consents.is_empty() {
        println!("consent:");
        for consent in &context.consents {
            let status = pb::ConsentStatus::try_from(consent.status).map_or("?".into(), |s| {
                enum_label(s.as_str_name(), "CONSENT_STATUS")
            });
            println!(
                "  {:<12} {:<12} {status}  ({}, {})",
                channel_label(consent.channel),
                consent.purpose,
                consent.source,
                show_time(consent.decided_at.as_ref())
            );
        }
    }
    Ok(())
}

#[derive(Debug, Args)]
pub struct TimelineArgs {
    /// The customer: cus_..., email:..., phone:..., an e-mail address or a phone number.
    pub reference: String,
    /// Only these channels (call-center, web, email, store, mobile-app, partner, mail).
    #[arg(long = "channel")]
    pub channels: Vec<String>,
    /// Only these types (call, chat, email, web-visit, complaint, purchase, ...).
    #[arg(long = "type")]
    pub types: Vec<String>,
    /// From this time (RFC 3339 or YYYY-MM-DD), inclusive.
    #[arg(long)]
    pub from: Option<String>,
    /// To this time, exclusive.
    #[arg(long)]
    pub to: Option<String>,
    /// Only the steps of this thread.
    #[arg(long)]
    pub thread: Option<String>,
    /// At most this many interactions, newest first.
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `idic timeline REF`
pub async fn timeline(args: &TimelineArgs) -> anyhow::Result<()> {
    let mut client = Client::new(connect(&args.client).await?);
    let channels = args
        .channels
        .iter()
        .map(|text| parse_enum("CHANNEL", text, pb::Channel::from_str_name).map(|c| c as i32))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let types = args
        .types
        .iter()
        .map(|text| {
            parse_enum("INTERACTION_TYPE", text, pb::InteractionType::from_str_name)
                .map(|t| t as i32)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let time_range = match (&args.from, &args.to) {
        (None, None) => None,
        (from, to) => Some(pb::TimeRange {
            start: from.as_deref().map(parse_time).transpose()?,
            end: to.as_deref().map(parse_time).transpose()?,
        }),
    };
    let mut remaining = args.limit;
    let mut page_token = String::new();
    let mut first = true;
    while remaining > 0 {
        let response = client
            .list_timeline(pb::ListTimelineRequest {
                customer: Some(parse_reference(&args.reference)?),
                page: Some(pb::PageRequest {
                    page_size: remaining.min(1000),
                    page_token: page_token.clone(),
                }),
                channels: channels.clone(),
                types: types.clone(),
                time_range,
                thread_id: args.thread.clone().unwrap_or_default(),
            })
            .await
            .map_err(status_error)?
            .into_inner();
        if first {
            println!("customer {}", response.customer_id);
            first = false;
        }
        remaining = remaining.saturating_sub(response.interactions.len() as u32);
        for interaction in &response.interactions {
            print_interaction(interaction);
        }
        page_token = response
            .page
            .map(|page| page.next_page_token)
            .unwrap_or_default();
        if page_token.is_empty() {
            break;
        }
    }
    Ok(())
}

#[derive(Debug, Args)]
pub struct RecordInteractionArgs {
    /// The customer: cus_..., email:..., phone:..., an e-mail address or a phone number.
    #[arg(long)]
    pub customer: String,
    /// call-center, web, email, store, mobile-app, partner, mail.
    #[arg(long)]
    pub channel: String,
    /// call, chat, email, web-visit, store-visit, purchase, inquiry, complaint,
    /// survey-response, offer-presented, offer-accepted, offer-rejected.
    #[arg(long = "type")]
    pub kind: String,
    /// inbound (default) or outbound.
    #[arg(long)]
    pub direction: Option<String>,
    /// When it happened (RFC 3339); default now.
    #[arg(long)]
    pub at: Option<String>,
    /// Continue this thread.
    #[arg(long)]
    pub thread: Option<String>,
    /// Start a new thread (complaints always do).
    #[arg(long)]
    pub open_thread: bool,
    /// The thread's status after this step: open, waiting, resolved.
    #[arg(long)]
    pub status: Option<String>,
    #[arg(long, default_value = "")]
    pub topic: String,
    #[arg(long, default_value = "")]
    pub summary: String,
    /// An expressed need or preference, KEY=VALUE; repeat for more.
    #[arg(long = "need")]
    pub needs: Vec<String>,
    #[arg(long, default_value = "")]
    pub outcome: String,
    /// negative, neutral, positive.
    #[arg(long)]
    pub sentiment: Option<String>,
    #[arg(long, default_value = "")]
    pub agent: String,
    /// The contact's cost in minor units (cents), with --currency.
    #[arg(long)]
    pub cost: Option<i64>,
    #[arg(long, default_value = "EUR")]
    pub currency: String,
    /// Idempotency key: a retry with the same key records nothing new.
    #[arg(long, default_value = "")]
    pub key: String,
    /// No human handled the contact.
    #[arg(long)]
    pub automated: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `idic record-interaction ...`
pub async fn record_interaction(args: &RecordInteractionArgs) -> anyhow::Result<()> {
    let needs = args
        .needs
        .iter()
        .map(|need| {
            let (key, value) = need
                .split_once('=')
                .with_context(|| format!("--need '{need}' is not KEY=VALUE"))?;
            Ok(pb::ExpressedNeed {
                key: key.to_owned(),
                value: value.to_owned(),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let request = pb::RecordInteractionRequest {
        customer: Some(parse_reference(&args.customer)?),
        channel: parse_enum("CHANNEL", &args.channel, pb::Channel::from_str_name)? as i32,
        r#type: parse_enum(
            "INTERACTION_TYPE",
            &args.kind,
            pb::InteractionType::from_str_name,
        )? as i32,
        direction: args
            .direction
            .as_deref()
            .map(|text| parse_enum("DIRECTION", text, pb::Direction::from_str_name))
            .transpose()?
            .map_or(0, |direction| direction as i32),
        occurred_at: args.at.as_deref().map(parse_time).transpose()?,
        thread_id: args.thread.clone().unwrap_or_default(),
        open_thread: args.open_thread,
        thread_status: args
            .status
            .as_deref()
            .map(|text| parse_enum("THREAD_STATUS", text, pb::ThreadStatus::from_str_name))
            .transpose()?
            .map_or(0, |status| status as i32),
        topic: args.topic.clone(),
        summary: args.summary.clone(),
        needs,
        outcome: args.outcome.clone(),
        sentiment: args
            .sentiment
            .as_deref()
            .map(|text| parse_enum("SENTIMENT", text, pb::Sentiment::from_str_name))
            .transpose()?
            .map_or(0, |sentiment| sentiment as i32),
        agent: args.agent.clone(),
        cost: args.cost.map(|minor_units| pb::Money {
            currency: args.currency.clone(),
            minor_units,
        }),
        idempotency_key: args.key.clone(),
        automated: args.automated,
    };
    let mut client = Client::new(connect(&args.client).await?);
    let response = client
        .record_interaction(request)
        .await
        .map_err(status_error)?
        .into_inner();
    let interaction = response.interaction.unwrap_or_default();
    println!(
        "{} {} for {}{}",
        if response.duplicate {
            "already recorded:"
        } else {
            "recorded"
        },
        interaction.interaction_id,
        interaction.customer_id,
        if response.customer_created {
            " (new customer)"
        } else {
            ""
        }
    );
    if let Some(thread) = response.thread {
        println!(
            "thread {} {} ({} step(s)): {}",
            thread.thread_id,
            status_label(thread.status),
            thread.step_count,
            thread.topic
        );
    }
    Ok(())
}

#[derive(Debug, Args)]
pub struct ChannelReportArgs {
    /// Period start (RFC 3339 or YYYY-MM-DD), inclusive.
    #[arg(long)]
    pub from: String,
    /// Period end, exclusive.
    #[arg(long)]
    pub to: String,
    /// A contact repeats when the same customer raised the same topic within this
    /// many days before.
    #[arg(long, default_value_t = 7)]
    pub repeat_days: u32,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `idic report channels --from ... --to ...`
pub async fn channel_report(args: &ChannelReportArgs) -> anyhow::Result<()> {
    let mut client = Client::new(connect(&args.client).await?);
    let report = client
        .get_channel_report(pb::GetChannelReportRequest {
            period: Some(pb::TimeRange {
                start: Some(parse_time(&args.from)?),
                end: Some(parse_time(&args.to)?),
            }),
            repeat_window_days: args.repeat_days,
        })
        .await
        .map_err(status_error)?
        .into_inner();
    println!(
        "{:<12} {:>10} {:>10} {:>16} {:>12}",
        "channel", "contacts", "automated", "cost", "per contact"
    );
    for figures in &report.channels {
        let cost = figures
            .cost
            .iter()
            .map(|money| format_money(money.minor_units, &money.currency))
            .collect::<Vec<_>>()
            .join(" + ");
        // The average is in the first currency's minor units (see the proto).
        let per_contact = figures.cost.first().map_or_else(
            || "-".to_owned(),
            |first| {
                let scale = 10f64.powi(minor_unit_exponent(&first.currency) as i32);
                format_major(figures.average_cost_minor_units / scale, &first.currency)
            },
        );
        println!(
            "{:<12} {:>10} {:>10} {:>16} {:>12}",
            channel_label(figures.channel),
            figures.contacts,
            figures.automated_contacts,
            if cost.is_empty() {
                "-".to_owned()
            } else {
                cost
            },
            per_contact
        );
    }
    println!("contacts            {}", report.contacts);
    println!("automated share     {:.1}%", report.automated_share * 100.0);
    println!(
        "repeat contacts     {} ({:.1}% within {} days, same customer and topic)",
        report.repeat_contacts,
        report.repeat_contact_rate * 100.0,
        report.repeat_window_days
    );
    println!(
        "threads resolved    {} (average {:.1} h to resolve)",
        report.threads_resolved,
        report.average_resolution_seconds / 3600.0
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_and_enums_parse_from_the_command_line() {
        let email = parse_reference("ann@example.com").unwrap();
        assert!(
            matches!(email.r#ref, Some(pb::customer_ref::Ref::Identifier(ref i)) if i.kind == pb::IdentifierKind::Email as i32)
        );
        let id = parse_reference("cus_0192").unwrap();
        assert_eq!(
            id.r#ref,
            Some(pb::customer_ref::Ref::CustomerId("cus_0192".into()))
        );
        assert!(parse_reference("fax:123").is_err());
        assert_eq!(
            parse_enum("CHANNEL", "call-center", pb::Channel::from_str_name).unwrap(),
            pb::Channel::CallCenter
        );
        assert!(parse_enum("CHANNEL", "pigeon", pb::Channel::from_str_name).is_err());
        assert_eq!(parse_time("2026-03-02").unwrap().seconds, 1_772_409_600);
    }
}
