//! TLS for the calls the services of one process make to each other through its own
//! listener. The process knows the certificate it serves, so it trusts exactly that
//! certificate (pinned), whatever CA signed it and whatever names it holds: server
//! TLS in the one-process suite then needs no peer TLS settings.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio::net::TcpStream;
use tonic::transport::{Channel, Endpoint};

/// Accepts the one certificate this process serves, and no other.
#[derive(Debug)]
struct OwnCertificate {
    certificate: CertificateDer<'static>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for OwnCertificate {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.certificate.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            ))
        }
    }

    // The handshake signatures are still verified: they prove the peer holds the key.
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, certificate, signature, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, certificate, signature, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// A client identity: certificate chain and key files.
pub struct ClientIdentity<'a> {
    pub certificate_file: &'a Path,
    pub key_file: &'a Path,
}

/// A channel to this process's own TLS listener at `address`, trusting the first
/// certificate of `served_certificate_file`, and presenting `identity` when the server
/// asks for one (mTLS).
pub fn channel(
    endpoint: Endpoint,
    address: SocketAddr,
    served_certificate_file: &Path,
    identity: Option<ClientIdentity<'_>>,
) -> anyhow::Result<Channel> {
    let tls = Arc::new(client_config(served_certificate_file, identity)?);
    let connector = tower::service_fn(move |_uri: http::Uri| {
        let tls = tls.clone();
        async move {
            let tcp = TcpStream::connect(address).await?;
            tcp.set_nodelay(true)?;
            let name = ServerName::IpAddress(address.ip().into());
            let stream = tokio_rustls::TlsConnector::from(tls)
                .connect(name, tcp)
                .await?;
            Ok::<_, std::io::Error>(TokioIo::new(stream))
        }
    });
    Ok(endpoint.connect_with_connector_lazy(connector))
}

fn client_config(
    served_certificate_file: &Path,
    identity: Option<ClientIdentity<'_>>,
) -> anyhow::Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certificate = certificates(served_certificate_file)?
        .into_iter()
        .next()
        .with_context(|| format!("{} holds no certificate", served_certificate_file.display()))?;
    let verifier = OwnCertificate {
        certificate,
        algorithms: provider.signature_verification_algorithms,
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier));
    let mut config = match identity {
        Some(identity) => {
            let key = PrivateKeyDer::from_pem_file(identity.key_file)
                .with_context(|| format!("reading the key {}", identity.key_file.display()))?;
            builder
                .with_client_auth_cert(certificates(identity.certificate_file)?, key)
                .context("the client certificate and key do not match")?
        }
        None => builder.with_no_client_auth(),
    };
    // gRPC needs HTTP/2, which the server offers by ALPN only.
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

fn certificates(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    CertificateDer::pem_file_iter(path)
        .and_then(|certificates| certificates.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("reading the certificates in {}", path.display()))
}
