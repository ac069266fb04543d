//! The channel report: the store's aggregates turned into per-channel figures, shares
//! and rates. Pure: no I/O, no protobuf.

use std::collections::BTreeMap;

use crate::domain::{ChannelFigures, ChannelReport, ChannelSummary, Cost};

/// The report's figures; `window_days` is echoed so that the reader knows the rule.
pub fn summarize(report: ChannelReport, window_days: u32) -> ChannelSummary {
    let mut channels: BTreeMap<i32, ChannelFigures> = BTreeMap::new();
    let mut totals: BTreeMap<String, i64> = BTreeMap::new();
    let mut contacts = 0_i64;
    let mut automated = 0_i64;
    for row in &report.rows {
        let figures = channels
            .entry(row.channel)
            .or_insert_with(|| ChannelFigures {
                channel: row.channel,
                ..Default::default()
            });
        figures.contacts += row.contacts.max(0) as u64;
        figures.automated_contacts += row.automated.max(0) as u64;
        contacts = contacts.saturating_add(row.contacts);
        automated = automated.saturating_add(row.automated);
        if !row.currency.is_empty() {
            figures.cost.push(Cost {
                currency: row.currency.clone(),
                minor_units: row.cost_minor_units,
            });
            // Saturating: one currency's cost is split over several channels' rows.
            let total = totals.entry(row.currency.clone()).or_default();
            *total = total.saturating_add(row.cost_minor_units);
        }
    }
    for figures in channels.values_mut() {
        if let (Some(first), true) = (figures.cost.first(), figures.contacts > 0) {
            figures.average_cost_minor_units = first.minor_units as f64 / figures.contacts as f64;
        }
    }
    let share = |part: i64, whole: i64| {
        if whole > 0 {
            part as f64 / whole as f64
        } else {
            0.0
        }
    };
    ChannelSummary {
        channels: channels.into_values().collect(),
        contacts: contacts.max(0) as u64,
        total_cost: totals
            .into_iter()
            .map(|(currency, minor_units)| Cost {
                currency,
                minor_units,
            })
            .collect(),
        automated_share: share(automated, contacts),
        repeat_contact_rate: share(report.repeat_contacts, report.topic_contacts),
        repeat_contacts: report.repeat_contacts.max(0) as u64,
        threads_resolved: report.threads_resolved.max(0) as u64,
        average_resolution_seconds: if report.threads_resolved > 0 {
            report.resolution_micros_total as f64 / report.threads_resolved as f64 / 1e6
        } else {
            0.0
        },
        repeat_window_days: window_days,
        not_contacts: report.not_contacts.max(0) as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ChannelRow;

    #[test]
    fn shares_and_averages_come_from_the_aggregates() {
        let report = ChannelReport {
            rows: vec![
                ChannelRow {
                    channel: 1,
                    currency: "EUR".into(),
                    contacts: 3,
                    automated: 0,
                    cost_minor_units: 1500,
                },
                ChannelRow {
                    channel: 1,
                    currency: String::new(),
                    contacts: 1,
                    automated: 0,
                    cost_minor_units: 0,
                },
                ChannelRow {
                    channel: 2,
                    currency: String::new(),
                    contacts: 4,
                    automated: 4,
                    cost_minor_units: 0,
                },
            ],
            topic_contacts: 4,
            repeat_contacts: 1,
            not_contacts: 5,
            threads_resolved: 2,
            resolution_micros_total: 7_200_000_000,
        };
        let response = summarize(report, 7);
        assert_eq!(response.contacts, 8);
        assert_eq!(response.channels.len(), 2);
        assert_eq!(response.channels[0].contacts, 4);
        assert!((response.channels[0].average_cost_minor_units - 375.0).abs() < 1e-9);
        assert!((response.automated_share - 0.5).abs() < 1e-9);
        assert!((response.repeat_contact_rate - 0.25).abs() < 1e-9);
        assert!((response.average_resolution_seconds - 3600.0).abs() < 1e-9);
        assert_eq!(response.total_cost[0].minor_units, 1500);
        assert_eq!(response.not_contacts, 5);
    }
}
