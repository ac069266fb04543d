//! The golden record: the best value of each field among a customer's records.
//!
//! Survivorship, in order: the value most records agree on (frequency), then the one
//! from the most trusted source, then the most recently observed. Each chosen value
//! keeps its provenance: the record it came from, the rule that decided, and how many
//! records hold it.

use std::collections::{BTreeMap, HashMap};

use idic_matching::record::{Date, RawAddress, RawRecord};

use super::records::{RecordContent, RecordEntry, RecordKey};

/// A customer's record with its received fields unpacked.
struct Member<'a> {
    entry: &'a RecordEntry,
    raw: &'a RawRecord,
}

/// Where a golden value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    pub record: RecordKey,
    pub rule: &'static str,
    pub support: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Golden {
    pub given_name: String,
    pub middle_name: String,
    pub family_name: String,
    pub organization_name: String,
    pub date_of_birth: String,
    pub emails: Vec<String>,
    pub phones: Vec<String>,
    pub addresses: Vec<RawAddress>,
    /// (kind, system, value) of strong identifiers and devices.
    pub identifiers: Vec<(idic_matching::record::IdKind, String, String)>,
    pub provenance: BTreeMap<&'static str, Provenance>,
}

impl Golden {
    /// "Ann Lee", or the organization's name.
    pub fn display_name(&self) -> String {
        let person = [&self.given_name, &self.family_name]
            .iter()
            .filter(|part| !part.is_empty())
            .map(|part| part.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        if person.is_empty() {
            self.organization_name.clone()
        } else {
            person
        }
    }
}

/// Trust of a record's source, 0..=100.
pub type Trust<'a> = &'a dyn Fn(&str) -> u8;

/// One candidate value and the records behind it.
struct Candidate<'a, V> {
    value: V,
    support: u32,
    best: &'a RecordEntry,
    trust: u8,
}

