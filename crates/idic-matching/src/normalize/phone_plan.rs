//! Whether a parsed phone number is in its numbering plan, and which region it belongs
//! to: the same rules as `phonenumber::is_valid` and `PhoneNumber::country().id()`,
//! over the same metadata, with each region's patterns compiled once.
//!
//! Why not the crate's own: its patterns go through one process-wide cache of 100
//! compiled expressions behind a mutex, looked up by hashing the pattern's text on
//! every use. A +1 number that is in no plan (an area code that does not exist) is
//! tried against each of the 25 regions that share +1, more patterns than the cache
//! holds, so they were compiled again and again: on an independent 1M-record file with
//! 40% such numbers, phone validation was a fifth of the import's CPU.

use std::sync::{LazyLock, OnceLock};

use phonenumber::PhoneNumber;
use phonenumber::metadata::{DATABASE, Descriptor, Metadata};
use regex::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};
use rustc_hash::FxHashMap;

/// A number pattern of the metadata, compiled to match at the start of the number (the
/// crate accepts a match that starts at the first digit), with the lengths it allows.
struct Pattern {
    regex: Regex,
    lengths: Vec<u16>,
}

impl Pattern {
    fn of(descriptor: &Descriptor) -> Option<Pattern> {
        Some(Pattern {
            regex: anchored(descriptor.national_number().as_str())?,
            lengths: descriptor.possible_length().to_vec(),
        })
    }

    fn matches(&self, national: &str) -> bool {
        let length_allowed = self.lengths.is_empty()
            || u16::try_from(national.len()).is_ok_and(|length| self.lengths.contains(&length));
        length_allowed && self.regex.is_match(national)
    }
}

/// The metadata's patterns use free spacing (as the crate compiles them). A pattern
/// that does not compile leaves its descriptor out, as if the region had none.
fn anchored(source: &str) -> Option<Regex> {
    RegexBuilder::new(&anchored_source(source))
        .ignore_whitespace(true)
        .build()
        .ok()
}

/// A pattern made to match at the start of the number, for one regex or a set.
fn anchored_source(source: &str) -> String {
    format!("^(?:{source})")
}

/// One region's plan: the general pattern every valid number matches and the patterns
/// of the number types (one of which a valid number also matches). The leading digits
/// that tell regions sharing a country code apart are in [`SharedCode`].
struct RegionPlan {
    general: Option<Pattern>,
    types: TypeSets,
}

impl RegionPlan {
    fn of(metadata: &Metadata) -> RegionPlan {
        let descriptors = metadata.descriptors();
        // The types `phonenumber::validator::number_type` tries; a match of any one
        // makes the type known, and the number valid.
        let types = [
            descriptors.premium_rate(),
            descriptors.toll_free(),
            descriptors.shared_cost(),
            descriptors.voip(),
            descriptors.personal_number(),
            descriptors.pager(),
            descriptors.uan(),
            descriptors.voicemail(),
            descriptors.fixed_line(),
            descriptors.mobile(),
        ];
        RegionPlan {
            general: Pattern::of(descriptors.general()),
            types: TypeSets::of(types.into_iter().flatten()),
        }
    }

    /// Whether the national number is of a known type in this region.
    fn has_type(&self, national: &str) -> bool {
        self.general
            .as_ref()
            .is_some_and(|general| general.matches(national))
            && self.types.any_matches(national)
    }
}

/// A region's type patterns as one set per national length: the patterns that allow
/// that length, tried in one pass. One at a time, a number in no plan (a +1 area code
/// that does not exist, 40% of an independent customer file's numbers) was tried
/// against every type's pattern in turn.
struct TypeSets {
    /// The lengths some pattern names, each with the set of the patterns that allow it.
    named_lengths: Vec<(usize, Option<RegexSet>)>,
    /// Other lengths: the patterns that allow every length.
    other_lengths: Option<RegexSet>,
}

