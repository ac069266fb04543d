//! A steward's merge, unmerge (with and without a block) and erasure, engine-level:
//! what each promises and how the matcher treats their outcome afterwards.

mod support;

use std::collections::BTreeSet;

use idic_engine::{ChangeKind, EngineError};
use idic_matching::params::{MatchParameters, TermFrequencies};
use support::*;

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|name| (*name).to_owned()).collect()
}

#[test]
fn a_steward_merge_joins_different_persons_and_the_oldest_id_survives() {
    let mut engine = engine();
    let bob = upsert(&mut engine, "bob", person(1), 1_000);
    let dmitri = upsert(&mut engine, "dmitri", person(4), 2_000);
    let ids = [dmitri.to_string(), bob.to_string()];
    let (survivor, merged, changes) = engine.merge(&ids, "steward", "same person", 3_000).unwrap();
    assert_eq!(survivor, bob, "the oldest named customer survives");
    assert_eq!(merged, vec![dmitri.clone()]);
    assert_eq!(names_of(&engine, &bob), names(&["bob", "dmitri"]));
    assert_eq!(engine.surviving_id(&dmitri).unwrap().id, bob);
    let event = changes
        .events
        .iter()
        .find(|event| event.kind == ChangeKind::Merged)
        .expect("a MERGED event");
    assert_eq!(
        (event.actor.as_str(), event.reason.as_str()),
        ("steward", "same person")
    );
    // The steward vouched: a rewrite of one record does not undo the merge.
    engine.upsert(incoming(&key("dmitri"), person(4), 0), true, 4_000);
    assert_eq!(customer_of(&engine, "dmitri"), bob);
    assert_invariants(&engine, "the merge");
}

#[test]
fn a_merge_names_two_live_customers() {
    let mut engine = engine();
    let bob = upsert(&mut engine, "bob", person(1), 1_000);
    let carla = upsert(&mut engine, "carla", person(2), 2_000);
    let refused = |result: Result<_, EngineError>| match result {
        Err(EngineError::Precondition(_)) => "precondition",
        Err(EngineError::NotFound(_)) => "not found",
        Ok(_) => "merged",
    };
    assert_eq!(
        refused(engine.merge(&[bob.to_string()], "s", "", 3_000)),
        "precondition"
    );
    assert_eq!(
        refused(engine.merge(&[bob.to_string(), bob.to_string()], "s", "", 3_000)),
        "precondition"
    );
    assert_eq!(
        refused(engine.merge(&[bob.to_string(), "cus_nobody".to_owned()], "s", "", 3_000)),
        "not found"
    );
    engine.erase(&carla, "s", "", 3_000).unwrap();
    assert_eq!(
        refused(engine.merge(&[bob.to_string(), carla.to_string()], "s", "", 4_000)),
        "precondition"
    );
    assert_invariants(&engine, "the refusals");
}

/// Ann's three records are one customer; the steward moves her e-mail-only record out.
fn unmerged(
    block: bool,
) -> (
    idic_engine::Engine,
    std::sync::Arc<str>,
    std::sync::Arc<str>,
) {
    let mut engine = engine();
    let ann = upsert(&mut engine, "ann", person(0), 1_000);
    upsert(&mut engine, "ann-copy", person(0), 2_000);
    upsert(&mut engine, "ann-mail", name_and_email(0), 3_000);
    let (kept, new, _) = engine
        .unmerge(&[key("ann-mail")], block, "steward", "two persons", 4_000)
        .unwrap();
    assert_eq!(
        kept, ann,
        "the customer keeps its id with the records left in it"
    );
    assert_ne!(new, ann);
    assert_eq!(names_of(&engine, &ann), names(&["ann", "ann-copy"]));
    assert_eq!(names_of(&engine, &new), names(&["ann-mail"]));
    assert_invariants(&engine, "the unmerge");
    (engine, ann, new)
}

#[test]
fn an_unmerged_record_rejoins_when_rewritten_unless_the_steward_blocked_it() {
    // Without a block the matcher judges the record again when it changes.
    let (mut engine, ann, _) = unmerged(false);
    engine.upsert(incoming(&key("ann-mail"), person(0), 0), false, 5_000);
    assert_eq!(customer_of(&engine, "ann-mail"), ann);

    // With a block, never: not even identical to the records it was moved from.
    let (mut engine, ann, new) = unmerged(true);
    engine.upsert(incoming(&key("ann-mail"), person(0), 0), false, 5_000);
    assert_eq!(customer_of(&engine, "ann-mail"), new);
    // A new record like both links to both, and joins only the older customer.
    let (result, _) = engine.upsert(incoming(&key("ann-3"), person(0), 6_000), false, 6_000);
    assert_eq!(result.customer_id, ann);
    assert_eq!(customer_of(&engine, "ann-mail"), new);
    assert_invariants(&engine, "the blocked rewrites");

    // A steward merge lifts the block.
    let (survivor, _, _) = engine
        .merge(
            &[new.to_string(), ann.to_string()],
            "steward",
            "after all",
            7_000,
        )
        .unwrap();
    assert_eq!(survivor, ann);
    assert_eq!(names_of(&engine, &ann).len(), 4);
    assert_invariants(&engine, "the merge after the block");
}

