//! API keys are held only as SHA-256 digests: configuration reads them, authentication
//! and the console's sessions compare them.

use sha2::{Digest as _, Sha256};

/// The SHA-256 digest of an API key, the only form in which keys are kept.
pub type KeyDigest = [u8; 32];

pub fn digest_key(key: &str) -> KeyDigest {
    Sha256::digest(key.as_bytes()).into()
}

/// The digest of `key` as `key_sha256` holds it.
pub fn hex_digest(key: &str) -> String {
    hex::encode(digest_key(key))
}
