//! What one request is. A scenario names an RPC and builds, per connection, a client
//! that issues it; later issues add variants (lookups, resolves, offerings) here
//! without touching the load loops.

use clap::ValueEnum;
use idic_proto::v1 as pb;
use idic_proto::v1::identity_service_client::IdentityServiceClient;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// The health service name the health-check scenario asks about.
pub const HEALTH_CHECK_SERVICE: &str = "idic.v1.IdentityService";

/// The request a run sends, over and over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// `grpc.health.v1.Health/Check` for `idic.v1.IdentityService`.
    HealthCheck,
    /// `idic.v1.IdentityService/Resolve` by the e-mail of a record from `--queries`.
    ResolveEmail,
    /// `idic.v1.IdentityService/Resolve` by name, birth date and address only (no
    /// identifier) of a record from `--queries`.
    ResolveFuzzy,
    /// `idic.v1.IdentityService/GetCustomer` (golden record, linked records, aliases)
    /// by the e-mail of a record from `--queries`. An e-mail that several customers
    /// share (a family address) is answered FAILED_PRECONDITION, counted as an error.
    GetCustomer,
}

/// Records whose fields the resolve scenarios ask about, loaded once from `--queries`.
static QUERIES: std::sync::OnceLock<std::sync::Arc<Vec<pb::SourceRecord>>> =
    std::sync::OnceLock::new();

/// Loads the query records for `scenario` from a records CSV (`idic import records`
/// format); the health check needs none.
pub fn load_queries(scenario: Scenario, path: Option<&std::path::Path>) -> anyhow::Result<()> {
    if scenario == Scenario::HealthCheck {
        return Ok(());
    }
    let path = path
        .ok_or_else(|| anyhow::anyhow!("--queries FILE.csv is required for {}", scenario.name()))?;
    let mut csv = idic::records_csv::RecordCsv::open(path)?;
    let mut records = Vec::new();
    while let Some(record) = csv.next_record()? {
        let usable = match scenario {
            Scenario::ResolveEmail | Scenario::GetCustomer => !record.emails.is_empty(),
            Scenario::ResolveFuzzy => {
                let named = record
                    .name
                    .as_ref()
                    .is_some_and(|name| !name.given.is_empty() && !name.family.is_empty());
                named && (!record.date_of_birth.is_empty() || !record.addresses.is_empty())
            }
            Scenario::HealthCheck => false,
        };
        if usable {
            records.push(record);
        }
    }
    anyhow::ensure!(
        !records.is_empty(),
        "no record in {} fits {}",
        path.display(),
        scenario.name()
    );
    let _ = QUERIES.set(std::sync::Arc::new(records));
    Ok(())
}

impl Scenario {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::HealthCheck => "health-check",
            Scenario::ResolveEmail => "resolve-email",
            Scenario::ResolveFuzzy => "resolve-fuzzy",
            Scenario::GetCustomer => "get-customer",
        }
    }

    /// The RPC, as a reader of the report would look it up.
    pub fn description(self) -> String {
        match self {
            Scenario::HealthCheck => {
                format!("grpc.health.v1.Health/Check for service \"{HEALTH_CHECK_SERVICE}\"")
            }
            Scenario::ResolveEmail => "idic.v1.IdentityService/Resolve by e-mail".to_owned(),
            Scenario::ResolveFuzzy => {
                "idic.v1.IdentityService/Resolve by name, birth date and address".to_owned()
            }
            Scenario::GetCustomer => "idic.v1.IdentityService/GetCustomer by e-mail".to_owned(),
        }
    }

    /// A client for this scenario on `channel`. Cheap: it shares the connection.
    pub fn client(self, channel: Channel) -> ScenarioClient {
        match self {
            Scenario::HealthCheck => ScenarioClient::HealthCheck(HealthClient::new(channel)),
            Scenario::ResolveEmail | Scenario::ResolveFuzzy => ScenarioClient::Resolve {
                client: IdentityServiceClient::new(channel),
                queries: QUERIES.get().cloned().unwrap_or_default(),
                next: 0,
                fuzzy: self == Scenario::ResolveFuzzy,
            },
            Scenario::GetCustomer => ScenarioClient::GetCustomer {
                client: IdentityServiceClient::new(channel),
                queries: QUERIES.get().cloned().unwrap_or_default(),
                next: 0,
            },
        }
    }
}

