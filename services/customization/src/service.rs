//! The customization service's use cases: catalog and rules management, tailored
//! offerings and packaging options assembled from the fan-out and the policy,
//! outcomes feeding the learner, and "why did we offer this?".

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use idic_offer::bandit::{ArmStats, Bandit, BanditConfig};
use idic_offer::policy::{self, Inputs};
use idic_offer::profile::{Outcome, Profile, SlotHistory};
use idic_offer::rules::RuleSet;
use idic_offer::{Catalog, Component, Slot};
use idic_proto::v1 as pb;
use idic_runtime::bus::EventBus;
use idic_runtime::config::CustomizationConfig;
use idic_runtime::refs::CustomerSelector;
use idic_runtime::storage::{now_micros, timestamp_from_micros};
use idic_runtime::{ApiError, ApiResult, FieldViolation};
use prost::Message as _;
use tokio::time::Instant;

use crate::convert;
use crate::deps::{Dependencies, Gathered};
use crate::store::{CustomizationStore, InsertOffering, OfferingRow, OutcomeRow, StoredRules};

/// The bus topic offers and their outcomes are published on.
pub const OFFERS_TOPIC: &str = idic_proto::topics::OFFERS.name();

/// Control-group memberships remembered in memory before the map is cleared.
const CONTROL_CACHE_ENTRIES: usize = 100_000;

