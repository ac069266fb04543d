//! Whether a phone number that records share is one person's own or a household's.
//!
//! A household's members share its landline, and a twin or a namesake son at that
//! number looks, pair by pair, like one person's record with a given name or a birth
//! date replaced. The base tells the two apart: a landline is carried by records of
//! members who are clearly two persons (given names and birth dates both differ), a
//! mobile only by its owner's. The answer is read from the records filed under the
//! number, so it is a function of the base, not of the order records came in: when a
//! write turns it, the engine compares again every pair that shares the number (see
//! [`Engine::relink_turned`]).

use idic_matching::blocking::{BlockKey, phone_key};
use idic_matching::features::Features;
use idic_matching::score::{PhoneHolders, clearly_two_persons};

use super::{ChangeSet, Engine, LinkKind, LinkRow, ordered};

/// A number carried by more records than this is a switchboard's or a placeholder,
/// not one person's; it also bounds the pairs looked at (276).
const MOST_HOLDERS: usize = 24;

/// The engine answers for its base.
impl PhoneHolders for Engine {
    fn one_person(&self, phone: &str) -> bool {
        self.number_is_one_persons(phone_key(phone))
    }
}

/// A phone number's key and whether its holders were one person.
pub(crate) type PhoneRoles = Vec<(BlockKey, bool)>;

impl Engine {
    /// Whether no two records filed under the number are clearly two persons (and a
    /// few records at most carry it). A number nobody carries is no one's.
    pub(crate) fn number_is_one_persons(&self, key: BlockKey) -> bool {
        let Some(holders) = self.blocks.get(&key) else {
            return false;
        };
        if holders.len() > MOST_HOLDERS {
            return false;
        }
        let features: Vec<&Features> = holders
            .iter()
            .filter_map(|id| self.records[*id as usize].as_ref())
            .map(|entry| &entry.features)
            .collect();
        !features.iter().enumerate().any(|(index, x)| {
            features[index + 1..]
                .iter()
                .any(|y| clearly_two_persons(x, y))
        })
    }

    /// The roles of the numbers `records` carry, before a write that files or unfiles
    /// them; [`Engine::relink_turned`] takes them after it.
    pub(crate) fn phone_roles<'a>(
        &self,
        records: impl IntoIterator<Item = &'a Features>,
    ) -> PhoneRoles {
        let mut roles: PhoneRoles = Vec::new();
        for features in records {
            for phone in &features.phones {
                let key = phone_key(phone);
                if !roles.iter().any(|(known, _)| *known == key) {
                    roles.push((key, self.number_is_one_persons(key)));
                }
            }
        }
        roles
    }

    /// Compares again every pair of records that share a number whose role the write
    /// turned, keeping or dropping their links; returns the records so compared, whose
    /// groups must be clustered again.
    pub(crate) fn relink_turned(
        &mut self,
        before: PhoneRoles,
        changes: &mut ChangeSet,
    ) -> Vec<u32> {
        let mut touched = Vec::new();
        for (key, was_one_person) in before {
            if self.number_is_one_persons(key) == was_one_person {
                continue;
            }
            let holders: Vec<u32> = self
                .blocks
                .get(&key)
                .map(|holders| holders.to_vec())
                .unwrap_or_default();
            for (index, x) in holders.iter().enumerate() {
                for y in &holders[index + 1..] {
                    self.relink_pair(*x, *y, changes);
                }
            }
            touched.extend(holders);
        }
        touched
    }

    /// Compares two records again and adds or drops the matcher's link between them.
    fn relink_pair(&mut self, x: u32, y: u32, changes: &mut ChangeSet) {
        self.conflicts.forget(x, y);
        let current = self.links[x as usize]
            .iter()
            .find(|link| link.other == y)
            .map(|link| link.kind);
        if current == Some(LinkKind::Steward) {
            return;
        }
        let (Some(entry_x), Some(entry_y)) = (
            self.records[x as usize].as_ref(),
            self.records[y as usize].as_ref(),
        ) else {
            return;
        };
        // The later record against the earlier, as an import compares them.
        let (earlier, later) = if x < y {
            (entry_x, entry_y)
        } else {
            (entry_y, entry_x)
        };
        let score = idic_matching::score::compare_in(
            &later.features,
            &earlier.features,
            &self.params,
            self,
            &mut idic_matching::score::NoRecord,
        );
        let wanted = score.is_link(self.threshold).then(|| {
            if score.rule.is_some() {
                LinkKind::Rule
            } else {
                LinkKind::Probabilistic
            }
        });
        match (current, wanted) {
            (None, Some(kind)) => {
                self.add_link(x, y, kind, score.total as f32);
                let (a, b) = ordered(x, y);
                changes.add_link(LinkRow {
                    a,
                    b,
                    kind,
                    weight: score.total,
                });
            }
            (Some(_), None) => {
                self.drop_link(x, y);
                changes.remove_link(x, y);
            }
            _ => {}
        }
    }
}
