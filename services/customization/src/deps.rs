//! The fan-out of a tailored offering: identity (who, and whether a business account),
//! differentiation (tier, needs segment, customer type) and interaction (expressed
//! preferences, consent) are asked in parallel, each within its own deadline cut from
//! the caller's. Identity's and differentiation's answers are kept in the shared cache
//! (Redis in production) and invalidated by identity's changes; interaction's are
//! never cached, because a consent change must take effect at once, in every process.
//! A source that fails, times out or whose circuit breaker is open is reported
//! missing; it never fails the request. A reference that is the caller's mistake
//! (an identifier shared by several customers) fails it with FAILED_PRECONDITION.

use std::future::Future;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use idic_offer::profile::{Consent, Preference};
use idic_proto::v1 as pb;
use idic_runtime::cache::Cache;
use idic_runtime::config::CustomizationConfig;
use idic_runtime::delegation::as_service;
use idic_runtime::peers::Peers;
use idic_runtime::refs::CustomerSelector;
use idic_runtime::storage::{micros_from_timestamp, now_micros};
use idic_runtime::{ApiError, ApiResult};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::breaker::CircuitBreaker;

pub const IDENTITY: &str = "identity";
pub const DIFFERENTIATION: &str = "differentiation";
pub const INTERACTION: &str = "interaction";

/// What identity says about the customer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IdentityFacts {
    pub customer_id: String,
    pub business_account: bool,
}

/// What differentiation says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ValueFacts {
    pub customer_id: String,
    pub tier: Option<String>,
    pub segment_id: Option<String>,
    pub segment_label: Option<String>,
    pub customer_type: Option<String>,
}

/// What interaction says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InteractionFacts {
    pub customer_id: String,
    pub preferences: Vec<Preference>,
    pub consents: Vec<Consent>,
}

/// A source's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched<T> {
    Found(T),
    /// The source knows no such customer (not a failure).
    NotFound,
    /// Failed, timed out, or skipped by the open breaker.
    Missing,
}

impl<T> Fetched<T> {
    pub fn found(&self) -> Option<&T> {
        match self {
            Fetched::Found(value) => Some(value),
            _ => None,
        }
    }
}

/// The three answers of one fan-out.
#[derive(Debug, Clone)]
pub struct Gathered {
    pub identity: Fetched<IdentityFacts>,
    pub value: Fetched<ValueFacts>,
    pub interaction: Fetched<InteractionFacts>,
}

impl Gathered {
    /// The sources that did not answer, in a fixed order.
    pub fn missing(&self) -> Vec<&'static str> {
        let mut missing = Vec::new();
        if self.identity == Fetched::Missing {
            missing.push(IDENTITY);
        }
        if self.value == Fetched::Missing {
            missing.push(DIFFERENTIATION);
        }
        if self.interaction == Fetched::Missing {
            missing.push(INTERACTION);
        }
        missing
    }

    /// The customer id any source gave, identity's first.
    pub fn customer_id(&self) -> Option<String> {
        self.identity
            .found()
            .map(|facts| facts.customer_id.clone())
            .or_else(|| self.value.found().map(|facts| facts.customer_id.clone()))
            .or_else(|| {
                self.interaction
                    .found()
                    .map(|facts| facts.customer_id.clone())
            })
            .filter(|id| !id.is_empty())
    }
}

/// Why a call failed, and whether a retry is safe and useful.
enum CallError {
    NotFound,
    /// The source refused the reference itself (FAILED_PRECONDITION, e.g. an identifier
    /// shared by several customers): the caller's mistake, not the source's failure.
    Refused(String),
    /// Worth one retry (connection refused, peer shedding load).
    Transient,
    Failed,
}

fn classify(status: &tonic::Status) -> CallError {
    match status.code() {
        tonic::Code::NotFound => CallError::NotFound,
        tonic::Code::FailedPrecondition => CallError::Refused(status.message().to_owned()),
        tonic::Code::Unavailable | tonic::Code::ResourceExhausted => CallError::Transient,
        _ => CallError::Failed,
    }
}

