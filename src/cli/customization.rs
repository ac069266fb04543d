//! Customization commands: `idic offer REF [--order FILE.json]`,
//! `idic packaging REF --order FILE.json`, `idic catalog import|list|rules`,
//! `idic offering ID` (why did we offer this?), `idic outcome ID`, `idic report
//! learning`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, Subcommand};
use idic_proto::v1 as pb;
use idic_proto::v1::customization_service_client::CustomizationServiceClient;
use serde_json::Value;

use super::args::parse_customer_ref;
use super::client::{ClientArgs, answer, connect};
use super::output::{self, time_text};

#[derive(Debug, Args)]
pub struct OfferArgs {
    /// The customer (REF): a customer id, KIND:VALUE (KIND email, phone, loyalty,
    /// account, device, national), SYSTEM:VALUE or external:SYSTEM:VALUE for an external
    /// id, or a bare e-mail address or phone number.
    pub reference: String,
    /// The order being placed, as JSON: {"order_id": "o-1", "lines": [{"product_id":
    /// "p-1", "category": "books", "quantity": 2, "unit_price": {"currency": "EUR",
    /// "minor_units": 1500}}]}.
    #[arg(long)]
    pub order: Option<PathBuf>,
    /// The channel the offering is presented through (web, email, call_center, ...).
    #[arg(long)]
    pub channel: Option<String>,
    /// e.g. "birthday", "reorder".
    #[arg(long, default_value = "")]
    pub occasion: String,
}

#[derive(Debug, Args)]
pub struct PackagingArgs {
    /// The customer, as for `idic offer`.
    pub reference: String,
    /// The order being fulfilled, as JSON (see `idic offer --help`).
    #[arg(long)]
    pub order: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Create or replace components (and publish rules) from a JSON file:
    /// {"components": [{"component_id": "packaging.eco", "slot": "packaging", "name":
    /// "eco packaging", "cost": {"currency": "EUR", "minor_units": 120}, ...}],
    /// "rules": [{"rule_id": "...", "effect": "default", "component_id": "...",
    /// "condition": {"tiers": ["A"]}, "priority": 10, "explanation": "..."}]}.
    /// The whole file is validated first; nothing is stored if any part is wrong.
    Import(CatalogImportArgs),
    /// Every component, by slot.
    List,
    /// The published offer rules (the latest version, or --version N).
    Rules(RulesArgs),
}

#[derive(Debug, Args)]
pub struct RulesArgs {
    /// This version instead of the latest.
    #[arg(long, default_value_t = 0)]
    pub version: u32,
}

#[derive(Debug, Args)]
pub struct OfferingArgs {
    /// The offering id `idic offer` printed.
    pub offering_id: String,
}

#[derive(Debug, Args)]
pub struct OutcomeArgs {
    /// The offering id `idic offer` printed.
    pub offering_id: String,
    /// Slots the customer accepted (packaging, delivery, ...); repeat for more.
    #[arg(long = "accepted", value_name = "SLOT")]
    pub accepted: Vec<String>,
    /// Slots the customer rejected; repeat for more.
    #[arg(long = "rejected", value_name = "SLOT")]
    pub rejected: Vec<String>,
    /// SLOT=COMPONENT_ID: the customer took another component for that slot.
    #[arg(long = "changed", value_name = "SLOT=COMPONENT")]
    pub changed: Vec<String>,
    /// The channel the answer came through.
    #[arg(long)]
    pub channel: Option<String>,
}

