//! Customization's storage: a trait the domain uses, and its SQL implementation for
//! PostgreSQL and SQLite (one statement text for both, through sqlx's `Any` driver).

use async_trait::async_trait;
use idic_offer::bandit::ArmStats;
use idic_offer::{Component, Money, Slot};
use idic_runtime::anchored::CustomerTables;
use idic_runtime::storage::{Database, Migrations};
use serde_json::{Value, json};
use sqlx::Row;
use sqlx::any::AnyRow;

/// The schema, in SQL both engines accept (see `idic_runtime::storage`).
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

pub static MIGRATIONS: Migrations = Migrations {
    postgres: &MIGRATOR,
    sqlite: &MIGRATOR,
};

/// A stored rule set: its version, when, and the encoded rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRules {
    pub version: u32,
    pub published_at: i64,
    pub encoded: String,
}

/// An offering row: who, and the encoded `StoredOffering`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferingRow {
    pub offering_id: String,
    pub subject: String,
    pub anchor: String,
    pub idempotency_key: Option<String>,
    pub segment: String,
    pub control: bool,
    pub created_at: i64,
    pub record: String,
}

/// One slot outcome as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutcomeRow {
    pub offering_id: String,
    pub slot: Slot,
    pub offered: String,
    /// 1 accepted, 2 rejected, 3 changed (the wire numbers of `OutcomeKind`).
    pub outcome: i32,
    pub changed_to: String,
    pub recorded_at: i64,
}

/// Outcome counts for the learning report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutcomeCounts {
    pub learner_total: u64,
    pub learner_accepted: u64,
    pub control_total: u64,
    pub control_accepted: u64,
}

/// Why an offering could not be stored.
#[derive(Debug)]
pub enum InsertOffering {
    Stored,
    /// The idempotency key was used before: the earlier offering.
    Existing(Box<OfferingRow>),
}

#[async_trait]
pub trait CustomizationStore: Send + Sync + 'static {
    /// Up to `limit` components in id order after `after`, of `slot` if given.
    async fn components(
        &self,
        slot: Option<i32>,
        after: Option<&str>,
        limit: i64,
    ) -> anyhow::Result<Vec<Component>>;

    /// Every component.
    async fn all_components(&self) -> anyhow::Result<Vec<Component>>;

    /// Creates or replaces components, all or none.
    async fn upsert_components(&self, components: &[Component]) -> anyhow::Result<()>;

    /// The rules of `version`, or the latest with `None`.
    async fn rules(&self, version: Option<u32>) -> anyhow::Result<Option<StoredRules>>;

    /// Stores `rules` as version `version` unless that version exists (`false` then:
    /// another writer published first).
    async fn publish_rules(&self, rules: &StoredRules) -> anyhow::Result<bool>;

    /// Stores an offering unless its idempotency key was used before.
    async fn insert_offering(&self, offering: &OfferingRow) -> anyhow::Result<InsertOffering>;

    async fn offering(&self, offering_id: &str) -> anyhow::Result<Option<OfferingRow>>;

    /// Outcomes of an offering, in slot order.
    async fn outcomes(&self, offering_id: &str) -> anyhow::Result<Vec<OutcomeRow>>;

    /// Records outcomes of one offering; those already recorded for a slot are left
    /// alone. Returns the rows actually inserted.
    async fn insert_outcomes(
        &self,
        offering: &OfferingRow,
        outcomes: &[OutcomeRow],
    ) -> anyhow::Result<Vec<OutcomeRow>>;

    /// Every outcome of a customer, oldest first.
    async fn history(&self, subject: &str) -> anyhow::Result<Vec<OutcomeRow>>;

    /// The customer's control-group membership, assigning `proposed` on first sight.
    async fn control_group(
        &self,
        subject: &str,
        anchor: &str,
        proposed: bool,
        now: i64,
    ) -> anyhow::Result<bool>;

    /// Adds outcome counts to bandit arms.
    async fn add_to_arms(&self, updates: &[(String, Slot, String, ArmStats)])
    -> anyhow::Result<()>;

    /// Every bandit arm.
    async fn arms(&self) -> anyhow::Result<Vec<(String, Slot, String, ArmStats)>>;

    async fn outcome_counts(&self) -> anyhow::Result<OutcomeCounts>;
    /// The outcome counts per period of `period_micros` (by when they were recorded),
    /// oldest first, periods without outcomes left out: (period start in
    /// microseconds since the epoch, counts).
    async fn outcome_counts_by_period(
        &self,
        period_micros: i64,
    ) -> anyhow::Result<Vec<(i64, OutcomeCounts)>>;

    /// Identity merged `absorbed` into `survivor`: their rows follow.
    async fn merge_subjects(&self, survivor: &str, absorbed: &[String]) -> anyhow::Result<()>;
    /// Which of `subjects` have offerings, outcomes or a control-group draw here.
    async fn subjects_with_data(
        &self,
        subjects: &[&str],
    ) -> anyhow::Result<std::collections::HashSet<String>>;

    /// Distinct anchors of a customer's rows.
    async fn anchors(&self, subject: &str) -> anyhow::Result<Vec<String>>;

    /// Moves a customer's rows with `anchor` to `to`.
    async fn move_anchor(&self, from: &str, anchor: &str, to: &str) -> anyhow::Result<()>;

    /// Identity erased the customer: its offerings, outcomes and control-group row go.
    async fn erase_subject(&self, subject: &str) -> anyhow::Result<()>;

    /// Every offering made to a customer, oldest first (for an export).
    async fn offerings_of(&self, subject: &str) -> anyhow::Result<Vec<OfferingRow>>;

    /// The customer's control-group draw, if one was made.
    async fn control_group_of(&self, subject: &str) -> anyhow::Result<Option<bool>>;
}

