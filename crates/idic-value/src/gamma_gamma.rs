//! The Gamma-Gamma model of spend per transaction (Fader & Hardie 2013, "The
//! Gamma-Gamma Model of Monetary Value"): fitted on customers with at least one repeat
//! transaction, from their number of repeats x and mean repeat spend m_x.

use crate::optimize::bfgs;
use crate::special::{digamma, ln_gamma};
use crate::summary::CustomerSummary;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GammaGamma {
    pub p: f64,
    pub q: f64,
    pub gamma: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GammaGammaFit {
    pub parameters: GammaGamma,
    pub log_likelihood: f64,
    /// Customers fitted on (those with a repeat transaction and positive spend).
    pub customers: usize,
    pub iterations: usize,
    pub converged: bool,
}

/// ln f(m_x | p, q, γ, x) and its gradient with respect to (p, q, γ) (FH 2013, eq. 3).
fn customer_terms(parameters: &GammaGamma, x: f64, mean_spend: f64) -> (f64, [f64; 3]) {
    let GammaGamma { p, q, gamma } = *parameters;
    let px = p * x;
    let ln_m = mean_spend.ln();
    let ln_x = x.ln();
    let ln_gamma_mx = (gamma + mean_spend * x).ln();
    let value = ln_gamma(px + q) - ln_gamma(px) - ln_gamma(q)
        + q * gamma.ln()
        + (px - 1.0) * ln_m
        + px * ln_x
        - (px + q) * ln_gamma_mx;
    let psi_pxq = digamma(px + q);
    let d_p = x * (psi_pxq - digamma(px) + ln_m + ln_x - ln_gamma_mx);
    let d_q = psi_pxq - digamma(q) + gamma.ln() - ln_gamma_mx;
    let d_gamma = q / gamma - (px + q) / (gamma + mean_spend * x);
    (value, [d_p, d_q, d_gamma])
}

fn usable(customer: &CustomerSummary) -> bool {
    customer.frequency > 0 && customer.monetary > 0.0 && customer.monetary.is_finite()
}

/// Total log-likelihood over the customers the model applies to.
pub fn log_likelihood(parameters: &GammaGamma, customers: &[CustomerSummary]) -> f64 {
    customers
        .iter()
        .filter(|c| usable(c))
        .map(|c| customer_terms(parameters, f64::from(c.frequency), c.monetary).0)
        .sum()
}

/// The customers of one repeat count x: the terms of the likelihood that depend on x
/// and the parameters only are computed once per x and evaluation, which leaves one
/// logarithm per customer.
struct FrequencyGroup {
    x: f64,
    ln_x: f64,
    /// (m_x, ln m_x) of each customer with this x.
    spends: Vec<(f64, f64)>,
    sum_ln_m: f64,
}

fn frequency_groups(customers: &[CustomerSummary]) -> Vec<FrequencyGroup> {
    let mut by_frequency: std::collections::BTreeMap<u32, Vec<(f64, f64)>> = Default::default();
    for customer in customers.iter().filter(|c| usable(c)) {
        by_frequency
            .entry(customer.frequency)
            .or_default()
            .push((customer.monetary, customer.monetary.ln()));
    }
    by_frequency
        .into_iter()
        .map(|(frequency, spends)| {
            let x = f64::from(frequency);
            FrequencyGroup {
                x,
                ln_x: x.ln(),
                sum_ln_m: spends.iter().map(|(_, ln_m)| ln_m).sum(),
                spends,
            }
        })
        .collect()
}

/// Total log-likelihood and gradient over the groups (the sums of [`customer_terms`]).
fn grouped_terms(parameters: &GammaGamma, groups: &[FrequencyGroup]) -> (f64, [f64; 3]) {
    let GammaGamma { p, q, gamma } = *parameters;
    let ln_gamma_q = ln_gamma(q);
    let psi_q = digamma(q);
    let ln_scale = gamma.ln();
    let mut total = 0.0;
    let mut d = [0.0; 3];
    for group in groups {
        let x = group.x;
        let px = p * x;
        let n = group.spends.len() as f64;
        let per_x = ln_gamma(px + q) - ln_gamma(px) - ln_gamma_q + q * ln_scale + px * group.ln_x;
        let psi_pxq = digamma(px + q);
        let psi_px = digamma(px);
        let mut sum_ln_total = 0.0;
        let mut sum_inverse_total = 0.0;
        for &(m, _) in &group.spends {
            let scaled = gamma + m * x;
            sum_ln_total += scaled.ln();
            sum_inverse_total += 1.0 / scaled;
        }
        total += n * per_x + (px - 1.0) * group.sum_ln_m - (px + q) * sum_ln_total;
        d[0] += x * (n * (psi_pxq - psi_px + group.ln_x) + group.sum_ln_m - sum_ln_total);
        d[1] += n * (psi_pxq - psi_q + ln_scale) - sum_ln_total;
        d[2] += n * q / gamma - (px + q) * sum_inverse_total;
    }
    (total, d)
}

/// Maximum-likelihood fit over customers with a repeat transaction; None without any.
pub fn fit(customers: &[CustomerSummary]) -> Option<GammaGammaFit> {
    let groups = frequency_groups(customers);
    let usable_customers: usize = groups.iter().map(|g| g.spends.len()).sum();
    if usable_customers == 0 {
        return None;
    }
    let count = usable_customers as f64;
    let mean_spend = groups
        .iter()
        .flat_map(|g| g.spends.iter().map(|(m, _)| m))
        .sum::<f64>()
        / count;
    let objective = |point: &[f64], gradient: &mut [f64]| {
        let parameters = from_logs(point);
        let (total, d) = grouped_terms(&parameters, &groups);
        let thetas = [parameters.p, parameters.q, parameters.gamma];
        for index in 0..3 {
            gradient[index] = -d[index] * thetas[index] / count;
        }
        let mean = -total / count;
        if mean.is_finite() {
            mean
        } else {
            f64::INFINITY
        }
    };
    // Start from a fit on a strided sample for large bases, else where
    // E[spend] = pγ/(q-1) equals the sample mean.
    let start = warm_start(customers, usable_customers).unwrap_or([
        0.0,
        2f64.ln(),
        mean_spend.max(1e-6).ln(),
    ]);
    let minimum = bfgs(objective, &start, 500, 1e-9);
    Some(GammaGammaFit {
        parameters: from_logs(&minimum.point),
        log_likelihood: -minimum.value * count,
        customers: usable_customers,
        iterations: minimum.iterations,
        converged: minimum.converged,
    })
}

/// Customers above which the fit starts from a fit on a strided sample.
const WARM_START_ABOVE: usize = 20_000;
const WARM_START_SAMPLE: usize = 5_000;

fn warm_start(customers: &[CustomerSummary], usable_customers: usize) -> Option<[f64; 3]> {
    if usable_customers <= WARM_START_ABOVE {
        return None;
    }
    let stride = customers.len().div_ceil(WARM_START_SAMPLE);
    let sample: Vec<CustomerSummary> = customers.iter().step_by(stride).copied().collect();
    let p = fit(&sample)?.parameters;
    let point = [p.p.ln(), p.q.ln(), p.gamma.ln()];
    point.iter().all(|v| v.is_finite()).then_some(point)
}

fn from_logs(point: &[f64]) -> GammaGamma {
    GammaGamma {
        p: point[0].exp(),
        q: point[1].exp(),
        gamma: point[2].exp(),
    }
}

impl GammaGamma {
    /// Whether the spend per transaction has a finite mean under the model (q > 1).
    pub fn has_finite_mean(&self) -> bool {
        self.q > 1.0
    }

    /// E[M | x, m_x] (FH 2013, eq. 5); the population mean pγ/(q-1) without repeats.
    /// None when q <= 1 (the mean does not exist).
    pub fn expected_average_spend(&self, customer: &CustomerSummary) -> Option<f64> {
        if !self.has_finite_mean() {
            return None;
        }
        let x = f64::from(customer.frequency);
        if !usable(customer) {
            return Some(self.p * self.gamma / (self.q - 1.0));
        }
        Some(self.p * (self.gamma + x * customer.monetary) / (self.p * x + self.q - 1.0))
    }

    /// Whether the data determined the model: a finite mean and every parameter within
    /// the bounds of [`crate::diagnostics`]. Decidable from the parameters alone, so
    /// that a stored model gives the same answer as the fit did.
    pub fn is_identified(&self) -> bool {
        self.has_finite_mean()
            && [self.p, self.q, self.gamma]
                .into_iter()
                .all(crate::bounds::within_bounds)
    }

    /// The spend per transaction to predict with: the model's expectation when the
    /// model is identified, else the customer's own mean spend per transaction (never
    /// the 0 of a customer without repeat purchases, never an undefined mean).
    pub fn spend_per_transaction(&self, customer: &CustomerSummary) -> f64 {
        match self.expected_average_spend(customer) {
            Some(spend) if self.is_identified() => spend,
            _ => customer.mean_spend(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gradient_matches_finite_differences() {
        let point = GammaGamma {
            p: 6.0,
            q: 3.5,
            gamma: 15.0,
        };
        let (_, gradient) = customer_terms(&point, 4.0, 37.5);
        let h = 1e-6;
        let bump = |index: usize, delta: f64| {
            let mut p = [point.p, point.q, point.gamma];
            p[index] += delta;
            customer_terms(
                &GammaGamma {
                    p: p[0],
                    q: p[1],
                    gamma: p[2],
                },
                4.0,
                37.5,
            )
            .0
        };
        for (index, analytic) in gradient.iter().enumerate() {
            let numeric = (bump(index, h) - bump(index, -h)) / (2.0 * h);
            assert!((numeric - analytic).abs() < 1e-5 * numeric.abs().max(1.0));
        }
    }

    #[test]
    fn grouped_terms_equal_the_sum_over_customers() {
        let customers: Vec<CustomerSummary> = (1..40u32)
            .map(|i| CustomerSummary {
                frequency: i % 5,
                recency: 1.0,
                age: 2.0,
                monetary: 5.0 + f64::from(i),
                total: 0.0,
            })
            .collect();
        let point = GammaGamma {
            p: 2.5,
            q: 3.1,
            gamma: 9.0,
        };
        let (grouped, grouped_gradient) = grouped_terms(&point, &frequency_groups(&customers));
        let mut total = 0.0;
        let mut gradient = [0.0; 3];
        for customer in customers.iter().filter(|c| usable(c)) {
            let (value, d) =
                customer_terms(&point, f64::from(customer.frequency), customer.monetary);
            total += value;
            for (sum, term) in gradient.iter_mut().zip(d) {
                *sum += term;
            }
        }
        assert!((grouped - total).abs() < 1e-9 * total.abs());
        for (left, right) in grouped_gradient.iter().zip(gradient) {
            assert!((left - right).abs() < 1e-9 * right.abs().max(1.0));
        }
        assert!((log_likelihood(&point, &customers) - total).abs() < 1e-9 * total.abs());
    }

    #[test]
    fn spend_shrinks_toward_the_population_mean() {
        let model = GammaGamma {
            p: 6.25,
            q: 3.74,
            gamma: 15.44,
        };
        let population = model.p * model.gamma / (model.q - 1.0);
        let big = CustomerSummary {
            frequency: 1,
            recency: 1.0,
            age: 2.0,
            monetary: 500.0,
            total: 0.0,
        };
        let expected = model.expected_average_spend(&big).unwrap();
        assert!(expected < 500.0 && expected > population);
    }
}
