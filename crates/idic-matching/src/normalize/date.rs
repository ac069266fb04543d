//! Dates of birth: `YYYY-MM-DD` or `YYYYMMDD`, a day that exists, from 1900 up to today.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::record::Date;

const EARLIEST_YEAR: u16 = 1900;

/// Parses a date of birth, `YYYY-MM-DD` or `YYYYMMDD`, and rejects days that do not
/// exist, years before 1900 and dates in the future (by the system clock; "today"
/// reaches one day past the UTC date, since it is already tomorrow east of UTC).
pub fn parse_date(text: &str) -> Result<Date, String> {
    parse_date_until(text, latest_birth_date())
}

/// `parse_date` with the latest acceptable date given, so that tests need no clock.
pub(super) fn parse_date_until(text: &str, latest: Date) -> Result<Date, String> {
    let date = parse_digits(text.trim())
        .ok_or_else(|| "is not a date in the form YYYY-MM-DD or YYYYMMDD".to_owned())?;
    if date.month == 0
        || date.month > 12
        || date.day == 0
        || date.day > days_in_month(date.year, date.month)
    {
        return Err("is not a date that exists".to_owned());
    }
    if date.year < EARLIEST_YEAR {
        return Err(format!(
            "is before {EARLIEST_YEAR}: a date of birth must be {EARLIEST_YEAR} or later"
        ));
    }
    if date > latest {
        return Err("is in the future, and a date of birth cannot be".to_owned());
    }
    Ok(date)
}

/// Year, month and day fields as written; whether they make a real day is checked later.
fn parse_digits(text: &str) -> Option<Date> {
    let bytes = text.as_bytes();
    let (year, month, day) = match bytes.len() {
        10 if bytes[4] == b'-' && bytes[7] == b'-' => (&bytes[0..4], &bytes[5..7], &bytes[8..10]),
        8 => (&bytes[0..4], &bytes[4..6], &bytes[6..8]),
        _ => return None,
    };
    Some(Date {
        year: decimal(year)?,
        month: u8::try_from(decimal(month)?).ok()?,
        day: u8::try_from(decimal(day)?).ok()?,
    })
}

fn decimal(digits: &[u8]) -> Option<u16> {
    digits.iter().try_fold(0u16, |value, &byte| {
        byte.is_ascii_digit()
            .then(|| value * 10 + u16::from(byte - b'0'))
    })
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

fn is_leap_year(year: u16) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

/// Tomorrow by UTC: the latest day that is "today" somewhere on Earth (UTC+14 at most).
fn latest_birth_date() -> Date {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since_epoch| since_epoch.as_secs());
    let days = i64::try_from(seconds / 86_400).unwrap_or(i64::MAX / 2);
    civil_from_days(days + 1)
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> Date {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    Date {
        year: u16::try_from(year).unwrap_or(u16::MAX),
        month: u8::try_from(month).unwrap_or(1),
        day: u8::try_from(day).unwrap_or(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LATEST: Date = Date {
        year: 2025,
        month: 6,
        day: 15,
    };

    fn date(year: u16, month: u8, day: u8) -> Date {
        Date { year, month, day }
    }

    #[test]
    fn reads_both_forms() {
        assert_eq!(
            parse_date_until("1984-02-29", LATEST),
            Ok(date(1984, 2, 29))
        );
        assert_eq!(parse_date_until("19840229", LATEST), Ok(date(1984, 2, 29)));
        assert_eq!(
            parse_date_until(" 2000-12-31 ", LATEST),
            Ok(date(2000, 12, 31))
        );
        assert_eq!(parse_date_until("1900-01-01", LATEST), Ok(date(1900, 1, 1)));
        assert_eq!(parse_date_until("2025-06-15", LATEST), Ok(LATEST));
    }

    #[test]
    fn rejects_other_forms() {
        for text in [
            "1984/02/29",
            "29-02-1984",
            "1984-2-29",
            "84-02-29",
            "1984-02-2x",
            "",
            "198402290",
            "+984-02-29",
        ] {
            assert_eq!(
                parse_date_until(text, LATEST).unwrap_err(),
                "is not a date in the form YYYY-MM-DD or YYYYMMDD",
                "{text}"
            );
        }
    }

    #[test]
    fn rejects_days_that_do_not_exist() {
        for text in [
            "2023-02-29",
            "2023-02-30",
            "1900-02-29",
            "2001-13-01",
            "2001-00-10",
            "2001-04-31",
            "2001-01-00",
            "20010132",
        ] {
            assert_eq!(
                parse_date_until(text, LATEST).unwrap_err(),
                "is not a date that exists",
                "{text}"
            );
        }
        assert!(parse_date_until("2000-02-29", LATEST).is_ok());
    }

    #[test]
    fn rejects_dates_before_1900_and_in_the_future() {
        assert!(
            parse_date_until("1899-12-31", LATEST)
                .unwrap_err()
                .starts_with("is before 1900")
        );
        assert!(
            parse_date_until("2025-06-16", LATEST)
                .unwrap_err()
                .starts_with("is in the future")
        );
        assert!(
            parse_date_until("9999-01-01", LATEST)
                .unwrap_err()
                .starts_with("is in the future")
        );
    }

    #[test]
    fn the_clock_version_accepts_the_past_and_rejects_the_far_future() {
        assert_eq!(parse_date("1970-01-01"), Ok(date(1970, 1, 1)));
        assert!(parse_date("2999-01-01").is_err());
    }

    #[test]
    fn civil_from_days_matches_known_dates() {
        assert_eq!(civil_from_days(0), date(1970, 1, 1));
        assert_eq!(civil_from_days(11_016), date(2000, 2, 29));
        assert_eq!(civil_from_days(19_723), date(2024, 1, 1));
        assert_eq!(civil_from_days(-1), date(1969, 12, 31));
    }
}
