//! Whether a fitted model can be trusted: did the optimizer converge, do the data pin
//! the parameters down, and what the predictions fall back to where they cannot.
//!
//! The fits run over the logarithms of the parameters, so a parameter the data do not
//! determine drifts towards 0 or infinity while the likelihood flattens, and the
//! optimizer may still report convergence (the gradient vanishes on a plateau). Such a
//! parameter sits "at a bound": outside [`LOWER_BOUND`, `UPPER_BOUND`], far beyond any
//! value seen on real purchase data (CDNOW: 0.24 to 15).

use crate::bgnbd::BgNbdFit;
use crate::gamma_gamma::GammaGammaFit;

// The bounds are a leaf of their own: the fits check them too.
pub use crate::bounds::{LOWER_BOUND, UPPER_BOUND, within_bounds};

/// Fewer customers than this leave estimates too uncertain to act on without a look.
pub const FEW_CUSTOMERS: usize = 100;

/// How one fit went, for the response and the CLI.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Diagnostics {
    /// The optimizer met its gradient tolerance within its iteration limit.
    pub converged: bool,
    /// Every parameter is inside the bounds: the data determine each of them.
    pub identified: bool,
    /// What is wrong and what the predictions do about it, one sentence each.
    pub warnings: Vec<String>,
}

impl Diagnostics {
    fn new(converged: bool, iterations: usize) -> Self {
        let mut warnings = Vec::new();
        if !converged {
            warnings.push(format!(
                "the fit did not converge in {iterations} iterations: the parameters are the last estimate, not a maximum of the likelihood"
            ));
        }
        Diagnostics {
            converged,
            identified: true,
            warnings,
        }
    }

    /// Marks `name` unidentified when outside the bounds; true when it was.
    fn check_bound(&mut self, model: &str, name: &str, value: f64) -> bool {
        let at_bound = !within_bounds(value);
        if at_bound {
            self.identified = false;
            self.warnings.push(format!(
                "{model} {name}={value:.4e} is at the edge of the parameter space: the data do not determine it"
            ));
        }
        at_bound
    }

    fn check_size(&mut self, what: &str, customers: usize) {
        if customers < FEW_CUSTOMERS {
            self.warnings.push(format!(
                "fitted on {customers} {what} only (fewer than {FEW_CUSTOMERS}): the estimates are uncertain"
            ));
        }
    }
}

/// BG/NBD: convergence, each parameter's bounds, and what a dropout process that the
/// data do not show means for the predictions.
pub fn bg_nbd(fit: &BgNbdFit, customers: usize) -> Diagnostics {
    let mut diagnostics = Diagnostics::new(fit.converged, fit.iterations);
    let p = fit.parameters;
    let mut dropout_at_bound = false;
    diagnostics.check_bound("BG/NBD", "r", p.r);
    diagnostics.check_bound("BG/NBD", "alpha", p.alpha);
    dropout_at_bound |= diagnostics.check_bound("BG/NBD", "a", p.a);
    dropout_at_bound |= diagnostics.check_bound("BG/NBD", "b", p.b);
    if dropout_at_bound {
        diagnostics.warnings.push(
            "the dropout process (a, b) is not identified: predictions of purchases and of P(alive) rest on the purchase rate alone; compare them with a holdout period before acting on them"
                .to_owned(),
        );
    }
    diagnostics.check_size("customers", customers);
    diagnostics
}

/// Gamma-Gamma: convergence, bounds, and whether the mean spend exists (q > 1).
pub fn gamma_gamma(fit: &GammaGammaFit) -> Diagnostics {
    let mut diagnostics = Diagnostics::new(fit.converged, fit.iterations);
    let p = fit.parameters;
    diagnostics.check_bound("Gamma-Gamma", "p", p.p);
    diagnostics.check_bound("Gamma-Gamma", "q", p.q);
    diagnostics.check_bound("Gamma-Gamma", "gamma", p.gamma);
    if !p.has_finite_mean() {
        diagnostics.identified = false;
        diagnostics.warnings.push(format!(
            "Gamma-Gamma q={:.4} <= 1: the mean spend per transaction is not finite under the model",
            p.q
        ));
    }
    if !p.is_identified() {
        diagnostics.warnings.push(
            "spend per transaction is predicted by each customer's own mean spend per transaction, not by Gamma-Gamma"
                .to_owned(),
        );
    }
    diagnostics.check_size("repeat customers", fit.customers);
    diagnostics
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bgnbd::BgNbd;
    use crate::gamma_gamma::GammaGamma;

    fn bg_fit(a: f64, b: f64, converged: bool) -> BgNbdFit {
        BgNbdFit {
            parameters: BgNbd {
                r: 0.243,
                alpha: 4.414,
                a,
                b,
            },
            log_likelihood: -9582.4,
            iterations: 20,
            converged,
        }
    }

    #[test]
    fn a_sound_fit_has_no_warning() {
        let diagnostics = bg_nbd(&bg_fit(0.793, 2.426, true), 2357);
        assert!(diagnostics.converged && diagnostics.identified);
        assert!(diagnostics.warnings.is_empty(), "{diagnostics:?}");
    }

    #[test]
    fn dropout_at_the_bounds_is_reported() {
        let diagnostics = bg_nbd(&bg_fit(1e-9, 161_209.0, true), 400);
        assert!(diagnostics.converged);
        assert!(!diagnostics.identified);
        let text = diagnostics.warnings.join("\n");
        assert!(text.contains("BG/NBD a=1.0000e-9"), "{text}");
        assert!(text.contains("BG/NBD b="), "{text}");
        assert!(text.contains("dropout process"), "{text}");
    }

    #[test]
    fn no_convergence_and_few_customers_are_reported() {
        let diagnostics = bg_nbd(&bg_fit(0.793, 2.426, false), 40);
        assert!(!diagnostics.converged);
        assert!(diagnostics.identified);
        assert_eq!(diagnostics.warnings.len(), 2, "{diagnostics:?}");
    }

    #[test]
    fn gamma_gamma_without_a_finite_mean_is_reported() {
        let fit = GammaGammaFit {
            parameters: GammaGamma {
                p: 2.0,
                q: 0.8453,
                gamma: 10.0,
            },
            log_likelihood: -100.0,
            customers: 250,
            iterations: 30,
            converged: true,
        };
        let diagnostics = gamma_gamma(&fit);
        assert!(!diagnostics.identified);
        assert!(diagnostics.warnings[0].contains("q=0.8453"));
        assert!(diagnostics.warnings[1].contains("own mean spend"));
    }
}
