//! Where a fitted parameter stops being one the data determine (see
//! [`crate::diagnostics`]): a leaf both the fits and their diagnostics use.

/// Below this a parameter is taken for 0: the data push it out of the model.
pub const LOWER_BOUND: f64 = 1e-4;
/// Above this a parameter is taken for infinite.
pub const UPPER_BOUND: f64 = 1e4;
/// Whether a fitted parameter is one the data determine (see the module's note).
pub fn within_bounds(value: f64) -> bool {
    value.is_finite() && (LOWER_BOUND..=UPPER_BOUND).contains(&value)
}
