//! Tolerant ingest of transactions and interactions: an optional field that cannot be
//! read is left out with a warning naming its path and the row is kept; `strict`
//! refuses it as before; required fields (key, customer, amount, time, channel and
//! type of a contact) still refuse the row.

use idic_proto::v1 as pb;
use idic_testkit::TestSuite;
use tonic::Code;
use tonic_types::StatusExt;

fn loyalty(value: &str) -> Option<pb::CustomerRef> {
    Some(pb::CustomerRef {
        r#ref: Some(pb::customer_ref::Ref::Identifier(pb::Identifier {
            kind: pb::IdentifierKind::LoyaltyId as i32,
            value: value.to_owned(),
            ..pb::Identifier::default()
        })),
    })
}

fn violated_fields(status: &tonic::Status) -> Vec<String> {
    let mut fields: Vec<String> = status
        .get_error_details()
        .bad_request()
        .map(|bad| {
            bad.field_violations
                .iter()
                .map(|violation| violation.field.clone())
                .collect()
        })
        .unwrap_or_default();
    fields.sort();
    fields
}

fn warned_fields(warnings: &[pb::FieldWarning]) -> Vec<String> {
    let mut fields: Vec<String> = warnings
        .iter()
        .map(|warning| warning.field.clone())
        .collect();
    fields.sort();
    fields
}

/// 2026-03-02 09:00 UTC.
const MONDAY: i64 = 1_772_442_000;

/// A purchase whose optional fields cannot be read: an unknown channel, a commitment
/// beyond 50 years and a category with a control character.
fn messy_purchase(order: &str) -> pb::TransactionInput {
    pb::TransactionInput {
        customer: loyalty("T-1"),
        order_id: order.to_owned(),
        kind: pb::TransactionKind::Purchase as i32,
        occurred_at: Some(prost_types::Timestamp {
            seconds: MONDAY,
            nanos: 0,
        }),
        amount: Some(pb::Money {
            currency: "EUR".into(),
            minor_units: 4_999,
        }),
        margin_minor_units: None,
        lines: vec![pb::OrderLine {
            product: "kettle".into(),
            category: "kitchen\u{7}".into(),
            quantity: 1,
            amount: Some(pb::Money {
                currency: "EUR".into(),
                minor_units: 4_999,
            }),
        }],
        channel: 99,
        commitment_months: 700,
    }
}

async fn order_count(suite: &TestSuite) -> Option<u64> {
    suite
        .differentiation()
        .get_customer_value(pb::GetCustomerValueRequest {
            customer: loyalty("T-1"),
        })
        .await
        .ok()
        .and_then(|response| response.into_inner().value)
        .map(|value| value.order_count)
}

#[tokio::test]
async fn a_transaction_with_unreadable_optional_fields_is_kept_with_warnings() {
    let suite = TestSuite::start().await;
    let mut client = suite.differentiation();

    let strict = client
        .record_transactions(pb::RecordTransactionsRequest {
            transactions: vec![messy_purchase("o-1")],
            strict: true,
        })
        .await
        .unwrap_err();
    assert_eq!(strict.code(), Code::InvalidArgument);
    assert_eq!(
        violated_fields(&strict),
        [
            "transactions[0].channel",
            "transactions[0].commitment_months",
            "transactions[0].lines[0].category"
        ]
    );
    assert_eq!(order_count(&suite).await, None, "strict stored nothing");

    let kept = client
        .record_transactions(pb::RecordTransactionsRequest {
            transactions: vec![messy_purchase("o-1")],
            strict: false,
        })
        .await
        .expect("the transaction is kept")
        .into_inner();
    assert_eq!(kept.created, 1);
    let warnings = &kept.results[0].warnings;
    assert_eq!(
        warned_fields(warnings),
        [
            "transactions[0].channel",
            "transactions[0].commitment_months",
            "transactions[0].lines[0].category"
        ]
    );
    let category = warnings
        .iter()
        .find(|warning| warning.field.ends_with("category"))
        .unwrap();
    assert_eq!(category.value, "kitchen\u{7}");
    assert_eq!(order_count(&suite).await, Some(1));

    // Required fields still refuse the row.
    let mut no_amount = messy_purchase("o-2");
    no_amount.amount = None;
    let refused = client
        .record_transactions(pb::RecordTransactionsRequest {
            transactions: vec![no_amount],
            strict: false,
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&refused), ["transactions[0].amount"]);
    assert_eq!(order_count(&suite).await, Some(1));
    suite.stop().await.unwrap();
}

/// A contact whose optional fields cannot be read: an unknown sentiment, a need
/// without a key and a cost that is not money.
fn messy_call() -> pb::RecordInteractionRequest {
    pb::RecordInteractionRequest {
        customer: loyalty("I-1"),
        channel: pb::Channel::CallCenter as i32,
        r#type: pb::InteractionType::Call as i32,
        topic: "delivery".into(),
        sentiment: 42,
        needs: vec![pb::ExpressedNeed {
            key: " ".into(),
            value: "evenings".into(),
        }],
        cost: Some(pb::Money {
            currency: "euro".into(),
            minor_units: -5,
        }),
        ..Default::default()
    }
}

