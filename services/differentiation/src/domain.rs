//! Differentiation's domain: what a customer is worth and what it needs. No SQL and no
//! protobuf here.

pub use crate::skew::SkewSnapshot;

/// An amount in one currency's minor units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Amount {
    pub currency: String,
    pub minor_units: i64,
}

/// A customer's historical value, per currency.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerValue {
    pub customer_id: String,
    pub revenue: Vec<Amount>,
    pub margin: Vec<Amount>,
    pub order_count: u64,
    pub first_purchase_micros: Option<i64>,
    pub last_purchase_micros: Option<i64>,
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderLine {
    pub product: String,
    pub category: String,
    pub quantity: u32,
    pub amount_minor: i64,
}

/// One stored transaction. Returns and refunds are stored with negative amounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    pub order_id: String,
    pub kind: TransactionKind,
    pub customer_id: String,
    /// What the caller named the customer by (`CustomerSelector::anchor`: `KIND:value`,
    /// `id:cus_...`); empty for rows stored before anchors were kept.
    pub anchor: String,
    pub occurred_at_micros: i64,
    pub amount: Amount,
    pub margin_minor: Option<i64>,
    pub lines: Vec<OrderLine>,
    /// The proto `Channel` number (0 when unspecified).
    pub channel: i32,
    /// Months of contract or subscription the order commits to (0: none).
    pub commitment_months: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionKind {
    Purchase,
    Return,
    Refund,
}

impl TransactionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TransactionKind::Purchase => "purchase",
            TransactionKind::Return => "return",
            TransactionKind::Refund => "refund",
        }
    }

    pub fn parse(text: &str) -> Option<TransactionKind> {
        match text {
            "purchase" => Some(TransactionKind::Purchase),
            "return" => Some(TransactionKind::Return),
            "refund" => Some(TransactionKind::Refund),
            _ => None,
        }
    }
}

pub use idic_runtime::money::major_units;

/// A fitted model as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredModel {
    pub model_id: String,
    pub fitted_at_micros: i64,
    pub observation_end_micros: i64,
    pub time_unit: idic_value::TimeUnit,
    pub currency: String,
    pub customers: u64,
    pub bg_nbd: idic_value::BgNbd,
    pub bg_log_likelihood: f64,
    pub gamma_gamma: idic_value::GammaGamma,
    pub gg_log_likelihood: f64,
    pub gg_customers: u64,
    pub fit_millis: f64,
}

/// One customer's scores from the latest refit.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerScores {
    pub customer_id: String,
    pub summary: idic_value::CustomerSummary,
    pub expected_purchases: f64,
    pub probability_alive: f64,
    pub expected_spend: f64,
    pub clv: f64,
    /// Revenue up to the observation end, in the model currency's major units.
    pub historical: f64,
    pub rank_percentile: f64,
    pub tier: idic_value::skew::Tier,
    pub rfm: [u8; 3],
    pub segment_id: String,
}

/// A needs segment.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub segment_id: String,
    pub label: String,
    pub customers: u64,
}

/// A preference expressed in an interaction.
#[derive(Debug, Clone, PartialEq)]
pub struct Preference {
    pub interaction_id: String,
    pub key: String,
    pub customer_id: String,
    /// The reference it was recorded under (`CustomerSelector::anchor`); empty when
    /// unknown.
    pub anchor: String,
    pub value: String,
    pub channel: i32,
    pub expressed_at_micros: i64,
}

/// The base-wide figures of the latest refit.
#[derive(Debug, Clone, PartialEq)]
pub struct BaseSnapshot {
    pub computed_at_micros: i64,
    /// The value skew (stored as JSON).
    pub skew: SkewSnapshot,
    pub needs_differentiation: f64,
    pub needs_segments: u32,
}

/// A filter for listing customers.
#[derive(Debug, Clone, PartialEq)]
pub enum CustomerFilter {
    All,
    Tier(idic_value::skew::Tier),
    Segment(String),
}

pub const MICROS_PER_DAY: i64 = 86_400_000_000;

/// UTC day number of a time in microseconds since the epoch.
pub fn day_of(micros: i64) -> i64 {
    micros.div_euclid(MICROS_PER_DAY)
}

/// A customer's value with what the last refit says of it.
pub struct ValueView {
    pub value: CustomerValue,
    pub scores: Option<CustomerScores>,
    pub model: Option<StoredModel>,
}

/// A customer's needs profile.
pub struct NeedsProfile {
    pub customer_id: String,
    pub affinities: Vec<idic_value::needs::Affinity>,
    pub preferences: Vec<Preference>,
    pub segment: Option<Segment>,
    pub customer_type: idic_value::jackson::CustomerType,
    pub explanation: String,
}

/// Peppers & Rogers' focus for the base.
#[derive(Debug, Clone, PartialEq)]
pub struct Strategy {
    pub gini: f64,
    pub top_20_share: f64,
    pub needs_differentiation: f64,
    pub needs_segments: u32,
    pub high_value_skew: bool,
    pub high_needs_spread: bool,
    pub focus: String,
    pub explanation: String,
    /// When the skew it rests on was computed.
    pub computed_at_micros: i64,
}

/// The record id of a customer differentiation creates in identity: `kind:value`
/// (`loyalty:12345`, `email:ann@example.com`, `system:value` for an external id), as it
/// always was, so that the records already in identity keep their keys and operators
/// unmerge them by the key the README gives; exports show references so too.
pub fn record_id(selector: &idic_runtime::refs::CustomerSelector) -> String {
    let anchor = selector.anchor();
    let Some((kind, rest)) = anchor.split_once(':') else {
        return anchor;
    };
    let kind = match kind {
        "id" | "EXTERNAL_ID" => return rest.to_owned(),
        "EMAIL" => "email",
        "PHONE" => "phone",
        "LOYALTY_ID" => "loyalty",
        "ACCOUNT_CODE" => "account",
        "DEVICE_ID" => "device",
        "NATIONAL_ID" => "national",
        "POSTAL_ADDRESS" => "address",
        other => return format!("{}:{rest}", other.to_lowercase()),
    };
    format!("{kind}:{rest}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use idic_runtime::refs::CustomerSelector;

    fn identifier(kind: &str, system: &str, value: &str) -> CustomerSelector {
        CustomerSelector::from_anchor(&if system.is_empty() {
            format!("{kind}:{value}")
        } else {
            format!("{kind}:{system}:{value}")
        })
        .unwrap()
    }

    #[test]
    fn created_records_keep_their_historical_ids() {
        assert_eq!(record_id(&identifier("LOYALTY_ID", "", "M2")), "loyalty:M2");
        assert_eq!(
            record_id(&identifier("EMAIL", "", "ann@example.com")),
            "email:ann@example.com"
        );
        assert_eq!(
            record_id(&identifier("EXTERNAL_ID", "segment", "user:42")),
            "segment:user:42"
        );
        assert_eq!(record_id(&CustomerSelector::Id("cus_1".into())), "cus_1");
    }
}

/// What recording one transaction did.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub customer_id: String,
    /// False when the transaction was stored before (a retry).
    pub created: bool,
    /// True for the first transaction of a customer identity created for this call.
    pub customer_created: bool,
}

/// Everything differentiation holds of one customer.
pub struct CustomerData {
    pub customer_id: String,
    pub transactions: Vec<Transaction>,
    /// Oldest first.
    pub preferences: Vec<Preference>,
    pub value: ValueView,
}