/// Whether a source's answers may be served from the shared cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caching {
    /// Kept for `cache_ttl_ms` and dropped when identity changes the customer.
    Shared,
    /// Asked every time: consent and preferences change without any identity event,
    /// and a refused channel must never be proposed from an older answer.
    Never,
}

/// A source's outcome: its facts (`Value::Null` for "no such customer"), nothing
/// (missing), or the refusal of the reference, which fails the whole request.
type SourceAnswer = Result<Option<Value>, String>;

pub struct Dependencies {
    peers: Peers,
    cache: Arc<dyn Cache>,
    config: CustomizationConfig,
    identity: CircuitBreaker,
    differentiation: CircuitBreaker,
    interaction: CircuitBreaker,
}

impl Dependencies {
    pub fn new(peers: Peers, cache: Arc<dyn Cache>, config: CustomizationConfig) -> Self {
        let breaker = |dependency| {
            CircuitBreaker::new(
                dependency,
                config.breaker_failures,
                Duration::from_millis(config.breaker_open_ms),
            )
        };
        Dependencies {
            identity: breaker(IDENTITY),
            differentiation: breaker(DIFFERENTIATION),
            interaction: breaker(INTERACTION),
            peers,
            cache,
            config,
        }
    }

    /// Asks the three sources in parallel; every answer is in by `deadline` (the part
    /// of the caller's deadline the sources may use). FAILED_PRECONDITION with the
    /// source's message when a source refuses the reference (an identifier shared by
    /// several customers): no offering can be made for an unknown one of them.
    pub async fn gather(
        &self,
        selector: &CustomerSelector,
        deadline: Instant,
    ) -> ApiResult<Gathered> {
        let limit = Duration::from_millis(self.config.dependency_timeout_ms);
        let own_deadline = deadline.min(Instant::now() + limit);
        // Asked as the service, not for the caller: the offering is composed from facts
        // derived from these answers (never passed through), and the facts are cached
        // for every caller alike. The caller's `customization:read` is what it needs.
        let (identity, value, interaction) = as_service(async {
            tokio::join!(
                self.source(
                    IDENTITY,
                    &self.identity,
                    Caching::Shared,
                    selector,
                    own_deadline,
                    |s, d| self.fetch_identity(s, d)
                ),
                self.source(
                    DIFFERENTIATION,
                    &self.differentiation,
                    Caching::Shared,
                    selector,
                    own_deadline,
                    |s, d| self.fetch_value(s, d)
                ),
                self.source(
                    INTERACTION,
                    &self.interaction,
                    Caching::Never,
                    selector,
                    own_deadline,
                    |s, d| self.fetch_interaction(s, d)
                ),
            )
        })
        .await;
        let refused = |answer: SourceAnswer| answer.map_err(ApiError::FailedPrecondition);
        Ok(Gathered {
            identity: refused(identity)?.map_or(Fetched::Missing, decode_identity),
            value: refused(value)?.map_or(Fetched::Missing, decode_value),
            interaction: refused(interaction)?.map_or(Fetched::Missing, decode_interaction),
        })
    }

