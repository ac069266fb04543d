//! The customization service's use cases, knowing no protobuf (the handler converts):
//! catalog and rules management here; tailored offerings and packaging options
//! assembled from the fan-out and the policy (`offering`), outcomes feeding the
//! learner (`outcomes`), and "why did we offer this?" with the learning report
//! (`report`).

mod offering;
mod outcomes;
mod report;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use idic_offer::bandit::{Bandit, BanditConfig};
use idic_offer::rules::{Rule, RuleSet};
use idic_offer::{Catalog, Component};
use idic_runtime::bus::EventBus;
use idic_runtime::config::CustomizationConfig;
use idic_runtime::storage::now_micros;
use idic_runtime::{ApiError, ApiResult, FieldViolation};

use crate::deps::Dependencies;
use crate::domain::PublishedRules;
use crate::store::{CustomizationStore, StoredRules};
use crate::stored;

pub use crate::events::OFFERS_TOPIC;
pub use offering::proposed_control_group;

/// The catalog and rules in force.
#[derive(Default)]
struct Snapshot {
    catalog: Arc<Catalog>,
    rules: Arc<RuleSet>,
}

pub struct Customization {
    store: Arc<dyn CustomizationStore>,
    deps: Arc<Dependencies>,
    bus: Arc<dyn EventBus>,
    config: CustomizationConfig,
    snapshot: RwLock<Snapshot>,
    bandit: RwLock<Bandit>,
    control: Mutex<HashMap<String, bool>>,
    /// Catalog and rule writes of this process, one at a time.
    writes: tokio::sync::Mutex<()>,
}

impl Customization {
    pub fn new(
        store: Arc<dyn CustomizationStore>,
        deps: Arc<Dependencies>,
        bus: Arc<dyn EventBus>,
        config: CustomizationConfig,
    ) -> Self {
        let bandit = Bandit::new(BanditConfig {
            max_exploration: config.max_exploration.clamp(0.0, 1.0),
            ..BanditConfig::default()
        });
        Customization {
            store,
            deps,
            bus,
            config,
            snapshot: RwLock::new(Snapshot::default()),
            bandit: RwLock::new(bandit),
            control: Mutex::new(HashMap::new()),
            writes: tokio::sync::Mutex::new(()),
        }
    }

    /// Reads the catalog, the current rules and the bandit's arms from storage (at
    /// start, and periodically so that replicas see each other's writes).
    pub async fn reload(&self) -> anyhow::Result<()> {
        let catalog = Catalog::from_valid(self.store.all_components().await?);
        let rules = match self.store.rules(None).await? {
            Some(stored) => rule_set(&stored)?,
            None => RuleSet::default(),
        };
        let arms = self.store.arms().await?;
        {
            let mut snapshot = self.snapshot.write().unwrap_or_else(|p| p.into_inner());
            snapshot.catalog = Arc::new(catalog);
            snapshot.rules = Arc::new(rules);
        }
        let mut bandit = self.bandit.write().unwrap_or_else(|p| p.into_inner());
        for (segment, slot, component_id, stats) in arms {
            bandit.set(&segment, slot, &component_id, stats);
        }
        Ok(())
    }

    fn current(&self) -> (Arc<Catalog>, Arc<RuleSet>) {
        let snapshot = self.snapshot.read().unwrap_or_else(|p| p.into_inner());
        (snapshot.catalog.clone(), snapshot.rules.clone())
    }

    pub fn deps(&self) -> &Arc<Dependencies> {
        &self.deps
    }

    // ---- catalog ----

