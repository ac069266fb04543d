//! Writes an entity down the way one source system would: picks the system and
//! channel, the fields that system collects, their formats, and the damage the
//! record suffers on the way in.

use rand::Rng;
use rand::seq::IndexedRandom;

use super::config::{CorruptionRates, Forms, GeneratedRecord, GeneratorConfig};
use super::corrupt::{
    date_digit_typo, email_local_typo, extra_space, fold_diacritics, format_phone, typo,
};
use super::entity::{
    Address, Date, Organization, OrganizationName, Person, Phone, UnitKind, nicknames,
};
use super::names::{ORGANIZATION_SUFFIXES, PLUS_TAGS};
use super::places::{CITIES, DIRECTIONS, STATE_NAMES, STREET_NAMES, STREET_TYPES};
use super::registry::Registry;
use super::sources::{Profile, System};

/// The one contact a sparse record keeps besides the name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sparse {
    Email,
    Phone,
    Postcode,
}

/// Per-record decisions that apply to several fields at once.
struct Style {
    typo_rate: f64,
    /// The system cannot store diacritics.
    ascii_only: bool,
}

pub(crate) struct Renderer<'a> {
    rates: &'a CorruptionRates,
    country: &'static str,
    /// What each system collects, in `System::ALL` order.
    profiles: Vec<Profile>,
}

impl<'a> Renderer<'a> {
    pub(crate) fn new(config: &'a GeneratorConfig) -> Self {
        let profiles = System::ALL
            .iter()
            .map(|system| match config.forms {
                Forms::AsCollected => system.profile().clone(),
                Forms::Full => system.full_form_profile(),
            })
            .collect();
        Self {
            rates: &config.corruption,
            country: config.country.code(),
            profiles,
        }
    }

    fn profile(&self, system: System) -> &Profile {
        let index = System::ALL
            .iter()
            .position(|candidate| *candidate == system)
            .unwrap_or(0);
        &self.profiles[index]
    }

    /// `count` records of `person`, in time order: the address and e-mail in use
    /// switch to the newer one at a random point of the person's history.
    pub(crate) fn person_records(
        &self,
        rng: &mut impl Rng,
        person: &Person,
        count: usize,
        registry: &Registry,
        out: &mut Vec<GeneratedRecord>,
    ) {
        let moved_at = change_point(rng, count, person.addresses.len());
        let new_email_at = change_point(rng, count, person.emails.len());
        for index in 0..count {
            let address = &person.addresses[usize::from(index >= moved_at)];
            let email = &person.emails[usize::from(index >= new_email_at)];
            out.push(self.person_record(rng, person, address, email, registry));
        }
    }

    pub(crate) fn organization_records(
        &self,
        rng: &mut impl Rng,
        organization: &Organization,
        count: usize,
        out: &mut Vec<GeneratedRecord>,
    ) {
        for _ in 0..count {
            out.push(self.organization_record(rng, organization));
        }
    }

