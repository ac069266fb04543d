//! Value is right at once after identity merges or unmerges customers (rescored with
//! the current model, not at the next refit), and the scheduled refit runs. Through
//! gRPC on the whole suite.

use std::time::{Duration, Instant};

use idic_proto::v1 as pb;
use idic_testkit::transactions::{TransactionConfig, generate_transactions};
use idic_testkit::{Backend, SuiteOptions, TestSuite};
use idic_value::{BgNbd, GammaGamma, Purchase, TimeUnit, summarize};
use prost_types::Timestamp;

const DAY: i64 = 86_400_000_000;
const START: i64 = 1_735_689_600_000_000; // 2025-01-01
const HORIZON_WEEKS: f64 = 52.0;

fn loyalty(value: &str) -> Option<pb::CustomerRef> {
    Some(pb::CustomerRef {
        r#ref: Some(pb::customer_ref::Ref::Identifier(pb::Identifier {
            kind: pb::IdentifierKind::LoyaltyId as i32,
            value: value.to_owned(),
            ..pb::Identifier::default()
        })),
    })
}

fn by_id(id: &str) -> Option<pb::CustomerRef> {
    Some(pb::CustomerRef {
        r#ref: Some(pb::customer_ref::Ref::CustomerId(id.to_owned())),
    })
}

fn at(micros: i64) -> Option<Timestamp> {
    Some(Timestamp {
        seconds: micros.div_euclid(1_000_000),
        nanos: (micros.rem_euclid(1_000_000) * 1000) as i32,
    })
}

fn purchase(reference: &str, order: &str, micros: i64, cents: i64) -> pb::TransactionInput {
    pb::TransactionInput {
        customer: loyalty(reference),
        order_id: order.to_owned(),
        kind: pb::TransactionKind::Purchase as i32,
        occurred_at: at(micros),
        amount: Some(pb::Money {
            currency: "EUR".into(),
            minor_units: cents,
        }),
        margin_minor_units: None,
        lines: vec![pb::OrderLine {
            product: "p".into(),
            category: "books".into(),
            quantity: 1,
            amount: Some(pb::Money {
                currency: "EUR".into(),
                minor_units: cents,
            }),
        }],
        channel: pb::Channel::Web as i32,
        commitment_months: 0,
    }
}

async fn record(
    suite: &TestSuite,
    inputs: Vec<pb::TransactionInput>,
) -> Vec<pb::TransactionResult> {
    let mut results = Vec::new();
    for chunk in inputs.chunks(500) {
        let response = suite
            .differentiation()
            .record_transactions(pb::RecordTransactionsRequest {
                transactions: chunk.to_vec(),
                strict: false,
            })
            .await
            .unwrap()
            .into_inner();
        results.extend(response.results);
    }
    results
}

/// A base of generated customers for the models to be fitted on.
async fn record_base(suite: &TestSuite, customers: usize) {
    let config = TransactionConfig {
        customers,
        seed: 5,
        ..TransactionConfig::default()
    };
    let inputs = generate_transactions(&config)
        .iter()
        .map(|t| {
            purchase(
                t.customer_ref.trim_start_matches("loyalty:"),
                &t.order_id,
                t.occurred_at_micros,
                t.amount_minor,
            )
        })
        .collect();
    record(suite, inputs).await;
}

async fn value_of(suite: &TestSuite, customer: &str) -> pb::CustomerValue {
    suite
        .differentiation()
        .get_customer_value(pb::GetCustomerValueRequest {
            customer: by_id(customer),
        })
        .await
        .unwrap()
        .into_inner()
        .value
        .unwrap()
}

