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
}
