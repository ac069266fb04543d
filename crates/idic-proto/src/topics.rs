//! The event bus's topics, each named once beside the contracts, with the event its
//! payloads carry: protobuf messages of `idic.v1`, and identity's change event, which
//! is JSON (the outbox and the followers of every version read it so).

use std::marker::PhantomData;

use serde::{Deserialize, Serialize};

use crate::v1;

/// A bus topic whose payloads are `E`.
pub struct Topic<E> {
    name: &'static str,
    event: PhantomData<fn() -> E>,
}

impl<E> Topic<E> {
    const fn new(name: &'static str) -> Self {
        Topic {
            name,
            event: PhantomData,
        }
    }

    /// The topic's name on the bus (a Redis stream key, after the prefix).
    pub const fn name(&self) -> &'static str {
        self.name
    }
}

/// Identity's committed merges, splits and erasures.
pub const IDENTITY_CHANGES: Topic<IdentityChangeEvent> = Topic::new("identity.changes");
/// Every transaction differentiation records.
pub const TRANSACTIONS: Topic<v1::TransactionEvent> = Topic::new("differentiation.transactions");
/// Every interaction the interaction service records.
pub const INTERACTIONS: Topic<v1::InteractionEvent> = Topic::new("interaction.interactions");
/// Every offering customization makes and every outcome it learns.
pub const OFFERS: Topic<v1::OfferEvent> = Topic::new("customization.offers");

/// What happened to a customer in identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    Merged,
    Split,
    Erased,
}

/// One committed change on [`IDENTITY_CHANGES`]: identity writes it, followers read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityChangeEvent {
    pub event_id: u64,
    pub kind: ChangeKind,
    pub customer_id: String,
    #[serde(default)]
    pub absorbed_customer_ids: Vec<String>,
    #[serde(default)]
    pub new_customer_ids: Vec<String>,
    pub occurred_at_micros: i64,
}

impl IdentityChangeEvent {
    /// The event as the bus carries it.
    pub fn to_payload(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }
}

/// One change of who is who, as a follower sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityChange {
    /// `absorbed` became aliases of `survivor`: their data now belongs to `survivor`.
    Merged {
        survivor: String,
        absorbed: Vec<String>,
    },
    /// Records left `customer_id` for the customers `new_customer_ids`: data anchored to
    /// those records' identifiers may now belong to one of them.
    Split {
        customer_id: String,
        new_customer_ids: Vec<String>,
    },
    /// `customer_id` was erased: its personal data must go.
    Erased { customer_id: String },
}

impl IdentityChange {
    /// Every customer id the change touches.
    pub fn customer_ids(&self) -> Vec<&str> {
        match self {
            IdentityChange::Merged { survivor, absorbed } => std::iter::once(survivor.as_str())
                .chain(absorbed.iter().map(String::as_str))
                .collect(),
            IdentityChange::Split {
                customer_id,
                new_customer_ids,
            } => std::iter::once(customer_id.as_str())
                .chain(new_customer_ids.iter().map(String::as_str))
                .collect(),
            IdentityChange::Erased { customer_id } => vec![customer_id.as_str()],
        }
    }

    /// Parses an event payload of [`IDENTITY_CHANGES`].
    pub fn from_payload(payload: &[u8]) -> Result<IdentityChange, serde_json::Error> {
        let event: IdentityChangeEvent = serde_json::from_slice(payload)?;
        Ok(IdentityChange::from(event))
    }
}

impl From<IdentityChangeEvent> for IdentityChange {
    fn from(event: IdentityChangeEvent) -> Self {
        match event.kind {
            ChangeKind::Merged => IdentityChange::Merged {
                survivor: event.customer_id,
                absorbed: event.absorbed_customer_ids,
            },
            ChangeKind::Split => IdentityChange::Split {
                customer_id: event.customer_id,
                new_customer_ids: event.new_customer_ids,
            },
            ChangeKind::Erased => IdentityChange::Erased {
                customer_id: event.customer_id,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_kind_identity_publishes() {
        let merged = br#"{"event_id":3,"kind":"merged","customer_id":"cus_a","absorbed_customer_ids":["cus_b"],"new_customer_ids":[],"occurred_at_micros":1}"#;
        assert_eq!(
            IdentityChange::from_payload(merged).unwrap(),
            IdentityChange::Merged {
                survivor: "cus_a".into(),
                absorbed: vec!["cus_b".into()]
            }
        );
        let split = br#"{"event_id":4,"kind":"split","customer_id":"cus_a","absorbed_customer_ids":[],"new_customer_ids":["cus_c"],"occurred_at_micros":2}"#;
        assert_eq!(
            IdentityChange::from_payload(split).unwrap().customer_ids(),
            vec!["cus_a", "cus_c"]
        );
        let erased = br#"{"event_id":5,"kind":"erased","customer_id":"cus_a","absorbed_customer_ids":[],"new_customer_ids":[],"occurred_at_micros":3}"#;
        assert_eq!(
            IdentityChange::from_payload(erased).unwrap(),
            IdentityChange::Erased {
                customer_id: "cus_a".into()
            }
        );
        assert!(IdentityChange::from_payload(br#"{"kind":"renamed","customer_id":"x"}"#).is_err());
        assert!(IdentityChange::from_payload(b"not json").is_err());
    }

    #[test]
    fn the_written_event_is_what_followers_read() {
        let event = IdentityChangeEvent {
            event_id: 7,
            kind: ChangeKind::Split,
            customer_id: "cus_a".into(),
            absorbed_customer_ids: Vec::new(),
            new_customer_ids: vec!["cus_b".into()],
            occurred_at_micros: 9,
        };
        let payload = event.to_payload().unwrap();
        assert!(String::from_utf8_lossy(&payload).contains(r#""kind":"split""#));
        assert_eq!(
            IdentityChange::from_payload(&payload).unwrap(),
            IdentityChange::Split {
                customer_id: "cus_a".into(),
                new_customer_ids: vec!["cus_b".into()]
            }
        );
    }
}
