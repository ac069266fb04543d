//! Differentiation's storage: a trait the domain uses, and its SQL implementation for
//! PostgreSQL and SQLite.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::TryStreamExt as _;
use idic_runtime::anchored::CustomerTables;
use idic_runtime::storage::{
    Database, Migrations, combine_split_sum, row_placeholders, split_sum_sql,
};
use idic_value::skew::Tier;
use idic_value::{BgNbd, CustomerSummary, GammaGamma, TimeUnit};
use sqlx::any::AnyArguments;
use sqlx::{Any, Arguments, Row};

use crate::base_cache::Cached;
use crate::domain::{
    Amount, BaseSnapshot, CustomerFilter, CustomerScores, CustomerValue, MICROS_PER_DAY, OrderLine,
    Preference, Segment, StoredModel, Transaction, TransactionKind,
};
use crate::summaries;

/// The schema, in SQL both engines accept (see `idic_runtime::storage`).
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

pub static MIGRATIONS: Migrations = Migrations {
    postgres: &MIGRATOR,
    sqlite: &MIGRATOR,
};

/// Rows per multi-row INSERT (17 columns stay well under both engines' limits).
const ROWS_PER_STATEMENT: usize = 400;

pub use crate::summaries::PurchaseDays;

#[async_trait]
pub trait DifferentiationStore: Send + Sync + 'static {
    /// Historical value of `customer_id`; zero when it has no transactions.
    async fn customer_value(&self, customer_id: &str) -> anyhow::Result<CustomerValue>;

    /// Stores a transaction and its lines; one already stored under the same order id
    /// and kind is left as it is (a retried write changes nothing). True when new.
    async fn insert_transaction(&self, transaction: &Transaction) -> anyhow::Result<bool>;

    /// Stores many transactions at once (seeding, benchmarks); rows already stored
    /// are left as they are. Returns how many were new.
    async fn insert_transactions_bulk(&self, transactions: &[Transaction]) -> anyhow::Result<u64>;

    /// The purchase currency used most often (None without purchases).
    async fn most_common_currency(&self) -> anyhow::Result<Option<String>>;

    /// Per customer (sorted by id), its purchases in `currency` up to `end_micros`
    /// inclusive grouped by day (what the models need, without keeping every purchase
    /// in memory). From the kept summaries when no stored purchase is later than
    /// `end_micros`, else from the purchases themselves.
    async fn purchase_days_until(
        &self,
        currency: &str,
        end_micros: i64,
    ) -> anyhow::Result<Vec<PurchaseDays>>;

    /// Spend per (customer, category) from purchase lines up to `end_micros`.
    async fn category_spend_until(
        &self,
        end_micros: i64,
    ) -> anyhow::Result<Vec<(String, String, i64)>>;

    /// One customer's spend per category over all its purchase lines.
    async fn customer_category_spend(
        &self,
        customer_id: &str,
    ) -> anyhow::Result<Vec<(String, i64)>>;

    /// Times and commitment months of one customer's purchases, oldest first.
    async fn customer_purchases(&self, customer_id: &str) -> anyhow::Result<Vec<(i64, u32)>>;

    async fn save_model(&self, model: &StoredModel) -> anyhow::Result<()>;
    async fn latest_model(&self) -> anyhow::Result<Option<StoredModel>>;

    /// Replaces the per-customer scores, segments and adds the base snapshot, at once.
    async fn replace_scores(
        &self,
        scores: &[CustomerScores],
        segments: &[Segment],
        category_shares: &[(String, f64)],
        snapshot: &BaseSnapshot,
    ) -> anyhow::Result<()>;
    /// The base's share of spend per category at the last refit.
    async fn category_shares(&self) -> anyhow::Result<Vec<(String, f64)>>;
    async fn customer_scores(&self, customer_id: &str) -> anyhow::Result<Option<CustomerScores>>;
    /// Scores sorted by predicted value, highest first, after the cursor
    /// (clv, customer_id) of the previous page.
    async fn list_scores(
        &self,
        filter: &CustomerFilter,
        after: Option<(f64, String)>,
        limit: i64,
    ) -> anyhow::Result<Vec<CustomerScores>>;
    async fn segment(&self, segment_id: &str) -> anyhow::Result<Option<Segment>>;
    async fn latest_snapshot(&self) -> anyhow::Result<Option<BaseSnapshot>>;
    /// Net revenue per customer in `currency` (for skew before any refit).
    async fn net_revenue_by_customer(&self, currency: &str) -> anyhow::Result<Vec<f64>>;

    /// Stores a preference; the same (interaction, key) again changes nothing.
    async fn insert_preference(&self, preference: &Preference) -> anyhow::Result<()>;
    async fn preferences(&self, customer_id: &str) -> anyhow::Result<Vec<Preference>>;

    /// One customer's purchases in `currency` up to `end_micros` grouped by day; None
    /// without any.
    async fn customer_purchase_days(
        &self,
        customer_id: &str,
        currency: &str,
        end_micros: i64,
    ) -> anyhow::Result<Option<PurchaseDays>>;
    /// Where `probe`'s figures rank among the scores of every other customer.
    async fn base_ranks(&self, customer_id: &str, probe: &RankProbe) -> anyhow::Result<BaseRanks>;
    /// Stores one customer's scores in place of its previous ones.
    async fn put_scores(&self, scores: &CustomerScores) -> anyhow::Result<()>;
    async fn delete_scores(&self, customer_id: &str) -> anyhow::Result<()>;

    /// Merge: everything of `absorbed` now belongs to `survivor`.
    async fn reassign_customers(&self, absorbed: &[String], survivor: &str) -> anyhow::Result<()>;
    /// Which of `customer_ids` have transactions, preferences or scores here.
    async fn customers_with_data(
        &self,
        customer_ids: &[&str],
    ) -> anyhow::Result<std::collections::HashSet<String>>;
    /// The distinct anchors of `customer_id`'s transactions and expressed preferences.
    async fn anchors(&self, customer_id: &str) -> anyhow::Result<Vec<String>>;
    /// Split: moves `customer_id`'s transactions and preferences with `anchor` to
    /// `target`.
    async fn move_anchor(
        &self,
        customer_id: &str,
        anchor: &str,
        target: &str,
    ) -> anyhow::Result<u64>;
    /// Erase: deletes the customer's transactions, lines, preferences and scores.
    async fn erase_customer(&self, customer_id: &str) -> anyhow::Result<()>;
    /// Every transaction of the customer with its lines, oldest first (for an export).
    async fn customer_transactions(&self, customer_id: &str) -> anyhow::Result<Vec<Transaction>>;
}

