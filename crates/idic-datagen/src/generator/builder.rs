//! Invents entities: single persons (some namesakes of earlier ones),
//! households with their shared address, landline and devices, and
//! organizations with contacts. Entity ids are handed out in creation order.

use rand::Rng;
use rand::seq::IndexedRandom;

use super::catalog::Catalog;
use super::config::GeneratorConfig;
use super::corrupt::ascii_letters;
use super::entity::{
    Address, Contact, Date, Organization, OrganizationName, Person, Phone, Unit, UnitKind,
    device_id, nicknames,
};
use super::names::{
    HANDLE_WORDS, ORGANIZATION_SUFFIXES, ORGANIZATION_TRADES, ORGANIZATION_WORDS, ROLE_MAILBOXES,
};
use super::places::{CITIES, DIRECTIONS};
use super::registry::Registry;

/// The parts of a person decided by who they are and where they live, before
/// contact details and identifiers are handed out.
struct PersonCore {
    given: &'static str,
    middle: Option<&'static str>,
    family: String,
    female: bool,
    junior: bool,
    dob: Date,
}

/// Someone whose full name a later, different person may share.
#[derive(Debug, Clone)]
struct NameSeed {
    given: &'static str,
    family: String,
    female: bool,
    city: usize,
}

/// How many recent persons namesakes are drawn from.
const NAMESAKE_POOL: usize = 4096;

/// Creates entities, handing out entity ids in creation order.
pub(crate) struct Builder<'a> {
    catalog: &'a Catalog,
    config: &'a GeneratorConfig,
    registry: Registry,
    next_entity_id: u64,
    namesake_pool: Vec<NameSeed>,
    namesake_next: usize,
}

impl<'a> Builder<'a> {
    pub(crate) fn new(catalog: &'a Catalog, config: &'a GeneratorConfig) -> Self {
        Self {
            catalog,
            config,
            registry: Registry::default(),
            next_entity_id: 1,
            namesake_pool: Vec::with_capacity(NAMESAKE_POOL),
            namesake_next: 0,
        }
    }

    pub(crate) fn registry(&self) -> &Registry {
        &self.registry
    }

    fn next_entity_id(&mut self) -> u64 {
        let id = self.next_entity_id;
        self.next_entity_id += 1;
        id
    }

    /// A person living alone (as far as the data shows). Some are namesakes of an
    /// earlier person: same given and family name, otherwise a different life.
    pub(crate) fn single_person(&mut self, rng: &mut impl Rng) -> Person {
        let namesake = if rng.random_bool(self.config.namesake_share) {
            self.namesake_pool.choose(rng).cloned()
        } else {
            None
        };
        let (given, family, female, city) = match namesake {
            Some(seed) => {
                // Namesakes in the same town are the hardest to tell apart.
                let city = if rng.random_bool(0.3) {
                    seed.city
                } else {
                    self.catalog.city(rng)
                };
                (seed.given, seed.family, seed.female, city)
            }
            None => {
                let female = rng.random_bool(0.5);
                (
                    self.catalog.given_name(rng, female),
                    self.family_name(rng),
                    female,
                    self.catalog.city(rng),
                )
            }
        };
        let middle = self.middle_name(rng, female, given);
        let dob = Date::random(rng, 1932, 2006);
        let addresses = self.address_history(rng, city);
        let landline = rng
            .random_bool(0.2)
            .then(|| self.registry.new_phone(rng, CITIES[city].area_codes));
        let core = PersonCore {
            given,
            middle,
            family,
            female,
            junior: false,
            dob,
        };
        self.person(rng, core, addresses, landline)
    }

