//! The records filed under each block key, kept small: most keys (a name with a birth
//! date, a street, an e-mail) belong to one record, so a key holds that record's id in
//! its own slot, and only keys with more records point to a list.
//!
//! With every field filled a record has many keys (one per e-mail, phone and
//! identifier, several per address), so a million records make a table of millions.
//! A key with a two-id small vector beside it took 32 bytes a slot; a key with one
//! `u32` takes 16 (see docs/benchmarks.md for what it saved).

use std::collections::hash_map::Entry;

use idic_matching::blocking::BlockKey;
use rustc_hash::FxHashMap;

/// Set in a slot that names a list instead of a record.
const LIST: u32 = 1 << 31;

#[derive(Debug, Default)]
pub(crate) struct BlockIndex {
    /// A key's only record, or `LIST | index` into `lists`.
    slots: FxHashMap<BlockKey, u32>,
    /// The records of keys that hold two or more, in the order they were filed.
    lists: Vec<Vec<u32>>,
    /// Indexes of `lists` given up, for the next key that needs a list.
    free: Vec<u32>,
}

impl BlockIndex {
    /// Files `id` under `key`, after the records already there (a record filed twice
    /// under one key is there twice, as a list would have it).
    ///
    /// One look-up of the key: most keys are new, and a look-up then an insert hashed
    /// and probed each of them twice.
    pub(crate) fn insert(&mut self, key: BlockKey, id: u32) {
        assert!(id < LIST, "record ids stay below 2^31");
        match self.slots.entry(key) {
            Entry::Vacant(vacant) => {
                vacant.insert(id);
            }
            Entry::Occupied(mut occupied) => {
                let slot = *occupied.get();
                if slot & LIST != 0 {
                    self.lists[(slot & !LIST) as usize].push(id);
                } else {
                    let index = new_list(&mut self.lists, &mut self.free, vec![slot, id]);
                    occupied.insert(LIST | index);
                }
            }
        }
    }

    /// Takes every filing of `id` out of `key`; a key left without records goes.
    pub(crate) fn remove(&mut self, key: BlockKey, id: u32) {
        let Some(slot) = self.slots.get(&key).copied() else {
            return;
        };
        if slot & LIST == 0 {
            if slot == id {
                self.slots.remove(&key);
            }
            return;
        }
        let index = (slot & !LIST) as usize;
        let list = &mut self.lists[index];
        list.retain(|member| *member != id);
        match list.len() {
            0 => {
                self.slots.remove(&key);
                self.free_list(index);
            }
            1 => {
                let only = list[0];
                self.slots.insert(key, only);
                self.free_list(index);
            }
            _ => {}
        }
    }

    /// The records filed under `key`, in filing order; `None` when there are none.
    pub(crate) fn get(&self, key: &BlockKey) -> Option<&[u32]> {
        let slot = self.slots.get(key)?;
        Some(self.members(slot))
    }

    /// Every key with its records, in the table's order (the estimate samples its
    /// candidate pairs in this order: a change of it changes the sample).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&BlockKey, &[u32])> {
        self.slots
            .iter()
            .map(|(key, slot)| (key, self.members(slot)))
    }

    fn members<'a>(&'a self, slot: &'a u32) -> &'a [u32] {
        if slot & LIST == 0 {
            std::slice::from_ref(slot)
        } else {
            &self.lists[(slot & !LIST) as usize]
        }
    }

    fn free_list(&mut self, index: usize) {
        self.lists[index] = Vec::new();
        self.free.push(index as u32);
    }
}

/// Puts `members` in a list given up before, or a new one; returns its index.
fn new_list(lists: &mut Vec<Vec<u32>>, free: &mut Vec<u32>, members: Vec<u32>) -> u32 {
    match free.pop() {
        Some(index) => {
            lists[index as usize] = members;
            index
        }
        None => {
            lists.push(members);
            u32::try_from(lists.len() - 1).expect("fewer lists than records")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The index against the map of vectors it replaces, on one sequence of filings
    /// and removals with repeated ids and keys.
    #[test]
    fn behaves_as_a_map_of_lists() {
        let mut index = BlockIndex::default();
        let mut model: FxHashMap<BlockKey, Vec<u32>> = FxHashMap::default();
        // A small deterministic walk: keys 0..7, ids 0..11, some filed twice.
        let mut state = 7u64;
        for step in 0..5_000u32 {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let key = (state >> 33) % 7;
            let id = ((state >> 40) % 11) as u32;
            if (state >> 60).is_multiple_of(3) {
                index.remove(key, id);
                if let Some(members) = model.get_mut(&key) {
                    members.retain(|member| *member != id);
                    if members.is_empty() {
                        model.remove(&key);
                    }
                }
            } else {
                index.insert(key, id);
                model.entry(key).or_default().push(id);
            }
            for key in 0..7 {
                assert_eq!(
                    index.get(&key),
                    model.get(&key).map(Vec::as_slice),
                    "step {step}, key {key}"
                );
            }
            assert_eq!(index.iter().count(), model.len());
        }
        // Lists given up are used again, not left to pile up.
        assert!(index.lists.len() <= 7);
    }
}