/// A customer's figures to rank among the scored base.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RankProbe {
    pub clv: f64,
    pub frequency: u32,
    /// Spend up to the observation end (RFM's monetary).
    pub total: f64,
    /// Time since the last purchase (RFM's recency), in the model's unit.
    pub since_last: f64,
}

/// How many other scored customers there are, and how many of them rank below a
/// [`RankProbe`] on each figure (for recency: how many bought longer ago).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BaseRanks {
    pub others: u64,
    pub clv_below: u64,
    pub frequency_below: u64,
    pub total_below: u64,
    pub bought_longer_ago: u64,
}

/// How long the base-wide figures of the last refit are served from memory before
/// they are read again (a refit in this process replaces them at once).
pub const BASE_FIGURES_TTL: Duration = Duration::from_secs(5);

/// The base-wide figures of the last refit that per-customer calls need.
struct BaseFigures {
    model: Option<StoredModel>,
    category_shares: Vec<(String, f64)>,
    segments: HashMap<String, Segment>,
}

pub struct SqlDifferentiationStore {
    database: Database,
    base: Cached<BaseFigures>,
}

impl SqlDifferentiationStore {
    pub fn new(database: Database) -> Self {
        SqlDifferentiationStore {
            database,
            base: Cached::new(BASE_FIGURES_TTL),
        }
    }

    /// What a refit reads when no stored purchase is later than its observation end:
    /// the kept per-customer summaries of `currency`, sorted by customer id.
    pub async fn purchase_days_from_summaries(
        &self,
        currency: &str,
    ) -> anyhow::Result<Vec<PurchaseDays>> {
        let mut connection = self.database.pool.acquire().await?;
        summaries::read_all(&mut connection, self.database.backend, currency).await
    }

    /// What a refit reads otherwise: the purchases of `currency` up to `end_micros`,
    /// folded per customer and day.
    pub async fn purchase_days_from_purchases(
        &self,
        currency: &str,
        end_micros: i64,
    ) -> anyhow::Result<Vec<PurchaseDays>> {
        let mut connection = self.database.pool.acquire().await?;
        fold_purchase_days(&mut connection, currency, end_micros).await
    }

    /// The base-wide figures, from memory while fresh.
    async fn base(&self) -> anyhow::Result<Arc<BaseFigures>> {
        let generation = match self.base.get() {
            Ok(figures) => return Ok(figures),
            Err(generation) => generation,
        };
        let (model, category_shares, segments) = tokio::try_join!(
            self.read_latest_model(),
            self.read_category_shares(),
            self.read_segments()
        )?;
        let figures = Arc::new(BaseFigures {
            model,
            category_shares,
            segments: segments
                .into_iter()
                .map(|segment| (segment.segment_id.clone(), segment))
                .collect(),
        });
        self.base.put(generation, figures.clone());
        Ok(figures)
    }