    fn person_record(
        &self,
        rng: &mut impl Rng,
        person: &Person,
        address: &Address,
        email: &str,
        registry: &Registry,
    ) -> GeneratedRecord {
        let system = System::for_person(rng);
        let profile = self.profile(system);
        let channel = system.channel(rng);
        let mut record = GeneratedRecord::blank(system, channel, person.entity_id);
        let style = self.style(rng, profile);
        let has_phone = person.mobile.is_some() || person.landline.is_some();
        let sparse =
            rng.random_bool(self.rates.sparse_record)
                .then(|| match rng.random_range(0..100) {
                    45..80 if has_phone => Sparse::Phone,
                    0..80 => Sparse::Email,
                    _ => Sparse::Postcode,
                });
        let full = sparse.is_none();

        // Names are kept even on sparse records; a missing given or family name is
        // rarer than other missing fields.
        if rng.random_bool(profile.given) && !rng.random_bool(self.rates.missing_field / 4.0) {
            record.given_name = self.given_name(rng, person.given);
        }
        if rng.random_bool(profile.family) && !rng.random_bool(self.rates.missing_field / 4.0) {
            record.family_name = self.family_name(rng, &person.family, person.junior);
        }
        if let Some(middle) = person.middle
            && full
            && self.keeps(rng, profile.middle)
        {
            record.middle_name = match rng.random_range(0..100) {
                0..50 => middle.to_owned(),
                50..85 => initial(middle),
                _ => format!("{}.", initial(middle)),
            };
        }
        self.damage_names(rng, &mut record, &style);

        if full && self.keeps(rng, profile.dob) {
            record.date_of_birth = self.date_of_birth(rng, person.dob, profile);
        }
        if sparse == Some(Sparse::Email) || (full && self.keeps(rng, profile.email)) {
            // Couples sometimes give the shared family address.
            let chosen = match &person.household_email {
                Some(shared) if rng.random_bool(0.25) => shared.as_str(),
                _ => email,
            };
            record.email = self.email(rng, chosen, &style);
        }
        if sparse == Some(Sparse::Phone) || (full && self.keeps(rng, profile.phone)) {
            record.phone = self.person_phone(rng, person, registry);
        }
        if sparse == Some(Sparse::Postcode) || (full && self.keeps(rng, profile.address)) {
            let postcode_only = profile.postcode_only || sparse.is_some();
            self.address(rng, &mut record, address, profile, postcode_only, &style);
        }
        if full && self.keeps(rng, profile.loyalty) {
            record.loyalty_id = self.loyalty_id(rng, person.loyalty_id);
        }
        if let Some(national_id) = person.national_id
            && full
            && self.keeps(rng, profile.national_id)
        {
            record.national_id = if rng.random_bool(0.7) {
                format!(
                    "{:03}-{:02}-{:04}",
                    national_id / 1_000_000,
                    national_id / 10_000 % 100,
                    national_id % 10_000
                )
            } else {
                format!("{national_id:09}")
            };
        }
        if let Some(account_code) = &person.account_code
            && full
            && self.keeps(rng, profile.person_account)
        {
            record.account_code.clone_from(account_code);
        }
        if matches!(channel, "web" | "mobile_app") && full && self.keeps(rng, profile.device) {
            let device = match &person.household_device {
                Some(shared) if rng.random_bool(0.3) => shared,
                _ => person
                    .devices
                    .choose(rng)
                    .expect("every person has a device"),
            };
            record.device_id.clone_from(device);
        }
        // Nobody sends a record with nothing in it: keep at least the family name.
        if is_blank(&record) {
            record.family_name = self.family_name(rng, &person.family, person.junior);
        }
        self.shout(rng, &mut record, profile);
        record
    }

    fn organization_record(
        &self,
        rng: &mut impl Rng,
        organization: &Organization,
    ) -> GeneratedRecord {
        let system = System::for_organization(rng);
        let profile = self.profile(system);
        let channel = system.channel(rng);
        let mut record = GeneratedRecord::blank(system, channel, organization.entity_id);
        let style = self.style(rng, profile);

        record.organization_name = self.organization_name(rng, &organization.name, &style);
        // Most business records name the person who called or ordered.
        let contact = if rng.random_bool(0.7) {
            organization.contacts.choose(rng)
        } else {
            None
        };
        if let Some(contact) = contact {
            record.given_name = self.given_name(rng, contact.given);
            if !rng.random_bool(self.rates.missing_field / 4.0) {
                record.family_name = self.family_name(rng, &contact.family, false);
            }
            self.damage_names(rng, &mut record, &style);
        }
        if self.keeps(rng, profile.email.max(0.6)) {
            let email = match contact {
                Some(contact) if rng.random_bool(0.6) => &contact.email,
                _ => &organization.role_email,
            };
            record.email = self.email(rng, email, &style);
        }
        if self.keeps(rng, profile.phone) {
            let phone = match contact.and_then(|contact| contact.mobile) {
                Some(mobile) if rng.random_bool(0.25) => mobile,
                _ => organization.main_phone,
            };
            record.phone = format_phone(rng, phone);
        }
        if self.keeps(rng, profile.address) {
            self.address(
                rng,
                &mut record,
                &organization.address,
                profile,
                profile.postcode_only,
                &style,
            );
        }
        if self.keeps(rng, profile.organization_account) {
            record.account_code.clone_from(&organization.account_code);
        }
        self.shout(rng, &mut record, profile);
        record
    }

    fn style(&self, rng: &mut impl Rng, profile: &Profile) -> Style {
        Style {
            typo_rate: (self.rates.typo * profile.typo_factor).min(1.0),
            ascii_only: rng.random_bool(self.rates.diacritics_dropped),
        }
    }

