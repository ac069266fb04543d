//! The shared runtime of every IDIC service: configuration, telemetry, authentication,
//! the server assembly and its tower layers, error mapping, storage, cache and event
//! bus set-up. Nothing here is specific to one service.

#![forbid(unsafe_code)]

pub mod admin;
pub mod anchored;
pub mod auth;
pub mod bus;
pub mod cache;
pub mod config;
mod config_keys;
pub mod customers;
pub mod delegation;
pub mod error;
pub mod follow;
mod key_digest;
pub mod limits;
pub mod middleware;
pub mod money;
pub mod observability;
pub mod outbox;
mod own_tls;
pub mod paging;
pub mod peer_calls;
pub mod peers;
pub mod refs;
mod scopes;
pub mod server;
mod service_name;
pub mod shared;
pub mod shutdown;
pub mod storage;
pub mod telemetry;
pub mod warnings;

pub use config::{Config, ServiceName};
pub use error::{ApiError, ApiResult, FieldViolation};
pub use shared::ServiceContext;