pub struct SqlCustomizationStore {
    database: Database,
}

impl SqlCustomizationStore {
    pub fn new(database: Database) -> Self {
        SqlCustomizationStore { database }
    }
}

const COMPONENT_COLUMNS: &str = "component_id, slot, name, description, cost_currency, cost_minor, available, price_minor, constraints";

fn strings(value: &Value, key: &str) -> Vec<String> {
    value[key]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn component_from_row(row: &AnyRow) -> Component {
    let constraints: Value = serde_json::from_str(&row.get::<String, _>(8)).unwrap_or(Value::Null);
    let number = |key: &str| constraints[key].as_u64().unwrap_or(0);
    Component {
        id: row.get(0),
        slot: Slot::from_wire(i32::try_from(row.get::<i64, _>(1)).unwrap_or_default()),
        name: row.get(2),
        description: row.get(3),
        cost: Money {
            currency: row.get(4),
            minor: row.get(5),
        },
        available: row.get::<i64, _>(6) != 0,
        price_minor: row.get(7),
        requires: strings(&constraints, "requires"),
        incompatible_with: strings(&constraints, "incompatible_with"),
        eligible_tiers: strings(&constraints, "eligible_tiers"),
        eligible_segments: strings(&constraints, "eligible_segments"),
        eligible_customer_types: strings(&constraints, "eligible_customer_types"),
        min_order_quantity: u32::try_from(number("min_order_quantity")).unwrap_or(u32::MAX),
        max_order_quantity: u32::try_from(number("max_order_quantity")).unwrap_or(u32::MAX),
        answers_preferences: strings(&constraints, "answers_preferences"),
        channel: i32::try_from(constraints["channel"].as_i64().unwrap_or(0)).unwrap_or(0),
        consent_purpose: constraints["consent_purpose"]
            .as_str()
            .unwrap_or("")
            .to_owned(),
    }
}

fn constraints_json(component: &Component) -> String {
    json!({
        "requires": component.requires,
        "incompatible_with": component.incompatible_with,
        "eligible_tiers": component.eligible_tiers,
        "eligible_segments": component.eligible_segments,
        "eligible_customer_types": component.eligible_customer_types,
        "min_order_quantity": component.min_order_quantity,
        "max_order_quantity": component.max_order_quantity,
        "answers_preferences": component.answers_preferences,
        "channel": component.channel,
        "consent_purpose": component.consent_purpose,
    })
    .to_string()
}

fn offering_from_row(row: &AnyRow) -> OfferingRow {
    OfferingRow {
        offering_id: row.get(0),
        subject: row.get(1),
        anchor: row.get(2),
        idempotency_key: row.get(3),
        segment: row.get(4),
        control: row.get::<i64, _>(5) != 0,
        created_at: row.get(6),
        record: row.get(7),
    }
}

const OFFERING_COLUMNS: &str =
    "offering_id, subject, anchor, idempotency_key, segment, control, created_at, record";

fn outcome_from_row(row: &AnyRow) -> OutcomeRow {
    OutcomeRow {
        offering_id: row.get(0),
        slot: Slot::from_wire(i32::try_from(row.get::<i64, _>(1)).unwrap_or_default())
            .unwrap_or(Slot::ProductOption),
        offered: row.get(2),
        outcome: i32::try_from(row.get::<i64, _>(3)).unwrap_or_default(),
        changed_to: row.get(4),
        recorded_at: row.get(5),
    }
}

const OUTCOME_COLUMNS: &str = "offering_id, slot, offered, outcome, changed_to, recorded_at";

fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// Every table that keys rows by subject (a customer id, or an anchor for a
/// reference that matched no customer).
const SUBJECT_TABLES: [&str; 3] = ["offerings", "outcomes", "control_group"];

/// Where customization keeps rows of a subject: offerings and outcomes carry the anchor
/// they were made under and move with a merge; control-group membership is the
/// subject's own (the survivor of a merge keeps its own).
const FOLLOWED: CustomerTables = CustomerTables {
    customer_column: "subject",
    all: &SUBJECT_TABLES,
    merged: &["offerings", "outcomes"],
    anchored: &["offerings", "outcomes"],
};

#[async_trait]
impl CustomizationStore for SqlCustomizationStore {
    async fn components(
        &self,
        slot: Option<i32>,
        after: Option<&str>,
        limit: i64,
    ) -> anyhow::Result<Vec<Component>> {
        // -1 stands for "any slot" and "" for "from the start", keeping one statement.
        let rows = sqlx::query(&format!(
            "SELECT {COMPONENT_COLUMNS} FROM components
             WHERE ($1 = -1 OR slot = $1) AND component_id > $2
             ORDER BY component_id LIMIT $3"
        ))
        .bind(slot.map_or(-1, i64::from))
        .bind(after.unwrap_or(""))
        .bind(limit)
        .fetch_all(&self.database.pool)
        .await?;
        Ok(rows.iter().map(component_from_row).collect())
    }

    async fn all_components(&self) -> anyhow::Result<Vec<Component>> {
        let rows = sqlx::query(&format!(
            "SELECT {COMPONENT_COLUMNS} FROM components ORDER BY component_id"
        ))
        .fetch_all(&self.database.pool)
        .await?;
        Ok(rows.iter().map(component_from_row).collect())
    }

    async fn upsert_components(&self, components: &[Component]) -> anyhow::Result<()> {
        let mut transaction = self.database.pool.begin().await?;
        for component in components {
            sqlx::query(
                "INSERT INTO components (component_id, slot, name, description, cost_currency,
                   cost_minor, available, price_minor, constraints)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 ON CONFLICT (component_id) DO UPDATE SET
                   slot = excluded.slot, name = excluded.name, description = excluded.description,
                   cost_currency = excluded.cost_currency, cost_minor = excluded.cost_minor,
                   available = excluded.available, price_minor = excluded.price_minor,
                   constraints = excluded.constraints",
            )
            .bind(&component.id)
            .bind(i64::from(component.slot().wire()))
            .bind(&component.name)
            .bind(&component.description)
            .bind(&component.cost.currency)
            .bind(component.cost.minor)
            .bind(i64::from(component.available))
            .bind(component.price_minor)
            .bind(constraints_json(component))
            .execute(&mut *transaction)
            .await?;
        }
        transaction.commit().await?;
        Ok(())
    }

    async fn rules(&self, version: Option<u32>) -> anyhow::Result<Option<StoredRules>> {
        let row = sqlx::query(
            "SELECT version, published_at, rules FROM rule_sets
             WHERE ($1 = 0 OR version = $1) ORDER BY version DESC LIMIT 1",
        )
        .bind(i64::from(version.unwrap_or(0)))
        .fetch_optional(&self.database.pool)
        .await?;
        Ok(row.map(|row| StoredRules {
            version: u32::try_from(row.get::<i64, _>(0)).unwrap_or_default(),
            published_at: row.get(1),
            encoded: row.get(2),
        }))
    }

    async fn publish_rules(&self, rules: &StoredRules) -> anyhow::Result<bool> {
        let result =
            sqlx::query("INSERT INTO rule_sets (version, published_at, rules) VALUES ($1, $2, $3)")
                .bind(i64::from(rules.version))
                .bind(rules.published_at)
                .bind(&rules.encoded)
                .execute(&self.database.pool)
                .await;
        match result {
            Ok(_) => Ok(true),
            Err(error) if is_unique_violation(&error) => Ok(false),
            Err(error) => Err(error.into()),
        }
    }

    async fn insert_offering(&self, offering: &OfferingRow) -> anyhow::Result<InsertOffering> {
        let result = sqlx::query(&format!(
            "INSERT INTO offerings ({OFFERING_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        ))
        .bind(&offering.offering_id)
        .bind(&offering.subject)
        .bind(&offering.anchor)
        .bind(offering.idempotency_key.clone())
        .bind(&offering.segment)
        .bind(i64::from(offering.control))
        .bind(offering.created_at)
        .bind(&offering.record)
        .execute(&self.database.pool)
        .await;
        match result {
            Ok(_) => Ok(InsertOffering::Stored),
            Err(error) if is_unique_violation(&error) => {
                let key = offering.idempotency_key.clone().unwrap_or_default();
                let row = sqlx::query(&format!(
                    "SELECT {OFFERING_COLUMNS} FROM offerings WHERE idempotency_key = $1"
                ))
                .bind(key)
                .fetch_optional(&self.database.pool)
                .await?;
                match row {
                    Some(row) => Ok(InsertOffering::Existing(Box::new(offering_from_row(&row)))),
                    None => Err(error.into()),
                }
            }
            Err(error) => Err(error.into()),
        }
    }

    async fn offering(&self, offering_id: &str) -> anyhow::Result<Option<OfferingRow>> {
        let row = sqlx::query(&format!(
            "SELECT {OFFERING_COLUMNS} FROM offerings WHERE offering_id = $1"
        ))
        .bind(offering_id)
        .fetch_optional(&self.database.pool)
        .await?;
        Ok(row.as_ref().map(offering_from_row))
    }

    async fn outcomes(&self, offering_id: &str) -> anyhow::Result<Vec<OutcomeRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {OUTCOME_COLUMNS} FROM outcomes WHERE offering_id = $1 ORDER BY slot"
        ))
        .bind(offering_id)
        .fetch_all(&self.database.pool)
        .await?;
        Ok(rows.iter().map(outcome_from_row).collect())
    }

    async fn insert_outcomes(
        &self,
        offering: &OfferingRow,
        outcomes: &[OutcomeRow],
    ) -> anyhow::Result<Vec<OutcomeRow>> {
        let mut transaction = self.database.pool.begin().await?;
        let mut inserted = Vec::new();
        for outcome in outcomes {
            let result = sqlx::query(
                "INSERT INTO outcomes (offering_id, slot, subject, anchor, offered, outcome,
                   changed_to, control, recorded_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 ON CONFLICT (offering_id, slot) DO NOTHING",
            )
            .bind(&offering.offering_id)
            .bind(i64::from(outcome.slot.wire()))
            .bind(&offering.subject)
            .bind(&offering.anchor)
            .bind(&outcome.offered)
            .bind(i64::from(outcome.outcome))
            .bind(&outcome.changed_to)
            .bind(i64::from(offering.control))
            .bind(outcome.recorded_at)
            .execute(&mut *transaction)
            .await?;
            if result.rows_affected() == 1 {
                inserted.push(outcome.clone());
            }
        }
        transaction.commit().await?;
        Ok(inserted)
    }

    async fn history(&self, subject: &str) -> anyhow::Result<Vec<OutcomeRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {OUTCOME_COLUMNS} FROM outcomes WHERE subject = $1
             ORDER BY recorded_at, offering_id, slot"
        ))
        .bind(subject)
        .fetch_all(&self.database.pool)
        .await?;
        Ok(rows.iter().map(outcome_from_row).collect())
    }

    async fn control_group(
        &self,
        subject: &str,
        anchor: &str,
        proposed: bool,
        now: i64,
    ) -> anyhow::Result<bool> {
        sqlx::query(
            "INSERT INTO control_group (subject, anchor, in_control, assigned_at)
             VALUES ($1, $2, $3, $4) ON CONFLICT (subject) DO NOTHING",
        )
        .bind(subject)
        .bind(anchor)
        .bind(i64::from(proposed))
        .bind(now)
        .execute(&self.database.pool)
        .await?;
        let row = sqlx::query("SELECT in_control FROM control_group WHERE subject = $1")
            .bind(subject)
            .fetch_one(&self.database.pool)
            .await?;
        Ok(row.get::<i64, _>(0) != 0)
    }

    async fn add_to_arms(
        &self,
        updates: &[(String, Slot, String, ArmStats)],
    ) -> anyhow::Result<()> {
        let mut transaction = self.database.pool.begin().await?;
        for (segment, slot, component_id, stats) in updates {
            sqlx::query(
                "INSERT INTO arms (segment, slot, component_id, accepted, rejected)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (segment, slot, component_id) DO UPDATE SET
                   accepted = arms.accepted + excluded.accepted,
                   rejected = arms.rejected + excluded.rejected",
            )
            .bind(segment)
            .bind(i64::from(slot.wire()))
            .bind(component_id)
            .bind(i64::try_from(stats.accepted).unwrap_or(i64::MAX))
            .bind(i64::try_from(stats.rejected).unwrap_or(i64::MAX))
            .execute(&mut *transaction)
            .await?;
        }
        transaction.commit().await?;
        Ok(())
    }

    async fn arms(&self) -> anyhow::Result<Vec<(String, Slot, String, ArmStats)>> {
        let rows = sqlx::query("SELECT segment, slot, component_id, accepted, rejected FROM arms")
            .fetch_all(&self.database.pool)
            .await?;
        Ok(rows
            .iter()
            .filter_map(|row| {
                let slot = Slot::from_wire(i32::try_from(row.get::<i64, _>(1)).ok()?)?;
                Some((
                    row.get(0),
                    slot,
                    row.get(2),
                    ArmStats {
                        accepted: u64::try_from(row.get::<i64, _>(3)).unwrap_or(0),
                        rejected: u64::try_from(row.get::<i64, _>(4)).unwrap_or(0),
                    },
                ))
            })
            .collect())
    }

    async fn outcome_counts(&self) -> anyhow::Result<OutcomeCounts> {
        let rows = sqlx::query(
            "SELECT control, CAST(COUNT(*) AS BIGINT),
                    CAST(SUM(CASE WHEN outcome = 1 THEN 1 ELSE 0 END) AS BIGINT)
             FROM outcomes GROUP BY control",
        )
        .fetch_all(&self.database.pool)
        .await?;
        let mut counts = OutcomeCounts::default();
        for row in rows {
            let total = u64::try_from(row.get::<i64, _>(1)).unwrap_or(0);
            let accepted = u64::try_from(row.get::<Option<i64>, _>(2).unwrap_or(0)).unwrap_or(0);
            if row.get::<i64, _>(0) != 0 {
                counts.control_total = total;
                counts.control_accepted = accepted;
            } else {
                counts.learner_total = total;
                counts.learner_accepted = accepted;
            }
        }
        Ok(counts)
    }

    async fn outcome_counts_by_period(
        &self,
        period_micros: i64,
    ) -> anyhow::Result<Vec<(i64, OutcomeCounts)>> {
        anyhow::ensure!(period_micros > 0, "a period must be positive");
        let rows = sqlx::query(
            "SELECT CAST(recorded_at / $1 AS BIGINT) AS period, control,
                    CAST(COUNT(*) AS BIGINT),
                    CAST(SUM(CASE WHEN outcome = 1 THEN 1 ELSE 0 END) AS BIGINT)
             FROM outcomes GROUP BY period, control ORDER BY period",
        )
        .bind(period_micros)
        .fetch_all(&self.database.pool)
        .await?;
        let mut periods: Vec<(i64, OutcomeCounts)> = Vec::new();
        for row in rows {
            let start = row.get::<i64, _>(0) * period_micros;
            if periods.last().is_none_or(|(last, _)| *last != start) {
                periods.push((start, OutcomeCounts::default()));
            }
            let Some((_, counts)) = periods.last_mut() else {
                continue;
            };
            let total = u64::try_from(row.get::<i64, _>(2)).unwrap_or(0);
            let accepted = u64::try_from(row.get::<Option<i64>, _>(3).unwrap_or(0)).unwrap_or(0);
            if row.get::<i64, _>(1) != 0 {
                counts.control_total = total;
                counts.control_accepted = accepted;
            } else {
                counts.learner_total = total;
                counts.learner_accepted = accepted;
            }
        }
        Ok(periods)
    }

    async fn subjects_with_data(
        &self,
        subjects: &[&str],
    ) -> anyhow::Result<std::collections::HashSet<String>> {
        FOLLOWED.holding(&self.database, subjects).await
    }

    async fn merge_subjects(&self, survivor: &str, absorbed: &[String]) -> anyhow::Result<()> {
        let mut transaction = self.database.pool.begin().await?;
        FOLLOWED.merge(&mut transaction, survivor, absorbed).await?;
        for old in absorbed {
            // The survivor keeps its own control-group membership.
            sqlx::query("DELETE FROM control_group WHERE subject = $1")
                .bind(old)
                .execute(&mut *transaction)
                .await?;
        }
        transaction.commit().await?;
        Ok(())
    }

    async fn anchors(&self, subject: &str) -> anyhow::Result<Vec<String>> {
        let mut connection = self.database.pool.acquire().await?;
        FOLLOWED.anchors(&mut connection, subject).await
    }

    async fn move_anchor(&self, from: &str, anchor: &str, to: &str) -> anyhow::Result<()> {
        let mut transaction = self.database.pool.begin().await?;
        FOLLOWED
            .move_anchor(&mut transaction, from, anchor, to)
            .await?;
        transaction.commit().await?;
        Ok(())
    }

    async fn offerings_of(&self, subject: &str) -> anyhow::Result<Vec<OfferingRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {OFFERING_COLUMNS} FROM offerings WHERE subject = $1
             ORDER BY created_at, offering_id"
        ))
        .bind(subject)
        .fetch_all(&self.database.pool)
        .await?;
        Ok(rows.iter().map(offering_from_row).collect())
    }

    async fn control_group_of(&self, subject: &str) -> anyhow::Result<Option<bool>> {
        let row = sqlx::query("SELECT in_control FROM control_group WHERE subject = $1")
            .bind(subject)
            .fetch_optional(&self.database.pool)
            .await?;
        Ok(row.map(|row| row.get::<i64, _>(0) != 0))
    }

    async fn erase_subject(&self, subject: &str) -> anyhow::Result<()> {
        let mut transaction = self.database.pool.begin().await?;
        FOLLOWED.erase(&mut transaction, subject).await?;
        transaction.commit().await?;
        self.database.purge_deleted(&SUBJECT_TABLES).await
    }
}
