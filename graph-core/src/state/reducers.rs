//! The built-in reducers behind `#[reducer(...)]`, usable directly as plain functions.
//!
//! Each reducer merges one write into the current value. The traits name what a field type
//! must support, so a reducer on an unsuitable type is a compile error that says why. Besides
//! merging, each trait can undo a merge at a cost in proportion to the write: a router reads the
//! state with its own node's update applied in place, and the state then returns to exactly what
//! it was.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::hash::{BuildHasher, Hash};
use std::ops::AddAssign;

#[doc(hidden)]
pub use super::reduce::{Reduce, ReducerResult};

/// A sequence that `#[reducer(append)]` extends.
#[diagnostic::on_unimplemented(
    message = "`#[reducer(append)]` needs a sequence field such as `Vec<T>`, `VecDeque<T>` or `String`, not `{Self}`"
)]
pub trait Appendable {
    /// Appends `other` at the end of `self`.
    fn append_from(&mut self, other: Self);

    /// The current length, which [`truncate_to`](Self::truncate_to) returns to.
    fn mark(&self) -> usize;

    /// Drops everything appended since [`mark`](Self::mark) returned `mark`.
    fn truncate_to(&mut self, mark: usize);
}

impl<T> Appendable for Vec<T> {
    fn append_from(&mut self, mut other: Self) {
        self.append(&mut other);
    }

    fn mark(&self) -> usize {
        self.len()
    }

    fn truncate_to(&mut self, mark: usize) {
        self.truncate(mark);
    }
}

impl<T> Appendable for VecDeque<T> {
    fn append_from(&mut self, mut other: Self) {
        self.append(&mut other);
    }

    fn mark(&self) -> usize {
        self.len()
    }

    fn truncate_to(&mut self, mark: usize) {
        self.truncate(mark);
    }
}

impl Appendable for String {
    fn append_from(&mut self, other: Self) {
        self.push_str(&other);
    }

    // In bytes: a mark always falls on a character boundary, since it was the end.
    fn mark(&self) -> usize {
        self.len()
    }

    fn truncate_to(&mut self, mark: usize) {
        self.truncate(mark);
    }
}

/// A map that `#[reducer(merge)]` inserts into.
#[diagnostic::on_unimplemented(
    message = "`#[reducer(merge)]` needs a map field such as `HashMap<K, V>` or `BTreeMap<K, V>`, not `{Self}`"
)]
pub trait Mergeable {
    /// What undoing a merge needs: each key the merge wrote, with the value it replaced.
    type Replaced;

    /// Inserts every entry of `other`, replacing existing keys.
    fn merge_from(&mut self, other: Self);

    /// Like [`merge_from`](Self::merge_from), returning what [`unmerge`](Self::unmerge) needs.
    fn merge_recorded(&mut self, other: Self) -> Self::Replaced;

    /// Undoes a [`merge_recorded`](Self::merge_recorded): restores replaced values and removes
    /// keys that were absent.
    fn unmerge(&mut self, replaced: Self::Replaced);
}

impl<K: Eq + Hash + Clone, V, H: BuildHasher> Mergeable for HashMap<K, V, H> {
    type Replaced = Vec<(K, Option<V>)>;

    fn merge_from(&mut self, other: Self) {
        self.extend(other);
    }

    fn merge_recorded(&mut self, other: Self) -> Self::Replaced {
        other.into_iter().map(|(key, value)| (key.clone(), self.insert(key, value))).collect()
    }

    fn unmerge(&mut self, replaced: Self::Replaced) {
        for (key, old) in replaced {
            match old {
                Some(old) => self.insert(key, old),
                None => self.remove(&key),
            };
        }
    }
}

impl<K: Ord + Clone, V> Mergeable for BTreeMap<K, V> {
    type Replaced = Vec<(K, Option<V>)>;

    fn merge_from(&mut self, other: Self) {
        self.extend(other);
    }

    fn merge_recorded(&mut self, other: Self) -> Self::Replaced {
        other.into_iter().map(|(key, value)| (key.clone(), self.insert(key, value))).collect()
    }

