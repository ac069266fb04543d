//! Customization commands: `idic offer REF [--order FILE.json]`,
//! `idic packaging REF --order FILE.json`, `idic catalog import FILE`,
//! `idic catalog list`.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, Subcommand};
use idic_proto::v1 as pb;
use idic_proto::v1::customization_service_client::CustomizationServiceClient;
use serde_json::Value;

use super::ClientArgs;
use super::client::connect;

#[derive(Debug, Args)]
pub struct OfferArgs {
    /// The customer: a customer id, an e-mail address, or KIND:VALUE with KIND one of
    /// email, phone, loyalty, account, device, national, or external:SYSTEM:VALUE.
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
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Args)]
pub struct PackagingArgs {
    /// The customer, as for `idic offer`.
    pub reference: String,
    /// The order being fulfilled, as JSON (see `idic offer --help`).
    #[arg(long)]
    pub order: PathBuf,
    #[command(flatten)]
    pub client: ClientArgs,
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
    List(ClientArgs),
}

#[derive(Debug, Args)]
pub struct CatalogImportArgs {
    pub file: PathBuf,
    #[command(flatten)]
    pub client: ClientArgs,
}

async fn client(
    args: &ClientArgs,
) -> anyhow::Result<CustomizationServiceClient<super::client::SuiteChannel>> {
    Ok(CustomizationServiceClient::new(connect(args).await?))
}

/// `idic offer`: the tailored offering with a reason per choice.
pub async fn offer(args: &OfferArgs) -> anyhow::Result<()> {
    let order = args.order.as_deref().map(read_order).transpose()?;
    let channel = match &args.channel {
        Some(name) => parse_channel(name)?,
        None => 0,
    };
    let offering = client(&args.client)
        .await?
        .get_tailored_offering(pb::GetTailoredOfferingRequest {
            customer: Some(parse_reference(&args.reference)?),
            order,
            channel,
            occasion: args.occasion.clone(),
            idempotency_key: String::new(),
        })
        .await
        .map_err(status_error)?
        .into_inner();
    println!("offering    {}", offering.offering_id);
    println!(
        "customer    {}",
        if offering.customer_id.is_empty() {
            "(unknown: cold start)"
        } else {
            &offering.customer_id
        }
    );
    if offering.degraded {
        println!(
            "DEGRADED    missing: {}",
            offering.missing_sources.join(", ")
        );
    }
    if offering.control_group {
        println!("control     this customer is in the control group (static rules)");
    }
    for choice in &offering.choices {
        let component = choice.component.clone().unwrap_or_default();
        println!();
        println!(
            "{:<16}{} [{}]{}",
            slot_name(choice.slot),
            component.name,
            component.component_id,
            price_text(choice.price_adjustment.as_ref())
        );
        if let Some(reason) = &choice.reason {
            println!("{:<16}why: {}", "", reason.text);
        }
        for (rank, alternative) in choice.alternatives.iter().enumerate() {
            let component = alternative.component.clone().unwrap_or_default();
            println!(
                "{:<16}{}. {} [{}] score {:.2}",
                "",
                rank + 2,
                component.name,
                component.component_id,
                alternative.score
            );
        }
    }
    for gap in &offering.gaps {
        println!("\n{:<16}(none) {}", slot_name(gap.slot), gap.reason);
    }
    for total in &offering.total_price_adjustment {
        println!("\ntotal price adjustment {}", money_text(total));
    }
    Ok(())
}

/// `idic packaging`: ranked packaging options for an order.
pub async fn packaging(args: &PackagingArgs) -> anyhow::Result<()> {
    let order = read_order(&args.order)?;
    let response = client(&args.client)
        .await?
        .get_packaging_options(pb::GetPackagingOptionsRequest {
            customer: Some(parse_reference(&args.reference)?),
            order: Some(order),
        })
        .await
        .map_err(status_error)?
        .into_inner();
    if response.degraded {
        println!("DEGRADED missing: {}", response.missing_sources.join(", "));
    }
    for option in &response.options {
        let component = option.component.clone().unwrap_or_default();
        println!(
            "{}. {} [{}] cost {}{}",
            option.rank,
            component.name,
            component.component_id,
            option.cost.as_ref().map(money_text).unwrap_or_default(),
            price_text(option.price_adjustment.as_ref())
        );
        if let Some(reason) = &option.reason {
            println!("   why: {}", reason.text);
        }
    }
    Ok(())
}

