//! What the policy knows about one customer for one request, gathered from identity,
//! differentiation and interaction (any of which may be missing) and from this
//! service's own memory of the customer's past choices.

use std::collections::HashMap;

use crate::slot::Slot;

/// An expressed preference with where and when it was expressed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Preference {
    /// Lower case.
    pub key: String,
    /// Lower case; may be empty.
    pub value: String,
    /// Wire number of the channel it was expressed through.
    pub channel: i32,
    /// Microseconds since the epoch.
    pub expressed_at: i64,
    pub interaction_id: String,
}

impl Preference {
    /// Whether `pattern` ("key" or "key=value", lower case) names this preference.
    pub fn matches(&self, pattern: &str) -> bool {
        match pattern.split_once('=') {
            Some((key, value)) => key.trim() == self.key && value.trim() == self.value,
            None => pattern.trim() == self.key,
        }
    }
}

/// The customer's current decision for contact through one channel for one purpose.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Consent {
    /// Wire number of the channel.
    pub channel: i32,
    /// Lower case, e.g. "service", "marketing".
    pub purpose: String,
    pub granted: bool,
    /// Microseconds since the epoch.
    pub decided_at: i64,
    /// Where the decision was captured.
    pub source: String,
}

/// What this customer did with a slot before.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SlotHistory {
    /// The component last accepted or changed to, with the offering and when.
    pub chosen: Option<PastChoice>,
    /// The component the customer turned down (or changed away from) in its last
    /// answer for this slot. Only the last answer counts: one refusal of a component
    /// most customers like is not a reason never to offer it again.
    pub rejected: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PastChoice {
    pub component_id: String,
    pub offering_id: String,
    pub recorded_at: i64,
    /// True when the customer changed the offer to this component.
    pub changed_to: bool,
    /// Offers of it the customer accepted in a row (0 for a change).
    pub accepted_in_a_row: u32,
}

impl PastChoice {
    /// Whether this is the customer's own choice rather than a one-off acceptance: a
    /// component the customer changed to, or accepted on two offers in a row. A single
    /// acceptance says little (customers accept what they are given often enough), and
    /// locking it in would stop the customer from ever being offered something better.
    pub fn is_customer_choice(&self) -> bool {
        self.changed_to || self.accepted_in_a_row >= 2
    }
}

/// The customer as the policy sees it. `None` means "not known" (the source did not
/// answer, or has nothing): the policy then takes the safe side.
#[derive(Debug, Clone, Default)]
pub struct Profile {
    pub tier: Option<String>,
    pub segment_id: Option<String>,
    pub segment_label: Option<String>,
    pub customer_type: Option<String>,
    pub business_account: bool,
    pub preferences: Vec<Preference>,
    /// Consent decisions per channel and purpose; `None`: unknown (interaction did
    /// not answer), so no outbound channel is proposed.
    pub consents: Option<Vec<Consent>>,
    pub history: HashMap<Slot, SlotHistory>,
    /// Items in the order, 0 without an order.
    pub order_quantity: u32,
    /// Whether the customer is in the control group (static rules, no learning).
    pub control_group: bool,
}

impl Profile {
    /// The decision for `channel` and `purpose`, if one was recorded and is known.
    pub fn consent(&self, channel: i32, purpose: &str) -> Option<&Consent> {
        self.consents
            .as_ref()?
            .iter()
            .find(|consent| consent.channel == channel && consent.purpose == purpose)
    }

    /// The first preference `pattern` names.
    pub fn preference(&self, pattern: &str) -> Option<&Preference> {
        self.preferences
            .iter()
            .find(|preference| preference.matches(pattern))
    }

    /// The bandit's arm family for this customer: its needs segment, or "unknown".
    pub fn learning_segment(&self) -> &str {
        self.segment_id.as_deref().unwrap_or(UNKNOWN_SEGMENT)
    }
}

/// The segment customers with no known needs segment learn in.
pub const UNKNOWN_SEGMENT: &str = "_unknown";

/// What the customer did with one slot of an offering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Accepted,
    Rejected,
    /// The customer took this other component instead.
    Changed(String),
}

impl SlotHistory {
    /// The history after the customer answered `offered` with `outcome` (the same
    /// rule the store applies when it reads outcomes back in time order).
    pub fn apply(&mut self, offered: &str, outcome: &Outcome, offering_id: &str, at: i64) {
        match outcome {
            Outcome::Accepted => {
                self.rejected.clear();
                let previous = self
                    .chosen
                    .as_ref()
                    .filter(|c| c.component_id == offered)
                    .map_or(0, |c| c.accepted_in_a_row.max(u32::from(c.changed_to)));
                self.chosen = Some(PastChoice {
                    component_id: offered.to_owned(),
                    offering_id: offering_id.to_owned(),
                    recorded_at: at,
                    changed_to: false,
                    accepted_in_a_row: previous + 1,
                });
            }
            Outcome::Rejected => {
                self.rejected = vec![offered.to_owned()];
                if self
                    .chosen
                    .as_ref()
                    .is_some_and(|c| c.component_id == offered)
                {
                    self.chosen = None;
                }
            }
            Outcome::Changed(to) => {
                self.rejected = vec![offered.to_owned()];
                self.chosen = Some(PastChoice {
                    component_id: to.clone(),
                    offering_id: offering_id.to_owned(),
                    recorded_at: at,
                    changed_to: true,
                    accepted_in_a_row: 0,
                });
            }
        }
    }
}
