//! A number that records share is personal evidence when no two of the records that
//! carry it are clearly two persons (the base says it is one person's mobile), and the
//! household's when some are (its landline). The engine reads that from the base, so
//! the customers follow the records present, whatever order they came in, and an
//! erasure that leaves one person at the number turns it back.

mod support;

use idic_matching::record::RawRecord;
use support::*;

/// Ann's record with the given name replaced ("Kate") and no e-mail: her birth date,
/// address and number, nothing else.
fn ann_renamed() -> RawRecord {
    let mut raw = person(0);
    raw.given_name = "Kate".to_owned();
    raw.emails.clear();
    raw
}

fn write_all(order: &[&str]) -> idic_engine::Engine {
    let mut engine = engine();
    for (step, name) in order.iter().enumerate() {
        let raw = match *name {
            "ann" => person(0),
            "kate" => ann_renamed(),
            _ => person(3),
        };
        upsert(&mut engine, name, raw, 1_000 * (step as i64 + 1));
    }
    assert_invariants(&engine, &format!("{order:?}"));
    engine
}

/// Ann and Kate's explanation: above the threshold or not, and its first note.
fn assert_explained(engine: &idic_engine::Engine, above: bool, note: &str) {
    let explained = engine.explain_pair(&key("ann"), &key("kate")).unwrap();
    assert_eq!(explained.above_threshold, above, "{explained:?}");
    assert!(
        explained.notes[0].starts_with(note),
        "{:?}",
        explained.notes
    );
}

#[test]
fn a_replaced_given_name_joins_at_a_number_only_one_person_carries() {
    for order in [["ann", "kate"], ["kate", "ann"]] {
        let engine = write_all(&order);
        assert_eq!(
            customer_of(&engine, "ann"),
            customer_of(&engine, "kate"),
            "{order:?}"
        );
        assert_explained(
            &engine,
            true,
            "the shared phone is carried only by records of one",
        );
    }
}

#[test]
fn once_a_household_member_carries_the_number_twins_stay_apart_in_every_order() {
    for order in [
        ["ann", "kate", "beth"],
        ["beth", "ann", "kate"],
        ["kate", "beth", "ann"],
    ] {
        let engine = write_all(&order);
        let customers = [
            customer_of(&engine, "ann"),
            customer_of(&engine, "kate"),
            customer_of(&engine, "beth"),
        ];
        assert_ne!(customers[0], customers[1], "{order:?}");
        assert_ne!(customers[0], customers[2], "{order:?}");
        assert_ne!(customers[1], customers[2], "{order:?}");
        assert_explained(
            &engine,
            false,
            "the shared phone is also carried by records of a",
        );
    }
}

#[test]
fn rewriting_or_erasing_the_household_member_turns_the_number_back() {
    let mut engine = write_all(&["ann", "kate", "beth"]);
    // Beth's record rewritten without the number.
    let mut moved_out = person(3);
    moved_out.phones.clear();
    upsert(&mut engine, "beth", moved_out, 10_000);
    assert_invariants(&engine, "the rewrite");
    assert_eq!(customer_of(&engine, "ann"), customer_of(&engine, "kate"));
    // Back at the number, then erased.
    upsert(&mut engine, "beth", person(3), 11_000);
    assert_ne!(customer_of(&engine, "ann"), customer_of(&engine, "kate"));
    let beth = customer_of(&engine, "beth");
    engine
        .erase(&beth, "test", "the customer asked", 12_000)
        .expect("erased");
    assert_invariants(&engine, "the erasure");
    assert_eq!(customer_of(&engine, "ann"), customer_of(&engine, "kate"));
}

/// A number that more than 24 records carry is a switchboard's or a placeholder, not
/// one person's, however alike its holders are.
#[test]
fn a_number_many_records_carry_is_no_ones() {
    let mut engine = engine();
    upsert(&mut engine, "kate", ann_renamed(), 1_000);
    for copy in 0..23 {
        upsert(
            &mut engine,
            &format!("ann-{copy:02}"),
            person(0),
            2_000 + copy,
        );
    }
    assert_eq!(customer_of(&engine, "ann-00"), customer_of(&engine, "kate"));
    // The 25th holder turns it.
    upsert(&mut engine, "ann-23", person(0), 3_000);
    assert_invariants(&engine, "the 25th holder");
    assert_ne!(customer_of(&engine, "ann-00"), customer_of(&engine, "kate"));
    assert_eq!(
        customer_of(&engine, "ann-00"),
        customer_of(&engine, "ann-23")
    );
}