    /// Two to four persons at one address with one landline: a couple, a couple
    /// with children, a single parent, or roommates. Given names differ, except a
    /// son named after his father ("Jr"); twins share a date of birth.
    pub(crate) fn household(&mut self, rng: &mut impl Rng) -> Vec<Person> {
        let size = match rng.random_range(0..100) {
            0..55 => 2,
            55..80 => 3,
            _ => 4,
        };
        let roll = rng.random_range(0..100);
        let (couple, children) = match size {
            2 if roll < 70 => (true, 0),
            2 if roll < 90 => (false, 1),
            2 => return self.roommates(rng),
            3 if roll < 80 => (true, 1),
            3 => (false, 2),
            _ => (true, 2),
        };

        let city = self.catalog.city(rng);
        let addresses = self.address_history(rng, city);
        let landline = rng
            .random_bool(0.65)
            .then(|| self.registry.new_phone(rng, CITIES[city].area_codes));
        let family = self.family_name(rng);
        // Parents of children born by 2007 were born by 1982.
        let last_parent_year = if children > 0 { 1982 } else { 2004 };
        let mut cores = Vec::with_capacity(size);

        let first_female = if couple {
            rng.random_bool(0.05)
        } else {
            rng.random_bool(0.7)
        };
        let first_dob = Date::random(rng, 1932, last_parent_year);
        cores.push(self.household_member(rng, &cores, first_female, family.clone(), first_dob));
        if couple {
            // Mostly mixed-sex couples; the partner took the family name 75% of the time.
            let partner_female = if rng.random_bool(0.9) {
                !first_female
            } else {
                first_female
            };
            let partner_family = if rng.random_bool(0.75) {
                family.clone()
            } else {
                self.family_name(rng)
            };
            let year = (i32::from(first_dob.year) + rng.random_range(-6..=6))
                .clamp(i32::from(Date::FIRST_YEAR), i32::from(last_parent_year))
                as u16;
            let partner_dob = Date::random(rng, year, year);
            cores.push(self.household_member(
                rng,
                &cores,
                partner_female,
                partner_family,
                partner_dob,
            ));
        }

        let father = cores.iter().position(|core| !core.female);
        let youngest_parent_year = cores
            .iter()
            .map(|core| core.dob.year)
            .max()
            .unwrap_or(first_dob.year);
        let mut first_child_dob = None;
        for child in 0..children {
            let twin = child == 1 && rng.random_bool(self.config.twin_share);
            let junior =
                child == 0 && father.is_some() && rng.random_bool(self.config.junior_share);
            let core = if junior {
                let father = &cores[father.expect("checked above")];
                // Born 25-35 years after his father.
                let gap = rng.random_range(25..=35.min(Date::LAST_YEAR - father.dob.year));
                let year = father.dob.year + gap;
                PersonCore {
                    given: father.given,
                    middle: if rng.random_bool(0.7) {
                        father.middle
                    } else {
                        self.middle_name(rng, false, father.given)
                    },
                    family: father.family.clone(),
                    female: false,
                    junior: true,
                    dob: Date::random(rng, year, year),
                }
            } else {
                let dob = match first_child_dob {
                    Some(dob) if twin => dob,
                    _ => {
                        let gap_limit = 40.min(Date::LAST_YEAR - youngest_parent_year);
                        let year =
                            youngest_parent_year + rng.random_range(22.min(gap_limit)..=gap_limit);
                        Date::random(rng, year, year)
                    }
                };
                let female = rng.random_bool(0.5);
                self.household_member(rng, &cores, female, family.clone(), dob)
            };
            first_child_dob.get_or_insert(core.dob);
            cores.push(core);
        }

        let household_email = (couple && rng.random_bool(0.05)).then(|| {
            let family_letters = ascii_letters(&family);
            let local = if rng.random_bool(0.5) {
                format!("the{family_letters}s")
            } else {
                format!("{family_letters}family")
            };
            let domain = self.catalog.email_domain(rng);
            self.registry.claim_email(rng, &local, domain)
        });
        let household_device = rng.random_bool(0.15).then(|| device_id(rng));

        let adults = if couple { 2 } else { 1 };
        let mut members = Vec::with_capacity(cores.len());
        for (index, core) in cores.into_iter().enumerate() {
            let mut person = self.person(rng, core, addresses.clone(), landline);
            if index < adults {
                person.household_email.clone_from(&household_email);
            }
            person.household_device.clone_from(&household_device);
            members.push(person);
        }
        members
    }

    /// Two unrelated adults sharing a flat and its landline.
    fn roommates(&mut self, rng: &mut impl Rng) -> Vec<Person> {
        let city = self.catalog.city(rng);
        let addresses = self.address_history(rng, city);
        let landline = rng
            .random_bool(0.3)
            .then(|| self.registry.new_phone(rng, CITIES[city].area_codes));
        let first_year: u16 = rng.random_range(1960..=2004);
        let mut cores = Vec::with_capacity(2);
        for _ in 0..2 {
            let year = rng
                .random_range(first_year.saturating_sub(8).max(1930)..=(first_year + 3).min(2006));
            let family = self.family_name(rng);
            let dob = Date::random(rng, year, year);
            let female = rng.random_bool(0.5);
            cores.push(self.household_member(rng, &cores, female, family, dob));
        }
        cores
            .into_iter()
            .map(|core| self.person(rng, core, addresses.clone(), landline))
            .collect()
    }

