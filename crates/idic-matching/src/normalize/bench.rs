//! A micro-benchmark of `normalize_record` over synthetic records; run it in release
//! mode with `cargo test --release -p idic-matching -- --ignored --nocapture`.

use std::time::Instant;

use super::*;
use crate::record::{IdKind, RawIdentifier};

const RECORDS: usize = 100_000;

const GIVEN: [&str; 8] = [
    "Zoë",
    "William",
    "Bob",
    "José",
    "Anne-Marie",
    "Dr. John",
    "Peggy",
    "Łukasz",
];
const FAMILY: [&str; 8] = [
    "O'Brien",
    "Müller",
    "Smith Jr.",
    "García",
    "Nguyen",
    "van der Berg",
    "Øster",
    "Kowalski",
];
const STREETS: [&str; 6] = [
    "North High Street",
    "Park Avenue, Apt 4B",
    "Hauptstraße",
    "Sunset Blvd. #12",
    "5th Avenue",
    "Elm Road",
];
const AREA_CODES: [u32; 8] = [415, 212, 312, 617, 206, 303, 404, 512];

/// A small deterministic generator, so that runs compare and no dependency is needed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.next() % items.len()]
    }
}

fn synthetic_record(random: &mut Lcg) -> RawRecord {
    let given = random.pick(&GIVEN);
    let family = random.pick(&FAMILY);
    let serial = random.next() % 10_000;
    RawRecord {
        given_name: given.to_owned(),
        family_name: family.to_owned(),
        date_of_birth: format!(
            "19{:02}-{:02}-{:02}",
            40 + serial % 60,
            1 + serial % 12,
            1 + serial % 28
        ),
        emails: vec![
            format!(
                "{}.{}+{serial}@GMail.com",
                fold_name(given).replace(' ', ""),
                serial % 97
            ),
            format!("user{serial}@example.org"),
        ],
        phones: vec![format!(
            "({}) {}-{:04}",
            AREA_CODES[random.next() % AREA_CODES.len()],
            200 + random.next() % 700,
            serial
        )],
        addresses: vec![RawAddress {
            street: format!("{} {}", 1 + serial % 500, random.pick(&STREETS)),
            locality: "Springfield".to_owned(),
            postcode: format!("{:05}", 10_000 + serial),
            region: "Illinois".to_owned(),
            ..RawAddress::default()
        }],
        identifiers: vec![RawIdentifier {
            kind: IdKind::Loyalty,
            system: String::new(),
            value: format!("lc-{serial:06}"),
        }],
        ..RawRecord::default()
    }
}

#[test]
#[ignore = "benchmark: run in release mode with --ignored --nocapture"]
fn normalize_record_throughput() {
    let mut random = Lcg(42);
    let records: Vec<RawRecord> = (0..RECORDS)
        .map(|_| synthetic_record(&mut random))
        .collect();
    let options = NormalizeOptions::default();
    // Warm the lazily built tables and the phone library's regex cache.
    for record in records.iter().take(1_000) {
        let _ = normalize_record(record, &options);
    }

    let started = Instant::now();
    let mut accepted = 0usize;
    for record in &records {
        if std::hint::black_box(normalize_record(record, &options)).is_ok() {
            accepted += 1;
        }
    }
    let elapsed = started.elapsed();
    let per_record = elapsed / RECORDS as u32;
    println!(
        "normalize_record: {RECORDS} records in {elapsed:?}: {per_record:?} per record, {:.0} records/s, {accepted} accepted",
        RECORDS as f64 / elapsed.as_secs_f64()
    );

    // The phone library is the largest share; say how large.
    let started = Instant::now();
    for record in &records {
        for phone in &record.phones {
            let _ = std::hint::black_box(e164_phone(phone, &options.default_region));
        }
    }
    println!(
        "of which e164_phone: {:?} per record",
        started.elapsed() / RECORDS as u32
    );
    assert!(
        accepted * 10 >= RECORDS * 9,
        "most synthetic records should be valid"
    );
}
