//! What one request is. A scenario names an RPC and builds, per connection, a client
//! that issues it; later issues add variants (lookups, resolves, offerings) here
//! without touching the load loops.

use clap::ValueEnum;
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
}

impl Scenario {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::HealthCheck => "health-check",
        }
    }

    /// The RPC, as a reader of the report would look it up.
    pub fn description(self) -> String {
        match self {
            Scenario::HealthCheck => {
                format!("grpc.health.v1.Health/Check for service \"{HEALTH_CHECK_SERVICE}\"")
            }
        }
    }

    /// A client for this scenario on `channel`. Cheap: it shares the connection.
    pub fn client(self, channel: Channel) -> ScenarioClient {
        match self {
            Scenario::HealthCheck => ScenarioClient::HealthCheck(HealthClient::new(channel)),
        }
    }
}

/// Issues one request of a scenario. Clone one per in-flight request.
#[derive(Debug, Clone)]
pub enum ScenarioClient {
    HealthCheck(HealthClient<Channel>),
}

impl ScenarioClient {
    /// Sends one request and waits for the answer. A failed call is returned as its
    /// status so that the caller can count it by code.
    pub async fn issue(&mut self) -> Result<(), tonic::Status> {
        match self {
            ScenarioClient::HealthCheck(client) => health_check(client).await,
        }
    }
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
