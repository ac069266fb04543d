//! Bounded errors, ranges and overflow, per-event Segment results: what the hostile
//! input run of issue 13 found, each kept found by a test.

use idic_proto::v1 as pb;
use idic_proto::v1::{CustomerRef, Identifier, IdentifierKind, customer_ref};
use idic_testkit::TestSuite;
use idic_testkit::raw::RawCodec;
use sqlx::{Connection, SqliteConnection};
use tonic::Code;
use tonic_types::StatusExt;

fn email(value: &str) -> Option<CustomerRef> {
    Some(CustomerRef {
        r#ref: Some(customer_ref::Ref::Identifier(Identifier {
            kind: IdentifierKind::Email as i32,
            value: value.to_owned(),
            ..Identifier::default()
        })),
    })
}

fn fields(status: &tonic::Status) -> Vec<String> {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let details = status.get_error_details();
    details
        .bad_request()
        .expect("a BadRequest detail")
        .field_violations
        .iter()
        .map(|violation| violation.field.clone())
        .collect()
}

fn at(seconds: i64, nanos: i32) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp { seconds, nanos })
}

fn eur(minor_units: i64) -> Option<pb::Money> {
    Some(pb::Money {
        currency: "EUR".to_owned(),
        minor_units,
    })
}

fn purchase(order_id: &str, minor_units: i64) -> pb::TransactionInput {
    pb::TransactionInput {
        customer: email("ada@example.com"),
        order_id: order_id.to_owned(),
        occurred_at: at(1_767_323_045, 0),
        amount: eur(minor_units),
        ..Default::default()
    }
}

/// A connection to one service's SQLite file, to plant what an older version stored.
async fn database(suite: &TestSuite, service: &str) -> SqliteConnection {
    let path = suite.config.data_dir.join(format!("{service}.db"));
    SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("the service database")
}