    async fn read_category_shares(&self) -> anyhow::Result<Vec<(String, f64)>> {
        let rows = sqlx::query("SELECT category, share FROM category_shares ORDER BY category")
            .fetch_all(&self.database.pool)
            .await?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    async fn read_latest_model(&self) -> anyhow::Result<Option<StoredModel>> {
        let row = sqlx::query(
            "SELECT model_id, fitted_at, observation_end, time_unit, currency, customers, bg_r,
               bg_alpha, bg_a, bg_b, bg_log_likelihood, gg_p, gg_q, gg_gamma, gg_log_likelihood,
               gg_customers, fit_millis
             FROM value_models ORDER BY fitted_at DESC, model_id DESC LIMIT 1",
        )
        .fetch_optional(&self.database.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let unit: String = row.try_get(3)?;
        Ok(Some(StoredModel {
            model_id: row.try_get(0)?,
            fitted_at_micros: row.try_get(1)?,
            observation_end_micros: row.try_get(2)?,
            time_unit: TimeUnit::parse(&unit).unwrap_or(TimeUnit::Week),
            currency: row.try_get(4)?,
            customers: u64::try_from(row.try_get::<i64, _>(5)?)?,
            bg_nbd: BgNbd {
                r: row.try_get(6)?,
                alpha: row.try_get(7)?,
                a: row.try_get(8)?,
                b: row.try_get(9)?,
            },
            bg_log_likelihood: row.try_get(10)?,
            gamma_gamma: GammaGamma {
                p: row.try_get(11)?,
                q: row.try_get(12)?,
                gamma: row.try_get(13)?,
            },
            gg_log_likelihood: row.try_get(14)?,
            gg_customers: u64::try_from(row.try_get::<i64, _>(15)?)?,
            fit_millis: row.try_get(16)?,
        }))
    }

    async fn read_segments(&self) -> anyhow::Result<Vec<Segment>> {
        let rows = sqlx::query("SELECT segment_id, label, customers FROM needs_segments")
            .fetch_all(&self.database.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|row| Segment {
                segment_id: row.get(0),
                label: row.get(1),
                customers: u64::try_from(row.get::<i64, _>(2)).unwrap_or(0),
            })
            .collect())
    }
}

fn add<'q, T>(arguments: &mut AnyArguments<'q>, value: T) -> anyhow::Result<()>
where
    T: 'q + sqlx::Encode<'q, Any> + sqlx::Type<Any>,
{
    arguments
        .add(value)
        .map_err(|error| anyhow::anyhow!("binding an argument: {error}"))
}

/// Binds one row of [`SCORE_COLUMNS`].
fn add_score_row(arguments: &mut AnyArguments<'_>, score: &CustomerScores) -> anyhow::Result<()> {
    add(arguments, score.customer_id.clone())?;
    add(arguments, i64::from(score.summary.frequency))?;
    add(arguments, score.summary.recency)?;
    add(arguments, score.summary.age)?;
    add(arguments, score.summary.monetary)?;
    add(arguments, score.expected_purchases)?;
    add(arguments, score.probability_alive)?;
    add(arguments, score.expected_spend)?;
    add(arguments, score.clv)?;
    add(arguments, score.historical)?;
    add(arguments, score.rank_percentile)?;
    add(arguments, score.tier.as_str().to_owned())?;
    add(arguments, i32::from(score.rfm[0]))?;
    add(arguments, i32::from(score.rfm[1]))?;
    add(arguments, i32::from(score.rfm[2]))?;
    add(arguments, score.segment_id.clone())
}

fn scores_from_row(row: &sqlx::any::AnyRow) -> anyhow::Result<CustomerScores> {
    let tier: String = row.try_get("tier")?;
    Ok(CustomerScores {
        customer_id: row.try_get("customer_id")?,
        summary: CustomerSummary {
            frequency: u32::try_from(row.try_get::<i64, _>("frequency")?).unwrap_or(u32::MAX),
            recency: row.try_get("recency")?,
            age: row.try_get("age")?,
            monetary: row.try_get("monetary")?,
            total: row.try_get("historical")?,
        },
        expected_purchases: row.try_get("expected_purchases")?,
        probability_alive: row.try_get("probability_alive")?,
        expected_spend: row.try_get("expected_spend")?,
        clv: row.try_get("clv")?,
        historical: row.try_get("historical")?,
        rank_percentile: row.try_get("rank_percentile")?,
        tier: Tier::parse(&tier).unwrap_or(Tier::D),
        rfm: [
            u8::try_from(row.try_get::<i32, _>("rfm_r")?).unwrap_or(0),
            u8::try_from(row.try_get::<i32, _>("rfm_f")?).unwrap_or(0),
            u8::try_from(row.try_get::<i32, _>("rfm_m")?).unwrap_or(0),
        ],
        segment_id: row.try_get("segment_id")?,
    })
}

const SCORE_COLUMNS: &str = "customer_id, frequency, recency, age, monetary, expected_purchases,
    probability_alive, expected_spend, clv, historical, rank_percentile, tier, rfm_r, rfm_f,
    rfm_m, segment_id";

/// Every table that keys rows by customer (order lines hang off their transaction).
const CUSTOMER_TABLES: &[&str] = &[
    "transactions",
    "preferences",
    "customer_scores",
    "purchase_summaries",
];

/// Where differentiation keeps rows of a customer: transactions and preferences carry
/// the anchor they were recorded under and move with a merge; scores and summaries are
/// derived per customer (dropped or refreshed, never moved).
const FOLLOWED: CustomerTables = CustomerTables {
    customer_column: "customer_id",
    all: CUSTOMER_TABLES,
    merged: &["transactions", "preferences"],
    anchored: &["transactions", "preferences"],
};

