//! The documented ranges of numbers and instants a request may carry, checked at the
//! edge by every handler, so that what is stored can always be read and summed.
//!
//! - Money: at most [`MAX_MONEY_MINOR_UNITS`] (10^15 minor units, ten trillion in a
//!   two-decimal currency) per amount, cost or price. Sums over any number of stored
//!   amounts are computed without overflow (see [`crate::storage::sum_sql`]).
//! - Quantities: at most [`MAX_QUANTITY`] per order line.
//! - Instants: from 1970-01-01T00:00:00Z (inclusive) to 2200-01-01T00:00:00Z
//!   (exclusive), nanos within 0..1e9. Earlier instants are not customer contacts or
//!   orders of this system; later ones are typing mistakes.

use crate::error::FieldViolation;
use crate::storage::micros_from_timestamp;

/// The largest absolute amount of money in one field, in minor units.
pub const MAX_MONEY_MINOR_UNITS: i64 = 1_000_000_000_000_000;
/// The largest quantity of one order line.
pub const MAX_QUANTITY: u32 = 1_000_000;
/// The earliest instant accepted, in seconds since the Unix epoch (1970-01-01).
pub const MIN_INSTANT_SECONDS: i64 = 0;
/// The first instant no longer accepted, in seconds since the Unix epoch (2200-01-01).
pub const END_INSTANT_SECONDS: i64 = 7_258_118_400;

/// Checks an amount of money in minor units (of either sign: callers that need a
/// non-negative one say so themselves).
pub fn check_money(minor_units: i64, field: &str) -> Result<i64, FieldViolation> {
    if minor_units.unsigned_abs() > MAX_MONEY_MINOR_UNITS.unsigned_abs() {
        return Err(FieldViolation::new(
            field,
            format!("must be at most {MAX_MONEY_MINOR_UNITS} minor units in absolute value"),
        ));
    }
    Ok(minor_units)
}

/// Checks the quantity of an order line.
pub fn check_quantity(quantity: u32, field: &str) -> Result<u32, FieldViolation> {
    if quantity > MAX_QUANTITY {
        return Err(FieldViolation::new(
            field,
            format!("must be at most {MAX_QUANTITY}"),
        ));
    }
    Ok(quantity)
}

/// An instant of a request, in storage format (microseconds since the epoch).
pub fn instant_micros(
    timestamp: &prost_types::Timestamp,
    field: &str,
) -> Result<i64, FieldViolation> {
    let in_range = (MIN_INSTANT_SECONDS..END_INSTANT_SECONDS).contains(&timestamp.seconds)
        && (0..1_000_000_000).contains(&timestamp.nanos);
    if !in_range {
        return Err(FieldViolation::new(
            field,
            "must be a valid time from 1970-01-01 to 2199-12-31 (nanos within 0..1e9)",
        ));
    }
    Ok(micros_from_timestamp(timestamp))
}

/// An instant in storage format is within the accepted range (for instants that did
/// not come as a protobuf timestamp, such as Segment's ISO 8601 text).
pub fn instant_in_range(micros: i64) -> bool {
    (MIN_INSTANT_SECONDS * 1_000_000..END_INSTANT_SECONDS * 1_000_000).contains(&micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64, nanos: i32) -> prost_types::Timestamp {
        prost_types::Timestamp { seconds, nanos }
    }

    #[test]
    fn money_beyond_the_bound_is_refused_with_its_field() {
        assert_eq!(
            check_money(MAX_MONEY_MINOR_UNITS, "amount"),
            Ok(MAX_MONEY_MINOR_UNITS)
        );
        assert_eq!(
            check_money(-MAX_MONEY_MINOR_UNITS, "amount"),
            Ok(-MAX_MONEY_MINOR_UNITS)
        );
        for too_much in [MAX_MONEY_MINOR_UNITS + 1, i64::MAX, i64::MIN] {
            let violation = check_money(too_much, "amount.minor_units").unwrap_err();
            assert_eq!(violation.field, "amount.minor_units");
        }
        assert!(check_quantity(MAX_QUANTITY, "quantity").is_ok());
        assert!(check_quantity(u32::MAX, "quantity").is_err());
    }

    #[test]
    fn instants_outside_1970_to_2200_are_refused() {
        assert!(instant_micros(&at(0, 0), "t").is_ok());
        assert!(instant_micros(&at(END_INSTANT_SECONDS - 1, 999_999_999), "t").is_ok());
        // Year 1, year 9999, negative seconds, out-of-range nanos.
        for bad in [
            at(-62_135_596_800, 0),
            at(253_402_300_799, 0),
            at(-1, 0),
            at(1_700_000_000, -1),
            at(1_700_000_000, 1_000_000_000),
            at(END_INSTANT_SECONDS, 0),
        ] {
            assert_eq!(
                instant_micros(&bad, "occurred_at").unwrap_err().field,
                "occurred_at"
            );
        }
        assert!(instant_in_range(1_700_000_000_000_000));
        assert!(!instant_in_range(-1));
    }
}
