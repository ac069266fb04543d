//! A fresh suite reports every service SERVING and lists them through reflection, so
//! Kubernetes probes and grpcurl work without extra files.

use futures::StreamExt;
use idic_testkit::TestSuite;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

const SERVICES: [&str; 4] = [
    "idic.v1.IdentityService",
    "idic.v1.DifferentiationService",
    "idic.v1.InteractionService",
    "idic.v1.CustomizationService",
];

#[tokio::test]
async fn every_service_answers_health_checks() {
    let suite = TestSuite::start().await;
    let mut health = suite.health();
    for service in SERVICES.into_iter().chain([""]) {
        let response = health
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .unwrap_or_else(|status| panic!("health of '{service}': {status}"));
        assert_eq!(
            response.into_inner().status(),
            ServingStatus::Serving,
            "{service}"
        );
    }
    let unknown = health
        .check(HealthCheckRequest {
            service: "idic.v1.NoSuchService".to_owned(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);
    suite.stop().await.unwrap();
}

#[tokio::test]
async fn reflection_lists_the_four_services() {
    let suite = TestSuite::start().await;
    let mut reflection = ServerReflectionClient::new(suite.channel_with_key(None));
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(futures::stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let response = responses.next().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!(
            "expected a service list, got {:?}",
            response.message_response
        );
    };
    let names: Vec<_> = list
        .service
        .iter()
        .map(|service| service.name.as_str())
        .collect();
    for service in SERVICES {
        assert!(names.contains(&service), "{service} missing from {names:?}");
    }
    suite.stop().await.unwrap();
}
