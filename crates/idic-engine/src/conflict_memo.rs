//! What the clustering found about record pairs, kept across writes.
//!
//! Every write re-clusters its whole connected group, and the clustering asks for each
//! pair across two clusters whether the records are clearly different persons (a full
//! comparison). A group that holds several customers (a household, an organization's
//! contacts) is asked the same pairs again on each of its writes: in a profile of the
//! 1M import that check was about a quarter of the engine's time. The answer is a pure
//! function of the two records and the parameters, so it is remembered until one of
//! them changes (the engine clears the memo then; see its callers).

use idic_matching::score::Separation;
use rustc_hash::FxHashMap;

/// Pairs remembered at most: about 36 MiB of table. Past it the memo starts over,
/// which costs only comparisons.
const MAX_PAIRS: usize = 1_800_000;

/// Record pair (in the order asked) -> whether and why the two are apart.
#[derive(Debug, Default)]
pub(crate) struct ConflictMemo {
    known: FxHashMap<(u32, u32), Separation>,
}

impl ConflictMemo {
    pub(crate) fn get(&self, a: u32, b: u32) -> Option<Separation> {
        self.known.get(&(a, b)).copied()
    }

    pub(crate) fn remember(&mut self, a: u32, b: u32, separation: Separation) {
        if self.known.len() >= MAX_PAIRS {
            self.known.clear();
        }
        self.known.insert((a, b), separation);
    }

    /// Forgets one pair (asked either way): what the base says of a number the two
    /// share turned.
    pub(crate) fn forget(&mut self, a: u32, b: u32) {
        self.known.remove(&(a, b));
        self.known.remove(&(b, a));
    }

    /// Forgets everything: a record's fields, a record slot or the parameters changed.
    pub(crate) fn clear(&mut self) {
        // Keeps the table's memory only when it is small.
        if self.known.capacity() > 1024 {
            self.known = FxHashMap::default();
        } else {
            self.known.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use idic_matching::score::Difference;

    #[test]
    fn remembers_pairs_in_the_order_asked_and_forgets_on_clear() {
        let mut memo = ConflictMemo::default();
        assert_eq!(memo.get(1, 2), None);
        memo.remember(1, 2, Separation::Persons);
        assert_eq!(memo.get(1, 2), Some(Separation::Persons));
        assert_eq!(memo.get(2, 1), None);
        memo.remember(2, 1, Separation::None);
        assert_eq!(memo.get(2, 1), Some(Separation::None));
        memo.clear();
        assert_eq!(memo.get(1, 2), None);
    }

    #[test]
    fn starts_over_when_full() {
        let mut memo = ConflictMemo::default();
        for id in 0..MAX_PAIRS as u32 {
            memo.remember(id, id + 1, Separation::None);
        }
        assert_eq!(memo.known.len(), MAX_PAIRS);
        memo.remember(u32::MAX, 0, Separation::Only(Difference::GivenNames));
        assert_eq!(memo.known.len(), 1);
        assert_eq!(
            memo.get(u32::MAX, 0),
            Some(Separation::Only(Difference::GivenNames))
        );
    }
}
