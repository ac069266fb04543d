//! Properties of the generated data that the accuracy benchmark relies on.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::builder::Builder;
use super::catalog::Catalog;
use super::corrupt::{date_digit_typo, fold_diacritics, is_plain_local_part, typo};
use super::entity::Date;
use super::names::{FEMALE_GIVEN_NAMES, MALE_GIVEN_NAMES, NICKNAMES, SURNAMES};
use super::places::{CITIES, STATE_NAMES, STREET_NAMES};
use super::*;

const CHANNELS: [&str; 7] = [
    "call_center",
    "web",
    "email",
    "store",
    "mobile_app",
    "partner",
    "mail",
];

/// One sample shared by the tests that only look at output (generation is the
/// slow part of a debug test run).
fn sample() -> &'static Generated {
    static SAMPLE: std::sync::OnceLock<Generated> = std::sync::OnceLock::new();
    SAMPLE.get_or_init(|| generate_with_summary(&GeneratorConfig::new(20_000, 11)))
}

fn records_csv(records: &[GeneratedRecord]) -> Vec<u8> {
    let mut bytes = Vec::new();
    write_records_csv(records, &mut bytes).expect("writing to memory");
    bytes
}

#[test]
fn same_seed_gives_identical_output_and_another_seed_does_not() {
    let config = GeneratorConfig::new(3_000, 42);
    let first = generate(&config);
    let second = generate(&config);
    assert_eq!(first, second);
    assert_eq!(records_csv(&first), records_csv(&second));
    let other = generate(&GeneratorConfig::new(3_000, 43));
    assert_ne!(records_csv(&first), records_csv(&other));
}

#[test]
fn produces_exactly_the_requested_number_of_records() {
    for records in [0, 1, 2, 3, 17, 250, 1_001] {
        assert_eq!(generate(&GeneratorConfig::new(records, 5)).len(), records);
    }
    assert_eq!(sample().records.len(), 20_000);
    assert_eq!(sample().summary.records, 20_000);
}

#[test]
fn record_keys_are_unique_and_truth_round_trips() {
    let records = &sample().records;
    let keys: HashSet<String> = records.iter().map(GeneratedRecord::key).collect();
    assert_eq!(keys.len(), records.len());

    let mut truth_file = Vec::new();
    write_truth_csv(records, &mut truth_file).expect("writing to memory");
    let truth = read_truth_csv(truth_file.as_slice()).expect("reading it back");
    assert_eq!(truth, GeneratedRecord::truth_pairs(records));
    let perfect: Vec<(String, String)> = truth
        .iter()
        .map(|(key, entity)| (key.clone(), entity.to_string()))
        .collect();
    let counts = pairwise_scores(&truth, &perfect);
    assert_eq!((counts.false_positives, counts.false_negatives), (0, 0));
    assert!(counts.true_positives > 0);
}

#[test]
fn record_file_has_the_contract_header_and_one_row_per_record() {
    let records = &sample().records[..500];
    let bytes = records_csv(records);
    let mut reader = csv::Reader::from_reader(bytes.as_slice());
    let header: Vec<String> = reader
        .headers()
        .expect("header")
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        header.join(","),
        "source_system,source_record_id,channel,given_name,middle_name,family_name,\
         organization_name,date_of_birth,email,phone,street_number,street,address_line2,\
         locality,postcode,region,country,id:loyalty,id:account,id:national,id:device"
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(|row| row.expect("row")).collect();
    assert_eq!(rows.len(), records.len());
    assert!(rows.iter().all(|row| row.len() == RECORD_COLUMNS.len()));
    assert_eq!(&rows[7][1], records[7].source_record_id.as_str());
}

#[test]
fn the_record_file_never_contains_the_truth() {
    let records = &sample().records[..200];
    let text = String::from_utf8(records_csv(records)).expect("UTF-8");
    assert!(!text.contains("entity"));
}

#[test]
fn every_phone_is_valid_for_libphonenumber() {
    let mut checked = 0;
    for record in sample()
        .records
        .iter()
        .filter(|record| !record.phone.is_empty())
    {
        let parsed = phonenumber::parse(Some(phonenumber::country::Id::US), &record.phone)
            .unwrap_or_else(|error| panic!("{:?} does not parse: {error}", record.phone));
        assert!(
            phonenumber::is_valid(&parsed),
            "{:?} is not a valid number",
            record.phone
        );
        checked += 1;
    }
    assert!(checked > 10_000, "only {checked} phones");
}