impl TypeSets {
    fn of<'a>(descriptors: impl Iterator<Item = &'a Descriptor>) -> TypeSets {
        // A pattern that does not compile is left out, as if the region had none.
        let patterns: Vec<(String, Vec<usize>)> = descriptors
            .filter(|descriptor| anchored(descriptor.national_number().as_str()).is_some())
            .map(|descriptor| {
                (
                    anchored_source(descriptor.national_number().as_str()),
                    descriptor
                        .possible_length()
                        .iter()
                        .map(|&length| usize::from(length))
                        .collect(),
                )
            })
            .collect();
        let set_allowing = |length: Option<usize>| {
            let chosen: Vec<&str> = patterns
                .iter()
                .filter(|(_, lengths)| {
                    lengths.is_empty() || length.is_some_and(|length| lengths.contains(&length))
                })
                .map(|(pattern, _)| pattern.as_str())
                .collect();
            (!chosen.is_empty()).then(|| {
                RegexSetBuilder::new(chosen)
                    .ignore_whitespace(true)
                    .build()
                    .expect("patterns that compile one by one compile as a set")
            })
        };
        let mut named: Vec<usize> = patterns
            .iter()
            .flat_map(|(_, lengths)| lengths.iter().copied())
            .collect();
        named.sort_unstable();
        named.dedup();
        TypeSets {
            named_lengths: named
                .into_iter()
                .map(|length| (length, set_allowing(Some(length))))
                .collect(),
            other_lengths: set_allowing(None),
        }
    }

    fn any_matches(&self, national: &str) -> bool {
        let set = self
            .named_lengths
            .iter()
            .find(|(length, _)| *length == national.len())
            .map_or(self.other_lengths.as_ref(), |(_, set)| set.as_ref());
        set.is_some_and(|set| set.is_match(national))
    }
}

/// The metadata's regions, each compiled on first use (most imports see one or two).
struct Plans {
    /// (Country code, region id) -> the region's metadata and its compiled plan. The
    /// code is part of the key because every non-geographic code (+800, +979, ...) is
    /// filed under the region id "001".
    /// Fx-hashed: looked up for every number read, twice for most +1 numbers.
    regions: FxHashMap<(u16, &'static str), (&'static Metadata, OnceLock<RegionPlan>)>,
}

/// The highest country calling code (codes have at most three digits).
const MAX_COUNTRY_CODE: u16 = 999;

static PLANS: LazyLock<Plans> = LazyLock::new(|| Plans {
    // By code, since the database's own iteration is by region id and so holds one
    // of the "001" codes only.
    regions: (1..=MAX_COUNTRY_CODE)
        .filter_map(|code| DATABASE.by_code(&code))
        .flatten()
        .map(|metadata| {
            let key = (metadata.country_code(), metadata.id());
            (key, (metadata, OnceLock::new()))
        })
        .collect(),
});

impl Plans {
    fn plan(&self, code: u16, region: &'static str) -> Option<&RegionPlan> {
        let (metadata, plan) = self.regions.get(&(code, region))?;
        Some(plan.get_or_init(|| RegionPlan::of(metadata)))
    }
}

/// Where a number stands in the plans.
pub(super) struct Standing {
    /// The region it belongs to, `None` when its code is not a country's (a non-
    /// geographic code) or no region of its code claims it (as `Country::id`).
    pub region: Option<&'static str>,
    /// Whether it is valid in the plan of that region (as `phonenumber::is_valid`).
    pub valid: bool,
}

/// The number's region and validity, from one pass over its code's regions.
pub(super) fn standing(number: &PhoneNumber) -> Standing {
    standing_of(number.code().value(), &number.national().to_string())
}

/// [`standing`] of a country code and a national number (its digits, leading zeros
/// included), for numbers read without the crate's parser.
pub(super) fn standing_of(code: u16, national: &str) -> Standing {
    let Some((source, claimed_by_type)) = source_region(code, national) else {
        return Standing {
            region: None,
            valid: false,
        };
    };
    Standing {
        region: (source != "001").then_some(source),
        // A region that claimed the number by its type has already found it valid.
        valid: claimed_by_type
            || PLANS
                .plan(code, source)
                .is_some_and(|plan| plan.has_type(national)),
    }
}