    fn unmerge(&mut self, replaced: Self::Replaced) {
        for (key, old) in replaced {
            match old {
                Some(old) => self.insert(key, old),
                None => self.remove(&key),
            };
        }
    }
}

/// A set that `#[reducer(union)]` joins.
#[diagnostic::on_unimplemented(
    message = "`#[reducer(union)]` needs a set field such as `HashSet<T>` or `BTreeSet<T>`, not `{Self}`"
)]
pub trait Unionable {
    /// What undoing a union needs: the elements it inserted that were not there before.
    type Inserted;

    /// Adds every element of `other`.
    fn union_from(&mut self, other: Self);

    /// Like [`union_from`](Self::union_from), returning what [`ununion`](Self::ununion) needs.
    fn union_recorded(&mut self, other: Self) -> Self::Inserted;

    /// Undoes a [`union_recorded`](Self::union_recorded): removes the elements it inserted.
    fn ununion(&mut self, inserted: Self::Inserted);
}

impl<T: Eq + Hash + Clone, H: BuildHasher> Unionable for HashSet<T, H> {
    type Inserted = Vec<T>;

    fn union_from(&mut self, other: Self) {
        self.extend(other);
    }

    fn union_recorded(&mut self, other: Self) -> Self::Inserted {
        let mut inserted = Vec::new();
        for element in other {
            if !self.contains(&element) {
                self.insert(element.clone());
                inserted.push(element);
            }
        }
        inserted
    }

    fn ununion(&mut self, inserted: Self::Inserted) {
        for element in inserted {
            self.remove(&element);
        }
    }
}

impl<T: Ord + Clone> Unionable for BTreeSet<T> {
    type Inserted = Vec<T>;

    fn union_from(&mut self, other: Self) {
        self.extend(other);
    }

    fn union_recorded(&mut self, other: Self) -> Self::Inserted {
        let mut inserted = Vec::new();
        for element in other {
            if !self.contains(&element) {
                self.insert(element.clone());
                inserted.push(element);
            }
        }
        inserted
    }

    fn ununion(&mut self, inserted: Self::Inserted) {
        for element in inserted {
            self.remove(&element);
        }
    }
}

/// A number that `#[reducer(add)]` accumulates.
#[diagnostic::on_unimplemented(
    message = "`#[reducer(add)]` needs a field that supports `+=`, such as an integer or a float, not `{Self}`"
)]
pub trait Addable {
    /// Adds `other` to `self`.
    fn add_from(&mut self, other: Self);
}

impl<T: AddAssign> Addable for T {
    fn add_from(&mut self, other: Self) {
        *self += other;
    }
}

/// A value that `#[reducer(max)]` and `#[reducer(min)]` compare.
///
/// `Option<T>` compares `None` as the least value, so `max` suits it and `min` does not.
#[diagnostic::on_unimplemented(
    message = "`#[reducer(max)]` and `#[reducer(min)]` need a field that supports `<` (`PartialOrd`), not `{Self}`"
)]
pub trait Comparable {
    /// Whether `self` is greater than `other`.
    fn is_greater(&self, other: &Self) -> bool;
}

impl<T: PartialOrd> Comparable for T {
    fn is_greater(&self, other: &Self) -> bool {
        self > other
    }
}

/// `#[reducer(append)]`: extends `current` with `update`.
pub fn append<T: Appendable>(current: &mut T, update: T) {
    current.append_from(update);
}

/// `#[reducer(add)]`: `current += update`.
pub fn add<T: Addable>(current: &mut T, update: T) {
    current.add_from(update);
}

/// `#[reducer(merge)]`: inserts the entries of `update`; its keys win.
pub fn merge<T: Mergeable>(current: &mut T, update: T) {
    current.merge_from(update);
}

/// `#[reducer(union)]`: adds the elements of `update`.
pub fn union<T: Unionable>(current: &mut T, update: T) {
    current.union_from(update);
}

