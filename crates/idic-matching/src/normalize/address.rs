//! Postal addresses in comparable form: folded parts, one spelling per street type,
//! directional and unit designator, the house number in its own field.

use super::country::{normalize_country, us_state_code};
use super::name::{fold_into, fold_name};
use crate::record::{NormalizedAddress, RawAddress};

/// The comparable form of an address. Every part is folded; in the street, street
/// types and directionals take one abbreviation ("Avenue" -> "ave", "North" -> "n"),
/// a unit ("Apt 4", "Suite 200", "#4", here or in `address_line2`) moves to `unit` as
/// "unit 4", and a leading house number moves to `street_number` when that is empty.
/// A second line without a unit designator is kept as the unit, folded. The postcode
/// is upper case without spaces; US state names become postal codes ("new york" ->
/// "ny"). An empty country is `default_region`; a country that is not recognised is
/// left empty (`normalize_record` reports it as a field error).
pub fn normalize_address(raw: &RawAddress, default_region: &str) -> NormalizedAddress {
    let country = normalize_country(&raw.country, default_region).unwrap_or_default();
    normalize_address_in(raw, country)
}

/// `normalize_address` with the country already normalized, for callers that check
/// the country themselves.
pub(super) fn normalize_address_in(raw: &RawAddress, country: String) -> NormalizedAddress {
    let mut street_folded = String::with_capacity(raw.street.len());
    fold_into(&raw.street, &mut street_folded, true);
    let mut street_words: Vec<&str> = street_folded
        .split(' ')
        .filter(|word| !word.is_empty())
        .collect();
    drop_leading_number_marker(&mut street_words);
    let street_unit = take_unit(&mut street_words);

    let mut line2_folded = String::with_capacity(raw.address_line2.len());
    fold_into(&raw.address_line2, &mut line2_folded, true);
    let mut line2_words: Vec<&str> = line2_folded
        .split(' ')
        .filter(|word| !word.is_empty())
        .collect();
    let line2_unit = take_unit(&mut line2_words);

    let unit = match street_unit.or(line2_unit) {
        Some(value) => format!("unit {value}"),
        None => match line2_words.as_slice() {
            [single] if single.bytes().any(|byte| byte.is_ascii_digit()) => {
                format!("unit {}", single.trim_matches('#'))
            }
            words => join_words(words, |word, out| out.push_str(word)),
        },
    };

    let mut street_number = fold_name(&raw.street_number);
    if street_number.is_empty() {
        // Keep at least one word of street name: "12" alone is not a street.
        let numbers = street_words
            .iter()
            .take(street_words.len().saturating_sub(1))
            .take_while(|word| is_house_number(word))
            .count();
        if numbers > 0 {
            street_number = street_words[..numbers].join(" ");
            street_words.drain(..numbers);
        }
    } else if street_words.len() > 1 && street_words.first() == Some(&street_number.as_str()) {
        // The source gave the number twice ("12" and "12 High Street").
        street_words.remove(0);
    }
    let street = join_words(&street_words, push_abbreviated);

    let mut region = fold_name(&raw.region);
    if country == "US"
        && let Some(code) = us_state_code(&region)
    {
        region = code.to_owned();
    }

    NormalizedAddress {
        street_number: street_number.into(),
        street: street.into(),
        unit: unit.into(),
        locality: fold_name(&raw.locality).into(),
        postcode: postcode(&raw.postcode, &country).into(),
        region: region.into(),
        country: country.into(),
    }
}

/// Upper case without spaces. A US ZIP+4 keeps its five-digit ZIP: sources give one
/// or the other for the same address, and the ZIP alone places it.
fn postcode(raw: &str, country: &str) -> String {
    let compact: String = raw
        .chars()
        .filter(|ch| !ch.is_whitespace())
        .map(|ch| ch.to_ascii_uppercase())
        .collect();
    if country == "US"
        && compact.len() == 10
        && compact.as_bytes()[5] == b'-'
        && compact[..5].bytes().all(|b| b.is_ascii_digit())
    {
        return compact[..5].to_owned();
    }
    if country == "US" && compact.len() == 9 && compact.bytes().all(|b| b.is_ascii_digit()) {
        return compact[..5].to_owned();
    }
    compact
}