    /// Whether a field the source collects with probability `collected` made it
    /// into this record. A field collected always (1.0) is one the system
    /// requires, such as the newsletter's e-mail: it is never missing.
    fn keeps(&self, rng: &mut impl Rng, collected: f64) -> bool {
        if collected >= 1.0 {
            return true;
        }
        rng.random_bool(collected) && !rng.random_bool(self.rates.missing_field)
    }

    /// The formal given name, a nickname, or an initial.
    fn given_name(&self, rng: &mut impl Rng, formal: &str) -> String {
        if let Some(short) = nicknames(formal)
            && rng.random_bool(self.rates.nickname)
        {
            return (*short.choose(rng).expect("nickname lists are not empty")).to_owned();
        }
        if rng.random_bool(self.rates.given_initial) {
            let letter = initial(formal);
            return if rng.random_bool(0.5) {
                format!("{letter}.")
            } else {
                letter
            };
        }
        formal.to_owned()
    }

    /// The family name as a clerk writes it: half of a double-barrelled name,
    /// without the apostrophe, with "Jr" for a junior.
    fn family_name(&self, rng: &mut impl Rng, family: &str, junior: bool) -> String {
        let mut name = match family.split_once('-') {
            Some((first, second)) => match rng.random_range(0..100) {
                0..35 => first.to_owned(),
                35..45 => second.to_owned(),
                45..55 => format!("{first} {second}"),
                _ => family.to_owned(),
            },
            None => family.to_owned(),
        };
        if name.contains('\'') {
            match rng.random_range(0..100) {
                0..30 => name = name.replace('\'', ""),
                30..40 => name = name.replace('\'', " "),
                _ => {}
            }
        }
        if junior && rng.random_bool(0.2) {
            name.push_str(if rng.random_bool(0.5) { " Jr" } else { " Jr." });
        }
        name
    }

    /// Diacritics, typos, swapped names and stray spaces on the person fields.
    fn damage_names(&self, rng: &mut impl Rng, record: &mut GeneratedRecord, style: &Style) {
        for name in [
            &mut record.given_name,
            &mut record.middle_name,
            &mut record.family_name,
        ] {
            if style.ascii_only && !name.is_ascii() {
                *name = fold_diacritics(name);
            }
            if name.chars().count() > 2 && rng.random_bool(style.typo_rate) {
                *name = typo(rng, name);
            }
        }
        if !record.given_name.is_empty()
            && !record.family_name.is_empty()
            && rng.random_bool(self.rates.name_swap)
        {
            std::mem::swap(&mut record.given_name, &mut record.family_name);
        }
        if rng.random_bool(self.rates.extra_spaces) {
            let name = if rng.random_bool(0.5) {
                &mut record.given_name
            } else {
                &mut record.family_name
            };
            if !name.is_empty() {
                *name = extra_space(rng, name);
            }
        }
    }

    /// The date of birth, sometimes with a digit wrong or day and month swapped.
    fn date_of_birth(&self, rng: &mut impl Rng, dob: Date, profile: &Profile) -> String {
        let mut date = dob;
        if rng.random_bool(self.rates.dob_typo) {
            date = date_digit_typo(rng, date);
        } else if date.day <= 12
            && date.day != date.month
            && rng.random_bool(self.rates.dob_day_month_swap)
        {
            date = Date::new(date.year, date.day, date.month).unwrap_or(date);
        }
        if rng.random_bool(profile.compact_date) {
            date.compact()
        } else {
            date.iso()
        }
    }

    /// `address` with an occasional typo in the local part, a `+tag`, or other
    /// letter case; always still a valid address.
    fn email(&self, rng: &mut impl Rng, address: &str, style: &Style) -> String {
        let (local, domain) = address
            .split_once('@')
            .expect("generated e-mails have an @");
        let mut local = local.to_owned();
        let mut domain = domain.to_owned();
        // People type their own address more carefully than a clerk types names.
        if rng.random_bool(style.typo_rate / 2.0) {
            local = email_local_typo(rng, &local);
        }
        if rng.random_bool(self.rates.email_plus_tag) && !local.contains('+') {
            local.push('+');
            local.push_str(PLUS_TAGS.choose(rng).expect("not empty"));
        }
        if rng.random_bool(self.rates.email_case) {
            if rng.random_bool(0.3) {
                local.make_ascii_uppercase();
                domain.make_ascii_uppercase();
            } else {
                local = capitalize_parts(&local);
                domain = capitalize_parts(&domain);
            }
        }
        format!("{local}@{domain}")
    }

