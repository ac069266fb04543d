//! The engine's whole state as one serde value, and back: the payload of a snapshot
//! (written to disk by the identity service), so that a start reads it instead of
//! normalizing every stored record again. Records keep their features and packed
//! content; the key and block indexes are rebuilt (hashing only), which keeps the
//! image small and the indexes equal to what a load from the tables builds.
//!
//! Written from borrowed state (no copy of the engine while the caller holds its
//! lock), read into owned values that [`Engine::from_image`] checks before it trusts
//! them: an image that names records, customers or links out of range, or a key
//! twice, is refused, never half-loaded.

use std::sync::Arc;

use idic_matching::blocking::block_keys;
use idic_matching::features::Features;
use idic_matching::params::MatchParameters;
use rustc_hash::FxHashMap;
use serde::ser::{SerializeSeq, SerializeTuple};
use serde::{Deserialize, Serialize, Serializer};

use super::records::{PackedContent, RecordContent, RecordEntry, RecordKey};
use super::{Customer, Engine, LinkKind, LinkTo, Settings};

/// Why an image cannot become an engine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the engine image is inconsistent: {0}")]
pub struct ImageError(String);

fn refuse<T>(why: impl Into<String>) -> Result<T, ImageError> {
    Err(ImageError(why.into()))
}

/// A customer as the image holds it; its id is `ids[index]` at the same index.
#[derive(Debug, Deserialize)]
struct ImageCustomer {
    created_at: i64,
    updated_at: i64,
    erased_at: Option<i64>,
    members: Vec<u32>,
    aliases: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct ImageRecord {
    slot: u32,
    source_system: String,
    source_record_id: String,
    /// Index into the image's ids.
    customer: u32,
    channel: i32,
    observed_at: i64,
    content: Vec<u8>,
    features: Features,
}

/// A link as the image holds it: the other record, `LinkKind` as stored, the weight.
type ImageLink = (u32, u8, f32);

/// The engine's state as read back. Field order is the wire order of
/// [`Engine::image`]: postcard is not self-describing, so both must change together
/// (and the snapshot's format version with them).
#[derive(Debug, Deserialize)]
pub struct EngineImage {
    next_event_id: u64,
    record_slots: u32,
    link_slots: u32,
    /// Customer ids: the customers' first (in `customers` order), then ids that
    /// records or aliases name without a customer of their own.
    ids: Vec<String>,
    customers: Vec<ImageCustomer>,
    records: Vec<ImageRecord>,
    /// Each record's links as the engine holds them (both directions), non-empty only.
    links: Vec<(u32, Vec<ImageLink>)>,
    aliases: Vec<(String, u32)>,
    blocked: Vec<(u32, u32)>,
}

impl EngineImage {
    pub fn record_count(&self) -> usize {
        self.records.len()
    }
}

/// A sequence of known length produced on demand (postcard needs the length first).
struct Seq<F>(usize, F);

impl<F, I> Serialize for Seq<F>
where
    F: Fn() -> I,
    I: Iterator,
    I::Item: Serialize,
{
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0))?;
        for item in (self.1)() {
            seq.serialize_element(&item)?;
        }
        seq.end()
    }
}

/// The engine, borrowed, serializing as an [`EngineImage`].
pub struct ImageOf<'a> {
    engine: &'a Engine,
    /// Customer ids in image order.
    ids: Vec<&'a str>,
    /// Customers in image order (the first `customers.len()` ids).
    customers: Vec<&'a Customer>,
    /// The id index of every live record's customer, in slot order.
    customer_of: Vec<u32>,
    /// The id index of every alias's target, in `aliases` order.
    alias_targets: Vec<(&'a str, u32)>,
}

