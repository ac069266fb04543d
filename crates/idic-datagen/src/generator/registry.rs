//! Values already handed out, so that unrelated entities never share a phone
//! number, e-mail address or identifier by chance: the ground truth would then
//! claim two records differ when the data says they are the same.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

use rand::Rng;
use rand::seq::IndexedRandom;

use super::corrupt::ascii_letters;
use super::entity::Phone;
use super::sources::mix64;

/// A fixed-key hasher for the registry's sets, which hold up to a million entries
/// whose keys are not attacker-controlled: every word goes through the splitmix64
/// finalizer, so all input bits reach all output bits.
#[derive(Debug, Default, Clone, Copy)]
struct MixHasher(u64);

impl Hasher for MixHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0_u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, word: u64) {
        self.0 = mix64(self.0 ^ word);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type FastSet<T> = HashSet<T, BuildHasherDefault<MixHasher>>;

/// 64-bit fingerprint of a string. Sets of fingerprints stand in for sets of
/// strings: a false collision (odds about 1 in 10^7 per million values) would
/// only make a free value look taken, so uniqueness still holds.
fn fingerprint(text: &str) -> u64 {
    let mut hasher = MixHasher::default();
    hasher.write(text.as_bytes());
    hasher.write_u64(text.len() as u64);
    hasher.finish()
}

/// Values already given to some entity.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    phones: FastSet<Phone>,
    emails: FastSet<u64>,
    domains: FastSet<u64>,
    national_ids: FastSet<u32>,
    loyalty_ids: FastSet<u64>,
    account_codes: FastSet<u32>,
}

impl Registry {
    /// An unused, valid number in one of `area_codes`. Exchanges never start
    /// with 0 or 1 (NANP), and N11 service codes and the fictional 555 are avoided.
    pub(crate) fn new_phone(&mut self, rng: &mut impl Rng, area_codes: &[u16]) -> Phone {
        loop {
            let area = u64::from(*area_codes.choose(rng).expect("every city has an area code"));
            let exchange = rng.random_range(200..1000_u64);
            if exchange % 100 == 11 || exchange == 555 {
                continue;
            }
            let phone = Phone::new(area, exchange, rng.random_range(0..10_000));
            if self.phones.insert(phone) {
                return phone;
            }
        }
    }

    pub(crate) fn phone_in_use(&self, phone: Phone) -> bool {
        self.phones.contains(&phone)
    }

    /// `local@domain`, or with digits appended to `local` when that is taken, the
    /// way mail providers make people pick `john.smith71`.
    pub(crate) fn claim_email(&mut self, rng: &mut impl Rng, local: &str, domain: &str) -> String {
        let plain = format!("{local}@{domain}");
        if self.emails.insert(fingerprint(&mailbox(&plain))) {
            return plain;
        }
        let mut limit = 100;
        loop {
            let numbered = format!("{local}{}@{domain}", rng.random_range(1..limit));
            if self.emails.insert(fingerprint(&mailbox(&numbered))) {
                return numbered;
            }
            limit = (limit * 2).min(1_000_000);
        }
    }

    /// An unused domain for a business called `words`.
    pub(crate) fn claim_domain(&mut self, rng: &mut impl Rng, words: &str, city: &str) -> String {
        let stem = ascii_letters(words);
        let candidates = [
            format!("{stem}.com"),
            format!("{stem}{}.com", ascii_letters(city)),
            format!("{stem}.net"),
            format!("{stem}-{}.com", ascii_letters(city)),
        ];
        for candidate in candidates {
            if self.domains.insert(fingerprint(&candidate)) {
                return candidate;
            }
        }
        loop {
            let numbered = format!("{stem}{}.com", rng.random_range(1..100_000));
            if self.domains.insert(fingerprint(&numbered)) {
                return numbered;
            }
        }
    }

    /// SSN-like: area 001-899 except 666, group 01-99, serial 0001-9999.
    pub(crate) fn new_national_id(&mut self, rng: &mut impl Rng) -> u32 {
        loop {
            let area = rng.random_range(1..900_u32);
            if area == 666 {
                continue;
            }
            let id = area * 1_000_000
                + rng.random_range(1..100_u32) * 10_000
                + rng.random_range(1..10_000_u32);
            if self.national_ids.insert(id) {
                return id;
            }
        }
    }

    /// Ten digits starting with 7.
    pub(crate) fn new_loyalty_id(&mut self, rng: &mut impl Rng) -> u64 {
        loop {
            let id = 7_000_000_000 + rng.random_range(0..1_000_000_000_u64);
            if self.loyalty_ids.insert(id) {
                return id;
            }
        }
    }

    /// "AC-" and seven digits.
    pub(crate) fn new_account_code(&mut self, rng: &mut impl Rng) -> String {
        loop {
            let code = rng.random_range(1_000_000..10_000_000_u32);
            if self.account_codes.insert(code) {
                return format!("AC-{code}");
            }
        }
    }
}

/// The mailbox an address delivers to: providers ignore case, and Gmail ignores dots
/// in the local part, so "john.smith@gmail.com" and "johnsmith@gmail.com" are one
/// mailbox and cannot belong to two people.
fn mailbox(address: &str) -> String {
    let lower = address.to_lowercase();
    match lower.split_once('@') {
        Some((local, domain @ ("gmail.com" | "googlemail.com"))) => {
            format!("{}@{domain}", local.replace('.', ""))
        }
        _ => lower,
    }
}
