//! Small, independent ways a value is damaged or reformatted on its way into a
//! source system: typos, dropped diacritics, stray spaces, phone formats, date
//! slips. Each keeps the value well-formed (a date stays a real date, an e-mail
//! stays parseable), because the matcher rejects malformed values outright and the
//! point is to test matching, not parsing.

use rand::Rng;
use rand::seq::IndexedRandom;

use super::entity::{Date, Phone};

/// QWERTY neighbours of `a..=z`: most real typos hit an adjacent key.
const KEYBOARD_NEIGHBOURS: [&str; 26] = [
    "qwsz", "vghn", "xdfv", "serfcx", "wsdr", "drtgvc", "ftyhbv", "gyujnb", "ujko", "huikmn",
    "jiolm", "kop", "njk", "bhjm", "iklp", "ol", "wa", "edft", "awedxz", "rfgy", "yhji", "cfgb",
    "qase", "zsdc", "tghu", "asx",
];

/// One keyboard-style typo: insert, delete, substitute or transpose a letter.
/// Values with fewer than two letters are returned unchanged.
pub(crate) fn typo(rng: &mut impl Rng, text: &str) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    let letters: Vec<usize> = (0..chars.len())
        .filter(|&at| chars[at].is_alphabetic())
        .collect();
    if letters.len() < 2 {
        return text.to_owned();
    }
    let shouting = !chars.iter().any(|c| c.is_lowercase());
    let at = *letters.choose(rng).expect("at least two letters");
    match rng.random_range(0..4) {
        0 => {
            // A neighbouring key pressed too, or the key pressed twice.
            let extra = if rng.random_bool(0.5) {
                neighbour(rng, chars[at])
            } else {
                chars[at]
            };
            let extra = if shouting {
                extra.to_ascii_uppercase()
            } else {
                extra.to_ascii_lowercase()
            };
            chars.insert(at + 1, extra);
        }
        1 if letters.len() > 2 => {
            chars.remove(at);
        }
        3 if at + 1 < chars.len()
            && chars[at + 1].is_alphabetic()
            && chars[at] != chars[at + 1] =>
        {
            let (first, second) = (chars[at], chars[at + 1]);
            chars[at] = match_case(second, first);
            chars[at + 1] = match_case(first, second);
        }
        _ => {
            chars[at] = match_case(neighbour(rng, chars[at]), chars[at]);
        }
    }
    chars.into_iter().collect()
}

/// A lower-case key next to `letter` on a QWERTY keyboard.
fn neighbour(rng: &mut impl Rng, letter: char) -> char {
    let lower = letter.to_ascii_lowercase();
    if lower.is_ascii_lowercase() {
        let keys = KEYBOARD_NEIGHBOURS[(lower as u8 - b'a') as usize].as_bytes();
        char::from(*keys.choose(rng).expect("every key has neighbours"))
    } else {
        char::from(rng.random_range(b'a'..=b'z'))
    }
}

/// `letter` in the case of `model`.
fn match_case(letter: char, model: char) -> char {
    if model.is_uppercase() {
        letter.to_ascii_uppercase()
    } else {
        letter.to_ascii_lowercase()
    }
}

/// Plain-ASCII spelling of the letters with diacritics used in the name and place
/// lists, as systems that cannot store them write them.
const FOLDED: &[(char, &str)] = &[
    ('à', "a"),
    ('á', "a"),
    ('â', "a"),
    ('ã', "a"),
    ('ä', "a"),
    ('å', "a"),
    ('ą', "a"),
    ('ạ', "a"),
    ('ầ', "a"),
    ('ặ', "a"),
    ('æ', "ae"),
    ('ç', "c"),
    ('č', "c"),
    ('ć', "c"),
    ('đ', "d"),
    ('è', "e"),
    ('é', "e"),
    ('ê', "e"),
    ('ë', "e"),
    ('ę', "e"),
    ('ě', "e"),
    ('ễ', "e"),
    ('ì', "i"),
    ('í', "i"),
    ('î', "i"),
    ('ï', "i"),
    ('ł', "l"),
    ('ñ', "n"),
    ('ń', "n"),
    ('ò', "o"),
    ('ó', "o"),
    ('ô', "o"),
    ('õ', "o"),
    ('ö', "o"),
    ('ø', "o"),
    ('ơ', "o"),
    ('ồ', "o"),
    ('ỗ', "o"),
    ('œ', "oe"),
    ('ř', "r"),
    ('ś', "s"),
    ('š', "s"),
    ('ß', "ss"),
    ('ù', "u"),
    ('ú', "u"),
    ('û', "u"),
    ('ü', "u"),
    ('ũ', "u"),
    ('ư', "u"),
    ('ů', "u"),
    ('ý', "y"),
    ('ÿ', "y"),
    ('ź', "z"),
    ('ż', "z"),
    ('ž', "z"),
    ('Å', "A"),
    ('Ä', "A"),
    ('É', "E"),
    ('Č', "C"),
    ('Đ', "D"),
    ('Ö', "O"),
    ('Ø', "O"),
    ('Ü', "U"),
    ('Š', "S"),
    ('Ž', "Z"),
];