impl Engine {
    /// The engine's state, ready to serialize (see [`EngineImage`]). Costs one pass
    /// over the customers and records to number customer ids; the records themselves
    /// are read while serializing.
    pub fn image(&self) -> ImageOf<'_> {
        let customers: Vec<&Customer> = self
            .customers
            .values()
            .map(|customer| &**customer)
            .collect();
        let mut ids: Vec<&str> = customers.iter().map(|customer| &*customer.id).collect();
        let mut index: FxHashMap<&str, u32> = FxHashMap::default();
        index.reserve(ids.len());
        for (position, id) in ids.iter().enumerate() {
            index.insert(id, position as u32);
        }
        let mut customer_of = Vec::with_capacity(self.by_key.len());
        for entry in self.records.iter().flatten() {
            customer_of.push(id_index(&entry.customer, &mut index, &mut ids));
        }
        let alias_targets = self
            .aliases
            .iter()
            .map(|(alias, target)| (&**alias, id_index(target, &mut index, &mut ids)))
            .collect();
        ImageOf {
            engine: self,
            ids,
            customers,
            customer_of,
            alias_targets,
        }
    }

    /// Builds an engine from an image, with the configured settings and the saved
    /// parameters. Rebuilds the key and block indexes from the records' keys and
    /// features.
    pub fn from_image(
        settings: Settings,
        params: MatchParameters,
        image: EngineImage,
    ) -> Result<Engine, ImageError> {
        let mut engine = Engine::new(settings, params);
        let record_slots = image.record_slots as usize;
        let link_slots = image.link_slots as usize;
        let ids: Vec<Arc<str>> = image.ids.into_iter().map(Arc::from).collect();
        if image.customers.len() > ids.len() {
            return refuse("more customers than customer ids");
        }
        let id_at = |index: u32| -> Result<Arc<str>, ImageError> {
            match ids.get(index as usize) {
                Some(id) => Ok(id.clone()),
                None => refuse(format!("customer id {index} out of range")),
            }
        };
        engine.records.resize_with(record_slots, || None);
        engine.links.resize_with(link_slots, Vec::new);
        for record in image.records {
            engine.restore_record(record, &id_at)?;
        }
        for (position, customer) in image.customers.into_iter().enumerate() {
            let id = ids[position].clone();
            if customer
                .members
                .iter()
                .any(|slot| *slot as usize >= record_slots)
            {
                return refuse(format!("customer {id} lists a record out of range"));
            }
            let restored = Customer {
                id: id.clone(),
                created_at: customer.created_at,
                updated_at: customer.updated_at,
                members: customer.members,
                aliases: customer.aliases.into_iter().map(Arc::from).collect(),
                erased_at: customer.erased_at,
            };
            if engine
                .customers
                .insert(id.clone(), Box::new(restored))
                .is_some()
            {
                return refuse(format!("customer {id} twice"));
            }
        }
        for (slot, links) in image.links {
            let Some(held) = engine.links.get_mut(slot as usize) else {
                return refuse(format!("links of record {slot} out of range"));
            };
            if links
                .iter()
                .any(|(other, _, _)| *other as usize >= link_slots)
            {
                return refuse(format!("a link of record {slot} out of range"));
            }
            *held = links
                .into_iter()
                .map(|(other, kind, weight)| LinkTo {
                    other,
                    kind: LinkKind::from_stored(i64::from(kind)),
                    weight,
                })
                .collect();
        }
        for (alias, target) in image.aliases {
            engine.aliases.insert(Arc::from(alias), id_at(target)?);
        }
        for (a, b) in image.blocked {
            if a as usize >= record_slots || b as usize >= record_slots {
                return refuse("a steward block out of range");
            }
            engine.blocked.insert(super::ordered(a, b));
        }
        engine.next_event_id = image.next_event_id.max(1);
        Ok(engine)
    }

    /// Puts one image record in its slot and files it under its key and blocks.
    fn restore_record(
        &mut self,
        record: ImageRecord,
        id_at: &dyn Fn(u32) -> Result<Arc<str>, ImageError>,
    ) -> Result<(), ImageError> {
        let slot = record.slot as usize;
        match self.records.get(slot) {
            None => return refuse(format!("record {slot} out of range")),
            Some(Some(_)) => return refuse(format!("record {slot} twice")),
            Some(None) => {}
        }
        // Unpacking trusts its bytes; a snapshot's checksum does not vouch for who
        // wrote them, so each content is decoded once here.
        if postcard::from_bytes::<RecordContent>(&record.content).is_err() {
            return refuse(format!("record {slot} has unreadable content"));
        }
        let key = RecordKey::new(record.source_system, record.source_record_id);
        if self.by_key.get(&key, &self.records).is_some() {
            return refuse(format!("record {slot} repeats a key"));
        }
        for block in block_keys(&record.features) {
            self.blocks.insert(block, record.slot);
        }
        self.records[slot] = Some(RecordEntry {
            key,
            channel: record.channel,
            observed_at: record.observed_at,
            content: PackedContent(record.content.into_boxed_slice()),
            features: record.features,
            customer: id_at(record.customer)?,
        });
        self.by_key.insert(record.slot, &self.records);
        Ok(())
    }
}

/// The index of `id` among the image's ids, adding it when no customer holds it.
fn id_index<'a>(
    id: &'a Arc<str>,
    index: &mut FxHashMap<&'a str, u32>,
    ids: &mut Vec<&'a str>,
) -> u32 {
    *index.entry(&**id).or_insert_with(|| {
        ids.push(id);
        (ids.len() - 1) as u32
    })
}

