//! The BG/NBD model of repeat purchasing (Fader, Hardie & Lee 2005, "Counting your
//! customers the easy way"): its log-likelihood with analytic gradient, the
//! maximum-likelihood fit, and the per-customer predictions (expected purchases,
//! probability alive).

use crate::optimize::bfgs;
use crate::special::ln_gamma;
use crate::summary::CustomerSummary;

/// The four BG/NBD parameters: purchase rates ~ Gamma(r, α), dropout ~ Beta(a, b).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BgNbd {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
}

/// A fitted model and how the fit went.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BgNbdFit {
    pub parameters: BgNbd,
    /// Total log-likelihood over the customers fitted on.
    pub log_likelihood: f64,
    pub iterations: usize,
    pub converged: bool,
}

/// Customers sharing (x, t_x, T) enter the likelihood once, weighted.
#[derive(Debug, Clone, Copy)]
struct Group {
    frequency: u32,
    recency: f64,
    age: f64,
    weight: f64,
}

fn group(customers: &[CustomerSummary]) -> Vec<Group> {
    let mut keys: Vec<(u32, u64, u64)> = customers
        .iter()
        .map(|customer| {
            (
                customer.frequency,
                customer.recency.to_bits(),
                customer.age.to_bits(),
            )
        })
        .collect();
    keys.sort_unstable();
    let mut groups: Vec<Group> = Vec::new();
    let mut previous = None;
    for key in keys {
        if previous == Some(key) {
            if let Some(last) = groups.last_mut() {
                last.weight += 1.0;
            }
            continue;
        }
        previous = Some(key);
        groups.push(Group {
            frequency: key.0,
            recency: f64::from_bits(key.1),
            age: f64::from_bits(key.2),
            weight: 1.0,
        });
    }
    groups
}

/// Σ_{i<x} ln(θ+i) and Σ_{i<x} 1/(θ+i) for every x up to `max`, cumulatively.
fn rising_sums(theta: f64, max: usize) -> (Vec<f64>, Vec<f64>) {
    let mut logs = Vec::with_capacity(max + 1);
    let mut inverses = Vec::with_capacity(max + 1);
    let (mut log_sum, mut inverse_sum) = (0.0, 0.0);
    logs.push(0.0);
    inverses.push(0.0);
    for i in 0..max {
        let term = theta + i as f64;
        log_sum += term.ln();
        inverse_sum += 1.0 / term;
        logs.push(log_sum);
        inverses.push(inverse_sum);
    }
    (logs, inverses)
}

/// Total log-likelihood and its gradient with respect to (r, α, a, b).
fn log_likelihood_with_gradient(
    parameters: &BgNbd,
    groups: &[Group],
    max_frequency: usize,
) -> (f64, [f64; 4]) {
    let BgNbd { r, alpha, a, b } = *parameters;
    let (log_r, inv_r) = rising_sums(r, max_frequency);
    let (log_b, inv_b) = rising_sums(b, max_frequency);
    let (log_ab, inv_ab) = rising_sums(a + b, max_frequency);
    let ln_alpha = alpha.ln();
    let mut total = 0.0;
    let mut gradient = [0.0; 4];
    for group in groups {
        let x = group.frequency as usize;
        let xf = f64::from(group.frequency);
        let alpha_t = alpha + group.age;
        let ln_alpha_t = alpha_t.ln();
        // A: the "still alive at T" part of the likelihood, in logs.
        let mut value = log_r[x] + r * ln_alpha - (r + xf) * ln_alpha_t + log_b[x] - log_ab[x];
        let mut d_r = inv_r[x] + ln_alpha - ln_alpha_t;
        let mut d_alpha = r / alpha - (r + xf) / alpha_t;
        let mut d_a = -inv_ab[x];
        let mut d_b = inv_b[x] - inv_ab[x];
        if x > 0 {
            // ln(1 + D), D = a/(b+x-1) ((α+T)/(α+t_x))^(r+x): the "died after t_x" part.
            let alpha_tx = alpha + group.recency;
            let delta = ln_alpha_t - alpha_tx.ln();
            let ln_d = a.ln() - (b + xf - 1.0).ln() + (r + xf) * delta;
            let (log1p_d, share) = softplus(ln_d);
            value += log1p_d;
            d_r += share * delta;
            d_alpha += share * (r + xf) * (1.0 / alpha_t - 1.0 / alpha_tx);
            d_a += share / a;
            d_b -= share / (b + xf - 1.0);
        }
        total += group.weight * value;
        gradient[0] += group.weight * d_r;
        gradient[1] += group.weight * d_alpha;
        gradient[2] += group.weight * d_a;
        gradient[3] += group.weight * d_b;
    }
    (total, gradient)
}

