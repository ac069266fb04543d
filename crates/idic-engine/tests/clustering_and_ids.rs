//! Clustering and customer ids, engine-level: records that match join one customer,
//! others stay apart; a record that links two customers joins them and the older
//! customer's id survives; a record that changes splits its customer and the larger
//! part keeps the id; ids are never handed out twice.

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;

use idic_engine::{ChangeKind, Engine, Outcome};
use support::*;

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|name| (*name).to_owned()).collect()
}

#[test]
fn records_that_match_join_and_others_stay_apart() {
    let mut engine = engine();
    let ann = upsert(&mut engine, "ann", person(0), 1_000);
    assert_eq!(
        upsert(&mut engine, "ann-mail", name_and_email(0), 2_000),
        ann
    );
    let bob = upsert(&mut engine, "bob", person(1), 3_000);
    let dmitri = upsert(&mut engine, "dmitri", person(4), 4_000);
    // Ann's household: same address and phone (22 bits of agreement), yet another person.
    let beth = upsert(&mut engine, "beth", person(3), 5_000);
    let ids: BTreeSet<&Arc<str>> = [&ann, &bob, &dmitri, &beth].into_iter().collect();
    assert_eq!(ids.len(), 4, "four persons, four customers");
    assert_eq!(names_of(&engine, &ann), names(&["ann", "ann-mail"]));
    assert_eq!(engine.customer_count(), 4);
    assert_invariants(&engine, "the upserts");
}

/// Canonical clustering: a record linked to both members of a household joins one of
/// them (by the clustering's rules, not by arrival), never both.
#[test]
fn a_record_linking_a_household_does_not_chain_it_into_one_customer() {
    for order in [["ann", "beth", "bridge"], ["bridge", "beth", "ann"]] {
        let mut engine = engine();
        for (step, name) in order.iter().enumerate() {
            let raw = match *name {
                "ann" => person(0),
                "beth" => person(3),
                _ => household_bridge(),
            };
            upsert(&mut engine, name, raw, 1_000 * (step as i64 + 1));
        }
        let explained = engine.explain_pair(&key("bridge"), &key("beth")).unwrap();
        assert!(explained.above_threshold, "the bridge links to Beth too");
        assert_ne!(
            customer_of(&engine, "ann"),
            customer_of(&engine, "beth"),
            "{order:?}"
        );
        assert_eq!(
            partition(&engine),
            [names(&["ann", "bridge"]), names(&["beth"])]
                .into_iter()
                .collect(),
            "{order:?}"
        );
        assert_invariants(&engine, "the household");
    }
}

#[test]
fn an_identical_rewrite_changes_nothing() {
    let mut engine = engine();
    let ann = upsert(&mut engine, "ann", person(0), 1_000);
    let (result, changes) = engine.upsert(incoming(&key("ann"), person(0), 1_000), false, 2_000);
    assert_eq!(result.outcome, Outcome::Unchanged);
    assert_eq!(result.customer_id, ann);
    assert!(changes.is_empty(), "nothing to store: {changes:?}");
}

/// The name-and-e-mail and the name-and-phone records of one person do not link (16
/// bits, kept apart); the full record links both, so all three become one customer.
#[test]
fn a_record_linking_two_customers_joins_them_and_the_older_customer_survives() {
    let mut engine = engine();
    // Written first, so its id sorts first, but created later (`now` is the creation
    // time): the survivor is chosen by age, not by id.
    let by_phone = upsert(&mut engine, "ann-phone", name_and_phone(0), 5_000);
    assert_eq!(
        upsert(&mut engine, "ann-phone-2", name_and_phone(0), 5_500),
        by_phone
    );
    let by_mail = upsert(&mut engine, "ann-mail", name_and_email(0), 1_000);
    assert_ne!(by_phone, by_mail, "no link between them yet");
    assert!(by_phone < by_mail);

    let (result, changes) = engine.upsert(incoming(&key("ann"), person(0), 9_000), false, 9_000);
    assert_eq!(result.outcome, Outcome::Merged);
    assert_eq!(
        result.customer_id, by_mail,
        "the older customer survives, though the other has more records"
    );
    assert_eq!(result.merged, vec![by_phone.clone()]);
    assert_eq!(result.absorbed, 1);
    assert_eq!(
        names_of(&engine, &by_mail),
        names(&["ann", "ann-mail", "ann-phone", "ann-phone-2"])
    );
    // The absorbed id is an alias of the survivor from now on.
    let survivor = engine.surviving_id(&by_phone).expect("the alias resolves");
    assert_eq!(survivor.id, by_mail);
    assert!(survivor.aliases.contains(&by_phone));
    let merged: Vec<_> = changes
        .events
        .iter()
        .filter(|event| event.kind == ChangeKind::Merged)
        .collect();
    assert_eq!(merged.len(), 1);
    assert_eq!(merged[0].customer_id, by_mail.to_string());
    assert_eq!(merged[0].absorbed_ids, vec![by_phone.to_string()]);
    assert_invariants(&engine, "the merge");
}