    /// One source: the cache (when `caching` allows), else the breaker-guarded call
    /// with one retry on a transient error if time allows; everything bounded by
    /// `deadline`. The answer is the JSON of the facts (`Value::Null` for "no such
    /// customer").
    async fn source<'a, F, Fut>(
        &'a self,
        name: &'static str,
        breaker: &'a CircuitBreaker,
        caching: Caching,
        selector: &'a CustomerSelector,
        deadline: Instant,
        fetch: F,
    ) -> SourceAnswer
    where
        F: Fn(&'a CustomerSelector, Instant) -> Fut,
        Fut: Future<Output = Result<Value, CallError>> + 'a,
    {
        let key = cache_key(name, selector);
        let work = async {
            if caching == Caching::Shared
                && let Some(hit) = self.cached(&key).await
            {
                return Ok(Some(hit));
            }
            if !breaker.allow() {
                tracing::debug!(dependency = name, "circuit open: skipped");
                return Ok(None);
            }
            let started = Instant::now();
            let mut outcome = fetch(selector, deadline).await;
            // Reads are safe to retry; only when the first try failed fast enough to
            // leave at least as much time again.
            if matches!(outcome, Err(CallError::Transient))
                && deadline.saturating_duration_since(Instant::now()) > started.elapsed()
            {
                outcome = fetch(selector, deadline).await;
            }
            match outcome {
                Ok(facts) => {
                    breaker.success();
                    if caching == Caching::Shared {
                        self.store(&key, &facts).await;
                    }
                    Ok(Some(facts))
                }
                Err(CallError::NotFound) => {
                    breaker.success();
                    Ok(Some(Value::Null))
                }
                // The source answered; the reference is what is wrong.
                Err(CallError::Refused(message)) => {
                    breaker.success();
                    Err(message)
                }
                Err(CallError::Transient | CallError::Failed) => {
                    breaker.failure();
                    Ok(None)
                }
            }
        };
        let budget = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout_at(deadline, work).await {
            Ok(answer) => answer,
            Err(_) => {
                // A caller in a hurry must not open the breaker for everyone: only a
                // timeout with a fair share of the usual budget counts as a failure.
                if budget >= Duration::from_millis(self.config.dependency_timeout_ms / 4) {
                    breaker.failure();
                }
                tracing::debug!(dependency = name, "no answer within its deadline");
                Ok(None)
            }
        }
    }

    async fn cached(&self, key: &str) -> Option<Value> {
        let bytes = self.cache.get(key).await.ok()??;
        let entry: Value = serde_json::from_slice(&bytes).ok()?;
        let fetched_at = entry["fetched_at"].as_i64()?;
        let customer_id = entry["facts"]["customer_id"].as_str().unwrap_or_default();
        if !customer_id.is_empty() {
            // An identity change after the entry was fetched makes it stale.
            let marker = self.cache.get(&changed_key(customer_id)).await.ok()?;
            let changed_at = marker
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .and_then(|text| text.parse::<i64>().ok());
            if changed_at.is_some_and(|changed_at| changed_at >= fetched_at) {
                return None;
            }
        }
        Some(entry["facts"].clone())
    }

    async fn store(&self, key: &str, facts: &Value) {
        let entry = json!({ "fetched_at": now_micros(), "facts": facts });
        let ttl = Duration::from_millis(self.config.cache_ttl_ms);
        if let Err(error) = self.cache.set(key, entry.to_string().as_bytes(), ttl).await {
            tracing::warn!(%error, "caching a dependency answer failed");
        }
    }

    /// Identity changed these customers: cached answers about them are stale.
    pub async fn invalidate(&self, customer_ids: &[&str]) {
        let ttl = Duration::from_millis(self.config.cache_ttl_ms.saturating_mul(2));
        let now = now_micros().to_string();
        for customer_id in customer_ids {
            if let Err(error) = self
                .cache
                .set(&changed_key(customer_id), now.as_bytes(), ttl)
                .await
            {
                tracing::warn!(%error, "marking a changed customer in the cache failed");
            }
        }
    }

    /// The surviving customer id of `selector`, asked of identity within `budget`.
    pub async fn resolve_customer(
        &self,
        selector: &CustomerSelector,
        budget: std::time::Duration,
    ) -> idic_runtime::ApiResult<String> {
        self.peers.resolve_customer(selector, budget).await
    }

    /// Whether a dependency's breaker is open (for tests and diagnostics).
    pub fn breaker_open(&self, name: &str) -> bool {
        match name {
            IDENTITY => self.identity.is_open(),
            DIFFERENTIATION => self.differentiation.is_open(),
            _ => self.interaction.is_open(),
        }
    }

    async fn fetch_identity(
        &self,
        selector: &CustomerSelector,
        deadline: Instant,
    ) -> Result<Value, CallError> {
        let mut request = tonic::Request::new(pb::GetCustomerRequest {
            customer: Some(selector.to_proto()),
        });
        request.set_timeout(remaining(deadline));
        let response = self
            .peers
            .identity()
            .get_customer(request)
            .await
            .map_err(|status| classify(&status))?;
        let customer = response.into_inner().customer.ok_or(CallError::Failed)?;
        let business = customer
            .golden
            .as_ref()
            .is_some_and(|golden| !golden.organization_name.trim().is_empty());
        Ok(json!({ "customer_id": customer.customer_id, "business_account": business }))
    }

    async fn fetch_value(
        &self,
        selector: &CustomerSelector,
        deadline: Instant,
    ) -> Result<Value, CallError> {
        let mut client = self.peers.differentiation();
        let mut value_request = tonic::Request::new(pb::GetCustomerValueRequest {
            customer: Some(selector.to_proto()),
        });
        value_request.set_timeout(remaining(deadline));
        let mut needs_request = tonic::Request::new(pb::GetCustomerNeedsRequest {
            customer: Some(selector.to_proto()),
        });
        needs_request.set_timeout(remaining(deadline));
        let mut needs_client = client.clone();
        let (value, needs) = tokio::join!(
            client.get_customer_value(value_request),
            needs_client.get_customer_needs(needs_request)
        );
        let value = match value {
            Ok(response) => response.into_inner().value,
            Err(status) => match classify(&status) {
                // A customer with no transactions yet has no value, which is no failure.
                CallError::NotFound => None,
                other => return Err(other),
            },
        };
        let needs = match needs {
            Ok(response) => response.into_inner().needs,
            Err(status) => match classify(&status) {
                CallError::NotFound => None,
                other => return Err(other),
            },
        };
        if value.is_none() && needs.is_none() {
            return Err(CallError::NotFound);
        }
        let tier = value.as_ref().and_then(|value| tier_label(value.tier));
        let customer_id = value
            .as_ref()
            .map(|value| value.customer_id.clone())
            .or_else(|| needs.as_ref().map(|needs| needs.customer_id.clone()))
            .unwrap_or_default();
        let (segment_id, segment_label, customer_type) =
            needs.map_or((None, None, None), |needs| {
                (
                    Some(needs.segment_id).filter(|id| !id.is_empty()),
                    Some(needs.segment_label).filter(|label| !label.is_empty()),
                    customer_type_label(needs.customer_type),
                )
            });
        Ok(json!({
            "customer_id": customer_id,
            "tier": tier,
            "segment_id": segment_id,
            "segment_label": segment_label,
            "customer_type": customer_type,
        }))
    }

    async fn fetch_interaction(
        &self,
        selector: &CustomerSelector,
        deadline: Instant,
    ) -> Result<Value, CallError> {
        let mut request = tonic::Request::new(pb::GetPreferencesRequest {
            customer: Some(selector.to_proto()),
        });
        request.set_timeout(remaining(deadline));
        let response = self
            .peers
            .interaction()
            .get_preferences(request)
            .await
            .map_err(|status| classify(&status))?
            .into_inner();
        let preferences: Vec<Value> = response
            .preferences
            .iter()
            .map(|preference| {
                json!({
                    "key": preference.key.trim().to_lowercase(),
                    "value": preference.value.trim().to_lowercase(),
                    "channel": preference.channel,
                    "expressed_at": preference.expressed_at.as_ref().map_or(0, micros_from_timestamp),
                    "interaction_id": preference.interaction_id,
                })
            })
            .collect();
        let consents: Vec<Value> = response
            .consents
            .iter()
            .map(|consent| {
                json!({
                    "channel": consent.channel,
                    "purpose": consent.purpose.trim().to_lowercase(),
                    "granted": consent.status == pb::ConsentStatus::Granted as i32,
                    "decided_at": consent.decided_at.as_ref().map_or(0, micros_from_timestamp),
                    "source": consent.source,
                })
            })
            .collect();
        Ok(json!({
            "customer_id": response.customer_id,
            "preferences": preferences,
            "consents": consents,
        }))
    }
}