    /// Validates the catalog with `components` applied, and stores the changed ones;
    /// returns (changed, unchanged). `violations` are those the handler found in the
    /// request already: reported together with the catalog's own.
    pub async fn upsert_components(
        &self,
        components: Vec<Component>,
        mut violations: Vec<FieldViolation>,
    ) -> ApiResult<(u32, u32)> {
        let requested = components.len();
        let _writing = self.writes.lock().await;
        let existing = self
            .store
            .all_components()
            .await
            .map_err(ApiError::internal)?;
        let catalog = match Catalog::validate(&existing, &components) {
            Ok(catalog) => catalog,
            Err(found) => {
                violations.extend(found.into_iter().map(violation));
                return Err(ApiError::InvalidArgument(violations));
            }
        };
        if !violations.is_empty() {
            return Err(ApiError::InvalidArgument(violations));
        }
        let (_, rules) = self.current();
        let broken = RuleSet::validate(&rules.rules, &catalog);
        if let Some(first) = broken.first() {
            return Err(ApiError::invalid(
                "components",
                format!(
                    "would break the published rules (version {}): {}: {}",
                    rules.version, first.field, first.description
                ),
            ));
        }
        let changed: Vec<Component> = components
            .into_iter()
            .filter(|component| !existing.contains(component))
            .collect();
        let unchanged = requested - changed.len();
        if !changed.is_empty() {
            self.store
                .upsert_components(&changed)
                .await
                .map_err(ApiError::internal)?;
        }
        self.snapshot
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .catalog = Arc::new(catalog);
        Ok((count(changed.len()), count(unchanged)))
    }

    pub async fn list_components(
        &self,
        slot: Option<i32>,
        after: Option<&str>,
        limit: i64,
    ) -> ApiResult<Vec<Component>> {
        self.store
            .components(slot, after, limit)
            .await
            .map_err(ApiError::internal)
    }

    // ---- rules ----

    /// The rules of `version` (0: the current ones; none published yet: version 0).
    pub async fn rules(&self, version: u32) -> ApiResult<PublishedRules> {
        let stored = self
            .store
            .rules((version != 0).then_some(version))
            .await
            .map_err(ApiError::internal)?;
        match stored {
            Some(stored) if version == 0 || stored.version == version => {
                published_rules(&stored).map_err(ApiError::internal)
            }
            _ if version == 0 => Ok(PublishedRules::default()),
            _ => Err(ApiError::not_found(format!(
                "no rules of version {version}"
            ))),
        }
    }

    /// Publishes `rules` as the next version, unless they are the current ones; with
    /// `expected_version` (not 0) only if that is the current version.
    pub async fn publish_rules(
        &self,
        rules: Vec<Rule>,
        expected_version: u32,
    ) -> ApiResult<PublishedRules> {
        let _writing = self.writes.lock().await;
        let (catalog, _) = self.current();
        let violations = RuleSet::validate(&rules, &catalog);
        if !violations.is_empty() {
            return Err(ApiError::InvalidArgument(
                violations.into_iter().map(violation).collect(),
            ));
        }
        let current = self.store.rules(None).await.map_err(ApiError::internal)?;
        let current_version = current.as_ref().map_or(0, |stored| stored.version);
        if expected_version != 0 && expected_version != current_version {
            return Err(ApiError::FailedPrecondition(format!(
                "the current rules are version {current_version}, not {expected_version}"
            )));
        }
        if let Some(current) = &current {
            let published = published_rules(current).map_err(ApiError::internal)?;
            if published.rules == rules {
                return Ok(published);
            }
        }
        let version = current_version + 1;
        let now = now_micros();
        let published = PublishedRules {
            version,
            published_at_micros: Some(now),
            rules,
        };
        let row = StoredRules {
            version,
            published_at: now,
            encoded: stored::encode_rules(&published),
        };
        if !self
            .store
            .publish_rules(&row)
            .await
            .map_err(ApiError::internal)?
        {
            return Err(ApiError::FailedPrecondition(format!(
                "version {version} was published concurrently; read the rules again"
            )));
        }
        self.snapshot
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .rules = Arc::new(RuleSet {
            version,
            rules: published.rules.clone(),
        });
        Ok(published)
    }
}

fn violation(violation: idic_offer::Violation) -> FieldViolation {
    FieldViolation::new(violation.field, violation.description)
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A stored version of the rules, under the version its row says.
fn published_rules(stored: &StoredRules) -> anyhow::Result<PublishedRules> {
    let mut published = stored::decode_rules(&stored.encoded)?;
    published.version = stored.version;
    Ok(published)
}

/// The rule set the policy applies, of a stored version.
fn rule_set(stored: &StoredRules) -> anyhow::Result<RuleSet> {
    Ok(RuleSet {
        version: stored.version,
        rules: published_rules(stored)?.rules,
    })
}