#[async_trait]
impl DifferentiationStore for SqlDifferentiationStore {
    async fn customer_value(&self, customer_id: &str) -> anyhow::Result<CustomerValue> {
        // SUM of BIGINT is NUMERIC in PostgreSQL: cast back so both engines agree. Money
        // is summed in split form so that no stored amounts can make the read fail.
        let sql = format!(
            "SELECT currency, {amount}, {margin},
                    CAST(SUM(CASE WHEN kind = 'purchase' THEN 1 ELSE 0 END) AS BIGINT),
                    MIN(CASE WHEN kind = 'purchase' THEN occurred_at END),
                    MAX(CASE WHEN kind = 'purchase' THEN occurred_at END)
             FROM transactions WHERE customer_id = $1
             GROUP BY currency ORDER BY currency",
            amount = split_sum_sql("amount_minor"),
            margin = split_sum_sql("margin_minor"),
        );
        let rows = sqlx::query(&sql)
            .bind(customer_id)
            .fetch_all(&self.database.pool)
            .await?;
        let mut value = CustomerValue {
            customer_id: customer_id.to_owned(),
            ..CustomerValue::default()
        };
        for row in rows {
            let currency: String = row.get(0);
            value.revenue.push(Amount {
                currency: currency.clone(),
                minor_units: combine_split_sum(row.get(1), row.get(2)).unwrap_or_default(),
            });
            if let Some(margin) = combine_split_sum(row.get(3), row.get(4)) {
                value.margin.push(Amount {
                    currency,
                    minor_units: margin,
                });
            }
            value.order_count += u64::try_from(row.get::<i64, _>(5)).unwrap_or_default();
            let first: Option<i64> = row.get(6);
            let last: Option<i64> = row.get(7);
            value.first_purchase_micros = min_some(value.first_purchase_micros, first);
            value.last_purchase_micros = value.last_purchase_micros.max(last);
        }
        Ok(value)
    }

    async fn insert_transaction(&self, transaction: &Transaction) -> anyhow::Result<bool> {
        let mut tx = self.database.pool.begin().await?;
        let result = sqlx::query(
            "INSERT INTO transactions
               (order_id, kind, customer_id, occurred_at, currency, amount_minor, margin_minor,
                anchor, channel, commitment_months)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (order_id, kind) DO NOTHING",
        )
        .bind(&transaction.order_id)
        .bind(transaction.kind.as_str())
        .bind(&transaction.customer_id)
        .bind(transaction.occurred_at_micros)
        .bind(&transaction.amount.currency)
        .bind(transaction.amount.minor_units)
        .bind(transaction.margin_minor)
        .bind(&transaction.anchor)
        .bind(transaction.channel)
        .bind(i64::from(transaction.commitment_months))
        .execute(&mut *tx)
        .await?;
        if result.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        for (line_no, line) in transaction.lines.iter().enumerate() {
            sqlx::query(
                "INSERT INTO transaction_lines
                   (order_id, kind, line_no, product, category, quantity, amount_minor)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&transaction.order_id)
            .bind(transaction.kind.as_str())
            .bind(i64::try_from(line_no)?)
            .bind(&line.product)
            .bind(&line.category)
            .bind(i64::from(line.quantity))
            .bind(line.amount_minor)
            .execute(&mut *tx)
            .await?;
        }
        summaries::add_purchase(&mut tx, transaction).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn insert_transactions_bulk(&self, transactions: &[Transaction]) -> anyhow::Result<u64> {
        let backend = self.database.backend;
        let mut tx = self.database.pool.begin().await?;
        let mut created = 0;
        for chunk in transactions.chunks(ROWS_PER_STATEMENT) {
            let mut arguments = AnyArguments::default();
            for transaction in chunk {
                add(&mut arguments, transaction.order_id.clone())?;
                add(&mut arguments, transaction.kind.as_str().to_owned())?;
                add(&mut arguments, transaction.customer_id.clone())?;
                add(&mut arguments, transaction.occurred_at_micros)?;
                add(&mut arguments, transaction.amount.currency.clone())?;
                add(&mut arguments, transaction.amount.minor_units)?;
                add(&mut arguments, transaction.margin_minor)?;
                add(&mut arguments, transaction.anchor.clone())?;
                add(&mut arguments, transaction.channel)?;
                add(&mut arguments, i64::from(transaction.commitment_months))?;
            }
            let sql = format!(
                "INSERT INTO transactions (order_id, kind, customer_id, occurred_at, currency,
                   amount_minor, margin_minor, anchor, channel, commitment_months)
                 VALUES {} ON CONFLICT (order_id, kind) DO NOTHING",
                row_placeholders(backend, chunk.len(), 10)
            );
            created += sqlx::query_with(&sql, arguments)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        let lines: Vec<(&Transaction, usize, &crate::domain::OrderLine)> = transactions
            .iter()
            .flat_map(|t| {
                t.lines
                    .iter()
                    .enumerate()
                    .map(move |(n, line)| (t, n, line))
            })
            .collect();
        for chunk in lines.chunks(ROWS_PER_STATEMENT) {
            let mut arguments = AnyArguments::default();
            for (transaction, line_no, line) in chunk {
                add(&mut arguments, transaction.order_id.clone())?;
                add(&mut arguments, transaction.kind.as_str().to_owned())?;
                add(&mut arguments, i64::try_from(*line_no)?)?;
                add(&mut arguments, line.product.clone())?;
                add(&mut arguments, line.category.clone())?;
                add(&mut arguments, i64::from(line.quantity))?;
                add(&mut arguments, line.amount_minor)?;
            }
            let sql = format!(
                "INSERT INTO transaction_lines
                   (order_id, kind, line_no, product, category, quantity, amount_minor)
                 VALUES {} ON CONFLICT (order_id, kind, line_no) DO NOTHING",
                row_placeholders(backend, chunk.len(), 7)
            );
            sqlx::query_with(&sql, arguments).execute(&mut *tx).await?;
        }
        let customers: Vec<String> = transactions.iter().map(|t| t.customer_id.clone()).collect();
        summaries::refresh(&mut tx, &customers).await?;
        tx.commit().await?;
        Ok(created)
    }

    async fn most_common_currency(&self) -> anyhow::Result<Option<String>> {
        let row = sqlx::query(
            "SELECT currency FROM transactions WHERE kind = 'purchase'
             GROUP BY currency ORDER BY COUNT(*) DESC, currency LIMIT 1",
        )
        .fetch_optional(&self.database.pool)
        .await?;
        Ok(row.map(|row| row.get(0)))
    }

    async fn purchase_days_until(
        &self,
        currency: &str,
        end_micros: i64,
    ) -> anyhow::Result<Vec<PurchaseDays>> {
        let mut tx = self.database.pool.begin().await?;
        summaries::read_one_snapshot(&mut tx, self.database.backend).await?;
        let newest = summaries::newest_purchase(&mut tx).await?;
        let days = if newest.is_none_or(|newest| newest <= end_micros) {
            summaries::read_all(&mut tx, self.database.backend, currency).await?
        } else {
            fold_purchase_days(&mut tx, currency, end_micros).await?
        };
        tx.commit().await?;
        Ok(days)
    }

    async fn category_spend_until(
        &self,
        end_micros: i64,
    ) -> anyhow::Result<Vec<(String, String, i64)>> {
        let sql = format!(
            "SELECT t.customer_id, l.category, {spend}
             FROM transaction_lines l
             JOIN transactions t ON t.order_id = l.order_id AND t.kind = l.kind
             WHERE t.kind = 'purchase' AND t.occurred_at <= $1 AND l.category <> ''
             GROUP BY t.customer_id, l.category ORDER BY t.customer_id, l.category",
            spend = split_sum_sql("l.amount_minor"),
        );
        let rows = sqlx::query(&sql)
            .bind(end_micros)
            .fetch_all(&self.database.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|row| {
                let spend = combine_split_sum(row.get(2), row.get(3)).unwrap_or_default();
                (row.get(0), row.get(1), spend)
            })
            .collect())
    }

