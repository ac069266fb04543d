//! String similarity for the comparisons: Jaro-Winkler and "one slip apart". Both run
//! for most candidate pairs of an import, so on ASCII (folded names and streets are)
//! they work over bytes with their bookkeeping on the stack; other text goes to
//! `strsim`, and the results are the same bit for bit (tested below).

/// Jaro-Winkler similarity, as `strsim::jaro_winkler`. strsim's decodes every char
/// of the second string again for each char of the first (a seventh of the import's
/// CPU once) and allocates its match flags on every call.
pub(crate) fn jaro_winkler(a: &str, b: &str) -> f64 {
    if a.is_ascii() && b.is_ascii() && a.len() <= MAX_FLAGGED && b.len() <= MAX_FLAGGED {
        ascii_jaro_winkler(a.as_bytes(), b.as_bytes())
    } else {
        strsim::jaro_winkler(a, b)
    }
}

/// The longest string whose match flags fit in one word.
const MAX_FLAGGED: usize = 64;

/// strsim's Jaro-Winkler over bytes: the same matching window, greedy matching and
/// transposition count, the same arithmetic in the same order, so the same bits.
fn ascii_jaro_winkler(a: &[u8], b: &[u8]) -> f64 {
    let similarity = ascii_jaro(a, b);
    if similarity > 0.7 {
        let prefix = a.iter().take(4).zip(b).take_while(|(x, y)| x == y).count();
        similarity + 0.1 * prefix as f64 * (1.0 - similarity)
    } else {
        similarity
    }
}

/// The bytes of `text` whose bit is set in `flags`, in order.
fn matched(text: &[u8], flags: u64) -> impl Iterator<Item = u8> + '_ {
    text.iter()
        .enumerate()
        .filter(move |(index, _)| flags & (1 << index) != 0)
        .map(|(_, byte)| *byte)
}

fn ascii_jaro(a: &[u8], b: &[u8]) -> f64 {
    if a.is_empty() && b.is_empty() {
        return 1.0;
    } else if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let window = (a.len().max(b.len()) / 2).saturating_sub(1);
    let (mut a_flags, mut b_flags) = (0_u64, 0_u64);
    let mut matches = 0_usize;
    for (i, x) in a.iter().enumerate() {
        let low = i.saturating_sub(window);
        let high = b.len().min(i + window + 1);
        for (j, y) in b.iter().enumerate().take(high).skip(low) {
            if x == y && b_flags & (1 << j) == 0 {
                a_flags |= 1 << i;
                b_flags |= 1 << j;
                matches += 1;
                break;
            }
        }
    }
    if matches == 0 {
        return 0.0;
    }
    // The matched bytes of each string in order; a pair that differs is half a
    // transposition.
    let transpositions = matched(a, a_flags)
        .zip(matched(b, b_flags))
        .filter(|(x, y)| x != y)
        .count()
        / 2;
    ((matches as f64 / a.len() as f64)
        + (matches as f64 / b.len() as f64)
        + ((matches - transpositions) as f64 / matches as f64))
        / 3.0
}

/// Damerau-Levenshtein distance 1. At that distance it equals the optimal string
/// alignment distance, which needs no map of the alphabet (the general distance
/// showed at about 3% of the server's CPU in a profile of the 1M import).
pub(crate) fn one_slip(x: &str, y: &str) -> bool {
    x != y && at_most_one_slip(x, y)
}

/// Damerau-Levenshtein distance 0 or 1 (see [`one_slip`]): equal, or one byte
/// replaced, dropped or added, or two neighbours swapped, checked in one pass on
/// ASCII; other text by `strsim::osa_distance`.
pub(crate) fn at_most_one_slip(x: &str, y: &str) -> bool {
    if x.is_ascii() && y.is_ascii() {
        return ascii_at_most_one_slip(x.as_bytes(), y.as_bytes());
    }
    // A char is at most four bytes: one slip changes the length by at most four.
    x.len().abs_diff(y.len()) <= 4 && strsim::osa_distance(x, y) <= 1
}

fn ascii_at_most_one_slip(x: &[u8], y: &[u8]) -> bool {
    let (shorter, longer) = if x.len() <= y.len() { (x, y) } else { (y, x) };
    let Some(first) = shorter.iter().zip(longer).position(|(a, b)| a != b) else {
        // One is a prefix of the other: at most one byte added at the end.
        return longer.len() - shorter.len() <= 1;
    };
    match longer.len() - shorter.len() {
        // Replaced, or swapped with the next.
        0 => {
            shorter[first + 1..] == longer[first + 1..]
                || (first + 1 < shorter.len()
                    && shorter[first] == longer[first + 1]
                    && shorter[first + 1] == longer[first]
                    && shorter[first + 2..] == longer[first + 2..])
        }
        // Added in the longer one.
        1 => shorter[first..] == longer[first + 1..],
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Words and their variants with every kind of slip at every position,
    /// non-ASCII included.
    fn words_and_slips(seeds: &[&str]) -> Vec<String> {
        let mut words: Vec<String> = seeds.iter().map(|w| w.to_string()).collect();
        for word in words.clone() {
            let chars: Vec<char> = word.chars().collect();
            for i in 0..chars.len() {
                let mut dropped = chars.clone();
                dropped.remove(i);
                let mut replaced = chars.clone();
                replaced[i] = 'é';
                let mut replaced_ascii = chars.clone();
                replaced_ascii[i] = 'x';
                let mut doubled = chars.clone();
                doubled.insert(i, chars[i]);
                let mut swapped = chars.clone();
                swapped.swap(i, (i + 1) % chars.len());
                for variant in [dropped, replaced, replaced_ascii, doubled, swapped] {
                    words.push(variant.iter().collect());
                }
            }
        }
        words
    }

    #[test]
    fn slip_checks_equal_damerau_levenshtein() {
        let words = words_and_slips(&[
            "", "a", "ab", "ba", "abc", "ca", "martha", "jose", "josé", "aab", "abab",
        ]);
        for x in &words {
            for y in &words {
                let distance = strsim::damerau_levenshtein(x, y);
                assert_eq!(one_slip(x, y), distance == 1, "{x:?} {y:?}");
                assert_eq!(at_most_one_slip(x, y), distance <= 1, "{x:?} {y:?}");
            }
        }
    }

    #[test]
    fn jaro_winkler_equals_strsims_bit_for_bit() {
        let words = words_and_slips(&[
            "",
            "a",
            "martha",
            "marhta",
            "dixon",
            "dicksonx",
            "jellyfish",
            "smellyfish",
            "catherine",
            "kathryn",
            "o brien",
            "obrien",
            "zoe",
            "zoë",
            "mcdonald",
            "aaaaaaaa bbbb",
            "north high street",
            "a street name longer than sixty four bytes, which strsim computes itself",
        ]);
        for a in &words {
            for b in &words {
                assert_eq!(
                    jaro_winkler(a, b).to_bits(),
                    strsim::jaro_winkler(a, b).to_bits(),
                    "{a} / {b}"
                );
            }
        }
    }
}
