//! The names of the four services, a leaf every other module may use: configuration,
//! scopes, peers and storage all speak of services by these names.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The four services of the suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceName {
    Identity,
    Differentiation,
    Interaction,
    Customization,
}

impl ServiceName {
    pub const ALL: [ServiceName; 4] = [
        ServiceName::Identity,
        ServiceName::Differentiation,
        ServiceName::Interaction,
        ServiceName::Customization,
    ];

    /// The short name used in configuration, metrics, schemas and file names.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceName::Identity => "identity",
            ServiceName::Differentiation => "differentiation",
            ServiceName::Interaction => "interaction",
            ServiceName::Customization => "customization",
        }
    }

    /// The fully qualified gRPC service name.
    pub fn grpc_name(self) -> &'static str {
        use idic_proto::service_names as names;
        match self {
            ServiceName::Identity => names::IDENTITY,
            ServiceName::Differentiation => names::DIFFERENTIATION,
            ServiceName::Interaction => names::INTERACTION,
            ServiceName::Customization => names::CUSTOMIZATION,
        }
    }
}

impl fmt::Display for ServiceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ServiceName {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        ServiceName::ALL
            .into_iter()
            .find(|name| name.as_str() == text.trim().to_ascii_lowercase())
            .ok_or_else(|| {
                format!("unknown service '{text}': expected identity, differentiation, interaction or customization")
            })
    }
}
