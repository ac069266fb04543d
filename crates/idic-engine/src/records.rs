//! Source records as the engine holds them.

use std::collections::BTreeMap;
use std::sync::Arc;

use idic_matching::blocking::{BlockKey, block_keys};
use idic_matching::features::Features;
use idic_matching::record::RawRecord;
use serde::{Deserialize, Serialize};

/// A source record's key: its system and its id there. The idempotency key of writes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordKey {
    pub source_system: String,
    pub source_record_id: String,
}

impl RecordKey {
    pub fn new(source_system: impl Into<String>, source_record_id: impl Into<String>) -> Self {
        RecordKey {
            source_system: source_system.into(),
            source_record_id: source_record_id.into(),
        }
    }

    /// Orders keys the same way on every run and every machine (system, then id); it
    /// breaks ties in clustering, which keeps clusters independent of arrival order.
    /// The same order as the joined string `system + "\u{1f}" + id` that the engine
    /// kept per record before (a prefix of a system sorts first either way, since
    /// systems hold no control characters), so a base clustered then is the same now.
    pub fn order(&self) -> (&str, &str) {
        (&self.source_system, &self.source_record_id)
    }
}

/// What a source sent: the record's fields and free attributes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordContent {
    pub record: RawRecord,
    pub attributes: BTreeMap<String, String>,
}

/// A record's received fields packed into one allocation (postcard): the engine keeps
/// them for golden records and exports, and unpacks them on read. Unpacked, the fields
/// take several times the memory in small strings, which at a million records was
/// the largest part of the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackedContent(pub(crate) Box<[u8]>);

impl PackedContent {
    pub fn pack(content: &RecordContent) -> Self {
        // Strings, lists and an ordered map always serialize.
        let bytes = postcard::to_allocvec(content).expect("record content serializes");
        PackedContent(bytes.into_boxed_slice())
    }

    pub fn unpack(&self) -> RecordContent {
        // Only `pack` makes these bytes.
        postcard::from_bytes(&self.0).expect("packed content deserializes")
    }
}

/// A record arriving in a write, already validated.
#[derive(Debug, Clone, PartialEq)]
pub struct IncomingRecord {
    pub key: RecordKey,
    pub channel: i32,
    pub observed_at: i64,
    pub content: RecordContent,
    pub features: Features,
}

/// An incoming record with what the engine derives from it alone: its content packed
/// and its block keys. Made before the engine's write lock is taken (an import makes
/// it on the thread that parses the batch), so that the lock holds only the matching,
/// which is what bounds an import's speed.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedRecord {
    pub(crate) incoming: IncomingRecord,
    pub(crate) packed: PackedContent,
    pub(crate) keys: Vec<BlockKey>,
}

impl PreparedRecord {
    pub fn key(&self) -> &RecordKey {
        &self.incoming.key
    }
}

impl From<IncomingRecord> for PreparedRecord {
    fn from(incoming: IncomingRecord) -> Self {
        PreparedRecord {
            packed: PackedContent::pack(&incoming.content),
            keys: block_keys(&incoming.features),
            incoming,
        }
    }
}

/// A record in the engine.
#[derive(Debug, Clone)]
pub struct RecordEntry {
    pub key: RecordKey,
    pub channel: i32,
    pub observed_at: i64,
    pub content: PackedContent,
    pub features: Features,
    pub customer: Arc<str>,
}
