//! Special functions the likelihoods need: log-gamma and digamma, accurate to about
//! 1e-13 for positive arguments (no external crate: two short, well-known series).

/// ln Γ(x) for x > 0 (Lanczos approximation, g = 7, n = 9).
pub fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const COEFFICIENTS: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection keeps the series in its accurate range.
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let shifted = x - 1.0;
    let mut series = COEFFICIENTS[0];
    for (index, coefficient) in COEFFICIENTS.iter().enumerate().skip(1) {
        series += coefficient / (shifted + index as f64);
    }
    let t = shifted + G + 0.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (shifted + 0.5) * t.ln() - t + series.ln()
}

/// ψ(x) = d/dx ln Γ(x) for x > 0: recurrence up to x >= 10, then the asymptotic series.
pub fn digamma(x: f64) -> f64 {
    let mut value = 0.0;
    let mut shifted = x;
    while shifted < 10.0 {
        value -= 1.0 / shifted;
        shifted += 1.0;
    }
    let inverse = 1.0 / shifted;
    let inverse_squared = inverse * inverse;
    value + shifted.ln()
        - 0.5 * inverse
        - inverse_squared
            * (1.0 / 12.0
                - inverse_squared
                    * (1.0 / 120.0
                        - inverse_squared
                            * (1.0 / 252.0
                                - inverse_squared * (1.0 / 240.0 - inverse_squared / 132.0))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ln_gamma_matches_factorials_and_half() {
        assert!((ln_gamma(1.0)).abs() < 1e-13);
        assert!((ln_gamma(5.0) - 24f64.ln()).abs() < 1e-12);
        assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-12);
        assert!((ln_gamma(100.0) - 359.134_205_369_575_4).abs() < 1e-9);
    }

    #[test]
    fn digamma_matches_known_values() {
        let euler = 0.577_215_664_901_532_9;
        assert!((digamma(1.0) + euler).abs() < 1e-12);
        assert!((digamma(0.5) + euler + 2.0 * 2f64.ln()).abs() < 1e-12);
        // ψ(x + 1) = ψ(x) + 1/x
        assert!((digamma(3.7) - digamma(2.7) - 1.0 / 2.7).abs() < 1e-12);
    }
}
