//! How the console writes the contracts' values for people: enum names without their
//! prefix, money in major units, RFC 3339 times, shares in percent.

use idic_proto::v1 as pb;

/// `CHANNEL_CALL_CENTER` -> `call center`; `unknown` for a value this build does not know.
fn label(name: Option<&str>, prefix: &str) -> String {
    match name {
        Some(name) => name
            .strip_prefix(prefix)
            .unwrap_or(name)
            .to_ascii_lowercase()
            .replace('_', " "),
        None => "unknown".to_owned(),
    }
}

pub fn channel(value: i32) -> String {
    label(
        pb::Channel::try_from(value).ok().map(|v| v.as_str_name()),
        "CHANNEL_",
    )
}

/// `A` to `D`; "none yet" before the customer has been placed.
pub fn tier(value: i32) -> String {
    if value == pb::Tier::Unspecified as i32 {
        return "none yet".to_owned();
    }
    label(
        pb::Tier::try_from(value).ok().map(|v| v.as_str_name()),
        "TIER_",
    )
    .to_ascii_uppercase()
}

pub fn interaction_type(value: i32) -> String {
    label(
        pb::InteractionType::try_from(value)
            .ok()
            .map(|v| v.as_str_name()),
        "INTERACTION_TYPE_",
    )
}

pub fn identifier_kind(value: i32) -> String {
    label(
        pb::IdentifierKind::try_from(value)
            .ok()
            .map(|v| v.as_str_name()),
        "IDENTIFIER_KIND_",
    )
}

pub fn change_kind(value: i32) -> String {
    label(
        pb::ChangeKind::try_from(value)
            .ok()
            .map(|v| v.as_str_name()),
        "CHANGE_KIND_",
    )
}

pub fn slot(value: i32) -> String {
    label(
        pb::Slot::try_from(value).ok().map(|v| v.as_str_name()),
        "SLOT_",
    )
}

pub fn choice_source(value: i32) -> String {
    label(
        pb::ChoiceSource::try_from(value)
            .ok()
            .map(|v| v.as_str_name()),
        "CHOICE_SOURCE_",
    )
}

pub fn customer_type(value: i32) -> String {
    label(
        pb::CustomerType::try_from(value)
            .ok()
            .map(|v| v.as_str_name()),
        "CUSTOMER_TYPE_",
    )
}

pub fn thread_status(value: i32) -> String {
    label(
        pb::ThreadStatus::try_from(value)
            .ok()
            .map(|v| v.as_str_name()),
        "THREAD_STATUS_",
    )
}

/// An RFC 3339 time, or an empty string when absent.
pub fn time(value: Option<&prost_types::Timestamp>) -> String {
    value.map(ToString::to_string).unwrap_or_default()
}

/// `12.50 EUR`; minor units are taken as hundredths.
pub fn money(value: &pb::Money) -> String {
    let sign = if value.minor_units < 0 { "-" } else { "" };
    let units = value.minor_units.unsigned_abs();
    format!(
        "{sign}{}.{:02} {}",
        units / 100,
        units % 100,
        value.currency
    )
}

pub fn moneys(values: &[pb::Money]) -> String {
    if values.is_empty() {
        return "none".to_owned();
    }
    values.iter().map(money).collect::<Vec<_>>().join(", ")
}

/// A share in [0, 1] as a percentage with one decimal.
pub fn percent(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

/// A person's or organization's name from a golden record.
pub fn golden_name(golden: &pb::GoldenRecord) -> String {
    let person = [&golden.given_name, &golden.middle_name, &golden.family_name]
        .iter()
        .filter(|part| !part.is_empty())
        .map(|part| part.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    if person.is_empty() {
        golden.organization_name.clone()
    } else {
        person
    }
}

pub fn address(address: &pb::PostalAddress) -> String {
    [
        format!("{} {}", address.street_number, address.street)
            .trim()
            .to_owned(),
        address.address_line2.clone(),
        format!("{} {}", address.postcode, address.locality)
            .trim()
            .to_owned(),
        address.region.clone(),
        address.country.clone(),
    ]
    .into_iter()
    .filter(|part| !part.is_empty())
    .collect::<Vec<_>>()
    .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_as_people_write_them() {
        assert_eq!(channel(pb::Channel::CallCenter as i32), "call center");
        assert_eq!(channel(99), "unknown");
        assert_eq!(tier(pb::Tier::A as i32), "A");
        let price = pb::Money {
            currency: "EUR".into(),
            minor_units: -1205,
        };
        assert_eq!(money(&price), "-12.05 EUR");
        assert_eq!(percent(0.8123), "81.2%");
    }
}
