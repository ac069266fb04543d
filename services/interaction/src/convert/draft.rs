//! RecordInteraction's fields to a [`Draft`]: the required ones refuse the
//! interaction, an optional one that cannot be read is left out with a warning (or
//! refuses it, when strict). Shared by the single and the batch RPC.

use idic_proto::v1 as pb;
use idic_runtime::refs::CustomerSelector;
use idic_runtime::storage::now_micros;
use idic_runtime::warnings::FieldWarnings;
use idic_runtime::{FieldViolation, limits};

use crate::domain::{
    Cost, Draft, Interaction, MAX_SUMMARY_BYTES, MAX_TOPIC_BYTES, NewInteraction, ThreadRequest,
    direction, is_automated, kind, new_id,
};

pub const MAX_SHORT_TEXT_BYTES: usize = 200;
pub const MAX_NEEDS: usize = 50;
pub const MAX_NEED_KEY_BYTES: usize = 64;
pub const MAX_NEED_VALUE_BYTES: usize = 512;
pub const MAX_ID_BYTES: usize = 64;
/// How far in the future a contact may be dated (clock skew between systems).
const MAX_FUTURE_MICROS: i64 = 86_400 * 1_000_000;

fn known_enum<E: TryFrom<i32>>(
    value: i32,
    field: &str,
    required: bool,
) -> Result<i32, FieldViolation> {
    if E::try_from(value).is_err() {
        return Err(FieldViolation::new(field, "is not a known value"));
    }
    if required && value == 0 {
        return Err(FieldViolation::new(field, "is required"));
    }
    Ok(value)
}

fn bounded(text: &str, field: &str, max: usize, violations: &mut Vec<FieldViolation>) -> String {
    let text = text.trim();
    if text.len() > max {
        violations.push(FieldViolation::new(
            field,
            format!("must be at most {max} bytes"),
        ));
    }
    text.to_owned()
}

/// An id chosen by a client (thread id, message id): short and printable.
pub fn valid_client_id(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= MAX_ID_BYTES
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
}

/// Validates one RecordInteraction; `field` prefixes every violation (e.g.
/// `interactions[3]`, or empty for the single call). The customer, channel and type
/// are required, and the idempotency key, thread id and time must be right: they
/// refuse the interaction. An optional field that cannot be read (direction, thread
/// status, sentiment, an over-long text, a need, the cost) is left out with a warning
/// and the interaction is kept; with `strict` it refuses the interaction instead.
pub fn parse_record(
    request: &pb::RecordInteractionRequest,
    field: &str,
    strict: bool,
) -> Result<(Draft, FieldWarnings), Vec<FieldViolation>> {
    let path = |name: &str| {
        if field.is_empty() {
            name.to_owned()
        } else {
            format!("{field}.{name}")
        }
    };
    let mut violations = Vec::new();
    let mut warnings = FieldWarnings::default();
    let selector = CustomerSelector::parse(request.customer.as_ref(), &path("customer"))
        .map_err(|violation| violations.push(violation))
        .ok();
    let mut check = |result: Result<i32, FieldViolation>| {
        result.unwrap_or_else(|violation| {
            violations.push(violation);
            0
        })
    };
    let channel = check(known_enum::<pb::Channel>(
        request.channel,
        &path("channel"),
        true,
    ));
    let interaction_kind = check(known_enum::<pb::InteractionType>(
        request.r#type,
        &path("type"),
        true,
    ));
    let mut optional_enum = |result: Result<i32, FieldViolation>, value: i32| {
        result.unwrap_or_else(|problem| {
            warnings.push(
                problem.field,
                format!("{}; left unspecified", problem.description),
                &value.to_string(),
            );
            0
        })
    };
    let direction_number = optional_enum(
        known_enum::<pb::Direction>(request.direction, &path("direction"), false),
        request.direction,
    );
    let requested_status = optional_enum(
        known_enum::<pb::ThreadStatus>(request.thread_status, &path("thread_status"), false),
        request.thread_status,
    );
    let sentiment = optional_enum(
        known_enum::<pb::Sentiment>(request.sentiment, &path("sentiment"), false),
        request.sentiment,
    );
    let now = now_micros();
    let occurred_at = match &request.occurred_at {
        None => now,
        Some(timestamp) => match limits::instant_micros(timestamp, &path("occurred_at")) {
            Ok(micros) if micros > now + MAX_FUTURE_MICROS => {
                violations.push(FieldViolation::new(
                    path("occurred_at"),
                    "must not be more than one day in the future",
                ));
                now
            }
            Ok(micros) => micros,
            Err(violation) => {
                violations.push(violation);
                now
            }
        },
    };
    let thread_id = request.thread_id.trim();
    if !thread_id.is_empty() && !valid_client_id(thread_id) {
        violations.push(FieldViolation::new(
            path("thread_id"),
            "must be at most 64 letters, digits, '_', '-', '.' or ':'",
        ));
    }
    let mut optional_text = |text: &str, name: &str, max: usize| {
        let mut problems = Vec::new();
        let kept = bounded(text, &path(name), max, &mut problems);
        if demote(problems, text, "left out", &mut warnings) {
            String::new()
        } else {
            kept
        }
    };
    let topic = optional_text(&request.topic, "topic", MAX_TOPIC_BYTES);
    let summary = optional_text(&request.summary, "summary", MAX_SUMMARY_BYTES);
    let outcome = optional_text(&request.outcome, "outcome", MAX_SHORT_TEXT_BYTES);
    let agent = optional_text(&request.agent, "agent", MAX_SHORT_TEXT_BYTES);
    let idempotency_key = bounded(
        &request.idempotency_key,
        &path("idempotency_key"),
        MAX_SHORT_TEXT_BYTES,
        &mut violations,
    );
    let needs = parse_needs(
        &request.needs,
        &path("needs"),
        &mut violations,
        &mut warnings,
    );
    let cost = request.cost.as_ref().and_then(|money| {
        let mut problems = Vec::new();
        let cost = parse_cost(money, &path("cost"), &mut problems);
        let value = format!("{} {}", money.minor_units, money.currency);
        demote(problems, &value, "the cost is left out", &mut warnings);
        cost
    });
    if strict {
        violations.extend(std::mem::take(&mut warnings).into_violations());
    }
    let (Some(selector), true) = (selector, violations.is_empty()) else {
        return Err(violations);
    };
    let thread = if !thread_id.is_empty() {
        ThreadRequest::Continue(thread_id.to_owned())
    } else if request.open_thread || interaction_kind == kind::COMPLAINT {
        ThreadRequest::Open(new_id("thr"))
    } else {
        ThreadRequest::None
    };
    let interaction_id = new_id("int");
    let interaction = Interaction {
        idempotency_key: if idempotency_key.is_empty() {
            interaction_id.clone()
        } else {
            idempotency_key
        },
        interaction_id,
        customer_id: String::new(),
        anchor: String::new(),
        channel,
        kind: interaction_kind,
        direction: if direction_number == 0 {
            direction::INBOUND
        } else {
            direction_number
        },
        occurred_at_micros: occurred_at,
        recorded_at_micros: now,
        thread_id: String::new(),
        thread_status: 0,
        topic,
        summary,
        needs,
        outcome,
        sentiment,
        automated: is_automated(request.automated, channel, &agent),
        agent,
        cost,
    };
    let draft = Draft {
        selector,
        item: NewInteraction {
            interaction,
            thread,
            requested_status,
        },
    };
    Ok((draft, warnings))
}