#[derive(Debug, Args)]
pub struct LearningArgs {
    /// The width of each period of the curve, in days.
    #[arg(long, default_value_t = 7)]
    pub period_days: u32,
    /// Also draw acceptance per period, learner against control group, into this SVG file.
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CatalogImportArgs {
    pub file: PathBuf,
}

async fn client(
    args: &ClientArgs,
) -> anyhow::Result<CustomizationServiceClient<super::client::SuiteChannel>> {
    Ok(CustomizationServiceClient::new(connect(args).await?))
}

/// `idic catalog ...`
pub async fn run_catalog(client_args: &ClientArgs, command: CatalogCommand) -> anyhow::Result<()> {
    match command {
        CatalogCommand::Import(args) => import_catalog(client_args, &args).await,
        CatalogCommand::List => list_catalog(client_args).await,
        CatalogCommand::Rules(args) => rules(client_args, &args).await,
    }
}

/// `idic offer`: the tailored offering with a reason per choice.
pub async fn offer(client_args: &ClientArgs, args: &OfferArgs) -> anyhow::Result<()> {
    let order = args.order.as_deref().map(read_order).transpose()?;
    let channel = match &args.channel {
        Some(name) => parse_channel(name)?,
        None => 0,
    };
    let offering = answer(client(client_args).await?.get_tailored_offering(
        pb::GetTailoredOfferingRequest {
            customer: Some(parse_customer_ref(&args.reference)?),
            order,
            channel,
            occasion: args.occasion.clone(),
            idempotency_key: String::new(),
        },
    ))
    .await?;
    output::print(client_args.json, offering, "Offering", |out, offering| {
        write_offering(out, &offering)?;
        Ok(())
    })
}

/// An offering as the terminal shows it: each slot's choice with its reason.
pub fn write_offering(out: &mut impl Write, offering: &pb::Offering) -> std::io::Result<()> {
    writeln!(out, "offering    {}", offering.offering_id)?;
    writeln!(
        out,
        "customer    {}",
        if offering.customer_id.is_empty() {
            "(unknown: cold start)"
        } else {
            &offering.customer_id
        }
    )?;
    if offering.degraded {
        writeln!(
            out,
            "DEGRADED    missing: {}",
            offering.missing_sources.join(", ")
        )?;
    }
    if offering.control_group {
        writeln!(
            out,
            "control     this customer is in the control group (static rules)"
        )?;
    }
    for choice in &offering.choices {
        let component = choice.component.clone().unwrap_or_default();
        writeln!(out)?;
        writeln!(
            out,
            "{:<16}{} [{}]{}",
            slot_name(choice.slot),
            component.name,
            component.component_id,
            price_text(choice.price_adjustment.as_ref())
        )?;
        if let Some(reason) = &choice.reason {
            writeln!(out, "{:<16}why: {}", "", reason.text)?;
        }
        for (rank, alternative) in choice.alternatives.iter().enumerate() {
            let component = alternative.component.clone().unwrap_or_default();
            writeln!(
                out,
                "{:<16}{}. {} [{}] score {:.2}",
                "",
                rank + 2,
                component.name,
                component.component_id,
                alternative.score
            )?;
        }
    }
    for gap in &offering.gaps {
        writeln!(out, "\n{:<16}(none) {}", slot_name(gap.slot), gap.reason)?;
    }
    for total in &offering.total_price_adjustment {
        writeln!(out, "\ntotal price adjustment {}", money_text(total))?;
    }
    Ok(())
}

/// `idic packaging`: ranked packaging options for an order.
pub async fn packaging(client_args: &ClientArgs, args: &PackagingArgs) -> anyhow::Result<()> {
    let order = read_order(&args.order)?;
    let response = answer(client(client_args).await?.get_packaging_options(
        pb::GetPackagingOptionsRequest {
            customer: Some(parse_customer_ref(&args.reference)?),
            order: Some(order),
        },
    ))
    .await?;
    output::print(
        client_args.json,
        response,
        "GetPackagingOptionsResponse",
        |out, response| {
            write_packaging(out, &response)?;
            Ok(())
        },
    )
}

/// Packaging options as the terminal shows them: ranked, each with its reason.
pub fn write_packaging(
    out: &mut impl Write,
    response: &pb::GetPackagingOptionsResponse,
) -> std::io::Result<()> {
    if response.degraded {
        writeln!(
            out,
            "DEGRADED missing: {}",
            response.missing_sources.join(", ")
        )?;
    }
    for option in &response.options {
        let component = option.component.clone().unwrap_or_default();
        writeln!(
            out,
            "{}. {} [{}] cost {}{}",
            option.rank,
            component.name,
            component.component_id,
            option.cost.as_ref().map(money_text).unwrap_or_default(),
            price_text(option.price_adjustment.as_ref())
        )?;
        if let Some(reason) = &option.reason {
            writeln!(out, "   why: {}", reason.text)?;
        }
    }
    Ok(())
}

/// `idic catalog import`.
async fn import_catalog(client_args: &ClientArgs, args: &CatalogImportArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    let (components, rules) = parse_catalog(&text)?;
    let mut client = client(client_args).await?;
    let mut out = output::stdout();
    if !components.is_empty() {
        let response =
            answer(client.upsert_components(pb::UpsertComponentsRequest { components })).await?;
        writeln!(
            out,
            "components: {} changed, {} unchanged",
            response.changed, response.unchanged
        )?;
    }
    if let Some(rules) = rules {
        let published = answer(client.publish_rules(pb::PublishRulesRequest {
            rules,
            expected_version: 0,
        }))
        .await?;
        writeln!(
            out,
            "rules: version {} ({} rules)",
            published.version,
            published.rules.len()
        )?;
    }
    out.flush()?;
    Ok(())
}

/// `idic catalog list`.
async fn list_catalog(args: &ClientArgs) -> anyhow::Result<()> {
    let mut client = client(args).await?;
    let mut out = output::stdout();
    let mut token = String::new();
    let mut all = Vec::new();
    if !args.json {
        writeln!(
            out,
            "{:<16}{:<28}{:<12}{:<10}name",
            "slot", "component", "cost", "available"
        )?;
    }
    loop {
        let page = answer(client.list_components(pb::ListComponentsRequest {
            slot: 0,
            page: Some(pb::PageRequest {
                page_size: 1000,
                page_token: token,
            }),
        }))
        .await?;
        if args.json {
            all.extend(page.components);
            token = page
                .page
                .map(|page| page.next_page_token)
                .unwrap_or_default();
            if token.is_empty() {
                let response = pb::ListComponentsResponse {
                    components: all,
                    page: None,
                };
                output::write_message(&mut out, &response, "ListComponentsResponse")?;
                out.flush()?;
                return Ok(());
            }
            continue;
        }
        for component in &page.components {
            writeln!(
                out,
                "{:<16}{:<28}{:<12}{:<10}{}",
                slot_name(component.slot),
                component.component_id,
                component.cost.as_ref().map(money_text).unwrap_or_default(),
                if component.available { "yes" } else { "no" },
                component.name
            )?;
        }
        token = page
            .page
            .map(|page| page.next_page_token)
            .unwrap_or_default();
        if token.is_empty() {
            out.flush()?;
            return Ok(());
        }
    }
}

/// `idic catalog rules`
async fn rules(client_args: &ClientArgs, args: &RulesArgs) -> anyhow::Result<()> {
    let rules = answer(client(client_args).await?.get_rules(pb::GetRulesRequest {
        version: args.version,
    }))
    .await?;
    output::print(client_args.json, rules, "OfferRuleSet", |out, rules| {
        writeln!(
            out,
            "rules version {} ({} rules)",
            rules.version,
            rules.rules.len()
        )?;
        for rule in &rules.rules {
            let effect = pb::OfferRuleEffect::try_from(rule.effect)
                .map(|effect| {
                    effect
                        .as_str_name()
                        .trim_start_matches("OFFER_RULE_EFFECT_")
                        .to_lowercase()
                })
                .unwrap_or_default();
            let condition = rule.condition.clone().unwrap_or_default();
            let mut when = Vec::new();
            if !condition.tiers.is_empty() {
                when.push(format!("tier {}", condition.tiers.join("/")));
            }
            if !condition.segments.is_empty() {
                when.push(format!("segment {}", condition.segments.join("/")));
            }
            if !condition.customer_types.is_empty() {
                when.push(format!("type {}", condition.customer_types.join("/")));
            }
            if !condition.preference.is_empty() {
                when.push(format!("prefers {}", condition.preference));
            }
            writeln!(
                out,
                "{:<24} {:<9} {:<28} priority {:>3}  when {}",
                rule.rule_id,
                effect,
                rule.component_id,
                rule.priority,
                if when.is_empty() {
                    "always".to_owned()
                } else {
                    when.join(", ")
                }
            )?;
            if !rule.explanation.is_empty() {
                writeln!(out, "{:<24} {}", "", rule.explanation)?;
            }
        }
        Ok(())
    })
}

/// `idic offering ID`: why did we offer this?
pub async fn offering(client_args: &ClientArgs, args: &OfferingArgs) -> anyhow::Result<()> {
    let stored = answer(
        client(client_args)
            .await?
            .get_offering(pb::GetOfferingRequest {
                offering_id: args.offering_id.clone(),
            }),
    )
    .await?;
    output::print(client_args.json, stored, "StoredOffering", |out, stored| {
        if let Some(offering) = &stored.offering {
            write_offering(out, offering)?;
            writeln!(
                out,
                "\npresented {}",
                time_text(offering.created_at.as_ref())
            )?;
            for choice in &offering.choices {
                let Some(reason) = &choice.reason else {
                    continue;
                };
                for evidence in &reason.evidence {
                    writeln!(
                        out,
                        "evidence    {}: {} {} {}",
                        slot_name(choice.slot),
                        evidence.source,
                        evidence.detail,
                        time_text(evidence.observed_at.as_ref())
                    )?;
                }
            }
        }
        if let Some(inputs) = &stored.inputs {
            writeln!(out, "\nbuilt from:")?;
            writeln!(
                out,
                "  tier {}  segment {} {}  type {}{}",
                if inputs.tier.is_empty() {
                    "-"
                } else {
                    &inputs.tier
                },
                inputs.segment_id,
                inputs.segment_label,
                inputs.customer_type,
                if inputs.business_account {
                    "  (business account)"
                } else {
                    ""
                }
            )?;
            if !inputs.preferences.is_empty() {
                writeln!(out, "  preferences {}", inputs.preferences.join(", "))?;
            }
            if !inputs.refused_channels.is_empty() {
                let refused: Vec<String> = inputs
                    .refused_channels
                    .iter()
                    .map(|channel| channel_name(*channel))
                    .collect();
                writeln!(out, "  no consent for {}", refused.join(", "))?;
            }
            if let Some(order) = &inputs.order {
                writeln!(
                    out,
                    "  order {} with {} line(s)",
                    order.order_id,
                    order.lines.len()
                )?;
            }
        }
        if stored.outcomes.is_empty() {
            writeln!(out, "\nno outcome recorded yet")?;
        } else {
            writeln!(out, "\noutcomes:")?;
            for outcome in &stored.outcomes {
                writeln!(
                    out,
                    "  {:<16}{}{}",
                    slot_name(outcome.slot),
                    outcome_name(outcome.outcome),
                    if outcome.changed_to.is_empty() {
                        String::new()
                    } else {
                        format!(" to {}", outcome.changed_to)
                    }
                )?;
            }
        }
        Ok(())
    })
}

fn outcome_name(outcome: i32) -> String {
    pb::OutcomeKind::try_from(outcome)
        .map(|kind| {
            kind.as_str_name()
                .trim_start_matches("OUTCOME_KIND_")
                .to_lowercase()
        })
        .unwrap_or_else(|_| outcome.to_string())
}

fn channel_name(channel: i32) -> String {
    pb::Channel::try_from(channel)
        .map(|channel| {
            channel
                .as_str_name()
                .trim_start_matches("CHANNEL_")
                .to_lowercase()
                .replace('_', "-")
        })
        .unwrap_or_else(|_| channel.to_string())
}

/// The slot outcomes `idic outcome` was given.
fn slot_outcomes(args: &OutcomeArgs) -> anyhow::Result<Vec<pb::SlotOutcome>> {
    let slot = |text: &str| parse_slot(text).with_context(|| format!("unknown slot '{text}'"));
    let mut outcomes = Vec::new();
    for text in &args.accepted {
        outcomes.push(pb::SlotOutcome {
            slot: slot(text)?,
            outcome: pb::OutcomeKind::Accepted as i32,
            changed_to: String::new(),
        });
    }
    for text in &args.rejected {
        outcomes.push(pb::SlotOutcome {
            slot: slot(text)?,
            outcome: pb::OutcomeKind::Rejected as i32,
            changed_to: String::new(),
        });
    }
    for text in &args.changed {
        let (name, component) = text
            .split_once('=')
            .with_context(|| format!("--changed '{text}' is not SLOT=COMPONENT"))?;
        outcomes.push(pb::SlotOutcome {
            slot: slot(name)?,
            outcome: pb::OutcomeKind::Changed as i32,
            changed_to: component.trim().to_owned(),
        });
    }
    anyhow::ensure!(
        !outcomes.is_empty(),
        "give at least one --accepted, --rejected or --changed slot"
    );
    Ok(outcomes)
}

/// `idic outcome ID --accepted SLOT --rejected SLOT ...`
pub async fn outcome(client_args: &ClientArgs, args: &OutcomeArgs) -> anyhow::Result<()> {
    let outcomes = slot_outcomes(args)?;
    let channel = args.channel.as_deref().map(parse_channel).transpose()?;
    let response = answer(
        client(client_args)
            .await?
            .record_outcome(pb::RecordOutcomeRequest {
                offering_id: args.offering_id.clone(),
                outcomes,
                channel: channel.unwrap_or(0),
            }),
    )
    .await?;
    output::print(
        client_args.json,
        response,
        "RecordOutcomeResponse",
        |out, response| {
            writeln!(
                out,
                "{} outcome(s) recorded, {} already recorded",
                response.recorded, response.already_recorded
            )?;
            Ok(())
        },
    )
}

/// `idic report learning [--svg FILE]`
pub async fn learning_report(client_args: &ClientArgs, args: &LearningArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        (1..=366).contains(&args.period_days),
        "--period-days must be between 1 and 366"
    );
    let report = answer(client(client_args).await?.get_learning_report(
        pb::GetLearningReportRequest {
            period_seconds: args.period_days * 86_400,
        },
    ))
    .await?;
    if let Some(path) = &args.svg {
        super::charts::write_learning_svg(path, &report, args.period_days)?;
    }
    output::print(client_args.json, report, "LearningReport", |out, report| {
        write_learning(out, &report)?;
        if let Some(path) = &args.svg {
            writeln!(out, "chart: {}", path.display())?;
        }
        Ok(())
    })
}

