//! Folding of free text to comparable ASCII words, and cleaning of person-name parts
//! (titles such as "Dr" and suffixes such as "Jr" are not part of a name; a
//! generational suffix is kept apart as evidence).

use crate::record::Generation;

/// Folds text to lower-case ASCII words separated by single spaces: diacritics and
/// other scripts are transliterated (`Zoë` -> `zoe`, `Müller` -> `muller`, `ß` -> `ss`,
/// `Ø` -> `o`), apostrophes are removed (`O'Brien` -> `obrien`), and every other
/// punctuation mark, hyphen, symbol or space separates words.
pub fn fold_name(text: &str) -> String {
    let mut folded = String::with_capacity(text.len());
    fold_into(text, &mut folded, false);
    folded
}

/// Appends the folded form of `text` to `out` (which should be empty). With
/// `keep_hash`, `#` stays part of a word, so that an address's "#4" can still be read
/// as a unit number after folding.
pub(super) fn fold_into(text: &str, out: &mut String, keep_hash: bool) {
    let mut folder = Folder {
        out,
        keep_hash,
        pending_space: false,
    };
    for ch in text.chars() {
        if ch.is_ascii() {
            folder.push_ascii(ch as u8);
        } else if is_apostrophe(ch) || is_combining_mark(ch) {
            // An apostrophe joins its word (O’Brien); a combining mark belongs to the
            // letter before it (a decomposed "e" + diaeresis), which is already folded.
        } else if ch.is_alphanumeric() {
            match deunicode::deunicode_char(ch) {
                Some(ascii) => ascii.bytes().for_each(|byte| folder.push_ascii(byte)),
                None => folder.separate(),
            }
        } else {
            // Symbols and emoji are not parts of names or addresses: deunicode would spell
            // them out ("grinning"), which would only add noise.
            folder.separate();
        }
    }
}

struct Folder<'a> {
    out: &'a mut String,
    keep_hash: bool,
    pending_space: bool,
}

impl Folder<'_> {
    fn push_ascii(&mut self, byte: u8) {
        if self.keep_hash && byte == b'#' {
            // "#" starts a word of its own: "apt#4" reads as "apt #4".
            self.separate();
            self.push_word_byte(byte);
        } else if byte.is_ascii_alphanumeric() {
            self.push_word_byte(byte);
        } else if byte == b'\'' || byte == b'`' {
            // Apostrophes are dropped so that "O'Brien" and "OBrien" fold alike.
        } else {
            self.separate();
        }
    }

    fn push_word_byte(&mut self, byte: u8) {
        if self.pending_space && !self.out.is_empty() {
            self.out.push(' ');
        }
        self.pending_space = false;
        self.out.push(byte.to_ascii_lowercase() as char);
    }

    fn separate(&mut self) {
        self.pending_space = true;
    }
}

fn is_apostrophe(ch: char) -> bool {
    matches!(
        ch,
        '\u{2018}' | '\u{2019}' | '\u{201B}' | '\u{02BB}' | '\u{02BC}' | '\u{00B4}' | '\u{2032}'
    )
}

/// Combining diacritical marks, which appear when the source sent decomposed Unicode.
fn is_combining_mark(ch: char) -> bool {
    matches!(ch,
        '\u{0300}'..='\u{036F}'
        | '\u{1AB0}'..='\u{1AFF}'
        | '\u{1DC0}'..='\u{1DFF}'
        | '\u{20D0}'..='\u{20FF}'
        | '\u{FE20}'..='\u{FE2F}')
}

/// Folds one name part and removes leading titles and trailing generational or
/// academic suffixes; `None` when nothing remains (e.g. "???" or just "Dr").
pub(super) fn normalize_name_part(raw: &str) -> Option<String> {
    let folded = fold_name(raw);
    let kept = strip_titles_and_suffixes(&folded);
    if kept.is_empty() {
        None
    } else if kept.len() == folded.len() {
        Some(folded)
    } else {
        Some(kept.to_owned())
    }
}

/// The generational suffix among the words of `raw` (a suffix field) or, with
/// `trailing_only`, among the trailing suffix words of a name part.
pub(super) fn generation_in(raw: &str, trailing_only: bool) -> Option<Generation> {
    let folded = fold_name(raw);
    let mut words = folded.split(' ').rev();
    if trailing_only {
        words
            .take_while(|word| is_suffix(word))
            .find_map(generation_of)
    } else {
        words.find_map(generation_of)
    }
}

fn generation_of(word: &str) -> Option<Generation> {
    match word {
        "jr" | "jnr" | "junior" | "ii" => Some(Generation::Junior),
        "sr" | "snr" | "senior" => Some(Generation::Senior),
        "iii" => Some(Generation::Third),
        "iv" => Some(Generation::Fourth),
        _ => None,
    }
}

