//! Record key -> record slot, without a second copy of every key: the table holds
//! slots only and compares against the keys the engine's records already hold. At a
//! million records a map keyed by `RecordKey` kept a million more strings.

use std::hash::{BuildHasher, Hash, Hasher};

use hashbrown::HashTable;
use rustc_hash::FxBuildHasher;

use super::records::{RecordEntry, RecordKey};

#[derive(Default)]
pub struct KeyIndex {
    table: HashTable<u32>,
}

fn hash_key(key: &RecordKey) -> u64 {
    let mut hasher = FxBuildHasher.build_hasher();
    key.source_system.hash(&mut hasher);
    key.source_record_id.hash(&mut hasher);
    hasher.finish()
}

fn key_of(records: &[Option<RecordEntry>], slot: u32) -> &RecordKey {
    &records[slot as usize]
        .as_ref()
        .expect("the index names live records only")
        .key
}

impl KeyIndex {
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// The slot of the live record with `key`.
    pub fn get(&self, key: &RecordKey, records: &[Option<RecordEntry>]) -> Option<u32> {
        self.table
            .find(hash_key(key), |slot| key_of(records, *slot) == key)
            .copied()
    }

    /// Files `slot`, whose record (already in `records`) has a key not filed yet.
    pub fn insert(&mut self, slot: u32, records: &[Option<RecordEntry>]) {
        let key = key_of(records, slot);
        debug_assert!(self.get(key, records).is_none(), "a key is filed once");
        self.table.insert_unique(hash_key(key), slot, |other| {
            hash_key(key_of(records, *other))
        });
    }

    /// Unfiles `key`; call before its record leaves `records`.
    pub fn remove(&mut self, key: &RecordKey, records: &[Option<RecordEntry>]) {
        if let Ok(entry) = self
            .table
            .find_entry(hash_key(key), |slot| key_of(records, *slot) == key)
        {
            entry.remove();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(system: &str, id: &str) -> Option<RecordEntry> {
        Some(RecordEntry {
            key: RecordKey::new(system, id),
            channel: 0,
            observed_at: 0,
            content: crate::records::PackedContent::pack(&Default::default()),
            features: Default::default(),
            customer: std::sync::Arc::from("c"),
        })
    }

    #[test]
    fn finds_inserts_and_removes_by_key_without_copies() {
        let mut records = Vec::new();
        let mut index = KeyIndex::default();
        for n in 0..1000u32 {
            records.push(entry("web", &n.to_string()));
            index.insert(n, &records);
        }
        assert_eq!(index.len(), 1000);
        assert_eq!(
            index.get(&RecordKey::new("web", "417"), &records),
            Some(417)
        );
        assert_eq!(index.get(&RecordKey::new("crm", "417"), &records), None);
        index.remove(&RecordKey::new("web", "417"), &records);
        records[417] = None;
        assert_eq!(index.get(&RecordKey::new("web", "417"), &records), None);
        assert_eq!(
            index.get(&RecordKey::new("web", "418"), &records),
            Some(418)
        );
        assert_eq!(index.len(), 999);
    }
}
