//! Phonetic codes of names (Double Metaphone), so that spellings that sound alike
//! ("Catherine", "Kathryn") can be recognised.

use rphonetic::{DoubleMetaphone, Encoder};

/// The primary Double Metaphone code (at most 4 characters) of the first word of a
/// folded name; empty when the name is empty. "catherine" and "kathryn" -> "K0RN".
pub fn phonetic_code(folded_name: &str) -> String {
    let first_word = folded_name.split_whitespace().next().unwrap_or("");
    if first_word.is_empty() {
        return String::new();
    }
    DoubleMetaphone::default().encode(first_word)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similar_sounding_names_share_a_code() {
        assert_eq!(phonetic_code("catherine"), phonetic_code("kathryn"));
        assert_eq!(phonetic_code("muller"), phonetic_code("mueller"));
        assert_eq!(phonetic_code("jon"), phonetic_code("john"));
        assert_eq!(phonetic_code("catherine"), "K0RN");
    }

    #[test]
    fn uses_the_first_word_only() {
        assert_eq!(phonetic_code("jean pierre"), phonetic_code("jean"));
        assert_eq!(phonetic_code("  smith jones"), phonetic_code("smith"));
    }

    #[test]
    fn different_names_differ_and_empty_is_empty() {
        assert_ne!(phonetic_code("smith"), phonetic_code("jones"));
        assert_eq!(phonetic_code(""), "");
        assert_eq!(phonetic_code("   "), "");
    }
}
