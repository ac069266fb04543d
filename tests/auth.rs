//! With API keys configured, every RPC needs a key holding its scope; probes and
//! reflection stay open, and the services still reach each other. A service calling
//! a peer for a client grants that client nothing beyond its own key's scopes: side
//! effects in other services need the scope of that service (see the README).

use idic_proto::v1 as pb;
use idic_proto::v1::customization_service_client::CustomizationServiceClient;
use idic_proto::v1::differentiation_service_client::DifferentiationServiceClient;
use idic_proto::v1::identity_service_client::IdentityServiceClient;
use idic_proto::v1::interaction_service_client::InteractionServiceClient;
use idic_proto::v1::{CustomerRef, GetCustomerRequest, GetCustomerValueRequest, customer_ref};
use idic_runtime::config::{ApiKeyConfig, Secret};
use idic_testkit::{Backend, SuiteOptions, TestSuite, api_key};
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

fn by_id(id: &str) -> Option<CustomerRef> {
    Some(CustomerRef {
        r#ref: Some(customer_ref::Ref::CustomerId(id.to_owned())),
    })
}

async fn suite_with_keys() -> TestSuite {
    let options = SuiteOptions::new(Backend::Embedded)
        .with_client(
            "callcenter",
            &["identity:read", "interaction:read", "interaction:write"],
        )
        .with_client("orders", &["customization:read"])
        .with_client("analyst", &["differentiation:read"])
        .with_client("pbx", &["interaction:write"])
        .with_client("agent", &["interaction:read"])
        .with_client(
            "frontdesk",
            &[
                "identity:read",
                "identity:write",
                "interaction:read",
                "interaction:write",
                "differentiation:read",
            ],
        )
        .with_client("shop", &["differentiation:write"])
        .with_client("erp", &["differentiation:write", "identity:write"])
        .with_client("ops", &["admin"]);
    TestSuite::start_with(options).await.unwrap()
}

fn by_email(email: &str) -> Option<CustomerRef> {
    Some(CustomerRef {
        r#ref: Some(customer_ref::Ref::Identifier(pb::Identifier {
            kind: pb::IdentifierKind::Email as i32,
            value: email.to_owned(),
            ..pb::Identifier::default()
        })),
    })
}

fn interactions(
    suite: &TestSuite,
    client: &str,
) -> InteractionServiceClient<idic_runtime::peers::PeerChannel> {
    InteractionServiceClient::new(suite.channel_with_key(Some(&api_key(client))))
}

fn call(email: &str, key: &str) -> pb::RecordInteractionRequest {
    pb::RecordInteractionRequest {
        customer: by_email(email),
        channel: pb::Channel::CallCenter as i32,
        r#type: pb::InteractionType::Inquiry as i32,
        occurred_at: Some(prost_types::Timestamp {
            seconds: 1_772_442_000,
            nanos: 0,
        }),
        topic: "opening hours".into(),
        idempotency_key: key.to_owned(),
        ..Default::default()
    }
}

/// Whether identity knows a customer for `email`, asked with an admin key.
async fn identity_knows(suite: &TestSuite, email: &str) -> bool {
    let mut identity = IdentityServiceClient::new(suite.channel_with_key(Some(&api_key("ops"))));
    match identity
        .lookup_customer_id(pb::LookupCustomerIdRequest {
            customer: by_email(email),
        })
        .await
    {
        Ok(_) => true,
        Err(status) if status.code() == Code::NotFound => false,
        Err(status) => panic!("lookup failed: {status:?}"),
    }
}

fn purchase(email: &str, order: &str) -> pb::RecordTransactionsRequest {
    pb::RecordTransactionsRequest {
        transactions: vec![pb::TransactionInput {
            customer: by_email(email),
            order_id: order.to_owned(),
            kind: pb::TransactionKind::Purchase as i32,
            occurred_at: Some(prost_types::Timestamp {
                seconds: 1_772_442_000,
                nanos: 0,
            }),
            amount: Some(pb::Money {
                currency: "EUR".into(),
                minor_units: 3_499,
            }),
            ..Default::default()
        }],
        strict: false,
    }
}

