//! Comparing two records: each field's agreement level and weight (Fellegi-Sunter),
//! deterministic rules on strong identifiers, and the conflicts that forbid a link.
//!
//! One code path serves both the hot loop and explanations: [`compare`] reports each
//! field to a [`Recorder`], which is a no-op when only the total is wanted.

use crate::features::{Features, NameFeatures, local_holds_digit};
use crate::normalize::{names_agree_but_for_a_typo, names_may_agree};
use crate::params::{Field, MatchParameters};
use crate::record::{IdKind, NormalizedAddress, Text};
use crate::similarity::{at_most_one_slip, jaro_winkler, one_slip};

/// The given-name level from which names agree only by sound or initial.
const GIVEN_PHONETIC_LEVEL: u8 = 3;

/// The e-mail level "same local part, other provider".
const EMAIL_SAME_LOCAL_LEVEL: u8 = 1;

/// Whether every local part the two records share is spelled from their names
/// ("jperez", "linda_stewart", "stewart.linda"), letters only.
fn shared_locals_are_names(a: &Features, b: &Features) -> bool {
    shared_locals(a, b).all(|local| spelled_from_names(local, a) || spelled_from_names(local, b))
}

/// Whether the local part's letters are the record's names run together (given and
/// family either way round, the given initial and the family name either way round,
/// or the family name alone), spaces left out. Runs for pairs that share a local part,
/// so it spells nothing out: the letters are compared with the names as they stand.
fn spelled_from_names(local: &str, features: &Features) -> bool {
    if local_holds_digit(local) {
        return false; // digits make a local part personal ("aaronmurray1978")
    }
    let letters = || local.bytes().filter(u8::is_ascii_alphabetic);
    fn unspaced(name: Option<&NameFeatures>) -> impl Iterator<Item = u8> + Clone + '_ {
        name.map_or("", |name| name.folded.as_str())
            .bytes()
            .filter(|byte| *byte != b' ')
    }
    let given = || unspaced(features.given.as_ref());
    let family = || unspaced(features.family.as_ref());
    // The first letter, when it is one byte (folded names are ASCII).
    let initial = given().next().filter(u8::is_ascii);
    family().next().is_some()
        && (letters().eq(given().chain(family()))
            || letters().eq(family().chain(given()))
            || letters().eq(initial.into_iter().chain(family()))
            || letters().eq(family().chain(initial))
            || letters().eq(family()))
}

/// Whether every local part the two records share names a family's mailbox
/// ("hernandezfamily@", "the.jones.family@"), which the household shares.
fn shared_locals_are_family_mailboxes(a: &Features, b: &Features) -> bool {
    let mut shared = shared_locals(a, b).peekable();
    shared.peek().is_some() && shared.all(|local| local.contains("family"))
}

/// The e-mail local parts that both records carry.
fn shared_locals<'a>(a: &'a Features, b: &'a Features) -> impl Iterator<Item = &'a str> {
    a.email_locals()
        .filter(|local| b.email_locals().any(|other| other == *local))
}

/// Receives each field's outcome as it is compared.
pub trait Recorder {
    fn field(
        &mut self,
        field: Field,
        level: u8,
        weight: f64,
        frequency_adjustment: f64,
        swapped: bool,
    );
}

/// Keeps nothing: for the hot path.
pub struct NoRecord;

impl Recorder for NoRecord {
    #[inline]
    fn field(&mut self, _: Field, _: u8, _: f64, _: f64, _: bool) {}
}

/// One field's outcome, for explanations.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldOutcome {
    pub field: Field,
    pub level: u8,
    pub weight: f64,
    pub frequency_adjustment: f64,
    /// The names were compared crosswise (given against family).
    pub swapped: bool,
}

impl FieldOutcome {
    pub fn level_name(&self) -> &'static str {
        self.field.levels()[self.level as usize]
    }
}

/// Keeps every field's outcome.
#[derive(Default)]
pub struct RecordAll(pub Vec<FieldOutcome>);

impl Recorder for RecordAll {
    fn field(
        &mut self,
        field: Field,
        level: u8,
        weight: f64,
        frequency_adjustment: f64,
        swapped: bool,
    ) {
        self.0.push(FieldOutcome {
            field,
            level,
            weight,
            frequency_adjustment,
            swapped,
        });
    }
}

/// A rule that links two records whatever their other fields say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    SameNationalId,
    SameLoyaltyId,
    SameAccountCode,
    SameExternalId,
}

impl Rule {
    pub fn describe(self) -> &'static str {
        match self {
            Rule::SameNationalId => "same national id",
            Rule::SameLoyaltyId => "same loyalty id",
            Rule::SameAccountCode => "same account code",
            Rule::SameExternalId => "same external id",
        }
    }
}

/// Why two records may not be linked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    /// Given names, middle initials, generational suffixes, birth dates or national ids
    /// clearly differ, no strong identifier agrees, and the evidence a household does not
    /// share falls short of the threshold: household members, twins, parent and child
    /// share the rest. Weighed, not absolute (see [`PairScore::separation`]).
    DifferentPersons,
}

impl Conflict {
    pub fn describe(self) -> &'static str {
        match self {
            Conflict::DifferentPersons => {
                "given names, middle initials, generational suffixes (Jr/Sr), birth dates or national ids clearly differ, and what a household does not share (birth date, e-mail, national id) does not outweigh it (household members stay apart)"
            }
        }
    }
}

/// The outcome of comparing two records.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairScore {
    /// Sum of the field weights, in bits.
    pub total: f64,
    pub rule: Option<Rule>,
    pub conflict: Option<Conflict>,
    /// Some field other than the names agrees (birth date, e-mail, phone, address,
    /// device): names alone never link two records, however rare, since namesakes
    /// exist. When the given names agree only by sound or initial, only a birth date
    /// or an e-mail counts (household members share the rest).
    pub corroborated: bool,
    /// Given names, birth dates, middle initials or generational suffixes clearly
    /// differ: what tells household members, twins and namesakes apart.
    pub persons_differ: bool,
    /// The total without what a household shares (the agreement of family name,
    /// address, phone and device; also of the given name when middle initials or
    /// suffixes differ, since namesakes share it): the evidence that must reach the
    /// threshold when `persons_differ`.
    pub personal_total: f64,
    /// Whether `personal_total` leaves out what a household shares (the base has
    /// households, or the suffixes differ). Then it must reach the threshold;
    /// otherwise it only must not be against one person (below zero) for the pair
    /// not to keep its clusters apart.
    pub household_discounted: bool,
    /// Of what marks two persons, only the given names or only the birth dates
    /// differ (and no middle initials, suffixes or national ids): what a value
    /// replaced or mistyped in one of two records of one person gives, so a third
    /// record may explain it (see [`Separation`]).
    pub one_difference: Option<Difference>,
}

/// The one mark of two persons that differs between two records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Difference {
    GivenNames,
    BirthDates,
}

impl PairScore {
    /// Whether the pair is a link at `threshold` bits.
    pub fn is_link(&self, threshold: f64) -> bool {
        self.separation(threshold).is_none()
            && (self.rule.is_some() || (self.corroborated && self.total >= threshold))
    }

    /// What keeps the two records apart at `threshold` bits, also inside a cluster
    /// that other links would join: different national ids (absolute), or different
    /// persons whose personal evidence falls short of the threshold. A given-name
    /// disagreement inside a shared household thus weighs as much as everything the
    /// household shares, and a strong identifier rule outweighs it.
    pub fn separation(&self, threshold: f64) -> Option<Conflict> {
        if self.conflict.is_some() {
            return self.conflict;
        }
        let bar = if self.household_discounted {
            threshold
        } else {
            0.0
        };
        (self.rule.is_none() && self.persons_differ && self.personal_total < bar)
            .then_some(Conflict::DifferentPersons)
    }

    /// How the pair keeps clusters apart at `threshold` bits, for the clustering.
    pub fn separation_kind(&self, threshold: f64) -> Separation {
        match self.separation(threshold) {
            None => Separation::None,
            Some(_) => self
                .one_difference
                .map_or(Separation::Persons, Separation::Only),
        }
    }
}

/// Whether two records may share a cluster, and if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Separation {
    /// Nothing keeps them apart.
    None,
    /// Different persons by their given names alone ("BRJIAN" and "rian", "Katie"
    /// and a replaced "Yvonne") or by their birth dates alone, which a slip or a
    /// replaced value in one of two records of one person also gives: a third record
    /// apart from neither, which agrees with one of them on that mark, explains it
    /// (see [`explains`] and [`crate::cluster::may_join`]).
    Only(Difference),
    /// Different persons (given names and birth dates both differ, or middle
    /// initials, suffixes or national ids do): apart, whatever else.
    Persons,
}

/// What the base says of a phone number that records share: whether only one
/// person's records carry it (their own mobile) or also those of another, clearly
/// different person (a household's landline, a parent's mobile given for a child).
pub trait PhoneHolders {
    /// Whether the records that carry `phone` (normalized) are all one person's, as far
    /// as they show: no two of them are clearly two persons (see [`clearly_two_persons`]).
    fn one_person(&self, phone: &str) -> bool;
}

/// No base to ask: any shared phone may be a household's, as a landline is.
pub struct NoBase;

impl PhoneHolders for NoBase {
    fn one_person(&self, _: &str) -> bool {
        false
    }
}

/// Compares `a` and `b` field by field, any shared phone taken as a household's.
pub fn compare(
    a: &Features,
    b: &Features,
    params: &MatchParameters,
    recorder: &mut impl Recorder,
) -> PairScore {
    compare_in(a, b, params, &NoBase, recorder)
}

/// Compares `a` and `b` field by field; `phones` tells which shared phones are one
/// person's, which are then evidence a household does not share.
pub fn compare_in(
    a: &Features,
    b: &Features,
    params: &MatchParameters,
    phones: &dyn PhoneHolders,
    recorder: &mut impl Recorder,
) -> PairScore {
    score_pair(a, b, params, phones, recorder, false).expect("scored to the end")
}

/// [`compare_in`] for a pair that matters only if it links: `None`, before the names
/// are compared, when it cannot (no strong identifier shared, and nothing but the
/// names could corroborate). Otherwise the same score as [`compare_in`].
///
/// Most candidate pairs of an import are not links, and many of them share only a
/// name and a town; the names are the dearest part of a comparison.
pub fn link_score(
    a: &Features,
    b: &Features,
    params: &MatchParameters,
    phones: &dyn PhoneHolders,
) -> Option<PairScore> {
    score_pair(a, b, params, phones, &mut NoRecord, true)
}

/// One non-name field's part of a score, kept until the names are weighed so that the
/// total adds the same weights in the same order whichever is compared first.
#[derive(Clone, Copy)]
struct FieldPart {
    field: Field,
    level: u8,
    weight: f64,
    /// What a household shares of it.
    household: f64,
}

