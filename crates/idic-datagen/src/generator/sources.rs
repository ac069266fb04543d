//! The source systems records come from: their channels, which fields each
//! collects and how carefully, and how each numbers its records.

use rand::Rng;

/// A system that sends records to the identity service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum System {
    Crm,
    Webshop,
    Callcenter,
    Loyalty,
    Pos,
    Newsletter,
    Partner,
}

/// What a system collects: probabilities that a field is filled in when the entity
/// has a value for it, plus formatting habits.
#[derive(Debug, Clone)]
pub(crate) struct Profile {
    /// Channels records arrive through, with relative weights.
    pub channels: &'static [(&'static str, u32)],
    pub given: f64,
    pub family: f64,
    pub middle: f64,
    pub dob: f64,
    pub email: f64,
    pub phone: f64,
    pub address: f64,
    /// Only the postcode of the address is collected (tills, sign-up forms).
    pub postcode_only: bool,
    pub loyalty: f64,
    pub national_id: f64,
    pub person_account: f64,
    pub organization_account: f64,
    /// On web and app records only.
    pub device: f64,
    /// Dates written `YYYYMMDD` instead of `YYYY-MM-DD`.
    pub compact_date: f64,
    pub zip_plus4: f64,
    /// State written out ("California") instead of the USPS code.
    pub state_name: f64,
    /// Multiplies the typo rate: agents typing what they hear make more.
    pub typo_factor: f64,
    /// Multiplies the upper-case rate: legacy systems store capitals.
    pub upper_case_factor: f64,
}

const CRM: Profile = Profile {
    channels: &[("call_center", 40), ("email", 30), ("mail", 30)],
    given: 1.0,
    family: 1.0,
    middle: 0.5,
    dob: 0.5,
    email: 0.85,
    phone: 0.85,
    address: 0.95,
    postcode_only: false,
    loyalty: 0.1,
    national_id: 0.3,
    person_account: 0.7,
    organization_account: 0.85,
    device: 0.0,
    compact_date: 0.1,
    zip_plus4: 0.3,
    state_name: 0.03,
    typo_factor: 1.0,
    upper_case_factor: 1.0,
};

const WEBSHOP: Profile = Profile {
    channels: &[("web", 70), ("mobile_app", 30)],
    given: 1.0,
    family: 1.0,
    middle: 0.1,
    dob: 0.15,
    email: 1.0,
    phone: 0.6,
    address: 0.9,
    postcode_only: false,
    loyalty: 0.0,
    national_id: 0.0,
    person_account: 0.1,
    organization_account: 0.4,
    device: 0.85,
    compact_date: 0.0,
    zip_plus4: 0.05,
    state_name: 0.02,
    typo_factor: 1.0,
    upper_case_factor: 0.5,
};

const CALLCENTER: Profile = Profile {
    channels: &[("call_center", 1)],
    given: 1.0,
    family: 1.0,
    middle: 0.2,
    dob: 0.4,
    email: 0.4,
    phone: 1.0,
    address: 0.6,
    postcode_only: false,
    loyalty: 0.1,
    national_id: 0.15,
    person_account: 0.4,
    organization_account: 0.8,
    device: 0.0,
    compact_date: 0.3,
    zip_plus4: 0.1,
    state_name: 0.05,
    typo_factor: 2.0,
    upper_case_factor: 1.0,
};

const LOYALTY: Profile = Profile {
    channels: &[("store", 60), ("mobile_app", 40)],
    given: 1.0,
    family: 1.0,
    middle: 0.1,
    dob: 0.8,
    email: 0.8,
    phone: 0.7,
    address: 0.6,
    postcode_only: false,
    loyalty: 1.0,
    national_id: 0.0,
    person_account: 0.0,
    organization_account: 0.0,
    device: 0.5,
    compact_date: 0.2,
    zip_plus4: 0.05,
    state_name: 0.02,
    typo_factor: 1.0,
    upper_case_factor: 1.0,
};

const POS: Profile = Profile {
    channels: &[("store", 1)],
    given: 0.7,
    family: 0.9,
    middle: 0.0,
    dob: 0.05,
    email: 0.3,
    phone: 0.5,
    address: 0.4,
    postcode_only: true,
    loyalty: 0.7,
    national_id: 0.0,
    person_account: 0.0,
    organization_account: 0.0,
    device: 0.0,
    compact_date: 0.8,
    zip_plus4: 0.0,
    state_name: 0.0,
    typo_factor: 1.5,
    upper_case_factor: 4.0,
};

const NEWSLETTER: Profile = Profile {
    channels: &[("email", 1)],
    given: 0.6,
    family: 0.4,
    middle: 0.0,
    dob: 0.05,
    email: 1.0,
    phone: 0.05,
    address: 0.2,
    postcode_only: true,
    loyalty: 0.0,
    national_id: 0.0,
    person_account: 0.0,
    organization_account: 0.0,
    device: 0.0,
    compact_date: 0.0,
    zip_plus4: 0.0,
    state_name: 0.0,
    typo_factor: 1.0,
    upper_case_factor: 0.5,
};

