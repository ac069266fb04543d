//! Phone numbers in E.164 form (`+14155550123`), parsed by the `phonenumber` crate and
//! validated against its numbering plans (see `phone_plan`).

use phonenumber::PhoneNumber;
use phonenumber::country::Id;
use phonenumber::metadata::DATABASE;

use super::phone_nanp::{self, NANP_CODE};
use super::phone_plan::{self, Standing};

/// What a phone field holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhoneReading {
    /// A number in its numbering plan, in E.164 form.
    Valid(String),
    /// Not a number in service: why, and its E.164 form when its digits are still
    /// evidence (see [`phone_evidence`]).
    Invalid {
        reason: String,
        evidence: Option<String>,
    },
}

/// Reads a phone field once: parsed as written and, only when that is not a valid
/// number, after a "00" prefix. Numbers without a `+` or an international prefix are
/// read as numbers of `default_region` (ISO alpha-2). "00" is taken as an international
/// prefix even where the region's own is another (the US dials "011"), since "00" is
/// the ITU recommendation that most of the world uses and people write it from habit.
/// An extension ("ext 12") is dropped: it does not identify the line.
pub fn read_phone(text: &str, default_region: &str) -> PhoneReading {
    let region = match parse_region(default_region) {
        Ok(region) => region,
        Err(reason) => {
            return PhoneReading::Invalid {
                reason,
                evidence: None,
            };
        }
    };
    let trimmed = text.trim();
    match phone_nanp::national_number(trimmed, region) {
        Some(national) => read_nanp(&national, region),
        None => read_parsed(trimmed, region),
    }
}

/// A North American national number (see `phone_nanp`): the reading [`read_parsed`]
/// gives the same digits, without the parser.
fn read_nanp(national: &str, default_region: Id) -> PhoneReading {
    let standing = phone_plan::standing_of(NANP_CODE, national);
    let e164 = format!("+{NANP_CODE}{national}");
    if standing.valid {
        return PhoneReading::Valid(e164);
    }
    PhoneReading::Invalid {
        reason: invalid_reason(
            &region_of(&standing, NANP_CODE).unwrap_or_else(|| default_region.as_ref().to_owned()),
        ),
        evidence: (!is_placeholder(national)).then_some(e164),
    }
}

/// [`read_phone`] through the phone library's parser.
fn read_parsed(trimmed: &str, region: Id) -> PhoneReading {
    let as_written = phonenumber::parse(Some(region), trimmed)
        .ok()
        .map(|number| (phone_plan::standing(&number), number));
    if let Some((_, number)) = as_written.as_ref().filter(|(standing, _)| standing.valid) {
        return PhoneReading::Valid(e164(number));
    }
    let after_double_zero = trimmed
        .strip_prefix("00")
        .and_then(|rest| phonenumber::parse(Some(region), format!("+{rest}")).ok());
    if let Some(number) = after_double_zero
        .as_ref()
        .filter(|number| phone_plan::standing(number).valid)
    {
        return PhoneReading::Valid(e164(number));
    }
    PhoneReading::Invalid {
        reason: invalid_for(as_written.as_ref(), region),
        evidence: as_written
            .as_ref()
            .map(|(_, number)| number)
            .or(after_double_zero.as_ref())
            .and_then(evidence_of),
    }
}

/// The E.164 form of a phone number, or why it is not a valid one (see
/// [`read_phone`]).
pub fn e164_phone(text: &str, default_region: &str) -> Result<String, String> {
    match read_phone(text, default_region) {
        PhoneReading::Valid(e164) => Ok(e164),
        PhoneReading::Invalid { reason, .. } => Err(reason),
    }
}

/// The fewest digits of a national number that is specific enough to be evidence
/// without being valid: shorter ones are local numbers without an area code.
const MIN_EVIDENCE_DIGITS: usize = 8;

/// The E.164 form of a number that is not in any numbering plan (an area code that
/// does not exist, as in `+1 421 616 3490`) but is written as a whole number: its
/// digits are as specific as a real number's, so two records that carry the same
/// digits agree exactly, while placeholders (`000-0000`, `555-555-5555`,
/// `123-456-7890`) are not evidence at all, since thousands of unrelated records carry
/// them. `None` for placeholders, fragments and text that is not a number; a valid
/// number is evidence as it is. The same reading as [`read_phone`]'s.
pub fn phone_evidence(text: &str, default_region: &str) -> Option<String> {
    match read_phone(text, default_region) {
        PhoneReading::Valid(e164) => Some(e164),
        PhoneReading::Invalid { evidence, .. } => evidence,
    }
}

fn evidence_of(number: &PhoneNumber) -> Option<String> {
    let national = number.national().value().to_string();
    if national.len() < MIN_EVIDENCE_DIGITS || is_placeholder(&national) {
        return None;
    }
    Some(e164(number))
}