/// Issues one request of a scenario. Clone one per in-flight request.
#[derive(Debug, Clone)]
pub enum ScenarioClient {
    HealthCheck(HealthClient<Channel>),
    Resolve {
        client: IdentityServiceClient<Channel>,
        queries: std::sync::Arc<Vec<pb::SourceRecord>>,
        next: usize,
        fuzzy: bool,
    },
    GetCustomer {
        client: IdentityServiceClient<Channel>,
        queries: std::sync::Arc<Vec<pb::SourceRecord>>,
        next: usize,
    },
}

impl ScenarioClient {
    /// Sends one request and waits for the answer. A failed call is returned as its
    /// status so that the caller can count it by code.
    pub async fn issue(&mut self) -> Result<(), tonic::Status> {
        match self {
            ScenarioClient::HealthCheck(client) => health_check(client).await,
            ScenarioClient::Resolve {
                client,
                queries,
                next,
                fuzzy,
            } => {
                // A prime stride spreads clients over the pool.
                *next = next.wrapping_add(7919);
                let record = &queries[*next % queries.len()];
                resolve(client, record, *fuzzy).await
            }
            ScenarioClient::GetCustomer {
                client,
                queries,
                next,
            } => {
                *next = next.wrapping_add(7919);
                let record = &queries[*next % queries.len()];
                get_customer(client, &record.emails[0]).await
            }
        }
    }
}

/// Reads the golden record of the customer holding `email`.
async fn get_customer(
    client: &mut IdentityServiceClient<Channel>,
    email: &str,
) -> Result<(), tonic::Status> {
    let reference = pb::CustomerRef {
        r#ref: Some(pb::customer_ref::Ref::Identifier(pb::Identifier {
            kind: pb::IdentifierKind::Email as i32,
            value: email.to_owned(),
            ..Default::default()
        })),
    };
    let response = client
        .get_customer(pb::GetCustomerRequest {
            customer: Some(reference),
        })
        .await?
        .into_inner();
    if response.customer.is_none() {
        return Err(tonic::Status::internal("an answer without a customer"));
    }
    Ok(())
}

/// Asks who a record's e-mail (or its name, birth date and address) belongs to. An
/// answer without candidates is a wrong answer here: the record was imported.
async fn resolve(
    client: &mut IdentityServiceClient<Channel>,
    record: &pb::SourceRecord,
    fuzzy: bool,
) -> Result<(), tonic::Status> {
    let query = if fuzzy {
        pb::resolve_request::Query::Partial(pb::SourceRecord {
            name: record.name.clone(),
            date_of_birth: record.date_of_birth.clone(),
            addresses: record.addresses.clone(),
            ..Default::default()
        })
    } else {
        pb::resolve_request::Query::Identifier(pb::Identifier {
            kind: pb::IdentifierKind::Email as i32,
            value: record.emails[0].clone(),
            ..Default::default()
        })
    };
    let response = client
        .resolve(pb::ResolveRequest {
            query: Some(query),
            max_candidates: 5,
        })
        .await?
        .into_inner();
    if response.candidates.is_empty() {
        return Err(tonic::Status::not_found(
            "no candidate for an imported record",
        ));
    }
    Ok(())
}

/// A health answer other than SERVING is a wrong answer for a benchmark, so it is
/// counted as UNAVAILABLE rather than as a success.
async fn health_check(client: &mut HealthClient<Channel>) -> Result<(), tonic::Status> {
    let request = HealthCheckRequest {
        service: HEALTH_CHECK_SERVICE.to_owned(),
    };
    let response = client.check(request).await?.into_inner();
    if response.status == ServingStatus::Serving as i32 {
        Ok(())
    } else {
        Err(tonic::Status::unavailable(format!(
            "health check answered status {}",
            response.status
        )))
    }
}
