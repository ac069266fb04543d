//! Console sessions: a browser that logged in with an API key holds a random token in
//! an HttpOnly, SameSite=Strict cookie; the key itself stays here, in memory, until the
//! session expires or the user logs out. Tokens are kept by their SHA-256 digest, so
//! the table never holds a usable token and a look-up reveals nothing by its timing.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use idic_runtime::auth::{KeyDigest, digest_key};
use idic_runtime::config::Secret;

/// The cookie that carries the session token.
pub const COOKIE_NAME: &str = "idic_console";
/// How long a session lasts after login, whatever the activity.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(8 * 3600);
/// Sessions held at once; past this the one closest to expiry is dropped.
const MAX_SESSIONS: usize = 10_000;

/// Who a session acts for.
#[derive(Clone)]
pub struct SessionUser {
    /// The client name of the key (for the page header).
    pub client: String,
    /// The key the console presents to the services for this user; `None` when
    /// authentication is off.
    pub key: Option<Secret>,
}

struct Session {
    user: SessionUser,
    expires_at: Instant,
}

/// The open sessions of one process.
pub struct SessionStore {
    sessions: Mutex<HashMap<KeyDigest, Session>>,
    lifetime: Duration,
}

impl Default for SessionStore {
    fn default() -> Self {
        SessionStore::new(SESSION_LIFETIME)
    }
}

impl SessionStore {
    pub fn new(lifetime: Duration) -> SessionStore {
        SessionStore {
            sessions: Mutex::new(HashMap::new()),
            lifetime,
        }
    }

    /// Opens a session for `user` and returns its token (for the cookie).
    pub fn open(&self, user: SessionUser) -> String {
        let token = new_token();
        let now = Instant::now();
        let mut sessions = self.lock();
        sessions.retain(|_, session| session.expires_at > now);
        if sessions.len() >= MAX_SESSIONS
            && let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, session)| session.expires_at)
                .map(|(digest, _)| *digest)
        {
            sessions.remove(&oldest);
        }
        sessions.insert(
            digest_key(&token),
            Session {
                user,
                expires_at: now + self.lifetime,
            },
        );
        token
    }

    /// The user of a live session; an expired one is removed.
    pub fn user(&self, token: &str) -> Option<SessionUser> {
        let digest = digest_key(token);
        let mut sessions = self.lock();
        let session = sessions.get(&digest)?;
        if session.expires_at <= Instant::now() {
            sessions.remove(&digest);
            return None;
        }
        Some(session.user.clone())
    }

    /// Ends a session (logout, or a key that was revoked since login).
    pub fn close(&self, token: &str) {
        self.lock().remove(&digest_key(token));
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<KeyDigest, Session>> {
        // A panic while holding the lock leaves a consistent map: keep using it.
        self.sessions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// 244 random bits from the operating system's generator, as 64 hex digits.
fn new_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// The session token in a request's `Cookie` headers, if any.
pub fn token_from_cookies(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, token)| token.trim().to_owned())
        .filter(|token| !token.is_empty())
}

/// The `Set-Cookie` value that hands `token` to the browser: never readable by
/// scripts, never sent by another site, only to the console's paths.
pub fn session_cookie(token: &str, lifetime: Duration) -> String {
    format!(
        "{COOKIE_NAME}={token}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={}",
        lifetime.as_secs()
    )
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn cleared_cookie() -> String {
    format!("{COOKIE_NAME}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> SessionUser {
        SessionUser {
            client: "ops".to_owned(),
            key: Some(Secret::new("ops-key-0123456789")),
        }
    }

    #[test]
    fn a_token_opens_its_session_until_closed() {
        let store = SessionStore::default();
        let token = store.open(user());
        assert_eq!(token.len(), 64);
        assert_eq!(
            store.user(&token).map(|user| user.client),
            Some("ops".into())
        );
        assert!(store.user("not-a-token").is_none());
        store.close(&token);
        assert!(store.user(&token).is_none());
    }

    #[test]
    fn tokens_differ_and_expired_sessions_are_gone() {
        let store = SessionStore::new(Duration::ZERO);
        let first = store.open(user());
        let second = store.open(user());
        assert_ne!(first, second);
        assert!(store.user(&first).is_none(), "a session past its lifetime");
    }

    #[test]
    fn the_cookie_is_found_among_others_and_is_http_only() {
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(
            axum::http::header::COOKIE,
            "theme=dark; idic_console=abc123; other=1".parse().unwrap(),
        );
        assert_eq!(token_from_cookies(&headers), Some("abc123".to_owned()));
        let cookie = session_cookie("abc123", SESSION_LIFETIME);
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
        assert!(cookie.contains("Path=/console"));
    }
}
