//! Malformed requests get INVALID_ARGUMENT with a `google.rpc.BadRequest` naming each
//! offending field.

use idic_proto::v1::{
    CustomerRef, GetCustomerRequest, GetCustomerValueRequest, Identifier, IdentifierKind,
    ListComponentsRequest, ListTimelineRequest, PageRequest, customer_ref,
};
use idic_testkit::TestSuite;
use tonic::Code;
use tonic_types::StatusExt;

fn fields(status: &tonic::Status) -> Vec<String> {
    assert_eq!(status.code(), Code::InvalidArgument, "{status}");
    let details = status.get_error_details();
    let bad_request = details.bad_request().expect("a BadRequest detail");
    bad_request
        .field_violations
        .iter()
        .map(|violation| violation.field.clone())
        .collect()
}

fn email(value: &str) -> Option<CustomerRef> {
    Some(CustomerRef {
        r#ref: Some(customer_ref::Ref::Identifier(Identifier {
            kind: IdentifierKind::Email as i32,
            value: value.to_owned(),
            ..Identifier::default()
        })),
    })
}

fn by_id(id: &str) -> Option<CustomerRef> {
    Some(CustomerRef {
        r#ref: Some(customer_ref::Ref::CustomerId(id.to_owned())),
    })
}

#[tokio::test]
async fn each_service_names_the_offending_field() {
    let suite = TestSuite::start().await;

    let missing = suite
        .identity()
        .get_customer(GetCustomerRequest { customer: None })
        .await
        .unwrap_err();
    assert_eq!(fields(&missing), ["customer"]);
    let empty = suite
        .identity()
        .get_customer(GetCustomerRequest {
            customer: email("  "),
        })
        .await
        .unwrap_err();
    assert_eq!(fields(&empty), ["customer.identifier.value"]);

    let bad_id = suite
        .differentiation()
        .get_customer_value(GetCustomerValueRequest {
            customer: by_id("cus 1; drop table"),
        })
        .await
        .unwrap_err();
    assert_eq!(fields(&bad_id), ["customer.customer_id"]);

    let both = suite
        .interaction()
        .list_timeline(ListTimelineRequest {
            customer: None,
            page: Some(PageRequest {
                page_size: 5_000,
                page_token: String::new(),
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        fields(&both),
        ["customer", "page.page_size"],
        "every violation, not just the first"
    );
    let forged = suite
        .interaction()
        .list_timeline(ListTimelineRequest {
            customer: by_id("cus_1"),
            page: Some(PageRequest {
                page_size: 10,
                page_token: "forged".to_owned(),
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(fields(&forged), ["page.page_token"]);

    let slot = suite
        .customization()
        .list_components(ListComponentsRequest {
            slot: 99,
            page: None,
        })
        .await
        .unwrap_err();
    assert_eq!(fields(&slot), ["slot"]);
    suite.stop().await.unwrap();
}
