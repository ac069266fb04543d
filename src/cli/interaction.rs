//! Interaction commands: `idic context REF`, `idic timeline REF`,
//! `idic record-interaction ...`, `idic report channels --from ... --to ...`.

use std::io::{self, Write};

use anyhow::Context as _;
use clap::Args;
use futures::StreamExt as _;
use idic_proto::v1 as pb;
use idic_proto::v1::interaction_service_client::InteractionServiceClient;
use idic_runtime::money::{format_major, format_money};

use super::args::{parse_amount, parse_customer_ref, parse_time};
use super::client::{ClientArgs, SuiteChannel, answer, connect, status_error};
use super::labels::{channel_label, cost_per_contact, enum_label};
use super::output::{self, fail_if_rejected, time_text};

type Client = InteractionServiceClient<SuiteChannel>;

/// `call-center` -> CHANNEL_CALL_CENTER, and so on for the other enums.
fn parse_enum<E>(prefix: &str, text: &str, from_name: fn(&str) -> Option<E>) -> anyhow::Result<E> {
    let name = format!(
        "{prefix}_{}",
        text.trim().to_uppercase().replace(['-', ' '], "_")
    );
    from_name(&name).with_context(|| format!("'{text}' is not a known {}", prefix.to_lowercase()))
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

fn print_interaction(out: &mut impl Write, interaction: &pb::Interaction) -> io::Result<()> {
    let thread = if interaction.thread_id.is_empty() {
        String::new()
    } else {
        format!(
            "  [{} {}]",
            interaction.thread_id,
            status_label(interaction.thread_status)
        )
    };
    writeln!(
        out,
        "  {}  {:<12} {:<16} {}{}",
        time_text(interaction.occurred_at.as_ref()),
        channel_label(interaction.channel),
        type_label(interaction.r#type),
        interaction.topic,
        thread
    )?;
    if !interaction.summary.is_empty() {
        writeln!(out, "      {}", interaction.summary)?;
    }
    Ok(())
}

#[derive(Debug, Args)]
pub struct ContextArgs {
    /// The customer (REF): a customer id, KIND:VALUE (KIND email, phone, loyalty,
    /// account, device, national), SYSTEM:VALUE or external:SYSTEM:VALUE for an external
    /// id, or a bare e-mail address or phone number.
    pub reference: String,
    /// How many of the last interactions to show.
    #[arg(long, default_value_t = 10)]
    pub recent: u32,
}

/// `idic context REF`: what the agent's screen shows.
pub async fn context(client_args: &ClientArgs, args: &ContextArgs) -> anyhow::Result<()> {
    let mut client = Client::new(connect(client_args).await?);
    let context = answer(client.get_context(pb::GetContextRequest {
        customer: Some(parse_customer_ref(&args.reference)?),
        recent_limit: args.recent,
    }))
    .await?;
    output::print(
        client_args.json,
        context,
        "GetContextResponse",
        |out, context| {
            write_context(out, &context)?;
            Ok(())
        },
    )
}

/// The agent's screen as the terminal shows it.
pub fn write_context(out: &mut impl Write, context: &pb::GetContextResponse) -> io::Result<()> {
    writeln!(out, "customer   {}", context.customer_id)?;
    if let Some(who) = &context.customer {
        writeln!(out, "name       {}", who.display_name)?;
        writeln!(out, "contact    {} {}", who.email, who.phone)?;
        writeln!(
            out,
            "records    {} linked, {} aliases",
            who.source_records,
            who.aliases.len()
        )?;
    }
    if let Some(value) = &context.value {
        writeln!(
            out,
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
        )?;
    }
    for organization in &context.organizations {
        let name = if organization.name.is_empty() {
            &organization.group_id
        } else {
            &organization.name
        };
        writeln!(out, "member of  {name} ({})", organization.group_id)?;
    }
    if !context.degraded.is_empty() {
        writeln!(
            out,
            "degraded   {} did not answer",
            context.degraded.join(", ")
        )?;
    }
    if let Some(next) = &context.suggested_next_step {
        writeln!(out, "next step  {}", next.text)?;
    }
    writeln!(out, "open threads ({}):", context.open_threads.len())?;
    for thread in &context.open_threads {
        writeln!(
            out,
            "  {}  {:<8} {} since {}, {} step(s)",
            thread.thread_id,
            status_label(thread.status),
            thread.topic,
            time_text(thread.opened_at.as_ref()),
            thread.step_count
        )?;
        if let Some(step) = &thread.last_step {
            print_interaction(out, step)?;
        }
    }
    writeln!(
        out,
        "last interactions ({} in all):",
        context.interaction_count
    )?;
    for interaction in &context.recent_interactions {
        print_interaction(out, interaction)?;
    }
    if !context.preferences.is_empty() {
        writeln!(out, "preferences:")?;
        for preference in &context.preferences {
            writeln!(
                out,
                "  {} = {}  ({}, {})",
                preference.key,
                preference.value,
                channel_label(preference.channel),
                time_text(preference.expressed_at.as_ref())
            )?;
        }
    }
    if !context.consents.is_empty() {
        writeln!(out, "consent:")?;
        for consent in &context.consents {
            let status = pb::ConsentStatus::try_from(consent.status).map_or("?".into(), |s| {
                enum_label(s.as_str_name(), "CONSENT_STATUS")
            });
            writeln!(
                out,
                "  {:<12} {:<12} {status}  ({}, {})",
                channel_label(consent.channel),
                consent.purpose,
                consent.source,
                time_text(consent.decided_at.as_ref())
            )?;
        }
    }
    Ok(())
}

#[derive(Debug, Args)]
pub struct TimelineArgs {
    /// The customer (REF): a customer id, KIND:VALUE (KIND email, phone, loyalty,
    /// account, device, national), SYSTEM:VALUE or external:SYSTEM:VALUE for an external
    /// id, or a bare e-mail address or phone number.
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
    /// Then keep printing the customer's new contacts as they are recorded (Ctrl-C to stop).
    #[arg(long)]
    pub follow: bool,
}

/// `idic timeline REF`
pub async fn timeline(client_args: &ClientArgs, args: &TimelineArgs) -> anyhow::Result<()> {
    let mut client = Client::new(connect(client_args).await?);
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
    let mut out = output::stdout();
    let mut remaining = args.limit;
    let mut page_token = String::new();
    let mut first = true;
    let mut customer_id = String::new();
    let mut listed = Vec::new();
    while remaining > 0 {
        let response = answer(client.list_timeline(pb::ListTimelineRequest {
            customer: Some(parse_customer_ref(&args.reference)?),
            page: Some(pb::PageRequest {
                page_size: remaining.min(1000),
                page_token: page_token.clone(),
            }),
            channels: channels.clone(),
            types: types.clone(),
            time_range,
            thread_id: args.thread.clone().unwrap_or_default(),
        }))
        .await?;
        if first && !client_args.json {
            writeln!(out, "customer {}", response.customer_id)?;
        }
        first = false;
        customer_id.clone_from(&response.customer_id);
        remaining = remaining.saturating_sub(response.interactions.len() as u32);
        if client_args.json {
            listed.extend(response.interactions);
        } else {
            for interaction in &response.interactions {
                print_interaction(&mut out, interaction)?;
            }
        }
        page_token = response
            .page
            .map(|page| page.next_page_token)
            .unwrap_or_default();
        if page_token.is_empty() {
            break;
        }
    }
    if client_args.json && !args.follow {
        let response = pb::ListTimelineResponse {
            customer_id,
            interactions: listed,
            page: None,
        };
        output::write_message(&mut out, &response, "ListTimelineResponse")?;
    } else if client_args.json {
        for interaction in &listed {
            output::write_message_line(&mut out, interaction, "Interaction")?;
        }
    }
    out.flush()?;
    if args.follow {
        follow_timeline(&mut client, client_args.json, &args.reference, &mut out).await?;
    }
    Ok(())
}

/// `--follow`: the customer's new contacts, one per line (a JSON line with `--json`).
async fn follow_timeline(
    client: &mut Client,
    json: bool,
    reference: &str,
    out: &mut output::Out,
) -> anyhow::Result<()> {
    let mut stream = answer(client.stream_timeline(pb::StreamTimelineRequest {
        customer: Some(parse_customer_ref(reference)?),
    }))
    .await?;
    while let Some(event) = stream.next().await {
        let event = event.map_err(status_error)?;
        write_event(out, json, &event)?;
    }
    Ok(())
}

fn write_event(
    out: &mut output::Out,
    json: bool,
    event: &pb::InteractionEvent,
) -> anyhow::Result<()> {
    if json {
        return output::write_message_line(out, event, "InteractionEvent");
    }
    match &event.interaction {
        Some(interaction) => {
            write!(out, "{}", interaction.customer_id)?;
            print_interaction(out, interaction)?;
        }
        None => writeln!(
            out,
            "{}  {}  {:<12} {:<16} {}",
            event.customer_id,
            time_text(event.occurred_at.as_ref()),
            channel_label(event.channel),
            type_label(event.r#type),
            event.topic
        )?,
    }
    out.flush()?;
    Ok(())
}

#[derive(Debug, Args)]
pub struct RecordInteractionArgs {
    /// The customer (REF): a customer id, KIND:VALUE (KIND email, phone, loyalty,
    /// account, device, national), SYSTEM:VALUE or external:SYSTEM:VALUE for an external
    /// id, or a bare e-mail address or phone number.
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
}

/// `idic record-interaction ...`
pub async fn record_interaction(
    client_args: &ClientArgs,
    args: &RecordInteractionArgs,
) -> anyhow::Result<()> {
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
        customer: Some(parse_customer_ref(&args.customer)?),
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
        strict: false,
    };
    let mut client = Client::new(connect(client_args).await?);
    let response = answer(client.record_interaction(request)).await?;
    output::print(
        client_args.json,
        response,
        "RecordInteractionResponse",
        |out, response| {
            let interaction = response.interaction.unwrap_or_default();
            writeln!(
                out,
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
            )?;
            if let Some(thread) = response.thread {
                writeln!(
                    out,
                    "thread {} {} ({} step(s)): {}",
                    thread.thread_id,
                    status_label(thread.status),
                    thread.step_count,
                    thread.topic
                )?;
            }
            Ok(())
        },
    )
}

#[derive(Debug, Args)]
pub struct ChannelReportArgs {
    /// Period start (RFC 3339 or YYYY-MM-DD), inclusive [default: a year before --to].
    #[arg(long)]
    pub from: Option<String>,
    /// Period end, exclusive [default: now].
    #[arg(long)]
    pub to: Option<String>,
    /// A contact repeats when the same customer raised the same topic within this
    /// many days before.
    #[arg(long, default_value_t = 7)]
    pub repeat_days: u32,
    /// Also draw contacts and cost per channel, with the automated share, into this
    /// SVG file.
    #[arg(long, value_name = "FILE")]
    pub svg: Option<std::path::PathBuf>,
}

/// `idic report channels [--from ...] [--to ...] [--svg FILE]`
pub async fn channel_report(
    client_args: &ClientArgs,
    args: &ChannelReportArgs,
) -> anyhow::Result<()> {
    let end = match &args.to {
        Some(text) => parse_time(text)?,
        None => prost_types::Timestamp::from(std::time::SystemTime::now()),
    };
    let start = match &args.from {
        Some(text) => parse_time(text)?,
        None => prost_types::Timestamp {
            seconds: end.seconds - 365 * 86_400,
            nanos: 0,
        },
    };
    let mut client = Client::new(connect(client_args).await?);
    let report = answer(client.get_channel_report(pb::GetChannelReportRequest {
        period: Some(pb::TimeRange {
            start: Some(start),
            end: Some(end),
        }),
        repeat_window_days: args.repeat_days,
    }))
    .await?;
    if let Some(path) = &args.svg {
        super::charts::write_channels_svg(path, &report)?;
    }
    output::print(
        client_args.json,
        report,
        "GetChannelReportResponse",
        |out, report| {
            write_channel_report(out, &report)?;
            if let Some(path) = &args.svg {
                writeln!(out, "chart: {}", path.display())?;
            }
            Ok(())
        },
    )
}

/// The channel report as the terminal shows it.
pub fn write_channel_report(
    out: &mut impl Write,
    report: &pb::GetChannelReportResponse,
) -> io::Result<()> {
    writeln!(
        out,
        "{:<12} {:>10} {:>10} {:>16} {:>12}",
        "channel", "contacts", "automated", "cost", "per contact"
    )?;
    for figures in &report.channels {
        let cost = figures
            .cost
            .iter()
            .map(|money| format_money(money.minor_units, &money.currency))
            .collect::<Vec<_>>()
            .join(" + ");
        let per_contact = cost_per_contact(figures).map_or_else(
            || "-".to_owned(),
            |(major, currency)| format_major(major, &currency),
        );
        writeln!(
            out,
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
        )?;
    }
    writeln!(out, "contacts            {}", report.contacts)?;
    writeln!(
        out,
        "automated share     {:.1}%",
        report.automated_share * 100.0
    )?;
    writeln!(
        out,
        "repeat contacts     {} ({:.1}% within {} days, same customer and topic)",
        report.repeat_contacts,
        report.repeat_contact_rate * 100.0,
        report.repeat_window_days
    )?;
    writeln!(
        out,
        "threads resolved    {} (average {:.1} h to resolve)",
        report.threads_resolved,
        report.average_resolution_seconds / 3600.0
    )?;
    Ok(())
}

#[derive(Debug, Args)]
pub struct FeedArgs {
    /// Only these channels.
    #[arg(long = "channel")]
    pub channels: Vec<String>,
    /// Only these types.
    #[arg(long = "type")]
    pub types: Vec<String>,
}

/// `idic feed`: every new contact as it is recorded (StreamInteractions).
pub async fn feed(client_args: &ClientArgs, args: &FeedArgs) -> anyhow::Result<()> {
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
    let mut client = Client::new(connect(client_args).await?);
    let mut stream =
        answer(client.stream_interactions(pb::StreamInteractionsRequest { channels, types }))
            .await?;
    let mut out = output::stdout();
    while let Some(event) = stream.next().await {
        let event = event.map_err(status_error)?;
        write_event(&mut out, client_args.json, &event)?;
    }
    Ok(())
}

#[derive(Debug, Args)]
pub struct ThreadArgs {
    /// The thread id (`idic threads REF` lists them).
    pub thread_id: String,
}

/// `idic thread ID`
pub async fn thread(client_args: &ClientArgs, args: &ThreadArgs) -> anyhow::Result<()> {
    let mut client = Client::new(connect(client_args).await?);
    let response = answer(client.get_thread(pb::GetThreadRequest {
        thread_id: args.thread_id.clone(),
    }))
    .await?;
    output::print(
        client_args.json,
        response,
        "GetThreadResponse",
        |out, response| {
            if let Some(thread) = &response.thread {
                write_thread(out, thread)?;
            }
            for step in &response.steps {
                print_interaction(out, step)?;
            }
            Ok(())
        },
    )
}

fn write_thread(out: &mut impl Write, thread: &pb::Thread) -> io::Result<()> {
    writeln!(
        out,
        "{}  {:<8} {:<24} opened {} by {} ({}), last {}, {} step(s){}",
        thread.thread_id,
        status_label(thread.status),
        thread.topic,
        time_text(thread.opened_at.as_ref()),
        type_label(thread.opened_by),
        channel_label(thread.opened_channel),
        time_text(thread.last_activity_at.as_ref()),
        thread.step_count,
        match &thread.resolved_at {
            Some(at) => format!(", resolved {}", time_text(Some(at))),
            None => String::new(),
        }
    )
}

#[derive(Debug, Args)]
pub struct ThreadsArgs {
    /// The customer, as for `idic context`.
    pub reference: String,
    /// Only threads in this status: open, waiting, resolved.
    #[arg(long)]
    pub status: Option<String>,
}

/// `idic threads REF`
pub async fn threads(client_args: &ClientArgs, args: &ThreadsArgs) -> anyhow::Result<()> {
    let status = args
        .status
        .as_deref()
        .map(|text| parse_enum("THREAD_STATUS", text, pb::ThreadStatus::from_str_name))
        .transpose()?
        .map_or(0, |status| status as i32);
    let customer = parse_customer_ref(&args.reference)?;
    let mut client = Client::new(connect(client_args).await?);
    let mut all = pb::ListThreadsResponse::default();
    let mut page_token = String::new();
    loop {
        let response = answer(client.list_threads(pb::ListThreadsRequest {
            customer: Some(customer.clone()),
            status,
            page: Some(pb::PageRequest {
                page_size: 1000,
                page_token,
            }),
        }))
        .await?;
        all.customer_id = response.customer_id;
        all.threads.extend(response.threads);
        page_token = response
            .page
            .map(|page| page.next_page_token)
            .unwrap_or_default();
        if page_token.is_empty() {
            break;
        }
    }
    output::print(client_args.json, all, "ListThreadsResponse", |out, all| {
        writeln!(
            out,
            "customer {} ({} threads)",
            all.customer_id,
            all.threads.len()
        )?;
        for thread in &all.threads {
            write_thread(out, thread)?;
        }
        Ok(())
    })
}

/// `idic preferences REF`
pub async fn preferences(client_args: &ClientArgs, reference: &str) -> anyhow::Result<()> {
    let mut client = Client::new(connect(client_args).await?);
    let response = answer(client.get_preferences(pb::GetPreferencesRequest {
        customer: Some(parse_customer_ref(reference)?),
    }))
    .await?;
    output::print(
        client_args.json,
        response,
        "GetPreferencesResponse",
        |out, response| {
            writeln!(out, "customer {}", response.customer_id)?;
            writeln!(out, "preferences ({}):", response.preferences.len())?;
            for preference in &response.preferences {
                writeln!(
                    out,
                    "  {} = {}  ({}, {})",
                    preference.key,
                    preference.value,
                    channel_label(preference.channel),
                    time_text(preference.expressed_at.as_ref())
                )?;
            }
            writeln!(out, "consent ({}):", response.consents.len())?;
            for consent in &response.consents {
                write_consent(out, consent)?;
            }
            Ok(())
        },
    )
}

fn consent_label(status: i32) -> String {
    pb::ConsentStatus::try_from(status).map_or("?".into(), |s| {
        enum_label(s.as_str_name(), "CONSENT_STATUS")
    })
}

fn write_consent(out: &mut impl Write, consent: &pb::ConsentState) -> io::Result<()> {
    writeln!(
        out,
        "  {:<12} {:<12} {}  ({}, {})",
        channel_label(consent.channel),
        consent.purpose,
        consent_label(consent.status),
        consent.source,
        time_text(consent.decided_at.as_ref())
    )
}

#[derive(Debug, clap::Subcommand)]
pub enum ConsentCommand {
    /// Record a customer's decision for a channel and purpose (RecordConsent).
    Record(ConsentRecordArgs),
    /// May we contact this customer through this channel for this purpose? (CheckConsent)
    Check(ConsentCheckArgs),
}

#[derive(Debug, Args)]
pub struct ConsentRecordArgs {
    /// The customer, as for `idic context`.
    pub reference: String,
    /// email, call-center, mail, mobile-app, ...
    #[arg(long)]
    pub channel: String,
    /// e.g. marketing, service.
    #[arg(long)]
    pub purpose: String,
    /// granted, denied or revoked.
    #[arg(long)]
    pub status: String,
    /// Where the decision was taken (a form, a call).
    #[arg(long, default_value = "cli")]
    pub source: String,
    /// When (RFC 3339); default now.
    #[arg(long)]
    pub at: Option<String>,
    /// Idempotency key: a retry with the same key records nothing new.
    #[arg(long, default_value = "")]
    pub key: String,
}

#[derive(Debug, Args)]
pub struct ConsentCheckArgs {
    pub reference: String,
    #[arg(long)]
    pub channel: String,
    #[arg(long)]
    pub purpose: String,
}

/// `idic consent record|check`
pub async fn consent(client_args: &ClientArgs, command: ConsentCommand) -> anyhow::Result<()> {
    let mut client = Client::new(connect(client_args).await?);
    let mut out = output::stdout();
    match command {
        ConsentCommand::Record(args) => {
            let response = answer(client.record_consent(pb::RecordConsentRequest {
                customer: Some(parse_customer_ref(&args.reference)?),
                channel: parse_enum("CHANNEL", &args.channel, pb::Channel::from_str_name)? as i32,
                purpose: args.purpose.clone(),
                status: parse_enum(
                    "CONSENT_STATUS",
                    &args.status,
                    pb::ConsentStatus::from_str_name,
                )? as i32,
                decided_at: args.at.as_deref().map(parse_time).transpose()?,
                source: args.source.clone(),
                idempotency_key: args.key.clone(),
            }))
            .await?;
            if client_args.json {
                output::write_message(&mut out, &response, "RecordConsentResponse")?;
            } else {
                writeln!(out, "customer {}", response.customer_id)?;
                if let Some(consent) = &response.consent {
                    write_consent(&mut out, consent)?;
                }
            }
        }
        ConsentCommand::Check(args) => {
            let response = answer(client.check_consent(pb::CheckConsentRequest {
                customer: Some(parse_customer_ref(&args.reference)?),
                channel: parse_enum("CHANNEL", &args.channel, pb::Channel::from_str_name)? as i32,
                purpose: args.purpose.clone(),
            }))
            .await?;
            if client_args.json {
                output::write_message(&mut out, &response, "CheckConsentResponse")?;
            } else {
                writeln!(
                    out,
                    "{} for {} by {} for {}: {} ({}{})",
                    if response.allowed {
                        "allowed"
                    } else {
                        "NOT allowed"
                    },
                    response.customer_id,
                    args.channel,
                    args.purpose,
                    consent_label(response.status),
                    time_text(response.decided_at.as_ref()),
                    if response.source.is_empty() {
                        String::new()
                    } else {
                        format!(", {}", response.source)
                    }
                )?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

#[derive(Debug, Args)]
pub struct ImportInteractionsArgs {
    /// CSV with a header: customer_ref, channel, type (required); key (idempotency),
    /// occurred_at (RFC 3339 or YYYY-MM-DD), direction, topic, summary, status (of the
    /// thread after this step), open_thread (true/false), sentiment, outcome, agent,
    /// cost (decimal, e.g. 4.50) with currency, automated (true/false), needs
    /// (KEY=VALUE;KEY=VALUE).
    pub file: std::path::PathBuf,
    /// Interactions per RecordInteractions call (at most 1000).
    #[arg(long, default_value_t = 500)]
    pub batch: usize,
}

/// The columns of an interactions CSV, by name.
struct InteractionColumns(std::collections::HashMap<String, usize>);

impl InteractionColumns {
    fn get<'r>(&self, row: &'r csv::StringRecord, name: &str) -> &'r str {
        self.0
            .get(name)
            .and_then(|&index| row.get(index))
            .unwrap_or("")
            .trim()
    }
}

fn parse_flag(text: &str, column: &str) -> anyhow::Result<bool> {
    match text.to_ascii_lowercase().as_str() {
        "" | "false" | "no" | "0" => Ok(false),
        "true" | "yes" | "1" => Ok(true),
        _ => anyhow::bail!("{column}: '{text}' is not true or false"),
    }
}

/// One CSV row as a RecordInteraction request.
fn interaction_of(
    row: &csv::StringRecord,
    columns: &InteractionColumns,
) -> anyhow::Result<pb::RecordInteractionRequest> {
    let get = |name: &str| columns.get(row, name);
    let optional_enum =
        |column: &str, prefix: &str, from: fn(&str) -> Option<i32>| match get(column) {
            "" => Ok(0),
            text => {
                let name = format!("{prefix}_{}", text.to_uppercase().replace(['-', ' '], "_"));
                from(&name).with_context(|| format!("{column}: '{text}' is not known"))
            }
        };
    let needs = get("needs")
        .split(';')
        .map(str::trim)
        .filter(|need| !need.is_empty())
        .map(|need| {
            let (key, value) = need
                .split_once('=')
                .with_context(|| format!("needs: '{need}' is not KEY=VALUE"))?;
            Ok(pb::ExpressedNeed {
                key: key.trim().to_owned(),
                value: value.trim().to_owned(),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let currency = match get("currency") {
        "" => "EUR".to_owned(),
        text => text.to_uppercase(),
    };
    let cost = match get("cost") {
        "" => None,
        text => Some(pb::Money {
            minor_units: parse_amount(text, &currency).context("cost")?,
            currency,
        }),
    };
    Ok(pb::RecordInteractionRequest {
        customer: Some(parse_customer_ref(get("customer_ref")).context("customer_ref")?),
        channel: parse_enum("CHANNEL", get("channel"), pb::Channel::from_str_name)
            .context("channel")? as i32,
        r#type: parse_enum(
            "INTERACTION_TYPE",
            get("type"),
            pb::InteractionType::from_str_name,
        )
        .context("type")? as i32,
        direction: optional_enum("direction", "DIRECTION", |name| {
            pb::Direction::from_str_name(name).map(|value| value as i32)
        })?,
        occurred_at: match get("occurred_at") {
            "" => None,
            text => Some(parse_time(text).context("occurred_at")?),
        },
        thread_id: get("thread_id").to_owned(),
        open_thread: parse_flag(get("open_thread"), "open_thread")?,
        thread_status: optional_enum("status", "THREAD_STATUS", |name| {
            pb::ThreadStatus::from_str_name(name).map(|value| value as i32)
        })?,
        topic: get("topic").to_owned(),
        summary: get("summary").to_owned(),
        needs,
        outcome: get("outcome").to_owned(),
        sentiment: optional_enum("sentiment", "SENTIMENT", |name| {
            pb::Sentiment::from_str_name(name).map(|value| value as i32)
        })?,
        agent: get("agent").to_owned(),
        cost,
        idempotency_key: get("key").to_owned(),
        automated: parse_flag(get("automated"), "automated")?,
        strict: false,
    })
}

/// What an interactions import did.
#[derive(Debug, Default)]
pub struct InteractionImport {
    pub rows: usize,
    pub created: u64,
    pub duplicates: u64,
    pub rejected: u64,
    pub errors: Vec<String>,
}

/// Sends the rows of an interactions CSV in batches; a batch the server refuses is
/// sent again row by row, so that only the bad rows are rejected, each named by line.
pub async fn record_interactions_file(
    client_args: &ClientArgs,
    args: &ImportInteractionsArgs,
) -> anyhow::Result<InteractionImport> {
    anyhow::ensure!(
        (1..=1000).contains(&args.batch),
        "--batch must be between 1 and 1000"
    );
    let mut reader = csv::Reader::from_path(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    let columns = InteractionColumns(
        reader
            .headers()?
            .iter()
            .enumerate()
            .map(|(index, name)| (name.trim().to_owned(), index))
            .collect(),
    );
    for required in ["customer_ref", "channel", "type"] {
        anyhow::ensure!(
            columns.0.contains_key(required),
            "the CSV has no '{required}' column"
        );
    }
    let rows: Vec<csv::StringRecord> = reader.records().collect::<Result<_, _>>()?;
    let mut client = Client::new(connect(client_args).await?);
    let progress = indicatif::ProgressBar::new(rows.len() as u64);
    let mut import = InteractionImport {
        rows: rows.len(),
        ..InteractionImport::default()
    };
    for (chunk_index, chunk) in rows.chunks(args.batch).enumerate() {
        let mut batch = Vec::with_capacity(chunk.len());
        for (offset, row) in chunk.iter().enumerate() {
            // Line numbers count the header as line 1.
            let line = chunk_index * args.batch + offset + 2;
            match interaction_of(row, &columns) {
                Ok(request) => batch.push((line, request)),
                Err(error) => {
                    import.rejected += 1;
                    import.errors.push(format!("line {line}: {error:#}"));
                }
            }
        }
        if !batch.is_empty() {
            let request = pb::RecordInteractionsRequest {
                interactions: batch.iter().map(|(_, request)| request.clone()).collect(),
                strict: false,
            };
            match client.record_interactions(request).await {
                Ok(response) => {
                    let response = response.into_inner();
                    import.created += response.created;
                    import.duplicates += response.duplicates;
                }
                Err(status)
                    if matches!(
                        status.code(),
                        tonic::Code::InvalidArgument
                            | tonic::Code::FailedPrecondition
                            | tonic::Code::NotFound
                    ) =>
                {
                    for (line, request) in batch {
                        match client.record_interaction(request).await {
                            Ok(response) => {
                                if response.into_inner().duplicate {
                                    import.duplicates += 1;
                                } else {
                                    import.created += 1;
                                }
                            }
                            Err(status) => {
                                import.rejected += 1;
                                import
                                    .errors
                                    .push(format!("line {line}: {}", status.message()));
                            }
                        }
                    }
                }
                Err(status) => return Err(status_error(status).context("RecordInteractions")),
            }
        }
        progress.inc(chunk.len() as u64);
    }
    progress.finish_and_clear();
    Ok(import)
}

/// `idic import interactions FILE.csv`
pub async fn import_interactions(
    client_args: &ClientArgs,
    args: &ImportInteractionsArgs,
) -> anyhow::Result<()> {
    let rejected = import_interactions_with_summary(client_args, args).await?;
    fail_if_rejected(rejected, "rows")
}

/// Records the file and prints the summary; the number of rows rejected.
pub async fn import_interactions_with_summary(
    client_args: &ClientArgs,
    args: &ImportInteractionsArgs,
) -> anyhow::Result<u64> {
    let started = std::time::Instant::now();
    let import = record_interactions_file(client_args, args).await?;
    let mut out = output::stdout();
    writeln!(
        out,
        "{} rows in {:.1} s: {} interactions recorded, {} already recorded, {} rejected",
        import.rows,
        started.elapsed().as_secs_f64(),
        import.created,
        import.duplicates,
        import.rejected
    )?;
    for error in import.errors.iter().take(20) {
        writeln!(out, "  {error}")?;
    }
    if import.errors.len() > 20 {
        writeln!(out, "  ... and {} more", import.errors.len() - 20)?;
    }
    out.flush()?;
    Ok(import.rejected)
}

#[derive(Debug, Args)]
pub struct ImportSegmentArgs {
    /// JSON: an array of Segment/RudderStack events, a batch ({"batch": [...]}), or
    /// one event per line.
    pub file: std::path::PathBuf,
}

/// The events of a Segment file, each as its own JSON text.
fn segment_events(text: &str) -> anyhow::Result<Vec<String>> {
    let whole: Result<serde_json::Value, _> = serde_json::from_str(text);
    let values = match whole {
        Ok(serde_json::Value::Array(items)) => items,
        Ok(serde_json::Value::Object(object)) if object.contains_key("batch") => {
            match object.get("batch") {
                Some(serde_json::Value::Array(items)) => items.clone(),
                _ => anyhow::bail!("\"batch\" is not an array of events"),
            }
        }
        Ok(value @ serde_json::Value::Object(_)) => vec![value],
        Ok(_) => anyhow::bail!("the file holds neither events nor a batch of them"),
        // Not one JSON document: one event per line (JSON Lines).
        Err(_) => text
            .lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(index, line)| {
                serde_json::from_str(line)
                    .with_context(|| format!("line {} is not JSON", index + 1))
            })
            .collect::<anyhow::Result<_>>()?,
    };
    Ok(values.iter().map(serde_json::Value::to_string).collect())
}

/// `idic import segment FILE.json`
pub async fn import_segment(
    client_args: &ClientArgs,
    args: &ImportSegmentArgs,
) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    let events = segment_events(&text)?;
    let mut client = Client::new(connect(client_args).await?);
    let mut total = pb::IngestSegmentEventsResponse::default();
    for chunk in events.chunks(1000) {
        let response = answer(
            client.ingest_segment_events(pb::IngestSegmentEventsRequest {
                events: chunk.to_vec(),
            }),
        )
        .await?;
        total.ingested += response.ingested;
        total.duplicates += response.duplicates;
        total.rejected += response.rejected;
        total.results.extend(response.results);
    }
    let mut out = output::stdout();
    if client_args.json {
        output::write_message(&mut out, &total, "IngestSegmentEventsResponse")?;
    } else {
        writeln!(
            out,
            "{} events: {} ingested, {} already ingested, {} rejected",
            events.len(),
            total.ingested,
            total.duplicates,
            total.rejected
        )?;
        for (index, result) in total.results.iter().enumerate() {
            if !result.error.is_empty() {
                writeln!(
                    out,
                    "  event {} ({} {}): {}",
                    index + 1,
                    result.r#type,
                    result.message_id,
                    result.error
                )?;
            }
            for warning in &result.warnings {
                writeln!(out, "  event {} warning: {warning}", index + 1)?;
            }
        }
    }
    out.flush()?;
    fail_if_rejected(total.rejected, "events")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_parse_from_the_command_line() {
        assert_eq!(
            parse_enum("CHANNEL", "call-center", pb::Channel::from_str_name).unwrap(),
            pb::Channel::CallCenter
        );
        assert!(parse_enum("CHANNEL", "pigeon", pb::Channel::from_str_name).is_err());
    }

    fn csv_rows(text: &str) -> (InteractionColumns, Vec<csv::StringRecord>) {
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let columns = InteractionColumns(
            reader
                .headers()
                .unwrap()
                .iter()
                .enumerate()
                .map(|(index, name)| (name.to_owned(), index))
                .collect(),
        );
        (columns, reader.records().map(Result::unwrap).collect())
    }

    #[test]
    fn an_interactions_row_becomes_a_request() {
        let (columns, rows) = csv_rows(
            "customer_ref,key,occurred_at,channel,type,topic,status,cost,currency,automated,needs
             loyalty:7,k-1,2026-01-02T10:00:00Z,call-center,complaint,late delivery,open,4.50,EUR,false,delivery=evening; gift_wrap=yes
             loyalty:7,k-2,2026-01-02,pigeon,call,,,,,,
             loyalty:7,k-3,,web,web-visit,,,,,maybe,
",
        );
        let request = interaction_of(&rows[0], &columns).unwrap();
        assert_eq!(request.channel, pb::Channel::CallCenter as i32);
        assert_eq!(request.r#type, pb::InteractionType::Complaint as i32);
        assert_eq!(request.thread_status, pb::ThreadStatus::Open as i32);
        assert_eq!(request.cost.unwrap().minor_units, 450);
        assert_eq!(request.needs.len(), 2);
        assert_eq!(request.needs[1].key, "gift_wrap");
        assert_eq!(request.idempotency_key, "k-1");
        let channel = interaction_of(&rows[1], &columns).unwrap_err();
        assert!(format!("{channel:#}").starts_with("channel"), "{channel:#}");
        assert!(interaction_of(&rows[2], &columns).is_err());
    }

    #[test]
    fn segment_files_are_arrays_batches_or_lines() {
        let event = r#"{"type":"track","messageId":"m1"}"#;
        assert_eq!(
            segment_events(&format!("[{event},{event}]")).unwrap().len(),
            2
        );
        assert_eq!(
            segment_events(&format!(r#"{{"batch":[{event}]}}"#))
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            segment_events(&format!(
                "{event}
{event}
"
            ))
            .unwrap()
            .len(),
            2
        );
        assert!(segment_events("[1, 2").is_err());
    }
}
