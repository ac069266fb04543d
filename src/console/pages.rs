//! The console's HTML, as maud templates (values are escaped by the template engine).
//! Pages are plain forms and links: they work without JavaScript.

use idic_proto::v1 as pb;
use maud::{DOCTYPE, Markup, PreEscaped, html};
use tonic::Status;

use super::data::CustomerView;
use super::format;
use super::session::SessionUser;

const STYLE: &str = "
body{font-family:system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#1f3b57;color:#fff;padding:.6em 1.2em;display:flex;gap:1.2em;align-items:center}
header a{color:#fff}header form{margin-left:auto}
main{padding:1em 1.5em;max-width:1100px}
section{background:#fff;border:1px solid #ddd;border-radius:6px;padding:.6em 1em;margin:.8em 0}
table{border-collapse:collapse}td,th{border-bottom:1px solid #eee;padding:.2em .6em;text-align:left;vertical-align:top}
.error{color:#a00}.muted{color:#777}.reason{font-style:italic}
";

/// Every page: the header with navigation and logout, then `body`.
pub fn layout(title: &str, user: Option<&SessionUser>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { (title) " · IDIC console" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    strong { "IDIC console" }
                    @if let Some(user) = user {
                        a href="/console/" { "Find a customer" }
                        a href="/console/value" { "Value" }
                        a href="/console/channels" { "Channels" }
                        a href="/console/learning" { "Learning" }
                        form method="post" action="/console/logout" {
                            span id="client" { (user.client) " " }
                            @if user.key.is_some() { button type="submit" { "Log out" } }
                        }
                    }
                }
                main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

pub fn login(error: Option<&str>) -> Markup {
    layout(
        "Log in",
        None,
        html! {
            p { "Log in with an API key of this suite (one of its " code { "auth.keys" } "). "
                "The pages show what that key may read." }
            @if let Some(error) = error {
                p.error id="login-error" { (error) }
            }
            form method="post" action="/console/login" {
                label for="api_key" { "API key " }
                input type="password" id="api_key" name="api_key" autocomplete="off" required;
                " "
                button type="submit" id="login" { "Log in" }
            }
        },
    )
}

/// The search form, with the outcome of the last search if any.
pub fn search(user: &SessionUser, message: Option<&str>, candidates: &[pb::Candidate]) -> Markup {
    layout(
        "Find a customer",
        Some(user),
        html! {
            form method="post" action="/console/search" {
                label for="query" { "Identifier or name " }
                input type="text" id="query" name="query" size="40" autocomplete="off"
                    placeholder="cus_…, ann@example.com, +44 20 7946 0958, loyalty:123, crm:42, Ann Smith 1984-03-12";
                " "
                button type="submit" id="search" { "Search" }
            }
            p.muted { "An e-mail address, a phone number, " code { "loyalty:ID" } ", "
                code { "account:CODE" } ", " code { "SYSTEM:ID" } " (an external id), a customer id, or a name followed by a birth date or a postcode." }
            @if let Some(message) = message {
                p id="search-message" { (message) }
            }
            @if !candidates.is_empty() {
                table id="candidates" {
                    tr { th { "customer" } th { "name" } th { "probability" } th { "matched on" } }
                    @for candidate in candidates {
                        tr {
                            td { a href={ "/console/customers/" (candidate.customer_id) } { (candidate.customer_id) } }
                            td { (candidate.display_name) }
                            td { (format::percent(candidate.probability)) }
                            td { (candidate.matched_fields.join(", ")) }
                        }
                    }
                }
            }
        },
    )
}

/// A part of a page that its service did not give.
fn unavailable(status: &Status) -> Markup {
    html! {
        p.error { "Not available: " (status.message()) " (" (format!("{:?}", status.code())) ")" }
    }
}

pub fn not_found(user: &SessionUser, what: &str) -> Markup {
    layout(
        "Not found",
        Some(user),
        html! { p id="not-found" { (what) } },
    )
}

pub fn customer(user: &SessionUser, customer_id: &str, view: &CustomerView) -> Markup {
    let title = match &view.customer {
        Ok(customer) => {
            let name = customer
                .golden
                .as_ref()
                .map(format::golden_name)
                .unwrap_or_default();
            if name.is_empty() {
                customer.customer_id.clone()
            } else {
                name
            }
        }
        Err(_) => customer_id.to_owned(),
    };
    layout(
        &title,
        Some(user),
        html! {
            section id="golden" { h2 { "Golden record" }
                @match &view.customer { Ok(customer) => (golden(customer)), Err(status) => (unavailable(status)) } }
            section id="records" { h2 { "Linked records" }
                @match &view.customer { Ok(customer) => (records(customer)), Err(status) => (unavailable(status)) } }
            section id="history" { h2 { "Merge history" }
                @match &view.history { Ok(events) => (history(events)), Err(status) => (unavailable(status)) } }
            section id="value" { h2 { "Value and tier" }
                @match &view.value { Ok(value) => (value_section(value)), Err(status) => (unavailable(status)) } }
            section id="needs" { h2 { "Needs" }
                @match &view.needs { Ok(needs) => (needs_section(needs)), Err(status) => (unavailable(status)) } }
            section id="timeline" { h2 { "Timeline" }
                @match &view.timeline { Ok(interactions) => (timeline(interactions)), Err(status) => (unavailable(status)) } }
            section id="offerings" { h2 { "Last offerings" }
                @match &view.offerings { Ok(offerings) => (offerings_section(offerings)), Err(status) => (unavailable(status)) } }
        },
    )
}

fn golden(customer: &pb::Customer) -> Markup {
    let golden = customer.golden.clone().unwrap_or_default();
    let source = |field: &str| -> String {
        golden
            .provenance
            .get(field)
            .map(|provenance| {
                let record = provenance
                    .record
                    .as_ref()
                    .map(|key| format!("{}:{}", key.source_system, key.source_record_id))
                    .unwrap_or_default();
                format!(
                    "{record} ({}, {} records)",
                    provenance.rule, provenance.support
                )
            })
            .unwrap_or_default()
    };
    let rows: Vec<(&str, String, String)> = [
        ("given_name", golden.given_name.clone()),
        ("middle_name", golden.middle_name.clone()),
        ("family_name", golden.family_name.clone()),
        ("organization_name", golden.organization_name.clone()),
        ("date_of_birth", golden.date_of_birth.clone()),
        ("emails", golden.emails.join(", ")),
        ("phones", golden.phones.join(", ")),
        (
            "addresses",
            golden
                .addresses
                .iter()
                .map(format::address)
                .collect::<Vec<_>>()
                .join("; "),
        ),
        (
            "identifiers",
            golden
                .identifiers
                .iter()
                .map(|id| {
                    let system = if id.system.is_empty() {
                        String::new()
                    } else {
                        format!("{}:", id.system)
                    };
                    format!("{} {system}{}", format::identifier_kind(id.kind), id.value)
                })
                .collect::<Vec<_>>()
                .join(", "),
        ),
    ]
    .into_iter()
    .filter(|(_, value)| !value.is_empty())
    .map(|(field, value)| (field, value, source(field)))
    .collect();
    html! {
        p { "Customer " code id="customer-id" { (customer.customer_id) }
            " since " (format::time(customer.created_at.as_ref())) }
        @if !customer.aliases.is_empty() {
            p { "Aliases (merged ids): " (customer.aliases.join(", ")) }
        }
        table {
            tr { th { "field" } th { "value" } th { "from (rule, support)" } }
            @for (field, value, source) in &rows {
                tr { td { (field) } td { (value) } td.muted { (source) } }
            }
        }
        @if !golden.unread.is_empty() {
            p.muted { (golden.unread.len()) " value(s) kept as received but not read" }
        }
    }
}

fn records(customer: &pb::Customer) -> Markup {
    html! {
        table {
            tr { th { "source" } th { "record id" } th { "channel" } th { "observed" } }
            @for record in &customer.records {
                tr.record {
                    td { (record.source_system) } td { (record.source_record_id) }
                    td { (format::channel(record.channel)) } td { (format::time(record.observed_at.as_ref())) }
                }
            }
        }
    }
}

fn history(events: &[pb::ChangeEvent]) -> Markup {
    html! {
        @if events.is_empty() { p.muted { "No merges, splits or erasures." } }
        @else {
            table {
                tr { th { "when" } th { "what" } th { "customers" } th { "by" } th { "why" } }
                @for event in events {
                    tr {
                        td { (format::time(event.occurred_at.as_ref())) }
                        td { (format::change_kind(event.kind)) }
                        td { (event.customer_id)
                            @if !event.absorbed_customer_ids.is_empty() { " absorbed " (event.absorbed_customer_ids.join(", ")) }
                            @if !event.new_customer_ids.is_empty() { " split into " (event.new_customer_ids.join(", ")) } }
                        td { (event.actor) }
                        td { (event.reason) }
                    }
                }
            }
        }
    }
}

fn value_section(value: &pb::CustomerValue) -> Markup {
    html! {
        table {
            tr { th { "tier" } td id="tier" { (format::tier(value.tier)) } }
            tr { th { "rank" } td { "above " (format!("{:.1}", value.rank_percentile)) "% of customers" } }
            tr { th { "revenue" } td { (format::moneys(&value.revenue)) } }
            tr { th { "orders" } td { (value.order_count) } }
            tr { th { "last purchase" } td { (format::time(value.last_purchase_at.as_ref())) } }
            @if value.model_available {
                tr { th { "predicted value (CLV)" } td { (format!("{:.2} {}", value.predicted_clv, value.model_currency)) } }
                tr { th { "probability alive" } td { (format::percent(value.probability_alive)) } }
            } @else {
                tr { th { "predicted value (CLV)" } td.muted { "no fitted model yet" } }
            }
        }
    }
}

fn needs_section(needs: &pb::CustomerNeeds) -> Markup {
    html! {
        p { "Type: " (format::customer_type(needs.customer_type)) " — " (needs.customer_type_explanation) }
        @if !needs.segment_label.is_empty() { p { "Needs segment: " (needs.segment_label) } }
        @if !needs.affinities.is_empty() {
            table {
                tr { th { "category" } th { "share" } th { "lift" } }
                @for affinity in &needs.affinities {
                    tr { td { (affinity.category) } td { (format::percent(affinity.share)) } td { (format!("{:.2}", affinity.lift)) } }
                }
            }
        }
        @if !needs.preferences.is_empty() {
            ul { @for preference in &needs.preferences {
                li { (preference.key) ": " (preference.value) " (" (format::channel(preference.channel)) ", " (format::time(preference.expressed_at.as_ref())) ")" }
            } }
        }
    }
}

fn timeline(interactions: &[pb::Interaction]) -> Markup {
    html! {
        @if interactions.is_empty() { p.muted { "No contacts recorded." } }
        @else {
            table {
                tr { th { "when" } th { "channel" } th { "type" } th { "topic" } th { "summary" } th { "thread" } }
                @for interaction in interactions {
                    tr.interaction {
                        td { (format::time(interaction.occurred_at.as_ref())) }
                        td { (format::channel(interaction.channel)) }
                        td { (format::interaction_type(interaction.r#type)) }
                        td { (interaction.topic) }
                        td { (interaction.summary) }
                        td { (format::thread_status(interaction.thread_status)) }
                    }
                }
            }
        }
    }
}

fn offerings_section(offerings: &[pb::StoredOffering]) -> Markup {
    html! {
        @if offerings.is_empty() { p.muted { "No offerings made yet." } }
        @for stored in offerings {
            @if let Some(offering) = &stored.offering {
                div.offering {
                    p { strong { (offering.offering_id) } " · " (format::time(offering.created_at.as_ref()))
                        @if offering.degraded { " · degraded (missing " (offering.missing_sources.join(", ")) ")" }
                        @if offering.control_group { " · control group" } }
                    table {
                        tr { th { "slot" } th { "component" } th { "why" } th { "source" } }
                        @for choice in &offering.choices {
                            tr {
                                td { (format::slot(choice.slot)) }
                                td { (choice.component.as_ref().map(|c| c.name.clone()).unwrap_or_default()) }
                                td.reason { (choice.reason.as_ref().map(|r| r.text.clone()).unwrap_or_default()) }
                                td { (choice.reason.as_ref().map(|r| format::choice_source(r.source)).unwrap_or_default()) }
                            }
                        }
                        @for gap in &offering.gaps {
                            tr { td { (format::slot(gap.slot)) } td.muted { "none" } td.reason { (gap.reason) } td {} }
                        }
                    }
                    @if !stored.outcomes.is_empty() {
                        p { "Outcomes: " (stored.outcomes.len()) " recorded" }
                    }
                }
            }
        }
    }
}

pub fn value(
    user: &SessionUser,
    skew: &Result<pb::GetValueSkewResponse, Status>,
    strategy: &Result<pb::GetStrategyResponse, Status>,
    chart: Option<&str>,
) -> Markup {
    layout(
        "Value skew and strategy",
        Some(user),
        html! {
            section id="strategy" { h2 { "Strategy" }
                @match strategy {
                    Ok(strategy) => {
                        p { "Focus: " strong id="focus" { (strategy.focus) } }
                        p { (strategy.explanation) }
                    }
                    Err(status) => (unavailable(status)),
                }
            }
            section id="skew" { h2 { "Value skew" }
                @match skew {
                    Ok(skew) => {
                        p { (skew.customers) " customers (" (skew.zero_value_customers) " without value), measured by "
                            (skew.value_measure) "; Gini " span id="gini" { (format!("{:.3}", skew.gini)) } }
                        @if let Some(chart) = chart { figure id="lorenz" { (PreEscaped(chart)) } }
                        table {
                            tr { th { "top" } th { "share of value" } }
                            @for top in &skew.top_shares { tr { td { (top.top_percent) "%" } td { (format::percent(top.value_share)) } } }
                        }
                        table id="tiers" {
                            tr { th { "tier" } th { "customers" } th { "lowest value" } th { "share of value" } }
                            @for tier in &skew.tiers {
                                tr { td { (format::tier(tier.tier)) } td { (tier.customers) } td { (format!("{:.2}", tier.threshold)) } td { (format::percent(tier.value_share)) } }
                            }
                        }
                    }
                    Err(status) => (unavailable(status)),
                }
            }
        },
    )
}

pub fn channels(
    user: &SessionUser,
    report: &Result<pb::GetChannelReportResponse, Status>,
    chart: Option<&str>,
) -> Markup {
    layout(
        &format!(
            "Channel report, last {} days",
            super::data::CHANNEL_REPORT_DAYS
        ),
        Some(user),
        html! {
            section id="channels" {
                @match report {
                    Ok(report) => {
                        p { (report.contacts) " contacts, total cost " (format::moneys(&report.total_cost))
                            ", automated " (format::percent(report.automated_share))
                            ", repeat contacts within " (report.repeat_window_days) " days " (format::percent(report.repeat_contact_rate)) }
                        @if let Some(chart) = chart { figure id="channel-chart" { (PreEscaped(chart)) } }
                        table {
                            tr { th { "channel" } th { "contacts" } th { "automated" } th { "cost" } }
                            @for figures in &report.channels {
                                tr.channel { td { (format::channel(figures.channel)) } td { (figures.contacts) }
                                    td { (figures.automated_contacts) } td { (format::moneys(&figures.cost)) } }
                            }
                        }
                    }
                    Err(status) => (unavailable(status)),
                }
            }
        },
    )
}

pub fn learning(
    user: &SessionUser,
    report: &Result<pb::LearningReport, Status>,
    chart: Option<&str>,
) -> Markup {
    layout(
        "Learning",
        Some(user),
        html! {
            section id="learning" {
                @match report {
                    Ok(report) => {
                        p { "Acceptance of offerings under the learning policy against the control group (static rules)." }
                        @if let Some(chart) = chart { figure id="learning-chart" { (PreEscaped(chart)) } }
                        table {
                            tr { th { "" } th { "outcomes" } th { "acceptance" } }
                            tr { td { "learning" } td { (report.learner_outcomes) } td { (format::percent(report.learner_acceptance)) } }
                            tr { td { "control" } td { (report.control_outcomes) } td { (format::percent(report.control_acceptance)) } }
                        }
                        p { "Lift: " span id="lift" { (format::percent(report.lift)) } }
                    }
                    Err(status) => (unavailable(status)),
                }
            }
        },
    )
}