/// `text` with the diacritics in [`FOLDED`] removed; other characters unchanged.
pub(crate) fn fold_diacritics(text: &str) -> String {
    let mut folded = String::with_capacity(text.len());
    for c in text.chars() {
        match FOLDED.iter().find(|(accented, _)| *accented == c) {
            Some((_, plain)) => folded.push_str(plain),
            None => folded.push(c),
        }
    }
    folded
}

/// Lower-case ASCII letters of `text` only: the raw material of e-mail handles
/// and domains ("O'Brien-Núñez" -> "obriennunez").
pub(crate) fn ascii_letters(text: &str) -> String {
    fold_diacritics(text)
        .chars()
        .filter(char::is_ascii_alphabetic)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// A doubled inner space, or a leading or trailing one.
pub(crate) fn extra_space(rng: &mut impl Rng, text: &str) -> String {
    if text.contains(' ') && rng.random_bool(0.5) {
        return text.replacen(' ', "  ", 1);
    }
    if rng.random_bool(0.5) {
        format!(" {text}")
    } else {
        format!("{text} ")
    }
}

/// A typo in an e-mail local part that keeps the address valid (letters only are
/// touched, and a result with a leading, trailing or doubled dot is discarded).
pub(crate) fn email_local_typo(rng: &mut impl Rng, local: &str) -> String {
    let damaged = typo(rng, local);
    if is_plain_local_part(&damaged) {
        damaged
    } else {
        local.to_owned()
    }
}

/// Dot-atom local part made of letters, digits, `.`, `_`, `-` and `+`.
pub(crate) fn is_plain_local_part(local: &str) -> bool {
    !local.is_empty()
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-+".contains(&b))
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
}

/// `phone` in one of the ways US sources write numbers; libphonenumber parses all
/// of them with the US as default region.
pub(crate) fn format_phone(rng: &mut impl Rng, phone: Phone) -> String {
    let (area, exchange, line) = (phone.area(), phone.exchange(), phone.line());
    match rng.random_range(0..100) {
        0..30 => format!("({area}) {exchange}-{line:04}"),
        30..48 => format!("{area}-{exchange}-{line:04}"),
        48..58 => format!("{area}.{exchange}.{line:04}"),
        58..72 => format!("+1 {area} {exchange} {line:04}"),
        72..86 => format!("{area}{exchange}{line:04}"),
        86..92 => format!("+1{area}{exchange}{line:04}"),
        92..96 => format!("1-{area}-{exchange}-{line:04}"),
        _ => format!("+1 ({area}) {exchange}-{line:04}"),
    }
}

/// `date` with one digit of `YYYYMMDD` changed, keeping it a real date in the
/// allowed range; unchanged when no attempt lands on one.
pub(crate) fn date_digit_typo(rng: &mut impl Rng, date: Date) -> Date {
    let digits = u32::from(date.year) * 10_000 + u32::from(date.month) * 100 + u32::from(date.day);
    for _ in 0..16 {
        let power = 10_u32.pow(rng.random_range(0..8));
        let old_digit = digits / power % 10;
        let new_digit = (old_digit + rng.random_range(1..10)) % 10;
        let changed = digits - old_digit * power + new_digit * power;
        let year = (changed / 10_000) as u16;
        let month = (changed / 100 % 100) as u8;
        let day = (changed % 100) as u8;
        if let Some(slipped) = Date::new(year, month, day) {
            return slipped;
        }
    }
    date
}
