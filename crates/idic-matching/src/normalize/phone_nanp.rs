//! The common shape of a North American number, read from its digits without the phone
//! library's general parser: `(415) 555-0123`, `415.555.0123x12`, `+1 415 555 0123`,
//! `1-415-555-0123`. The general parser tokenizes, tries national and international
//! prefixes and formats, and was about a seventh of the instructions of a whole import
//! of a US customer file; these shapes leave it nothing to decide. Anything else
//! (another country, a "00" or "011" prefix, letters, an area code starting with 0 or
//! 1) is left to it.

use phonenumber::country::Id;
use phonenumber::metadata::DATABASE;

/// The country code the North American plan shares among its regions.
pub(super) const NANP_CODE: u16 = 1;

/// Digits of a national number in the plan: a three-digit area code, a three-digit
/// exchange and four digits.
const NATIONAL_DIGITS: usize = 10;

/// The ten-digit national number of `text` (already trimmed) when it is written in one
/// of the shapes above and read in a region of the plan; `None` when the general
/// parser has to decide. An extension after an `x` is dropped, as the parser drops it.
pub(super) fn national_number(text: &str, region: Id) -> Option<String> {
    if !dials_plus_one(region) {
        return None;
    }
    let number = without_extension(text)?;
    let (international, digits) = digits_of(number)?;
    let national = match (international, digits.len()) {
        (false, NATIONAL_DIGITS) => digits.as_str(),
        // "1" is both the country code and the plan's national (trunk) prefix.
        (_, 11) if digits.starts_with('1') => &digits[1..],
        _ => return None,
    };
    // An area code never starts with 0 or 1; such digits are read by the parser, which
    // may take the leading "1" for a trunk prefix.
    matches!(national.as_bytes()[0], b'2'..=b'9').then(|| national.to_owned())
}

fn dials_plus_one(region: Id) -> bool {
    DATABASE
        .by_id(region.as_ref())
        .is_some_and(|metadata| metadata.country_code() == NANP_CODE)
}

/// The number before an `x` followed by digits only; the text itself without an `x`.
fn without_extension(text: &str) -> Option<&str> {
    match text.split_once('x') {
        None => Some(text),
        Some((number, extension))
            if !extension.is_empty() && extension.bytes().all(|byte| byte.is_ascii_digit()) =>
        {
            Some(number.trim_end())
        }
        Some(_) => None,
    }
}

/// Whether the number starts with `+`, and its digits, when it holds nothing but
/// digits and the separators people write between them; at most 11 digits.
fn digits_of(number: &str) -> Option<(bool, String)> {
    let (international, rest) = match number.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, number),
    };
    let mut digits = String::with_capacity(11);
    for byte in rest.bytes() {
        match byte {
            b'0'..=b'9' if digits.len() < 11 => digits.push(char::from(byte)),
            b' ' | b'-' | b'.' | b'(' | b')' => {}
            _ => return None,
        }
    }
    Some((international, digits))
}