/// What a tailored offering is asked for, validated.
pub struct OfferRequest {
    pub selector: CustomerSelector,
    pub order: Option<pb::OfferOrder>,
    pub channel: i32,
    pub occasion: String,
    pub idempotency_key: Option<String>,
}

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
            Some(stored) => decode_rules(&stored)?,
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

    /// Validates the catalog with `changes` applied, and stores the changed
    /// components; returns (changed, unchanged).
    pub async fn upsert_components(&self, changes: &[pb::Component]) -> ApiResult<(u32, u32)> {
        if changes.is_empty() {
            return Err(ApiError::invalid("components", "must not be empty"));
        }
        if changes.len() > 1000 {
            return Err(ApiError::invalid("components", "at most 1000 per request"));
        }
        let mut violations: Vec<FieldViolation> = changes
            .iter()
            .enumerate()
            .filter_map(|(index, component)| convert::price_currency_violation(index, component))
            .collect();
        for (index, component) in changes.iter().enumerate() {
            violations.extend(convert::money_range_violations(index, component));
        }
        let components: Vec<Component> =
            changes.iter().map(convert::component_from_proto).collect();
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
        let unchanged = changes.len() - changed.len();
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

    pub async fn rules(&self, version: u32) -> ApiResult<pb::OfferRuleSet> {
        let stored = self
            .store
            .rules((version != 0).then_some(version))
            .await
            .map_err(ApiError::internal)?;
        match stored {
            Some(stored) if version == 0 || stored.version == version => {
                decode_rule_message(&stored).map_err(ApiError::internal)
            }
            _ if version == 0 => Ok(pb::OfferRuleSet::default()),
            _ => Err(ApiError::not_found(format!(
                "no rules of version {version}"
            ))),
        }
    }

    pub async fn publish_rules(
        &self,
        rules: &[pb::OfferRule],
        expected_version: u32,
    ) -> ApiResult<pb::OfferRuleSet> {
        let parsed: Vec<_> = rules.iter().map(convert::rule_from_proto).collect();
        let _writing = self.writes.lock().await;
        let (catalog, _) = self.current();
        let violations = RuleSet::validate(&parsed, &catalog);
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
            let current_rules = decode_rules(current).map_err(ApiError::internal)?;
            if current_rules.rules == parsed {
                return decode_rule_message(current).map_err(ApiError::internal);
            }
        }
        let version = current_version + 1;
        let message = pb::OfferRuleSet {
            version,
            rules: parsed.iter().map(convert::rule_to_proto).collect(),
            published_at: Some(timestamp_from_micros(now_micros())),
        };
        let stored = StoredRules {
            version,
            published_at: now_micros(),
            encoded: BASE64.encode(message.encode_to_vec()),
        };
        if !self
            .store
            .publish_rules(&stored)
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
            rules: parsed,
        });
        Ok(message)
    }

    // ---- offerings ----

    /// The budget the dependencies may use: the caller's deadline less the reserve.
    fn dependency_deadline(&self, deadline: Instant) -> Instant {
        let reserve = Duration::from_millis(self.config.reserve_ms);
        let remaining = deadline.saturating_duration_since(Instant::now());
        // Keep at least a fifth of a short deadline for composing and storing.
        let reserve = reserve.max(remaining / 5);
        deadline
            .checked_sub(reserve)
            .unwrap_or(deadline)
            .max(Instant::now())
    }

    async fn profile(
        &self,
        gathered: &Gathered,
        subject: &str,
        anchor: &str,
        order_quantity: u32,
    ) -> ApiResult<Profile> {
        let value = gathered.value.found();
        let interaction = gathered.interaction.found();
        let mut history: HashMap<Slot, SlotHistory> = HashMap::new();
        for row in self
            .store
            .history(subject)
            .await
            .map_err(ApiError::internal)?
        {
            history.entry(row.slot).or_default().apply(
                &row.offered,
                &outcome_of(&row),
                &row.offering_id,
                row.recorded_at,
            );
        }
        let control_group = self.control_group(subject, anchor).await?;
        Ok(Profile {
            tier: value.and_then(|facts| facts.tier.clone()),
            segment_id: value.and_then(|facts| facts.segment_id.clone()),
            segment_label: value.and_then(|facts| facts.segment_label.clone()),
            customer_type: value.and_then(|facts| facts.customer_type.clone()),
            business_account: gathered
                .identity
                .found()
                .is_some_and(|facts| facts.business_account),
            preferences: interaction
                .map(|facts| facts.preferences.clone())
                .unwrap_or_default(),
            consents: interaction.map(|facts| facts.consents.clone()),
            history,
            order_quantity,
            control_group,
        })
    }

    /// Control-group membership: a stable hash of the customer decides on first sight,
    /// and the decision is stored so that it never changes afterwards.
    async fn control_group(&self, subject: &str, anchor: &str) -> ApiResult<bool> {
        if let Some(known) = self
            .control
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(subject)
        {
            return Ok(*known);
        }
        let proposed = proposed_control_group(subject, self.config.control_group_percent);
        let member = self
            .store
            .control_group(subject, anchor, proposed, now_micros())
            .await
            .map_err(ApiError::internal)?;
        let mut control = self.control.lock().unwrap_or_else(|p| p.into_inner());
        if control.len() >= CONTROL_CACHE_ENTRIES {
            control.clear();
        }
        control.insert(subject.to_owned(), member);
        Ok(member)
    }

    /// The customer key of stored rows: the customer id, or the anchor when the
    /// reference matched no customer.
    fn subject(gathered: &Gathered, selector: &CustomerSelector) -> (String, String) {
        let customer_id = gathered.customer_id().or_else(|| match selector {
            // Identity did not answer: a customer id is used as given.
            CustomerSelector::Id(id) => Some(id.clone()),
            CustomerSelector::Identifier { .. } => None,
        });
        let anchor = selector.anchor();
        let subject = customer_id
            .clone()
            .unwrap_or_else(|| format!("anchor:{anchor}"));
        (customer_id.unwrap_or_default(), subject)
    }

    pub async fn tailored_offering(
        &self,
        request: OfferRequest,
        deadline: Instant,
    ) -> ApiResult<pb::Offering> {
        let gathered = self
            .deps
            .gather(&request.selector, self.dependency_deadline(deadline))
            .await?;
        let (customer_id, subject) = Self::subject(&gathered, &request.selector);
        let anchor = request.selector.anchor();
        let order_quantity = order_quantity(request.order.as_ref());
        let profile = self
            .profile(&gathered, &subject, &anchor, order_quantity)
            .await?;
        let (catalog, rules) = self.current();
        let composition = {
            let bandit = self.bandit.read().unwrap_or_else(|p| p.into_inner());
            let inputs = Inputs {
                catalog: &catalog,
                rules: &rules,
                bandit: &bandit,
                profile: &profile,
            };
            policy::compose(&inputs, &mut rand::rng())
        };
        let missing: Vec<String> = gathered.missing().into_iter().map(str::to_owned).collect();
        idic_runtime::observability::record_degraded(&missing);
        let now = now_micros();
        let offering = pb::Offering {
            offering_id: format!("off_{}", uuid::Uuid::now_v7().simple()),
            customer_id: customer_id.clone(),
            created_at: Some(timestamp_from_micros(now)),
            choices: composition
                .choices
                .iter()
                .map(|choice| convert::choice_to_proto(&catalog, choice))
                .collect(),
            gaps: composition
                .gaps
                .iter()
                .map(|gap| pb::SlotGap {
                    slot: gap.slot.wire(),
                    reason: gap.reason.clone(),
                })
                .collect(),
            total_price_adjustment: composition
                .total_price(&catalog)
                .iter()
                .map(convert::money_to_proto)
                .collect(),
            degraded: !missing.is_empty(),
            missing_sources: missing,
            control_group: profile.control_group,
            rules_version: rules.version,
        };
        let inputs = offering_inputs(&profile, &anchor, &request);
        let record = pb::StoredOffering {
            offering: Some(offering.clone()),
            inputs: Some(inputs),
            outcomes: Vec::new(),
        };
        let row = OfferingRow {
            offering_id: offering.offering_id.clone(),
            subject,
            anchor,
            idempotency_key: request.idempotency_key.clone(),
            segment: profile.learning_segment().to_owned(),
            control: profile.control_group,
            created_at: now,
            record: BASE64.encode(record.encode_to_vec()),
        };
        match self
            .store
            .insert_offering(&row)
            .await
            .map_err(ApiError::internal)?
        {
            InsertOffering::Stored => {}
            InsertOffering::Existing(earlier) => {
                // A retry: the offering made the first time, unchanged.
                return decode_record(&earlier.record)
                    .map_err(ApiError::internal)?
                    .offering
                    .ok_or_else(|| {
                        ApiError::internal(anyhow::anyhow!("stored offering is empty"))
                    });
            }
        }
        let event = pb::OfferEvent {
            offering_id: offering.offering_id.clone(),
            customer_id,
            kind: pb::OfferEventKind::Presented as i32,
            occurred_at: Some(timestamp_from_micros(now)),
            channel: request.channel,
            choices: offering
                .choices
                .iter()
                .map(|choice| pb::OfferEventChoice {
                    slot: choice.slot,
                    component_id: choice
                        .component
                        .as_ref()
                        .map(|component| component.component_id.clone())
                        .unwrap_or_default(),
                    outcome: 0,
                    changed_to: String::new(),
                })
                .collect(),
        };
        self.publish(&event).await;
        Ok(offering)
    }

    pub async fn packaging_options(
        &self,
        selector: &CustomerSelector,
        order: Option<&pb::OfferOrder>,
        deadline: Instant,
    ) -> ApiResult<pb::GetPackagingOptionsResponse> {
        let gathered = self
            .deps
            .gather(selector, self.dependency_deadline(deadline))
            .await?;
        let (_, subject) = Self::subject(&gathered, selector);
        let profile = self
            .profile(
                &gathered,
                &subject,
                &selector.anchor(),
                order_quantity(order),
            )
            .await?;
        let (catalog, rules) = self.current();
        let ranked = {
            let bandit = self.bandit.read().unwrap_or_else(|p| p.into_inner());
            let inputs = Inputs {
                catalog: &catalog,
                rules: &rules,
                bandit: &bandit,
                profile: &profile,
            };
            policy::rank_slot(&inputs, Slot::Packaging, &mut rand::rng())
        };
        let options = match ranked {
            Ok(choice) => {
                let first = (choice.component_id.clone(), choice.reason.clone());
                std::iter::once(first)
                    .chain(choice.alternatives.iter().map(|alternative| {
                        (alternative.component_id.clone(), alternative.reason.clone())
                    }))
                    .enumerate()
                    .filter_map(|(index, (id, reason))| {
                        let component = catalog.get(&id)?;
                        Some(pb::PackagingOption {
                            component: Some(convert::component_to_proto(component)),
                            rank: count(index + 1),
                            cost: Some(convert::money_to_proto(&component.cost)),
                            price_adjustment: Some(convert::money_to_proto(&component.price())),
                            reason: Some(convert::reason_to_proto(&reason)),
                        })
                    })
                    .collect()
            }
            Err(_) => Vec::new(),
        };
        let missing: Vec<String> = gathered.missing().into_iter().map(str::to_owned).collect();
        idic_runtime::observability::record_degraded(&missing);
        Ok(pb::GetPackagingOptionsResponse {
            options,
            degraded: !missing.is_empty(),
            missing_sources: missing,
        })
    }

    // ---- outcomes ----

    pub async fn record_outcome(
        &self,
        request: &pb::RecordOutcomeRequest,
    ) -> ApiResult<pb::RecordOutcomeResponse> {
        let offering_id = request.offering_id.trim();
        if offering_id.is_empty() || offering_id.len() > 64 {
            return Err(ApiError::invalid("offering_id", "must be 1 to 64 bytes"));
        }
        let row = self
            .store
            .offering(offering_id)
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(|| ApiError::not_found(format!("no offering '{offering_id}'")))?;
        let record = decode_record(&row.record).map_err(ApiError::internal)?;
        let offering = record.offering.clone().unwrap_or_default();
        let (catalog, _) = self.current();
        let outcomes = parse_outcomes(request, &offering, &catalog)?;
        let existing = self
            .store
            .outcomes(offering_id)
            .await
            .map_err(ApiError::internal)?;
        let mut fresh = Vec::new();
        let mut already = 0;
        for outcome in outcomes {
            match existing.iter().find(|stored| stored.slot == outcome.slot) {
                Some(stored)
                    if stored.outcome == outcome.outcome
                        && stored.changed_to == outcome.changed_to =>
                {
                    already += 1;
                }
                Some(_) => {
                    return Err(ApiError::FailedPrecondition(format!(
                        "the {} outcome of offering {offering_id} was already recorded differently",
                        outcome.slot.label()
                    )));
                }
                None => fresh.push(outcome),
            }
        }
        let inserted = self
            .store
            .insert_outcomes(&row, &fresh)
            .await
            .map_err(ApiError::internal)?;
        already += fresh.len() - inserted.len();
        if !inserted.is_empty() {
            self.learn(&row.segment, &inserted).await?;
            self.publish_outcome(&row, &offering, request.channel, &inserted)
                .await;
        }
        Ok(pb::RecordOutcomeResponse {
            recorded: count(inserted.len()),
            already_recorded: count(already),
        })
    }

    async fn learn(&self, segment: &str, outcomes: &[OutcomeRow]) -> ApiResult<()> {
        let mut updates: Vec<(String, Slot, String, ArmStats)> = Vec::new();
        let mut add = |slot: Slot, component: &str, accepted: bool| {
            updates.push((
                segment.to_owned(),
                slot,
                component.to_owned(),
                ArmStats {
                    accepted: u64::from(accepted),
                    rejected: u64::from(!accepted),
                },
            ));
        };
        for outcome in outcomes {
            add(
                outcome.slot,
                &outcome.offered,
                outcome.outcome == pb::OutcomeKind::Accepted as i32,
            );
            if outcome.outcome == pb::OutcomeKind::Changed as i32 {
                add(outcome.slot, &outcome.changed_to, true);
            }
        }
        self.store
            .add_to_arms(&updates)
            .await
            .map_err(ApiError::internal)?;
        let mut bandit = self.bandit.write().unwrap_or_else(|p| p.into_inner());
        for outcome in outcomes {
            bandit.learn(
                segment,
                outcome.slot,
                &outcome.offered,
                &outcome_of(outcome),
            );
        }
        Ok(())
    }

    async fn publish_outcome(
        &self,
        row: &OfferingRow,
        offering: &pb::Offering,
        channel: i32,
        outcomes: &[OutcomeRow],
    ) {
        let accepted = outcomes
            .iter()
            .any(|outcome| outcome.outcome == pb::OutcomeKind::Accepted as i32);
        let kind = if accepted {
            pb::OfferEventKind::Accepted
        } else {
            pb::OfferEventKind::Rejected
        };
        let event = pb::OfferEvent {
            offering_id: row.offering_id.clone(),
            customer_id: offering.customer_id.clone(),
            kind: kind as i32,
            occurred_at: Some(timestamp_from_micros(now_micros())),
            channel,
            choices: outcomes
                .iter()
                .map(|outcome| pb::OfferEventChoice {
                    slot: outcome.slot.wire(),
                    component_id: outcome.offered.clone(),
                    outcome: outcome.outcome,
                    changed_to: outcome.changed_to.clone(),
                })
                .collect(),
        };
        self.publish(&event).await;
    }

    async fn publish(&self, event: &pb::OfferEvent) {
        // The offering is stored already; a lost event costs the timeline an entry, not
        // the caller its answer.
        if let Err(error) = self.bus.publish(OFFERS_TOPIC, &event.encode_to_vec()).await {
            tracing::warn!(%error, offering_id = event.offering_id, "publishing an offer event failed");
        }
    }

    pub async fn offering(&self, offering_id: &str) -> ApiResult<pb::StoredOffering> {
        let offering_id = offering_id.trim();
        if offering_id.is_empty() || offering_id.len() > 64 {
            return Err(ApiError::invalid("offering_id", "must be 1 to 64 bytes"));
        }
        let row = self
            .store
            .offering(offering_id)
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(|| ApiError::not_found(format!("no offering '{offering_id}'")))?;
        self.stored_offering(&row).await
    }

    /// Everything held about the customer `selector` names: every offering with its
    /// inputs and outcomes, and the control-group draw.
    pub async fn export_customer(
        &self,
        selector: &CustomerSelector,
        budget: Duration,
    ) -> ApiResult<pb::CustomizationCustomerData> {
        let customer_id = self.deps.resolve_customer(selector, budget).await?;
        let (rows, control_group) = tokio::try_join!(
            self.store.offerings_of(&customer_id),
            self.store.control_group_of(&customer_id),
        )
        .map_err(ApiError::internal)?;
        let mut offerings = Vec::with_capacity(rows.len());
        for row in &rows {
            offerings.push(self.stored_offering(row).await?);
        }
        Ok(pb::CustomizationCustomerData {
            customer_id,
            offerings,
            control_group,
        })
    }

    /// A stored offering with its outcomes, under the customer's current id.
    async fn stored_offering(&self, row: &OfferingRow) -> ApiResult<pb::StoredOffering> {
        let offering_id = row.offering_id.as_str();
        let mut record = decode_record(&row.record).map_err(ApiError::internal)?;
        // The customer may have been merged since: answer with the current id.
        if let Some(offering) = record.offering.as_mut()
            && !row.subject.starts_with("anchor:")
        {
            offering.customer_id = row.subject.clone();
        }
        record.outcomes = self
            .store
            .outcomes(offering_id)
            .await
            .map_err(ApiError::internal)?
            .iter()
            .map(|outcome| pb::SlotOutcome {
                slot: outcome.slot.wire(),
                outcome: outcome.outcome,
                changed_to: outcome.changed_to.clone(),
            })
            .collect();
        Ok(record)
    }

    /// Acceptance under the learning policy against the control group, in all and
    /// per period of `period_seconds` (0: a day).
    pub async fn learning_report(&self, period_seconds: u32) -> ApiResult<pb::LearningReport> {
        let counts = self
            .store
            .outcome_counts()
            .await
            .map_err(ApiError::internal)?;
        let period_seconds = if period_seconds == 0 {
            86_400
        } else {
            period_seconds
        };
        let periods = self
            .store
            .outcome_counts_by_period(i64::from(period_seconds) * 1_000_000)
            .await
            .map_err(ApiError::internal)?;
        let learner = acceptance(counts.learner_accepted, counts.learner_total);
        let control = acceptance(counts.control_accepted, counts.control_total);
        Ok(pb::LearningReport {
            learner_outcomes: counts.learner_total,
            learner_acceptance: learner,
            control_outcomes: counts.control_total,
            control_acceptance: control,
            lift: if control > 0.0 {
                learner / control - 1.0
            } else {
                0.0
            },
            periods: periods
                .into_iter()
                .map(|(start_micros, counts)| pb::LearningPeriod {
                    start: Some(prost_types::Timestamp {
                        seconds: start_micros.div_euclid(1_000_000),
                        nanos: 0,
                    }),
                    learner_outcomes: counts.learner_total,
                    learner_acceptance: acceptance(counts.learner_accepted, counts.learner_total),
                    control_outcomes: counts.control_total,
                    control_acceptance: acceptance(counts.control_accepted, counts.control_total),
                })
                .collect(),
        })
    }
}