/// A three-record chain held by its middle record falls apart when the middle record
/// changes: its ends do not link each other.
#[test]
fn a_record_that_changes_splits_its_customer_and_the_larger_part_keeps_the_id() {
    let mut engine = engine();
    let ann = upsert(&mut engine, "ann", person(0), 1_000);
    upsert(&mut engine, "ann-copy", person(0), 2_000);
    upsert(&mut engine, "ann-mail", name_and_email(0), 3_000);
    assert_eq!(names_of(&engine, &ann).len(), 3);

    // The earliest observed record becomes another person: it leaves, alone.
    let (result, changes) = engine.upsert(incoming(&key("ann"), person(1), 0), false, 4_000);
    assert_eq!(result.outcome, Outcome::Created);
    assert_ne!(result.customer_id, ann, "the smaller part gets a new id");
    assert_eq!(names_of(&engine, &ann), names(&["ann-copy", "ann-mail"]));
    let split: Vec<_> = changes
        .events
        .iter()
        .filter(|event| event.kind == ChangeKind::Split)
        .collect();
    assert_eq!(split.len(), 1, "one SPLIT event: {:?}", changes.events);
    assert_eq!(split[0].customer_id, ann.to_string());
    assert_eq!(split[0].new_ids, vec![result.customer_id.to_string()]);
    assert_invariants(&engine, "the split");
}

#[test]
fn a_split_into_equal_parts_keeps_the_id_with_the_earliest_observed_record() {
    // The changed record is the later one: it leaves.
    let mut engine = engine();
    let ann = upsert(&mut engine, "ann-mail", name_and_email(0), 1_000);
    assert_eq!(upsert(&mut engine, "ann", person(0), 2_000), ann);
    let (result, _) = engine.upsert(incoming(&key("ann"), person(1), 0), false, 3_000);
    assert_ne!(result.customer_id, ann);
    assert_eq!(customer_of(&engine, "ann-mail"), ann);

    // The changed record is the earlier one (a rewrite keeps its observed time): it
    // keeps the id, and the record that did not change gets a new one.
    let mut engine = support::engine();
    let ann = upsert(&mut engine, "ann-mail", name_and_email(0), 1_000);
    assert_eq!(upsert(&mut engine, "ann", person(0), 2_000), ann);
    let (result, _) = engine.upsert(incoming(&key("ann-mail"), person(1), 0), false, 3_000);
    assert_eq!(result.customer_id, ann);
    assert_ne!(customer_of(&engine, "ann"), ann);
    assert_invariants(&engine, "the split");
}

#[test]
fn a_chain_is_clustered_again_when_its_bridge_leaves() {
    let mut engine = engine();
    let mail = upsert(&mut engine, "ann-mail", name_and_email(0), 1_000);
    upsert(&mut engine, "ann-phone", name_and_phone(0), 2_000);
    upsert(&mut engine, "ann", person(0), 3_000);
    assert_eq!(
        engine.customer_count(),
        1,
        "the full record bridges the two"
    );
    // The bridge becomes another person: the ends do not link each other, so three
    // customers; all parts are one record, so the earliest observed keeps the id.
    engine.upsert(incoming(&key("ann"), person(4), 0), false, 4_000);
    assert_eq!(engine.customer_count(), 3);
    assert_eq!(customer_of(&engine, "ann-mail"), mail);
    assert_invariants(&engine, "the bridge left");
}