fn score_pair(
    a: &Features,
    b: &Features,
    params: &MatchParameters,
    phones: &dyn PhoneHolders,
    recorder: &mut impl Recorder,
    only_links: bool,
) -> Option<PairScore> {
    // Two records of one organization name whoever called or ordered for it: the
    // contact's name is not the customer's, so it neither agrees nor disagrees.
    let organization = organization_level(a, b);
    let same_organization = organization.is_some_and(|level| level <= 1);
    let mut corroborated = false;
    let mut corroborated_beyond_email = false;
    // Agreement on something a household does not share: birth date or e-mail.
    let mut personal = false;
    let households = params.households_share_evidence();
    // Agreement on anything but the birth date (see `lone_given_and_birth` below).
    let mut beyond_birth = false;
    let birth = birth_date_level(a, b);
    let email = email_level(a, b);
    let phone = shared_level(&a.phones, &b.phones, Field::Phone);
    let device = shared_level(&a.devices, &b.devices, Field::Device);
    let national_id = national_id_level(a, b);
    let rule = strong_identifier_rule(a, b);
    // At most organization, birth date, e-mail, phone, four address parts, device and
    // national id.
    let mut parts = [None::<FieldPart>; 10];
    let mut filled = 0;
    let mut add = |field: Field, level: Option<u8>| {
        if let Some(level) = level {
            let agrees = match field {
                // The address corroborates as a whole (below), not per part.
                Field::Organization
                | Field::Street
                | Field::StreetNumber
                | Field::Locality
                | Field::Postcode => false,
                _ => level < field.disagree_level(),
            };
            // The same local part at two providers ("jordan_lin@") says no more than
            // the names when it is made of them.
            let agrees = agrees
                && !(field == Field::Email
                    && level == EMAIL_SAME_LOCAL_LEVEL
                    && shared_locals_are_names(a, b));
            // A family mailbox ("hernandezfamily@") is the household's, like its
            // landline: it places the records in one household, it does not tell its
            // members apart.
            let family_mailbox = field == Field::Email
                && level <= EMAIL_SAME_LOCAL_LEVEL
                && shared_locals_are_family_mailboxes(a, b);
            corroborated |= agrees;
            if field != Field::Email {
                corroborated_beyond_email |= agrees;
            }
            let agrees = agrees && !family_mailbox;
            personal |=
                agrees && matches!(field, Field::BirthDate | Field::Email | Field::NationalId);
            beyond_birth |= agrees && field != Field::BirthDate;
            let weight = params.weight(field, level);
            let household = if matches!(field, Field::Phone | Field::Device)
                || Field::ADDRESS.contains(&field)
                || family_mailbox
            {
                weight.max(0.0)
            } else {
                0.0
            };
            parts[filled] = Some(FieldPart {
                field,
                level,
                weight,
                household,
            });
            filled += 1;
        }
    };
    add(Field::Organization, organization);
    add(Field::BirthDate, birth);
    add(Field::Email, email);
    add(Field::Phone, phone);
    let address = best_address(a, b, params);
    if let Some(address) = &address {
        for (field, level) in address.levels() {
            add(field, level);
        }
    }
    add(Field::Device, device);
    add(Field::NationalId, national_id);
    // A shared town or postcode alone places, it does not identify where households and
    // neighbours share it; in a base without households (as estimated) agreeing names
    // in one town are one person with the street mistyped or moved within it, and the
    // same house on the same street is one place whatever the town says.
    let address_corroborates = address.as_ref().is_some_and(|address| {
        address.same_dwelling() || (!households && (address.same_place() || address.same_house()))
    });
    corroborated |= address_corroborates;
    // An address spelled from the names ("jessica_adams@yahoo.com") is what namesakes
    // end up sharing in a large base: it corroborates agreeing names at the same
    // place, not between records that live elsewhere (neither the same town or
    // postcode nor the same house). It keeps its weight.
    // Spelling the names out allocates: asked only of pairs that live elsewhere.
    let elsewhere = address
        .as_ref()
        .is_some_and(|address| !address.same_place() && !address.same_house());
    if elsewhere && email == Some(0) && shared_locals_are_names(a, b) {
        corroborated = corroborated_beyond_email || address_corroborates;
    }
    // The names never corroborate (below they only take corroboration away), so
    // without it or a strong identifier the pair is no link whatever they say.
    if only_links && !corroborated && rule.is_none() {
        return None;
    }

    let names = if same_organization {
        [None, None]
    } else {
        compare_names(a, b, params)
    };
    let mut total = 0.0;
    for outcome in names.iter().flatten() {
        recorder.field(
            outcome.field,
            outcome.level,
            outcome.weight,
            outcome.frequency_adjustment,
            outcome.swapped,
        );
        total += outcome.weight;
    }
    let family_weight = names
        .iter()
        .flatten()
        .find(|outcome| outcome.field == Field::FamilyName)
        .map_or(0.0, |outcome| outcome.weight.max(0.0));
    let given_weight = names
        .iter()
        .flatten()
        .find(|outcome| outcome.field == Field::GivenName)
        .map_or(0.0, |outcome| outcome.weight.max(0.0));
    // Agreement that household members share as much as one person's records do.
    let mut household_shared = family_weight;
    for part in parts.iter().flatten() {
        household_shared += part.household;
        recorder.field(part.field, part.level, part.weight, 0.0, false);
        total += part.weight;
    }

    // Household members share address, landline and devices. When the given names
    // agree only by sound or by initial (Donna/Dawn, J./James), the shared household is
    // no evidence of one person: only a birth date or an e-mail corroborates then.
    // A record without a given name ("Peña" at the till with the family landline)
    // could be anyone of the household, so the same holds.
    let loose_given = given_agrees_loosely(&names);
    let given_loosely = loose_given.unwrap_or(a.organization.is_none() && b.organization.is_none());
    // One record gives a generational suffix ("Jr") and the other none: a namesake
    // parent or child is in the household, so sharing it says nothing either.
    let namesake_in_household = a.generation.is_some() != b.generation.is_some();
    // Without households in the base, a loose or missing given name is a slip, not a
    // household member.
    if ((given_loosely && households) || namesake_in_household) && !personal {
        corroborated = false;
    }
    // A record without a family name whose given name agrees only by sound or initial
    // (Brandon/Brenda) and shares only the birth date with the other: thousands share
    // a birth date, so that is no evidence of one person; one such link chains two
    // customers together.
    let lone_given_and_birth =
        loose_given == Some(true) && (a.family.is_none() || b.family.is_none());
    if lone_given_and_birth && !beyond_birth {
        corroborated = false;
    }

    // Households share family name, address, phone and devices; when the persons'
    // names, markers or birth dates clearly differ, only the rest is evidence of one
    // person. Two records of one organization are not persons: their contacts may
    // differ.
    let markers_differ = person_markers_differ(a, b);
    // National ids more than a typo apart are strong evidence of two persons, weighed
    // like the rest (FEBRL replaces the id in about 6% of its duplicates): they mark
    // the persons as different, so that what a household shares does not count.
    let given_differ = given_names_differ(a, b, &names);
    let births_differ = birth_dates_clearly_differ(a, b, birth);
    let ids_differ = markers_differ || national_ids_differ(a, b);
    let persons_differ = !same_organization && (given_differ || births_differ || ids_differ);
    let one_difference = match (given_differ, births_differ, ids_differ) {
        (true, false, false) => Some(Difference::GivenNames),
        (false, true, false) => Some(Difference::BirthDates),
        _ => None,
    };
    if markers_differ {
        // A namesake father and son share the given name too.
        household_shared += given_weight;
    } else if persons_differ && households && shares_one_persons_number(a, b, phones) {
        // A number no other person's record carries is this person's own: a replaced
        // given name or birth date, not a twin or a namesake at the family landline.
        household_shared -= params.weight(Field::Phone, 0).max(0.0);
    }
    // Without households in the base (as estimated), a replaced given name or birth
    // date weighs only its own disagreement; different suffixes always name two.
    let household_discounted = markers_differ || params.households_share_evidence();
    let personal_total = if household_discounted {
        total - household_shared
    } else {
        total
    };
    Some(PairScore {
        total,
        rule,
        // Nothing two records carry separates them absolutely: the only absolute
        // separation is a steward's block, which the engine keeps.
        conflict: None,
        corroborated,
        persons_differ,
        personal_total,
        household_discounted,
        one_difference,
    })
}

/// Whether the given names agree only by sound or initial; `None` when no given names
/// were compared (one is missing, or the records name an organization).
fn given_agrees_loosely(names: &[Option<FieldOutcome>; 2]) -> Option<bool> {
    match names[0].as_ref() {
        Some(outcome) if outcome.field == Field::GivenName => Some(
            outcome.level >= GIVEN_PHONETIC_LEVEL
                && outcome.level < Field::GivenName.disagree_level(),
        ),
        _ => None,
    }
}

/// How two records that share family name and address differ as persons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HouseholdPair {
    /// Given names and birth dates both clearly differ: two members of a household.
    BothDiffer,
    /// Only the given name or only the birth date clearly differs: twins, namesakes,
    /// or one person's record with a value replaced.
    OneDiffers,
}

/// For pairs sharing family name and address, and both giving given name and birth
/// date, how those differ; `None` otherwise or when both agree. Counted over
/// candidate pairs, it tells whether a base has households
/// ([`MatchParameters::household_ratio`]).
pub fn household_pair(
    a: &Features,
    b: &Features,
    params: &MatchParameters,
) -> Option<HouseholdPair> {
    // Only pairs where both can be told: a missing birth date says nothing.
    if a.given.is_none() || b.given.is_none() || a.birth_date.is_none() || b.birth_date.is_none() {
        return None;
    }
    let names = compare_names(a, b, params);
    let family_agrees = names
        .iter()
        .flatten()
        .any(|outcome| outcome.field == Field::FamilyName && outcome.level <= 1);
    let same_dwelling = best_address(a, b, params).is_some_and(|address| address.same_dwelling());
    if !family_agrees || !same_dwelling {
        return None;
    }
    match (
        given_names_differ(a, b, &names),
        birth_dates_clearly_differ(a, b, birth_date_level(a, b)),
    ) {
        (true, true) => Some(HouseholdPair::BothDiffer),
        (true, false) | (false, true) => Some(HouseholdPair::OneDiffers),
        (false, false) => None,
    }
}

/// Whether two records must stay apart at `threshold` bits, whatever links would
/// chain them into one cluster: what keeps clusters apart (see
/// [`PairScore::separation`]).
pub fn hard_conflict(
    a: &Features,
    b: &Features,
    params: &MatchParameters,
    threshold: f64,
) -> Option<Conflict> {
    compare(a, b, params, &mut NoRecord).separation(threshold)
}

/// How two records stand for the clustering at `threshold` bits: together, apart by
/// one difference a third record may explain, or apart (see [`Separation`]).
pub fn separation(
    a: &Features,
    b: &Features,
    params: &MatchParameters,
    phones: &dyn PhoneHolders,
    threshold: f64,
) -> Separation {
    compare_in(a, b, params, phones, &mut NoRecord).separation_kind(threshold)
}

/// Whether the records share a phone number that the base shows as one person's. Asked
/// last, only where it decides something: the base looks at every record at the number.
fn shares_one_persons_number(a: &Features, b: &Features, phones: &dyn PhoneHolders) -> bool {
    a.phones
        .iter()
        .any(|number| b.phones.contains(number) && phones.one_person(number))
}

/// Whether two records are clearly two persons whatever else they share: their given
/// names and their birth dates both clearly differ (read straight and crosswise), or
/// their middle initials or generational suffixes do. Household members are; one
/// person's records with one value replaced are not. Needs no parameters, so that what
/// it says of a base does not change with an estimate.
pub fn clearly_two_persons(a: &Features, b: &Features) -> bool {
    if person_markers_differ(a, b) {
        return true;
    }
    // The birth dates first: comparing digits is cheaper than names, and most records
    // at one number are one person's.
    if !birth_dates_clearly_differ(a, b, birth_date_level(a, b)) {
        return false;
    }
    let (Some(given_a), Some(given_b)) = (&a.given, &b.given) else {
        return false;
    };
    let crosswise_agree = |given: &NameFeatures, family: Option<&NameFeatures>| {
        family.is_some_and(|family| given.folded == family.folded)
    };
    given_a.folded != given_b.folded
        && !crosswise_agree(given_a, b.family.as_ref())
        && !crosswise_agree(given_b, a.family.as_ref())
        && given_level(given_a, given_b) == Field::GivenName.disagree_level()
        && given_spellings_differ(&given_a.folded, &given_b.folded)
}

/// Whether `z`, a record apart from neither `x` nor `y`, explains their one
/// difference: it agrees with one of them on that mark, closely (a given name exactly,
/// as a nickname or but for a slip, not by sound or initial alone; a birth date but
/// for a slip), while nothing keeps it from the other. Then `z` is one person's record
/// beside the first, and the evidence that holds it to the second overcame the same
/// difference ("Brian" for "BRJIAN" and "rian"; "Katie" with Yvonne's e-mail for a
/// replaced "Yvonne").
pub fn explains(z: &Features, x: &Features, y: &Features, difference: Difference) -> bool {
    let agrees = |a: &Features, b: &Features| match difference {
        Difference::GivenNames => match (&a.given, &b.given) {
            (Some(a), Some(b)) => given_level(a, b) < GIVEN_PHONETIC_LEVEL,
            _ => false,
        },
        Difference::BirthDates => {
            birth_date_level(a, b).is_some_and(|level| level < Field::BirthDate.disagree_level())
        }
    };
    agrees(z, x) || agrees(z, y)
}

