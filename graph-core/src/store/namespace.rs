//! Namespaces: the folders items are stored in.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::StoreError;

/// A path of labels that items are stored under, such as `["users", "alice", "memories"]`.
///
/// A namespace has at least one label; a label is not empty and contains neither `.` nor the
/// NUL character. So the dotted path (`users.alice.memories`, what [`Display`](fmt::Display)
/// writes and [`FromStr`] reads) names exactly one namespace.
///
/// Namespaces order by their dotted paths, byte by byte, as every backend sorts them.
///
/// ```
/// use graph_core::store::{Namespace, NamespaceFault, StoreError};
///
/// let alice = Namespace::new(["users", "alice"])?;
/// assert_eq!(alice.to_string(), "users.alice");
/// assert_eq!(alice.child("memories")?.labels(), ["users", "alice", "memories"]);
/// assert_eq!("users.alice".parse::<Namespace>()?, alice);
///
/// let wrong = Namespace::new(["users", "a.b"]).unwrap_err();
/// assert!(matches!(wrong, StoreError::InvalidNamespace { reason: NamespaceFault::Dot { index: 1 }, .. }));
/// # Ok::<(), StoreError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub struct Namespace {
    labels: Vec<String>,
}

/// What makes a namespace invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NamespaceFault {
    /// It has no label.
    #[error("a namespace needs at least one label")]
    Empty,
    /// A label is the empty string.
    #[error("label {index} is empty")]
    EmptyLabel {
        /// The label's position, from 0.
        index: usize,
    },
    /// A label contains `.`, which separates labels in a dotted path.
    #[error("label {index} contains `.`, which separates labels")]
    Dot {
        /// The label's position, from 0.
        index: usize,
    },
    /// A label contains the NUL character, which databases refuse in text.
    #[error("label {index} contains the NUL character")]
    Nul {
        /// The label's position, from 0.
        index: usize,
    },
}

impl Namespace {
    /// A namespace of `labels`, or [`StoreError::InvalidNamespace`] naming what is wrong.
    pub fn new<I>(labels: I) -> Result<Self, StoreError>
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        let labels: Vec<String> = labels.into_iter().map(Into::into).collect();
        match fault(&labels) {
            None => Ok(Self { labels }),
            Some(reason) => Err(StoreError::InvalidNamespace { namespace: labels, reason }),
        }
    }

    /// This namespace with one more label at the end.
    pub fn child(&self, label: impl Into<String>) -> Result<Self, StoreError> {
        Self::new(self.labels.iter().cloned().chain([label.into()]))
    }

    /// The labels, outermost first.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// How many labels it has: at least 1.
    pub fn depth(&self) -> usize {
        self.labels.len()
    }

    /// Whether `prefix`'s labels begin this namespace's (a namespace starts with itself).
    /// Labels compare whole: `["a"]` does not start `["ab"]`.
    pub fn starts_with(&self, prefix: &Namespace) -> bool {
        self.labels.starts_with(&prefix.labels)
    }

    /// Whether `suffix`'s labels end this namespace's (a namespace ends with itself).
    pub fn ends_with(&self, suffix: &Namespace) -> bool {
        self.labels.ends_with(&suffix.labels)
    }

    /// Its first `depth` labels, or `None` when `depth` is 0.
    pub(crate) fn truncated(&self, depth: usize) -> Option<Self> {
        if depth == 0 {
            return None;
        }
        Some(Self { labels: self.labels.iter().take(depth).cloned().collect() })
    }

    /// The dotted path's bytes, without building it.
    fn path_bytes(&self) -> impl Iterator<Item = u8> + '_ {
        self.labels.iter().enumerate().flat_map(|(index, label)| {
            let dot = if index == 0 { None } else { Some(b'.') };
            dot.into_iter().chain(label.bytes())
        })
    }
}

fn fault(labels: &[String]) -> Option<NamespaceFault> {
    if labels.is_empty() {
        return Some(NamespaceFault::Empty);
    }
    labels.iter().enumerate().find_map(|(index, label)| {
        if label.is_empty() {
            Some(NamespaceFault::EmptyLabel { index })
        } else if label.contains('.') {
            Some(NamespaceFault::Dot { index })
        } else if label.contains('\0') {
            Some(NamespaceFault::Nul { index })
        } else {
            None
        }
    })
}

impl Ord for Namespace {
    fn cmp(&self, other: &Self) -> Ordering {
        self.path_bytes().cmp(other.path_bytes())
    }
}

impl PartialOrd for Namespace {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.labels.join("."))
    }
}

impl fmt::Debug for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Namespace").field(&self.labels).finish()
    }
}

/// Reads a dotted path such as `users.alice`.
impl FromStr for Namespace {
    type Err = StoreError;

    fn from_str(path: &str) -> Result<Self, StoreError> {
        Self::new(path.split('.'))
    }
}

impl TryFrom<Vec<String>> for Namespace {
    type Error = StoreError;

    fn try_from(labels: Vec<String>) -> Result<Self, StoreError> {
        Self::new(labels)
    }
}

impl From<Namespace> for Vec<String> {
    fn from(namespace: Namespace) -> Self {
        namespace.labels
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(path: &str) -> Namespace {
        path.parse().unwrap()
    }

    #[test]
    fn orders_by_dotted_path() {
        let mut all = vec![ns("a.b"), ns("a-b"), ns("a"), ns("a.b.c"), ns("ab")];
        all.sort();
        assert_eq!(all, [ns("a"), ns("a-b"), ns("a.b"), ns("a.b.c"), ns("ab")]);
    }

    #[test]
    fn faults_name_the_first_bad_label() {
        let fault = |labels: &[&str]| match Namespace::new(labels.iter().copied()) {
            Err(StoreError::InvalidNamespace { reason, .. }) => reason,
            other => panic!("{other:?}"),
        };
        assert_eq!(fault(&[]), NamespaceFault::Empty);
        assert_eq!(fault(&["a", ""]), NamespaceFault::EmptyLabel { index: 1 });
        assert_eq!(fault(&["a", "b", "c.d"]), NamespaceFault::Dot { index: 2 });
        assert_eq!(fault(&["a\0"]), NamespaceFault::Nul { index: 0 });
        assert!(matches!(
            "a..b".parse::<Namespace>(),
            Err(StoreError::InvalidNamespace {
                reason: NamespaceFault::EmptyLabel { index: 1 },
                ..
            })
        ));
    }

    #[test]
    fn serializes_as_labels_and_validates_on_the_way_back() {
        assert_eq!(serde_json::to_string(&ns("a.b")).unwrap(), r#"["a","b"]"#);
        assert_eq!(serde_json::from_str::<Namespace>(r#"["a","b"]"#).unwrap(), ns("a.b"));
        let err = serde_json::from_str::<Namespace>(r#"["a",""]"#).unwrap_err();
        assert_eq!(err.to_string(), r#"invalid store namespace ["a", ""]: label 1 is empty"#);
    }

    #[test]
    fn prefixes_compare_whole_labels() {
        assert!(ns("a.b").starts_with(&ns("a")));
        assert!(!ns("ab").starts_with(&ns("a")));
        assert!(ns("a.b").ends_with(&ns("b")));
        assert!(!ns("a.cb").ends_with(&ns("b")));
        assert_eq!(ns("a.b.c").truncated(2), Some(ns("a.b")));
        assert_eq!(ns("a").truncated(3), Some(ns("a")));
        assert_eq!(ns("a").truncated(0), None);
    }
}