/// The learning report as the terminal shows it.
pub fn write_learning(out: &mut impl Write, report: &pb::LearningReport) -> std::io::Result<()> {
    writeln!(
        out,
        "learning policy  {:>6} outcomes, {:>5.1}% accepted",
        report.learner_outcomes,
        report.learner_acceptance * 100.0
    )?;
    writeln!(
        out,
        "control group    {:>6} outcomes, {:>5.1}% accepted",
        report.control_outcomes,
        report.control_acceptance * 100.0
    )?;
    writeln!(out, "lift             {:+.1}%", report.lift * 100.0)?;
    if !report.periods.is_empty() {
        writeln!(
            out,
            "{:<22} {:>9} {:>9} {:>9} {:>9}",
            "period from", "learner", "accepted", "control", "accepted"
        )?;
        for period in &report.periods {
            writeln!(
                out,
                "{:<22} {:>9} {:>8.1}% {:>9} {:>8.1}%",
                time_text(period.start.as_ref()),
                period.learner_outcomes,
                period.learner_acceptance * 100.0,
                period.control_outcomes,
                period.control_acceptance * 100.0
            )?;
        }
    }
    Ok(())
}

fn read_order(path: &Path) -> anyhow::Result<pb::OfferOrder> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let value: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    parse_order(&value)
}

