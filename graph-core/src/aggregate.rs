//! Aggregation strategies for fan-in that the reducers do not cover: a majority vote with
//! its confidence, and the best result by score. (Concatenating in task order is
//! `#[reducer(append)]` plus `join`; merging maps is `#[reducer(merge)]`.)
//!
//! ```
//! use graph_core::aggregate::{best_by, majority};
//!
//! let vote = majority(["positive", "negative", "positive", "positive", "neutral"]).unwrap();
//! assert_eq!(vote.to_string(), "positive (confidence: 60%)");
//!
//! let drafts = [("short", 0.4), ("clear", 0.9), ("long", 0.7)];
//! assert_eq!(best_by(drafts, |d| d.1), Some(("clear", 0.9)));
//! ```

use std::fmt;

/// The outcome of a [`majority`] vote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vote<T> {
    /// The answer with the most votes.
    pub winner: T,
    /// Votes for the winner.
    pub votes: usize,
    /// Votes cast.
    pub total: usize,
}

impl<T> Vote<T> {
    /// The winner's share of the votes, from 0 to 1.
    pub fn confidence(&self) -> f64 {
        self.votes as f64 / self.total as f64
    }
}

impl<T: fmt::Display> fmt::Display for Vote<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (confidence: {:.0}%)", self.winner, self.confidence() * 100.0)
    }
}

/// The answer given most often; a tie goes to the answer seen first, so the result never
/// depends on timing. `None` when no vote was cast.
pub fn majority<T: PartialEq>(votes: impl IntoIterator<Item = T>) -> Option<Vote<T>> {
    let mut tally: Vec<(T, usize)> = Vec::new();
    let mut total = 0;
    for vote in votes {
        total += 1;
        match tally.iter_mut().find(|(answer, _)| *answer == vote) {
            Some((_, count)) => *count += 1,
            None => tally.push((vote, 1)),
        }
    }
    let best = tally.iter().map(|(_, count)| *count).max()?;
    let (winner, votes) = tally.into_iter().find(|(_, count)| *count == best)?;
    Some(Vote { winner, votes, total })
}

/// The item with the highest score; the first one wins a tie. `None` for no items.
pub fn best_by<T>(items: impl IntoIterator<Item = T>, score: impl Fn(&T) -> f64) -> Option<T> {
    let mut best: Option<(T, f64)> = None;
    for item in items {
        let s = score(&item);
        if best.as_ref().is_none_or(|(_, top)| s > *top) {
            best = Some((item, s));
        }
    }
    best.map(|(item, _)| item)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn majority_breaks_ties_by_first_seen() {
        let vote = majority(["b", "a", "a", "b"]).unwrap();
        assert_eq!(vote, Vote { winner: "b", votes: 2, total: 4 });
        assert_eq!(vote.to_string(), "b (confidence: 50%)");
        assert!(majority(Vec::<u8>::new()).is_none());
    }

    #[test]
    fn best_by_prefers_the_first_of_equals() {
        assert_eq!(best_by([("x", 1.0), ("y", 2.0), ("z", 2.0)], |p| p.1), Some(("y", 2.0)));
        assert_eq!(best_by(Vec::<f64>::new(), |x| *x), None);
    }
}
