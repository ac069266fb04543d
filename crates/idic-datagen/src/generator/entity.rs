//! The truth about an entity: persons and organizations with their real
//! attributes, before any source system writes them down.

use rand::Rng;

use super::names::NICKNAMES;

/// A calendar date that exists, with the year in `FIRST_YEAR..=LAST_YEAR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Date {
    pub year: u16,
    pub month: u8,
    pub day: u8,
}

impl Date {
    pub(crate) const FIRST_YEAR: u16 = 1930;
    pub(crate) const LAST_YEAR: u16 = 2007;

    pub(crate) fn new(year: u16, month: u8, day: u8) -> Option<Self> {
        let exists = (Self::FIRST_YEAR..=Self::LAST_YEAR).contains(&year)
            && (1..=12).contains(&month)
            && day >= 1
            && day <= days_in_month(year, month);
        exists.then_some(Self { year, month, day })
    }

    /// A uniformly chosen day of a year in `first_year..=last_year`.
    pub(crate) fn random(rng: &mut impl Rng, first_year: u16, last_year: u16) -> Self {
        debug_assert!(Self::FIRST_YEAR <= first_year && last_year <= Self::LAST_YEAR);
        let year = rng.random_range(first_year..=last_year);
        let month = rng.random_range(1..=12);
        let day = rng.random_range(1..=days_in_month(year, month));
        Self { year, month, day }
    }

    /// `YYYY-MM-DD`.
    pub(crate) fn iso(self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }

    /// `YYYYMMDD`.
    pub(crate) fn compact(self) -> String {
        format!("{:04}{:02}{:02}", self.year, self.month, self.day)
    }
}

pub(crate) fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// A ten-digit NANP number: area code, exchange, line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Phone(u64);

impl Phone {
    pub(crate) fn new(area: u64, exchange: u64, line: u64) -> Self {
        debug_assert!(
            (200..1_000).contains(&area) && (200..1_000).contains(&exchange) && line < 10_000
        );
        Self(area * 10_000_000 + exchange * 10_000 + line)
    }

    pub(crate) fn area(self) -> u64 {
        self.0 / 10_000_000
    }

    pub(crate) fn exchange(self) -> u64 {
        self.0 / 10_000 % 1_000
    }

    pub(crate) fn line(self) -> u64 {
        self.0 % 10_000
    }

    /// The same area code and exchange with another line number.
    pub(crate) fn with_line(self, line: u64) -> Self {
        debug_assert!(line < 10_000);
        Self(self.0 - self.line() + line)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UnitKind {
    Apartment,
    Suite,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unit {
    pub kind: UnitKind,
    /// "4B", "12", "210".
    pub label: String,
}

/// A postal address; indexes point into the place lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Address {
    pub number: u32,
    /// Index into `DIRECTIONS`.
    pub direction: Option<usize>,
    /// Index into `STREET_NAMES`.
    pub street: usize,
    /// Index into `STREET_TYPES`.
    pub street_type: usize,
    pub unit: Option<Unit>,
    /// Index into `CITIES`.
    pub city: usize,
    pub zip: u32,
    pub plus4: u16,
}

/// A real person.
#[derive(Debug, Clone)]
pub(crate) struct Person {
    pub entity_id: u64,
    pub given: &'static str,
    pub middle: Option<&'static str>,
    /// May be hyphenated ("Garcia-Lopez").
    pub family: String,
    /// Named after his father, who lives at the same address.
    pub junior: bool,
    pub dob: Date,
    /// Oldest first; a second entry means the person moved.
    pub addresses: Vec<Address>,
    /// Oldest first; a second entry means the person changed address.
    pub emails: Vec<String>,
    /// An address the whole household uses (thesmiths@...), shared with others.
    pub household_email: Option<String>,
    pub mobile: Option<Phone>,
    /// Shared with the household.
    pub landline: Option<Phone>,
    pub devices: Vec<String>,
    /// A tablet or computer the whole household uses.
    pub household_device: Option<String>,
    /// SSN-like, nine digits; never shared.
    pub national_id: Option<u32>,
    pub account_code: Option<String>,
    pub loyalty_id: u64,
}

/// A contact person at an organization.
#[derive(Debug, Clone)]
pub(crate) struct Contact {
    pub given: &'static str,
    pub family: String,
    pub email: String,
    pub mobile: Option<Phone>,
}

/// A business name: the distinctive words and an optional legal-form suffix.
#[derive(Debug, Clone)]
pub(crate) struct OrganizationName {
    /// "Summit Logistics", "Baker & Lee".
    pub words: String,
    /// Index into `ORGANIZATION_SUFFIXES`.
    pub suffix: Option<usize>,
}

/// A real organization (B2B customer).
#[derive(Debug, Clone)]
pub(crate) struct Organization {
    pub entity_id: u64,
    pub name: OrganizationName,
    pub contacts: Vec<Contact>,
    /// info@, sales@ ... at the organization's domain.
    pub role_email: String,
    pub main_phone: Phone,
    pub address: Address,
    pub account_code: String,
}

/// How many source records an entity has: skewed, mean about 2.8, a few with 8
/// to 30 (the regular customer who shows up in every system, several times).
pub(crate) fn record_count(rng: &mut impl Rng) -> usize {
    match rng.random_range(0..1000) {
        0..330 => 1,
        330..580 => 2,
        580..740 => 3,
        740..840 => 4,
        840..895 => 5,
        895..930 => 6,
        930..950 => 7,
        _ => {
            let mut count = 8;
            while count < 30 && rng.random_bool(0.65) {
                count += 1;
            }
            count
        }
    }
}

/// The nicknames of `given`, if it has any.
pub(crate) fn nicknames(given: &str) -> Option<&'static [&'static str]> {
    NICKNAMES
        .iter()
        .find(|(formal, _)| *formal == given)
        .map(|(_, short)| *short)
}

/// A random UUID-v4-shaped device id.
pub(crate) fn device_id(rng: &mut impl Rng) -> String {
    let bits: u128 = rng.random();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        (bits >> 96) as u32,
        (bits >> 80) as u16,
        (bits >> 68) as u16 & 0x0fff,
        ((bits >> 52) as u16 & 0x3fff) | 0x8000,
        bits as u64 & 0xffff_ffff_ffff,
    )
}
