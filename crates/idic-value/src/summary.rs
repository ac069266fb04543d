//! From a customer's purchases to the recency/frequency/monetary summary the models
//! use: purchases on the same day count as one transaction (their amounts add up),
//! as in Fader, Hardie & Lee's CDNOW data and the `lifetimes` reference.

/// The time unit models are fitted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    Day,
    Week,
}

impl TimeUnit {
    pub fn days(self) -> f64 {
        match self {
            TimeUnit::Day => 1.0,
            TimeUnit::Week => 7.0,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TimeUnit::Day => "day",
            TimeUnit::Week => "week",
        }
    }

    pub fn parse(text: &str) -> Option<TimeUnit> {
        match text {
            "day" => Some(TimeUnit::Day),
            "week" => Some(TimeUnit::Week),
            _ => None,
        }
    }
}

/// One purchase: the day it happened (days since any fixed origin) and its amount.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Purchase {
    pub day: i64,
    pub amount: f64,
}

/// A customer as the models see it at the end of the calibration period.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CustomerSummary {
    /// Repeat transactions (transaction days after the first).
    pub frequency: u32,
    /// Time from the first to the last transaction, in the time unit (t_x).
    pub recency: f64,
    /// Time from the first transaction to the end of calibration (T).
    pub age: f64,
    /// Mean amount of the repeat transactions; 0 without repeats.
    pub monetary: f64,
    /// Sum of all transaction amounts up to the end of calibration.
    pub total: f64,
}

impl CustomerSummary {
    /// The customer's own mean spend per transaction day, first purchase included:
    /// what the predictions fall back to when Gamma-Gamma has no finite mean. Never
    /// negative (returns may outweigh purchases).
    pub fn mean_spend(&self) -> f64 {
        (self.total / f64::from(self.frequency + 1)).max(0.0)
    }
}

/// Summarizes `purchases` (sorted by day) up to and including `end_day`. None when the
/// customer made no purchase by then.
pub fn summarize(purchases: &[Purchase], end_day: i64, unit: TimeUnit) -> Option<CustomerSummary> {
    debug_assert!(purchases.windows(2).all(|pair| pair[0].day <= pair[1].day));
    let mut in_period = purchases
        .iter()
        .take_while(|purchase| purchase.day <= end_day);
    let first = in_period.next()?;
    let mut last_day = first.day;
    let mut total = first.amount;
    let mut first_day_amount = first.amount;
    let mut transaction_days = 1u32;
    for purchase in in_period {
        total += purchase.amount;
        if purchase.day == last_day {
            if transaction_days == 1 {
                first_day_amount += purchase.amount;
            }
        } else {
            transaction_days += 1;
            last_day = purchase.day;
        }
    }
    let frequency = transaction_days - 1;
    let monetary = if frequency == 0 {
        0.0
    } else {
        (total - first_day_amount) / f64::from(frequency)
    };
    Some(CustomerSummary {
        frequency,
        recency: (last_day - first.day) as f64 / unit.days(),
        age: (end_day - first.day) as f64 / unit.days(),
        monetary,
        total,
    })
}

/// A customer's purchases already grouped by day (what a database can aggregate
/// without handing over every purchase): the first and last purchase day, how many
/// distinct days it bought on, the sum of all amounts and the sum of the first day's.
/// Only purchases up to the end of calibration may be counted in it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DayTotals {
    pub first_day: i64,
    pub last_day: i64,
    pub transaction_days: u32,
    pub total: f64,
    pub first_day_total: f64,
}

/// The same summary as [`summarize`] from per-day totals; None without any purchase
/// day or when the first purchase is after `end_day`.
pub fn summarize_totals(
    totals: &DayTotals,
    end_day: i64,
    unit: TimeUnit,
) -> Option<CustomerSummary> {
    if totals.transaction_days == 0 || totals.first_day > end_day || totals.last_day > end_day {
        return None;
    }
    let frequency = totals.transaction_days - 1;
    let monetary = if frequency == 0 {
        0.0
    } else {
        (totals.total - totals.first_day_total) / f64::from(frequency)
    };
    Some(CustomerSummary {
        frequency,
        recency: (totals.last_day - totals.first_day) as f64 / unit.days(),
        age: (end_day - totals.first_day) as f64 / unit.days(),
        monetary,
        total: totals.total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_day_purchases_are_one_transaction() {
        let purchases = [
            Purchase {
                day: 0,
                amount: 10.0,
            },
            Purchase {
                day: 0,
                amount: 5.0,
            },
            Purchase {
                day: 7,
                amount: 20.0,
            },
            Purchase {
                day: 14,
                amount: 4.0,
            },
            Purchase {
                day: 14,
                amount: 6.0,
            },
            Purchase {
                day: 30,
                amount: 99.0,
            },
        ];
        let summary = summarize(&purchases, 21, TimeUnit::Week).unwrap();
        assert_eq!(summary.frequency, 2);
        assert!((summary.recency - 2.0).abs() < 1e-12);
        assert!((summary.age - 3.0).abs() < 1e-12);
        assert!((summary.monetary - 15.0).abs() < 1e-12);
        assert!((summary.total - 45.0).abs() < 1e-12);
        assert!(summarize(&purchases, -1, TimeUnit::Day).is_none());
    }

    #[test]
    fn day_totals_summarize_like_purchases() {
        let purchases = [
            Purchase {
                day: 3,
                amount: 10.0,
            },
            Purchase {
                day: 3,
                amount: 5.0,
            },
            Purchase {
                day: 10,
                amount: 20.0,
            },
            Purchase {
                day: 17,
                amount: 4.0,
            },
            Purchase {
                day: 17,
                amount: 6.0,
            },
        ];
        let totals = DayTotals {
            first_day: 3,
            last_day: 17,
            transaction_days: 3,
            total: 45.0,
            first_day_total: 15.0,
        };
        for unit in [TimeUnit::Day, TimeUnit::Week] {
            assert_eq!(
                summarize_totals(&totals, 30, unit),
                summarize(&purchases, 30, unit)
            );
        }
        let single = DayTotals {
            first_day: 3,
            last_day: 3,
            transaction_days: 1,
            total: 15.0,
            first_day_total: 15.0,
        };
        assert_eq!(
            summarize_totals(&single, 30, TimeUnit::Week),
            summarize(&purchases[..2], 30, TimeUnit::Week)
        );
        assert_eq!(summarize_totals(&totals, 2, TimeUnit::Day), None);
        assert_eq!(
            summarize_totals(
                &DayTotals {
                    transaction_days: 0,
                    ..totals
                },
                30,
                TimeUnit::Day
            ),
            None
        );
    }
}
