//! The shared cache: one trait, an in-process implementation for the embedded default
//! and a Redis one for production, so that every replica sees the same entries.

mod memory;
mod redis;

use std::time::Duration;

use async_trait::async_trait;

pub use self::memory::MemoryCache;
pub use self::redis::RedisCache;

#[derive(Debug, thiserror::Error)]
#[error("cache unavailable: {0}")]
pub struct CacheError(String);

impl From<::redis::RedisError> for CacheError {
    fn from(error: ::redis::RedisError) -> Self {
        CacheError(error.to_string())
    }
}

/// Keys and values are opaque to the cache; every entry expires.
#[async_trait]
pub trait Cache: Send + Sync + 'static {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError>;

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError>;

    /// Stores `value` only when `key` holds nothing; true when it stored. This is what
    /// idempotency keys need: the first writer wins, a retry sees the first answer.
    async fn set_if_absent(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<bool, CacheError>;

    async fn delete(&self, key: &str) -> Result<(), CacheError>;
}