fn remaining(deadline: Instant) -> Duration {
    deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1))
}

fn tier_label(tier: i32) -> Option<String> {
    match pb::Tier::try_from(tier).ok()? {
        pb::Tier::A => Some("A".into()),
        pb::Tier::B => Some("B".into()),
        pb::Tier::C => Some("C".into()),
        pb::Tier::D => Some("D".into()),
        pb::Tier::Unspecified => None,
    }
}

fn customer_type_label(customer_type: i32) -> Option<String> {
    match pb::CustomerType::try_from(customer_type).ok()? {
        pb::CustomerType::LostForGood => Some("lost_for_good".into()),
        pb::CustomerType::AlwaysAShare => Some("always_a_share".into()),
        pb::CustomerType::Intermediate => Some("intermediate".into()),
        pb::CustomerType::Unspecified => None,
    }
}

fn text(value: &Value, key: &str) -> Option<String> {
    value[key]
        .as_str()
        .map(str::to_owned)
        .filter(|text| !text.is_empty())
}

fn decode_identity(value: Value) -> Fetched<IdentityFacts> {
    if value.is_null() {
        return Fetched::NotFound;
    }
    Fetched::Found(IdentityFacts {
        customer_id: text(&value, "customer_id").unwrap_or_default(),
        business_account: value["business_account"].as_bool().unwrap_or(false),
    })
}

