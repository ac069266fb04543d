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

/// Customers sharing (x, t_x, T) enter the likelihood once, weighted; t_x and T are
/// indices into the distinct times, whose logarithms are computed once per evaluation
/// (with day-resolution data there are a few hundred of them, not one per customer).
#[derive(Debug, Clone, Copy)]
struct Group {
    frequency: u32,
    recency: u32,
    age: u32,
    weight: f64,
}

/// The data prepared for repeated evaluation.
struct Prepared {
    groups: Vec<Group>,
    times: Vec<f64>,
    max_frequency: usize,
}

fn prepare(customers: &[CustomerSummary]) -> Prepared {
    let mut times: Vec<f64> = customers.iter().flat_map(|c| [c.recency, c.age]).collect();
    times.sort_by(f64::total_cmp);
    times.dedup();
    let index_of = |time: f64| -> u32 {
        times
            .binary_search_by(|probe| probe.total_cmp(&time))
            .map_or(0, |i| i as u32)
    };
    let mut keys: Vec<(u32, u32, u32)> = customers
        .iter()
        .map(|c| (c.frequency, index_of(c.recency), index_of(c.age)))
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
            recency: key.1,
            age: key.2,
            weight: 1.0,
        });
    }
    let max_frequency = groups
        .iter()
        .map(|g| g.frequency as usize)
        .max()
        .unwrap_or(0);
    Prepared {
        groups,
        times,
        max_frequency,
    }
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
fn log_likelihood_with_gradient(parameters: &BgNbd, data: &Prepared) -> (f64, [f64; 4]) {
    let BgNbd { r, alpha, a, b } = *parameters;
    let max_frequency = data.max_frequency;
    let (log_r, inv_r) = rising_sums(r, max_frequency);
    let (log_b, inv_b) = rising_sums(b, max_frequency);
    let (log_ab, inv_ab) = rising_sums(a + b, max_frequency);
    // ln(b + x - 1) and 1/(b + x - 1) for x >= 1.
    let ln_b_x: Vec<f64> = (0..=max_frequency)
        .map(|x| (b + x as f64 - 1.0).ln())
        .collect();
    let ln_times: Vec<f64> = data.times.iter().map(|t| (alpha + t).ln()).collect();
    let inv_times: Vec<f64> = data.times.iter().map(|t| 1.0 / (alpha + t)).collect();
    let ln_alpha = alpha.ln();
    let ln_a = a.ln();
    let mut total = 0.0;
    let mut gradient = [0.0; 4];
    for group in &data.groups {
        let x = group.frequency as usize;
        let xf = f64::from(group.frequency);
        let ln_alpha_t = ln_times[group.age as usize];
        let inv_alpha_t = inv_times[group.age as usize];
        // A: the "still alive at T" part of the likelihood, in logs.
        let mut value = log_r[x] + r * ln_alpha - (r + xf) * ln_alpha_t + log_b[x] - log_ab[x];
        let mut d_r = inv_r[x] + ln_alpha - ln_alpha_t;
        let mut d_alpha = r / alpha - (r + xf) * inv_alpha_t;
        let mut d_a = -inv_ab[x];
        let mut d_b = inv_b[x] - inv_ab[x];
        if x > 0 {
            // ln(1 + D), D = a/(b+x-1) ((α+T)/(α+t_x))^(r+x): the "died after t_x" part.
            let delta = ln_alpha_t - ln_times[group.recency as usize];
            let ln_d = ln_a - ln_b_x[x] + (r + xf) * delta;
            let (log1p_d, share) = softplus(ln_d);
            value += log1p_d;
            d_r += share * delta;
            d_alpha += share * (r + xf) * (inv_alpha_t - inv_times[group.recency as usize]);
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
    log_likelihood_with_gradient(parameters, &prepare(customers)).0
}

/// Maximum-likelihood fit (BFGS over the logs of the parameters, so they stay
/// positive). None when there are no customers.
pub fn fit(customers: &[CustomerSummary]) -> Option<BgNbdFit> {
    if customers.is_empty() {
        return None;
    }
    let data = prepare(customers);
    let count = customers.len() as f64;
    let mean_age = customers.iter().map(|c| c.age).sum::<f64>() / count;
    let objective = |point: &[f64], gradient: &mut [f64]| {
        let parameters = from_logs(point);
        let (value, d) = log_likelihood_with_gradient(&parameters, &data);
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
    let start = warm_start(customers).unwrap_or([0.0, mean_age.max(1e-3).ln(), 0.0, 0.0]);
    let minimum = bfgs(objective, &start, 500, 1e-9);
    Some(BgNbdFit {
        parameters: from_logs(&minimum.point),
        log_likelihood: -minimum.value * count,
        iterations: minimum.iterations,
        converged: minimum.converged,
    })
}

/// Customers above which the fit starts from a fit on a strided sample: the full data
/// then needs a few iterations instead of fifty.
const WARM_START_ABOVE: usize = 20_000;
const WARM_START_SAMPLE: usize = 5_000;

/// The log-parameters fitted on an evenly strided sample, for large bases.
fn warm_start(customers: &[CustomerSummary]) -> Option<[f64; 4]> {
    if customers.len() <= WARM_START_ABOVE {
        return None;
    }
    let stride = customers.len().div_ceil(WARM_START_SAMPLE);
    let sample: Vec<CustomerSummary> = customers.iter().step_by(stride).copied().collect();
    let fitted = fit(&sample)?;
    let p = fitted.parameters;
    let point = [p.r.ln(), p.alpha.ln(), p.a.ln(), p.b.ln()];
    point.iter().all(|v| v.is_finite()).then_some(point)
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
        log_likelihood_with_gradient(self, &prepare(std::slice::from_ref(customer))).0
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
        let prepared = prepare(&data);
        let point = BgNbd {
            r: 0.7,
            alpha: 3.0,
            a: 0.9,
            b: 2.1,
        };
        let (_, gradient) = log_likelihood_with_gradient(&point, &prepared);
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
            log_likelihood_with_gradient(&moved, &prepared).0
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