/// "No 12 High St": "No" marks the house number here, not a unit.
fn drop_leading_number_marker(words: &mut Vec<&str>) {
    if words.len() > 2 && matches!(words[0], "no" | "nr" | "number") && is_house_number(words[1]) {
        words.remove(0);
    }
}

/// Removes the first unit designation ("apt 4", "suite b", "#4", "# 4") from `words`
/// and returns the unit's value ("4").
fn take_unit<'a>(words: &mut Vec<&'a str>) -> Option<&'a str> {
    for index in 0..words.len() {
        let word = words[index];
        let next = words.get(index + 1).map(|next| next.trim_matches('#'));
        if let Some(rest) = word.strip_prefix('#') {
            let rest = rest.trim_matches('#');
            if !rest.is_empty() {
                words.remove(index);
                return Some(rest);
            }
            if let Some(next) = next
                && !next.is_empty()
            {
                words.drain(index..=index + 1);
                return Some(next);
            }
        } else if is_unit_designator(word)
            && let Some(next) = next
            && is_unit_value(word, next)
        {
            words.drain(index..=index + 1);
            return Some(next);
        }
    }
    None
}

fn is_unit_designator(word: &str) -> bool {
    matches!(
        word,
        "apartment" | "apt" | "appt" | "unit" | "suite" | "ste" | "flat" | "no"
    )
}

/// "4", "4b", "b12", or a single letter ("Flat B"); "No" needs a digit, since "No"
/// also starts ordinary words of a street name in some languages.
fn is_unit_value(designator: &str, value: &str) -> bool {
    value.bytes().any(|byte| byte.is_ascii_digit())
        || (designator != "no"
            && value.len() == 1
            && value.bytes().all(|byte| byte.is_ascii_alphabetic()))
}

/// "12", "12a": digits, then at most one letter ("5th" is a street name).
fn is_house_number(word: &str) -> bool {
    let digits = word.bytes().take_while(u8::is_ascii_digit).count();
    let rest = &word.as_bytes()[digits..];
    digits > 0 && (rest.is_empty() || (rest.len() == 1 && rest[0].is_ascii_alphabetic()))
}

fn join_words(words: &[&str], push: impl Fn(&str, &mut String)) -> String {
    let mut joined = String::new();
    for word in words {
        // '#' was kept only to find units; it is not part of any word.
        if word.bytes().all(|byte| byte == b'#') {
            continue;
        }
        if !joined.is_empty() {
            joined.push(' ');
        }
        if word.contains('#') {
            joined.extend(word.chars().filter(|ch| *ch != '#'));
        } else {
            push(word, &mut joined);
        }
    }
    joined
}

fn push_abbreviated(word: &str, out: &mut String) {
    if let Some(abbreviation) = street_abbreviation(word) {
        out.push_str(abbreviation);
    } else if let Some(stem) = word.strip_suffix("strasse")
        && !stem.is_empty()
    {
        // German streets glue the type on: "Hauptstraße" and "Hauptstr." are one street.
        out.push_str(stem);
        out.push_str("str");
    } else {
        out.push_str(word);
    }
}

