//! A second damage model, unlike the generator's own (issue 14, item 5): the kinds of
//! damage public linkage benchmarks and real files show and our rules were not tuned
//! on. Applied to generated records after the fact, each damage independently:
//! a value replaced by another record's value of the same field, given and family
//! names swapped, a digit of the national id mistyped, an impossible birth date, an
//! invalid phone number, a field left out. Unlike the first model, it does not keep
//! values well-formed.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::GeneratedRecord;

/// How often each damage hits a record (each independently).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DamageRates {
    /// Given name, family name, birth date or street replaced by another record's.
    pub replaced_value: f64,
    pub swapped_names: f64,
    pub national_id_typo: f64,
    /// A 30th of February, a 13th month.
    pub impossible_date: f64,
    /// A phone number with an area code that does not exist.
    pub invalid_phone: f64,
    /// Given name, birth date, e-mail, phone or postcode left empty.
    pub missing_field: f64,
}

impl Default for DamageRates {
    fn default() -> Self {
        DamageRates {
            replaced_value: 0.05,
            swapped_names: 0.03,
            national_id_typo: 0.05,
            impossible_date: 0.01,
            invalid_phone: 0.05,
            missing_field: 0.10,
        }
    }
}

/// Damages `records` in place, reproducibly for `seed`. Only records of the same
/// generation lend their values, so a replaced value is a plausible one.
pub fn apply_second_damage(records: &mut [GeneratedRecord], rates: &DamageRates, seed: u64) {
    if records.len() < 2 {
        return;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5EC0_4D00_DA4A_6E00);
    let donors: Vec<GeneratedRecord> = records.to_vec();
    for record in records.iter_mut() {
        if rng.random_bool(rates.replaced_value) {
            let donor = &donors[rng.random_range(0..donors.len())];
            match rng.random_range(0..4) {
                0 => record.given_name = donor.given_name.clone(),
                1 => record.family_name = donor.family_name.clone(),
                2 => record.date_of_birth = donor.date_of_birth.clone(),
                _ => {
                    record.street_number = donor.street_number.clone();
                    record.street = donor.street.clone();
                }
            }
        }
        if rng.random_bool(rates.swapped_names) {
            std::mem::swap(&mut record.given_name, &mut record.family_name);
        }
        if !record.national_id.is_empty() && rng.random_bool(rates.national_id_typo) {
            record.national_id = digit_typo(&mut rng, &record.national_id);
        }
        if !record.date_of_birth.is_empty() && rng.random_bool(rates.impossible_date) {
            record.date_of_birth = impossible_date(&mut rng, &record.date_of_birth);
        }
        if !record.phone.is_empty() && rng.random_bool(rates.invalid_phone) {
            // 555-01xx numbers aside, area codes starting with 0 or 1 do not exist.
            record.phone = format!(
                "+1 {}55 {:03} {:04}",
                rng.random_range(0..2),
                rng.random_range(200..1000),
                rng.random_range(0..10_000)
            );
        }
        if rng.random_bool(rates.missing_field) {
            match rng.random_range(0..5) {
                0 => record.given_name.clear(),
                1 => record.date_of_birth.clear(),
                2 => record.email.clear(),
                3 => record.phone.clear(),
                _ => record.postcode.clear(),
            }
        }
    }
}

/// One digit replaced by another.
fn digit_typo(rng: &mut impl Rng, value: &str) -> String {
    let digits: Vec<usize> = value
        .char_indices()
        .filter(|(_, c)| c.is_ascii_digit())
        .map(|(at, _)| at)
        .collect();
    let Some(&at) = digits.get(rng.random_range(0..digits.len().max(1))) else {
        return value.to_owned();
    };
    let old = value.as_bytes()[at] - b'0';
    let new = (old + rng.random_range(1..10)) % 10;
    let mut bytes = value.as_bytes().to_vec();
    bytes[at] = b'0' + new;
    String::from_utf8(bytes).unwrap_or_else(|_| value.to_owned())
}

/// The year kept, month and day made impossible (`YYYY-02-30`, `YYYY-13-01`).
fn impossible_date(rng: &mut impl Rng, date: &str) -> String {
    let year = date.get(..4).unwrap_or("1970");
    if rng.random_bool(0.5) {
        format!("{year}-02-30")
    } else {
        format!("{year}-13-{:02}", rng.random_range(1..29))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_digit_typo_changes_exactly_one_digit() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..100 {
            let typo = digit_typo(&mut rng, "123-45-6789");
            let changed = typo
                .bytes()
                .zip("123-45-6789".bytes())
                .filter(|(a, b)| a != b)
                .count();
            assert_eq!(changed, 1, "{typo}");
        }
    }

    #[test]
    fn impossible_dates_do_not_exist() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        for _ in 0..20 {
            let date = impossible_date(&mut rng, "1984-03-02");
            assert!(
                date == "1984-02-30" || date.starts_with("1984-13-"),
                "{date}"
            );
        }
    }
}