#[tokio::test]
async fn a_flood_of_bad_values_gets_a_small_invalid_argument() {
    let suite = TestSuite::start().await;
    let status = suite
        .interaction()
        .list_timeline(pb::ListTimelineRequest {
            customer: email("ada@example.com"),
            channels: vec![999; 100_000],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().len() <= 600, "{}", status.message().len());
    assert!(
        status.details().len() < 8 * 1024,
        "{}",
        status.details().len()
    );
    let listed = fields(&status);
    assert_eq!(listed.len(), idic_runtime::error::MAX_LISTED_VIOLATIONS + 1);
    assert_eq!(listed[0], "channels[0]");
    let details = status.get_error_details();
    let last = details
        .bad_request()
        .unwrap()
        .field_violations
        .last()
        .unwrap();
    assert!(last.description.contains("more violations"), "{last:?}");
    suite.stop().await.unwrap();
}

#[tokio::test]
async fn undecodable_protobuf_is_the_callers_mistake() {
    let suite = TestSuite::start().await;
    let channel = tonic::transport::Channel::from_shared(suite.endpoint())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    for (path, body) in [
        // A truncated varint.
        ("/idic.v1.IdentityService/GetCustomer", vec![0x08, 0xff]),
        // A string field holding invalid UTF-8.
        (
            "/idic.v1.DifferentiationService/RecordTransactions",
            vec![0x0a, 0x04, 0x12, 0x02, 0xff, 0xfe],
        ),
        // A length beyond the message.
        (
            "/idic.v1.InteractionService/ListTimeline",
            vec![0x0a, 0x7f, 0x01],
        ),
    ] {
        grpc.ready().await.unwrap();
        let status = grpc
            .unary(tonic::Request::new(body), path.parse().unwrap(), RawCodec)
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{path}: {status:?}");
        assert!(
            status.message().contains("not valid protobuf"),
            "{status:?}"
        );
    }
    suite.stop().await.unwrap();
}

#[tokio::test]
async fn amounts_quantities_and_instants_out_of_range_are_refused_by_field() {
    let suite = TestSuite::start().await;
    let mut too_much = purchase("ord-1", i64::MAX);
    too_much.margin_minor_units = Some(i64::MIN);
    too_much.lines.push(pb::OrderLine {
        product: "p".into(),
        quantity: u32::MAX,
        amount: eur(1_000_000_000_000_001),
        ..Default::default()
    });
    let mut year_one = purchase("ord-2", 100);
    year_one.occurred_at = at(-62_135_596_800, 0);
    let mut year_9999 = purchase("ord-3", 100);
    year_9999.occurred_at = at(253_402_300_799, 0);
    let mut bad_nanos = purchase("ord-4", 100);
    bad_nanos.occurred_at = at(1_767_323_045, 1_000_000_000);
    let status = suite
        .differentiation()
        .record_transactions(pb::RecordTransactionsRequest {
            transactions: vec![too_much, year_one, year_9999, bad_nanos],
            strict: false,
        })
        .await
        .unwrap_err();
    assert_eq!(
        fields(&status),
        [
            "transactions[0].amount.minor_units",
            "transactions[0].margin_minor_units",
            "transactions[0].lines[0].amount.minor_units",
            "transactions[0].lines[0].quantity",
            "transactions[1].occurred_at",
            "transactions[2].occurred_at",
            "transactions[3].occurred_at",
        ]
    );
    let nothing = suite
        .differentiation()
        .get_customer_value(pb::GetCustomerValueRequest {
            customer: email("ada@example.com"),
        })
        .await;
    assert!(
        nothing
            .as_ref()
            .is_err_and(|status| status.code() == Code::NotFound),
        "{nothing:?}"
    );

    // The time is required, so it refuses the contact; the cost is optional, so out of
    // range it is a warning and left out, unless the caller asks for strict checking.
    let contact = |strict: bool| pb::RecordInteractionRequest {
        customer: email("ada@example.com"),
        channel: pb::Channel::CallCenter as i32,
        r#type: pb::InteractionType::Call as i32,
        occurred_at: at(-1, 0),
        cost: eur(i64::MAX),
        strict,
        ..Default::default()
    };
    let negative = suite
        .interaction()
        .record_interaction(contact(false))
        .await
        .unwrap_err();
    assert_eq!(fields(&negative), ["occurred_at"]);
    let strict = suite
        .interaction()
        .record_interaction(contact(true))
        .await
        .unwrap_err();
    assert_eq!(fields(&strict), ["occurred_at", "cost.minor_units"]);
    let kept = suite
        .interaction()
        .record_interaction(pb::RecordInteractionRequest {
            occurred_at: at(1_767_323_045, 0),
            ..contact(false)
        })
        .await
        .expect("a contact with an out-of-range cost is kept without it")
        .into_inner();
    assert_eq!(
        kept.warnings
            .iter()
            .map(|w| w.field.as_str())
            .collect::<Vec<_>>(),
        ["cost.minor_units"]
    );

    let price = suite
        .customization()
        .upsert_components(pb::UpsertComponentsRequest {
            components: vec![pb::Component {
                component_id: "packaging.gold".into(),
                slot: pb::Slot::Packaging as i32,
                name: "gold box".into(),
                cost: eur(100),
                price: eur(i64::MAX),
                available: true,
                ..Default::default()
            }],
        })
        .await
        .unwrap_err();
    assert_eq!(fields(&price), ["components[0].price.minor_units"]);
    suite.stop().await.unwrap();
}

#[tokio::test]
async fn sums_of_what_is_already_stored_never_break_a_read() {
    let suite = TestSuite::start().await;
    suite
        .differentiation()
        .record_transactions(pb::RecordTransactionsRequest {
            transactions: vec![purchase("ord-1", 100), purchase("ord-2", 100)],
            strict: false,
        })
        .await
        .unwrap();
    for _ in 0..2 {
        suite
            .interaction()
            .record_interaction(pb::RecordInteractionRequest {
                customer: email("ada@example.com"),
                channel: pb::Channel::CallCenter as i32,
                r#type: pb::InteractionType::Call as i32,
                occurred_at: at(1_767_323_045, 0),
                cost: eur(100),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    // What a version without range checks let in: two amounts and costs of i64::MAX.
    let mut differentiation = database(&suite, "differentiation").await;
    sqlx::query("UPDATE transactions SET amount_minor = 9223372036854775807")
        .execute(&mut differentiation)
        .await
        .unwrap();
    let mut interaction = database(&suite, "interaction").await;
    sqlx::query("UPDATE interactions SET cost_minor_units = 9223372036854775807")
        .execute(&mut interaction)
        .await
        .unwrap();

    let value = suite
        .differentiation()
        .get_customer_value(pb::GetCustomerValueRequest {
            customer: email("ada@example.com"),
        })
        .await
        .expect("the value reads")
        .into_inner()
        .value
        .unwrap();
    assert_eq!(value.revenue[0].minor_units, i64::MAX);

    let report = suite
        .interaction()
        .get_channel_report(pb::GetChannelReportRequest {
            period: Some(pb::TimeRange {
                start: at(1_767_000_000, 0),
                end: at(1_768_000_000, 0),
            }),
            ..Default::default()
        })
        .await
        .expect("the report reads")
        .into_inner();
    assert_eq!(report.total_cost[0].minor_units, i64::MAX);
    suite.stop().await.unwrap();
}

#[tokio::test]
async fn estimate_parameters_refuses_more_pairs_than_its_maximum() {
    let suite = TestSuite::start().await;
    let status = suite
        .identity()
        .estimate_parameters(pb::EstimateParametersRequest {
            random_pairs: 5_000_000,
            candidate_pairs: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(fields(&status), ["random_pairs"]);
    assert!(status.message().contains("at most 1000000"), "{status:?}");
    suite.stop().await.unwrap();
}

#[tokio::test]
async fn a_segment_batch_answers_per_event_and_keeps_events_with_a_bad_trait() {
    let suite = TestSuite::start().await;
    let events = vec![
        r#"{"type":"identify","messageId":"m1","userId":"u1","traits":{"email":"ada@example.com","name":"Ada Lovelace"}}"#.to_owned(),
        r#"{"type":"track","messageId":"m2","userId":"u1","event":"Order Completed"}"#.to_owned(),
        r#"{"type":"identify","messageId":"m3","userId":"u2","traits":{"email":"bad@@x","name":"Grace Hopper"}}"#.to_owned(),
        r#"{"type":"page","messageId":"m4"}"#.to_owned(),
    ];
    let response = suite
        .interaction()
        .ingest_segment_events(pb::IngestSegmentEventsRequest { events })
        .await
        .expect("per-event results, not a refusal of the batch")
        .into_inner();
    let errors: Vec<&str> = response.results.iter().map(|r| r.error.as_str()).collect();
    assert_eq!(errors[..3], ["", "", ""], "{response:?}");
    assert!(errors[3].contains("userId"), "{response:?}");
    assert_eq!((response.ingested, response.rejected), (3, 1));
    let kept = &response.results[2];
    assert_eq!(kept.warnings.len(), 1, "{kept:?}");
    assert!(kept.warnings[0].starts_with("traits.email"), "{kept:?}");

    let customer = suite
        .identity()
        .get_customer(pb::GetCustomerRequest {
            customer: Some(CustomerRef {
                r#ref: Some(customer_ref::Ref::CustomerId(kept.customer_id.clone())),
            }),
        })
        .await
        .unwrap()
        .into_inner()
        .customer
        .unwrap();
    let golden = customer.golden.unwrap();
    assert_eq!(golden.family_name, "Hopper");
    assert!(golden.emails.is_empty(), "{golden:?}");
    suite.stop().await.unwrap();
}