/// Waits until `check` holds for the customer's value (identity's changes arrive
/// asynchronously); the last value either way.
async fn eventually(
    suite: &TestSuite,
    customer: &str,
    check: impl Fn(&pb::CustomerValue) -> bool,
) -> pb::CustomerValue {
    for _ in 0..100 {
        let value = value_of(suite, customer).await;
        if check(&value) {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    value_of(suite, customer).await
}

/// What the fitted model predicts for purchases (time, cents) by `end`.
fn predicted(model: &pb::FittedModel, purchases: &[(i64, i64)], end: i64) -> (f64, f64, f64) {
    let mut list: Vec<Purchase> = purchases
        .iter()
        .map(|(micros, cents)| Purchase {
            day: micros.div_euclid(DAY),
            amount: idic_runtime::money::major_units(*cents, "EUR"),
        })
        .collect();
    list.sort_by_key(|p| p.day);
    let summary = summarize(&list, end.div_euclid(DAY), TimeUnit::Week).unwrap();
    let bg = model.bg_nbd.clone().unwrap();
    let bg = BgNbd {
        r: bg.r,
        alpha: bg.alpha,
        a: bg.a,
        b: bg.b,
    };
    let gg = model.gamma_gamma.clone().unwrap();
    let gg = GammaGamma {
        p: gg.p,
        q: gg.q,
        gamma: gg.gamma,
    };
    let expected = bg.expected_purchases(&summary, HORIZON_WEEKS);
    let spend = gg.spend_per_transaction(&summary);
    (expected, bg.probability_alive(&summary), expected * spend)
}

fn close(actual: f64, expected: f64) -> bool {
    (actual - expected).abs() <= 1e-9 * expected.abs().max(1.0)
}

fn matches(value: &pb::CustomerValue, expected: (f64, f64, f64)) -> bool {
    close(value.expected_purchases, expected.0)
        && close(value.probability_alive, expected.1)
        && close(value.predicted_clv, expected.2)
}

async fn merged_and_unmerged_customers_are_rescored(backend: Backend) {
    let Some(suite) = TestSuite::start_with(SuiteOptions::new(backend).configure(|config| {
        config.differentiation.refit_interval_secs = 0;
    }))
    .await
    else {
        return;
    };
    record_base(&suite, 300).await;
    let first_purchases = [(START, 4_000), (START + 30 * DAY, 5_000)];
    let second_purchases = [
        (START + 10 * DAY, 2_000),
        (START + 100 * DAY, 3_000),
        (START + 200 * DAY, 2_500),
    ];
    let mut inputs = Vec::new();
    for (n, (micros, cents)) in first_purchases.iter().enumerate() {
        inputs.push(purchase("R1", &format!("r1-{n}"), *micros, *cents));
    }
    for (n, (micros, cents)) in second_purchases.iter().enumerate() {
        inputs.push(purchase("R2", &format!("r2-{n}"), *micros, *cents));
    }
    let results = record(&suite, inputs).await;
    let first = results[0].customer_id.clone();
    let second = results[2].customer_id.clone();
    assert_ne!(first, second);
    let end = START + 300 * DAY;
    let model = suite
        .differentiation()
        .refit_models(pb::RefitModelsRequest {
            observation_end: at(end),
            time_unit: "week".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .model
        .unwrap();
    let alone_first = predicted(&model, &first_purchases, end);
    let alone_second = predicted(&model, &second_purchases, end);
    assert!(matches(&value_of(&suite, &first).await, alone_first));
    assert!(matches(&value_of(&suite, &second).await, alone_second));

    let survivor = suite
        .identity()
        .merge(pb::MergeRequest {
            customer_ids: vec![first.clone(), second.clone()],
            reason: "same person".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .customer_id;
    let together: Vec<(i64, i64)> = first_purchases
        .iter()
        .chain(&second_purchases)
        .copied()
        .collect();
    let expected = predicted(&model, &together, end);
    let value = eventually(&suite, &survivor, |v| matches(v, expected)).await;
    assert!(
        matches(&value, expected),
        "after a merge the survivor is scored on both customers' purchases at once: {value:?}, expected {expected:?}"
    );
    assert_eq!(value.order_count, 5);
    assert_ne!(value.tier, pb::Tier::Unspecified as i32);
    let rfm = value.rfm.unwrap();
    assert_eq!(
        rfm.frequency, 5,
        "4 repeat purchase days rank in the top fifth"
    );

    // Unmerge the record of the absorbed customer's loyalty number: both parts are
    // scored on their own purchases again.
    let (absorbed_anchor, survivor_alone, other_alone) = if survivor == first {
        ("loyalty:R2", alone_first, alone_second)
    } else {
        ("loyalty:R1", alone_second, alone_first)
    };
    let split = suite
        .identity()
        .unmerge(pb::UnmergeRequest {
            records: vec![pb::RecordKey {
                source_system: "differentiation".into(),
                source_record_id: absorbed_anchor.into(),
            }],
            reason: "not the same person".into(),
            block_remerge: true,
        })
        .await
        .unwrap()
        .into_inner();
    let value = eventually(&suite, &survivor, |v| matches(v, survivor_alone)).await;
    assert!(matches(&value, survivor_alone), "{value:?}");
    let other = eventually(&suite, &split.new_customer_id, |v| matches(v, other_alone)).await;
    assert!(matches(&other, other_alone), "{other:?}");
    assert_ne!(other.tier, pb::Tier::Unspecified as i32);
    assert!(other.rfm.is_some());
    suite.stop().await.unwrap();
}

#[tokio::test]
async fn merged_and_unmerged_customers_are_rescored_on_sqlite() {
    merged_and_unmerged_customers_are_rescored(Backend::Embedded).await;
}

#[tokio::test]
async fn merged_and_unmerged_customers_are_rescored_on_postgres() {
    merged_and_unmerged_customers_are_rescored(Backend::Postgres).await;
}

/// `differentiation.refit_interval_secs` refits on its own: with a one-second
/// interval a model appears without any RefitModels call.
#[tokio::test]
async fn the_schedule_refits() {
    let Some(suite) =
        TestSuite::start_with(SuiteOptions::new(Backend::Embedded).configure(|config| {
            config.differentiation.refit_interval_secs = 1;
        }))
        .await
    else {
        return;
    };
    record_base(&suite, 200).await;
    let customer = suite
        .identity()
        .lookup_customer_id(pb::LookupCustomerIdRequest {
            customer: loyalty("L0"),
        })
        .await
        .unwrap()
        .into_inner()
        .customer_id;
    let started = Instant::now();
    let value = eventually(&suite, &customer, |v| v.model_available && v.rfm.is_some()).await;
    assert!(
        value.model_available,
        "no scheduled refit within {:?}",
        started.elapsed()
    );
    assert!(value.rfm.is_some(), "the scheduled refit scored the base");
    suite.stop().await.unwrap();
}
