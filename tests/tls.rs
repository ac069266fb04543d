//! TLS and mTLS with certificates generated for the test: the one-process suite serves
//! TLS and its services still reach each other through it; with a client CA, only
//! clients with a certificate it signed get in.

use std::path::{Path, PathBuf};

use idic_proto::v1 as pb;
use idic_proto::v1::interaction_service_client::InteractionServiceClient;
use idic_testkit::{Backend, SuiteOptions, TestSuite};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

/// A CA, a server certificate for localhost and 127.0.0.1 (also valid for client
/// authentication, so the process can present it to itself), and a client certificate.
struct Pki {
    _directory: tempfile::TempDir,
    ca: PathBuf,
    server_certificate: PathBuf,
    server_key: PathBuf,
    client_certificate: String,
    client_key: String,
}

fn pki() -> Pki {
    let directory = tempfile::tempdir().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "IDIC test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();

    let leaf = |names: Vec<String>, purposes: Vec<ExtendedKeyUsagePurpose>| {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(names).unwrap();
        params.extended_key_usages = purposes;
        let certificate = params.signed_by(&key, &ca).unwrap();
        (certificate.pem(), key.serialize_pem())
    };
    let (server_certificate, server_key) = leaf(
        vec!["localhost".into(), "127.0.0.1".into()],
        vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ],
    );
    let (client_certificate, client_key) = leaf(
        vec!["callcenter.example".into()],
        vec![ExtendedKeyUsagePurpose::ClientAuth],
    );
    let write = |name: &str, content: &str| {
        let path = directory.path().join(name);
        std::fs::write(&path, content).unwrap();
        path
    };
    Pki {
        ca: write("ca.pem", &ca.pem()),
        server_certificate: write("server.pem", &server_certificate),
        server_key: write("server-key.pem", &server_key),
        client_certificate,
        client_key,
        _directory: directory,
    }
}

async fn suite_with_tls(pki: &Pki, client_ca: Option<&Path>) -> TestSuite {
    let certificate = pki.server_certificate.clone();
    let key = pki.server_key.clone();
    let client_ca = client_ca.map(Path::to_path_buf);
    let options = SuiteOptions::new(Backend::Embedded).configure(move |config| {
        config.grpc.tls_cert_file = Some(certificate);
        config.grpc.tls_key_file = Some(key);
        config.grpc.tls_client_ca_file = client_ca;
    });
    TestSuite::start_with(options).await.unwrap()
}

async fn tls_channel(suite: &TestSuite, pki: &Pki, with_certificate: bool) -> Channel {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(std::fs::read(&pki.ca).unwrap()))
        .domain_name("localhost");
    if with_certificate {
        tls = tls.identity(Identity::from_pem(&pki.client_certificate, &pki.client_key));
    }
    Channel::from_shared(format!("https://{}", suite.address))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect_lazy()
}

/// A call that makes the interaction service ask identity twice (resolve, then create).
async fn record_new_caller(
    channel: Channel,
) -> Result<pb::RecordInteractionResponse, tonic::Status> {
    InteractionServiceClient::new(channel)
        .record_interaction(pb::RecordInteractionRequest {
            customer: Some(pb::CustomerRef {
                r#ref: Some(pb::customer_ref::Ref::Identifier(pb::Identifier {
                    kind: pb::IdentifierKind::Email as i32,
                    value: "tls.caller@example.com".into(),
                    ..Default::default()
                })),
            }),
            channel: pb::Channel::CallCenter as i32,
            r#type: pb::InteractionType::Inquiry as i32,
            occurred_at: Some(prost_types::Timestamp {
                seconds: 1_772_442_000,
                nanos: 0,
            }),
            idempotency_key: "tls-1".into(),
            ..Default::default()
        })
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test]
async fn the_one_process_suite_serves_tls_and_its_services_reach_each_other() {
    let pki = pki();
    let suite = suite_with_tls(&pki, None).await;
    let recorded = record_new_caller(tls_channel(&suite, &pki, false).await)
        .await
        .expect("interaction reaches identity over the process's own TLS listener");
    assert!(recorded.customer_created);

    let plaintext = Channel::from_shared(suite.endpoint())
        .unwrap()
        .connect_lazy();
    assert!(
        record_new_caller(plaintext).await.is_err(),
        "no plaintext beside TLS"
    );
    suite.stop().await.unwrap();
}

#[tokio::test]
async fn with_a_client_ca_only_clients_with_a_certificate_get_in() {
    let pki = pki();
    let suite = suite_with_tls(&pki, Some(&pki.ca)).await;
    let refused = record_new_caller(tls_channel(&suite, &pki, false).await).await;
    assert!(
        refused.is_err(),
        "a client without a certificate is refused"
    );

    let recorded = record_new_caller(tls_channel(&suite, &pki, true).await)
        .await
        .expect(
            "a client with a certificate the CA signed gets in, and the services reach each other",
        );
    assert!(recorded.customer_created);
    suite.stop().await.unwrap();
}

#[tokio::test]
async fn an_unusable_certificate_refuses_the_start_naming_the_file() {
    let pki = pki();
    let data_dir = tempfile::tempdir().unwrap();
    let not_a_certificate = data_dir.path().join("server.pem");
    std::fs::write(&not_a_certificate, "not a certificate").unwrap();
    let mut config = idic_runtime::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        admin_listen: None,
        data_dir: data_dir.path().to_path_buf(),
        ..Default::default()
    };
    config.grpc.tls_cert_file = Some(not_a_certificate);
    config.grpc.tls_key_file = Some(pki.server_key.clone());
    let error = match idic::Application::build(config).await {
        Ok(_) => panic!("a file without a certificate must not start a server"),
        Err(error) => format!("{error:#}"),
    };
    assert!(error.contains("grpc.tls_cert_file"), "{error}");
    assert!(error.contains("server.pem"), "{error}");
}