    /// The mobile (mostly) or the landline, in some format; rarely a digit off.
    fn person_phone(&self, rng: &mut impl Rng, person: &Person, registry: &Registry) -> String {
        let phone = match (person.mobile, person.landline) {
            (Some(mobile), Some(landline)) => {
                if rng.random_bool(0.7) {
                    mobile
                } else {
                    landline
                }
            }
            (Some(mobile), None) => mobile,
            (None, Some(landline)) => landline,
            (None, None) => return String::new(),
        };
        let phone = if rng.random_bool(self.rates.phone_typo) {
            phone_slip(rng, phone, registry)
        } else {
            phone
        };
        format_phone(rng, phone)
    }

    /// Street, unit, locality, region, ZIP and country, or only the ZIP (and
    /// country) for sources that collect no more.
    fn address(
        &self,
        rng: &mut impl Rng,
        record: &mut GeneratedRecord,
        address: &Address,
        profile: &Profile,
        postcode_only: bool,
        style: &Style,
    ) {
        record.postcode = if rng.random_bool(profile.zip_plus4) {
            format!("{:05}-{:04}", address.zip, address.plus4)
        } else {
            format!("{:05}", address.zip)
        };
        if rng.random_bool(0.7) {
            record.country = self.country.to_owned();
        }
        if postcode_only {
            return;
        }
        let city = &CITIES[address.city];
        record.street_number = address.number.to_string();
        record.street = self.street(rng, address, style);
        if let Some(unit) = &address.unit
            && !rng.random_bool(0.2)
        {
            record.address_line2 = unit_line(rng, unit.kind, &unit.label);
        }
        record.locality = match city.aliases.choose(rng) {
            Some(alias) if rng.random_bool(0.1) => (*alias).to_owned(),
            _ => city.name.to_owned(),
        };
        if rng.random_bool(style.typo_rate / 2.0) {
            record.locality = typo(rng, &record.locality);
        }
        record.region = if rng.random_bool(profile.state_name) {
            state_name(city.state).to_owned()
        } else {
            city.state.to_owned()
        };
    }

    /// "N Main St", "North Main Street", "Main St." ...
    fn street(&self, rng: &mut impl Rng, address: &Address, style: &Style) -> String {
        let mut line = String::with_capacity(24);
        if let Some(direction) = address.direction {
            let (short, long) = DIRECTIONS[direction];
            match rng.random_range(0..10) {
                0..6 => line.push_str(short),
                6 => {
                    line.push_str(short);
                    line.push('.');
                }
                _ => line.push_str(long),
            }
            line.push(' ');
        }
        let name = STREET_NAMES[address.street];
        if rng.random_bool(style.typo_rate) {
            line.push_str(&typo(rng, name));
        } else {
            line.push_str(name);
        }
        let (short, long, _) = STREET_TYPES[address.street_type];
        line.push(' ');
        match rng.random_range(0..100) {
            0..45 => line.push_str(short),
            45..55 if short != long => {
                line.push_str(short);
                line.push('.');
            }
            _ => line.push_str(long),
        }
        if rng.random_bool(self.rates.extra_spaces / 2.0) {
            line = extra_space(rng, &line);
        }
        line
    }

    /// The business name with its legal form written one of several ways.
    fn organization_name(
        &self,
        rng: &mut impl Rng,
        name: &OrganizationName,
        style: &Style,
    ) -> String {
        let mut words = name.words.clone();
        if words.contains(" & ") && rng.random_bool(0.25) {
            words = words.replace(" & ", " and ");
        }
        if words.contains(" Brothers ") && rng.random_bool(0.3) {
            words = words.replace(" Brothers ", " Bros. ");
        }
        if style.ascii_only && !words.is_ascii() {
            words = fold_diacritics(&words);
        }
        if rng.random_bool(style.typo_rate) {
            words = typo(rng, &words);
        }
        let mut text = if rng.random_bool(0.04) {
            format!("The {words}")
        } else {
            words
        };
        if let Some(suffix) = name.suffix {
            let forms = ORGANIZATION_SUFFIXES[suffix];
            match rng.random_range(0..100) {
                0..55 => {
                    text.push(' ');
                    text.push_str(forms[0]);
                }
                55..80 => {
                    text.push(' ');
                    text.push_str(forms.choose(rng).expect("not empty"));
                }
                80..88 => {
                    text.push_str(", ");
                    text.push_str(forms[0]);
                }
                // Dropped, as many sources do.
                _ => {}
            }
        }
        text
    }

