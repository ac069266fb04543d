//! Country codes (ISO 3166-1 alpha-2) from what sources write: codes, a few common
//! names and alpha-3 codes, and US state names for the region field.

use std::collections::HashSet;
use std::sync::LazyLock;

/// Every officially assigned ISO 3166-1 alpha-2 code, plus XK (Kosovo), which is
/// user-assigned but used by the EU, banks and phone numbering.
const ISO_3166_ALPHA2: &str = "\
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ \
BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ \
CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ \
DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR \
GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY \
HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP \
KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY \
MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ \
NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY \
QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ \
TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ \
VA VC VE VG VI VN VU WF WS XK YE YT ZA ZM ZW";

static ISO_CODES: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| ISO_3166_ALPHA2.split_whitespace().collect());

pub(super) const NOT_A_COUNTRY: &str = "is not an ISO 3166-1 alpha-2 country code";

/// The upper-case ISO 3166-1 alpha-2 code for a country as written: a code in any
/// case, or one of a few common names and alpha-3 codes ("United States", "USA",
/// "UK", "Deutschland"). Empty means `default_region`.
pub fn normalize_country(text: &str, default_region: &str) -> Result<String, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Ok(default_region.trim().to_ascii_uppercase());
    }
    if trimmed.len() == 2 {
        let upper = trimmed.to_ascii_uppercase();
        if upper == "UK" {
            return Ok("GB".to_owned());
        }
        if ISO_CODES.contains(upper.as_str()) {
            return Ok(upper);
        }
        return Err(NOT_A_COUNTRY.to_owned());
    }
    // Compare names without spaces, so that "U.S.A." and "usa" meet.
    let mut key = super::fold_name(trimmed);
    key.retain(|ch| ch != ' ');
    match country_by_name(&key) {
        Some(code) => Ok(code.to_owned()),
        None => Err(NOT_A_COUNTRY.to_owned()),
    }
}

fn country_by_name(key: &str) -> Option<&'static str> {
    let code = match key {
        "us" | "usa" | "unitedstates" | "unitedstatesofamerica" | "america" => "US",
        "uk" | "gbr" | "unitedkingdom" | "greatbritain" | "britain" | "england" | "scotland"
        | "wales" | "northernireland" => "GB",
        "deu" | "ger" | "germany" | "deutschland" => "DE",
        "fra" | "france" => "FR",
        "can" | "canada" => "CA",
        "mex" | "mexico" => "MX",
        "esp" | "spain" | "espana" => "ES",
        "ita" | "italy" | "italia" => "IT",
        "nld" | "netherlands" | "thenetherlands" | "nederland" | "holland" => "NL",
        "bel" | "belgium" | "belgique" | "belgie" => "BE",
        "lux" | "luxembourg" => "LU",
        "che" | "switzerland" | "schweiz" | "suisse" | "svizzera" => "CH",
        "aut" | "austria" | "osterreich" | "oesterreich" => "AT",
        "irl" | "ireland" | "eire" => "IE",
        "prt" | "portugal" => "PT",
        "swe" | "sweden" | "sverige" => "SE",
        "nor" | "norway" | "norge" => "NO",
        "dnk" | "denmark" | "danmark" => "DK",
        "fin" | "finland" | "suomi" => "FI",
        "pol" | "poland" | "polska" => "PL",
        "aus" | "australia" => "AU",
        "nzl" | "newzealand" => "NZ",
        "ind" | "india" => "IN",
        "jpn" | "japan" => "JP",
        "chn" | "china" => "CN",
        "bra" | "brazil" | "brasil" => "BR",
        _ => return None,
    };
    Some(code)
}

/// The postal abbreviation (folded: "ny") of a folded US state or territory name.
pub(super) fn us_state_code(folded: &str) -> Option<&'static str> {
    let code = match folded {
        "alabama" => "al",
        "alaska" => "ak",
        "arizona" => "az",
        "arkansas" => "ar",
        "california" => "ca",
        "colorado" => "co",
        "connecticut" => "ct",
        "delaware" => "de",
        "district of columbia" | "washington dc" | "washington d c" => "dc",
        "florida" => "fl",
        "georgia" => "ga",
        "hawaii" => "hi",
        "idaho" => "id",
        "illinois" => "il",
        "indiana" => "in",
        "iowa" => "ia",
        "kansas" => "ks",
        "kentucky" => "ky",
        "louisiana" => "la",
        "maine" => "me",
        "maryland" => "md",
        "massachusetts" => "ma",
        "michigan" => "mi",
        "minnesota" => "mn",
        "mississippi" => "ms",
        "missouri" => "mo",
        "montana" => "mt",
        "nebraska" => "ne",
        "nevada" => "nv",
        "new hampshire" => "nh",
        "new jersey" => "nj",
        "new mexico" => "nm",
        "new york" => "ny",
        "north carolina" => "nc",
        "north dakota" => "nd",
        "ohio" => "oh",
        "oklahoma" => "ok",
        "oregon" => "or",
        "pennsylvania" => "pa",
        "rhode island" => "ri",
        "south carolina" => "sc",
        "south dakota" => "sd",
        "tennessee" => "tn",
        "texas" => "tx",
        "utah" => "ut",
        "vermont" => "vt",
        "virginia" => "va",
        "washington" => "wa",
        "west virginia" => "wv",
        "wisconsin" => "wi",
        "wyoming" => "wy",
        "puerto rico" => "pr",
        "guam" => "gu",
        "american samoa" => "as",
        "us virgin islands" | "virgin islands" => "vi",
        "northern mariana islands" => "mp",
        _ => return None,
    };
    Some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_upper_cased_and_checked() {
        assert_eq!(normalize_country("us", "GB").as_deref(), Ok("US"));
        assert_eq!(normalize_country(" De ", "US").as_deref(), Ok("DE"));
        assert_eq!(normalize_country("UK", "US").as_deref(), Ok("GB"));
        assert_eq!(normalize_country("XX", "US").unwrap_err(), NOT_A_COUNTRY);
    }

    #[test]
    fn empty_means_the_default_region() {
        assert_eq!(normalize_country("", "us").as_deref(), Ok("US"));
        assert_eq!(normalize_country("   ", "FR").as_deref(), Ok("FR"));
    }

    #[test]
    fn common_names_are_accepted() {
        for (name, code) in [
            ("United States", "US"),
            ("USA", "US"),
            ("U.S.A.", "US"),
            ("United Kingdom", "GB"),
            ("Great Britain", "GB"),
            ("Germany", "DE"),
            ("Deutschland", "DE"),
            ("France", "FR"),
            ("España", "ES"),
            ("Österreich", "AT"),
        ] {
            assert_eq!(normalize_country(name, "US").as_deref(), Ok(code), "{name}");
        }
    }

    #[test]
    fn unknown_names_are_errors() {
        assert_eq!(
            normalize_country("Atlantis", "US").unwrap_err(),
            NOT_A_COUNTRY
        );
        assert_eq!(normalize_country("???", "US").unwrap_err(), NOT_A_COUNTRY);
    }

    #[test]
    fn the_code_list_is_complete() {
        assert_eq!(ISO_CODES.len(), 250, "249 ISO codes and XK");
        assert!(
            ISO_3166_ALPHA2
                .split_whitespace()
                .all(|code| code.len() == 2)
        );
    }

    #[test]
    fn us_states_abbreviate() {
        assert_eq!(us_state_code("new york"), Some("ny"));
        assert_eq!(us_state_code("california"), Some("ca"));
        assert_eq!(us_state_code("ontario"), None);
    }
}
