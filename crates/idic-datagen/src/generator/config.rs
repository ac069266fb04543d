//! What to generate (countries, forms, damage rates, the configuration) and the record
//! a run produces: a leaf the builder, the renderer and the run itself use.

use std::fmt;
use std::str::FromStr;

use super::sources::System;

/// Country whose addresses, phone numbers and identifiers are generated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Country {
    /// United States: NANP phone numbers, ZIP codes, SSN-like national ids.
    #[default]
    Us,
}

impl Country {
    /// ISO 3166-1 alpha-2 code, as written in the `country` column.
    pub fn code(self) -> &'static str {
        match self {
            Country::Us => "US",
        }
    }
}

impl fmt::Display for Country {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.code())
    }
}

impl FromStr for Country {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_uppercase().as_str() {
            "US" | "USA" => Ok(Country::Us),
            _ => Err(format!("unsupported country {text:?}: only US data exists")),
        }
    }
}

/// How often each kind of damage happens. Rates are probabilities in `[0, 1]`;
/// unless said otherwise they apply per record (or per field where named).
#[derive(Debug, Clone, PartialEq)]
pub struct CorruptionRates {
    /// Per name, street, locality and e-mail local part: one character inserted,
    /// deleted, substituted (keyboard neighbour) or transposed. Call-center and
    /// point-of-sale records get twice / one and a half times as many.
    pub typo: f64,
    /// Given name written as a nickname (William -> Bill), when one exists.
    pub nickname: f64,
    /// Given name reduced to its initial ("J." Smith).
    pub given_initial: f64,
    /// Given and family name swapped.
    pub name_swap: f64,
    /// Diacritics dropped (Zoë -> Zoe), when the name has any.
    pub diacritics_dropped: f64,
    /// Whole record in upper case (legacy systems shout; scaled per source).
    pub upper_case: f64,
    /// A doubled, leading or trailing space in a name or street.
    pub extra_spaces: f64,
    /// Per optional field the source would have collected: left empty anyway.
    pub missing_field: f64,
    /// Record reduced to a name plus one contact (e-mail, phone or postcode).
    pub sparse_record: f64,
    /// One digit of the date of birth wrong (still a real date).
    pub dob_typo: f64,
    /// Day and month swapped, when the day is 12 or less.
    pub dob_day_month_swap: f64,
    /// E-mail address in different letter case (John.Smith@Gmail.com).
    pub email_case: f64,
    /// E-mail local part with a `+tag`.
    pub email_plus_tag: f64,
    /// One of the last four phone digits wrong (still a valid number).
    pub phone_typo: f64,
    /// Loyalty number with one digit wrong or two digits swapped.
    pub identifier_typo: f64,
}

impl Default for CorruptionRates {
    fn default() -> Self {
        Self {
            typo: 0.03,
            nickname: 0.20,
            given_initial: 0.02,
            name_swap: 0.01,
            diacritics_dropped: 0.40,
            upper_case: 0.04,
            extra_spaces: 0.03,
            missing_field: 0.06,
            sparse_record: 0.08,
            dob_typo: 0.02,
            dob_day_month_swap: 0.03,
            email_case: 0.05,
            email_plus_tag: 0.04,
            phone_typo: 0.005,
            identifier_typo: 0.01,
        }
    }
}

impl CorruptionRates {
    /// No damage at all: every record carries its entity's true values (sources
    /// still differ in which fields they collect and how they format them).
    pub fn none() -> Self {
        Self {
            typo: 0.0,
            nickname: 0.0,
            given_initial: 0.0,
            name_swap: 0.0,
            diacritics_dropped: 0.0,
            upper_case: 0.0,
            extra_spaces: 0.0,
            missing_field: 0.0,
            sparse_record: 0.0,
            dob_typo: 0.0,
            dob_day_month_swap: 0.0,
            email_case: 0.0,
            email_plus_tag: 0.0,
            phone_typo: 0.0,
            identifier_typo: 0.0,
        }
    }

    pub(super) fn named_rates(&self) -> [(&'static str, f64); 15] {
        [
            ("typo", self.typo),
            ("nickname", self.nickname),
            ("given_initial", self.given_initial),
            ("name_swap", self.name_swap),
            ("diacritics_dropped", self.diacritics_dropped),
            ("upper_case", self.upper_case),
            ("extra_spaces", self.extra_spaces),
            ("missing_field", self.missing_field),
            ("sparse_record", self.sparse_record),
            ("dob_typo", self.dob_typo),
            ("dob_day_month_swap", self.dob_day_month_swap),
            ("email_case", self.email_case),
            ("email_plus_tag", self.email_plus_tag),
            ("phone_typo", self.phone_typo),
            ("identifier_typo", self.identifier_typo),
        ]
    }
}

/// What to generate. Start from [`GeneratorConfig::new`] and change knobs as needed.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratorConfig {
    /// Exact number of records produced.
    pub records: usize,
    pub seed: u64,
    pub country: Country,
    /// Share of entities that are organizations (B2B customers).
    pub organization_share: f64,
    /// Share of persons who live in a household of 2-4 persons sharing an address.
    pub household_share: f64,
    /// Share of single persons given the full name of an earlier, different person.
    pub namesake_share: f64,
    /// Share of households with a father and a child where the first son is
    /// named after his father ("Jr": same name, same address, 25-35 years younger).
    pub junior_share: f64,
    /// Share of households with two or more children where two are twins.
    pub twin_share: f64,
    /// Share of persons (and households) that moved once: later records use the
    /// new address.
    pub moved_share: f64,
    /// Share of persons who changed e-mail address once.
    pub second_email_share: f64,
    pub corruption: CorruptionRates,
    /// Which fields the source systems collect.
    pub forms: Forms,
}