/// The region whose plan a number is read against: the only region of its country
/// code, or among several, the first whose leading digits start the number or (without
/// leading digits) whose plan has the number's type, with whether it was the type that
/// claimed it. "001" stands for the non-geographic codes (+800, +979, ...). As
/// `phonenumber::validator::source_for`.
fn source_region(code: u16, national: &str) -> Option<(&'static str, bool)> {
    let Some(shared) = SHARED.get(&code) else {
        let regions = DATABASE.region(&code)?;
        return regions.first().map(|only| (*only, false));
    };
    let shared = shared.get_or_init(|| {
        let regions = DATABASE
            .region(&code)
            .expect("a code that several regions share has regions");
        SharedCode::of(code, &regions)
    });
    // One pass for every region's leading digits: a +1 number in no plan was tried
    // against the 24 regions after the US one pattern at a time (45% of the phone
    // reading in a profile of an independent file where 41% of the records have one).
    let leading = shared.leading.matches(national);
    shared.regions.iter().find_map(|(region, claim)| {
        let claims = match claim {
            Claim::Leading(index) => leading.matched(*index),
            Claim::ByType => PLANS
                .plan(code, region)
                .is_some_and(|plan| plan.has_type(national)),
            Claim::Never => false,
        };
        claims.then_some((*region, matches!(claim, Claim::ByType)))
    })
}

/// How a region that shares its country code claims a number (see [`source_region`]).
enum Claim {
    /// By its leading digits, pattern `index` of the code's set.
    Leading(usize),
    /// It has no leading digits (or none that compile): by the number's type.
    ByType,
    /// The metadata has no plan for it.
    Never,
}