/// ln(1 + e^z) and its derivative e^z / (1 + e^z), without overflow.
fn softplus(z: f64) -> (f64, f64) {
    if z > 0.0 {
        let e = (-z).exp();
        (z + e.ln_1p(), 1.0 / (1.0 + e))
    } else {
        let e = z.exp();
        (e.ln_1p(), e / (1.0 + e))
    }
}

/// The total log-likelihood of `customers` under `parameters`.
pub fn log_likelihood(parameters: &BgNbd, customers: &[CustomerSummary]) -> f64 {
    let groups = group(customers);
    let max_frequency = groups
        .iter()
        .map(|g| g.frequency as usize)
        .max()
        .unwrap_or(0);
    log_likelihood_with_gradient(parameters, &groups, max_frequency).0
}

/// Maximum-likelihood fit (BFGS over the logs of the parameters, so they stay
/// positive). None when there are no customers.
pub fn fit(customers: &[CustomerSummary]) -> Option<BgNbdFit> {
    if customers.is_empty() {
        return None;
    }
    let groups = group(customers);
    let max_frequency = groups
        .iter()
        .map(|g| g.frequency as usize)
        .max()
        .unwrap_or(0);
    let count = customers.len() as f64;
    let mean_age = customers.iter().map(|c| c.age).sum::<f64>() / count;
    let objective = |point: &[f64], gradient: &mut [f64]| {
        let parameters = from_logs(point);
        let (value, d) = log_likelihood_with_gradient(&parameters, &groups, max_frequency);
        let thetas = [parameters.r, parameters.alpha, parameters.a, parameters.b];
        for index in 0..4 {
            // Chain rule for θ = e^u; minimize the negative mean.
            gradient[index] = -d[index] * thetas[index] / count;
        }
        let mean = -value / count;
        if mean.is_finite() {
            mean
        } else {
            f64::INFINITY
        }
    };
    let start = [0.0, mean_age.max(1e-3).ln(), 0.0, 0.0];
    let minimum = bfgs(objective, &start, 500, 1e-9);
    Some(BgNbdFit {
        parameters: from_logs(&minimum.point),
        log_likelihood: -minimum.value * count,
        iterations: minimum.iterations,
        converged: minimum.converged,
    })
}

fn from_logs(point: &[f64]) -> BgNbd {
    BgNbd {
        r: point[0].exp(),
        alpha: point[1].exp(),
        a: point[2].exp(),
        b: point[3].exp(),
    }
}

impl BgNbd {
    /// P(alive | x, t_x, T) (FHL 2005, eq. 11 of the technical note).
    pub fn probability_alive(&self, customer: &CustomerSummary) -> f64 {
        if customer.frequency == 0 {
            return 1.0;
        }
        let x = f64::from(customer.frequency);
        let ln_d = self.a.ln() - (self.b + x - 1.0).ln()
            + (self.r + x) * ((self.alpha + customer.age) / (self.alpha + customer.recency)).ln();
        1.0 / (1.0 + ln_d.exp())
    }

    /// E[Y(t) | x, t_x, T]: expected purchases in the next `horizon` time units
    /// (FHL 2005, eq. 10).
    pub fn expected_purchases(&self, customer: &CustomerSummary, horizon: f64) -> f64 {
        if horizon <= 0.0 {
            return 0.0;
        }
        let BgNbd { r, alpha, a, b } = *self;
        let x = f64::from(customer.frequency);
        let alpha_t = alpha + customer.age;
        let z = horizon / (alpha_t + horizon);
        let hypergeometric = hyp2f1(r + x, b + x, a + b + x - 1.0, z);
        let numerator = (a + b + x - 1.0) / (a - 1.0)
            * (1.0 - (alpha_t / (alpha_t + horizon)).powf(r + x) * hypergeometric);
        let denominator = if customer.frequency == 0 {
            1.0
        } else {
            1.0 + a / (b + x - 1.0) * (alpha_t / (alpha + customer.recency)).powf(r + x)
        };
        let expected = numerator / denominator;
        if expected.is_finite() {
            expected.max(0.0)
        } else {
            0.0
        }
    }