    async fn customer_category_spend(
        &self,
        customer_id: &str,
    ) -> anyhow::Result<Vec<(String, i64)>> {
        let sql = format!(
            "SELECT l.category, {spend}
             FROM transaction_lines l
             JOIN transactions t ON t.order_id = l.order_id AND t.kind = l.kind
             WHERE t.customer_id = $1 AND t.kind = 'purchase' AND l.category <> ''
             GROUP BY l.category ORDER BY l.category",
            spend = split_sum_sql("l.amount_minor"),
        );
        let rows = sqlx::query(&sql)
            .bind(customer_id)
            .fetch_all(&self.database.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|row| {
                let spend = combine_split_sum(row.get(1), row.get(2)).unwrap_or_default();
                (row.get(0), spend)
            })
            .collect())
    }

    async fn customer_purchases(&self, customer_id: &str) -> anyhow::Result<Vec<(i64, u32)>> {
        let rows = sqlx::query(
            "SELECT occurred_at, commitment_months FROM transactions
             WHERE customer_id = $1 AND kind = 'purchase' ORDER BY occurred_at",
        )
        .bind(customer_id)
        .fetch_all(&self.database.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|row| {
                let months: i64 = row.get(1);
                (row.get(0), u32::try_from(months).unwrap_or(0))
            })
            .collect())
    }

    async fn save_model(&self, model: &StoredModel) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO value_models (model_id, fitted_at, observation_end, time_unit, currency,
               customers, bg_r, bg_alpha, bg_a, bg_b, bg_log_likelihood, gg_p, gg_q, gg_gamma,
               gg_log_likelihood, gg_customers, fit_millis)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
        )
        .bind(&model.model_id)
        .bind(model.fitted_at_micros)
        .bind(model.observation_end_micros)
        .bind(model.time_unit.as_str())
        .bind(&model.currency)
        .bind(i64::try_from(model.customers)?)
        .bind(model.bg_nbd.r)
        .bind(model.bg_nbd.alpha)
        .bind(model.bg_nbd.a)
        .bind(model.bg_nbd.b)
        .bind(model.bg_log_likelihood)
        .bind(model.gamma_gamma.p)
        .bind(model.gamma_gamma.q)
        .bind(model.gamma_gamma.gamma)
        .bind(model.gg_log_likelihood)
        .bind(i64::try_from(model.gg_customers)?)
        .bind(model.fit_millis)
        .execute(&self.database.pool)
        .await?;
        self.base.invalidate();
        Ok(())
    }

    async fn latest_model(&self) -> anyhow::Result<Option<StoredModel>> {
        Ok(self.base().await?.model.clone())
    }

    async fn replace_scores(
        &self,
        scores: &[CustomerScores],
        segments: &[Segment],
        category_shares: &[(String, f64)],
        snapshot: &BaseSnapshot,
    ) -> anyhow::Result<()> {
        let backend = self.database.backend;
        let mut tx = self.database.pool.begin().await?;
        sqlx::query("DELETE FROM customer_scores")
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM needs_segments")
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM category_shares")
            .execute(&mut *tx)
            .await?;
        for (category, share) in category_shares {
            sqlx::query("INSERT INTO category_shares (category, share) VALUES ($1, $2)")
                .bind(category)
                .bind(*share)
                .execute(&mut *tx)
                .await?;
        }
        for chunk in scores.chunks(ROWS_PER_STATEMENT) {
            let mut arguments = AnyArguments::default();
            for score in chunk {
                add_score_row(&mut arguments, score)?;
            }
            let sql = format!(
                "INSERT INTO customer_scores ({SCORE_COLUMNS}) VALUES {}",
                row_placeholders(backend, chunk.len(), 16)
            );
            sqlx::query_with(&sql, arguments).execute(&mut *tx).await?;
        }
        for segment in segments {
            sqlx::query(
                "INSERT INTO needs_segments (segment_id, label, customers) VALUES ($1, $2, $3)",
            )
            .bind(&segment.segment_id)
            .bind(&segment.label)
            .bind(i64::try_from(segment.customers)?)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "INSERT INTO base_snapshots (computed_at, skew_json, needs_differentiation, needs_segments)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (computed_at) DO UPDATE SET skew_json = excluded.skew_json,
               needs_differentiation = excluded.needs_differentiation,
               needs_segments = excluded.needs_segments",
        )
        .bind(snapshot.computed_at_micros)
        .bind(serde_json::to_string(&snapshot.skew)?)
        .bind(snapshot.needs_differentiation)
        .bind(i64::from(snapshot.needs_segments))
        .execute(&mut *tx)
        .await?;
        // Only the newest snapshot is served; keep a short history for comparison.
        sqlx::query(
            "DELETE FROM base_snapshots WHERE computed_at NOT IN
               (SELECT computed_at FROM base_snapshots ORDER BY computed_at DESC LIMIT 10)",
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.base.invalidate();
        Ok(())
    }

    async fn category_shares(&self) -> anyhow::Result<Vec<(String, f64)>> {
        Ok(self.base().await?.category_shares.clone())
    }

    async fn customer_scores(&self, customer_id: &str) -> anyhow::Result<Option<CustomerScores>> {
        let row = sqlx::query(&format!(
            "SELECT {SCORE_COLUMNS} FROM customer_scores WHERE customer_id = $1"
        ))
        .bind(customer_id)
        .fetch_optional(&self.database.pool)
        .await?;
        row.as_ref().map(scores_from_row).transpose()
    }

    async fn list_scores(
        &self,
        filter: &CustomerFilter,
        after: Option<(f64, String)>,
        limit: i64,
    ) -> anyhow::Result<Vec<CustomerScores>> {
        let (filter_sql, filter_value) = match filter {
            CustomerFilter::All => ("1 = 1", None),
            CustomerFilter::Tier(tier) => ("tier = $1", Some(tier.as_str().to_owned())),
            CustomerFilter::Segment(segment) => ("segment_id = $1", Some(segment.clone())),
        };
        // Placeholders are numbered after the filter's.
        let offset = usize::from(filter_value.is_some());
        let cursor_sql = if after.is_some() {
            format!(
                "AND (clv < ${a} OR (clv = ${a} AND customer_id > ${b}))",
                a = offset + 1,
                b = offset + 2
            )
        } else {
            String::new()
        };
        let sql = format!(
            "SELECT {SCORE_COLUMNS} FROM customer_scores WHERE {filter_sql} {cursor_sql}
             ORDER BY clv DESC, customer_id LIMIT {limit}"
        );
        let mut query = sqlx::query(&sql);
        if let Some(value) = filter_value {
            query = query.bind(value);
        }
        if let Some((clv, customer_id)) = after {
            query = query.bind(clv).bind(customer_id);
        }
        let rows = query.fetch_all(&self.database.pool).await?;
        rows.iter().map(scores_from_row).collect()
    }

    async fn segment(&self, segment_id: &str) -> anyhow::Result<Option<Segment>> {
        Ok(self.base().await?.segments.get(segment_id).cloned())
    }

    async fn latest_snapshot(&self) -> anyhow::Result<Option<BaseSnapshot>> {
        let row = sqlx::query(
            "SELECT computed_at, skew_json, needs_differentiation, needs_segments
             FROM base_snapshots ORDER BY computed_at DESC LIMIT 1",
        )
        .fetch_optional(&self.database.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(BaseSnapshot {
            computed_at_micros: row.try_get(0)?,
            skew: serde_json::from_str(&row.try_get::<String, _>(1)?)?,
            needs_differentiation: row.try_get(2)?,
            needs_segments: u32::try_from(row.try_get::<i64, _>(3)?)?,
        }))
    }

    async fn net_revenue_by_customer(&self, currency: &str) -> anyhow::Result<Vec<f64>> {
        let sql = format!(
            "SELECT {revenue} FROM transactions WHERE currency = $1 GROUP BY customer_id",
            revenue = split_sum_sql("amount_minor"),
        );
        let rows = sqlx::query(&sql)
            .bind(currency)
            .fetch_all(&self.database.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|row| {
                let revenue = combine_split_sum(row.get(0), row.get(1)).unwrap_or_default();
                crate::domain::major_units(revenue, currency)
            })
            .collect())
    }

    async fn insert_preference(&self, preference: &Preference) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO preferences
               (interaction_id, pref_key, customer_id, pref_value, channel, expressed_at, anchor)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (interaction_id, pref_key) DO NOTHING",
        )
        .bind(&preference.interaction_id)
        .bind(&preference.key)
        .bind(&preference.customer_id)
        .bind(&preference.value)
        .bind(preference.channel)
        .bind(preference.expressed_at_micros)
        .bind(&preference.anchor)
        .execute(&self.database.pool)
        .await?;
        Ok(())
    }

    async fn preferences(&self, customer_id: &str) -> anyhow::Result<Vec<Preference>> {
        let rows = sqlx::query(
            "SELECT interaction_id, pref_key, customer_id, pref_value, channel, expressed_at, anchor
             FROM preferences WHERE customer_id = $1 ORDER BY expressed_at DESC, pref_key",
        )
        .bind(customer_id)
        .fetch_all(&self.database.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|row| Preference {
                interaction_id: row.get(0),
                key: row.get(1),
                customer_id: row.get(2),
                value: row.get(3),
                channel: row.get(4),
                expressed_at_micros: row.get(5),
                anchor: row.get(6),
            })
            .collect())
    }

    async fn customer_purchase_days(
        &self,
        customer_id: &str,
        currency: &str,
        end_micros: i64,
    ) -> anyhow::Result<Option<PurchaseDays>> {
        let rows = sqlx::query(
            "SELECT occurred_at, amount_minor FROM transactions
             WHERE customer_id = $1 AND kind = 'purchase' AND occurred_at <= $2
               AND currency = $3
             ORDER BY occurred_at",
        )
        .bind(customer_id)
        .bind(end_micros)
        .bind(currency)
        .fetch_all(&self.database.pool)
        .await?;
        let mut days: Option<PurchaseDays> = None;
        for row in rows {
            let day = row.try_get::<i64, _>(0)?.div_euclid(MICROS_PER_DAY);
            let amount: i64 = row.try_get(1)?;
            match days.as_mut() {
                Some(days) => days.add(day, amount),
                None => days = Some(PurchaseDays::first(customer_id, day, amount)),
            }
        }
        Ok(days)
    }

    async fn base_ranks(&self, customer_id: &str, probe: &RankProbe) -> anyhow::Result<BaseRanks> {
        let row = sqlx::query(
            "SELECT CAST(COUNT(*) AS BIGINT),
               CAST(COALESCE(SUM(CASE WHEN clv < $2 THEN 1 ELSE 0 END), 0) AS BIGINT),
               CAST(COALESCE(SUM(CASE WHEN frequency < $3 THEN 1 ELSE 0 END), 0) AS BIGINT),
               CAST(COALESCE(SUM(CASE WHEN historical < $4 THEN 1 ELSE 0 END), 0) AS BIGINT),
               CAST(COALESCE(SUM(CASE WHEN age - recency > $5 THEN 1 ELSE 0 END), 0)
                 AS BIGINT)
             FROM customer_scores WHERE customer_id <> $1",
        )
        .bind(customer_id)
        .bind(probe.clv)
        .bind(i64::from(probe.frequency))
        .bind(probe.total)
        .bind(probe.since_last)
        .fetch_one(&self.database.pool)
        .await?;
        let count = |index: usize| -> anyhow::Result<u64> {
            Ok(u64::try_from(row.try_get::<i64, _>(index)?).unwrap_or(0))
        };
        Ok(BaseRanks {
            others: count(0)?,
            clv_below: count(1)?,
            frequency_below: count(2)?,
            total_below: count(3)?,
            bought_longer_ago: count(4)?,
        })
    }

    async fn put_scores(&self, scores: &CustomerScores) -> anyhow::Result<()> {
        let mut tx = self.database.pool.begin().await?;
        sqlx::query("DELETE FROM customer_scores WHERE customer_id = $1")
            .bind(&scores.customer_id)
            .execute(&mut *tx)
            .await?;
        let mut arguments = AnyArguments::default();
        add_score_row(&mut arguments, scores)?;
        let sql = format!(
            "INSERT INTO customer_scores ({SCORE_COLUMNS}) VALUES {}",
            row_placeholders(self.database.backend, 1, 16)
        );
        sqlx::query_with(&sql, arguments).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn delete_scores(&self, customer_id: &str) -> anyhow::Result<()> {
        sqlx::query("DELETE FROM customer_scores WHERE customer_id = $1")
            .bind(customer_id)
            .execute(&self.database.pool)
            .await?;
        Ok(())
    }

    async fn customers_with_data(
        &self,
        customer_ids: &[&str],
    ) -> anyhow::Result<std::collections::HashSet<String>> {
        FOLLOWED.holding(&self.database, customer_ids).await
    }

    async fn reassign_customers(&self, absorbed: &[String], survivor: &str) -> anyhow::Result<()> {
        let mut tx = self.database.pool.begin().await?;
        FOLLOWED.merge(&mut tx, survivor, absorbed).await?;
        for customer_id in absorbed {
            // Scores are per customer of the last refit: drop the absorbed one's.
            sqlx::query("DELETE FROM customer_scores WHERE customer_id = $1")
                .bind(customer_id)
                .execute(&mut *tx)
                .await?;
        }
        let mut touched = absorbed.to_vec();
        touched.push(survivor.to_owned());
        summaries::refresh(&mut tx, &touched).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn anchors(&self, customer_id: &str) -> anyhow::Result<Vec<String>> {
        let mut connection = self.database.pool.acquire().await?;
        FOLLOWED.anchors(&mut connection, customer_id).await
    }

    async fn move_anchor(
        &self,
        customer_id: &str,
        anchor: &str,
        target: &str,
    ) -> anyhow::Result<u64> {
        let mut tx = self.database.pool.begin().await?;
        let moved = FOLLOWED
            .move_anchor(&mut tx, customer_id, anchor, target)
            .await?;
        summaries::refresh(&mut tx, &[customer_id.to_owned(), target.to_owned()]).await?;
        tx.commit().await?;
        Ok(moved)
    }

    async fn customer_transactions(&self, customer_id: &str) -> anyhow::Result<Vec<Transaction>> {
        let rows = sqlx::query(
            "SELECT order_id, kind, customer_id, anchor, occurred_at, currency, amount_minor,
                    margin_minor, channel, commitment_months
             FROM transactions WHERE customer_id = $1 ORDER BY occurred_at, order_id, kind",
        )
        .bind(customer_id)
        .fetch_all(&self.database.pool)
        .await?;
        let line_rows = sqlx::query(
            "SELECT l.order_id, l.kind, l.product, l.category, l.quantity, l.amount_minor
             FROM transaction_lines l JOIN transactions t
               ON t.order_id = l.order_id AND t.kind = l.kind
             WHERE t.customer_id = $1 ORDER BY l.order_id, l.kind, l.line_no",
        )
        .bind(customer_id)
        .fetch_all(&self.database.pool)
        .await?;
        let mut lines: HashMap<(String, String), Vec<OrderLine>> = HashMap::new();
        for row in &line_rows {
            lines
                .entry((row.try_get(0)?, row.try_get(1)?))
                .or_default()
                .push(OrderLine {
                    product: row.try_get(2)?,
                    category: row.try_get(3)?,
                    quantity: u32::try_from(row.try_get::<i64, _>(4)?).unwrap_or(0),
                    amount_minor: row.try_get(5)?,
                });
        }
        rows.iter()
            .map(|row| {
                let order_id: String = row.try_get(0)?;
                let kind_text: String = row.try_get(1)?;
                let kind = TransactionKind::parse(&kind_text).ok_or_else(|| {
                    anyhow::anyhow!("unknown stored transaction kind '{kind_text}'")
                })?;
                Ok(Transaction {
                    lines: lines
                        .remove(&(order_id.clone(), kind_text))
                        .unwrap_or_default(),
                    order_id,
                    kind,
                    customer_id: row.try_get(2)?,
                    anchor: row.try_get(3)?,
                    occurred_at_micros: row.try_get(4)?,
                    amount: Amount {
                        currency: row.try_get(5)?,
                        minor_units: row.try_get(6)?,
                    },
                    margin_minor: row.try_get(7)?,
                    channel: i32::try_from(row.try_get::<i64, _>(8)?).unwrap_or(0),
                    commitment_months: u32::try_from(row.try_get::<i64, _>(9)?).unwrap_or(0),
                })
            })
            .collect()
    }

    async fn erase_customer(&self, customer_id: &str) -> anyhow::Result<()> {
        let mut tx = self.database.pool.begin().await?;
        sqlx::query(
            "DELETE FROM transaction_lines WHERE EXISTS (SELECT 1 FROM transactions t
               WHERE t.order_id = transaction_lines.order_id AND t.kind = transaction_lines.kind
                 AND t.customer_id = $1)",
        )
        .bind(customer_id)
        .execute(&mut *tx)
        .await?;
        FOLLOWED.erase(&mut tx, customer_id).await?;
        tx.commit().await?;
        let mut erased_tables = vec!["transaction_lines"];
        erased_tables.extend_from_slice(CUSTOMER_TABLES);
        self.database.purge_deleted(&erased_tables).await
    }
}