/// Every id a write hands out is new: not a live customer, not an alias, not a tombstone.
#[test]
fn customer_ids_are_never_reused() {
    let mut engine = engine();
    let mut seen: BTreeSet<Arc<str>> = BTreeSet::new();
    let mut now = 1_000;
    let mut write = |engine: &mut Engine, name: &str, raw, seen: &mut BTreeSet<Arc<str>>| {
        now += 1_000;
        let before: BTreeSet<Arc<str>> =
            engine.assignments().into_iter().map(|(_, id)| id).collect();
        let (result, _) = engine.upsert(incoming(&key(name), raw, now), false, now);
        let after: BTreeSet<Arc<str>> =
            engine.assignments().into_iter().map(|(_, id)| id).collect();
        for new in after.difference(&before) {
            assert!(seen.insert(new.clone()), "{new} was handed out before");
        }
        result.customer_id
    };
    let mail = write(&mut engine, "ann-mail", name_and_email(0), &mut seen);
    let phone = write(&mut engine, "ann-phone", name_and_phone(0), &mut seen);
    write(&mut engine, "ann", person(0), &mut seen);
    assert!(engine.surviving_id(&phone).is_some_and(|c| c.id == mail));
    // The bridge leaves: the phone record does not get its old (absorbed) id back.
    write(&mut engine, "ann", person(1), &mut seen);
    assert_ne!(customer_of(&engine, "ann-phone"), phone);
    assert_eq!(
        engine.surviving_id(&phone).map(|c| c.id.clone()),
        Some(mail.clone()),
        "an absorbed id stays an alias of its survivor"
    );
    // Erased: a new record of the same person is a new customer.
    engine.erase(&mail, "steward", "test", 50_000).unwrap();
    let again = write(&mut engine, "ann-mail-2", name_and_email(0), &mut seen);
    assert_ne!(again, mail);
    assert!(engine.surviving_id(&mail).unwrap().erased_at.is_some());
    assert_invariants(&engine, "the writes");
}

/// Brian Lee's records with a slip each in the given name ("Brjian", "rian", with other
/// e-mails) are clearly two persons to each other, as twins would be; "Brian", which
/// each agrees with, explains the difference, so all three are one customer in every
/// arrival order. A twin of the household stays a customer of its own beside them: the
/// number is the household's landline, which the mother's records carry too (at a
/// number only Brian's records carried, the twin would be his record with the given
/// name replaced; see tests/phone_holders.rs).
#[test]
fn records_apart_by_one_slip_each_join_through_the_record_they_both_agree_with() {
    let brian = |given: &str, email: &str| {
        let mut raw = person(0);
        raw.given_name = given.to_owned();
        raw.date_of_birth = "2000-02-05".to_owned();
        raw.emails = vec![email.to_owned()];
        raw
    };
    let records = [
        ("brian", brian("Brian", "brian.lee@example.com")),
        ("slip", brian("Brjian", "b.lee@example.net")),
        ("other-slip", brian("rian", "lee2000@example.org")),
        ("twin", brian("Joseph", "joseph.lee@example.com")),
        ("mother", person(3)),
    ];
    for order in [[0, 1, 2, 3, 4], [1, 2, 4, 3, 0], [4, 3, 2, 1, 0]] {
        let mut engine = engine();
        for (step, index) in order.iter().enumerate() {
            let (name, raw) = &records[*index];
            upsert(&mut engine, name, raw.clone(), 1_000 * (step as i64 + 1));
        }
        let slips = engine
            .explain_pair(&key("slip"), &key("other-slip"))
            .unwrap();
        assert!(
            slips.score.separation(THRESHOLD_BITS).is_some(),
            "the slips alone are two persons: {slips:?}"
        );
        // The explanation says which record holds them together.
        assert!(
            slips.notes.iter().any(
                |note| note.contains("record crm/brian is apart from neither")
                    && note.contains("given name")
            ),
            "{:?}",
            slips.notes
        );
        assert_eq!(
            partition(&engine),
            [
                names(&["brian", "slip", "other-slip"]),
                names(&["twin"]),
                names(&["mother"])
            ]
            .into_iter()
            .collect(),
            "{order:?}"
        );
        assert_invariants(&engine, "the slips");
    }
}