    /// A household member whose given name differs from the others'.
    fn household_member(
        &self,
        rng: &mut impl Rng,
        others: &[PersonCore],
        female: bool,
        family: String,
        dob: Date,
    ) -> PersonCore {
        let mut given = self.catalog.given_name(rng, female);
        for _ in 0..32 {
            if !others.iter().any(|other| other.given == given) {
                break;
            }
            given = self.catalog.given_name(rng, female);
        }
        let middle = self.middle_name(rng, female, given);
        PersonCore {
            given,
            middle,
            family,
            female,
            junior: false,
            dob,
        }
    }

    /// A surname; 3% are double-barrelled.
    fn family_name(&self, rng: &mut impl Rng) -> String {
        let first = self.catalog.surname(rng);
        if rng.random_bool(0.03) {
            let second = self.catalog.surname(rng);
            if second != first && !first.contains(' ') && !second.contains(' ') {
                return format!("{first}-{second}");
            }
        }
        first.to_owned()
    }

    /// 55% have a middle name, never the same as the given name.
    fn middle_name(&self, rng: &mut impl Rng, female: bool, given: &str) -> Option<&'static str> {
        if !rng.random_bool(0.55) {
            return None;
        }
        let middle = self.catalog.given_name(rng, female);
        (middle != given).then_some(middle)
    }

    /// One address, and with probability `moved_share` a later one (60% in the same city).
    fn address_history(&self, rng: &mut impl Rng, city: usize) -> Vec<Address> {
        let mut history = vec![self.address(rng, city, UnitKind::Apartment)];
        if rng.random_bool(self.config.moved_share) {
            let new_city = if rng.random_bool(0.6) {
                city
            } else {
                self.catalog.city(rng)
            };
            history.push(self.address(rng, new_city, UnitKind::Apartment));
        }
        history
    }

    fn address(&self, rng: &mut impl Rng, city: usize, unit_kind: UnitKind) -> Address {
        let number = match rng.random_range(0..10) {
            0..6 => rng.random_range(1..1_000),
            6..9 => rng.random_range(1_000..10_000),
            _ => rng.random_range(10_000..30_000),
        };
        let unit_share = match unit_kind {
            UnitKind::Apartment => 0.22,
            UnitKind::Suite => 0.45,
        };
        let unit = rng.random_bool(unit_share).then(|| {
            let label = match unit_kind {
                UnitKind::Apartment if rng.random_bool(0.4) => {
                    format!(
                        "{}{}",
                        rng.random_range(1..=20),
                        char::from(rng.random_range(b'A'..=b'F'))
                    )
                }
                UnitKind::Apartment => rng.random_range(1..=60).to_string(),
                UnitKind::Suite => (rng.random_range(1..=40) * 10 + 100).to_string(),
            };
            Unit {
                kind: unit_kind,
                label,
            }
        });
        let zip_prefix = *CITIES[city]
            .zip_prefixes
            .choose(rng)
            .expect("every city has a ZIP prefix");
        Address {
            number,
            direction: rng
                .random_bool(0.12)
                .then(|| rng.random_range(0..DIRECTIONS.len())),
            street: self.catalog.street(rng),
            street_type: self.catalog.street_type(rng),
            unit,
            city,
            zip: u32::from(zip_prefix) * 100 + rng.random_range(1..100),
            plus4: rng.random_range(1..10_000),
        }
    }

    /// Contact details and identifiers for `core`, and its entity id.
    fn person(
        &mut self,
        rng: &mut impl Rng,
        core: PersonCore,
        addresses: Vec<Address>,
        landline: Option<Phone>,
    ) -> Person {
        let entity_id = self.next_entity_id();
        let home_city = addresses[0].city;
        let mut emails = vec![self.personal_email(rng, &core)];
        if rng.random_bool(self.config.second_email_share) {
            emails.push(self.personal_email(rng, &core));
        }
        let mobile = rng.random_bool(0.93).then(|| {
            // A fifth of people kept a mobile number from a city they left.
            let city = if rng.random_bool(0.2) {
                self.catalog.city(rng)
            } else {
                home_city
            };
            self.registry.new_phone(rng, CITIES[city].area_codes)
        });
        let device_count = if rng.random_bool(0.3) { 2 } else { 1 };
        let devices = (0..device_count).map(|_| device_id(rng)).collect();
        let national_id = rng
            .random_bool(0.4)
            .then(|| self.registry.new_national_id(rng));
        let account_code = rng
            .random_bool(0.15)
            .then(|| self.registry.new_account_code(rng));
        let loyalty_id = self.registry.new_loyalty_id(rng);
        self.remember_name(&core, home_city);
        Person {
            entity_id,
            given: core.given,
            middle: core.middle,
            family: core.family,
            junior: core.junior,
            dob: core.dob,
            addresses,
            emails,
            household_email: None,
            mobile,
            landline,
            devices,
            household_device: None,
            national_id,
            account_code,
            loyalty_id,
        }
    }

    fn remember_name(&mut self, core: &PersonCore, city: usize) {
        let seed = NameSeed {
            given: core.given,
            family: core.family.clone(),
            female: core.female,
            city,
        };
        if self.namesake_pool.len() < NAMESAKE_POOL {
            self.namesake_pool.push(seed);
        } else {
            self.namesake_pool[self.namesake_next] = seed;
            self.namesake_next = (self.namesake_next + 1) % NAMESAKE_POOL;
        }
    }

    /// A consumer address built from the name the way people build them.
    fn personal_email(&mut self, rng: &mut impl Rng, core: &PersonCore) -> String {
        // A fifth of those with a nickname use it in their handle.
        let given = match nicknames(core.given) {
            Some(short) if rng.random_bool(0.2) => {
                *short.choose(rng).expect("nickname lists are not empty")
            }
            _ => core.given,
        };
        let given = ascii_letters(given);
        let family = ascii_letters(&core.family);
        let initial = &given[..1];
        let year = core.dob.year;
        let short_year = year % 100;
        let local = match rng.random_range(0..100) {
            0..28 => format!("{given}.{family}"),
            28..43 => format!("{given}{family}"),
            43..55 => format!("{initial}{family}"),
            55..63 => format!("{given}_{family}"),
            63..73 => format!("{given}.{family}{short_year:02}"),
            73..80 => format!("{family}.{given}"),
            80..88 => format!("{given}{family}{year}"),
            88..94 => format!("{initial}.{family}{}", rng.random_range(1..100)),
            _ => format!(
                "{}{given}{}",
                HANDLE_WORDS.choose(rng).expect("not empty"),
                rng.random_range(1..100)
            ),
        };
        let domain = self.catalog.email_domain(rng);
        self.registry.claim_email(rng, &local, domain)
    }

    /// A business with one to three contacts, a main line, an address (often a
    /// suite) and an account code.
    pub(crate) fn organization(&mut self, rng: &mut impl Rng) -> Organization {
        let entity_id = self.next_entity_id();
        let name = self.organization_name(rng);
        let city = self.catalog.city(rng);
        let address = self.address(rng, city, UnitKind::Suite);
        let domain = self
            .registry
            .claim_domain(rng, &name.words, CITIES[city].name);
        let mailbox = ROLE_MAILBOXES.choose(rng).expect("not empty");
        let role_email = self.registry.claim_email(rng, mailbox, &domain);
        let contact_count = match rng.random_range(0..100) {
            0..50 => 1,
            50..85 => 2,
            _ => 3,
        };
        let mut contacts = Vec::with_capacity(contact_count);
        for _ in 0..contact_count {
            let female = rng.random_bool(0.5);
            let given = self.catalog.given_name(rng, female);
            let family = self.family_name(rng);
            let (given_letters, family_letters) = (ascii_letters(given), ascii_letters(&family));
            let local = match rng.random_range(0..3) {
                0 => format!("{given_letters}.{family_letters}"),
                1 => format!("{}{family_letters}", &given_letters[..1]),
                _ => given_letters,
            };
            let email = self.registry.claim_email(rng, &local, &domain);
            let mobile = rng
                .random_bool(0.6)
                .then(|| self.registry.new_phone(rng, CITIES[city].area_codes));
            contacts.push(Contact {
                given,
                family,
                email,
                mobile,
            });
        }
        let main_phone = self.registry.new_phone(rng, CITIES[city].area_codes);
        let account_code = self.registry.new_account_code(rng);
        Organization {
            entity_id,
            name,
            contacts,
            role_email,
            main_phone,
            address,
            account_code,
        }
    }

    fn organization_name(&self, rng: &mut impl Rng) -> OrganizationName {
        let trade = *ORGANIZATION_TRADES.choose(rng).expect("not empty");
        let words = match rng.random_range(0..100) {
            0..30 => format!(
                "{} {trade}",
                ORGANIZATION_WORDS.choose(rng).expect("not empty")
            ),
            30..65 => format!("{} {trade}", self.catalog.surname(rng)),
            65..90 => {
                let (first, second) = (self.catalog.surname(rng), self.catalog.surname(rng));
                if rng.random_bool(0.5) {
                    format!("{first} & {second}")
                } else {
                    format!("{first} & {second} {trade}")
                }
            }
            _ => format!("{} Brothers {trade}", self.catalog.surname(rng)),
        };
        let suffix = rng
            .random_bool(0.8)
            .then(|| rng.random_range(0..ORGANIZATION_SUFFIXES.len()));
        OrganizationName { words, suffix }
    }
}