#[test]
fn an_unmerge_names_records_of_one_customer_and_leaves_some() {
    let mut engine = engine();
    let ann = upsert(&mut engine, "ann", person(0), 1_000);
    upsert(&mut engine, "ann-copy", person(0), 2_000);
    upsert(&mut engine, "bob", person(1), 3_000);
    let precondition =
        |result: Result<_, EngineError>| matches!(result, Err(EngineError::Precondition(_)));
    assert!(precondition(engine.unmerge(
        &[key("ann"), key("bob")],
        false,
        "s",
        "",
        4_000
    )));
    assert!(precondition(engine.unmerge(
        &[key("ann"), key("ann-copy")],
        false,
        "s",
        "",
        4_000
    )));
    assert!(precondition(engine.unmerge(&[], false, "s", "", 4_000)));
    assert!(matches!(
        engine.unmerge(&[key("nobody")], false, "s", "", 4_000),
        Err(EngineError::NotFound(_))
    ));
    assert_eq!(names_of(&engine, &ann).len(), 2, "nothing moved");
}

#[test]
fn erasing_a_customer_removes_its_records_and_keeps_a_tombstone() {
    let mut engine = engine();
    let ann = upsert(&mut engine, "ann", person(0), 1_000);
    upsert(&mut engine, "ann-mail", name_and_email(0), 2_000);
    let bob = upsert(&mut engine, "bob", person(1), 3_000);
    let dmitri = upsert(&mut engine, "dmitri", person(4), 4_000);
    engine
        .merge(&[bob.to_string(), dmitri.to_string()], "s", "", 5_000)
        .unwrap();

    let (erased, records, changes) = engine.erase(&dmitri, "steward", "request", 6_000).unwrap();
    assert_eq!(erased, bob, "erasing by an alias erases the survivor");
    assert_eq!(records, 2);
    assert!(engine.record(&key("bob")).is_none());
    assert!(engine.record(&key("dmitri")).is_none());
    assert_eq!(engine.record_count(), 2);
    assert_eq!(engine.customer_count(), 1);
    let tombstone = engine
        .surviving_id(&dmitri)
        .expect("the alias still resolves");
    assert_eq!(
        (tombstone.id.clone(), tombstone.erased_at),
        (bob.clone(), Some(6_000))
    );
    assert!(tombstone.members.is_empty());
    assert_eq!(
        changes
            .events
            .iter()
            .map(|event| event.kind)
            .collect::<Vec<_>>(),
        vec![ChangeKind::Erased]
    );
    // Gone from matching: a look-up by the erased person's e-mail finds nobody.
    let found = engine.resolve(&features(&name_and_email(1)), 5, true);
    assert!(found.is_empty(), "{found:?}");
    // Erasing again changes nothing.
    let (_, again, changes) = engine.erase(&bob, "steward", "request", 7_000).unwrap();
    assert_eq!(again, 0);
    assert!(changes.is_empty());
    assert_eq!(names_of(&engine, &ann), names(&["ann", "ann-mail"]));
    assert_invariants(&engine, "the erasure");
}

/// Parameters whose name frequencies count `family` names over `records` records.
fn with_family_names(family: &[(&str, u64)], records: u64) -> MatchParameters {
    let counts = family
        .iter()
        .map(|(name, count)| ((*name).to_owned(), *count))
        .collect();
    MatchParameters {
        family_name_frequencies: TermFrequencies::from_counts(counts, records),
        ..MatchParameters::default()
    }
}

/// A name is personal data: after an erasure the parameters' name frequencies (which
/// snapshots and saved estimates hold) no longer count the erased records, on the
/// leader and on a follower replaying the erasure. A name others share stays.
#[test]
fn an_erasure_takes_the_erased_names_out_of_the_name_frequencies() {
    let params = with_family_names(&[("stone", 1), ("lee", 2), ("diaz", 1)], 4);
    let mut leader = engine();
    leader.set_params(params.clone());
    let mut follower = engine();
    follower.set_params(params);
    let mut replayed = Vec::new();
    for (name, index, now) in [("ann", 0, 1_000), ("bob", 1, 2_000), ("beth", 3, 3_000)] {
        let (_, changes) = leader.upsert(incoming(&key(name), person(index), now), false, now);
        replayed.push(changes);
    }
    let bob = customer_of(&leader, "bob");
    let ann = customer_of(&leader, "ann");
    let (_, _, erased) = leader.erase(&bob, "dpo", "request", 4_000).unwrap();
    assert_eq!(erased.erased_names.family, vec!["stone".to_owned()]);
    let (_, _, erased_ann) = leader.erase(&ann, "dpo", "request", 5_000).unwrap();
    replayed.extend([erased, erased_ann]);
    for changes in &replayed {
        follower.replay(changes, &mut |row| entry_of(row));
    }
    for (who, engine) in [("leader", &leader), ("follower", &follower)] {
        let family = &engine.params().family_name_frequencies;
        assert!(!family.shares.contains_key("stone"), "{who}: {family:?}");
        assert!(
            (family.share("lee") - 0.25).abs() < 1e-12,
            "{who}: Beth Lee is still there: {family:?}"
        );
        assert!(family.shares.contains_key("diaz"), "{who}: {family:?}");
    }
}
