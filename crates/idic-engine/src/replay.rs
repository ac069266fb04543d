//! Following a leader: a follower's engine applies the change sets the leader's engine
//! committed, in commit order, and ends where the leader's engine was. Nothing is
//! compared or clustered again: a change set carries the final state of every record,
//! link, customer, alias and block a write touched, so replaying it is bookkeeping.
//!
//! Replaying a change set the engine already holds (a follower loads the tables, then
//! replays the log from a position read before the load) is harmless: every step sets
//! a final state. Membership lists are kept sorted by record id, as a load builds them.

use std::sync::Arc;

use idic_matching::blocking::block_keys;

use super::{ChangeKind, ChangeSet, Customer, Engine, LinkTo, RecordEntry, RecordRow, ordered};

impl Engine {
    /// Applies a committed change set. `entry_of` turns a stored record row into the
    /// engine's entry (normalizing its content, as a load does).
    pub fn replay(
        &mut self,
        changes: &ChangeSet,
        entry_of: &mut dyn FnMut(&RecordRow) -> RecordEntry,
    ) {
        // Records may be replaced or dropped below.
        self.conflicts.clear();
        if changes
            .events
            .iter()
            .any(|event| event.kind == ChangeKind::Erased)
        {
            // The log carries no names: the records about to be dropped tell them.
            let erased: Vec<u32> = changes
                .records
                .iter()
                .filter(|(_, row)| row.is_none())
                .map(|(id, _)| *id)
                .collect();
            let names = self.names_of(&erased);
            self.forget_names(&names);
        }
        // Customers first, so that records moving into a new customer find it.
        for row in changes.customers.values().flatten() {
            self.replay_customer(row);
        }
        for (record_id, row) in &changes.records {
            match row {
                Some(row) => {
                    let entry = entry_of(row);
                    self.replay_record(*record_id, entry);
                }
                None => self.drop_record(*record_id),
            }
        }
        for (record_id, customer) in &changes.records_moved {
            self.move_record(*record_id, customer.clone());
        }
        for (pair, link) in &changes.links {
            self.drop_link(pair.0, pair.1);
            if let Some(link) = link {
                self.add_link(link.a, link.b, link.kind, link.weight as f32);
            }
        }
        // Absorbed customers go once their records have moved out.
        for (customer_id, row) in &changes.customers {
            if row.is_none() {
                self.customers.remove(customer_id);
            }
        }
        for (alias, customer) in &changes.aliases {
            self.replay_alias(alias.clone(), customer.clone());
        }
        for (&(a, b), &added) in &changes.blocks {
            if added {
                self.blocked.insert(ordered(a, b));
            } else {
                self.blocked.remove(&ordered(a, b));
            }
        }
        for event in &changes.events {
            self.next_event_id = self.next_event_id.max(event.event_id + 1);
        }
    }

    /// Rebuilds every customer's membership list from the records' customers. After
    /// replaying change sets the loaded tables already held (see the module docs), a
    /// record may have moved into a customer replayed after it.
    pub fn rebuild_memberships(&mut self) {
        for customer in self.customers.values_mut() {
            customer.members.clear();
        }
        for (slot, entry) in self.records.iter().enumerate() {
            if let Some(entry) = entry
                && let Some(customer) = self.customers.get_mut(&entry.customer)
            {
                customer.members.push(slot as u32);
            }
        }
    }

    fn replay_customer(&mut self, row: &super::CustomerRow) {
        let customer = self
            .customers
            .entry(row.customer_id.clone())
            .or_insert_with(|| {
                Box::new(Customer {
                    id: row.customer_id.clone(),
                    created_at: row.created_at,
                    updated_at: row.updated_at,
                    members: Vec::new(),
                    aliases: Vec::new(),
                    erased_at: None,
                })
            });
        customer.created_at = row.created_at;
        customer.updated_at = row.updated_at;
        customer.erased_at = row.erased_at;
    }