fn decode_value(value: Value) -> Fetched<ValueFacts> {
    if value.is_null() {
        return Fetched::NotFound;
    }
    Fetched::Found(ValueFacts {
        customer_id: text(&value, "customer_id").unwrap_or_default(),
        tier: text(&value, "tier"),
        segment_id: text(&value, "segment_id"),
        segment_label: text(&value, "segment_label"),
        customer_type: text(&value, "customer_type"),
    })
}

fn decode_interaction(value: Value) -> Fetched<InteractionFacts> {
    if value.is_null() {
        return Fetched::NotFound;
    }
    let int = |item: &Value, key: &str| i32::try_from(item[key].as_i64().unwrap_or(0)).unwrap_or(0);
    let list = |key: &str| value[key].as_array().cloned().unwrap_or_default();
    Fetched::Found(InteractionFacts {
        customer_id: text(&value, "customer_id").unwrap_or_default(),
        preferences: list("preferences")
            .iter()
            .map(|item| Preference {
                key: text(item, "key").unwrap_or_default(),
                value: text(item, "value").unwrap_or_default(),
                channel: int(item, "channel"),
                expressed_at: item["expressed_at"].as_i64().unwrap_or(0),
                interaction_id: text(item, "interaction_id").unwrap_or_default(),
            })
            .collect(),
        consents: list("consents")
            .iter()
            .map(|item| Consent {
                channel: int(item, "channel"),
                purpose: text(item, "purpose").unwrap_or_default(),
                granted: item["granted"].as_bool().unwrap_or(false),
                decided_at: item["decided_at"].as_i64().unwrap_or(0),
                source: text(item, "source").unwrap_or_default(),
            })
            .collect(),
    })
}

/// Cache keys carry a 128-bit digest of the reference, not the reference itself, so
/// that no e-mail or phone number appears in Redis key names.
fn cache_key(source: &str, selector: &CustomerSelector) -> String {
    let anchor = selector.anchor();
    let digest = |salt: u64| {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        salt.hash(&mut hasher);
        anchor.hash(&mut hasher);
        hasher.finish()
    };
    format!(
        "customization:dep:v1:{source}:{:016x}{:016x}",
        digest(1),
        digest(2)
    )
}

fn changed_key(customer_id: &str) -> String {
    format!("customization:changed:{customer_id}")
}
