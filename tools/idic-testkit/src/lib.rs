//! Test kit: boots the suite in-process on an ephemeral port, on SQLite or on a fresh
//! PostgreSQL database plus Redis, and hands back typed clients.
//!
//! PostgreSQL and Redis are found at `IDIC_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`) and `IDIC_TEST_REDIS_URL` (default
//! `redis://127.0.0.1:6379`). When one is missing a test is skipped with a message, but
//! under `CI` (any value) the test fails instead: CI must test the real thing.

#![forbid(unsafe_code)]

pub mod bus;
pub mod identity;
pub mod raw;
mod servers;
mod storage;
mod suite;

/// The generators moved to `idic-datagen` so that `idic demo` can use them; these
/// paths stay for the tests and benchmarks.
pub use idic_datagen::{activity, generator, transactions};

pub use servers::{
    TestPostgres, TestRedis, free_loopback_address, require_postgres, require_redis,
};
pub use storage::TestDatabase;
pub use suite::{Backend, SuiteOptions, TestSuite};

/// A valid API key for tests (keys must be at least 16 characters).
pub fn api_key(client: &str) -> String {
    format!("{client}-test-key-0123456789")
}