/// `idic catalog import`.
pub async fn import_catalog(args: &CatalogImportArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    let (components, rules) = parse_catalog(&text)?;
    let mut client = client(&args.client).await?;
    if !components.is_empty() {
        let response = client
            .upsert_components(pb::UpsertComponentsRequest { components })
            .await
            .map_err(status_error)?
            .into_inner();
        println!(
            "components: {} changed, {} unchanged",
            response.changed, response.unchanged
        );
    }
    if let Some(rules) = rules {
        let published = client
            .publish_rules(pb::PublishRulesRequest {
                rules,
                expected_version: 0,
            })
            .await
            .map_err(status_error)?
            .into_inner();
        println!(
            "rules: version {} ({} rules)",
            published.version,
            published.rules.len()
        );
    }
    Ok(())
}

/// `idic catalog list`.
pub async fn list_catalog(args: &ClientArgs) -> anyhow::Result<()> {
    let mut client = client(args).await?;
    let mut token = String::new();
    println!(
        "{:<16}{:<28}{:<12}{:<10}name",
        "slot", "component", "cost", "available"
    );
    loop {
        let page = client
            .list_components(pb::ListComponentsRequest {
                slot: 0,
                page: Some(pb::PageRequest {
                    page_size: 1000,
                    page_token: token,
                }),
            })
            .await
            .map_err(status_error)?
            .into_inner();
        for component in &page.components {
            println!(
                "{:<16}{:<28}{:<12}{:<10}{}",
                slot_name(component.slot),
                component.component_id,
                component.cost.as_ref().map(money_text).unwrap_or_default(),
                if component.available { "yes" } else { "no" },
                component.name
            );
        }
        token = page
            .page
            .map(|page| page.next_page_token)
            .unwrap_or_default();
        if token.is_empty() {
            return Ok(());
        }
    }
}

fn status_error(status: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{:?}: {}", status.code(), status.message())
}

/// A customer reference from the command line.
pub fn parse_reference(text: &str) -> anyhow::Result<pb::CustomerRef> {
    let text = text.trim();
    anyhow::ensure!(!text.is_empty(), "the customer reference is empty");
    let identifier = |kind: pb::IdentifierKind, value: &str, system: &str| pb::CustomerRef {
        r#ref: Some(pb::customer_ref::Ref::Identifier(pb::Identifier {
            kind: kind as i32,
            value: value.to_owned(),
            system: system.to_owned(),
            address: None,
        })),
    };
    let Some((kind, value)) = text.split_once(':') else {
        if text.contains('@') {
            return Ok(identifier(pb::IdentifierKind::Email, text, ""));
        }
        return Ok(pb::CustomerRef {
            r#ref: Some(pb::customer_ref::Ref::CustomerId(text.to_owned())),
        });
    };
    let kind = match kind.to_lowercase().as_str() {
        "email" => pb::IdentifierKind::Email,
        "phone" => pb::IdentifierKind::Phone,
        "loyalty" => pb::IdentifierKind::LoyaltyId,
        "account" => pb::IdentifierKind::AccountCode,
        "device" => pb::IdentifierKind::DeviceId,
        "national" => pb::IdentifierKind::NationalId,
        "external" => {
            let (system, value) = value
                .split_once(':')
                .context("an external id is external:SYSTEM:VALUE")?;
            return Ok(identifier(pb::IdentifierKind::ExternalId, value, system));
        }
        other => anyhow::bail!(
            "unknown reference kind '{other}': use email, phone, loyalty, account, device, national or external"
        ),
    };
    Ok(identifier(kind, value, ""))
}

fn read_order(path: &Path) -> anyhow::Result<pb::OfferOrder> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let value: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    parse_order(&value)
}

fn parse_order(value: &Value) -> anyhow::Result<pb::OfferOrder> {
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
    fn parses_references() {
        let email = parse_reference("ann@example.com").unwrap();
        assert!(
            matches!(email.r#ref, Some(pb::customer_ref::Ref::Identifier(ref id)) if id.kind == pb::IdentifierKind::Email as i32)
        );
        let external = parse_reference("external:erp:42").unwrap();
        assert!(
            matches!(external.r#ref, Some(pb::customer_ref::Ref::Identifier(ref id)) if id.system == "erp" && id.value == "42")
        );
        let id = parse_reference("cus_123").unwrap();
        assert!(
            matches!(id.r#ref, Some(pb::customer_ref::Ref::CustomerId(ref id)) if id == "cus_123")
        );
        assert!(parse_reference("fax:123").is_err());
    }

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
