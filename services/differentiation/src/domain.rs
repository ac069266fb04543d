//! Differentiation's domain: what a customer is worth. No SQL and no protobuf here.

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

/// One stored transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    pub order_id: String,
    pub kind: TransactionKind,
    pub customer_id: String,
    pub occurred_at_micros: i64,
    pub amount: Amount,
    pub margin_minor: Option<i64>,
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
}