async fn get_customer(suite: &TestSuite, key: Option<&str>) -> tonic::Status {
    let mut identity = IdentityServiceClient::new(suite.channel_with_key(key));
    identity
        .get_customer(GetCustomerRequest {
            customer: by_id("cus_unknown"),
        })
        .await
        .expect_err("no customer is stored")
}

#[tokio::test]
async fn calls_without_valid_credentials_are_unauthenticated() {
    let suite = suite_with_keys().await;
    assert_eq!(
        get_customer(&suite, None).await.code(),
        Code::Unauthenticated
    );
    assert_eq!(
        get_customer(&suite, Some("not-a-key-of-this-suite"))
            .await
            .code(),
        Code::Unauthenticated
    );
    suite.stop().await.unwrap();
}

#[tokio::test]
async fn a_key_without_the_scope_is_permission_denied() {
    let suite = suite_with_keys().await;
    let denied = get_customer(&suite, Some(&api_key("orders"))).await;
    assert_eq!(denied.code(), Code::PermissionDenied);
    assert!(
        denied.message().contains("identity:read"),
        "{}",
        denied.message()
    );
    // The right scope gets through to the handler, which finds no such customer.
    assert_eq!(
        get_customer(&suite, Some(&api_key("callcenter")))
            .await
            .code(),
        Code::NotFound
    );
    suite.stop().await.unwrap();
}

#[tokio::test]
async fn probes_and_reflection_need_no_key() {
    let suite = suite_with_keys().await;
    let mut health = HealthClient::new(suite.channel_with_key(None));
    let response = health
        .check(HealthCheckRequest {
            service: "idic.v1.IdentityService".to_owned(),
        })
        .await
        .unwrap();
    assert_eq!(response.into_inner().status, 1, "SERVING");
    suite.stop().await.unwrap();
}

