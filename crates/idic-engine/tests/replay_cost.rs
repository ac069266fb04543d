//! What a follower's replay of one large log entry costs, and how much of it is
//! normalizing the records (which the identity service does before taking the engine's
//! write lock) rather than the engine's bookkeeping (which holds the lock). A
//! measurement, not a check: `cargo test --release -p idic-engine --test replay_cost
//! -- --ignored --nocapture`.

mod support;

use std::collections::HashMap;
use std::time::Instant;

use idic_engine::{ChangeSet, RecordEntry};
use idic_matching::record::RawRecord;
use support::*;

const GIVEN: [&str; 8] = [
    "Ann", "Bob", "Carla", "Dmitri", "Eve", "Farid", "Gina", "Hugo",
];
const FAMILY: [&str; 6] = ["Lee", "Stone", "Diaz", "Orlov", "Nakamura", "Berg"];

fn generated(index: usize) -> RawRecord {
    let mut raw = person(index % 5);
    raw.given_name = GIVEN[index % GIVEN.len()].to_owned();
    raw.family_name = FAMILY[(index / 8) % FAMILY.len()].to_owned();
    raw.emails = vec![format!("person{index}@example.com")];
    raw.phones = vec![format!("+1 217 555 {:04}", index % 10_000)];
    raw.addresses[0].street_number = format!("{}", index % 997);
    // Mostly different persons, as in an import of a real base: few pairs link.
    raw.date_of_birth = format!(
        "{}-{:02}-{:02}",
        1940 + index % 60,
        1 + (index / 60) % 12,
        1 + (index / 720) % 28
    );
    raw
}

#[test]
#[ignore = "a measurement; run it in a release build"]
fn replaying_a_ten_thousand_record_entry() {
    let records = 10_000;
    let mut leader = engine();
    let mut entry = ChangeSet::default();
    for index in 0..records {
        let now = 1_000 + index as i64;
        let (_, changes) = leader.upsert(
            incoming(&key(&format!("r{index}")), generated(index), now),
            false,
            now,
        );
        entry.extend(changes);
    }

    // As before: normalizing inside the replay, under the lock.
    let mut follower = engine();
    let started = Instant::now();
    follower.replay(&entry, &mut |row| entry_of(row));
    let all_under_lock = started.elapsed();

    // As now: normalizing first, then the bookkeeping alone under the lock.
    let mut follower = engine();
    let started = Instant::now();
    let mut entries: HashMap<u32, RecordEntry> = entry
        .records
        .iter()
        .filter_map(|(id, row)| Some((*id, entry_of(row.as_ref()?))))
        .collect();
    let normalizing = started.elapsed();
    let started = Instant::now();
    follower.replay(&entry, &mut |row| {
        entries.remove(&row.record_id).expect("prepared")
    });
    let bookkeeping = started.elapsed();

    assert_eq!(follower.assignments().len(), records);
    eprintln!(
        "{records} records, {} links, {} customers in one entry: replay with normalizing {:.1} ms; \
         normalizing alone {:.1} ms, then the replay under the lock {:.1} ms",
        entry.links.len(),
        follower.customer_count(),
        all_under_lock.as_secs_f64() * 1e3,
        normalizing.as_secs_f64() * 1e3,
        bookkeeping.as_secs_f64() * 1e3,
    );
}