/// "+", the country code and the national number with its leading zeros: what the
/// crate's E.164 formatter writes, without the national formatting patterns it matches
/// first and then does not use in this mode (about a seventh of the instructions of
/// reading a number).
fn e164(number: &PhoneNumber) -> String {
    format!("+{}{}", number.code().value(), number.national())
}

/// Digits that people type when they have no number: few distinct digits
/// (`5555555555`, `1212121212`) or a straight run (`1234567890`, `9876543210`).
fn is_placeholder(digits: &str) -> bool {
    let bytes = digits.as_bytes();
    let mut seen = [false; 10];
    for byte in bytes {
        seen[usize::from(byte - b'0')] = true;
    }
    let distinct = seen.iter().filter(|&&present| present).count();
    let steps: Vec<i16> = bytes
        .windows(2)
        .map(|pair| (i16::from(pair[1]) - i16::from(pair[0])).rem_euclid(10))
        .collect();
    let straight_run = steps.iter().all(|&step| step == 1) || steps.iter().all(|&step| step == 9);
    distinct < 4 || straight_run
}

fn parse_region(default_region: &str) -> Result<Id, String> {
    let upper = default_region.trim().to_ascii_uppercase();
    upper.parse::<Id>().map_err(|_| {
        format!("cannot be read: the default region {default_region:?} is not a known region")
    })
}

/// The reason names the region the number was read in: the one its country code
/// belongs to when it has one (its main region when the number is too broken to tell
/// which), the default region otherwise.
fn invalid_for(parsed: Option<&(Standing, PhoneNumber)>, default_region: Id) -> String {
    let region = parsed
        .and_then(|(standing, number)| region_of(standing, number.code().value()))
        .unwrap_or_else(|| default_region.as_ref().to_owned());
    invalid_reason(&region)
}

/// The number's own region, or the main region of its country code.
fn region_of(standing: &Standing, code: u16) -> Option<String> {
    standing.region.map(str::to_owned).or_else(|| {
        let regions = DATABASE.by_code(&code)?;
        let main = regions
            .iter()
            .find(|metadata| metadata.is_main_country_for_code())
            .or(regions.first())?;
        Some(main.id().to_owned())
    })
}

