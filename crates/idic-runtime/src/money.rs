//! Money as people read it: amounts are stored and sent in minor units (cents), and
//! printed in the currency's major unit with as many decimals as its ISO 4217 minor
//! unit has (EUR 2, JPY 0, KWD 3). Every place that prints or parses an amount goes
//! through here, so that no one divides by 100 on their own.

use iso_currency::Currency;

/// Decimals of a currency's minor unit. ISO 4217 codes use the standard's table; codes
/// the standard gives no minor unit (gold, SDR, "XXX") count whole units; anything
/// else, two decimals, the common case.
pub fn minor_unit_exponent(currency: &str) -> u32 {
    match Currency::from_code(currency) {
        Some(known) => known.exponent().map_or(0, u32::from),
        None => 2,
    }
}

/// Minor units as a decimal amount of the major unit, for arithmetic (models, shares).
pub fn major_units(minor_units: i64, currency: &str) -> f64 {
    minor_units as f64 / 10f64.powi(exponent_i32(currency))
}

fn exponent_i32(currency: &str) -> i32 {
    i32::try_from(minor_unit_exponent(currency)).unwrap_or(2)
}

/// The exact decimal of `minor_units`: `-34.99` for -3499 EUR, `3499` for JPY,
/// `1.234` for 1234 KWD. Integer arithmetic, so every i64 prints exactly.
pub fn decimal(minor_units: i64, currency: &str) -> String {
    let exponent = minor_unit_exponent(currency);
    let sign = if minor_units < 0 { "-" } else { "" };
    let magnitude = minor_units.unsigned_abs();
    if exponent == 0 {
        return format!("{sign}{magnitude}");
    }
    let scale = 10u64.pow(exponent);
    let width = exponent as usize;
    format!("{sign}{}.{:0width$}", magnitude / scale, magnitude % scale)
}

/// `34.99 EUR`: the amount and its currency, as the timeline, the CLI and reports show it.
pub fn format_money(minor_units: i64, currency: &str) -> String {
    format!("{} {currency}", decimal(minor_units, currency))
}

/// A computed amount already in major units (a predicted spend, an average cost) with
/// the currency's decimals: `12.50 EUR`, `1250 JPY`.
pub fn format_major(major_units: f64, currency: &str) -> String {
    let decimals = minor_unit_exponent(currency) as usize;
    format!("{major_units:.decimals$} {currency}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponents_follow_iso_4217() {
        assert_eq!(minor_unit_exponent("EUR"), 2);
        assert_eq!(minor_unit_exponent("JPY"), 0);
        assert_eq!(minor_unit_exponent("KWD"), 3);
        assert_eq!(minor_unit_exponent("XAU"), 0);
        assert_eq!(minor_unit_exponent("ZZZ"), 2);
    }

    #[test]
    fn amounts_print_in_the_major_unit() {
        assert_eq!(format_money(3499, "EUR"), "34.99 EUR");
        assert_eq!(format_money(5, "EUR"), "0.05 EUR");
        assert_eq!(format_money(-3499, "EUR"), "-34.99 EUR");
        assert_eq!(format_money(-5, "EUR"), "-0.05 EUR");
        assert_eq!(format_money(3499, "JPY"), "3499 JPY");
        assert_eq!(format_money(-3499, "JPY"), "-3499 JPY");
        assert_eq!(format_money(1234, "KWD"), "1.234 KWD");
        assert_eq!(format_money(-1005, "KWD"), "-1.005 KWD");
        assert_eq!(format_money(0, "KWD"), "0.000 KWD");
    }

    #[test]
    fn extreme_amounts_print_exactly() {
        assert_eq!(decimal(i64::MAX, "EUR"), "92233720368547758.07");
        assert_eq!(decimal(i64::MIN, "EUR"), "-92233720368547758.08");
    }

    #[test]
    fn major_units_round_trip() {
        assert!((major_units(3499, "EUR") - 34.99).abs() < 1e-12);
        assert!((major_units(3499, "JPY") - 3499.0).abs() < 1e-12);
        assert!((major_units(1234, "KWD") - 1.234).abs() < 1e-12);
        assert_eq!(format_major(12.5, "EUR"), "12.50 EUR");
        assert_eq!(format_major(1250.4, "JPY"), "1250 JPY");
        assert_eq!(format_major(-1.2344, "KWD"), "-1.234 KWD");
    }
}