#[tokio::test]
async fn services_reach_their_peers_with_auth_on() {
    let suite = suite_with_keys().await;
    // The analyst may not call identity itself, but differentiation resolves the
    // reference through identity with the process's own key: NOT_FOUND, not a refusal.
    let mut differentiation =
        DifferentiationServiceClient::new(suite.channel_with_key(Some(&api_key("analyst"))));
    let status = differentiation
        .get_customer_value(GetCustomerValueRequest {
            customer: by_id("cus_unknown"),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status}");
    suite.stop().await.unwrap();
}

#[tokio::test]
async fn creating_a_customer_through_interaction_needs_identity_write() {
    let suite = suite_with_keys().await;
    let denied = interactions(&suite, "pbx")
        .record_interaction(call("new.caller@example.com", "pbx-1"))
        .await
        .expect_err("interaction:write alone may not create an identity customer");
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
    assert!(denied.message().contains("identity:write"), "{denied:?}");
    assert!(!identity_knows(&suite, "new.caller@example.com").await);

    // With identity:write too, the same call creates the customer.
    let recorded = interactions(&suite, "frontdesk")
        .record_interaction(call("new.caller@example.com", "pbx-1"))
        .await
        .unwrap()
        .into_inner();
    assert!(recorded.customer_created);
    assert!(identity_knows(&suite, "new.caller@example.com").await);

    // A known customer needs no identity scope: resolving is part of every call.
    let again = interactions(&suite, "pbx")
        .record_interaction(call("new.caller@example.com", "pbx-2"))
        .await
        .unwrap()
        .into_inner();
    assert!(!again.customer_created);
    suite.stop().await.unwrap();
}

#[tokio::test]
async fn creating_a_customer_through_transactions_needs_identity_write() {
    let suite = suite_with_keys().await;
    let mut shop =
        DifferentiationServiceClient::new(suite.channel_with_key(Some(&api_key("shop"))));
    let denied = shop
        .record_transactions(purchase("first.buyer@example.com", "ord-1"))
        .await
        .expect_err("differentiation:write alone may not create an identity customer");
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
    assert!(denied.message().contains("identity:write"), "{denied:?}");
    assert!(!identity_knows(&suite, "first.buyer@example.com").await);

    let mut erp = DifferentiationServiceClient::new(suite.channel_with_key(Some(&api_key("erp"))));
    let recorded = erp
        .record_transactions(purchase("first.buyer@example.com", "ord-1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(recorded.created, 1);
    assert!(identity_knows(&suite, "first.buyer@example.com").await);
    suite.stop().await.unwrap();
}

#[tokio::test]
async fn a_context_shows_identity_data_only_to_keys_with_identity_read() {
    let suite = suite_with_keys().await;
    interactions(&suite, "frontdesk")
        .record_interaction(call("known@example.com", "desk-1"))
        .await
        .unwrap();
    let request = || pb::GetContextRequest {
        customer: by_email("known@example.com"),
        recent_limit: 0,
    };

    let narrow = interactions(&suite, "agent")
        .get_context(request())
        .await
        .unwrap()
        .into_inner();
    assert!(narrow.customer.is_none(), "identity's part is withheld");
    assert!(narrow.value.is_none(), "differentiation's part is withheld");
    assert_eq!(narrow.withheld, ["identity:read", "differentiation:read"]);
    assert!(narrow.degraded.is_empty(), "withheld is not a failure");
    assert_eq!(
        narrow.recent_interactions.len(),
        1,
        "interaction's own part"
    );

    let wide = interactions(&suite, "frontdesk")
        .get_context(request())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        wide.customer.expect("identity's part").email,
        "known@example.com"
    );
    assert!(wide.withheld.is_empty());
    suite.stop().await.unwrap();
}

#[tokio::test]
async fn an_order_system_gets_and_reads_back_offerings_with_customization_read() {
    let suite = suite_with_keys().await;
    interactions(&suite, "frontdesk")
        .record_interaction(call("buyer@example.com", "desk-1"))
        .await
        .unwrap();
    let mut admin = CustomizationServiceClient::new(suite.channel_with_key(Some(&api_key("ops"))));
    admin
        .upsert_components(pb::UpsertComponentsRequest {
            components: vec![pb::Component {
                component_id: "delivery.standard".into(),
                slot: pb::Slot::Delivery as i32,
                name: "standard delivery".into(),
                cost: Some(pb::Money {
                    currency: "EUR".into(),
                    minor_units: 400,
                }),
                available: true,
                ..Default::default()
            }],
        })
        .await
        .unwrap();
    let mut orders =
        CustomizationServiceClient::new(suite.channel_with_key(Some(&api_key("orders"))));
    let offering = orders
        .get_tailored_offering(pb::GetTailoredOfferingRequest {
            customer: by_email("buyer@example.com"),
            channel: pb::Channel::Web as i32,
            idempotency_key: "checkout-1".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    // The composition reads the other services as customization itself: an order
    // system's key needs no identity, differentiation or interaction scope.
    assert!(!offering.degraded, "{:?}", offering.missing_sources);
    assert!(!offering.customer_id.is_empty());
    // Storing the presented offering is part of that read: it can be read back.
    let stored = orders
        .get_offering(pb::GetOfferingRequest {
            offering_id: offering.offering_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        stored.offering.expect("the stored offering").offering_id,
        offering.offering_id
    );
    suite.stop().await.unwrap();
}

#[tokio::test]
async fn keys_rotate_without_a_restart() {
    let suite = suite_with_keys().await;
    let rotated = ApiKeyConfig {
        client: "frontdesk".into(),
        key: Some(Secret::new("frontdesk-rotated-key-0001")),
        key_sha256: None,
        scopes: ["identity:read", "identity:write", "interaction:write"]
            .map(str::to_owned)
            .into(),
    };
    assert_eq!(suite.reload_keys(vec![rotated]).unwrap(), 1);

    let old = interactions(&suite, "frontdesk")
        .record_interaction(call("rotated@example.com", "r-1"))
        .await
        .unwrap_err();
    assert_eq!(old.code(), Code::Unauthenticated, "the old key is revoked");
    let mut new =
        InteractionServiceClient::new(suite.channel_with_key(Some("frontdesk-rotated-key-0001")));
    let recorded = new
        .record_interaction(call("rotated@example.com", "r-1"))
        .await
        .unwrap()
        .into_inner();
    assert!(
        recorded.customer_created,
        "the services still reach each other after the reload"
    );
    // A key set that does not validate is refused and the current keys stay.
    let unknown_scope = ApiKeyConfig {
        client: "typo".into(),
        key: Some(Secret::new("typo-key-0123456789")),
        key_sha256: None,
        scopes: ["identity:raed".to_owned()].into(),
    };
    assert!(suite.reload_keys(vec![unknown_scope]).is_err());
    assert!(
        new.record_interaction(call("rotated@example.com", "r-2"))
            .await
            .is_ok()
    );
    suite.stop().await.unwrap();
}

#[tokio::test]
async fn a_peer_key_without_the_scopes_its_services_need_refuses_to_start() {
    let data_dir = tempfile::tempdir().unwrap();
    let mut config = idic_runtime::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        admin_listen: None,
        data_dir: data_dir.path().to_path_buf(),
        ..Default::default()
    };
    let peer_key = "peers-read-only-key-0001";
    config.auth.keys = vec![ApiKeyConfig {
        client: "idic-peers".into(),
        key: Some(Secret::new(peer_key)),
        key_sha256: None,
        scopes: ["identity:read", "differentiation:read", "interaction:read"]
            .map(str::to_owned)
            .into(),
    }];
    config.peers.api_key = Some(Secret::new(peer_key));
    let error = match idic::Application::build(config).await {
        Ok(_) => panic!("a peer key without identity:write must not start"),
        Err(error) => format!("{error:#}"),
    };
    assert!(error.contains("identity:write"), "{error}");
    assert!(error.contains("idic-peers"), "{error}");
}

/// Separate processes: interaction's peer key is not one of its own keys, so only
/// identity can tell it lacks a scope; the caller then gets PERMISSION_DENIED naming it.
#[tokio::test]
async fn a_peer_refusing_the_peer_key_reaches_the_caller_as_permission_denied() {
    let peer_key = "peers-read-only-key-0002";
    let identity = TestSuite::start_with(
        SuiteOptions::new(Backend::Embedded)
            .with_client("ops", &["admin"])
            .configure(move |config| {
                config.services = vec![idic_runtime::ServiceName::Identity];
                config.auth.keys.push(ApiKeyConfig {
                    client: "idic-peers".into(),
                    key: Some(Secret::new(peer_key)),
                    key_sha256: None,
                    scopes: ["identity:read".to_owned()].into(),
                });
                config.peers.api_key = Some(Secret::new(peer_key));
            }),
    )
    .await
    .unwrap();
    let identity_address = identity.endpoint();
    let interaction = TestSuite::start_with(
        SuiteOptions::new(Backend::Embedded)
            .with_client("frontdesk", &["identity:write", "interaction:write"])
            .configure(move |config| {
                config.services = vec![idic_runtime::ServiceName::Interaction];
                config.peers.identity = Some(identity_address);
                config.peers.api_key = Some(Secret::new(peer_key));
            }),
    )
    .await
    .unwrap();
    let denied = interactions(&interaction, "frontdesk")
        .record_interaction(call("someone@example.com", "x-1"))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
    assert!(denied.message().contains("identity:write"), "{denied:?}");
    assert!(!identity_knows(&identity, "someone@example.com").await);
    interaction.stop().await.unwrap();
    identity.stop().await.unwrap();
}