    /// The loyalty number, rarely mistyped (one digit wrong or two swapped).
    fn loyalty_id(&self, rng: &mut impl Rng, loyalty_id: u64) -> String {
        let mut digits = loyalty_id.to_string().into_bytes();
        if rng.random_bool(self.rates.identifier_typo) {
            let at = rng.random_range(1..digits.len() - 1);
            if rng.random_bool(0.5) && digits[at] != digits[at + 1] {
                digits.swap(at, at + 1);
            } else {
                digits[at] = b'0' + (digits[at] - b'0' + rng.random_range(1..10)) % 10;
            }
        }
        String::from_utf8(digits).expect("digits are ASCII")
    }

    /// Upper-cases the record's text fields, as legacy systems store them.
    fn shout(&self, rng: &mut impl Rng, record: &mut GeneratedRecord, profile: &Profile) {
        if !rng.random_bool((self.rates.upper_case * profile.upper_case_factor).min(1.0)) {
            return;
        }
        for field in [
            &mut record.given_name,
            &mut record.middle_name,
            &mut record.family_name,
            &mut record.organization_name,
            &mut record.street,
            &mut record.address_line2,
            &mut record.locality,
        ] {
            *field = field.to_uppercase();
        }
    }
}

/// The index of the first record that uses the newer of two versions (address or
/// e-mail), or `usize::MAX` when there is only one version. With several records
/// both versions appear; a lone record uses either.
fn change_point(rng: &mut impl Rng, count: usize, versions: usize) -> usize {
    match (versions, count) {
        (0 | 1, _) => usize::MAX,
        (_, 0 | 1) => rng.random_range(0..=1),
        _ => rng.random_range(1..count),
    }
}

/// No name, contact or identifier at all.
fn is_blank(record: &GeneratedRecord) -> bool {
    [
        &record.given_name,
        &record.family_name,
        &record.organization_name,
        &record.email,
        &record.phone,
        &record.postcode,
        &record.street,
        &record.loyalty_id,
        &record.account_code,
        &record.national_id,
        &record.device_id,
    ]
    .iter()
    .all(|field| field.is_empty())
}

/// First letter of `name`.
fn initial(name: &str) -> String {
    name.chars().next().map(String::from).unwrap_or_default()
}

/// "john.smith" -> "John.Smith", "gmail.com" -> "Gmail.Com".
fn capitalize_parts(text: &str) -> String {
    let mut capitalized = String::with_capacity(text.len());
    let mut start = true;
    for c in text.chars() {
        capitalized.push(if start { c.to_ascii_uppercase() } else { c });
        start = matches!(c, '.' | '_' | '-');
    }
    capitalized
}

/// One of the last four digits wrong, unless that number belongs to someone.
fn phone_slip(rng: &mut impl Rng, phone: Phone, registry: &Registry) -> Phone {
    let power = 10_u64.pow(rng.random_range(0..4));
    let digit = phone.line() / power % 10;
    let new_digit = (digit + rng.random_range(1..10)) % 10;
    let slipped = phone.with_line(phone.line() - digit * power + new_digit * power);
    if registry.phone_in_use(slipped) {
        phone
    } else {
        slipped
    }
}

fn unit_line(rng: &mut impl Rng, kind: UnitKind, label: &str) -> String {
    let roll = rng.random_range(0..100);
    match kind {
        UnitKind::Apartment => match roll {
            0..40 => format!("Apt {label}"),
            40..55 => format!("Apt. {label}"),
            55..75 => format!("#{label}"),
            75..90 => format!("Unit {label}"),
            _ => format!("APT {label}"),
        },
        UnitKind::Suite => match roll {
            0..50 => format!("Suite {label}"),
            50..75 => format!("Ste {label}"),
            75..85 => format!("Ste. {label}"),
            _ => format!("#{label}"),
        },
    }
}

fn state_name(code: &str) -> &'static str {
    STATE_NAMES
        .iter()
        .find(|(state, _)| *state == code)
        .map(|(_, name)| *name)
        .expect("every city's state is in STATE_NAMES")
}