/// The regions of a country code that several share, in the metadata's order, with
/// their leading digits compiled into one set.
struct SharedCode {
    regions: Vec<(&'static str, Claim)>,
    leading: RegexSet,
}

impl SharedCode {
    fn of(code: u16, regions: &[&'static str]) -> SharedCode {
        let mut patterns = Vec::new();
        let regions = regions
            .iter()
            .map(|region| {
                let claim = match PLANS.regions.get(&(code, region)) {
                    None => Claim::Never,
                    Some((metadata, _)) => match metadata.leading_digits() {
                        // Left out where the region's own plan leaves it out.
                        Some(pattern) if anchored(pattern.as_str()).is_some() => {
                            patterns.push(anchored_source(pattern.as_str()));
                            Claim::Leading(patterns.len() - 1)
                        }
                        _ => Claim::ByType,
                    },
                };
                (*region, claim)
            })
            .collect();
        let leading = RegexSetBuilder::new(&patterns)
            .ignore_whitespace(true)
            .build()
            .expect("patterns that compile one by one compile as a set");
        SharedCode { regions, leading }
    }
}

/// Country codes that several regions share, each compiled on first use.
static SHARED: LazyLock<FxHashMap<u16, OnceLock<SharedCode>>> = LazyLock::new(|| {
    (1..=MAX_COUNTRY_CODE)
        .filter(|code| {
            DATABASE
                .region(code)
                .is_some_and(|regions| regions.len() > 1)
        })
        .map(|code| (code, OnceLock::new()))
        .collect()
});

/// `count` pseudo-random digits from a small deterministic generator, for tests.
#[cfg(test)]
pub(super) fn random_digits(state: &mut u64, count: usize) -> String {
    (0..count)
        .map(|_| {
            *state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            char::from(b'0' + ((*state >> 33) % 10) as u8)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same verdicts as the crate's own validation, on numbers of many regions,
    /// valid, mistyped and out of every plan.
    #[test]
    fn agrees_with_the_crate() {
        let texts = [
            ("+1 415 555 0123", "US"),
            ("+1 421 616 3490", "US"),
            ("+1 268 464 1234", "US"),
            ("+1 268 999 1234", "US"),
            ("+1 340 642 1234", "US"),
            ("+1 876 555 1234", "US"),
            ("+1 800 555 0199", "US"),
            ("+1 613 555 0199", "US"),
            ("+1 212 000 0000", "US"),
            ("+44 20 7946 0018", "US"),
            ("+44 20 7946", "US"),
            ("+44 7912 345678", "GB"),
            ("06 12 34 56 78", "FR"),
            ("030 1234567", "DE"),
            ("+39 02 3661 8300", "IT"),
            ("+7 912 345 6789", "RU"),
            ("+7 700 123 4567", "KZ"),
            ("+800 1234 5678", "US"),
            ("+979 123456789", "US"),
            ("+64 21387835", "NZ"),
            ("+61 2 9876 5432", "AU"),
            ("+262 262 12 34 56", "FR"),
            ("+262 692 12 34 56", "FR"),
            ("+590 690 00 12 34", "FR"),
            ("+47 22 12 34 56", "NO"),
            ("+358 9 1234567", "FI"),
            ("+212 5 22 12 34 56", "MA"),
            ("555-0123", "US"),
            ("(123) 555-0123", "US"),
        ];
        for (text, region) in texts {
            let Ok(number) = phonenumber::parse(region.parse().ok(), text) else {
                continue;
            };
            assert_eq!(
                standing(&number).valid,
                phonenumber::is_valid(&number),
                "{text} ({region})"
            );
            // The crate reads the region from the national number without its leading
            // zero (Italy's are part of the number) and finds none for Italian numbers;
            // where it finds one, it is the same.
            if let Some(id) = number.country().id() {
                assert_eq!(
                    standing(&number).region,
                    Some(id.as_ref()),
                    "{text} ({region})"
                );
            }
        }
    }

    /// Every +1 area code, and numbers of many lengths under the busiest codes: the
    /// same validity as the crate's.
    #[test]
    fn agrees_with_the_crate_across_codes() {
        let mut state: u64 = 7;
        let mut digits = |count: usize| random_digits(&mut state, count);
        let mut texts: Vec<String> = (200..1000)
            .map(|area| format!("+1{area}{}", digits(7)))
            .collect();
        for code in [
            "7", "33", "39", "44", "47", "49", "61", "81", "212", "262", "290", "358", "590",
            "599", "800", "882",
        ] {
            for length in 6..=12 {
                for _ in 0..20 {
                    texts.push(format!("+{code}{}", digits(length)));
                }
            }
        }
        for text in texts {
            let Ok(number) = phonenumber::parse(None, &text) else {
                continue;
            };
            assert_eq!(
                standing(&number).valid,
                phonenumber::is_valid(&number),
                "{text}"
            );
            let (code, national) = (number.code().value(), number.national().to_string());
            assert_eq!(
                source_region(code, &national).map(|(region, _)| region),
                source_region_one_at_a_time(code, &national),
                "{text}"
            );
        }
    }

    /// The regions' leading digits tried one pattern at a time, as before the set.
    fn source_region_one_at_a_time(code: u16, national: &str) -> Option<&'static str> {
        let regions = DATABASE.region(&code)?;
        if let [only] = regions.as_slice() {
            return Some(only);
        }
        regions.into_iter().find(|region| {
            let Some((metadata, _)) = PLANS.regions.get(&(code, *region)) else {
                return false;
            };
            let leading = metadata
                .leading_digits()
                .and_then(|pattern| anchored(pattern.as_str()));
            match leading {
                Some(leading) => leading.is_match(national),
                None => PLANS
                    .plan(code, region)
                    .is_some_and(|plan| plan.has_type(national)),
            }
        })
    }

    /// Every code that several regions share compiles its set (the metadata is built
    /// in, so this covers every number the server can read).
    #[test]
    fn every_shared_code_compiles_its_set() {
        for (code, shared) in SHARED.iter() {
            let regions = DATABASE.region(code).expect("a shared code has regions");
            let shared = shared.get_or_init(|| SharedCode::of(*code, &regions));
            assert_eq!(shared.regions.len(), regions.len(), "+{code}");
        }
        assert!(SHARED.len() > 10, "{} shared codes", SHARED.len());
    }

    #[test]
    fn italian_numbers_belong_to_italy() {
        let number = phonenumber::parse(None, "+39 02 3661 8300").unwrap();
        assert_eq!(standing(&number).region, Some("IT"));
    }
}