#[test]
fn every_email_parses() {
    for record in sample()
        .records
        .iter()
        .filter(|record| !record.email.is_empty())
    {
        assert!(
            email_address::EmailAddress::from_str(&record.email).is_ok(),
            "{:?} is not a valid e-mail address",
            record.email
        );
    }
}

fn parse_date(text: &str) -> Option<Date> {
    let digits: String = text.chars().filter(|c| *c != '-').collect();
    let well_formed = match text.len() {
        10 => text.as_bytes()[4] == b'-' && text.as_bytes()[7] == b'-',
        8 => true,
        _ => false,
    };
    if !well_formed || digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Date::new(
        digits[..4].parse().ok()?,
        digits[4..6].parse().ok()?,
        digits[6..].parse().ok()?,
    )
}

#[test]
fn every_date_of_birth_exists_and_lies_in_1930_to_2007() {
    let mut compact = 0;
    for record in sample()
        .records
        .iter()
        .filter(|record| !record.date_of_birth.is_empty())
    {
        assert!(
            parse_date(&record.date_of_birth).is_some(),
            "bad date {:?}",
            record.date_of_birth
        );
        compact += usize::from(record.date_of_birth.len() == 8);
    }
    assert!(compact > 0, "some dates are written YYYYMMDD");
}

#[test]
fn channels_and_postcodes_are_well_formed() {
    let systems: HashSet<&str> = System::ALL.iter().map(|system| system.name()).collect();
    for record in &sample().records {
        assert!(
            CHANNELS.contains(&record.channel),
            "channel {:?}",
            record.channel
        );
        assert!(systems.contains(record.source_system.as_str()));
        let postcode = record.postcode.as_bytes();
        assert!(
            postcode.is_empty()
                || (postcode.len() == 5 && postcode.iter().all(u8::is_ascii_digit))
                || (postcode.len() == 10 && postcode[5] == b'-'),
            "postcode {:?}",
            record.postcode
        );
        assert!(record.country.is_empty() || record.country == "US");
    }
}

#[test]
fn identifiers_follow_their_rules() {
    let records = &sample().records;
    let mut national_owner: HashMap<String, u64> = HashMap::new();
    let mut with_national_id = 0;
    for record in records
        .iter()
        .filter(|record| !record.national_id.is_empty())
    {
        with_national_id += 1;
        let digits: String = record
            .national_id
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        let owner = *national_owner.entry(digits).or_insert(record.entity_id);
        assert_eq!(
            owner, record.entity_id,
            "national id {} shared",
            record.national_id
        );
    }
    let share = with_national_id as f64 / records.len() as f64;
    assert!(
        share > 0.005 && share <= 0.10,
        "national id on {share:.3} of records"
    );

    for record in records {
        if !record.loyalty_id.is_empty() {
            assert!(matches!(
                record.source_system.as_str(),
                "loyalty" | "pos" | "crm" | "callcenter"
            ));
        }
        if !record.device_id.is_empty() {
            assert!(matches!(record.channel, "web" | "mobile_app"));
        }
    }
}

#[test]
fn entity_mix_matches_the_defaults() {
    let Generated { records, summary } = sample();
    let mut records_per_entity: HashMap<u64, usize> = HashMap::new();
    for record in records {
        *records_per_entity.entry(record.entity_id).or_default() += 1;
    }
    assert_eq!(records_per_entity.len(), summary.entities);
    let mean = records.len() as f64 / summary.entities as f64;
    assert!(
        (2.5..=3.2).contains(&mean),
        "mean records per entity {mean:.2}"
    );
    assert!(records_per_entity.values().any(|&count| count >= 8));
    assert!(
        records_per_entity
            .values()
            .filter(|&&count| count == 1)
            .count()
            > summary.entities / 5
    );

    let organization_share = summary.organizations as f64 / summary.entities as f64;
    assert!(
        (0.04..0.06).contains(&organization_share),
        "organizations {organization_share:.3}"
    );
    let household_share = summary.household_members as f64 / summary.persons as f64;
    assert!(
        (0.25..0.35).contains(&household_share),
        "persons in households {household_share:.3}"
    );
    assert!(summary.households > 100);

    let organizations: HashSet<u64> = records
        .iter()
        .filter(|record| !record.organization_name.is_empty())
        .map(|record| record.entity_id)
        .collect();
    assert_eq!(organizations.len(), summary.organizations);
}