const PARTNER: Profile = Profile {
    channels: &[("partner", 1)],
    given: 1.0,
    family: 1.0,
    middle: 0.3,
    dob: 0.6,
    email: 0.5,
    phone: 0.7,
    address: 0.9,
    postcode_only: false,
    loyalty: 0.0,
    national_id: 0.3,
    person_account: 0.5,
    organization_account: 0.7,
    device: 0.0,
    compact_date: 0.6,
    zip_plus4: 0.4,
    state_name: 0.1,
    typo_factor: 1.2,
    upper_case_factor: 3.0,
};

/// Where persons' records come from, with relative weights.
const PERSON_SYSTEMS: &[(System, u32)] = &[
    (System::Crm, 15),
    (System::Webshop, 25),
    (System::Callcenter, 12),
    (System::Loyalty, 15),
    (System::Pos, 13),
    (System::Newsletter, 12),
    (System::Partner, 8),
];

/// Where organizations' records come from, with relative weights.
const ORGANIZATION_SYSTEMS: &[(System, u32)] = &[
    (System::Crm, 40),
    (System::Webshop, 20),
    (System::Callcenter, 20),
    (System::Partner, 15),
    (System::Newsletter, 5),
];

/// Partner companies whose prefixes make up partner record ids.
const PARTNER_CODES: [&str; 3] = ["ACME", "BLUEJAY", "NORTHWIND"];

impl System {
    pub(crate) const ALL: [System; 7] = [
        System::Crm,
        System::Webshop,
        System::Callcenter,
        System::Loyalty,
        System::Pos,
        System::Newsletter,
        System::Partner,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            System::Crm => "crm",
            System::Webshop => "webshop",
            System::Callcenter => "callcenter",
            System::Loyalty => "loyalty",
            System::Pos => "pos",
            System::Newsletter => "newsletter",
            System::Partner => "partner",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<System> {
        System::ALL.into_iter().find(|system| system.name() == name)
    }

    /// What the system collects when every source uses a full registration form (the
    /// classic linkage benchmarks' shape): the name, birth date and address always
    /// asked for, e-mail and phone mostly; formats and typing habits stay the system's.
    pub(crate) fn full_form_profile(self) -> Profile {
        let own = self.profile();
        Profile {
            given: 1.0,
            family: 1.0,
            dob: own.dob.max(0.9),
            email: own.email.max(0.8),
            phone: own.phone.max(0.8),
            address: own.address.max(0.95),
            postcode_only: false,
            ..own.clone()
        }
    }

    pub(crate) fn profile(self) -> &'static Profile {
        match self {
            System::Crm => &CRM,
            System::Webshop => &WEBSHOP,
            System::Callcenter => &CALLCENTER,
            System::Loyalty => &LOYALTY,
            System::Pos => &POS,
            System::Newsletter => &NEWSLETTER,
            System::Partner => &PARTNER,
        }
    }

    pub(crate) fn for_person(rng: &mut impl Rng) -> System {
        pick(rng, PERSON_SYSTEMS)
    }

    pub(crate) fn for_organization(rng: &mut impl Rng) -> System {
        pick(rng, ORGANIZATION_SYSTEMS)
    }

    pub(crate) fn channel(self, rng: &mut impl Rng) -> &'static str {
        pick(rng, self.profile().channels)
    }

    /// The id the system gives its `serial`-th record (from 1); each system has
    /// its own format, and ids are unique within a system.
    pub(crate) fn record_id(self, serial: u64) -> String {
        match self {
            System::Crm => format!("CRM-{serial:07}"),
            System::Webshop => format!("{:08x}", permute32(serial as u32)),
            System::Callcenter => format!("CC{}-{serial:06}", 2015 + serial % 10),
            System::Loyalty => format!("LM{:09}", 100_000_000 + serial),
            System::Pos => format!("{:03}-{serial:07}", 100 + permute32(serial as u32) % 400),
            System::Newsletter => format!("sub_{:016x}", mix64(serial)),
            System::Partner => format!("{}-{serial:07}", PARTNER_CODES[(serial % 3) as usize]),
        }
    }
}

fn pick<T: Copy>(rng: &mut impl Rng, weighted: &[(T, u32)]) -> T {
    let total: u32 = weighted.iter().map(|(_, weight)| weight).sum();
    let mut point = rng.random_range(0..total);
    for &(item, weight) in weighted {
        if point < weight {
            return item;
        }
        point -= weight;
    }
    unreachable!("the point is below the total weight")
}

/// A bijection on `u32` (so distinct serials give distinct ids) that scatters
/// consecutive serials, like the opaque ids web platforms hand out.
fn permute32(mut value: u32) -> u32 {
    value ^= value >> 16;
    value = value.wrapping_mul(0x7feb_352d);
    value ^= value >> 15;
    value = value.wrapping_mul(0x846c_a68b);
    value ^= value >> 16;
    value
}

/// The splitmix64 finalizer: a bijection on `u64` with full avalanche.
pub(crate) fn mix64(mut value: u64) -> u64 {
    value = (value ^ (value >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    value = (value ^ (value >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    value ^ (value >> 31)
}