/// Whether the two records agree on something one person has and a household member
/// does not: the birth date (or a typo of it), an e-mail that is neither made of the
/// names alone nor a family mailbox, or a national id.
pub fn personal_agreement(a: &Features, b: &Features) -> bool {
    let agrees =
        |field: Field, level: Option<u8>| level.is_some_and(|level| level < field.disagree_level());
    agrees(Field::BirthDate, birth_date_level(a, b))
        || (agrees(Field::Email, email_level(a, b))
            && !(email_level(a, b) == Some(EMAIL_SAME_LOCAL_LEVEL)
                && shared_locals_are_names(a, b))
            && !shared_locals_are_family_mailboxes(a, b))
        || agrees(Field::NationalId, national_id_level(a, b))
}

/// Middle initials or generational suffixes that both records give and that differ:
/// John A. Smith is not John B. Smith, and John Smith Sr is not John Smith Jr.
fn person_markers_differ(a: &Features, b: &Features) -> bool {
    fn both_and_differ<T: PartialEq>(x: Option<T>, y: Option<T>) -> bool {
        matches!((x, y), (Some(x), Some(y)) if x != y)
    }
    both_and_differ(a.middle_initial, b.middle_initial)
        || both_and_differ(a.generation, b.generation)
}

/// Whether the given names are clearly different: no agreement level, and more than a
/// typo apart (two edits), so "Jon"/"Jno" is not a conflict but "Ann"/"Beth" is.
fn given_names_differ(a: &Features, b: &Features, names: &[Option<FieldOutcome>; 2]) -> bool {
    let Some(outcome) = names[0].as_ref() else {
        return false;
    };
    if outcome.field != Field::GivenName || outcome.level != Field::GivenName.disagree_level() {
        return false;
    }
    let (Some(given_a), Some(given_b)) = (&a.given, &b.given) else {
        return false;
    };
    let (x, y) = if outcome.swapped {
        (
            given_a.folded.as_str(),
            b.family
                .as_ref()
                .map_or("", |family| family.folded.as_str()),
        )
    } else {
        (given_a.folded.as_str(), given_b.folded.as_str())
    };
    given_spellings_differ(x, y)
}

/// Whether two given names that do not agree are more than a typist's slips apart.
/// Two slips in a short name leave little of it, and typists rarely miss the first
/// letter: "Mary" and "Earl" are two persons; "Jon" and "Jno" (one slip) or "Anna" and
/// "Alma" may be one.
fn given_spellings_differ(x: &str, y: &str) -> bool {
    // Each slip changes the length by one letter at most: a cheap answer first.
    if x.chars().count().abs_diff(y.chars().count()) > 2 {
        return true;
    }
    // Each slip changes at most two letters of the multiset (a replacement takes one
    // away and adds one; a swap none): more than four apart is three slips at least.
    if letters_apart(x, y).is_some_and(|apart| apart > 4) {
        return true;
    }
    let edits = strsim::damerau_levenshtein(x, y);
    edits > 2
        || (edits == 2
            && x.len().min(y.len()) <= SHORT_NAME
            && x.bytes().next() != y.bytes().next())
}

/// How many letters the two ASCII names do not have in common, counted as multisets
/// ("anna"/"alma": n, n against l, m, so 4); `None` unless both are ASCII.
fn letters_apart(x: &str, y: &str) -> Option<usize> {
    if !x.is_ascii() || !y.is_ascii() {
        return None;
    }
    let mut counts = [0i64; 128];
    for byte in x.bytes() {
        counts[byte as usize] += 1;
    }
    for byte in y.bytes() {
        counts[byte as usize] -= 1;
    }
    Some(
        counts
            .iter()
            .map(|count| count.unsigned_abs() as usize)
            .sum(),
    )
}

/// Given names of at most this many letters are clearly different two slips apart when
/// their first letters differ (tuned on generator seed 7: 4 and 5 kept the full-forms
/// recall, 5 cut more false links; longer made no difference).
const SHORT_NAME: usize = 5;

/// Given and family name outcomes, compared straight or crosswise, whichever agrees
/// more (sources swap given and family names).
fn compare_names(
    a: &Features,
    b: &Features,
    params: &MatchParameters,
) -> [Option<FieldOutcome>; 2] {
    let straight = straight_names(a, b, params);
    let (Some(a_given), Some(a_family), Some(b_given), Some(b_family)) =
        (&a.given, &a.family, &b.given, &b.family)
    else {
        return lone_given_crosswise(a, b, params)
            .filter(|crosswise| crosswise.weight > straight[0].as_ref().map_or(0.0, |o| o.weight))
            .map_or(straight, |crosswise| [Some(crosswise), None]);
    };
    // A crosswise reading replaces the straight one only when both of its names agree.
    // Most candidate pairs share no name crosswise: asking that first skips weighing the
    // four crosswise outcomes (the names were a third of the comparisons' time).
    if !crosswise_may_agree((a_given, a_family), (b_given, b_family)) {
        return straight;
    }
    better_reading(straight, (a_given, a_family), (b_given, b_family), params)
}

/// The given names compared with each other, and the family names.
fn straight_names(
    a: &Features,
    b: &Features,
    params: &MatchParameters,
) -> [Option<FieldOutcome>; 2] {
    [
        name_outcome(
            Field::GivenName,
            a.given.as_ref(),
            b.given.as_ref(),
            params,
            false,
        ),
        name_outcome(
            Field::FamilyName,
            a.family.as_ref(),
            b.family.as_ref(),
            params,
            false,
        ),
    ]
}

/// The `straight` reading of two records' names, or a crosswise one when both of its
/// names agree and it weighs more.
fn better_reading(
    straight: [Option<FieldOutcome>; 2],
    (a_given, a_family): (&NameFeatures, &NameFeatures),
    (b_given, b_family): (&NameFeatures, &NameFeatures),
    params: &MatchParameters,
) -> [Option<FieldOutcome>; 2] {
    // Crosswise, the same two name pairs can be read either way round; take the better
    // reading, so that comparing a with b and b with a give the same outcome.
    let crosswise = |given_pair: (&NameFeatures, &NameFeatures),
                     family_pair: (&NameFeatures, &NameFeatures)| {
        [
            name_outcome(
                Field::GivenName,
                Some(given_pair.0),
                Some(given_pair.1),
                params,
                true,
            ),
            name_outcome(
                Field::FamilyName,
                Some(family_pair.0),
                Some(family_pair.1),
                params,
                true,
            ),
        ]
    };
    let sum = |outcomes: &[Option<FieldOutcome>; 2]| {
        outcomes.iter().flatten().map(|o| o.weight).sum::<f64>()
    };
    let one_way = crosswise((a_given, b_family), (a_family, b_given));
    let other_way = crosswise((a_family, b_given), (a_given, b_family));
    let swapped = if sum(&other_way) > sum(&one_way) {
        other_way
    } else {
        one_way
    };
    let swapped_both_agree = swapped
        .iter()
        .flatten()
        .all(|outcome| outcome.level < outcome.field.disagree_level());
    if swapped_both_agree && sum(&swapped) > sum(&straight) {
        swapped
    } else {
        straight
    }
}

/// Whether either crosswise reading of two records' names, a's given name against b's
/// family name and a's family name against b's given name, or the other way round, has
/// both names agreeing, as `compare_names` weighs them.
fn crosswise_may_agree(
    (a_given, a_family): (&NameFeatures, &NameFeatures),
    (b_given, b_family): (&NameFeatures, &NameFeatures),
) -> bool {
    let given_agrees = |x, y| given_level(x, y) < Field::GivenName.disagree_level();
    let family_agrees = |x, y| family_level(x, y) < Field::FamilyName.disagree_level();
    // The family level first: it is the cheaper of the two (no nickname or typo
    // tables), and a given name read as a family name seldom agrees.
    (family_agrees(a_family, b_given) && given_agrees(a_given, b_family))
        || (family_agrees(a_given, b_family) && given_agrees(a_family, b_given))
}

/// A record with a given name only ("Carl") against one whose names are swapped
/// ("Magana, Carl"): its given name read against the other's family name, when they
/// agree.
fn lone_given_crosswise(
    a: &Features,
    b: &Features,
    params: &MatchParameters,
) -> Option<FieldOutcome> {
    let (lone, other) = lone_given_and_other_family(a, b)?;
    name_outcome(Field::GivenName, Some(lone), Some(other), params, true)
        .filter(|outcome| outcome.level < Field::GivenName.disagree_level())
}

/// When one record has a given name only and the other both names: that given name
/// and the other's family name, the pair to read crosswise. In either order.
fn lone_given_and_other_family<'a>(
    a: &'a Features,
    b: &'a Features,
) -> Option<(&'a NameFeatures, &'a NameFeatures)> {
    match (&a.given, &a.family, &b.given, &b.family) {
        (Some(given), None, Some(_), Some(family)) | (Some(_), Some(family), Some(given), None) => {
            Some((given, family))
        }
        _ => None,
    }
}

fn name_outcome(
    field: Field,
    a: Option<&NameFeatures>,
    b: Option<&NameFeatures>,
    params: &MatchParameters,
    swapped: bool,
) -> Option<FieldOutcome> {
    let (a, b) = (a?, b?);
    let level = match field {
        Field::GivenName => given_level(a, b),
        _ => family_level(a, b),
    };
    let (weight, frequency_adjustment) = if level == 0 && swapped {
        // Read crosswise, the value is a given name in one record and a family name in
        // the other, and either may be the swapped one: it weighs as the commoner of
        // the two ("Adams" is rare as a given name, yet every Adams shares it).
        let as_given = params.exact_weight_with_frequency(Field::GivenName, &a.root);
        let as_family = params.exact_weight_with_frequency(Field::FamilyName, &a.folded);
        if as_given.0 <= as_family.0 {
            as_given
        } else {
            as_family
        }
    } else if level == 0 {
        let value = if field == Field::GivenName {
            &a.root
        } else {
            &a.folded
        };
        params.exact_weight_with_frequency(field, value)
    } else {
        (params.weight(field, level), 0.0)
    };
    Some(FieldOutcome {
        field,
        level,
        weight,
        frequency_adjustment,
        swapped,
    })
}

/// exact, nickname, jaro_winkler>=0.92, phonetic or a mistyped nickname, initial,
/// disagree
fn given_level(a: &NameFeatures, b: &NameFeatures) -> u8 {
    if a.folded == b.folded {
        0
    } else if names_may_agree(&a.folded, &a.root, &b.folded, &b.root) {
        1
    } else if a.is_initial() || b.is_initial() {
        // "R." stands for Richard, and so for Dick: the initial of the name or of the
        // name behind the nickname.
        let first = |name: &NameFeatures| [name.folded.bytes().next(), name.root.bytes().next()];
        let (x, y) = (first(a), first(b));
        if x.iter().flatten().any(|letter| y.contains(&Some(*letter))) {
            4
        } else {
            5
        }
    } else if jaro_winkler(&a.folded, &b.folded) >= 0.92 || one_slip_apart(&a.folded, &b.folded) {
        2
    } else if (!a.phonetic.is_empty() && a.phonetic == b.phonetic)
        || names_agree_but_for_a_typo(&a.folded, &a.root, &b.folded, &b.root)
    {
        // Loose agreement: only a birth date or an e-mail corroborates it.
        3
    } else {
        5
    }
}

/// exact, jaro_winkler>=0.94 or one part of a double-barrelled name, phonetic,
/// jaro_winkler>=0.88, disagree
/// Given names of at least [`ONE_SLIP_LENGTH`] letters one slip apart (a letter
/// doubled, dropped, replaced or two swapped): a typo, as close as Jaro-Winkler's 0.92,
/// which scores a slip near the start low ("Aalejandro", "Jsmes").
fn one_slip_apart(x: &str, y: &str) -> bool {
    x.len().min(y.len()) >= ONE_SLIP_LENGTH && one_slip(x, y)
}

/// Shorter names one slip apart are often two names ("Mark"/"Mary", "Jean"/"Joan").
const ONE_SLIP_LENGTH: usize = 5;

fn family_level(a: &NameFeatures, b: &NameFeatures) -> u8 {
    if a.folded == b.folded {
        return 0;
    }
    let similarity = jaro_winkler(&a.folded, &b.folded);
    if similarity >= 0.94 || one_part_of_the_other(&a.folded, &b.folded) {
        1
    } else if !a.phonetic.is_empty() && a.phonetic == b.phonetic {
        2
    } else if similarity >= 0.88 {
        3
    } else {
        4
    }
}