/// Groups the values `extract` gives for each record by `group` key and orders the
/// groups by survivorship. Returns (value, provenance) best first.
fn rank<'a, V: Clone, K: std::hash::Hash + Eq>(
    members: &[Member<'a>],
    trust: Trust<'_>,
    extract: impl Fn(&Member<'a>) -> Vec<(K, V)>,
) -> Vec<(V, Provenance)> {
    let mut groups: HashMap<K, Candidate<'a, V>> = HashMap::new();
    for member in members {
        let member_trust = trust(&member.entry.key.source_system);
        for (key, value) in extract(member) {
            let candidate = groups.entry(key).or_insert_with(|| Candidate {
                value: value.clone(),
                support: 0,
                best: member.entry,
                trust: member_trust,
            });
            candidate.support += 1;
            if (member_trust, member.entry.observed_at)
                > (candidate.trust, candidate.best.observed_at)
            {
                candidate.best = member.entry;
                candidate.trust = member_trust;
                candidate.value = value;
            }
        }
    }
    let mut ranked: Vec<Candidate<'a, V>> = groups.into_values().collect();
    ranked.sort_by(|x, y| {
        (y.support, y.trust, y.best.observed_at)
            .cmp(&(x.support, x.trust, x.best.observed_at))
            .then_with(|| x.best.key.order().cmp(&y.best.key.order()))
    });
    let rule = match (ranked.first(), ranked.get(1)) {
        (Some(_), None) => "only_value",
        (Some(first), Some(second)) if first.support != second.support => "most_frequent",
        (Some(first), Some(second)) if first.trust != second.trust => "most_trusted_source",
        (Some(first), Some(second)) if first.best.observed_at != second.best.observed_at => {
            "most_recent"
        }
        _ => "first_by_record_key",
    };
    ranked
        .into_iter()
        .map(|candidate| {
            let provenance = Provenance {
                record: candidate.best.key.clone(),
                rule,
                support: candidate.support,
            };
            (candidate.value, provenance)
        })
        .collect()
}

fn single(raw: &str, folded: Option<&str>) -> Vec<(String, String)> {
    match folded {
        Some(folded) if !folded.is_empty() => vec![(folded.to_owned(), raw.trim().to_owned())],
        _ => Vec::new(),
    }
}

fn iso(date: Date) -> String {
    format!("{:04}-{:02}-{:02}", date.year, date.month, date.day)
}

/// The golden record of a customer whose records are `members`.
pub fn golden_record(entries: &[&RecordEntry], trust: Trust<'_>) -> Golden {
    let contents: Vec<RecordContent> = entries.iter().map(|entry| entry.content.unpack()).collect();
    let members: Vec<Member<'_>> = entries
        .iter()
        .zip(&contents)
        .map(|(entry, content)| Member {
            entry,
            raw: &content.record,
        })
        .collect();
    let members = members.as_slice();
    let mut golden = Golden::default();
    let mut provenance = BTreeMap::new();
    let mut choose = |name: &'static str, ranked: Vec<(String, Provenance)>| -> String {
        match ranked.into_iter().next() {
            Some((value, origin)) => {
                provenance.insert(name, origin);
                value
            }
            None => String::new(),
        }
    };
    golden.given_name = choose(
        "given_name",
        rank(members, trust, |m| {
            single(
                &m.raw.given_name,
                m.entry.features.given.as_ref().map(|g| g.folded.as_str()),
            )
        }),
    );
    golden.middle_name = choose(
        "middle_name",
        rank(members, trust, |m| {
            let middle = m.raw.middle_name.trim();
            single(middle, Some(&middle.to_lowercase()))
        }),
    );
    golden.family_name = choose(
        "family_name",
        rank(members, trust, |m| {
            single(
                &m.raw.family_name,
                m.entry.features.family.as_ref().map(|f| f.folded.as_str()),
            )
        }),
    );
    golden.organization_name = choose(
        "organization_name",
        rank(members, trust, |m| {
            single(
                &m.raw.organization_name,
                m.entry.features.organization.as_deref(),
            )
        }),
    );
    golden.date_of_birth = choose(
        "date_of_birth",
        rank(members, trust, |m| {
            m.entry
                .features
                .birth_date
                .map(|date| (date, iso(date)))
                .into_iter()
                .collect()
        }),
    );
    let emails = rank(members, trust, |m| {
        m.entry
            .features
            .emails
            .iter()
            .map(|e| (e.clone(), e.clone()))
            .collect()
    });
    let phones = rank(members, trust, |m| {
        m.entry
            .features
            .phones
            .iter()
            .map(|p| (p.clone(), p.clone()))
            .collect()
    });
    let addresses = rank(members, trust, |m| {
        let raw = &m.raw.addresses;
        let normalized = &m.entry.features.addresses;
        normalized
            .iter()
            .enumerate()
            .map(|(index, address)| {
                // The source's own spelling when it lines up with the normalized list.
                let display = if raw.len() == normalized.len() {
                    raw[index].clone()
                } else {
                    display_address(address)
                };
                (address.clone(), display)
            })
            .collect()
    });
    let identifiers = rank(members, trust, |m| {
        m.entry
            .features
            .identifiers
            .iter()
            .map(|i| {
                (
                    (i.kind, i.system.clone(), i.value.clone()),
                    (i.kind, i.system.clone(), i.value.clone()),
                )
            })
            .chain(m.entry.features.devices.iter().map(|d| {
                let device = (
                    idic_matching::record::IdKind::Device,
                    Default::default(),
                    d.clone(),
                );
                (device.clone(), device)
            }))
            .collect()
    });
    for (name, first) in [
        ("emails", emails.first().map(|(_, origin)| origin)),
        ("phones", phones.first().map(|(_, origin)| origin)),
        ("addresses", addresses.first().map(|(_, origin)| origin)),
    ] {
        if let Some(origin) = first {
            provenance.insert(name, origin.clone());
        }
    }
    golden.emails = emails.into_iter().map(|(value, _)| value.into()).collect();
    golden.phones = phones.into_iter().map(|(value, _)| value.into()).collect();
    golden.addresses = addresses.into_iter().map(|(value, _)| value).collect();
    golden.identifiers = identifiers
        .into_iter()
        .map(|((kind, system, value), _)| (kind, system.into(), value.into()))
        .collect();
    golden.provenance = provenance;
    golden
}

fn display_address(address: &idic_matching::record::NormalizedAddress) -> RawAddress {
    RawAddress {
        street_number: address.street_number.to_string(),
        street: address.street.to_string(),
        address_line2: address.unit.to_string(),
        locality: address.locality.to_string(),
        postcode: address.postcode.to_string(),
        region: address.region.to_string(),
        country: address.country.to_string(),
    }
}