    /// ln of the BG/NBD probability of (x, t_x, T), for one customer.
    pub fn customer_log_likelihood(&self, customer: &CustomerSummary) -> f64 {
        let groups = [Group {
            frequency: customer.frequency,
            recency: customer.recency,
            age: customer.age,
            weight: 1.0,
        }];
        log_likelihood_with_gradient(self, &groups, customer.frequency as usize).0
    }
}

/// Gauss's hypergeometric series ₂F₁(a, b; c; z) for 0 <= z < 1.
fn hyp2f1(a: f64, b: f64, c: f64, z: f64) -> f64 {
    let mut term = 1.0;
    let mut sum = 1.0;
    for n in 0..100_000 {
        let nf = n as f64;
        term *= (a + nf) * (b + nf) / ((c + nf) * (nf + 1.0)) * z;
        sum += term;
        if term.abs() < 1e-14 * sum.abs() {
            break;
        }
    }
    sum
}

/// ln Γ is used by callers that report the normalising constants.
pub fn ln_beta(a: f64, b: f64) -> f64 {
    ln_gamma(a) + ln_gamma(b) - ln_gamma(a + b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn customers() -> Vec<CustomerSummary> {
        let mut customers = Vec::new();
        for index in 0..200u32 {
            let frequency = index % 7;
            let age = 20.0 + f64::from(index % 19);
            let recency = if frequency == 0 {
                0.0
            } else {
                age * f64::from(index % 5) / 5.0
            };
            customers.push(CustomerSummary {
                frequency,
                recency,
                age,
                monetary: 0.0,
                total: 0.0,
            });
        }
        customers
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let data = customers();
        let groups = group(&data);
        let point = BgNbd {
            r: 0.7,
            alpha: 3.0,
            a: 0.9,
            b: 2.1,
        };
        let (_, gradient) = log_likelihood_with_gradient(&point, &groups, 6);
        let h = 1e-6;
        let bump = |index: usize, delta: f64| {
            let mut p = [point.r, point.alpha, point.a, point.b];
            p[index] += delta;
            let moved = BgNbd {
                r: p[0],
                alpha: p[1],
                a: p[2],
                b: p[3],
            };
            log_likelihood_with_gradient(&moved, &groups, 6).0
        };
        for (index, analytic) in gradient.iter().enumerate() {
            let numeric = (bump(index, h) - bump(index, -h)) / (2.0 * h);
            assert!(
                (numeric - analytic).abs() < 1e-4 * numeric.abs().max(1.0),
                "{index}: {numeric} vs {analytic}"
            );
        }
    }

    #[test]
    fn likelihood_matches_the_gamma_function_form() {
        // The grouped sums must equal the textbook expression with Γ and B.
        let parameters = BgNbd {
            r: 0.5,
            alpha: 2.0,
            a: 1.5,
            b: 3.0,
        };
        let customer = CustomerSummary {
            frequency: 3,
            recency: 10.0,
            age: 20.0,
            monetary: 0.0,
            total: 0.0,
        };
        let BgNbd { r, alpha, a, b } = parameters;
        let x = 3.0;
        let common = ln_gamma(r + x) - ln_gamma(r) + r * alpha.ln();
        let alive = ln_beta(a, b + x) - ln_beta(a, b) + common - (r + x) * (alpha + 20.0f64).ln();
        let dead = ln_beta(a + 1.0, b + x - 1.0) - ln_beta(a, b) + common
            - (r + x) * (alpha + 10.0f64).ln();
        let expected = (alive.exp() + dead.exp()).ln();
        assert!((parameters.customer_log_likelihood(&customer) - expected).abs() < 1e-10);
    }

    #[test]
    fn predictions_are_sane() {
        let model = BgNbd {
            r: 0.243,
            alpha: 4.414,
            a: 0.793,
            b: 2.426,
        };
        let recent = CustomerSummary {
            frequency: 5,
            recency: 38.0,
            age: 38.9,
            monetary: 0.0,
            total: 0.0,
        };
        let lapsed = CustomerSummary {
            frequency: 5,
            recency: 5.0,
            age: 38.9,
            monetary: 0.0,
            total: 0.0,
        };
        assert!(model.probability_alive(&recent) > model.probability_alive(&lapsed));
        assert!(model.expected_purchases(&recent, 39.0) > model.expected_purchases(&lapsed, 39.0));
        assert!(model.expected_purchases(&recent, 0.0) == 0.0);
    }
}
