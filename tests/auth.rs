//! With API keys configured, every RPC needs a key holding its scope; probes and
//! reflection stay open, and the services still reach each other.

use idic_proto::v1::differentiation_service_client::DifferentiationServiceClient;
use idic_proto::v1::identity_service_client::IdentityServiceClient;
use idic_proto::v1::{CustomerRef, GetCustomerRequest, GetCustomerValueRequest, customer_ref};
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
        .with_client("analyst", &["differentiation:read"]);
    TestSuite::start_with(options).await.unwrap()
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