/// Whether a customer seen for the first time joins the control group: a stable hash
/// of its key puts `percent` of customers there. (`idic demo` asks it to walk a
/// customer under the learning policy.)
pub fn proposed_control_group(subject: &str, percent: u8) -> bool {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    subject.hash(&mut hasher);
    hasher.finish() % 100 < u64::from(percent)
}

/// The share of outcomes accepted; 0 without outcomes.
fn acceptance(accepted: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        accepted as f64 / total as f64
    }
}

fn parse_outcomes(
    request: &pb::RecordOutcomeRequest,
    offering: &pb::Offering,
    catalog: &Catalog,
) -> ApiResult<Vec<OutcomeRow>> {
    let mut violations = Vec::new();
    let mut rows: Vec<OutcomeRow> = Vec::new();
    if request.outcomes.is_empty() {
        violations.push(FieldViolation::new("outcomes", "must not be empty"));
    }
    let now = now_micros();
    for (index, outcome) in request.outcomes.iter().enumerate() {
        let field = |name: &str| format!("outcomes[{index}].{name}");
        let Some(slot) = Slot::from_wire(outcome.slot) else {
            violations.push(FieldViolation::new(field("slot"), "must name a known slot"));
            continue;
        };
        let Some(offered) = offering
            .choices
            .iter()
            .find(|choice| choice.slot == slot.wire())
            .and_then(|choice| choice.component.as_ref())
        else {
            violations.push(FieldViolation::new(
                field("slot"),
                "the offering has no choice for this slot",
            ));
            continue;
        };
        if rows.iter().any(|row| row.slot == slot) {
            violations.push(FieldViolation::new(field("slot"), "is given twice"));
            continue;
        }
        let kind =
            pb::OutcomeKind::try_from(outcome.outcome).unwrap_or(pb::OutcomeKind::Unspecified);
        let changed_to = outcome.changed_to.trim();
        match kind {
            pb::OutcomeKind::Unspecified => {
                violations.push(FieldViolation::new(
                    field("outcome"),
                    "must be ACCEPTED, REJECTED or CHANGED",
                ));
                continue;
            }
            pb::OutcomeKind::Changed => {
                let valid = catalog.get(changed_to).is_some_and(|component| {
                    component.slot() == slot && component.id != offered.component_id
                });
                if !valid {
                    violations.push(FieldViolation::new(
                        field("changed_to"),
                        "must name another component of the same slot",
                    ));
                    continue;
                }
            }
            _ if !changed_to.is_empty() => {
                violations.push(FieldViolation::new(
                    field("changed_to"),
                    "is only for CHANGED",
                ));
                continue;
            }
            _ => {}
        }
        rows.push(OutcomeRow {
            offering_id: offering.offering_id.clone(),
            slot,
            offered: offered.component_id.clone(),
            outcome: kind as i32,
            changed_to: changed_to.to_owned(),
            recorded_at: now,
        });
    }
    if violations.is_empty() {
        Ok(rows)
    } else {
        Err(ApiError::InvalidArgument(violations))
    }
}