    /// Puts the record's new state in its slot, filed under its new block keys.
    fn replay_record(&mut self, record_id: u32, entry: RecordEntry) {
        let slot = record_id as usize;
        // Only the leader's own slot may hold this key; a stale copy elsewhere goes.
        if let Some(other) = self.by_key.get(&entry.key, &self.records)
            && other != record_id
        {
            self.drop_record(other);
        }
        if self.records.len() <= slot {
            self.records.resize_with(slot + 1, || None);
            self.links.resize_with(slot + 1, Vec::new);
        }
        self.unfile_record(record_id);
        for key in block_keys(&entry.features) {
            self.blocks.insert(key, record_id);
        }
        let customer = entry.customer.clone();
        self.records[slot] = Some(entry);
        self.by_key.insert(record_id, &self.records);
        self.add_member(&customer, record_id);
    }

    fn move_record(&mut self, record_id: u32, customer: Arc<str>) {
        let Some(Some(entry)) = self.records.get_mut(record_id as usize) else {
            return;
        };
        let previous = std::mem::replace(&mut entry.customer, customer.clone());
        self.remove_member(&previous, record_id);
        self.add_member(&customer, record_id);
    }

    /// Removes a record with its block keys, key, membership and links.
    fn drop_record(&mut self, record_id: u32) {
        if self
            .records
            .get(record_id as usize)
            .is_none_or(Option::is_none)
        {
            return;
        }
        self.unfile_record(record_id);
        let links = std::mem::take(&mut self.links[record_id as usize]);
        for link in links {
            self.links[link.other as usize].retain(|back| back.other != record_id);
        }
        self.records[record_id as usize] = None;
    }

    /// Takes a live record out of the block, key and membership indexes, leaving its
    /// slot and links.
    fn unfile_record(&mut self, record_id: u32) {
        let Some(Some(entry)) = self.records.get(record_id as usize) else {
            return;
        };
        let customer = entry.customer.clone();
        for key in block_keys(&entry.features) {
            self.blocks.remove(key, record_id);
        }
        let key = entry.key.clone();
        self.by_key.remove(&key, &self.records);
        self.remove_member(&customer, record_id);
    }

    fn add_member(&mut self, customer_id: &Arc<str>, record_id: u32) {
        if let Some(customer) = self.customers.get_mut(customer_id)
            && let Err(position) = customer.members.binary_search(&record_id)
        {
            customer.members.insert(position, record_id);
        }
    }

    fn remove_member(&mut self, customer_id: &Arc<str>, record_id: u32) {
        if let Some(customer) = self.customers.get_mut(customer_id) {
            customer.members.retain(|member| *member != record_id);
        }
    }

    /// Drops the link between two records, both ways (a follower's replay and the
    /// engine's own re-comparisons).
    pub(crate) fn drop_link(&mut self, a: u32, b: u32) {
        if let Some(links) = self.links.get_mut(a as usize) {
            links.retain(|link| link.other != b);
        }
        if let Some(links) = self.links.get_mut(b as usize) {
            links.retain(|link| link.other != a);
        }
    }

    /// Adds a link between two records, both ways.
    pub(crate) fn add_link(&mut self, a: u32, b: u32, kind: super::LinkKind, weight: f32) {
        let highest = a.max(b) as usize;
        if self.links.len() <= highest {
            self.records.resize_with(highest + 1, || None);
            self.links.resize_with(highest + 1, Vec::new);
        }
        self.links[a as usize].push(LinkTo {
            other: b,
            kind,
            weight,
        });
        self.links[b as usize].push(LinkTo {
            other: a,
            kind,
            weight,
        });
    }

    fn replay_alias(&mut self, alias: Arc<str>, customer: Arc<str>) {
        if let Some(previous) = self.aliases.insert(alias.clone(), customer.clone())
            && previous != customer
            && let Some(old) = self.customers.get_mut(&previous)
        {
            old.aliases.retain(|known| *known != alias);
        }
        if let Some(target) = self.customers.get_mut(&customer)
            && !target.aliases.contains(&alias)
        {
            target.aliases.push(alias);
        }
    }
}