impl Serialize for ImageOf<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let engine = self.engine;
        let mut tuple = serializer.serialize_tuple(10)?;
        tuple.serialize_element(&engine.next_event_id)?;
        tuple.serialize_element(&(engine.records.len() as u32))?;
        tuple.serialize_element(&(engine.links.len() as u32))?;
        tuple.serialize_element(&self.ids)?;
        tuple.serialize_element(&Seq(self.customers.len(), || {
            self.customers.iter().map(|customer| {
                (
                    customer.created_at,
                    customer.updated_at,
                    customer.erased_at,
                    &customer.members,
                    Seq(customer.aliases.len(), || {
                        customer.aliases.iter().map(|alias| &**alias)
                    }),
                )
            })
        }))?;
        tuple.serialize_element(&Seq(self.customer_of.len(), || {
            engine
                .records
                .iter()
                .enumerate()
                .filter_map(|(slot, entry)| Some((slot as u32, entry.as_ref()?)))
                .zip(&self.customer_of)
                .map(|((slot, entry), customer)| {
                    (
                        slot,
                        &entry.key.source_system,
                        &entry.key.source_record_id,
                        *customer,
                        entry.channel,
                        entry.observed_at,
                        &*entry.content.0,
                        &entry.features,
                    )
                })
        }))?;
        let linked = engine
            .links
            .iter()
            .filter(|links| !links.is_empty())
            .count();
        tuple.serialize_element(&Seq(linked, || {
            engine
                .links
                .iter()
                .enumerate()
                .filter(|(_, links)| !links.is_empty())
                .map(|(slot, links)| {
                    (
                        slot as u32,
                        Seq(links.len(), || {
                            links
                                .iter()
                                .map(|link| (link.other, link.kind as u8, link.weight))
                        }),
                    )
                })
        }))?;
        tuple.serialize_element(&self.alias_targets)?;
        tuple.serialize_element(&Seq(engine.blocked.len(), || engine.blocked.iter()))?;
        tuple.end()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use idic_matching::normalize::{NormalizeOptions, normalize_record};
    use idic_matching::record::RawRecord;

    use super::*;
    use crate::MatchThreshold;
    use crate::records::IncomingRecord;

    fn settings() -> Settings {
        Settings {
            threshold: MatchThreshold::Bits(15.0),
            source_trust: BTreeMap::new(),
        }
    }

    fn person(given: &str, family: &str, email: &str) -> RawRecord {
        RawRecord {
            given_name: given.to_owned(),
            family_name: family.to_owned(),
            emails: vec![email.to_owned()],
            date_of_birth: "1980-02-03".to_owned(),
            ..Default::default()
        }
    }

    fn write(engine: &mut Engine, system: &str, id: &str, raw: RawRecord, now: i64) {
        let normalized = normalize_record(&raw, &NormalizeOptions::default()).unwrap();
        let incoming = IncomingRecord {
            key: RecordKey::new(system, id),
            channel: 1,
            observed_at: now,
            features: Features::of(&normalized),
            content: RecordContent {
                record: raw,
                attributes: [("tier".to_owned(), "gold".to_owned())].into(),
            },
        };
        engine.upsert(incoming, true, now);
    }

    /// Records, merges, an unmerge with blocks, an erasure and an updated record.
    fn busy_engine() -> Engine {
        let mut engine = Engine::new(settings(), MatchParameters::default());
        write(
            &mut engine,
            "crm",
            "1",
            person("Ann", "Lee", "ann@x.org"),
            1,
        );
        write(
            &mut engine,
            "web",
            "1",
            person("Ann", "Lee", "ann@x.org"),
            2,
        );
        write(
            &mut engine,
            "crm",
            "2",
            person("Bob", "Stone", "bob@y.org"),
            3,
        );
        write(
            &mut engine,
            "crm",
            "3",
            person("Cy", "Twain", "cy@z.org"),
            4,
        );
        write(&mut engine, "crm", "4", person("Di", "Park", "di@w.org"), 5);
        let ann = engine
            .record(&RecordKey::new("crm", "1"))
            .unwrap()
            .1
            .customer
            .clone();
        let bob = engine
            .record(&RecordKey::new("crm", "2"))
            .unwrap()
            .1
            .customer
            .clone();
        let cy = engine
            .record(&RecordKey::new("crm", "3"))
            .unwrap()
            .1
            .customer
            .clone();
        engine
            .merge(&[ann.to_string(), bob.to_string()], "steward", "same", 6)
            .unwrap();
        engine
            .unmerge(&[RecordKey::new("crm", "2")], true, "steward", "not", 7)
            .unwrap();
        engine.erase(&cy, "dpo", "request", 8).unwrap();
        write(
            &mut engine,
            "crm",
            "4",
            person("Di", "Parker", "di@w.org"),
            9,
        );
        engine.check_invariants().unwrap();
        engine
    }

    fn round_trip(engine: &Engine) -> Engine {
        let bytes = postcard::to_allocvec(&engine.image()).unwrap();
        let image: EngineImage = postcard::from_bytes(&bytes).unwrap();
        Engine::from_image(settings(), MatchParameters::default(), image).unwrap()
    }

    /// Key, channel, observed at, packed content, features, customer.
    type RecordState = (RecordKey, i32, i64, Vec<u8>, Features, String);
    /// Created, updated, erased, members, aliases.
    type CustomerState = (i64, i64, Option<i64>, Vec<u32>, Vec<String>);

    /// Everything the engine holds, in an order-free form.
    #[derive(Debug, PartialEq)]
    struct State {
        records: Vec<Option<RecordState>>,
        links: Vec<Vec<(u32, u8, u32)>>,
        customers: BTreeMap<String, CustomerState>,
        aliases: BTreeMap<String, String>,
        blocked: BTreeSet<(u32, u32)>,
        blocks: BTreeMap<String, Vec<u32>>,
        keys: Vec<Option<u32>>,
        next_event_id: u64,
    }

    fn state(engine: &Engine) -> State {
        State {
            records: engine
                .records
                .iter()
                .map(|entry| {
                    entry.as_ref().map(|entry| {
                        (
                            entry.key.clone(),
                            entry.channel,
                            entry.observed_at,
                            entry.content.0.to_vec(),
                            entry.features.clone(),
                            entry.customer.to_string(),
                        )
                    })
                })
                .collect(),
            links: engine
                .links
                .iter()
                .map(|links| {
                    links
                        .iter()
                        .map(|link| (link.other, link.kind as u8, link.weight.to_bits()))
                        .collect()
                })
                .collect(),
            customers: engine
                .customers
                .values()
                .map(|customer| {
                    (
                        customer.id.to_string(),
                        (
                            customer.created_at,
                            customer.updated_at,
                            customer.erased_at,
                            customer.members.clone(),
                            customer
                                .aliases
                                .iter()
                                .map(|alias| alias.to_string())
                                .collect(),
                        ),
                    )
                })
                .collect(),
            aliases: engine
                .aliases
                .iter()
                .map(|(alias, target)| (alias.to_string(), target.to_string()))
                .collect(),
            blocked: engine.blocked.iter().copied().collect(),
            blocks: engine
                .blocks
                .iter()
                .map(|(key, members)| {
                    let mut members = members.to_vec();
                    members.sort_unstable();
                    (format!("{key:?}"), members)
                })
                .collect(),
            keys: engine
                .records
                .iter()
                .map(|entry| {
                    entry
                        .as_ref()
                        .and_then(|entry| engine.by_key.get(&entry.key, &engine.records))
                })
                .collect(),
            next_event_id: engine.next_event_id,
        }
    }

    #[test]
    fn an_engine_survives_its_image_unchanged() {
        let engine = busy_engine();
        assert!(!engine.blocked.is_empty(), "the story blocks a pair");
        assert!(!engine.aliases.is_empty(), "the story leaves an alias");
        assert!(
            engine.records.iter().any(Option::is_none),
            "the story erases a record"
        );
        let restored = round_trip(&engine);
        assert_eq!(state(&restored), state(&engine));
        restored.check_invariants().unwrap();
        // And it goes on as the original would.
        let mut original = engine;
        let mut copy = restored;
        write(
            &mut original,
            "shop",
            "9",
            person("Ann", "Lee", "ann@x.org"),
            10,
        );
        write(
            &mut copy,
            "shop",
            "9",
            person("Ann", "Lee", "ann@x.org"),
            10,
        );
        assert_eq!(
            state(&copy).customers.len(),
            state(&original).customers.len()
        );
        assert_eq!(copy.assignments(), original.assignments());
    }

    #[test]
    fn a_cut_or_inconsistent_image_is_refused() {
        let engine = busy_engine();
        let bytes = postcard::to_allocvec(&engine.image()).unwrap();
        assert!(postcard::from_bytes::<EngineImage>(&bytes[..bytes.len() - 3]).is_err());
        let mut image: EngineImage = postcard::from_bytes(&bytes).unwrap();
        image.records[0].slot = image.record_slots + 5;
        let error = Engine::from_image(settings(), MatchParameters::default(), image).err();
        assert!(error.is_some_and(|error| error.to_string().contains("out of range")));
        let mut image: EngineImage = postcard::from_bytes(&bytes).unwrap();
        image.records[0].content = vec![0xff; 3];
        assert!(Engine::from_image(settings(), MatchParameters::default(), image).is_err());
        let mut image: EngineImage = postcard::from_bytes(&bytes).unwrap();
        let twin = image.records[0].source_record_id.clone();
        image.records[1].source_system = image.records[0].source_system.clone();
        image.records[1].source_record_id = twin;
        assert!(Engine::from_image(settings(), MatchParameters::default(), image).is_err());
    }
}
