//! Speed of the pure fits (no storage): BG/NBD + Gamma-Gamma on N simulated customers.
//! `cargo run --release -p idic-value --example fit_speed -- 100000`
//! The end-to-end figure (stored transactions to saved parameters) is
//! `idic-bench differentiation fit`.

use std::time::Instant;

use idic_value::{CustomerSummary, bgnbd, gamma_gamma};

/// xorshift64*: enough randomness for a timing run, no dependency.
struct Rng(u64);

impl Rng {
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        ((self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
}

fn main() {
    let customers: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    // Day-resolution summaries over a 52-week calibration, in weeks.
    let data: Vec<CustomerSummary> = (0..customers)
        .map(|_| {
            let first_day = (rng.uniform() * 84.0) as i64;
            let age_days = 364 - first_day;
            let rate = -rng.uniform().ln() * 0.05; // purchases per day
            let mut day = 0.0;
            let mut days = 0u32;
            let mut last = 0.0;
            let mut spend = 0.0;
            loop {
                day += -rng.uniform().ln() / rate.max(1e-6);
                if day >= age_days as f64 || rng.uniform() < 0.2 {
                    break;
                }
                days += 1;
                last = day.floor();
                spend += 10.0 + 40.0 * rng.uniform();
            }
            CustomerSummary {
                frequency: days,
                recency: last / 7.0,
                age: age_days as f64 / 7.0,
                monetary: if days > 0 {
                    spend / f64::from(days)
                } else {
                    0.0
                },
                total: spend,
            }
        })
        .collect();
    for _ in 0..3 {
        let started = Instant::now();
        let bg = bgnbd::fit(&data).expect("customers");
        let bg_seconds = started.elapsed().as_secs_f64();
        let gg_started = Instant::now();
        let gg = gamma_gamma::fit(&data).expect("repeat customers");
        let gg_seconds = gg_started.elapsed().as_secs_f64();
        println!(
            "{customers} customers: BG/NBD {:.1} ms ({} iterations), Gamma-Gamma {:.1} ms ({} customers, {} iterations); {:.2} µs/customer",
            bg_seconds * 1e3,
            bg.iterations,
            gg_seconds * 1e3,
            gg.customers,
            gg.iterations,
            (bg_seconds + gg_seconds) * 1e6 / customers as f64
        );
    }
}