/// One spelling per street type and directional (USPS-style abbreviations).
fn street_abbreviation(word: &str) -> Option<&'static str> {
    let abbreviation = match word {
        "street" | "str" | "st" | "strasse" => "st",
        "road" | "rd" => "rd",
        "avenue" | "av" | "ave" | "aven" | "avn" => "ave",
        "boulevard" | "blvd" | "boul" | "boulv" => "blvd",
        "drive" | "drv" | "dr" => "dr",
        "lane" | "ln" => "ln",
        "court" | "crt" | "ct" => "ct",
        "place" | "pl" => "pl",
        "square" | "sqr" | "sq" => "sq",
        "terrace" | "terr" | "ter" => "ter",
        "highway" | "hiway" | "hwy" => "hwy",
        "parkway" | "parkwy" | "pky" | "pkwy" => "pkwy",
        "crescent" | "cresc" | "cres" => "cres",
        "close" | "cl" => "cl",
        "way" | "wy" => "way",
        "circle" | "circ" | "cir" => "cir",
        "alley" | "aly" => "aly",
        "trail" | "trl" => "trl",
        "expressway" | "expy" => "expy",
        "freeway" | "fwy" => "fwy",
        "plaza" | "plz" => "plz",
        "north" | "n" => "n",
        "south" | "s" => "s",
        "east" | "e" => "e",
        "west" | "w" => "w",
        "northeast" | "ne" => "ne",
        "northwest" | "nw" => "nw",
        "southeast" | "se" => "se",
        "southwest" | "sw" => "sw",
        _ => return None,
    };
    Some(abbreviation)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(street_number: &str, street: &str, line2: &str) -> RawAddress {
        RawAddress {
            street_number: street_number.to_owned(),
            street: street.to_owned(),
            address_line2: line2.to_owned(),
            ..RawAddress::default()
        }
    }

    fn street_of(street: &str) -> (String, String, String) {
        let normalized = normalize_address(&address("", street, ""), "US");
        (
            normalized.street_number.into(),
            normalized.street.into(),
            normalized.unit.into(),
        )
    }

    #[test]
    fn street_types_and_directionals_take_one_spelling() {
        for (written, expected) in [
            ("High Street", "high st"),
            ("High Str.", "high st"),
            ("High St.", "high st"),
            ("Abbey Road", "abbey rd"),
            ("Park Av", "park ave"),
            ("Park Avenue", "park ave"),
            ("Sunset Boulevard", "sunset blvd"),
            ("Mulholland Drive", "mulholland dr"),
            ("Penny Lane", "penny ln"),
            ("Kings Court", "kings ct"),
            ("Berkeley Square", "berkeley sq"),
            ("Pacific Coast Highway", "pacific coast hwy"),
            ("Garden State Parkway", "garden state pkwy"),
            ("Royal Crescent", "royal cres"),
            ("Downing Close", "downing cl"),
            ("Columbus Circle", "columbus cir"),
            ("North Main Street", "n main st"),
            ("Northeast 3rd Terrace", "ne 3rd ter"),
            ("Berliner Straße", "berliner st"),
        ] {
            assert_eq!(street_of(written).1, expected, "{written}");
        }
    }

    #[test]
    fn glued_german_street_types_meet() {
        assert_eq!(street_of("Hauptstraße").1, "hauptstr");
        assert_eq!(street_of("Hauptstr.").1, "hauptstr");
    }

    #[test]
    fn the_house_number_moves_out_of_the_street() {
        assert_eq!(
            street_of("12 High Street"),
            ("12".into(), "high st".into(), String::new())
        );
        assert_eq!(
            street_of("12a, High Street"),
            ("12a".into(), "high st".into(), String::new())
        );
        assert_eq!(
            street_of("12-14 High Street"),
            ("12 14".into(), "high st".into(), String::new())
        );
        assert_eq!(
            street_of("No. 12 High Street"),
            ("12".into(), "high st".into(), String::new())
        );
        // "5th" is the street's name, and a lone number is left where it is.
        assert_eq!(
            street_of("5th Avenue"),
            (String::new(), "5th ave".into(), String::new())
        );
        assert_eq!(street_of("12"), (String::new(), "12".into(), String::new()));
    }

    #[test]
    fn a_given_house_number_wins_and_is_not_repeated() {
        let normalized = normalize_address(&address(" 12 ", "12 High Street", ""), "US");
        assert_eq!(
            (
                normalized.street_number.as_str(),
                normalized.street.as_str()
            ),
            ("12", "high st")
        );
        let normalized = normalize_address(&address("14", "12 High Street", ""), "US");
        assert_eq!(
            (
                normalized.street_number.as_str(),
                normalized.street.as_str()
            ),
            ("14", "12 high st")
        );
    }

    #[test]
    fn units_move_to_the_unit_field() {
        for street in [
            "12 High St Apt 4",
            "12 High St, Apartment 4",
            "12 High St Unit 4",
            "12 High St #4",
            "12 High St # 4",
            "12 High St Apt#4",
            "12 High St Suite 4",
            "12 High St Ste. 4",
            "12 High St Flat 4",
            "12 High St No. 4",
        ] {
            assert_eq!(
                street_of(street),
                ("12".into(), "high st".into(), "unit 4".into()),
                "{street}"
            );
        }
        assert_eq!(
            street_of("Flat B, 12 High St"),
            ("12".into(), "high st".into(), "unit b".into())
        );
    }

    #[test]
    fn units_in_the_second_line() {
        let unit_of = |line2: &str| normalize_address(&address("12", "High St", line2), "US").unit;
        assert_eq!(unit_of("Apt. 4B"), "unit 4b");
        assert_eq!(unit_of("#4b"), "unit 4b");
        assert_eq!(unit_of("Suite 200"), "unit 200");
        assert_eq!(unit_of("4B"), "unit 4b");
        assert_eq!(unit_of("Building C"), "building c");
        assert_eq!(unit_of(""), "");
        // A unit in the street line wins over the second line.
        assert_eq!(
            normalize_address(&address("", "12 High St Apt 4", "Apt 5"), "US").unit,
            "unit 4"
        );
    }

    #[test]
    fn unit_words_without_a_value_stay_in_the_street() {
        assert_eq!(street_of("Unit Street").1, "unit st");
        assert_eq!(street_of("No Name Lane").1, "no name ln");
    }

    #[test]
    fn every_part_is_folded() {
        let raw = RawAddress {
            street_number: "7".into(),
            street: "Königsallee".into(),
            address_line2: String::new(),
            locality: "  Düsseldorf ".into(),
            postcode: " 40212 ".into(),
            region: "Nordrhein-Westfalen".into(),
            country: "Deutschland".into(),
        };
        assert_eq!(
            normalize_address(&raw, "US"),
            NormalizedAddress {
                street_number: "7".into(),
                street: "konigsallee".into(),
                unit: Default::default(),
                locality: "dusseldorf".into(),
                postcode: "40212".into(),
                region: "nordrhein westfalen".into(),
                country: "DE".into(),
            }
        );
    }

    #[test]
    fn us_zip_plus_four_keeps_the_zip() {
        let plus_four = RawAddress {
            postcode: "11425-4219".into(),
            country: "US".into(),
            ..RawAddress::default()
        };
        assert_eq!(normalize_address(&plus_four, "US").postcode, "11425");
        let nine_digits = RawAddress {
            postcode: "114254219".into(),
            ..RawAddress::default()
        };
        assert_eq!(normalize_address(&nine_digits, "US").postcode, "11425");
        let british = RawAddress {
            postcode: "SW1A 1AA".into(),
            country: "GB".into(),
            ..RawAddress::default()
        };
        assert_eq!(normalize_address(&british, "US").postcode, "SW1A1AA");
    }

    #[test]
    fn postcodes_are_upper_case_without_spaces() {
        let raw = RawAddress {
            postcode: "sw1a 1aa".into(),
            country: "gb".into(),
            ..RawAddress::default()
        };
        assert_eq!(normalize_address(&raw, "US").postcode, "SW1A1AA");
    }

    #[test]
    fn countries_default_and_us_states_abbreviate() {
        let raw = RawAddress {
            region: "New York".into(),
            ..RawAddress::default()
        };
        let normalized = normalize_address(&raw, "us");
        assert_eq!(
            (normalized.region.as_str(), normalized.country.as_str()),
            ("ny", "US")
        );
        // Only in the US: elsewhere the same words may name something else.
        let raw = RawAddress {
            region: "Georgia".into(),
            country: "GE".into(),
            ..RawAddress::default()
        };
        assert_eq!(normalize_address(&raw, "US").region, "georgia");
        let raw = RawAddress {
            country: "Atlantis".into(),
            ..RawAddress::default()
        };
        assert_eq!(normalize_address(&raw, "US").country, "");
    }
}