fn invalid_reason(region: &str) -> String {
    format!("is not a valid phone number for region {region}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Our E.164 writing against the crate's formatter, on numbers of many countries
    /// (Italy's national numbers keep their leading zeros) and on random digits.
    #[test]
    fn e164_is_what_the_crate_writes() {
        let mut texts: Vec<String> = [
            "+39 06 1234 5678",
            "+39 0123 456789",
            "+39 02 0000 1234",
            "+44 20 7946 0958",
            "+49 30 123456",
            "+81 3-1234-5678",
            "+1 415 555 0123",
            "+1 421 616 3490",
            "+225 07 12 34 56 78",
            "+7 495 123-45-67",
        ]
        .map(str::to_owned)
        .to_vec();
        let mut state = 11u64;
        for _ in 0..3_000 {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let code = [1, 7, 33, 39, 44, 49, 61, 81, 225, 354, 880][(state >> 60) as usize % 11];
            let length = 4 + (state >> 40) as usize % 11;
            let digits: String = (0..length)
                .map(|place| char::from(b'0' + ((state >> (place * 3 % 40)) % 10) as u8))
                .collect();
            texts.push(format!("+{code}{digits}"));
        }
        let mut compared = 0;
        for text in &texts {
            let Ok(number) = phonenumber::parse(Some(Id::US), text) else {
                continue;
            };
            let theirs = number.format().mode(phonenumber::Mode::E164).to_string();
            assert_eq!(e164(&number), theirs, "{text}");
            compared += 1;
        }
        assert!(compared > 2_000, "only {compared} numbers parsed");
    }

    /// The North American reading without the parser against the parser's own, on the
    /// shapes people and generators write (extensions, trunk and international
    /// prefixes, placeholders, area codes in and out of the plan, including ones that
    /// start with 0 or 1), in regions of the plan and outside it.
    #[test]
    fn north_american_shapes_read_as_the_parser_reads_them() {
        const SHAPES: [&str; 26] = [
            "A-B-C",
            "(A)B-C",
            "(A) B-C",
            "A.B.C",
            "ABC",
            " A B C ",
            "+1-A-B-C",
            "+1 A B C",
            "+1 (A) B-C",
            "+1ABC",
            "+ 1 A B C",
            "1-A-B-C",
            "1 (A) B C",
            "1ABC",
            "A-B-CxE",
            "(A)B-CxE",
            "A.B.C xE",
            "+1-A-B-CxE",
            "001-A-B-C",
            "001-A-B-CxE",
            "011 1 A B C",
            "A-B-Cx",
            "A-B-C ext E",
            "+ABC",
            "A-B",
            "(A) B-C-E",
        ];
        let mut state = 5u64;
        let mut digits = |count: usize| phone_plan::random_digits(&mut state, count);
        let mut numbers: Vec<[String; 4]> = (0..300)
            .map(|index| [digits(3), digits(3), digits(4), digits(1 + index % 5)])
            .collect();
        for (a, b, c) in [
            ("555", "555", "5555"),
            ("000", "000", "0000"),
            ("212", "121", "2121"),
            ("123", "456", "7890"),
            ("987", "654", "3210"),
            ("415", "555", "0123"),
            ("800", "555", "0199"),
        ] {
            numbers.push([a, b, c, "12"].map(str::to_owned));
        }
        let (mut compared, mut without_parser, mut valid_without_parser) = (0, 0, 0);
        for region in [Id::US, Id::CA, Id::JM, Id::GB] {
            for (index, [a, b, c, e]) in numbers.iter().enumerate() {
                // Every number in a handful of shapes, every shape many times.
                for shape in SHAPES.iter().skip(index % 5).step_by(5) {
                    let text = shape
                        .replace('A', a)
                        .replace('B', b)
                        .replace('C', c)
                        .replace('E', e);
                    let fast = phone_nanp::national_number(text.trim(), region).is_some();
                    let reading = read_phone(&text, region.as_ref());
                    assert_eq!(
                        reading,
                        read_parsed(text.trim(), region),
                        "{text:?} in {region:?}"
                    );
                    compared += 1;
                    without_parser += usize::from(fast);
                    valid_without_parser +=
                        usize::from(fast && matches!(reading, PhoneReading::Valid(_)));
                }
            }
        }
        println!(
            "{without_parser} of {compared} read without the parser, {valid_without_parser} valid"
        );
        assert!(
            without_parser * 3 > compared && without_parser < compared,
            "{without_parser} of {compared} read without the parser"
        );
        assert!(
            valid_without_parser * 4 > without_parser,
            "{valid_without_parser} of {without_parser} valid"
        );
    }

    #[test]
    fn reads_common_us_formats() {
        for text in [
            "(415) 555-0123",
            "415.555.0123",
            "415-555-0123",
            "4155550123",
            "1 415 555 0123",
            "+1 415 555 0123",
            "+1 (415) 555-0123",
            "001 415 555 0123",
            "011 1 415 555 0123",
            " 415 555 0123 ext. 12 ",
        ] {
            assert_eq!(
                e164_phone(text, "US").as_deref(),
                Ok("+14155550123"),
                "{text}"
            );
        }
    }

    #[test]
    fn international_numbers_keep_their_own_country() {
        assert_eq!(
            e164_phone("+44 20 7946 0018", "US").as_deref(),
            Ok("+442079460018")
        );
        assert_eq!(
            e164_phone("011 44 20 7946 0018", "US").as_deref(),
            Ok("+442079460018")
        );
        assert_eq!(
            e164_phone("00 44 20 7946 0018", "US").as_deref(),
            Ok("+442079460018")
        );
        assert_eq!(
            e164_phone("00 1 415 555 0123", "GB").as_deref(),
            Ok("+14155550123")
        );
    }

    #[test]
    fn national_numbers_use_the_default_region() {
        assert_eq!(
            e164_phone("020 7946 0018", "GB").as_deref(),
            Ok("+442079460018")
        );
        assert_eq!(
            e164_phone("06 12 34 56 78", "fr").as_deref(),
            Ok("+33612345678")
        );
        assert_eq!(
            e164_phone("030 1234567", "DE").as_deref(),
            Ok("+49301234567")
        );
    }

    #[test]
    fn rejects_numbers_that_are_not_valid() {
        assert_eq!(
            e164_phone("555-0123", "US").unwrap_err(),
            "is not a valid phone number for region US"
        );
        assert_eq!(
            e164_phone("(123) 555-0123", "US").unwrap_err(),
            "is not a valid phone number for region US"
        );
        assert_eq!(
            e164_phone("call me", "US").unwrap_err(),
            "is not a valid phone number for region US"
        );
        assert_eq!(
            e164_phone("+44 20 7946", "US").unwrap_err(),
            "is not a valid phone number for region GB"
        );
    }

    #[test]
    fn rejects_an_unknown_default_region() {
        let reason = e164_phone("415 555 0123", "ZZ").unwrap_err();
        assert!(reason.contains("not a known region"), "{reason}");
    }

    #[test]
    fn a_whole_number_outside_the_plan_is_evidence() {
        assert!(e164_phone("+14216163490", "US").is_err());
        assert_eq!(
            phone_evidence("+14216163490", "US").as_deref(),
            Some("+14216163490")
        );
        assert_eq!(
            phone_evidence("(421) 616-3490", "US").as_deref(),
            Some("+14216163490")
        );
    }

    #[test]
    fn placeholders_and_fragments_are_not_evidence() {
        for text in [
            "000-0000",
            "000-000-0000",
            "555-555-5555",
            "1212121212",
            "123-456-7890",
            "987-654-3210",
            "616-3490",
            "n/a",
            "call me",
            "",
        ] {
            assert_eq!(phone_evidence(text, "US"), None, "{text}");
        }
    }
}
