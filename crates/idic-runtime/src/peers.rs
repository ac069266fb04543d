//! Clients for calling the other services. A peer is reached at its configured address
//! or, by default, at this process's own listen address, so the same code serves the
//! all-in-one process and separate Deployments. Every call carries the trace context
//! and, when the peer requires it, this process's API key.

use std::time::Duration;

use anyhow::Context as _;
use idic_proto::v1::customization_service_client::CustomizationServiceClient;
use idic_proto::v1::differentiation_service_client::DifferentiationServiceClient;
use idic_proto::v1::identity_service_client::IdentityServiceClient;
use idic_proto::v1::interaction_service_client::InteractionServiceClient;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::config::{Config, Secret, ServiceName};
use crate::telemetry::inject_context;

/// Adds the trace context and credentials to every outgoing call.
#[derive(Clone, Default)]
pub struct PeerInterceptor {
    authorization: Option<MetadataValue<Ascii>>,
}

impl PeerInterceptor {
    pub fn new(api_key: Option<&Secret>) -> anyhow::Result<Self> {
        let authorization = api_key
            .map(|key| format!("Bearer {}", key.expose()).parse())
            .transpose()
            .context("the peer API key is not valid in a header")?;
        Ok(PeerInterceptor { authorization })
    }
}

impl Interceptor for PeerInterceptor {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        inject_context(request.metadata_mut());
        if let Some(authorization) = &self.authorization {
            request
                .metadata_mut()
                .insert("authorization", authorization.clone());
        }
        Ok(request)
    }
}

pub type PeerChannel = InterceptedService<Channel, PeerInterceptor>;

/// Lazily connected channels to each service.
#[derive(Clone)]
pub struct Peers {
    identity: Channel,
    differentiation: Channel,
    interaction: Channel,
    customization: Channel,
    interceptor: PeerInterceptor,
}

impl Peers {
    pub fn from_config(config: &Config, api_key: Option<&Secret>) -> anyhow::Result<Peers> {
        let channel = |service| channel(config, &config.peer_address(service));
        Ok(Peers {
            identity: channel(ServiceName::Identity)?,
            differentiation: channel(ServiceName::Differentiation)?,
            interaction: channel(ServiceName::Interaction)?,
            customization: channel(ServiceName::Customization)?,
            interceptor: PeerInterceptor::new(api_key)?,
        })
    }

    pub fn identity(&self) -> IdentityServiceClient<PeerChannel> {
        IdentityServiceClient::with_interceptor(self.identity.clone(), self.interceptor.clone())
    }

    pub fn differentiation(&self) -> DifferentiationServiceClient<PeerChannel> {
        DifferentiationServiceClient::with_interceptor(
            self.differentiation.clone(),
            self.interceptor.clone(),
        )
    }

    pub fn interaction(&self) -> InteractionServiceClient<PeerChannel> {
        InteractionServiceClient::with_interceptor(
            self.interaction.clone(),
            self.interceptor.clone(),
        )
    }

    pub fn customization(&self) -> CustomizationServiceClient<PeerChannel> {
        CustomizationServiceClient::with_interceptor(
            self.customization.clone(),
            self.interceptor.clone(),
        )
    }
}

fn channel(config: &Config, address: &str) -> anyhow::Result<Channel> {
    let mut endpoint = Endpoint::from_shared(address.to_owned())
        .with_context(|| format!("peer address '{address}' is not a URL"))?
        .connect_timeout(Duration::from_secs(2))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_while_idle(true);
    if address.starts_with("https://") {
        endpoint = endpoint.tls_config(peer_tls(config)?)?;
    }
    Ok(endpoint.connect_lazy())
}

fn peer_tls(config: &Config) -> anyhow::Result<ClientTlsConfig> {
    let read = |path: &std::path::Path| {
        std::fs::read(path).with_context(|| format!("reading {}", path.display()))
    };
    let mut tls = ClientTlsConfig::new();
    if let Some(ca_file) = &config.peers.tls_ca_file {
        tls = tls.ca_certificate(Certificate::from_pem(read(ca_file)?));
    }
    if let (Some(cert), Some(key)) = (&config.peers.tls_cert_file, &config.peers.tls_key_file) {
        tls = tls.identity(Identity::from_pem(read(cert)?, read(key)?));
    }
    Ok(tls)
}

impl Peers {
    /// The surviving customer id of `selector`, asked of the identity service within
    /// `budget`. Unknown customers are NOT_FOUND; an unreachable identity service is
    /// UNAVAILABLE, so that the caller may retry.
    pub async fn resolve_customer(
        &self,
        selector: &crate::refs::CustomerSelector,
        budget: Duration,
    ) -> crate::error::ApiResult<String> {
        use crate::error::ApiError;
        let mut request = tonic::Request::new(idic_proto::v1::GetCustomerRequest {
            customer: Some(selector.to_proto()),
        });
        request.set_timeout(budget);
        let response = self.identity().get_customer(request).await;
        match response {
            Ok(response) => response
                .into_inner()
                .customer
                .map(|customer| customer.customer_id)
                .ok_or_else(|| {
                    ApiError::internal(anyhow::anyhow!("identity answered without a customer"))
                }),
            Err(status) => Err(match status.code() {
                tonic::Code::NotFound => ApiError::not_found("no customer matches the reference"),
                tonic::Code::Unavailable | tonic::Code::DeadlineExceeded => ApiError::Unavailable {
                    message: "the identity service did not answer".to_owned(),
                    retry_after: Duration::from_millis(200),
                },
                tonic::Code::InvalidArgument => {
                    ApiError::invalid("customer", status.message().to_owned())
                }
                _ => ApiError::internal(anyhow::anyhow!("identity service: {status}")),
            }),
        }
    }
}
