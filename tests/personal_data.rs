//! A data subject's rights across the four services, as a data protection officer
//! exercises them with an `admin` key: `ExportCustomer` returns what every service
//! holds about the customer, and after `EraseCustomer` none of the customer's name,
//! e-mail, phone or street is left in the bytes of any SQLite file (databases and
//! write-ahead logs) under the data directory.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use idic_proto::v1 as pb;
use idic_proto::v1::customer_ref;
use idic_proto::v1::customization_service_client::CustomizationServiceClient;
use idic_proto::v1::differentiation_service_client::DifferentiationServiceClient;
use idic_proto::v1::identity_service_client::IdentityServiceClient;
use idic_proto::v1::interaction_service_client::InteractionServiceClient;
use idic_runtime::peers::PeerChannel;
use idic_testkit::{Backend, SuiteOptions, TestSuite, api_key};

const GIVEN: &str = "Zenobia";
const FAMILY: &str = "Quixtanilla";
const EMAIL: &str = "zenobia.quixtanilla@example.org";
const PHONE: &str = "+44 20 7946 0321";
const STREET: &str = "Thornbury Crescent";

/// The texts that must not survive an erasure, as sent and as normalized forms would
/// hold them; compared without regard to case.
const SECRETS: &[&str] = &[GIVEN, FAMILY, EMAIL, "7946 0321", "2079460321", STREET];

/// The suite with authentication on and a data protection officer's `admin` key;
/// `None` when PostgreSQL or Redis is missing outside CI.
async fn suite_on(backend: Backend) -> Option<TestSuite> {
    let options = SuiteOptions::new(backend)
        .with_client("dpo", &["admin"])
        .with_client("callcenter", &["identity:read", "interaction:read"]);
    TestSuite::start_with(options).await
}

async fn suite() -> TestSuite {
    suite_on(Backend::Embedded)
        .await
        .expect("the embedded suite starts")
}

fn channel(suite: &TestSuite) -> PeerChannel {
    suite.channel_with_key(Some(&api_key("dpo")))
}

fn by_email() -> Option<pb::CustomerRef> {
    Some(pb::CustomerRef {
        r#ref: Some(customer_ref::Ref::Identifier(pb::Identifier {
            kind: pb::IdentifierKind::Email as i32,
            value: EMAIL.to_owned(),
            ..Default::default()
        })),
    })
}

fn by_id(customer_id: &str) -> Option<pb::CustomerRef> {
    Some(pb::CustomerRef {
        r#ref: Some(customer_ref::Ref::CustomerId(customer_id.to_owned())),
    })
}

