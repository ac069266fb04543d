//! How tables and charts name what they show: enum values in lower case with dashes
//! (`call-center`), tiers by letter, a channel's cost per contact. A leaf that the
//! commands and the charts both use.

use idic_proto::v1 as pb;
use idic_runtime::money::minor_unit_exponent;

/// An enum value's name without its prefix, lower case with dashes
/// (`CHANNEL_CALL_CENTER` -> `call-center`).
pub fn enum_label(name: &str, prefix: &str) -> String {
    name.trim_start_matches(prefix)
        .trim_start_matches('_')
        .to_lowercase()
        .replace('_', "-")
}

pub fn channel_label(value: i32) -> String {
    pb::Channel::try_from(value).map_or("?".into(), |c| enum_label(c.as_str_name(), "CHANNEL"))
}

/// The channel label the tables and charts use (`call-center`).
pub fn channel_name(channel: i32) -> String {
    channel_label(channel)
}

pub fn tier_name(tier: i32) -> &'static str {
    match pb::Tier::try_from(tier) {
        Ok(pb::Tier::A) => "A",
        Ok(pb::Tier::B) => "B",
        Ok(pb::Tier::C) => "C",
        Ok(pb::Tier::D) => "D",
        _ => "-",
    }
}

/// The cost per contact of a channel, in major units of its first currency.
pub fn cost_per_contact(figures: &pb::ChannelFigures) -> Option<(f64, String)> {
    // The average is in the first currency's minor units (see the proto).
    figures.cost.first().map(|first| {
        let scale = 10f64.powi(minor_unit_exponent(&first.currency) as i32);
        (
            figures.average_cost_minor_units / scale,
            first.currency.clone(),
        )
    })
}
