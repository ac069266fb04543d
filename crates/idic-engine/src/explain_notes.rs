//! What decided a pair beyond its own fields, for explanations: whose a shared phone
//! number is as the base shows, and why two records are one customer though apart
//! pair by pair (or two customers though linked).

use idic_matching::blocking::phone_key;
use idic_matching::score::{Difference, PairScore, Separation, explains, separation};

use super::{Engine, LinkKind};

impl Engine {
    /// Notes on the pair `a`, `b` (live record ids) and its score.
    pub(crate) fn pair_notes(&self, a: u32, b: u32, score: &PairScore) -> Vec<String> {
        let (Some(entry_a), Some(entry_b)) = (
            self.records[a as usize].as_ref(),
            self.records[b as usize].as_ref(),
        ) else {
            return Vec::new();
        };
        let mut notes = Vec::new();
        let shared = entry_a
            .features
            .phones
            .iter()
            .filter(|number| entry_b.features.phones.contains(number));
        for number in shared {
            notes.push(
                if self.number_is_one_persons(phone_key(number)) {
                    "the shared phone is carried only by records of one person in the base: \
                 evidence a household does not share"
                } else {
                    "the shared phone is also carried by records of a clearly different person \
                 (or by many records): the household's, no evidence of one person"
                }
                .to_owned(),
            );
        }
        let together = entry_a.customer == entry_b.customer;
        let apart = score.separation(self.threshold).is_some();
        if together && apart {
            notes.push(self.why_together(a, b, score));
        } else if !together && !apart && score.is_link(self.threshold) {
            notes.push(
                "two customers all the same: another pair of records across them is clearly \
                 two persons"
                    .to_owned(),
            );
        }
        notes
    }

    /// Why records apart pair by pair are one customer: a record of it that explains
    /// their one difference, or a steward's merge, or other records' links.
    fn why_together(&self, a: u32, b: u32, score: &PairScore) -> String {
        let entry = |id: u32| self.records[id as usize].as_ref();
        let customer = entry(a).map(|entry| entry.customer.clone());
        let members = customer
            .as_ref()
            .and_then(|customer| self.customers.get(customer))
            .map(|customer| customer.members.clone())
            .unwrap_or_default();
        if let (Some(difference), Some(x), Some(y)) = (score.one_difference, entry(a), entry(b)) {
            let apart_from = |z: &super::RecordEntry, other: &super::RecordEntry| {
                separation(
                    &z.features,
                    &other.features,
                    &self.params,
                    self,
                    self.threshold,
                ) != Separation::None
            };
            let explaining = members
                .iter()
                .filter(|id| **id != a && **id != b)
                .filter_map(|id| entry(*id))
                .find(|z| {
                    !apart_from(z, x)
                        && !apart_from(z, y)
                        && explains(&z.features, &x.features, &y.features, difference)
                });
            if let Some(z) = explaining {
                let mark = match difference {
                    Difference::GivenNames => "given name",
                    Difference::BirthDates => "birth date",
                };
                return format!(
                    "one customer all the same: record {}/{} is apart from neither and agrees \
                     with one of them on the {mark}, so the other's is a slip or a replaced value",
                    z.key.source_system, z.key.source_record_id
                );
            }
        }
        let steward = members.iter().any(|id| {
            self.links[*id as usize]
                .iter()
                .any(|link| link.kind == LinkKind::Steward)
        });
        if steward {
            "one customer all the same: a steward merged their records".to_owned()
        } else {
            "one customer all the same, through other records' links".to_owned()
        }
    }
}