const MESSY_CALL_FIELDS: [&str; 4] = [
    "cost.currency",
    "cost.minor_units",
    "needs[0].key",
    "sentiment",
];

#[tokio::test]
async fn an_interaction_with_unreadable_optional_fields_is_kept_with_warnings() {
    let suite = TestSuite::start().await;
    let mut client = suite.interaction();

    let strict = client
        .record_interaction(pb::RecordInteractionRequest {
            strict: true,
            ..messy_call()
        })
        .await
        .unwrap_err();
    assert_eq!(strict.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&strict), MESSY_CALL_FIELDS);

    let kept = client
        .record_interaction(messy_call())
        .await
        .expect("the interaction is kept")
        .into_inner();
    assert_eq!(warned_fields(&kept.warnings), MESSY_CALL_FIELDS);
    let interaction = kept.interaction.unwrap();
    assert_eq!(interaction.topic, "delivery");
    assert_eq!(interaction.sentiment, 0);
    assert!(interaction.cost.is_none());
    assert!(interaction.needs.is_empty());

    // In a batch, each result carries its own warnings; `strict` on the batch refuses.
    let batch = vec![
        pb::RecordInteractionRequest {
            idempotency_key: "clean".into(),
            ..messy_call()
        },
        pb::RecordInteractionRequest {
            idempotency_key: "messy".into(),
            direction: 7,
            ..messy_call()
        },
    ];
    let refused = client
        .record_interactions(pb::RecordInteractionsRequest {
            interactions: batch.clone(),
            strict: true,
        })
        .await
        .unwrap_err();
    assert!(violated_fields(&refused).contains(&"interactions[1].direction".to_owned()));
    let results = client
        .record_interactions(pb::RecordInteractionsRequest {
            interactions: batch,
            strict: false,
        })
        .await
        .unwrap()
        .into_inner()
        .results;
    assert_eq!(results[0].warnings.len(), 4);
    assert!(warned_fields(&results[1].warnings).contains(&"interactions[1].direction".to_owned()));

    // Required fields still refuse.
    let untyped = client
        .record_interaction(pb::RecordInteractionRequest {
            r#type: 0,
            ..messy_call()
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&untyped), ["type"]);
    suite.stop().await.unwrap();
}

const RECORDS_CSV: &str = "\
source_system,source_record_id,channel,given_name,family_name,date_of_birth,email,phone,street_number,street,postcode
webshop,u-1,web,Ann,Lee,1984-03-02,ann.lee@example.com,+1 217 555 0148,12,High Street,62704
callcenter,c-1,fax,Ann,Lee,1984-02-31,ann.lee@example.com,+1 421 616 3490,12,High Street,62704
crm,g-1,web,,,1984-02-31,not-an-email,000-0000,,,
";

/// `idic import records` against `suite`, with `extra` arguments; its standard output.
/// Every run of this test rejects a row, so the command must end with a failure, after
/// printing its summary.
async fn import_records_cli(suite: &TestSuite, extra: &[&str]) -> String {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), RECORDS_CSV).unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_idic"))
        .args(["import", "records"])
        .arg(file.path())
        .args(extra)
        .args(["--server", &suite.endpoint()])
        .output()
        .await
        .expect("idic runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("rows rejected"), "{stderr}");
    stdout
}

/// The count printed for one field and reason in the summary's warnings table.
fn warning_count(stdout: &str, field_and_reason: &str) -> Option<u64> {
    stdout.lines().find_map(|line| {
        let (count, rest) = line.trim_start().split_once("  ")?;
        rest.trim_start()
            .starts_with(field_and_reason)
            .then(|| count.parse().ok())?
    })
}

#[tokio::test]
async fn the_records_import_summary_counts_warnings_per_field_and_reason() {
    let suite = TestSuite::start().await;
    let stdout = import_records_cli(&suite, &[]).await;
    assert!(
        stdout.contains("3 received, 2 stored, 0 unchanged, 1 rejected"),
        "{stdout}"
    );
    for field_and_reason in [
        "phones: is not a valid phone number for region US",
        "date_of_birth: is not a date that exists",
        "channel: is not a known channel; the valid ones are call_center, web",
    ] {
        assert_eq!(
            warning_count(&stdout, field_and_reason),
            Some(1),
            "{field_and_reason} in {stdout}"
        );
    }
    // The garbage-only row is the one refused, by its line in the file.
    assert!(stdout.contains("row 4 (crm/g-1)"), "{stdout}");
    suite.stop().await.unwrap();

    let suite = TestSuite::start().await;
    let strict = import_records_cli(&suite, &["--strict"]).await;
    assert!(
        strict.contains("3 received, 1 stored, 0 unchanged, 2 rejected"),
        "{strict}"
    );
    assert!(
        strict.contains("row 3 (callcenter/c-1): channel"),
        "{strict}"
    );
    suite.stop().await.unwrap();
}