/// Which fields the source systems collect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Forms {
    /// As real systems do: a newsletter sign-up has an e-mail and maybe a name, a till
    /// a phone or a postcode, and some records keep one contact only. About a tenth of
    /// the true pairs then share no evidence at all, which caps any linker's recall.
    #[default]
    AsCollected,
    /// Every system asks for the name, birth date and address and mostly e-mail and
    /// phone, and no record is cut down to one contact: the shape of the classic
    /// linkage benchmarks (FEBRL, the North Carolina voter files), where a duplicate
    /// keeps most fields of its original. Population and damage are unchanged.
    Full,
}

impl GeneratorConfig {
    /// Realistic defaults for `records` records from `seed`.
    pub fn new(records: usize, seed: u64) -> Self {
        Self {
            records,
            seed,
            country: Country::Us,
            organization_share: 0.05,
            household_share: 0.30,
            namesake_share: 0.03,
            junior_share: 0.15,
            twin_share: 0.10,
            moved_share: 0.25,
            second_email_share: 0.30,
            corruption: CorruptionRates::default(),
            forms: Forms::AsCollected,
        }
    }

    /// [`GeneratorConfig::new`] with full forms ([`Forms::Full`]): the same persons,
    /// households and damage, every record with most fields.
    pub fn full_forms(records: usize, seed: u64) -> Self {
        Self {
            forms: Forms::Full,
            corruption: CorruptionRates {
                sparse_record: 0.0,
                ..CorruptionRates::default()
            },
            ..Self::new(records, seed)
        }
    }

    /// Every share and rate must be a probability.
    pub(super) fn assert_valid(&self) {
        let shares = [
            ("organization_share", self.organization_share),
            ("household_share", self.household_share),
            ("namesake_share", self.namesake_share),
            ("junior_share", self.junior_share),
            ("twin_share", self.twin_share),
            ("moved_share", self.moved_share),
            ("second_email_share", self.second_email_share),
        ];
        for (name, value) in shares.into_iter().chain(self.corruption.named_rates()) {
            assert!(
                (0.0..=1.0).contains(&value),
                "generator setting {name} = {value} is not a probability in [0, 1]"
            );
        }
    }
}

/// One source record as a source system would send it, plus its true entity.
/// Empty strings are missing values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedRecord {
    pub source_system: String,
    pub source_record_id: String,
    /// One of `call_center, web, email, store, mobile_app, partner, mail`.
    pub channel: &'static str,
    pub given_name: String,
    pub middle_name: String,
    pub family_name: String,
    pub organization_name: String,
    /// `YYYY-MM-DD` or `YYYYMMDD`.
    pub date_of_birth: String,
    pub email: String,
    pub phone: String,
    pub street_number: String,
    pub street: String,
    pub address_line2: String,
    pub locality: String,
    pub postcode: String,
    pub region: String,
    pub country: String,
    pub loyalty_id: String,
    pub account_code: String,
    pub national_id: String,
    pub device_id: String,
    /// Ground truth: records with the same `entity_id` are the same person or
    /// organization. Never written to the record file.
    pub entity_id: u64,
}

impl GeneratedRecord {
    /// `"{source_system}/{source_record_id}"`, the key used by [`pairwise_scores`].
    pub fn key(&self) -> String {
        format!("{}/{}", self.source_system, self.source_record_id)
    }

    /// `(key, entity_id)` for every record: the truth side of [`pairwise_scores`].
    pub fn truth_pairs(records: &[GeneratedRecord]) -> Vec<(String, u64)> {
        records
            .iter()
            .map(|record| (record.key(), record.entity_id))
            .collect()
    }

    pub(super) fn blank(system: System, channel: &'static str, entity_id: u64) -> Self {
        Self {
            source_system: system.name().to_owned(),
            source_record_id: String::new(),
            channel,
            given_name: String::new(),
            middle_name: String::new(),
            family_name: String::new(),
            organization_name: String::new(),
            date_of_birth: String::new(),
            email: String::new(),
            phone: String::new(),
            street_number: String::new(),
            street: String::new(),
            address_line2: String::new(),
            locality: String::new(),
            postcode: String::new(),
            region: String::new(),
            country: String::new(),
            loyalty_id: String::new(),
            account_code: String::new(),
            national_id: String::new(),
            device_id: String::new(),
            entity_id,
        }
    }
}