/// Whether one family name is a whole part of the other, double-barrelled one: clerks
/// write "Hines-Connolly" as "Connolly" or "Hines" (folding made the hyphen a space).
fn one_part_of_the_other(a: &str, b: &str) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    short.len() >= 3 && !short.contains(' ') && long.split(' ').any(|part| part == short)
}

/// exact (as written, or but for articles, "and" and the legal form),
/// jaro_winkler>=0.92, disagree
fn organization_level(a: &Features, b: &Features) -> Option<u8> {
    let (a, b) = (a.organization.as_ref()?, b.organization.as_ref()?);
    if a == b {
        return Some(0);
    }
    let (a, b) = (organization_core(a), organization_core(b));
    Some(if a == b {
        0
    } else if jaro_winkler(&a, &b) >= 0.92 {
        1
    } else {
        2
    })
}

/// A folded organization name without what sources add or drop at will: a leading
/// "the", "and" (folding dropped the "&"), and the legal form ("Inc.", "Co.", "Ltd"),
/// with "bros" spelled out: "The Szabo Tool & Die Co." is "szabo tool die", as is
/// "Szabo Tool and Die". Runs only for pairs that both name an organization.
fn organization_core(folded: &str) -> String {
    const LEGAL_FORMS: [&str; 14] = [
        "inc",
        "incorporated",
        "corp",
        "corporation",
        "co",
        "company",
        "ltd",
        "limited",
        "llc",
        "llp",
        "lp",
        "plc",
        "gmbh",
        "pty",
    ];
    let mut words: Vec<&str> = folded
        .split(' ')
        .filter(|word| !word.is_empty() && *word != "and")
        .collect();
    if words.first() == Some(&"the") {
        words.remove(0);
    }
    while words.len() > 1 && words.last().is_some_and(|word| LEGAL_FORMS.contains(word)) {
        words.pop();
    }
    let spelled: Vec<&str> = words
        .into_iter()
        .map(|word| if word == "bros" { "brothers" } else { word })
        .collect();
    spelled.join(" ")
}

/// exact, day_month_swapped, one_digit, disagree
fn birth_date_level(a: &Features, b: &Features) -> Option<u8> {
    let (date_a, date_b) = (a.birth_date?, b.birth_date?);
    if date_a == date_b {
        return Some(0);
    }
    if date_a.year == date_b.year && date_a.month == date_b.day && date_a.day == date_b.month {
        return Some(1);
    }
    Some(if birth_digits_apart(a, b)? == 1 { 2 } else { 3 })
}

/// How many of the YYYYMMDD digits differ, read straight or with one date's day and
/// month swapped, whichever is fewer: each source may have made its own slip, one a
/// typo and the other a swap.
fn birth_digits_apart(a: &Features, b: &Features) -> Option<usize> {
    let (digits_a, digits_b) = (a.birth_digits?, b.birth_digits?);
    let apart = |x: &[u8; 8], y: &[u8; 8]| x.iter().zip(y).filter(|(p, q)| p != q).count();
    let swapped = |d: [u8; 8]| [d[0], d[1], d[2], d[3], d[6], d[7], d[4], d[5]];
    let mut fewest = apart(&digits_a, &digits_b);
    if b.birth_date.is_some_and(|date| date.day <= 12) {
        fewest = fewest.min(apart(&digits_a, &swapped(digits_b)));
    }
    if a.birth_date.is_some_and(|date| date.day <= 12) {
        fewest = fewest.min(apart(&swapped(digits_a), &digits_b));
    }
    Some(fewest)
}

/// Whether two birth dates belong to different persons rather than to one person's
/// records with a slip in each: more than two digits apart in every reading, or years
/// more than one digit apart (a parent and a child born on the same day of the year).
fn birth_dates_clearly_differ(a: &Features, b: &Features, level: Option<u8>) -> bool {
    if level != Some(Field::BirthDate.disagree_level()) {
        return false;
    }
    let (Some(digits_a), Some(digits_b)) = (a.birth_digits, b.birth_digits) else {
        return true;
    };
    let years_apart = digits_a[..4]
        .iter()
        .zip(&digits_b[..4])
        .filter(|(x, y)| x != y)
        .count();
    years_apart >= 2 || birth_digits_apart(a, b).is_none_or(|apart| apart >= 3)
}

/// exact, same_local_part, disagree
fn email_level(a: &Features, b: &Features) -> Option<u8> {
    if a.emails.is_empty() || b.emails.is_empty() {
        return None;
    }
    if a.emails.iter().any(|email| b.emails.contains(email)) {
        return Some(0);
    }
    // A distinctive local part at another provider is the same person more often than
    // not; short ones ("info", "john") and role mailboxes ("billing") are not.
    let same_local = a
        .distinctive_email_locals()
        .any(|local| b.email_locals().any(|other| other == local));
    Some(if same_local { 1 } else { 2 })
}

/// exact (any value shared) or disagree.
fn shared_level(a: &[Text], b: &[Text], field: Field) -> Option<u8> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    Some(if a.iter().any(|value| b.contains(value)) {
        0
    } else {
        field.disagree_level()
    })
}

/// The levels of one address pair's four comparisons; `None` where a side lacks the
/// part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct AddressLevels {
    street_number: Option<u8>,
    street: Option<u8>,
    locality: Option<u8>,
    postcode: Option<u8>,
}

impl AddressLevels {
    fn of(x: &NormalizedAddress, y: &NormalizedAddress) -> AddressLevels {
        let both = |p: &str, q: &str| !p.is_empty() && !q.is_empty();
        AddressLevels {
            street_number: both(&x.street_number, &y.street_number).then(|| {
                if x.street_number != y.street_number {
                    Field::StreetNumber.disagree_level()
                } else if x.unit == y.unit {
                    0
                } else {
                    1
                }
            }),
            street: both(&x.street, &y.street).then(|| street_level(&x.street, &y.street)),
            locality: both(&x.locality, &y.locality).then(|| {
                if x.locality == y.locality {
                    0
                } else if jaro_winkler(&x.locality, &y.locality) >= 0.92 {
                    1
                } else {
                    Field::Locality.disagree_level()
                }
            }),
            postcode: both(&x.postcode, &y.postcode).then(|| {
                if x.postcode == y.postcode {
                    0
                } else if at_most_one_slip(&x.postcode, &y.postcode) {
                    1
                } else {
                    Field::Postcode.disagree_level()
                }
            }),
        }
    }

    fn levels(&self) -> [(Field, Option<u8>); 4] {
        [
            (Field::StreetNumber, self.street_number),
            (Field::Street, self.street),
            (Field::Locality, self.locality),
            (Field::Postcode, self.postcode),
        ]
    }

    fn weight(&self, params: &MatchParameters) -> f64 {
        self.levels()
            .into_iter()
            .filter_map(|(field, level)| Some(params.weight(field, level?)))
            .sum()
    }

    /// The same postcode or the same town (a mistyped postcode).
    fn same_place(&self) -> bool {
        self.postcode == Some(0) || self.locality == Some(0)
    }

    /// The same house number on the same street (a near spelling of it).
    fn same_house(&self) -> bool {
        self.street_number == Some(0) && self.street.is_some_and(|level| level <= 2)
    }

    /// The same house in the same place: where one household lives.
    fn same_dwelling(&self) -> bool {
        self.same_house() && self.same_place()
    }
}

/// exact, jaro_winkler>=0.94, jaro_winkler>=0.88, disagree
fn street_level(x: &str, y: &str) -> u8 {
    if x == y {
        return 0;
    }
    let similarity = jaro_winkler(x, y);
    if similarity >= 0.94 {
        1
    } else if similarity >= 0.88 {
        2
    } else {
        Field::Street.disagree_level()
    }
}

/// The address pair whose comparisons weigh most, over all addresses of the two
/// records; `None` unless both have one. Symmetric on purpose: a score must not depend
/// on which record came first.
fn best_address(a: &Features, b: &Features, params: &MatchParameters) -> Option<AddressLevels> {
    let mut best: Option<(f64, AddressLevels)> = None;
    for x in &a.addresses {
        for y in &b.addresses {
            let levels = AddressLevels::of(x, y);
            let weight = levels.weight(params);
            // Ties go to the lowest levels, so that either record's order of addresses
            // gives the same outcome.
            let key = levels.levels().map(|(_, level)| level);
            if best.is_none_or(|(top, chosen)| {
                weight > top || (weight == top && key < chosen.levels().map(|(_, level)| level))
            }) {
                best = Some((weight, levels));
            }
        }
    }
    best.map(|(_, levels)| levels)
}

fn strong_identifier_rule(a: &Features, b: &Features) -> Option<Rule> {
    let shared = a
        .identifiers
        .iter()
        .find(|identifier| b.identifiers.contains(identifier))?;
    Some(match shared.kind {
        IdKind::National => Rule::SameNationalId,
        IdKind::Loyalty => Rule::SameLoyaltyId,
        IdKind::Account => Rule::SameAccountCode,
        IdKind::External | IdKind::Device => Rule::SameExternalId,
    })
}

fn national_ids(features: &Features) -> impl Iterator<Item = &str> + Clone {
    features
        .identifiers
        .iter()
        .filter(|identifier| identifier.kind == IdKind::National)
        .map(|identifier| identifier.value.as_str())
}

/// exact, one_typo, disagree; `None` unless both records carry a national id.
fn national_id_level(a: &Features, b: &Features) -> Option<u8> {
    national_id_values_level(national_ids(a), national_ids(b))
}

/// The national-id level of two sets of values (the best over all value pairs).
fn national_id_values_level<'a>(
    ours: impl Iterator<Item = &'a str>,
    theirs: impl Iterator<Item = &'a str> + Clone,
) -> Option<u8> {
    let mut best: Option<u8> = None;
    for x in ours {
        for y in theirs.clone() {
            let level = if x == y {
                0
            } else if is_plausible_id_typo(x, y) {
                1
            } else {
                Field::NationalId.disagree_level()
            };
            best = Some(best.map_or(level, |b| b.min(level)));
        }
    }
    best
}

/// A per-person identifier typed with one slip: one character wrong, missing or
/// added, or two neighbours swapped (Damerau-Levenshtein distance 1). Two values
/// further apart are weighed as the disagreement level: strong evidence of two
/// persons, not a veto, since sources also replace an id by another value.
pub fn is_plausible_id_typo(x: &str, y: &str) -> bool {
    at_most_one_slip(x, y)
}