/// The part of a folded name between its leading titles and its trailing suffixes.
fn strip_titles_and_suffixes(folded: &str) -> &str {
    let mut rest = folded;
    while let Some((first, tail)) = rest.split_once(' ') {
        if !is_title(first) {
            break;
        }
        rest = tail;
    }
    if is_title(rest) {
        return "";
    }
    while let Some((head, last)) = rest.rsplit_once(' ') {
        if !is_suffix(last) {
            break;
        }
        rest = head;
    }
    if is_suffix(rest) { "" } else { rest }
}

fn is_title(word: &str) -> bool {
    matches!(
        word,
        "mr" | "mrs"
            | "ms"
            | "miss"
            | "mx"
            | "mister"
            | "dr"
            | "dra"
            | "doctor"
            | "prof"
            | "professor"
            | "sir"
            | "dame"
            | "lady"
            | "lord"
            | "rev"
            | "revd"
            | "reverend"
            | "hon"
            | "herr"
            | "frau"
            | "mme"
            | "mlle"
            | "madame"
            | "sra"
            | "srta"
    )
}

fn is_suffix(word: &str) -> bool {
    matches!(
        word,
        "jr" | "jnr"
            | "junior"
            | "sr"
            | "snr"
            | "senior"
            | "ii"
            | "iii"
            | "iv"
            | "phd"
            | "md"
            | "dds"
            | "esq"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fold_name_transliterates_to_lower_case_ascii() {
        assert_eq!(fold_name("Zoë"), "zoe");
        assert_eq!(fold_name("Müller"), "muller");
        assert_eq!(fold_name("Straße"), "strasse");
        assert_eq!(fold_name("Øster"), "oster");
        assert_eq!(fold_name("Łukasz Żółć"), "lukasz zolc");
        assert_eq!(fold_name("ÆSIR"), "aesir");
        assert_eq!(fold_name("José"), "jose");
    }

    #[test]
    fn fold_name_treats_decomposed_and_composed_input_alike() {
        assert_eq!(fold_name("Zoe\u{0308}"), "zoe");
        assert_eq!(fold_name("Jose\u{0301} Nun\u{0303}ez"), "jose nunez");
    }

    #[test]
    fn fold_name_removes_apostrophes() {
        assert_eq!(fold_name("O'Brien"), "obrien");
        assert_eq!(fold_name("O’Brien"), "obrien");
        assert_eq!(fold_name("D`Angelo"), "dangelo");
    }

    #[test]
    fn fold_name_turns_other_punctuation_into_single_spaces() {
        assert_eq!(fold_name("  Smith-Jones  "), "smith jones");
        assert_eq!(fold_name("Jean--Pierre,  Jr."), "jean pierre jr");
        assert_eq!(fold_name("A.B.\tC"), "a b c");
        assert_eq!(fold_name("Anne–Marie"), "anne marie");
    }

    #[test]
    fn fold_name_drops_symbols_and_keeps_digits() {
        assert_eq!(fold_name("???"), "");
        assert_eq!(fold_name("😀 Ann 😀"), "ann");
        assert_eq!(fold_name("Henry 8"), "henry 8");
        assert_eq!(fold_name(""), "");
    }

    #[test]
    fn fold_into_can_keep_hash_signs() {
        let mut out = String::new();
        fold_into("Flat #4b", &mut out, true);
        assert_eq!(out, "flat #4b");
        out.clear();
        fold_into("Apt#4", &mut out, true);
        assert_eq!(out, "apt #4");
        assert_eq!(fold_name("#4b"), "4b");
    }

    #[test]
    fn name_parts_lose_titles_and_suffixes() {
        assert_eq!(normalize_name_part("Dr. John").as_deref(), Some("john"));
        assert_eq!(
            normalize_name_part("Mr Dr John Paul").as_deref(),
            Some("john paul")
        );
        assert_eq!(normalize_name_part("Smith Jr.").as_deref(), Some("smith"));
        assert_eq!(
            normalize_name_part("Smith, PhD III").as_deref(),
            Some("smith")
        );
        assert_eq!(normalize_name_part("Müller").as_deref(), Some("muller"));
    }

    #[test]
    fn name_parts_that_fold_to_nothing_are_missing() {
        assert_eq!(normalize_name_part("???"), None);
        assert_eq!(normalize_name_part("  "), None);
        assert_eq!(normalize_name_part("Dr."), None);
        assert_eq!(normalize_name_part("Jr"), None);
    }

    #[test]
    fn titles_inside_a_name_are_kept() {
        assert_eq!(
            normalize_name_part("Mary Lady").as_deref(),
            Some("mary lady")
        );
        assert_eq!(
            normalize_name_part("Junior Smith").as_deref(),
            Some("junior smith")
        );
    }
}
