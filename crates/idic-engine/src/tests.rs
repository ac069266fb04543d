//! The steps of a recluster, one by one, on a small base: how `plan_survivors` gives
//! clusters their ids, what `apply_survivor_plan` does with a plan, and a whole-base
//! pass (`start_recluster`, `recluster_batch`, `recluster_dry_batch`) after the
//! parameters changed. Inside the crate, because the steps are private.

use std::collections::BTreeMap;
use std::sync::Arc;

use idic_matching::features::Features;
use idic_matching::normalize::{NormalizeOptions, normalize_record};
use idic_matching::params::MatchParameters;
use idic_matching::record::{RawAddress, RawRecord};

use super::*;

fn ann_full() -> RawRecord {
    RawRecord {
        given_name: "Ann".to_owned(),
        family_name: "Lee".to_owned(),
        date_of_birth: "1984-03-02".to_owned(),
        emails: vec!["ann.lee@example.com".to_owned()],
        phones: vec!["+1 217 555 0148".to_owned()],
        addresses: vec![RawAddress {
            street_number: "12".to_owned(),
            street: "High Street".to_owned(),
            locality: "Springfield".to_owned(),
            postcode: "62704".to_owned(),
            country: "US".to_owned(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn ann_by_mail() -> RawRecord {
    RawRecord {
        phones: Vec::new(),
        addresses: Vec::new(),
        date_of_birth: String::new(),
        ..ann_full()
    }
}

fn ann_by_phone() -> RawRecord {
    RawRecord {
        emails: Vec::new(),
        addresses: Vec::new(),
        date_of_birth: String::new(),
        ..ann_full()
    }
}

fn someone(given: &str, family: &str, email: &str) -> RawRecord {
    RawRecord {
        given_name: given.to_owned(),
        family_name: family.to_owned(),
        emails: vec![email.to_owned()],
        ..Default::default()
    }
}

fn write(engine: &mut Engine, name: &str, raw: RawRecord, now: i64) -> u32 {
    let normalized = normalize_record(&raw, &NormalizeOptions::default()).expect("valid");
    let incoming = IncomingRecord {
        key: RecordKey::new("crm", name),
        channel: 1,
        observed_at: now,
        features: Features::of(&normalized),
        content: RecordContent {
            record: raw,
            attributes: BTreeMap::new(),
        },
    };
    engine.upsert(incoming, false, now);
    id_of(engine, name)
}

fn id_of(engine: &Engine, name: &str) -> u32 {
    engine
        .record(&RecordKey::new("crm", name))
        .expect("written")
        .0
}

fn customer_of(engine: &Engine, id: u32) -> Arc<str> {
    engine.records[id as usize]
        .as_ref()
        .expect("live")
        .customer
        .clone()
}

fn new_engine() -> Engine {
    let settings = Settings {
        threshold: MatchThreshold::Bits(15.0),
        source_trust: BTreeMap::new(),
    };
    Engine::new(settings, MatchParameters::default())
}

/// Ann's three records (one customer, created first), Bob, then Carla.
struct Base {
    engine: Engine,
    ann: u32,
    ann_copy: u32,
    ann_mail: u32,
    bob: u32,
    carla: u32,
}

impl Base {
    fn new() -> Base {
        let mut engine = new_engine();
        let ann = write(&mut engine, "ann", ann_full(), 1_000);
        let ann_copy = write(&mut engine, "ann-copy", ann_full(), 2_000);
        let ann_mail = write(&mut engine, "ann-mail", ann_by_mail(), 3_000);
        let bob = write(
            &mut engine,
            "bob",
            someone("Bob", "Stone", "bob@example.net"),
            4_000,
        );
        let carla = write(
            &mut engine,
            "carla",
            someone("Carla", "Diaz", "cd@example.org"),
            5_000,
        );
        Base {
            engine,
            ann,
            ann_copy,
            ann_mail,
            bob,
            carla,
        }
    }

    fn everyone(&self) -> Vec<u32> {
        let mut ids = vec![self.ann, self.ann_copy, self.ann_mail, self.bob, self.carla];
        ids.sort_unstable();
        ids
    }
}

#[test]
fn each_customer_keeps_its_id_with_the_cluster_holding_most_of_its_records() {
    let base = Base::new();
    let engine = &base.engine;
    let (ann, bob, carla) = (
        customer_of(engine, base.ann),
        customer_of(engine, base.bob),
        customer_of(engine, base.carla),
    );
    let clusters = vec![
        vec![base.ann_mail, base.bob],
        vec![base.ann, base.ann_copy],
        vec![base.carla],
    ];
    let plan = engine.plan_survivors(&base.everyone(), clusters, &[]);
    assert_eq!(
        plan.kept_ids,
        vec![Some(bob.clone()), Some(ann.clone()), Some(carla.clone())]
    );
    assert!(plan.absorbed_into.is_empty());
    assert_eq!(plan.splits, BTreeMap::from([(ann, vec![0])]));
}

#[test]
fn one_cluster_keeps_the_oldest_id_and_absorbs_the_others_oldest_first() {
    let base = Base::new();
    let engine = &base.engine;
    let (ann, bob, carla) = (
        customer_of(engine, base.ann),
        customer_of(engine, base.bob),
        customer_of(engine, base.carla),
    );
    // Every customer has records in the one cluster: the oldest takes it, the others
    // are absorbed into it, oldest first.
    let plan = engine.plan_survivors(&base.everyone(), vec![base.everyone()], &[]);
    assert_eq!(plan.kept_ids, vec![Some(ann.clone())]);
    assert_eq!(
        plan.absorbed_into,
        BTreeMap::from([(ann, vec![bob, carla])])
    );
    assert!(plan.splits.is_empty());
}

#[test]
fn equal_parts_go_to_the_records_a_steward_left_in_place_then_to_the_earliest() {
    let base = Base::new();
    let engine = &base.engine;
    let ann = customer_of(engine, base.ann);
    let component = [base.ann, base.ann_copy, base.ann_mail];
    let apart = || vec![vec![base.ann], vec![base.ann_copy], vec![base.ann_mail]];
    let plan = engine.plan_survivors(&component, apart(), &[]);
    assert_eq!(
        plan.kept_ids,
        vec![Some(ann.clone()), None, None],
        "earliest observed"
    );
    let plan = engine.plan_survivors(&component, apart(), &[base.ann_mail]);
    assert_eq!(
        plan.kept_ids,
        vec![None, None, Some(ann.clone())],
        "left in place"
    );
    assert_eq!(plan.splits, BTreeMap::from([(ann, vec![0, 1])]));
}

#[test]
fn applying_a_plan_creates_absorbs_moves_and_reports() {
    let mut base = Base::new();
    let (ann, bob) = (
        customer_of(&base.engine, base.ann),
        customer_of(&base.engine, base.bob),
    );
    // Ann's e-mail record goes to a new customer; Bob joins Ann.
    let clusters = vec![vec![base.ann, base.ann_copy, base.bob], vec![base.ann_mail]];
    let component = [base.ann, base.ann_copy, base.ann_mail, base.bob];
    let plan = base.engine.plan_survivors(&component, clusters, &[]);
    let mut changes = ChangeSet::default();
    let outcome = base
        .engine
        .apply_survivor_plan(plan, 9_000, AUTOMATIC, "test", &mut changes);
    let engine = &base.engine;
    assert_eq!(outcome.created.len(), 1);
    let new = outcome.created[0].clone();
    assert_eq!(customer_of(engine, base.ann_mail), new);
    assert_eq!(customer_of(engine, base.bob), ann);
    assert_eq!(engine.customers[&ann].members, {
        let mut members = vec![base.ann, base.ann_copy, base.bob];
        members.sort_unstable();
        members
    });
    assert_eq!(
        engine.surviving_id(&bob).map(|c| c.id.clone()),
        Some(ann.clone())
    );
    assert_eq!(
        changes.customers.get(&bob),
        Some(&None),
        "the absorbed row goes"
    );
    assert_eq!(changes.aliases.get(&bob), Some(&ann));
    assert_eq!(changes.records_moved.get(&base.bob), Some(&ann));
    assert_eq!(changes.records_moved.get(&base.ann_mail), Some(&new));
    let events: Vec<(ChangeKind, String, Vec<String>, Vec<String>)> = changes
        .events
        .iter()
        .map(|e| {
            (
                e.kind,
                e.customer_id.clone(),
                e.absorbed_ids.clone(),
                e.new_ids.clone(),
            )
        })
        .collect();
    assert_eq!(
        events,
        vec![
            (
                ChangeKind::Merged,
                ann.to_string(),
                vec![bob.to_string()],
                vec![]
            ),
            (
                ChangeKind::Split,
                ann.to_string(),
                vec![],
                vec![new.to_string()]
            ),
        ]
    );
}

/// Every agreement weighs 6 bits less: the partial records no longer link to the full
/// ones (about 14 and 11 bits instead of 32 and 29), the two full records still do.
fn much_weaker_parameters() -> MatchParameters {
    let mut params = MatchParameters::default();
    for levels in &mut params.levels {
        for level in levels.iter_mut() {
            level.u = (level.u * 64.0).min(1.0);
        }
    }
    params
}

fn run_pass(engine: &mut Engine, batch: u32, now: i64) -> ReclusterTotals {
    let mut dry = engine.start_recluster(true);
    while !dry.is_done() {
        engine.recluster_dry_batch(&mut dry, batch);
    }
    let mut pass = engine.start_recluster(false);
    while !pass.is_done() {
        engine.recluster_batch(&mut pass, batch, now, AUTOMATIC, "test");
    }
    assert_eq!(dry.totals, pass.totals, "the dry run predicted the pass");
    if let Err(violations) = engine.check_invariants() {
        panic!("after a pass: {violations}");
    }
    pass.totals
}

#[test]
fn a_pass_with_changed_parameters_splits_then_joins_again_and_a_second_pass_does_nothing() {
    let mut engine = new_engine();
    let ann = write(&mut engine, "ann", ann_full(), 1_000);
    let ann_copy = write(&mut engine, "ann-copy", ann_full(), 2_000);
    let ann_mail = write(&mut engine, "ann-mail", ann_by_mail(), 3_000);
    let ann_phone = write(&mut engine, "ann-phone", ann_by_phone(), 4_000);
    let customer = customer_of(&engine, ann);
    assert_eq!(engine.customer_count(), 1);

    engine.set_params(much_weaker_parameters());
    let totals = run_pass(&mut engine, 2, 10_000);
    assert_eq!(
        (
            totals.records_done,
            totals.customers_split,
            totals.customers_created,
            totals.records_moved,
            totals.links_removed,
            totals.links_reweighted,
        ),
        (4, 1, 2, 2, 4, 1),
        "{totals:?}"
    );
    assert_eq!(
        customer_of(&engine, ann_copy),
        customer,
        "the larger part keeps the id"
    );
    assert_ne!(customer_of(&engine, ann_mail), customer);
    assert_ne!(
        customer_of(&engine, ann_phone),
        customer_of(&engine, ann_mail)
    );
    let again = run_pass(&mut engine, 3, 11_000);
    assert_eq!(
        (
            again.components_changed,
            again.links_added,
            again.links_removed
        ),
        (0, 0, 0)
    );

    engine.set_params(MatchParameters::default());
    let totals = run_pass(&mut engine, 1, 12_000);
    assert_eq!(
        (totals.customers_merged, totals.links_added),
        (2, 4),
        "{totals:?}"
    );
    assert_eq!(engine.customer_count(), 1);
    assert_eq!(
        customer_of(&engine, ann_phone),
        customer,
        "the oldest id survives"
    );
}

fn brian(family: &str, dob: &str, email: &str) -> RawRecord {
    RawRecord {
        given_name: "Brian".to_owned(),
        family_name: family.to_owned(),
        date_of_birth: dob.to_owned(),
        emails: vec![email.to_owned()],
        phones: vec!["+1 443 846 6507".to_owned()],
        addresses: vec![RawAddress {
            street_number: "560".to_owned(),
            street: "Eagle Street".to_owned(),
            locality: "Baltimore".to_owned(),
            postcode: "21240".to_owned(),
            country: "US".to_owned(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// A "Jr" cluster and a record that gives no suffix and shares only what the household
/// shares (name, address, landline) with it: the namesake father stays apart, while the
/// son's own record without the "Jr" (same birth date and e-mail) joins.
#[test]
fn a_namesake_without_personal_evidence_stays_out_of_a_suffixed_cluster() {
    let mut engine = new_engine();
    let junior = write(
        &mut engine,
        "junior",
        brian("Roberts Jr", "2006-11-09", "brian.roberts06@comcast.net"),
        1_000,
    );
    let son = write(
        &mut engine,
        "son",
        brian("Roberts", "2006-11-09", "brian.roberts06@comcast.net"),
        2_000,
    );
    let father = write(
        &mut engine,
        "father",
        brian("Roberts", "", "brian.roberts@yahoo.com"),
        3_000,
    );
    assert_eq!(customer_of(&engine, junior), customer_of(&engine, son));
    assert_ne!(customer_of(&engine, father), customer_of(&engine, son));
}
