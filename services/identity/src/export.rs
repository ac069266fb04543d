//! What the other services hold about a customer, for `ExportCustomer`: each is asked
//! for its `ExportCustomerData` at once. The calls carry the caller's own credentials,
//! so that an export gives no one more than their key allows; without them (an
//! unauthenticated suite) the process's peer key goes as on any peer call.

use std::time::Duration;

use idic_proto::v1 as pb;
use idic_runtime::ApiError;
use idic_runtime::peers::Peers;
use tonic::metadata::{Ascii, MetadataMap, MetadataValue};
use tonic::{Code, Status};

/// What differentiation, interaction and customization hold about one customer.
#[derive(Debug, Default)]
pub struct PeerExports {
    pub differentiation: pb::DifferentiationCustomerData,
    pub interaction: pb::InteractionCustomerData,
    pub customization: pb::CustomizationCustomerData,
}

/// The caller's credentials as an `authorization` header for the calls made on its
/// behalf: its own `authorization`, or its `x-api-key` as a bearer token.
pub fn caller_credentials(metadata: &MetadataMap) -> Option<MetadataValue<Ascii>> {
    if let Some(authorization) = metadata.get("authorization") {
        return Some(authorization.clone());
    }
    let key = metadata.get("x-api-key")?.to_str().ok()?;
    format!("Bearer {}", key.trim()).parse().ok()
}

/// Asks the three services for everything they hold about `customer_id`, within
/// `budget`. Any of them failing fails the whole export: a data subject's export is
/// complete or not given.
pub async fn gather(
    peers: &Peers,
    credentials: Option<&MetadataValue<Ascii>>,
    customer_id: &str,
    budget: Duration,
) -> Result<PeerExports, Status> {
    let request = || {
        let mut request = tonic::Request::new(pb::ExportCustomerDataRequest {
            customer: Some(pb::CustomerRef {
                r#ref: Some(pb::customer_ref::Ref::CustomerId(customer_id.to_owned())),
            }),
        });
        request.set_timeout(budget);
        if let Some(credentials) = credentials {
            request
                .metadata_mut()
                .insert("authorization", credentials.clone());
        }
        request
    };
    let mut differentiation = peers.differentiation();
    let mut interaction = peers.interaction();
    let mut customization = peers.customization();
    let (differentiation, interaction, customization) = tokio::join!(
        differentiation.export_customer_data(request()),
        interaction.export_customer_data(request()),
        customization.export_customer_data(request()),
    );
    Ok(PeerExports {
        differentiation: answer("differentiation", differentiation)?,
        interaction: answer("interaction", interaction)?,
        customization: answer("customization", customization)?,
    })
}

/// A peer's answer, or the status the export fails with.
fn answer<T: Default>(
    service: &str,
    response: Result<tonic::Response<T>, Status>,
) -> Result<T, Status> {
    let status = match response {
        Ok(response) => return Ok(response.into_inner()),
        Err(status) => status,
    };
    match status.code() {
        // The customer resolves in identity but is unknown there: it holds nothing.
        Code::NotFound => Ok(T::default()),
        // The caller's key does not reach that service's data.
        Code::PermissionDenied | Code::Unauthenticated => Err(Status::new(
            status.code(),
            format!(
                "the {service} service refused its part of the export: {}",
                status.message()
            ),
        )),
        Code::Unavailable
        | Code::DeadlineExceeded
        | Code::Cancelled
        | Code::Unknown
        | Code::ResourceExhausted => Err(ApiError::Unavailable {
            message: format!(
                "the {service} service did not answer; the export would be incomplete"
            ),
            retry_after: Duration::from_secs(1),
        }
        .into()),
        _ => Err(ApiError::internal(anyhow::anyhow!(
            "{service} service's export: {:?}: {}",
            status.code(),
            status.message()
        ))
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_callers_key_goes_along_in_either_header() {
        let mut bearer = MetadataMap::new();
        bearer.insert("authorization", "Bearer k-1".parse().unwrap());
        assert_eq!(caller_credentials(&bearer).unwrap(), "Bearer k-1");
        let mut api_key = MetadataMap::new();
        api_key.insert("x-api-key", " k-2 ".parse().unwrap());
        assert_eq!(caller_credentials(&api_key).unwrap(), "Bearer k-2");
        assert!(caller_credentials(&MetadataMap::new()).is_none());
    }

    #[test]
    fn a_peer_that_fails_fails_the_export() {
        let refused = answer::<pb::InteractionCustomerData>(
            "interaction",
            Err(Status::permission_denied("lacks scope 'admin'")),
        )
        .unwrap_err();
        assert_eq!(refused.code(), Code::PermissionDenied);
        assert!(refused.message().contains("interaction"));
        let down = answer::<pb::InteractionCustomerData>(
            "interaction",
            Err(Status::unavailable("connection refused")),
        )
        .unwrap_err();
        assert_eq!(down.code(), Code::Unavailable);
        let unknown =
            answer::<pb::InteractionCustomerData>("interaction", Err(Status::not_found("no")));
        assert_eq!(unknown.unwrap(), pb::InteractionCustomerData::default());
    }
}