#[test]
fn hard_negatives_are_present() {
    let records = &sample().records;
    // Different entities sharing a phone (household landlines).
    let mut phone_owners: HashMap<String, HashSet<u64>> = HashMap::new();
    let mut name_owners: HashMap<(String, String), HashSet<u64>> = HashMap::new();
    for record in records {
        let digits: String = record.phone.chars().filter(char::is_ascii_digit).collect();
        if digits.len() >= 10 {
            let national = digits[digits.len() - 10..].to_owned();
            phone_owners
                .entry(national)
                .or_default()
                .insert(record.entity_id);
        }
        if !record.given_name.is_empty() && !record.family_name.is_empty() {
            name_owners
                .entry((record.given_name.clone(), record.family_name.clone()))
                .or_default()
                .insert(record.entity_id);
        }
    }
    let shared_phones = phone_owners
        .values()
        .filter(|owners| owners.len() > 1)
        .count();
    let shared_names = name_owners
        .values()
        .filter(|owners| owners.len() > 1)
        .count();
    assert!(
        shared_phones > 100,
        "{shared_phones} phones shared by different entities"
    );
    assert!(
        shared_names > 100,
        "{shared_names} names shared by different entities"
    );
}

#[test]
fn corruption_is_present_and_can_be_switched_off() {
    let records = &sample().records;
    let upper = records
        .iter()
        .filter(|r| r.family_name.len() > 3 && r.family_name == r.family_name.to_uppercase())
        .count();
    let plus = records.iter().filter(|r| r.email.contains('+')).count();
    let nickname = records
        .iter()
        .filter(|r| r.given_name == "Bill" || r.given_name == "Bob")
        .count();
    assert!(
        upper > 100 && plus > 100 && nickname > 10,
        "upper {upper}, plus {plus}, nickname {nickname}"
    );

    let mut config = GeneratorConfig::new(2_000, 3);
    config.corruption = CorruptionRates::none();
    for record in generate(&config) {
        assert!(!record.email.contains('+'));
        assert_eq!(record.given_name.trim(), record.given_name);
        assert_ne!(record.given_name, "Bill");
    }
}

#[test]
#[should_panic(expected = "typo")]
fn rejects_rates_that_are_not_probabilities() {
    let mut config = GeneratorConfig::new(10, 1);
    config.corruption.typo = 1.5;
    generate(&config);
}

#[test]
fn household_members_are_distinct_entities_at_one_address() {
    let config = GeneratorConfig::new(0, 9);
    let catalog = Catalog::new();
    let mut builder = Builder::new(&catalog, &config);
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let mut juniors = 0;
    let mut twins = 0;
    for _ in 0..2_000 {
        let members = builder.household(&mut rng);
        assert!((2..=4).contains(&members.len()));
        let ids: HashSet<u64> = members.iter().map(|member| member.entity_id).collect();
        assert_eq!(
            ids.len(),
            members.len(),
            "household members share an entity id"
        );
        assert!(
            members
                .iter()
                .all(|member| member.addresses == members[0].addresses)
        );
        assert!(
            members
                .iter()
                .all(|member| member.landline == members[0].landline)
        );
        for (index, member) in members.iter().enumerate() {
            for other in &members[index + 1..] {
                if member.given == other.given {
                    // Only a father and his junior share a given name, 25-35 years apart.
                    assert!(
                        member.junior || other.junior,
                        "{} twice in a household",
                        member.given
                    );
                    let gap = member.dob.year.abs_diff(other.dob.year);
                    assert!((25..=35).contains(&gap), "junior {gap} years apart");
                    juniors += 1;
                } else if member.dob == other.dob && member.family == other.family {
                    twins += 1;
                }
                assert!(
                    member
                        .emails
                        .iter()
                        .all(|email| !other.emails.contains(email))
                );
            }
        }
    }
    assert!(juniors > 20, "{juniors} juniors");
    assert!(twins > 5, "{twins} twins");
}