/// Per customer (sorted by id), its purchases in `currency` up to `end_micros` folded
/// per day as they stream from the covering index `transactions_purchases` (no table
/// lookups, no sort): cheaper than grouping by a computed day in SQL.
async fn fold_purchase_days(
    connection: &mut sqlx::AnyConnection,
    currency: &str,
    end_micros: i64,
) -> anyhow::Result<Vec<PurchaseDays>> {
    let mut rows = sqlx::query(
        "SELECT customer_id, occurred_at, amount_minor FROM transactions
         WHERE kind = 'purchase' AND currency = $1 AND occurred_at <= $2
         ORDER BY customer_id, occurred_at",
    )
    .bind(currency)
    .bind(end_micros)
    .fetch(&mut *connection);
    let mut customers: Vec<PurchaseDays> = Vec::new();
    while let Some(row) = rows.try_next().await? {
        let customer_id: &str = row.try_get(0)?;
        let day = row.try_get::<i64, _>(1)?.div_euclid(MICROS_PER_DAY);
        let amount: i64 = row.try_get(2)?;
        match customers.last_mut() {
            Some(last) if last.customer_id == customer_id => last.add(day, amount),
            _ => customers.push(PurchaseDays::first(customer_id, day, amount)),
        }
    }
    Ok(customers)
}

fn min_some(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