fn offering_inputs(profile: &Profile, anchor: &str, request: &OfferRequest) -> pb::OfferingInputs {
    pb::OfferingInputs {
        anchor: anchor.to_owned(),
        tier: profile.tier.clone().unwrap_or_default(),
        segment_id: profile.segment_id.clone().unwrap_or_default(),
        segment_label: profile.segment_label.clone().unwrap_or_default(),
        customer_type: profile.customer_type.clone().unwrap_or_default(),
        business_account: profile.business_account,
        preferences: profile
            .preferences
            .iter()
            .map(|preference| format!("{}={}", preference.key, preference.value))
            .collect(),
        refused_channels: profile
            .consents
            .iter()
            .flatten()
            .filter(|consent| !consent.granted)
            .map(|consent| consent.channel)
            .collect(),
        order: request.order.clone(),
        channel: request.channel,
        occasion: request.occasion.clone(),
    }
}

fn outcome_of(row: &OutcomeRow) -> Outcome {
    match pb::OutcomeKind::try_from(row.outcome) {
        Ok(pb::OutcomeKind::Accepted) => Outcome::Accepted,
        Ok(pb::OutcomeKind::Changed) => Outcome::Changed(row.changed_to.clone()),
        _ => Outcome::Rejected,
    }
}

fn order_quantity(order: Option<&pb::OfferOrder>) -> u32 {
    order.map_or(0, |order| {
        order
            .lines
            .iter()
            .fold(0u32, |total, line| total.saturating_add(line.quantity))
    })
}

fn violation(violation: idic_offer::Violation) -> FieldViolation {
    FieldViolation::new(violation.field, violation.description)
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn decode_record(text: &str) -> anyhow::Result<pb::StoredOffering> {
    Ok(pb::StoredOffering::decode(BASE64.decode(text)?.as_slice())?)
}

fn decode_rule_message(stored: &StoredRules) -> anyhow::Result<pb::OfferRuleSet> {
    Ok(pb::OfferRuleSet::decode(
        BASE64.decode(&stored.encoded)?.as_slice(),
    )?)
}

fn decode_rules(stored: &StoredRules) -> anyhow::Result<RuleSet> {
    let message = decode_rule_message(stored)?;
    Ok(RuleSet {
        version: stored.version,
        rules: message.rules.iter().map(convert::rule_from_proto).collect(),
    })
}
