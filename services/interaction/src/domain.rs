//! Interaction's domain: contacts with customers. No SQL and no protobuf here.

/// One contact. Enum fields hold the wire numbers of the contract's enums.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interaction {
    pub interaction_id: String,
    pub idempotency_key: String,
    pub customer_id: String,
    pub channel: i32,
    pub kind: i32,
    pub direction: i32,
    pub occurred_at_micros: i64,
    pub thread_id: String,
    pub topic: String,
    pub summary: String,
}

/// Where a timeline page continues: after the item with this time and id, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineCursor {
    pub occurred_at_micros: i64,
    pub interaction_id: String,
}

impl TimelineCursor {
    pub fn of(interaction: &Interaction) -> Self {
        TimelineCursor {
            occurred_at_micros: interaction.occurred_at_micros,
            interaction_id: interaction.interaction_id.clone(),
        }
    }

    pub fn encode(&self) -> String {
        format!("{}|{}", self.occurred_at_micros, self.interaction_id)
    }

    pub fn decode(text: &str) -> Option<Self> {
        let (micros, id) = text.split_once('|')?;
        Some(TimelineCursor {
            occurred_at_micros: micros.parse().ok()?,
            interaction_id: id.to_owned(),
        })
    }
}