pub fn parse_order(value: &Value) -> anyhow::Result<pb::OfferOrder> {
    let lines = value["lines"]
        .as_array()
        .context("an order needs \"lines\": [...]")?
        .iter()
        .enumerate()
        .map(|(index, line)| {
            Ok(pb::OfferOrderLine {
                product_id: string(line, "product_id"),
                category: string(line, "category"),
                quantity: u32::try_from(
                    line["quantity"]
                        .as_u64()
                        .with_context(|| format!("lines[{index}].quantity is required"))?,
                )?,
                unit_price: money(&line["unit_price"]),
            })
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(pb::OfferOrder {
        order_id: string(value, "order_id"),
        lines,
    })
}

/// The components and, if present, the rules of a catalog file.
pub fn parse_catalog(
    text: &str,
) -> anyhow::Result<(Vec<pb::Component>, Option<Vec<pb::OfferRule>>)> {
    let value: Value = serde_json::from_str(text).context("the catalog file is not JSON")?;
    let components_value = if value.is_array() {
        &value
    } else {
        &value["components"]
    };
    let components = components_value
        .as_array()
        .map(|items| {
            items
                .iter()
                .enumerate()
                .map(|(index, item)| parse_component(index, item))
                .collect::<anyhow::Result<Vec<_>>>()
        })
        .transpose()?
        .unwrap_or_default();
    let rules = value["rules"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .enumerate()
                .map(|(index, item)| parse_rule(index, item))
                .collect::<anyhow::Result<Vec<_>>>()
        })
        .transpose()?;
    anyhow::ensure!(
        !components.is_empty() || rules.is_some(),
        "the file has neither components nor rules"
    );
    Ok((components, rules))
}

fn parse_component(index: usize, item: &Value) -> anyhow::Result<pb::Component> {
    let slot_text = string(item, "slot");
    let slot = parse_slot(&slot_text)
        .with_context(|| format!("components[{index}].slot: unknown slot '{slot_text}'"))?;
    let channel = match item["channel"].as_str() {
        Some(name) if !name.is_empty() => {
            parse_channel(name).with_context(|| format!("components[{index}].channel"))?
        }
        _ => 0,
    };
    Ok(pb::Component {
        component_id: string(item, "component_id"),
        slot,
        name: string(item, "name"),
        description: string(item, "description"),
        cost: money(&item["cost"]),
        available: item["available"].as_bool().unwrap_or(true),
        price: money(&item["price"]),
        requires: strings(item, "requires"),
        incompatible_with: strings(item, "incompatible_with"),
        eligible_tiers: strings(item, "eligible_tiers"),
        eligible_segments: strings(item, "eligible_segments"),
        eligible_customer_types: strings(item, "eligible_customer_types"),
        min_order_quantity: u32::try_from(item["min_order_quantity"].as_u64().unwrap_or(0))?,
        max_order_quantity: u32::try_from(item["max_order_quantity"].as_u64().unwrap_or(0))?,
        answers_preferences: strings(item, "answers_preferences"),
        channel,
        consent_purpose: string(item, "consent_purpose"),
    })
}

fn parse_rule(index: usize, item: &Value) -> anyhow::Result<pb::OfferRule> {
    let effect_text = string(item, "effect").to_lowercase();
    let effect = match effect_text.trim_start_matches("offer_rule_effect_") {
        "default" => pb::OfferRuleEffect::Default,
        "only_for" => pb::OfferRuleEffect::OnlyFor,
        "exclude" => pb::OfferRuleEffect::Exclude,
        other => {
            anyhow::bail!("rules[{index}].effect: '{other}' is not default, only_for or exclude")
        }
    };
    let condition = &item["condition"];
    Ok(pb::OfferRule {
        rule_id: string(item, "rule_id"),
        effect: effect as i32,
        component_id: string(item, "component_id"),
        condition: Some(pb::OfferRuleCondition {
            tiers: strings(condition, "tiers"),
            segments: strings(condition, "segments"),
            customer_types: strings(condition, "customer_types"),
            preference: string(condition, "preference"),
        }),
        priority: i32::try_from(item["priority"].as_i64().unwrap_or(0))?,
        explanation: string(item, "explanation"),
    })
}

fn string(value: &Value, key: &str) -> String {
    value[key].as_str().unwrap_or_default().to_owned()
}

fn strings(value: &Value, key: &str) -> Vec<String> {
    value[key]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn money(value: &Value) -> Option<pb::Money> {
    value.is_object().then(|| pb::Money {
        currency: string(value, "currency"),
        minor_units: value["minor_units"].as_i64().unwrap_or(0),
    })
}

fn parse_slot(text: &str) -> Option<i32> {
    let name = format!(
        "SLOT_{}",
        text.trim()
            .to_uppercase()
            .trim_start_matches("SLOT_")
            .replace([' ', '-'], "_")
    );
    pb::Slot::from_str_name(&name)
        .filter(|slot| *slot != pb::Slot::Unspecified)
        .map(|slot| slot as i32)
}

fn parse_channel(text: &str) -> anyhow::Result<i32> {
    let name = format!(
        "CHANNEL_{}",
        text.trim()
            .to_uppercase()
            .trim_start_matches("CHANNEL_")
            .replace([' ', '-'], "_")
    );
    pb::Channel::from_str_name(&name)
        .filter(|channel| *channel != pb::Channel::Unspecified)
        .map(|channel| channel as i32)
        .with_context(|| format!("unknown channel '{text}'"))
}

fn slot_name(slot: i32) -> String {
    pb::Slot::try_from(slot)
        .map(|slot| {
            slot.as_str_name()
                .trim_start_matches("SLOT_")
                .to_lowercase()
        })
        .unwrap_or_else(|_| slot.to_string())
}

fn money_text(money: &pb::Money) -> String {
    idic_runtime::money::format_money(money.minor_units, &money.currency)
}

fn price_text(price: Option<&pb::Money>) -> String {
    match price {
        Some(price) if price.minor_units != 0 => format!(
            "  ({}{})",
            if price.minor_units > 0 { "+" } else { "" },
            money_text(price)
        ),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_catalog_file() {
        let (components, rules) = parse_catalog(
            r#"{"components": [{"component_id": "communication.email", "slot": "communication",
                 "name": "e-mail", "cost": {"currency": "EUR", "minor_units": 1}, "channel": "email"}],
                "rules": [{"rule_id": "r", "effect": "default", "component_id": "communication.email"}]}"#,
        )
        .unwrap();
        assert_eq!(components[0].slot, pb::Slot::Communication as i32);
        assert_eq!(components[0].channel, pb::Channel::Email as i32);
        assert!(components[0].available);
        assert_eq!(
            rules.unwrap()[0].effect,
            pb::OfferRuleEffect::Default as i32
        );
        assert!(parse_catalog(r#"{"components": [{"slot": "teleport"}]}"#).is_err());
    }
}
