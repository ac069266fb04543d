//! Records and an engine for the engine's own tests: a few people whose records the
//! default parameters link or keep apart, and helpers to write them and read the
//! customers back. No server, no store.

#![allow(dead_code)] // each test file uses its own part

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use idic_engine::{
    Engine, IncomingRecord, MatchThreshold, PackedContent, RecordContent, RecordEntry, RecordKey,
    RecordRow, Settings,
};
use idic_matching::features::Features;
use idic_matching::normalize::{NormalizeOptions, normalize_record};
use idic_matching::params::MatchParameters;
use idic_matching::record::{RawAddress, RawRecord};

/// The threshold every test runs with, in bits (the service's default is a probability).
pub const THRESHOLD_BITS: f64 = 15.0;

pub fn settings() -> Settings {
    Settings {
        threshold: MatchThreshold::Bits(THRESHOLD_BITS),
        source_trust: BTreeMap::new(),
    }
}

pub fn engine() -> Engine {
    Engine::new(settings(), MatchParameters::default())
}

/// One of five people. 0 (Ann Lee) and 3 (Beth Lee) are a household: same address and
/// phone, other given names and birth dates.
pub fn person(index: usize) -> RawRecord {
    let (given, family, dob, email, phone, number, street) = match index {
        0 => (
            "Ann",
            "Lee",
            "1984-03-02",
            "ann.lee@example.com",
            "+1 217 555 0148",
            "12",
            "High Street",
        ),
        1 => (
            "Robert",
            "Stone",
            "1979-11-20",
            "bob.stone@example.net",
            "+1 217 555 0199",
            "40",
            "Oak Avenue",
        ),
        2 => (
            "Carla",
            "Diaz",
            "1990-06-15",
            "carla.diaz@example.org",
            "+1 217 555 0123",
            "7",
            "Elm Road",
        ),
        3 => (
            "Beth",
            "Lee",
            "1986-09-30",
            "beth.lee@example.com",
            "+1 217 555 0148",
            "12",
            "High Street",
        ),
        _ => (
            "Dmitri",
            "Orlov",
            "1972-01-09",
            "d.orlov@example.com",
            "+1 217 555 0177",
            "3",
            "Pine Lane",
        ),
    };
    RawRecord {
        given_name: given.to_owned(),
        family_name: family.to_owned(),
        date_of_birth: dob.to_owned(),
        emails: vec![email.to_owned()],
        phones: vec![phone.to_owned()],
        addresses: vec![RawAddress {
            street_number: number.to_owned(),
            street: street.to_owned(),
            locality: "Springfield".to_owned(),
            postcode: "62704".to_owned(),
            region: "IL".to_owned(),
            country: "US".to_owned(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// The person's name and e-mail only.
pub fn name_and_email(index: usize) -> RawRecord {
    let mut raw = person(index);
    raw.phones.clear();
    raw.addresses.clear();
    raw.date_of_birth.clear();
    raw
}

/// The person's name and phone only.
pub fn name_and_phone(index: usize) -> RawRecord {
    let mut raw = person(index);
    raw.emails.clear();
    raw.addresses.clear();
    raw.date_of_birth.clear();
    raw
}

/// A record of the Lee household with no given name and both e-mails: it links to Ann
/// and to Beth (25 bits each), who are clearly two persons.
pub fn household_bridge() -> RawRecord {
    let mut raw = name_and_email(0);
    raw.given_name.clear();
    raw.emails.push("beth.lee@example.com".to_owned());
    raw
}

pub fn features(raw: &RawRecord) -> Features {
    let normalized = normalize_record(raw, &NormalizeOptions::default()).expect("valid record");
    Features::of(&normalized)
}

/// A stored row as the engine holds it, as a load and a follower's replay make it.
pub fn entry_of(row: &RecordRow) -> RecordEntry {
    RecordEntry {
        key: row.key.clone(),
        channel: row.channel,
        observed_at: row.observed_at,
        content: PackedContent::pack(&row.content),
        features: features(&row.content.record),
        customer: row.customer.clone(),
    }
}

pub fn key(name: &str) -> RecordKey {
    RecordKey::new("crm", name)
}

pub fn incoming(key: &RecordKey, raw: RawRecord, observed_at: i64) -> IncomingRecord {
    IncomingRecord {
        key: key.clone(),
        channel: 1,
        observed_at,
        features: features(&raw),
        content: RecordContent {
            record: raw,
            attributes: BTreeMap::new(),
        },
    }
}

/// Writes a record at `now` (its observed time too) and returns its customer.
pub fn upsert(engine: &mut Engine, name: &str, raw: RawRecord, now: i64) -> Arc<str> {
    let (result, _) = engine.upsert(incoming(&key(name), raw, now), false, now);
    result.customer_id
}

pub fn customer_of(engine: &Engine, name: &str) -> Arc<str> {
    engine
        .record(&key(name))
        .expect("the record exists")
        .1
        .customer
        .clone()
}

/// The record names of a customer (by id or alias), sorted.
pub fn names_of(engine: &Engine, customer_id: &str) -> BTreeSet<String> {
    let customer = engine
        .surviving_id(customer_id)
        .expect("the customer exists");
    engine
        .members(customer)
        .into_iter()
        .map(|entry| entry.key.source_record_id.clone())
        .collect()
}

/// The customers as sets of record names, whatever their ids: what order independence
/// compares.
pub fn partition(engine: &Engine) -> BTreeSet<BTreeSet<String>> {
    let mut by_customer: BTreeMap<Arc<str>, BTreeSet<String>> = BTreeMap::new();
    for (key, customer) in engine.assignments() {
        by_customer
            .entry(customer)
            .or_default()
            .insert(key.source_record_id);
    }
    by_customer.into_values().collect()
}

pub fn assert_invariants(engine: &Engine, after: &str) {
    if let Err(violations) = engine.check_invariants() {
        panic!("after {after}: {violations}");
    }
}