fn national_ids_differ(a: &Features, b: &Features) -> bool {
    national_id_level(a, b) == Some(Field::NationalId.disagree_level())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `compare_names` as it was before it asked `crosswise_may_agree` first: every
    /// reading weighed.
    fn compare_names_weighing_every_reading(
        a: &Features,
        b: &Features,
        params: &MatchParameters,
    ) -> [Option<FieldOutcome>; 2] {
        let (Some(a_given), Some(a_family), Some(b_given), Some(b_family)) =
            (&a.given, &a.family, &b.given, &b.family)
        else {
            return compare_names(a, b, params);
        };
        let straight = straight_names(a, b, params);
        better_reading(straight, (a_given, a_family), (b_given, b_family), params)
    }

    /// Asking first whether a crosswise reading may agree changes no outcome: every
    /// combination of names that agree exactly, by nickname, initial, sound, a slip or
    /// a part of a double-barrelled name, straight and crosswise, with name frequencies
    /// that make some names weigh more as given than as family names.
    #[test]
    fn names_read_crosswise_only_when_they_may_agree() {
        let names = [
            "james",
            "jim",
            "j",
            "jones",
            "jone",
            "smith",
            "smyth",
            "lee",
            "li",
            "maria",
            "mary",
            "ann",
            "bill",
            "william",
            "hines connolly",
            "connolly",
            "jsmes",
        ];
        let mut params = MatchParameters::default();
        let counts = |pairs: &[(&str, u64)]| {
            pairs
                .iter()
                .map(|(name, count)| (name.to_string(), *count))
                .collect()
        };
        params.given_name_frequencies = TermFrequencies::from_counts(
            counts(&[("james", 900), ("lee", 5), ("mary", 400)]),
            1_000,
        );
        params.family_name_frequencies = TermFrequencies::from_counts(
            counts(&[("smith", 800), ("lee", 300), ("jones", 2)]),
            1_000,
        );
        let person = |given: &str, family: &str| Features {
            given: Some(NameFeatures::given(given)),
            family: Some(NameFeatures::family(family)),
            ..Features::default()
        };
        let mut crosswise = 0;
        for a_given in names {
            for a_family in names {
                let a = person(a_given, a_family);
                for b_given in names {
                    for b_family in names {
                        let b = person(b_given, b_family);
                        let expected = compare_names_weighing_every_reading(&a, &b, &params);
                        assert_eq!(compare_names(&a, &b, &params), expected, "{a:?} {b:?}");
                        crosswise += usize::from(expected.iter().flatten().any(|o| o.swapped));
                    }
                }
            }
        }
        // The combinations do read some pairs crosswise, so both branches were compared.
        assert!(crosswise > 1_000, "{crosswise}");
    }

    /// The definition `spelled_from_names` replaces, spelling each reading out.
    fn spelled_from_names_by_definition(local: &str, features: &Features) -> bool {
        let letters: String = local.chars().filter(char::is_ascii_alphabetic).collect();
        if letters.len() != local.chars().filter(|c| c.is_ascii_alphanumeric()).count() {
            return false;
        }
        let given = features.given.as_ref().map_or("", |g| g.folded.as_str());
        let family = features.family.as_ref().map_or("", |f| f.folded.as_str());
        let (given, family) = (given.replace(' ', ""), family.replace(' ', ""));
        let initial = given.get(..1).unwrap_or("");
        !family.is_empty()
            && [
                format!("{given}{family}"),
                format!("{family}{given}"),
                format!("{initial}{family}"),
                format!("{family}{initial}"),
                family.clone(),
            ]
            .contains(&letters)
    }

    #[test]
    fn local_parts_spelled_from_names_as_defined() {
        let names = [
            ("linda", "stewart"),
            ("j", "perez"),
            ("mary ann", "van der berg"),
            ("", "adams"),
            ("élise", "adams"),
            ("bob", ""),
        ];
        let locals = [
            "lindastewart",
            "linda_stewart",
            "stewart.linda",
            "lstewart",
            "stewartl",
            "stewart",
            "stewart1978",
            "jperez",
            "perezj",
            "perez",
            "maryannvanderberg",
            "vanderberg.maryann",
            "mvanderberg",
            "adams",
            "adamsé",
            "éadams",
            "bob",
            "",
            "linda",
        ];
        for (given, family) in names {
            let features = Features {
                given: (!given.is_empty()).then(|| NameFeatures::given(given)),
                family: (!family.is_empty()).then(|| NameFeatures::family(family)),
                ..Features::default()
            };
            for local in locals {
                assert_eq!(
                    spelled_from_names(local, &features),
                    spelled_from_names_by_definition(local, &features),
                    "{local} / {given} {family}"
                );
            }
        }
    }

    /// The definition `given_spellings_differ` shortcuts.
    fn given_spellings_differ_by_definition(x: &str, y: &str) -> bool {
        let edits = strsim::damerau_levenshtein(x, y);
        edits > 2
            || (edits == 2
                && x.len().min(y.len()) <= SHORT_NAME
                && x.bytes().next() != y.bytes().next())
    }

    #[test]
    fn given_spellings_differ_as_defined() {
        let words = [
            "anna",
            "alma",
            "mary",
            "earl",
            "jon",
            "jno",
            "ann",
            "beth",
            "katherine",
            "catherine",
            "kathryn",
            "jose",
            "josé",
            "zoë",
            "zoe",
            "aaron",
            "arron",
            "bb",
            "",
        ];
        let mut variants: Vec<String> = Vec::new();
        for word in words {
            variants.push(word.to_owned());
            let bytes: Vec<char> = word.chars().collect();
            for index in 0..bytes.len() {
                let mut dropped = bytes.clone();
                dropped.remove(index);
                variants.push(dropped.iter().collect());
                let mut replaced = bytes.clone();
                replaced[index] = 'x';
                variants.push(replaced.iter().collect());
                if index + 1 < bytes.len() {
                    let mut swapped = bytes.clone();
                    swapped.swap(index, index + 1);
                    variants.push(swapped.iter().collect());
                }
            }
        }
        for x in &variants {
            for y in &variants {
                assert_eq!(
                    given_spellings_differ(x, y),
                    given_spellings_differ_by_definition(x, y),
                    "{x} / {y}"
                );
            }
        }
    }
    use crate::normalize::{NormalizeOptions, normalize_record};
    use crate::params::TermFrequencies;
    use crate::record::{RawAddress, RawRecord};

    /// Every pair of these words, each also with one and two slips of each kind, and
    /// non-ASCII letters: the cheap checks agree with the Damerau-Levenshtein distance.
    fn features(given: &str, family: &str, dob: &str, postcode: &str, locality: &str) -> Features {
        let raw = RawRecord {
            given_name: given.into(),
            family_name: family.into(),
            date_of_birth: dob.into(),
            addresses: vec![RawAddress {
                street_number: "12".into(),
                street: "High Street".into(),
                locality: locality.into(),
                postcode: postcode.into(),
                country: "US".into(),
                ..RawAddress::default()
            }],
            ..RawRecord::default()
        };
        Features::of(&normalize_record(&raw, &NormalizeOptions::default()).unwrap())
    }

    fn with_email(email: &str) -> Features {
        let raw = RawRecord {
            emails: vec![email.into()],
            ..Default::default()
        };
        Features::of(&normalize_record(&raw, &NormalizeOptions::default()).unwrap())
    }

    /// "billing@" at two organizations says nothing; "sigridxue1960@" at two providers
    /// says the same person, and files both records under one key; "john.smith@" at
    /// two providers is evidence, and no key.
    #[test]
    fn role_mailboxes_are_neither_evidence_nor_a_block() {
        use crate::blocking::block_keys;
        let shared_keys = |a: &Features, b: &Features| {
            let theirs = block_keys(b);
            block_keys(a)
                .into_iter()
                .filter(|key| theirs.contains(key))
                .count()
        };
        let (acme, globex) = (
            with_email("billing@acme-tools.com"),
            with_email("Billing@globex.example"),
        );
        assert_eq!(email_level(&acme, &globex), Some(2));
        assert_eq!(shared_keys(&acme, &globex), 0);
        let (service, care) = (
            with_email("customer.service@acme-tools.com"),
            with_email("customerservice@globex.example"),
        );
        assert_eq!(email_level(&service, &care), Some(2));
        let (gmail, yahoo) = (
            with_email("sigridxue1960@gmail.com"),
            with_email("sigridxue1960@yahoo.com"),
        );
        assert_eq!(email_level(&gmail, &yahoo), Some(EMAIL_SAME_LOCAL_LEVEL));
        assert_eq!(shared_keys(&gmail, &yahoo), 1);
        // A local part of letters only is a name, held by strangers at every host:
        // still evidence when other keys bring the records together, but no key.
        let (work, home) = (
            with_email("john.smith@hotmail.com"),
            with_email("john.smith@yahoo.com"),
        );
        assert_eq!(email_level(&work, &home), Some(EMAIL_SAME_LOCAL_LEVEL));
        assert_eq!(shared_keys(&work, &home), 0);
    }

    fn contact(given: &str, family: &str, organization: &str, phone: &str) -> Features {
        let raw = RawRecord {
            given_name: given.into(),
            family_name: family.into(),
            organization_name: organization.into(),
            phones: vec![phone.into()],
            ..Default::default()
        };
        Features::of(&normalize_record(&raw, &NormalizeOptions::default()).unwrap())
    }

    fn with_birth_date(date: &str) -> Option<crate::record::Date> {
        let raw = RawRecord {
            given_name: "X".into(),
            date_of_birth: date.into(),
            ..Default::default()
        };
        Features::of(&normalize_record(&raw, &NormalizeOptions::default()).unwrap()).birth_date
    }

    /// Two contacts of one organization are the organization twice; the same two
    /// names without it are two persons.
    #[test]
    fn contacts_of_one_organization_do_not_conflict_on_their_names() {
        let params = MatchParameters::default();
        let scott = contact("Scott", "Edwards", "Rossi Staffing", "+1 212 767 7130");
        let kristen = contact("Kristen", "Walters", "Rossi Staffing", "(212) 767-7130");
        let pair = compare(&scott, &kristen, &params, &mut NoRecord);
        assert_eq!(pair.separation(15.0), None);
        assert!(pair.total >= 15.0, "{pair:?}");
        assert_eq!(
            hard_conflict(&scott, &kristen, &MatchParameters::default(), 15.0),
            None
        );
        // Contacts born on different days are still one organization's, both ways.
        let born = |features: &Features, date: &str| Features {
            birth_date: with_birth_date(date),
            ..features.clone()
        };
        let (older, younger) = (born(&scott, "1961-04-02"), born(&kristen, "1988-11-30"));
        assert_eq!(
            compare(&older, &younger, &params, &mut NoRecord).separation(15.0),
            None
        );
        assert_eq!(
            hard_conflict(&older, &younger, &MatchParameters::default(), 15.0),
            None
        );
        let (scott, kristen) = (
            contact("Scott", "Edwards", "", "+1 212 767 7130"),
            contact("Kristen", "Walters", "", "(212) 767-7130"),
        );
        assert_eq!(
            compare(&scott, &kristen, &params, &mut NoRecord).separation(15.0),
            Some(Conflict::DifferentPersons)
        );
    }

    /// Sources write one organization's name with or without the article, "&" or
    /// "and", "Bros." or "Brothers", and the legal form: its contacts are still one
    /// organization's, not persons whose names differ.
    #[test]
    fn organization_names_agree_but_for_the_legal_form() {
        let params = MatchParameters::default();
        for (first, second) in [
            ("Szabo Tool & Die Co.", "Szabo Tool and Die Co."),
            ("The Beltran Design Corp.", "Beltran Design Corp."),
            ("Larson Bros. Catering Co.", "Larson Brothers Catering"),
            (
                "Bayview Cleaning Services Ltd.",
                "The Bayview Cleaning Services Ltd.",
            ),
        ] {
            let renee = contact("Renee", "Harris", first, "+1 646 559 7301");
            let jen = contact("Jen", "Turner", second, "646-559-7301");
            assert_eq!(
                organization_level(&renee, &jen),
                Some(0),
                "{first} / {second}"
            );
            assert_eq!(hard_conflict(&renee, &jen, &params, 15.0), None);
        }
        let other = contact("Jen", "Turner", "Bayview Plumbing Inc.", "646-559-7301");
        let renee = contact(
            "Renee",
            "Harris",
            "Bayview Cleaning Services",
            "+1 646 559 7301",
        );
        assert_eq!(organization_level(&renee, &other), Some(2));
        // A legal form alone is a name, not nothing.
        assert_eq!(organization_core("co"), "co");
    }

    /// Household members with short names two letters apart ("Mary", "Earl") are two
    /// persons: what the household shares does not link them.
    #[test]
    fn short_given_names_two_slips_apart_are_two_persons() {
        let params = MatchParameters::default();
        let mary = features("Mary", "Bell", "", "10066", "New York");
        let earl = features("Earl", "Bell", "", "10066", "New York");
        assert_eq!(
            compare(&mary, &earl, &params, &mut NoRecord).separation(15.0),
            Some(Conflict::DifferentPersons)
        );
        // Two slips that keep the first letter are not clearly two persons.
        let (anna, alma) = (
            features("Anna", "Bell", "", "10066", "New York"),
            features("Alma", "Bell", "", "10066", "New York"),
        );
        let names = compare_names(&anna, &alma, &params);
        assert_eq!(names[0].as_ref().map(|o| o.level), Some(5));
        assert!(!given_names_differ(&anna, &alma, &names));
    }

    /// An initial stands for the name behind a nickname too: "R." may be Dick.
    #[test]
    fn an_initial_agrees_with_a_nickname_of_its_name() {
        let initial = NameFeatures::given("r");
        let nickname = NameFeatures::given("dick");
        assert_eq!(given_level(&initial, &nickname), 4);
        assert_eq!(given_level(&nickname, &initial), 4);
        assert_eq!(given_level(&initial, &NameFeatures::given("tom")), 5);
    }

    /// The address is four comparisons: a replaced town and postcode leave the house
    /// number and street agreeing, each weighed on its own.
    #[test]
    fn address_parts_are_compared_apart() {
        let params = MatchParameters::default();
        let home = features("Ann", "Lee", "1984-03-02", "62704", "Springfield");
        let moved_town = features("Ann", "Lee", "1984-03-02", "10001", "Shelbyville");
        let mut fields = RecordAll::default();
        compare(&home, &moved_town, &params, &mut fields);
        let level = |field: Field| {
            fields
                .0
                .iter()
                .find(|outcome| outcome.field == field)
                .map(|outcome| outcome.level)
        };
        assert_eq!(level(Field::StreetNumber), Some(0));
        assert_eq!(level(Field::Street), Some(0));
        assert_eq!(
            level(Field::Locality),
            Some(Field::Locality.disagree_level())
        );
        assert_eq!(
            level(Field::Postcode),
            Some(Field::Postcode.disagree_level())
        );
        let same = compare(&home, &home, &params, &mut NoRecord);
        let apart = compare(&home, &moved_town, &params, &mut NoRecord);
        assert!(apart.total < same.total, "{apart:?} vs {same:?}");
    }

    /// Swapped names with one of them mistyped beyond its sound still meet: one name's
    /// code with the birth date, and with the house.
    #[test]
    fn swapped_and_mistyped_names_share_a_block() {
        use crate::blocking::block_keys;
        let straight = features("Jacob", "Shepherdson", "1992-03-26", "", "");
        let swapped = features("Shephsrdson", "Jacob", "1992-03-26", "", "");
        let theirs = block_keys(&swapped);
        assert!(block_keys(&straight).iter().any(|key| theirs.contains(key)));
        let undated = features("Jacob", "Shephsrdzon", "", "", "");
        let other = features("Jacob", "Shepherdson", "", "", "");
        let theirs = block_keys(&other);
        assert!(
            block_keys(&undated).iter().any(|key| theirs.contains(key)),
            "the same house files both under the given name"
        );
    }

    /// Order independence rests on this: compare(a, b) == compare(b, a).
    #[test]
    fn scores_are_symmetric() {
        let samples = [
            features("Ann", "Lee", "1984-03-02", "62704", "Springfield"),
            features("Annie", "Lee", "1984-02-03", "", "Springfield"),
            features("Lee", "Ann", "", "62704", ""),
            features("Beth", "Lee", "1984-03-02", "62704", "Springfield"),
            features("A", "Leigh", "1984-03-12", "62701", "Springfield"),
            // Lone given name, mistyped nickname, double-barrelled name, birth slips.
            features("Ann", "", "1984-03-05", "62704", ""),
            features("Anmie", "Lee-Smith", "1984-02-03", "62704", "Springfield"),
            features("Smith", "Ann", "1986-03-02", "", "Springfield"),
        ];
        let params = MatchParameters::default();
        for a in &samples {
            for b in &samples {
                let forward = compare(a, b, &params, &mut NoRecord);
                let backward = compare(b, a, &params, &mut NoRecord);
                assert_eq!(forward, backward, "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn hard_conflicts_are_symmetric() {
        let samples = [
            features("Ann", "Lee", "1984-03-02", "62704", "Springfield"),
            features("Lee", "Ann", "", "62704", ""),
            features("Lee", "Annie", "1984-03-02", "", "Springfield"),
            features("Beth", "Lee", "1984-03-02", "62704", "Springfield"),
            features("Anne", "Lea", "", "62701", "Springfield"),
            features("Ann", "", "1984-03-05", "62704", ""),
            features("Anmie", "Lee-Smith", "1984-02-03", "62704", "Springfield"),
            features("Smith", "Ann", "1986-03-02", "", "Springfield"),
        ];
        for a in &samples {
            for b in &samples {
                assert_eq!(
                    hard_conflict(a, b, &MatchParameters::default(), 15.0),
                    hard_conflict(b, a, &MatchParameters::default(), 15.0),
                    "{a:?} vs {b:?}"
                );
            }
        }
    }

    #[test]
    fn household_members_conflict_and_typos_do_not() {
        let params = MatchParameters::default();
        let ann = features("Ann", "Lee", "1984-03-02", "62704", "Springfield");
        let twin = features("Beth", "Lee", "1984-03-02", "62704", "Springfield");
        assert_eq!(
            compare(&ann, &twin, &params, &mut NoRecord).separation(15.0),
            Some(Conflict::DifferentPersons)
        );
        let typo = features("Anm", "Lee", "1984-03-02", "62704", "Springfield");
        let score = compare(&ann, &typo, &params, &mut NoRecord);
        assert_eq!(score.separation(15.0), None);
        assert!(score.is_link(22.0), "{score:?}");
    }

    /// Two slips, one in each of two records of Brian ("BRJIAN", "rian"), make the
    /// given names clearly differ; "Brian" agrees closely with one of them and is apart
    /// from neither, which explains it. Twins differ by given names alone too, and a
    /// record of one is apart from the other. A replaced birth date is explained by a
    /// record with the true one.
    #[test]
    fn one_difference_can_be_explained_by_a_third_record() {
        let params = MatchParameters::default();
        let person = |given: &str, dob: &str| features(given, "Campbell", dob, "97659", "Amanda");
        let (brian, slipped, other_slip) = (
            person("Brian", "2000-02-05"),
            person("Brjian", "2000-02-05"),
            person("rian", "2000-02-05"),
        );
        let given = Separation::Only(Difference::GivenNames);
        assert_eq!(
            separation(&slipped, &other_slip, &params, &NoBase, 15.0),
            given
        );
        assert_eq!(
            separation(&brian, &slipped, &params, &NoBase, 15.0),
            Separation::None
        );
        assert_eq!(
            separation(&brian, &other_slip, &params, &NoBase, 15.0),
            Separation::None
        );
        assert!(explains(
            &brian,
            &slipped,
            &other_slip,
            Difference::GivenNames
        ));
        let (mark, twin) = (person("Mark", "2000-02-05"), person("Joseph", "2000-02-05"));
        assert_eq!(separation(&mark, &twin, &params, &NoBase, 15.0), given);
        assert!(!explains(&brian, &mark, &twin, Difference::GivenNames));
        assert_ne!(
            separation(&person("Mark", "2000-02-05"), &twin, &params, &NoBase, 15.0),
            Separation::None
        );
        let replaced = person("Brian", "1994-11-23");
        assert_eq!(
            separation(&replaced, &other_slip, &params, &NoBase, 15.0),
            Separation::Only(Difference::BirthDates)
        );
        assert!(explains(
            &brian,
            &replaced,
            &other_slip,
            Difference::BirthDates
        ));
        // A parent: given names and birth dates both differ, which nothing explains.
        let father = person("Brjian", "1968-07-30");
        assert_eq!(
            separation(&father, &other_slip, &params, &NoBase, 15.0),
            Separation::Persons
        );
    }

    /// A family mailbox is the household's: a father and his son who share it stay
    /// two persons, while two records of one person that share it still link.
    #[test]
    fn a_family_mailbox_is_shared_like_the_landline() {
        let params = MatchParameters::default();
        // At one address, with the landline and the family mailbox.
        let person = |given: &str, dob: &str| {
            let mut features = features(given, "Navarro", dob, "62704", "Springfield");
            features.emails = vec!["navarrofamily@example.com".into()];
            features.phones = vec!["+12175550148".into()];
            features
        };
        let (father, son) = (person("James", "1981-08-27"), person("Jamie", "2008-07-22"));
        assert!(!personal_agreement(&father, &son));
        assert_ne!(
            separation(&father, &son, &params, &NoBase, 15.0),
            Separation::None
        );
        let again = person("James", "1981-08-27");
        let score = compare(&father, &again, &params, &mut NoRecord);
        assert!(score.is_link(15.0), "{score:?}");
        // A personal address is still the person's.
        let mut own = person("Jamie", "2008-07-22");
        own.emails = vec!["james.navarro81@example.com".into()];
        let mut father_own = person("James", "1981-08-27");
        father_own.emails = vec!["james.navarro81@example.com".into()];
        assert!(personal_agreement(&father_own, &own));
    }

    /// Namesakes in two towns who give the same address spelled from their names are
    /// not corroborated by it; in one town they are, and a personal address (with
    /// digits) corroborates anywhere.
    #[test]
    fn an_address_spelled_from_the_names_corroborates_only_in_one_place() {
        let params = MatchParameters::default();
        // At 12 High Street in the given town, or on another street.
        let jessica = |email: &str, postcode: &str, locality: &str, street: &str| {
            let mut features = features("Jessica", "Adams", "", postcode, locality);
            features.emails = vec![email.into()];
            features.addresses[0].street = street.into();
            features
        };
        let here = jessica(
            "jessica_adams@yahoo.com",
            "68766",
            "North Marcton",
            "high street",
        );
        let elsewhere = jessica(
            "jessica_adams@yahoo.com",
            "67402",
            "Davidtown",
            "taylor loop",
        );
        let score = compare(&here, &elsewhere, &params, &mut NoRecord);
        assert!(!score.corroborated, "{score:?}");
        assert!(!score.is_link(15.0));
        let next_door = jessica(
            "jessica_adams@yahoo.com",
            "68766",
            "North Marcton",
            "elm road",
        );
        assert!(compare(&here, &next_door, &params, &mut NoRecord).corroborated);
        let (mine, mine_elsewhere) = (
            jessica(
                "jadams1983@yahoo.com",
                "68766",
                "North Marcton",
                "high street",
            ),
            jessica("jadams1983@yahoo.com", "67402", "Davidtown", "taylor loop"),
        );
        assert!(compare(&mine, &mine_elsewhere, &params, &mut NoRecord).corroborated);
    }

    /// "Adams" is rare as a given name and common as a family name: read crosswise
    /// (one record swapped the names) the pair weighs no more than the same names
    /// read straight.
    #[test]
    fn swapped_names_weigh_as_the_commoner_reading() {
        let mut params = MatchParameters::default();
        let counts = |pairs: &[(&str, u64)]| {
            pairs
                .iter()
                .map(|(name, count)| ((*name).to_owned(), *count))
                .collect()
        };
        params.given_name_frequencies =
            TermFrequencies::from_counts(counts(&[("jessica", 200), ("adams", 1)]), 10_000);
        params.family_name_frequencies =
            TermFrequencies::from_counts(counts(&[("adams", 150), ("jessica", 1)]), 10_000);
        let names_weight = |x: &Features, y: &Features| {
            let mut all = RecordAll::default();
            compare(x, y, &params, &mut all);
            all.0
                .iter()
                .filter(|o| matches!(o.field, Field::GivenName | Field::FamilyName))
                .map(|o| o.weight)
                .sum::<f64>()
        };
        let straight = features("Jessica", "Adams", "", "68766", "North Marcton");
        let again = features("Jessica", "Adams", "", "67402", "Davidtown");
        let swapped = features("Adams", "Jessica", "", "67402", "Davidtown");
        let (crosswise, same) = (
            names_weight(&straight, &swapped),
            names_weight(&straight, &again),
        );
        assert!(
            crosswise <= same + 1e-9,
            "crosswise {crosswise} > straight {same}"
        );
        assert!(crosswise > 0.0, "{crosswise}");
    }

    #[test]
    fn different_middle_initials_or_generations_are_different_persons() {
        let params = MatchParameters::default();
        let with = |middle: &str, suffix: &str, family: &str| {
            let raw = RawRecord {
                given_name: "John".into(),
                middle_name: middle.into(),
                family_name: family.into(),
                name_suffix: suffix.into(),
                phones: vec!["+1 217 555 0148".into()],
                addresses: vec![RawAddress {
                    street_number: "12".into(),
                    street: "High Street".into(),
                    locality: "Springfield".into(),
                    postcode: "62704".into(),
                    country: "US".into(),
                    ..RawAddress::default()
                }],
                ..RawRecord::default()
            };
            Features::of(&normalize_record(&raw, &NormalizeOptions::default()).unwrap())
        };
        let conflict = |x: &Features, y: &Features| {
            let forward = compare(x, y, &params, &mut NoRecord).separation(15.0);
            assert_eq!(
                forward,
                compare(y, x, &params, &mut NoRecord).separation(15.0)
            );
            assert_eq!(
                forward.is_some(),
                hard_conflict(x, y, &MatchParameters::default(), 15.0).is_some()
            );
            forward
        };
        let robert = with("Robert", "", "Smith");
        let initial_r = with("R.", "", "Smith");
        let adam = with("Adam", "", "Smith");
        let none = with("", "", "Smith");
        assert_eq!(conflict(&robert, &initial_r), None);
        assert_eq!(conflict(&robert, &none), None);
        assert_eq!(conflict(&robert, &adam), Some(Conflict::DifferentPersons));

        let junior = with("", "Jr.", "Smith");
        let junior_in_family = with("", "", "Smith Jr");
        let senior = with("", "Sr", "Smith");
        assert_eq!(junior.generation, Some(crate::record::Generation::Junior));
        assert_eq!(junior_in_family.generation, junior.generation);
        assert_eq!(conflict(&junior, &junior_in_family), None);
        assert_eq!(conflict(&junior, &none), None);
        assert_eq!(conflict(&junior, &senior), Some(Conflict::DifferentPersons));
    }

    #[test]
    fn a_shared_household_does_not_corroborate_loosely_agreeing_given_names() {
        let params = MatchParameters::default();
        let at_home = |given: &str, dob: &str| {
            let raw = RawRecord {
                given_name: given.into(),
                family_name: "Kowalczyk".into(),
                date_of_birth: dob.into(),
                phones: vec!["+1 217 555 0148".into()],
                addresses: vec![RawAddress {
                    street_number: "12".into(),
                    street: "High Street".into(),
                    locality: "Springfield".into(),
                    postcode: "62704".into(),
                    country: "US".into(),
                    ..RawAddress::default()
                }],
                ..RawRecord::default()
            };
            Features::of(&normalize_record(&raw, &NormalizeOptions::default()).unwrap())
        };
        // Same sound, same household, nothing personal: not corroborated.
        let donna = at_home("Donna", "");
        let dawn = at_home("Dawn", "");
        let score = compare(&donna, &dawn, &params, &mut NoRecord);
        assert!(!score.corroborated, "{score:?}");
        assert!(!score.is_link(0.0));
        // The same birth date is personal evidence.
        let donna_dob = at_home("Donna", "1961-05-04");
        let dawn_dob = at_home("Dawn", "1961-05-04");
        assert!(compare(&donna_dob, &dawn_dob, &params, &mut NoRecord).corroborated);
        // Names that agree closely keep the household as corroboration.
        let donna_again = at_home("Donna", "");
        assert!(compare(&donna, &donna_again, &params, &mut NoRecord).corroborated);
    }

    /// Each source makes its own slips: one date with a digit wrong and the other with
    /// day and month swapped is one person's; a parent's and a child's are not.
    #[test]
    fn a_typo_and_a_swap_in_two_birth_dates_are_one_person() {
        let at = |dob: &str| features("Edward", "Torres", dob, "60753", "Chicago");
        let truth = at("1961-01-02");
        let (typo, swapped) = (at("1961-01-05"), at("1961-02-01"));
        assert_eq!(birth_date_level(&typo, &swapped), Some(2));
        assert_eq!(
            hard_conflict(&typo, &swapped, &MatchParameters::default(), 15.0),
            None
        );
        assert_eq!(birth_date_level(&truth, &swapped), Some(1));
        // Two typos, one in the year: still one person's, though the dates disagree.
        let (one, other) = (at("1986-11-14"), at("1983-11-04"));
        assert_eq!(birth_date_level(&one, &other), Some(3));
        assert_eq!(
            hard_conflict(&one, &other, &MatchParameters::default(), 15.0),
            None
        );
        // Father and son born on the same day of the year, or three digits apart.
        for (a, b) in [("1960-05-12", "1985-05-12"), ("1961-01-02", "1961-09-28")] {
            assert_eq!(
                hard_conflict(&at(a), &at(b), &MatchParameters::default(), 15.0),
                Some(Conflict::DifferentPersons),
                "{a} {b}"
            );
        }
    }

    /// "Iabella" is Isabella mistyped, and "Izzy" is Isabella: loosely the same name,
    /// not a conflict; the household alone does not corroborate it.
    #[test]
    fn a_mistyped_name_against_its_nickname_agrees_loosely() {
        let params = MatchParameters::default();
        let typed = features("Iabella", "Gutierrez", "1940-11-22", "96856", "Honolulu");
        let nickname = features("Izzy", "Gutierrez", "1940-11-22", "96856", "Honolulu");
        let pair = compare(&typed, &nickname, &params, &mut NoRecord);
        assert_eq!(pair.separation(15.0), None);
        assert!(pair.is_link(15.0), "{pair:?}");
        assert_eq!(
            hard_conflict(&typed, &nickname, &MatchParameters::default(), 15.0),
            None
        );
        let mut fields = RecordAll::default();
        compare(&typed, &nickname, &params, &mut fields);
        assert_eq!(fields.0[0].level_name(), "phonetic_or_mistyped_nickname");
        // Without the birth date, the shared address does not make them one.
        let (typed, nickname) = (
            features("Iabella", "Gutierrez", "", "96856", "Honolulu"),
            features("Izzy", "Gutierrez", "", "96856", "Honolulu"),
        );
        assert!(!compare(&typed, &nickname, &params, &mut NoRecord).is_link(15.0));
    }

    /// Swapped names read crosswise with nicknames ("Cameron, Babs" is Barbara
    /// Cameron), with a double-barrelled family name cut to one part, and when one
    /// record has only the given name.
    #[test]
    fn swapped_names_agree_crosswise() {
        let params = MatchParameters::default();
        for (a, b) in [
            (("Cameron", "Babs"), ("Barbara", "Cameron")),
            (("Hines-Connolly", "Karen"), ("Karen", "Connolly")),
            (("Carl", ""), ("Magana", "Carl")),
            (("Magana", "Carl"), ("Carl", "")),
        ] {
            let a = features(a.0, a.1, "1957-04-02", "89168", "Las Vegas");
            let b = features(b.0, b.1, "1957-04-02", "89168", "Las Vegas");
            let pair = compare(&a, &b, &params, &mut NoRecord);
            assert!(pair.is_link(15.0), "{a:?} {b:?}: {pair:?}");
            assert_eq!(
                hard_conflict(&a, &b, &MatchParameters::default(), 15.0),
                None,
                "{a:?} {b:?}"
            );
        }
        let (one, other) = (
            features("Karen", "Hines-Connolly", "", "", "Philadelphia"),
            features("Karen", "Connolly", "", "", "Philadelphia"),
        );
        let mut fields = RecordAll::default();
        compare(&one, &other, &params, &mut fields);
        assert_eq!(
            fields.0[1].level_name(),
            "jaro_winkler>=0.94_or_double_barrelled_part"
        );
    }

    /// "John Smith Jr" and "John Smith" at one address may be son and father: the
    /// shared household does not make them one person, a birth date or e-mail does.
    #[test]
    fn a_suffix_on_one_side_needs_personal_evidence() {
        let params = MatchParameters::default();
        let junior = features("John", "Smith Jr", "", "62704", "Springfield");
        let plain = features("John", "Smith", "", "62704", "Springfield");
        assert!(junior.generation.is_some() && plain.generation.is_none());
        let pair = compare(&junior, &plain, &params, &mut NoRecord);
        assert_eq!(pair.separation(15.0), None);
        assert!(!pair.is_link(15.0), "{pair:?}");
        let (junior, plain) = (
            features("John", "Smith Jr", "1990-04-01", "62704", "Springfield"),
            features("John", "Smith", "1990-04-01", "62704", "Springfield"),
        );
        assert!(compare(&junior, &plain, &params, &mut NoRecord).is_link(15.0));
        // Without any suffix the household still corroborates exact names.
        let other = features("John", "Smith", "", "62704", "Springfield");
        assert!(compare(&plain, &other, &params, &mut NoRecord).is_link(15.0));
    }

    #[test]
    fn a_slip_near_the_start_of_a_long_given_name_is_a_typo() {
        let given = |name: &str| NameFeatures::given(name);
        // Jaro-Winkler scores these below 0.92; one slip in five letters or more.
        assert!(jaro_winkler("aalejandro", "alejandro") < 0.92);
        assert_eq!(given_level(&given("aalejandro"), &given("alejandro")), 2);
        assert_eq!(given_level(&given("jsmes"), &given("james")), 2);
        // Four letters one slip apart are often two names.
        assert!(given_level(&given("mark"), &given("mary")) > 2);
    }

    #[test]
    fn a_loose_given_name_without_a_family_name_needs_more_than_the_birth_date() {
        let params = MatchParameters::default();
        let person = |given: &str, family: &str, email: &str| {
            let raw = RawRecord {
                given_name: given.into(),
                family_name: family.into(),
                date_of_birth: "1977-09-28".into(),
                emails: if email.is_empty() {
                    Vec::new()
                } else {
                    vec![email.into()]
                },
                ..RawRecord::default()
            };
            Features::of(&normalize_record(&raw, &NormalizeOptions::default()).unwrap())
        };
        let (brandon, brenda) = (person("Brandon", "", ""), person("Brenda", "Torres", ""));
        let mut fields = RecordAll::default();
        let pair = compare(&brandon, &brenda, &params, &mut fields);
        assert!(
            fields
                .0
                .iter()
                .any(|o| o.field == Field::GivenName && o.level == GIVEN_PHONETIC_LEVEL)
        );
        assert!(pair.total >= 15.0 && !pair.is_link(15.0), "{pair:?}");
        // A shared e-mail corroborates.
        let (brandon, brenda) = (
            person("Brandon", "", "bt1977@example.com"),
            person("Brenda", "Torres", "bt1977@example.com"),
        );
        assert!(compare(&brandon, &brenda, &params, &mut NoRecord).is_link(15.0));
    }

    fn person(given: &str, dob: &str, national_id: &str) -> Features {
        let raw = RawRecord {
            given_name: given.into(),
            family_name: "Shepherd".into(),
            date_of_birth: dob.into(),
            addresses: vec![RawAddress {
                street_number: "39".into(),
                street: "Burnage Place".into(),
                locality: "Winston Hills".into(),
                postcode: "3183".into(),
                country: "AU".into(),
                ..RawAddress::default()
            }],
            identifiers: if national_id.is_empty() {
                Vec::new()
            } else {
                vec![crate::record::RawIdentifier {
                    kind: IdKind::National,
                    system: String::new(),
                    value: national_id.into(),
                }]
            },
            ..RawRecord::default()
        };
        Features::of(&normalize_record(&raw, &NormalizeOptions::default()).unwrap())
    }

    /// A national id one digit apart is a typo, weighed as evidence; ids further apart
    /// are strong evidence of two persons, weighed too (sources replace ids): with
    /// everything else agreeing the records link, and twins with their own ids stay
    /// apart.
    #[test]
    fn national_ids_one_typo_apart_are_evidence_and_further_apart_weigh_against() {
        let params = MatchParameters::default();
        let original = person("Olivia", "1932-09-07", "5731308");
        let one_digit = person("Olivia", "1932-09-07", "5731378");
        let neighbours_swapped = person("Olivia", "1932-09-07", "5731380");
        for typo in [&one_digit, &neighbours_swapped] {
            let pair = compare(&original, typo, &params, &mut NoRecord);
            assert_eq!(pair.separation(15.0), None, "{pair:?}");
            assert!(pair.is_link(15.0), "{pair:?}");
        }
        let replaced = person("Olivia", "1932-09-07", "5739951");
        let pair = compare(&original, &replaced, &params, &mut NoRecord);
        let mut fields = RecordAll::default();
        compare(&original, &replaced, &params, &mut fields);
        let id_weight = fields
            .0
            .iter()
            .find(|outcome| outcome.field == Field::NationalId)
            .map(|outcome| outcome.weight)
            .unwrap();
        assert!(id_weight < -3.0, "{id_weight}");
        assert!(pair.persons_differ, "{pair:?}");
        assert_eq!(pair.separation(15.0), None, "{pair:?}");
        assert!(pair.is_link(15.0), "{pair:?}");
        let twin = person("Olivia", "1932-09-07", "5739951");
        let twin = Features {
            given: Some(NameFeatures::given("sophia")),
            ..twin
        };
        let twins = compare(&original, &twin, &params, &mut NoRecord);
        assert_eq!(twins.separation(15.0), Some(Conflict::DifferentPersons));
        assert!(is_plausible_id_typo("5731308", "5731380"));
        assert!(!is_plausible_id_typo("5731308", "5713380"));
    }

    /// Another given name no longer vetoes: the same national id links (a rule), and
    /// so does a national id one typo apart with the same birth date. Without such
    /// personal evidence, the household's agreement does not count and twins stay
    /// apart.
    #[test]
    fn a_given_name_disagreement_is_weighed_against_personal_evidence() {
        let params = MatchParameters::default();
        let olivia = person("Olivia", "1932-09-07", "5731308");
        let connor_same_id = person("Connor", "1932-09-07", "5731308");
        assert!(compare(&olivia, &connor_same_id, &params, &mut NoRecord).is_link(15.0));
        assert_eq!(hard_conflict(&olivia, &connor_same_id, &params, 15.0), None);
        let connor_id_typo = person("Connor", "1932-09-07", "5731338");
        let pair = compare(&olivia, &connor_id_typo, &params, &mut NoRecord);
        assert!(pair.persons_differ && pair.is_link(15.0), "{pair:?}");
        // Twins: same household and birth date, other given names, no national id.
        let (ann, beth) = (
            person("Ann", "1932-09-07", ""),
            person("Beth", "1932-09-07", ""),
        );
        let twins = compare(&ann, &beth, &params, &mut NoRecord);
        assert!(
            twins.total >= 15.0,
            "the household alone would link them: {twins:?}"
        );
        assert_eq!(twins.separation(15.0), Some(Conflict::DifferentPersons));
        assert!(!twins.is_link(15.0));
        assert!(hard_conflict(&ann, &beth, &params, 15.0).is_some());
    }

    /// Where the base has no households (as estimated), the pattern of twins is one
    /// person's record with the given name or the birth date replaced; explicit
    /// suffixes still name two persons.
    #[test]
    fn without_households_a_replaced_given_name_or_birth_date_is_weighed_only() {
        let without_households = MatchParameters {
            household_ratio: 0.01,
            ..MatchParameters::default()
        };
        assert!(!without_households.households_share_evidence());
        let (ann, beth) = (
            person("Ann", "1932-09-07", ""),
            person("Beth", "1932-09-07", ""),
        );
        let pair = compare(&ann, &beth, &without_households, &mut NoRecord);
        assert!(pair.persons_differ && pair.is_link(15.0), "{pair:?}");
        let reborn = person("Ann", "1967-02-11", "");
        assert!(compare(&ann, &reborn, &without_households, &mut NoRecord).is_link(15.0));
        assert_eq!(
            household_pair(&ann, &beth, &without_households),
            Some(HouseholdPair::OneDiffers)
        );
        let spouse = person("Bob", "1930-01-15", "");
        assert_eq!(
            household_pair(&ann, &spouse, &without_households),
            Some(HouseholdPair::BothDiffer)
        );
        // Below the threshold but not evidence against one person: no separation,
        // so other links may still join their clusters; evidence against separates.
        let spouse_pair = compare(&ann, &spouse, &without_households, &mut NoRecord);
        assert!(!spouse_pair.is_link(15.0));
        assert_eq!(spouse_pair.separation(15.0), None, "{spouse_pair:?}");
        let stranger = features("Beth", "Kowalski", "1950-11-23", "10001", "New York");
        let unrelated = compare(&ann, &stranger, &without_households, &mut NoRecord);
        assert_eq!(
            unrelated.separation(15.0),
            Some(Conflict::DifferentPersons),
            "{unrelated:?}"
        );
    }

    /// Every phone number is one person's.
    struct AllOnePersons;

    impl PhoneHolders for AllOnePersons {
        fn one_person(&self, _: &str) -> bool {
            true
        }
    }

    /// Records that share and differ in every field, each value also missing, as an
    /// import's candidate pairs do.
    fn varied_records() -> Vec<Features> {
        let givens = ["Ann", "Anne", "Annie", "Bob", "Robert", "J", ""];
        let families = ["Lee", "Li", "Smith", "Lee Smith", ""];
        let births = ["1980-02-03", "1980-03-02", "1975-11-30", ""];
        let emails = [
            "ann.lee@example.com",
            "annlee@mail.com",
            "leefamily@mail.com",
            "",
        ];
        let phones = ["+1 212 736 5000", "+1 212 736 5001", ""];
        let addresses = [
            ("12", "High Street", "Springfield", "02139"),
            ("12", "High St", "Springfield", "02138"),
            ("40", "Low Road", "Shelbyville", "90210"),
            // The same town and postcode, another house.
            ("7", "Elm Street", "Springfield", "02139"),
            ("", "", "", ""),
        ];
        let ids = [
            (IdKind::National, "123456789"),
            (IdKind::National, "123456798"),
            (IdKind::National, "987654321"),
            (IdKind::Loyalty, "L1001"),
            (IdKind::Loyalty, "L1002"),
            (IdKind::National, ""),
        ];
        let suffixes = ["", "Jr"];
        let mut records = Vec::new();
        // A fixed walk through the combinations (an LCG), not all 161,280 of them.
        let mut state = 7_u64;
        let mut pick = |n: usize| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as usize % n
        };
        while records.len() < 400 {
            let (number, street, locality, postcode) = addresses[pick(addresses.len())];
            let (kind, id) = ids[pick(ids.len())];
            let raw = RawRecord {
                given_name: givens[pick(givens.len())].into(),
                family_name: families[pick(families.len())].into(),
                name_suffix: suffixes[pick(suffixes.len())].into(),
                date_of_birth: births[pick(births.len())].into(),
                emails: [emails[pick(emails.len())]]
                    .into_iter()
                    .filter(|email| !email.is_empty())
                    .map(String::from)
                    .collect(),
                phones: [phones[pick(phones.len())]]
                    .into_iter()
                    .filter(|phone| !phone.is_empty())
                    .map(String::from)
                    .collect(),
                addresses: vec![RawAddress {
                    street_number: number.into(),
                    street: street.into(),
                    locality: locality.into(),
                    postcode: postcode.into(),
                    country: "US".into(),
                    ..RawAddress::default()
                }],
                identifiers: [id]
                    .into_iter()
                    .filter(|id| !id.is_empty())
                    .map(|id| crate::record::RawIdentifier {
                        kind,
                        system: String::new(),
                        value: id.into(),
                    })
                    .collect(),
                ..RawRecord::default()
            };
            if let Ok(normalized) = normalize_record(&raw, &NormalizeOptions::default()) {
                records.push(Features::of(&normalized));
            }
        }
        records
    }

    /// `link_score` stops before the names only for pairs that are no link, and gives
    /// `compare_in`'s score otherwise: every pair of varied records, with and without
    /// households in the base, with shared phones one person's or a household's, at
    /// several thresholds.
    #[test]
    fn link_score_stops_only_for_pairs_that_cannot_link() {
        let records = varied_records();
        let (mut stopped, mut links) = (0, 0);
        // With households (the prior's ratio) and without (below HOUSEHOLD_RATIO_PRESENT).
        for household_ratio in [2.0, 0.1] {
            let params = MatchParameters {
                household_ratio,
                ..MatchParameters::default()
            };
            for phones in [&NoBase as &dyn PhoneHolders, &AllOnePersons] {
                for a in &records {
                    for b in &records {
                        let full = compare_in(a, b, &params, phones, &mut NoRecord);
                        match link_score(a, b, &params, phones) {
                            Some(score) => assert_eq!(score, full, "{a:?} {b:?}"),
                            None => {
                                stopped += 1;
                                for threshold in [-20.0, 0.0, 15.0, 30.0] {
                                    assert!(!full.is_link(threshold), "{a:?} {b:?}");
                                }
                            }
                        }
                        links += usize::from(full.is_link(15.0));
                    }
                }
            }
        }
        // Both ways out were taken, many times; some pairs link by a shared loyalty id
        // alone, which nothing else corroborates.
        assert!(
            stopped > 10_000 && links > 10_000,
            "{stopped} stopped, {links} links"
        );
    }

    /// The base says which numbers are one person's.
    struct OnePersons(&'static [&'static str]);

    impl PhoneHolders for OnePersons {
        fn one_person(&self, phone: &str) -> bool {
            self.0.contains(&phone)
        }
    }

    fn with_phone(features: Features, phone: &str) -> Features {
        Features {
            phones: vec![phone.into()],
            ..features
        }
    }

    /// Twins share the household's landline; one person's records with the given name
    /// or the birth date replaced share the person's own mobile. Only the base tells
    /// the two numbers apart: a shared number that no other person carries is personal
    /// evidence, and a landline stays the household's.
    #[test]
    fn a_number_only_one_person_carries_is_personal_evidence() {
        let params = MatchParameters::default();
        assert!(params.households_share_evidence());
        let phone = "+14155550123";
        let ann = with_phone(person("Ann", "1932-09-07", ""), phone);
        let beth = with_phone(person("Beth", "1932-09-07", ""), phone);
        let at_the_landline = compare_in(&ann, &beth, &params, &NoBase, &mut NoRecord);
        assert_eq!(
            at_the_landline.separation(15.0),
            Some(Conflict::DifferentPersons),
            "{at_the_landline:?}"
        );
        assert_eq!(
            at_the_landline,
            compare(&ann, &beth, &params, &mut NoRecord)
        );
        let own_mobile = OnePersons(&["+14155550123"]);
        let replaced = compare_in(&ann, &beth, &params, &own_mobile, &mut NoRecord);
        assert_eq!(replaced.separation(15.0), None, "{replaced:?}");
        assert!(replaced.is_link(15.0), "{replaced:?}");
        assert_eq!(replaced.total, at_the_landline.total);
        let reborn = with_phone(person("Ann", "1967-02-11", ""), phone);
        assert!(!compare_in(&ann, &reborn, &params, &NoBase, &mut NoRecord).is_link(15.0));
        assert!(compare_in(&ann, &reborn, &params, &own_mobile, &mut NoRecord).is_link(15.0));
        // Another number of the person's says nothing of this one.
        let elsewhere = OnePersons(&["+14155550199"]);
        assert!(!compare_in(&ann, &beth, &params, &elsewhere, &mut NoRecord).is_link(15.0));
        // Different middle initials are two persons whatever number they share.
        let ann_b = Features {
            middle_initial: Some(b'b'),
            ..ann.clone()
        };
        let ann_c = Features {
            middle_initial: Some(b'c'),
            ..beth.clone()
        };
        let markers = compare_in(&ann_b, &ann_c, &params, &own_mobile, &mut NoRecord);
        assert_eq!(markers.separation(15.0), Some(Conflict::DifferentPersons));
    }

    /// What marks a number as a household's: two of its holders that are clearly two
    /// persons (given names and birth dates both differ, or their markers do), not one
    /// person's records with one value replaced or mistyped.
    #[test]
    fn clearly_two_persons_needs_both_marks_or_different_markers() {
        let ann = person("Ann", "1932-09-07", "");
        assert!(!clearly_two_persons(&ann, &ann));
        assert!(!clearly_two_persons(
            &ann,
            &person("Beth", "1932-09-07", "")
        ));
        assert!(!clearly_two_persons(&ann, &person("Ann", "1967-02-11", "")));
        assert!(!clearly_two_persons(
            &ann,
            &person("Anne", "1967-02-11", "")
        ));
        assert!(clearly_two_persons(&ann, &person("Beth", "1967-02-11", "")));
        assert!(clearly_two_persons(&person("Beth", "1967-02-11", ""), &ann));
        // A missing birth date or given name tells nothing.
        assert!(!clearly_two_persons(&ann, &person("Beth", "", "")));
        // Names swapped in one record are one person's.
        let swapped = Features {
            given: Some(NameFeatures::given("shepherd")),
            family: Some(NameFeatures::family("ann")),
            ..person("", "1967-02-11", "")
        };
        assert!(!clearly_two_persons(&ann, &swapped));
        let generation = |generation| Features {
            generation: Some(generation),
            ..ann.clone()
        };
        assert!(clearly_two_persons(
            &generation(crate::record::Generation::Junior),
            &generation(crate::record::Generation::Senior)
        ));
    }
}