/// `#[reducer(max)]`: keeps `update` if it is greater.
pub fn max<T: Comparable>(current: &mut T, update: T) {
    if update.is_greater(current) {
        *current = update;
    }
}

/// `#[reducer(min)]`: keeps `update` if it is less.
pub fn min<T: Comparable>(current: &mut T, update: T) {
    if current.is_greater(&update) {
        *current = update;
    }
}

/// `#[reducer(overwrite)]`: `update` replaces `current`, whoever wrote before.
pub fn overwrite<T>(current: &mut T, update: T) {
    *current = update;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_extends_in_order() {
        let mut v = vec![1];
        append(&mut v, vec![2, 3]);
        assert_eq!(v, [1, 2, 3]);
        let mut s = String::from("ab");
        append(&mut s, "cd".into());
        assert_eq!(s, "abcd");
    }

    #[test]
    fn merge_lets_later_keys_win() {
        let mut m = BTreeMap::from([("a", 1), ("b", 2)]);
        merge(&mut m, BTreeMap::from([("b", 20), ("c", 30)]));
        assert_eq!(m, BTreeMap::from([("a", 1), ("b", 20), ("c", 30)]));
    }

    #[test]
    fn union_add_max_min_overwrite() {
        let mut s = BTreeSet::from([1, 2]);
        union(&mut s, BTreeSet::from([2, 3]));
        assert_eq!(s, BTreeSet::from([1, 2, 3]));

        let mut n = 1.5_f64;
        add(&mut n, 2.0);
        assert_eq!(n, 3.5);

        let mut hi = 3;
        max(&mut hi, 2);
        max(&mut hi, 7);
        assert_eq!(hi, 7);

        let mut lo = 3;
        min(&mut lo, 5);
        min(&mut lo, -1);
        assert_eq!(lo, -1);

        let mut best: Option<u8> = None;
        max(&mut best, Some(4));
        assert_eq!(best, Some(4));

        let mut w = "a";
        overwrite(&mut w, "b");
        assert_eq!(w, "b");
    }

    #[test]
    fn an_append_is_undone_by_truncating_to_the_mark() {
        let mut v = vec![1];
        let mark = v.mark();
        v.append_from(vec![2, 3]);
        v.truncate_to(mark);
        assert_eq!(v, [1]);
        let mut s = String::from("é");
        let mark = s.mark();
        s.append_from("ü!".into());
        s.truncate_to(mark);
        assert_eq!(s, "é");
        let mut q = VecDeque::from([1]);
        let mark = q.mark();
        q.append_from(VecDeque::from([2]));
        q.truncate_to(mark);
        assert_eq!(q, [1]);
    }

    #[test]
    fn a_merge_is_undone_by_restoring_replaced_values_and_removing_new_keys() {
        let original = BTreeMap::from([("a", 1), ("b", 2)]);
        let mut m = original.clone();
        let replaced = m.merge_recorded(BTreeMap::from([("b", 20), ("c", 30)]));
        assert_eq!(m, BTreeMap::from([("a", 1), ("b", 20), ("c", 30)]));
        assert_eq!(replaced, [("b", Some(2)), ("c", None)]);
        m.unmerge(replaced);
        assert_eq!(m, original);

        let original = HashMap::from([("a", 1)]);
        let mut m = original.clone();
        let replaced = m.merge_recorded(HashMap::from([("a", 10), ("z", 26)]));
        m.unmerge(replaced);
        assert_eq!(m, original);
    }

    #[test]
    fn a_union_is_undone_by_removing_only_what_it_inserted() {
        let original = BTreeSet::from([1, 2]);
        let mut s = original.clone();
        let inserted = s.union_recorded(BTreeSet::from([2, 3]));
        assert_eq!(inserted, [3]);
        s.ununion(inserted);
        assert_eq!(s, original);

        let original = HashSet::from([1]);
        let mut s = original.clone();
        let inserted = s.union_recorded(HashSet::from([1, 4]));
        assert_eq!(inserted, [4]);
        s.ununion(inserted);
        assert_eq!(s, original);
    }
}
