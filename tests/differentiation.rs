//! Differentiation end to end through gRPC: an order system records transactions,
//! the models are refitted, and value, tiers, skew, needs and strategy come back; value
//! follows identity's merges, unmerges and erasures. On SQLite and on PostgreSQL.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use idic_proto::v1 as pb;
use idic_testkit::transactions::{TransactionConfig, generate_transactions};
use idic_testkit::{Backend, SuiteOptions, TestSuite};
use prost_types::Timestamp;
use tonic::Code;

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

fn purchase(
    reference: &str,
    order: &str,
    micros: i64,
    cents: i64,
    category: &str,
) -> pb::TransactionInput {
    pb::TransactionInput {
        customer: loyalty(reference),
        order_id: order.to_owned(),
        kind: pb::TransactionKind::Purchase as i32,
        occurred_at: at(micros),
        amount: Some(pb::Money {
            currency: "EUR".into(),
            minor_units: cents,
        }),
        margin_minor_units: Some(cents / 4),
        lines: vec![pb::OrderLine {
            product: format!("{category}-1"),
            category: category.to_owned(),
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

async fn suite(backend: Backend) -> Option<TestSuite> {
    // No scheduled refit during a test: the test refits when it wants to.
    TestSuite::start_with(SuiteOptions::new(backend).configure(|config| {
        config.differentiation.refit_interval_secs = 0;
    }))
    .await
}

async fn value_of(suite: &TestSuite, reference: Option<pb::CustomerRef>) -> pb::CustomerValue {
    suite
        .differentiation()
        .get_customer_value(pb::GetCustomerValueRequest {
            customer: reference,
        })
        .await
        .unwrap()
        .into_inner()
        .value
        .unwrap()
}

/// Waits until `check` holds for the customer's value (identity's changes arrive
/// asynchronously on the bus).
async fn eventually(
    suite: &TestSuite,
    customer: &str,
    check: impl Fn(&pb::CustomerValue) -> bool,
) -> pb::CustomerValue {
    for _ in 0..100 {
        let value = value_of(suite, by_id(customer)).await;
        if check(&value) {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    value_of(suite, by_id(customer)).await
}

const DAY: i64 = 86_400_000_000;
const START: i64 = 1_735_689_600_000_000; // 2025-01-01

async fn transactions_are_idempotent_and_validated(backend: Backend) {
    let Some(suite) = suite(backend).await else {
        return;
    };
    let mut client = suite.differentiation();
    let batch = vec![
        purchase("A1", "o-1", START, 5_000, "books"),
        purchase("A1", "o-2", START + 10 * DAY, 2_500, "music"),
        pb::TransactionInput {
            kind: pb::TransactionKind::Return as i32,
            ..purchase("A1", "o-2", START + 12 * DAY, 2_500, "music")
        },
    ];
    let first = client
        .record_transactions(pb::RecordTransactionsRequest {
            transactions: batch.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((first.created, first.duplicates), (3, 0));
    assert!(
        first.results[0].customer_created,
        "an unknown loyalty number creates the customer"
    );
    let customer = first.results[0].customer_id.clone();
    assert!(first.results.iter().all(|r| r.customer_id == customer));
    // Identity knows the customer now, by the same identifier.
    let resolved = value_of(&suite, loyalty("A1")).await;
    assert_eq!(resolved.customer_id, customer);

    // A retry changes nothing.
    let retry = client
        .record_transactions(pb::RecordTransactionsRequest {
            transactions: batch,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((retry.created, retry.duplicates), (0, 3));
    assert!(!retry.results[0].customer_created);
    let value = value_of(&suite, by_id(&customer)).await;
    assert_eq!(value.order_count, 2);
    assert_eq!(
        value.revenue,
        [pb::Money {
            currency: "EUR".into(),
            minor_units: 5_000
        }]
    );
    assert_eq!(
        value.margin,
        [pb::Money {
            currency: "EUR".into(),
            minor_units: 1_250
        }]
    );

    // Bad input names the field and stores nothing, not even the valid neighbours.
    let mut bad = purchase("A1", "o-3", START, 100, "books");
    bad.amount = Some(pb::Money {
        currency: "euro".into(),
        minor_units: 100,
    });
    let status = client
        .record_transactions(pb::RecordTransactionsRequest {
            transactions: vec![purchase("A1", "o-4", START, 100, "books"), bad],
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("transactions[1].amount.currency"),
        "{}",
        status.message()
    );
    let mut negative = purchase("A1", "o-5", START, 100, "books");
    negative.amount = Some(pb::Money {
        currency: "EUR".into(),
        minor_units: -1,
    });
    let status = client
        .record_transactions(pb::RecordTransactionsRequest {
            transactions: vec![negative],
        })
        .await
        .unwrap_err();
    assert!(
        status
            .message()
            .contains("transactions[0].amount.minor_units")
    );
    let status = client
        .record_transactions(pb::RecordTransactionsRequest {
            transactions: vec![pb::TransactionInput::default()],
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(value_of(&suite, by_id(&customer)).await.order_count, 2);
    // An unknown customer id is not created: NOT_FOUND.
    let mut unknown = purchase("A1", "o-6", START, 100, "books");
    unknown.customer = by_id("cus_does_not_exist");
    let status = client
        .record_transactions(pb::RecordTransactionsRequest {
            transactions: vec![unknown],
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    suite.stop().await.unwrap();
}

#[tokio::test]
async fn transactions_are_idempotent_and_validated_on_sqlite() {
    transactions_are_idempotent_and_validated(Backend::Embedded).await;
}

#[tokio::test]
async fn transactions_are_idempotent_and_validated_on_postgres() {
    transactions_are_idempotent_and_validated(Backend::Postgres).await;
}

async fn refit_scores_the_base(backend: Backend) {
    let Some(suite) = suite(backend).await else {
        return;
    };
    let mut client = suite.differentiation();
    let config = TransactionConfig {
        customers: 400,
        seed: 11,
        ..TransactionConfig::default()
    };
    let generated = generate_transactions(&config);
    let inputs: Vec<pb::TransactionInput> = generated
        .iter()
        .map(|t| {
            purchase(
                t.customer_ref.trim_start_matches("loyalty:"),
                &t.order_id,
                t.occurred_at_micros,
                t.amount_minor,
                &t.category,
            )
        })
        .collect();
    for chunk in inputs.chunks(500) {
        client
            .record_transactions(pb::RecordTransactionsRequest {
                transactions: chunk.to_vec(),
            })
            .await
            .unwrap();
    }

    // Before any refit: values carry no model, skew is from historical revenue.
    let before = value_of(&suite, loyalty("L0")).await;
    assert!(!before.model_available);
    let skew = client
        .get_value_skew(pb::GetValueSkewRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(skew.value_measure, "historical_revenue");
    assert_eq!(skew.customers, 400);

    let bad = client
        .refit_models(pb::RefitModelsRequest {
            time_unit: "fortnight".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    let end = START + 364 * DAY;

    // Calibration on the first half year, the second as holdout: predicted against
    // actual purchases per number of calibration purchases.
    let half = START + 182 * DAY;
    let backwards = client
        .refit_models(pb::RefitModelsRequest {
            observation_end: at(half),
            holdout_end: at(half),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(backwards.code(), Code::InvalidArgument);
    assert!(backwards.message().contains("holdout_end"));
    let checked = client
        .refit_models(pb::RefitModelsRequest {
            observation_end: at(half),
            time_unit: "week".into(),
            holdout_end: at(end),
        })
        .await
        .unwrap()
        .into_inner();
    let holdout = checked.holdout.expect("a holdout check");
    assert!((holdout.periods - 26.0).abs() < 1e-9);
    assert_eq!(holdout.rows.len(), 8);
    assert!(holdout.rows[7].or_more);
    let calibrated = checked.model.as_ref().unwrap().customers;
    assert_eq!(holdout.customers, calibrated);
    assert_eq!(
        holdout.rows.iter().map(|row| row.customers).sum::<u64>(),
        calibrated
    );
    // The actual purchases (purchase days), counted here from what was sent.
    let mut days_by_customer: HashMap<&str, (bool, HashSet<i64>)> = HashMap::new();
    for t in &generated {
        let entry = days_by_customer.entry(&t.customer_ref).or_default();
        if t.occurred_at_micros <= half {
            entry.0 = true;
        } else if t.occurred_at_micros <= end {
            entry.1.insert(t.occurred_at_micros.div_euclid(DAY));
        }
    }
    let actual: usize = days_by_customer
        .values()
        .filter(|(calibrated, _)| *calibrated)
        .map(|(_, holdout_days)| holdout_days.len())
        .sum();
    assert!(actual > 0);
    assert!(
        (holdout.actual_total - actual as f64).abs() < 1e-9,
        "{holdout:?}"
    );
    assert!(holdout.predicted_total > 0.0);
    let diagnostics = checked
        .model
        .unwrap()
        .bg_nbd
        .unwrap()
        .diagnostics
        .expect("diagnostics with every refit");
    assert_eq!(
        diagnostics.identified,
        !diagnostics
            .warnings
            .iter()
            .any(|warning| warning.contains("edge of the parameter space"))
    );

    let model = client
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
    assert_eq!(model.customers, 400);
    assert_eq!(model.time_unit, "week");
    assert_eq!(model.currency, "EUR");
    let bg = model.bg_nbd.unwrap();
    assert!(bg.log_likelihood < 0.0);
    // 400 customers recover the generating r and α only roughly.
    assert!(bg.r > 0.1 && bg.r < 0.6, "{bg:?}");
    let gamma_gamma = model.gamma_gamma.unwrap();
    assert!(gamma_gamma.customers > 0);
    assert!(gamma_gamma.diagnostics.is_some());
    assert!(["gamma_gamma", "customer_mean"].contains(&gamma_gamma.spend_basis.as_str()));
    assert!(model.fit_millis > 0.0);

    let value = value_of(&suite, loyalty("L0")).await;
    assert!(value.model_available);
    assert!(value.tier != pb::Tier::Unspecified as i32);
    let rfm = value.rfm.unwrap();
    assert!((1..=5).contains(&rfm.recency) && (1..=5).contains(&rfm.frequency));
    assert!(value.probability_alive > 0.0 && value.probability_alive <= 1.0);
    assert!(
        (value.predicted_clv - value.expected_purchases * value.expected_average_spend).abs()
            < 1e-6
    );

    // Tier A, paged, sorted by value.
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_customers(pb::ListCustomersRequest {
                tier: pb::Tier::A as i32,
                segment_id: String::new(),
                page: Some(pb::PageRequest {
                    page_size: 7,
                    page_token: token.clone(),
                }),
            })
            .await
            .unwrap()
            .into_inner();
        seen.extend(page.customers);
        token = page.page.unwrap().next_page_token;
        if token.is_empty() {
            break;
        }
    }
    assert!(!seen.is_empty());
    assert!(
        seen.windows(2)
            .all(|w| w[0].predicted_clv >= w[1].predicted_clv)
    );
    assert!(seen.iter().all(|c| c.tier == pb::Tier::A as i32));

    let skew = client
        .get_value_skew(pb::GetValueSkewRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(skew.value_measure, "predicted_clv");
    assert!(skew.computed_at.is_some());
    assert!(skew.gini > 0.0 && skew.gini < 1.0);
    assert_eq!(skew.tiers.iter().map(|t| t.customers).sum::<u64>(), 400);
    assert_eq!(skew.tiers[0].customers as usize, seen.len());
    let top_share = |p: f64| {
        skew.top_shares
            .iter()
            .find(|t| t.top_percent == p)
            .unwrap()
            .value_share
    };
    assert!(top_share(1.0) <= top_share(2.0) && top_share(5.0) <= top_share(20.0));
    assert_eq!(skew.lorenz.first().unwrap().value_share, 0.0);
    assert!((skew.lorenz.last().unwrap().value_share - 1.0).abs() < 1e-9);

    // Needs: the generator gives customer 1 the electronics/games archetype.
    let needs = client
        .get_customer_needs(pb::GetCustomerNeedsRequest {
            customer: loyalty("L1"),
        })
        .await
        .unwrap()
        .into_inner()
        .needs
        .unwrap();
    assert!(!needs.affinities.is_empty());
    assert!(
        ["electronics", "games"].contains(&needs.affinities[0].category.as_str()),
        "{needs:?}"
    );
    assert!(needs.customer_type != pb::CustomerType::Unspecified as i32);
    assert!(!needs.customer_type_explanation.is_empty());
    assert!(
        !needs.segment_id.is_empty(),
        "four planted archetypes give segments"
    );
    let segment = client
        .list_customers(pb::ListCustomersRequest {
            tier: 0,
            segment_id: needs.segment_id.clone(),
            page: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        segment
            .customers
            .iter()
            .all(|c| c.segment_id == needs.segment_id)
    );

    let strategy = client
        .get_strategy(pb::GetStrategyRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(strategy.needs_differentiation > 0.0);
    assert!(strategy.needs_segments >= 2);
    assert!(!strategy.focus.is_empty());
    assert!(strategy.explanation.contains("top 20%"));
    suite.stop().await.unwrap();
}

#[tokio::test]
async fn refit_scores_the_base_on_sqlite() {
    refit_scores_the_base(Backend::Embedded).await;
}

#[tokio::test]
async fn refit_scores_the_base_on_postgres() {
    refit_scores_the_base(Backend::Postgres).await;
}

async fn value_follows_identity(backend: Backend) {
    let Some(suite) = suite(backend).await else {
        return;
    };
    let mut client = suite.differentiation();
    let recorded = client
        .record_transactions(pb::RecordTransactionsRequest {
            transactions: vec![
                purchase("M1", "m-1", START, 1_000, "books"),
                purchase("M2", "m-2", START + DAY, 2_000, "music"),
            ],
        })
        .await
        .unwrap()
        .into_inner();
    let first = recorded.results[0].customer_id.clone();
    let second = recorded.results[1].customer_id.clone();
    assert_ne!(first, second);

    let merged = suite
        .identity()
        .merge(pb::MergeRequest {
            customer_ids: vec![first.clone(), second.clone()],
            reason: "same person".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let survivor = merged.customer_id.clone();
    let value = eventually(&suite, &survivor, |v| v.order_count == 2).await;
    assert_eq!(
        value.order_count, 2,
        "after a merge, value covers both customers' orders"
    );
    assert_eq!(value.revenue[0].minor_units, 3_000);

    // Unmerge the record differentiation created for M2: its order goes with it.
    let absorbed_anchor = if survivor == first {
        "loyalty:M2"
    } else {
        "loyalty:M1"
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
    let value = eventually(&suite, &survivor, |v| v.order_count == 1).await;
    assert_eq!(value.order_count, 1, "after an unmerge, value splits back");
    let other = eventually(&suite, &split.new_customer_id, |v| v.order_count == 1).await;
    assert_eq!(other.order_count, 1);

    // Erase deletes the customer's transactions.
    suite
        .identity()
        .erase_customer(pb::EraseCustomerRequest {
            customer: by_id(&split.new_customer_id),
            reason: "request 42".into(),
        })
        .await
        .unwrap();
    let mut erased = false;
    for _ in 0..100 {
        match client
            .get_customer_value(pb::GetCustomerValueRequest {
                customer: by_id(&split.new_customer_id),
            })
            .await
        {
            Ok(response)
                if response
                    .get_ref()
                    .value
                    .as_ref()
                    .is_some_and(|v| v.order_count == 0) =>
            {
                erased = true;
                break;
            }
            Err(status) if status.code() == Code::NotFound => {
                // Identity no longer knows the id; check the store through the survivor.
                erased = true;
                break;
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    assert!(erased);
    suite.stop().await.unwrap();
}

#[tokio::test]
async fn value_follows_identity_on_sqlite() {
    value_follows_identity(Backend::Embedded).await;
}

#[tokio::test]
async fn value_follows_identity_on_postgres() {
    value_follows_identity(Backend::Postgres).await;
}

/// Purchases enter the interaction timeline once, from the published events, even
/// when the order system retries the batch.
async fn purchases_reach_the_timeline_once(backend: Backend) {
    let Some(suite) = suite(backend).await else {
        return;
    };
    let batch = vec![
        purchase("T1", "t-1", START, 1_000, "books"),
        purchase("T1", "t-2", START + DAY, 2_000, "music"),
    ];
    for _ in 0..2 {
        suite
            .differentiation()
            .record_transactions(pb::RecordTransactionsRequest {
                transactions: batch.clone(),
            })
            .await
            .unwrap();
    }
    let purchases = |response: &pb::ListTimelineResponse| {
        response
            .interactions
            .iter()
            .filter(|i| i.r#type == pb::InteractionType::Purchase as i32)
            .count()
    };
    let mut timeline = pb::ListTimelineResponse::default();
    for _ in 0..100 {
        timeline = suite
            .interaction()
            .list_timeline(pb::ListTimelineRequest {
                customer: loyalty("T1"),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        if purchases(&timeline) >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Give a duplicate delivery time to show up, then check there is none.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let timeline = suite
        .interaction()
        .list_timeline(pb::ListTimelineRequest {
            customer: loyalty("T1"),
            ..Default::default()
        })
        .await
        .map(|r| r.into_inner())
        .unwrap_or(timeline);
    assert_eq!(purchases(&timeline), 2, "{timeline:?}");
    suite.stop().await.unwrap();
}

#[tokio::test]
async fn purchases_reach_the_timeline_once_on_sqlite() {
    purchases_reach_the_timeline_once(Backend::Embedded).await;
}

#[tokio::test]
async fn purchases_reach_the_timeline_once_on_postgres() {
    purchases_reach_the_timeline_once(Backend::Postgres).await;
}