#[test]
fn name_lists_are_large_unique_and_foldable() {
    assert!(SURNAMES.len() >= 1_000);
    assert!(MALE_GIVEN_NAMES.len() + FEMALE_GIVEN_NAMES.len() >= 300);
    let surnames: HashSet<&str> = SURNAMES.iter().copied().collect();
    assert_eq!(surnames.len(), SURNAMES.len(), "duplicate surname");
    let given: HashSet<&str> = MALE_GIVEN_NAMES
        .iter()
        .chain(FEMALE_GIVEN_NAMES)
        .copied()
        .collect();
    assert_eq!(
        given.len(),
        MALE_GIVEN_NAMES.len() + FEMALE_GIVEN_NAMES.len(),
        "duplicate given name"
    );
    for (formal, short) in NICKNAMES {
        assert!(
            given.contains(formal),
            "nickname table names unknown {formal}"
        );
        assert!(!short.is_empty());
    }
    for name in SURNAMES
        .iter()
        .chain(MALE_GIVEN_NAMES)
        .chain(FEMALE_GIVEN_NAMES)
        .chain(STREET_NAMES)
    {
        assert!(
            fold_diacritics(name).is_ascii(),
            "{name} does not fold to ASCII"
        );
    }
    assert!(given.iter().any(|name| !name.is_ascii()));
    assert!(surnames.iter().any(|name| !name.is_ascii()));
    for city in CITIES {
        assert!(
            STATE_NAMES.iter().any(|(code, _)| *code == city.state),
            "{}",
            city.state
        );
    }
}

#[test]
fn surnames_follow_a_steep_frequency_law() {
    let catalog = Catalog::new();
    let head = catalog.surname_probability(0);
    let tail = catalog.surname_probability(SURNAMES.len() - 1);
    assert!(head > 0.008 && head < 0.02, "Smith {head:.4}");
    assert!(head / tail > 50.0, "head/tail ratio {:.1}", head / tail);
}

#[test]
fn corruption_helpers_keep_values_well_formed() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for _ in 0..2_000 {
        let damaged = typo(&mut rng, "Johnson");
        let length_change = damaged.chars().count().abs_diff(7);
        assert!(length_change <= 1, "{damaged}");

        let date = Date::random(&mut rng, 1930, 2007);
        let slipped = date_digit_typo(&mut rng, date);
        assert!(Date::new(slipped.year, slipped.month, slipped.day).is_some());
    }
    assert_eq!(typo(&mut rng, "J"), "J");
    assert!(is_plain_local_part("john.smith+shop"));
    assert!(!is_plain_local_part(".john"));
    assert!(!is_plain_local_part("john..smith"));
    assert_eq!(
        fold_diacritics("Zoë Müller-Núñez Weiß"),
        "Zoe Muller-Nunez Weiss"
    );
}

/// Full forms keep the population and change what the records carry: every person's
/// record has a name, and far more have a birth date and an address.
#[test]
fn full_forms_give_every_record_most_fields() {
    let collected = &sample().records;
    let full = generate(&GeneratorConfig::full_forms(20_000, 11));
    let share = |records: &[GeneratedRecord], filled: fn(&GeneratedRecord) -> bool| {
        records.iter().filter(|record| filled(record)).count() as f64 / records.len() as f64
    };
    let persons = |records: &[GeneratedRecord]| -> Vec<GeneratedRecord> {
        records
            .iter()
            .filter(|record| record.organization_name.is_empty())
            .cloned()
            .collect()
    };
    let (collected, full) = (persons(collected), persons(&full));
    let named = |record: &GeneratedRecord| !record.family_name.is_empty();
    let dated = |record: &GeneratedRecord| !record.date_of_birth.is_empty();
    let housed = |record: &GeneratedRecord| !record.street.is_empty();
    assert!(share(&full, named) > 0.97, "{}", share(&full, named));
    assert!(share(&full, dated) > 0.8, "{}", share(&full, dated));
    assert!(share(&full, housed) > 0.85, "{}", share(&full, housed));
    assert!(
        share(&collected, dated) < 0.5,
        "{}",
        share(&collected, dated)
    );
    assert!(share(&collected, housed) < share(&full, housed) - 0.15);
}