/// Turns the problems found in an optional field into warnings carrying `value`;
/// true when there were any.
fn demote(
    problems: Vec<FieldViolation>,
    value: &str,
    consequence: &str,
    warnings: &mut FieldWarnings,
) -> bool {
    let found = !problems.is_empty();
    for problem in problems {
        warnings.push(
            problem.field,
            format!("{}; {consequence}", problem.description),
            value,
        );
    }
    found
}

/// The expressed needs. More than `MAX_NEEDS` refuses the interaction (a bound on what
/// one request may cost); a need without a key, or with a key or value over its
/// length, is left out with a warning.
fn parse_needs(
    needs: &[pb::ExpressedNeed],
    field: &str,
    violations: &mut Vec<FieldViolation>,
    warnings: &mut FieldWarnings,
) -> Vec<(String, String)> {
    if needs.len() > MAX_NEEDS {
        violations.push(FieldViolation::new(
            field,
            format!("must hold at most {MAX_NEEDS}"),
        ));
        return Vec::new();
    }
    let mut parsed = Vec::with_capacity(needs.len());
    for (index, need) in needs.iter().enumerate() {
        let key = need.key.trim().to_lowercase();
        if key.is_empty() || key.len() > MAX_NEED_KEY_BYTES {
            warnings.push(
                format!("{field}[{index}].key"),
                format!("must be 1 to {MAX_NEED_KEY_BYTES} bytes; the need is left out"),
                &need.key,
            );
            continue;
        }
        let value = need.value.trim();
        if value.len() > MAX_NEED_VALUE_BYTES {
            warnings.push(
                format!("{field}[{index}].value"),
                format!("must be at most {MAX_NEED_VALUE_BYTES} bytes; the need is left out"),
                &need.value,
            );
            continue;
        }
        parsed.retain(|(existing, _): &(String, String)| existing != &key);
        parsed.push((key, value.to_owned()));
    }
    parsed
}

/// A cost: an ISO 4217-shaped currency and a non-negative amount.
pub fn parse_cost(
    money: &pb::Money,
    field: &str,
    violations: &mut Vec<FieldViolation>,
) -> Option<Cost> {
    let currency = money.currency.trim().to_uppercase();
    let mut valid = true;
    if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_uppercase()) {
        violations.push(FieldViolation::new(
            format!("{field}.currency"),
            "must be a 3-letter ISO 4217 code",
        ));
        valid = false;
    }
    if money.minor_units < 0 {
        violations.push(FieldViolation::new(
            format!("{field}.minor_units"),
            "must not be negative",
        ));
        valid = false;
    } else if let Err(violation) =
        limits::check_money(money.minor_units, &format!("{field}.minor_units"))
    {
        violations.push(violation);
        valid = false;
    }
    valid.then_some(Cost {
        currency,
        minor_units: money.minor_units,
    })
}