/// The customer as a call center, an order system and a website meet her: a record in
/// identity, an order, a complaint with a need, a consent, an offering.
async fn seed_customer(suite: &TestSuite) -> String {
    let customer_id = IdentityServiceClient::new(channel(suite))
        .upsert_record(pb::UpsertRecordRequest {
            record: Some(pb::SourceRecord {
                source_system: "crm".into(),
                source_record_id: "z-1".into(),
                channel: pb::Channel::CallCenter as i32,
                name: Some(pb::PersonName {
                    given: GIVEN.into(),
                    family: FAMILY.into(),
                    ..Default::default()
                }),
                emails: vec![EMAIL.into()],
                phones: vec![PHONE.into()],
                addresses: vec![pb::PostalAddress {
                    street_number: "17".into(),
                    street: STREET.into(),
                    locality: "London".into(),
                    postcode: "SW1A 1AA".into(),
                    country: "GB".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            strict: false,
        })
        .await
        .expect("identity takes the record")
        .into_inner()
        .customer_id;
    DifferentiationServiceClient::new(channel(suite))
        .record_transactions(pb::RecordTransactionsRequest {
            transactions: vec![pb::TransactionInput {
                customer: by_email(),
                order_id: "ord-z-1".into(),
                kind: pb::TransactionKind::Purchase as i32,
                occurred_at: Some(prost_types::Timestamp {
                    seconds: 1_772_442_000,
                    nanos: 0,
                }),
                amount: Some(pb::Money {
                    currency: "EUR".into(),
                    minor_units: 4999,
                }),
                lines: vec![pb::OrderLine {
                    product: "kettle".into(),
                    category: "kitchen".into(),
                    quantity: 1,
                    amount: Some(pb::Money {
                        currency: "EUR".into(),
                        minor_units: 4999,
                    }),
                }],
                ..Default::default()
            }],
            strict: false,
        })
        .await
        .expect("differentiation takes the order");
    let mut interaction = InteractionServiceClient::new(channel(suite));
    interaction
        .record_interaction(pb::RecordInteractionRequest {
            customer: by_email(),
            channel: pb::Channel::CallCenter as i32,
            r#type: pb::InteractionType::Complaint as i32,
            open_thread: true,
            topic: "late delivery".into(),
            summary: format!("{GIVEN} {FAMILY} says the kettle never came to {STREET}"),
            needs: vec![pb::ExpressedNeed {
                key: "delivery".into(),
                value: "evenings".into(),
            }],
            idempotency_key: "call-z-1".into(),
            ..Default::default()
        })
        .await
        .expect("interaction takes the complaint");
    interaction
        .record_consent(pb::RecordConsentRequest {
            customer: by_email(),
            channel: pb::Channel::Email as i32,
            purpose: "marketing".into(),
            status: pb::ConsentStatus::Granted as i32,
            decided_at: Some(prost_types::Timestamp {
                seconds: 1_772_442_000,
                nanos: 0,
            }),
            source: "web signup".into(),
            idempotency_key: "consent-z-1".into(),
        })
        .await
        .expect("interaction takes the consent");
    CustomizationServiceClient::new(channel(suite))
        .get_tailored_offering(pb::GetTailoredOfferingRequest {
            customer: by_email(),
            idempotency_key: "web-z-1".into(),
            ..Default::default()
        })
        .await
        .expect("customization makes an offering");
    customer_id
}

/// The export, once the services that learn from each other's events hold all they
/// will: the need reaches differentiation through interaction's stream, the order and
/// the offering reach interaction's timeline through theirs.
async fn complete_export(suite: &TestSuite, customer_id: &str) -> pb::ExportCustomerResponse {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let export = IdentityServiceClient::new(channel(suite))
            .export_customer(pb::ExportCustomerRequest {
                customer: by_id(customer_id),
            })
            .await
            .expect("an admin may export")
            .into_inner();
        let learned = export
            .differentiation
            .as_ref()
            .is_some_and(|part| !part.preferences.is_empty())
            && export
                .interaction
                .as_ref()
                .is_some_and(|part| part.interactions.len() >= 3);
        if learned || Instant::now() > deadline {
            return export;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn export_gathers_what_every_service_holds() {
    export_story(Backend::Embedded).await;
}

#[tokio::test]
async fn export_gathers_what_every_service_holds_on_postgres() {
    export_story(Backend::Postgres).await;
}

async fn export_story(backend: Backend) {
    let Some(suite) = suite_on(backend).await else {
        return;
    };
    let customer_id = seed_customer(&suite).await;
    let export = complete_export(&suite, &customer_id).await;

    assert_eq!(export.records.len(), 1);
    assert_eq!(export.records[0].emails, [EMAIL]);
    let differentiation = export.differentiation.expect("differentiation's part");
    assert_eq!(differentiation.customer_id, customer_id);
    assert_eq!(differentiation.transactions.len(), 1);
    let order = differentiation.transactions[0]
        .transaction
        .as_ref()
        .unwrap();
    assert_eq!(order.order_id, "ord-z-1");
    assert_eq!(order.lines.len(), 1);
    assert_eq!(
        differentiation.transactions[0].customer_reference,
        format!("email:{EMAIL}")
    );
    assert_eq!(differentiation.preferences.len(), 1);
    assert_eq!(differentiation.value.unwrap().order_count, 1);

    let interaction = export.interaction.expect("interaction's part");
    assert_eq!(interaction.customer_id, customer_id);
    // The complaint, and the purchase and the offering as the timeline records them.
    let types: Vec<i32> = interaction.interactions.iter().map(|i| i.r#type).collect();
    for kind in [
        pb::InteractionType::Complaint,
        pb::InteractionType::Purchase,
        pb::InteractionType::OfferPresented,
    ] {
        assert!(types.contains(&(kind as i32)), "{kind:?} in {types:?}");
    }
    assert!(
        interaction
            .interactions
            .iter()
            .any(|step| step.summary.contains(FAMILY))
    );
    assert_eq!(interaction.threads.len(), 1);
    assert_eq!(interaction.preferences.len(), 1);
    assert_eq!(interaction.consents.len(), 1);
    assert!(
        interaction
            .customer_references
            .iter()
            .any(|reference| reference.contains(EMAIL)),
        "{:?}",
        interaction.customer_references
    );

    let customization = export.customization.expect("customization's part");
    assert_eq!(customization.customer_id, customer_id);
    assert_eq!(customization.offerings.len(), 1);
    assert!(customization.control_group.is_some());

    // A service's export is an administrator's, as identity's is: a key that reads
    // the timeline does not get the customer's whole file.
    let callcenter = suite.channel_with_key(Some(&api_key("callcenter")));
    let refused = InteractionServiceClient::new(callcenter.clone())
        .export_customer_data(pb::ExportCustomerDataRequest {
            customer: by_id(&customer_id),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);
    let refused = IdentityServiceClient::new(callcenter)
        .export_customer(pb::ExportCustomerRequest {
            customer: by_id(&customer_id),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);
    suite.stop().await.unwrap();
}

/// Each file under `directory` that holds one of the secrets, with the secret.
fn files_holding_secrets(directory: &Path) -> Vec<(PathBuf, &'static str)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(directory).unwrap() {
        let path = entry.unwrap().path();
        // A file SQLite removes while we list the directory holds nothing any more.
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let bytes = bytes.to_ascii_lowercase();
        for secret in SECRETS {
            let needle = secret.to_ascii_lowercase();
            if bytes
                .windows(needle.len())
                .any(|window| window == needle.as_bytes())
            {
                found.push((path.clone(), *secret));
            }
        }
    }
    found
}

/// The files still holding a secret once the other services have had up to 20 s to
/// follow identity's erasure (none, or what they left).
async fn secrets_left_after_followers(directory: &Path) -> Vec<(PathBuf, &'static str)> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut left = files_holding_secrets(directory);
    while !left.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        left = files_holding_secrets(directory);
    }
    left
}

#[tokio::test]
async fn erasure_leaves_no_personal_data_in_the_files() {
    let suite = suite().await;
    let customer_id = seed_customer(&suite).await;
    complete_export(&suite, &customer_id).await;
    let data_dir = suite.config.data_dir.clone();
    let before = files_holding_secrets(&data_dir);
    for service in [
        "identity",
        "differentiation",
        "interaction",
        "customization",
    ] {
        assert!(
            before
                .iter()
                .any(|(path, _)| path.to_string_lossy().contains(service)),
            "{service} holds the customer before the erasure: {before:?}"
        );
    }

    let erased = IdentityServiceClient::new(channel(&suite))
        .erase_customer(pb::EraseCustomerRequest {
            customer: by_id(&customer_id),
            reason: "data subject request 42".into(),
        })
        .await
        .expect("an admin may erase")
        .into_inner();
    assert_eq!(erased.records_erased, 1);

    // The other services erase as they follow identity's change stream.
    let left = secrets_left_after_followers(&data_dir).await;
    assert!(
        left.is_empty(),
        "personal data left after the erasure: {left:?}"
    );

    // Erasing again (as after a purge that could not finish) is answered, not refused.
    let again = IdentityServiceClient::new(channel(&suite))
        .erase_customer(pb::EraseCustomerRequest {
            customer: by_id(&customer_id),
            reason: "data subject request 42, retried".into(),
        })
        .await
        .expect("erasing an erased customer again completes it")
        .into_inner();
    assert_eq!(again.records_erased, 0);
    suite.stop().await.unwrap();
}

/// Estimated parameters count every name in the base (term frequencies), and their
/// versions are kept: after an erasure none of them holds the erased customer's name
/// (the snapshot written after an erasure: `tests/identity_snapshot.rs`).
#[tokio::test]
async fn erasure_takes_her_name_out_of_every_estimated_parameter_version() {
    let suite = suite().await;
    let customer_id = seed_customer(&suite).await;
    let mut identity = IdentityServiceClient::new(channel(&suite));
    identity
        .upsert_record(pb::UpsertRecordRequest {
            record: Some(pb::SourceRecord {
                source_system: "crm".into(),
                source_record_id: "other-1".into(),
                name: Some(pb::PersonName {
                    given: "Harold".into(),
                    family: "Brown".into(),
                    ..Default::default()
                }),
                emails: vec!["harold.brown@example.com".into()],
                ..Default::default()
            }),
            strict: false,
        })
        .await
        .expect("identity takes a second record");
    for _ in 0..2 {
        // Two versions: every saved version must forget her.
        identity
            .estimate_parameters(pb::EstimateParametersRequest {
                random_pairs: 1_000,
                candidate_pairs: 0,
            })
            .await
            .expect("an admin may estimate");
    }
    identity
        .erase_customer(pb::EraseCustomerRequest {
            customer: by_id(&customer_id),
            reason: "data subject request 43".into(),
        })
        .await
        .expect("an admin may erase");
    let left = secrets_left_after_followers(&suite.config.data_dir).await;
    assert!(
        left.is_empty(),
        "personal data left after the erasure: {left:?}"
    );
    suite.stop().await.unwrap();
}
