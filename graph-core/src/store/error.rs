//! What can go wrong with a store operation.

use crate::error::BoxError;

use super::NamespaceFault;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A namespace breaks the rules of [`Namespace`](super::Namespace).
    #[error("invalid store namespace {namespace:?}: {reason}")]
    InvalidNamespace {
        /// The labels given.
        namespace: Vec<String>,
        /// What is wrong with them.
        reason: NamespaceFault,
    },
    /// A key breaks the rules of [`check_key`](super::check_key).
    #[error("invalid store key {key:?}: {reason}")]
    InvalidKey {
        /// The key given.
        key: String,
        /// What is wrong with it.
        reason: KeyFault,
    },
    /// A filter cannot be read (see [`Filter::from_json`](super::Filter::from_json)).
    #[error("invalid store filter{}: {reason}", field_name(.field))]
    InvalidFilter {
        /// The field whose condition is wrong, or `None` when the whole filter is.
        field: Option<String>,
        /// What is wrong.
        reason: FilterFault,
    },
    /// A stored item cannot be read back.
    #[error("stored item {key:?} in namespace `{namespace}` is corrupt: {reason}")]
    Corrupt {
        /// The item's namespace, as its dotted path.
        namespace: String,
        /// The item's key.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The backend could not be reached or refused the operation.
    #[error("store backend failed: {0}")]
    Backend(#[source] BoxError),
}

impl StoreError {
    /// Wraps a backend's own error.
    pub fn backend(error: impl Into<BoxError>) -> Self {
        Self::Backend(error.into())
    }

    /// A stored item of `namespace` (a dotted path) and `key` cannot be read back.
    pub fn corrupt(namespace: &str, key: &str, reason: impl ToString) -> Self {
        Self::Corrupt { namespace: namespace.into(), key: key.into(), reason: reason.to_string() }
    }
}

fn field_name(field: &Option<String>) -> String {
    field.as_ref().map(|field| format!(" on field {field:?}")).unwrap_or_default()
}

/// What makes a key invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFault {
    /// The key is the empty string.
    #[error("a key must not be empty")]
    Empty,
    /// The key contains the NUL character, which databases refuse in text.
    #[error("a key must not contain the NUL character")]
    Nul,
}

/// What makes a filter unreadable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FilterFault {
    /// The filter is not a JSON object of field conditions.
    #[error("a filter must be a JSON object of field conditions")]
    NotAnObject,
    /// A condition names an operator that does not exist.
    #[error("unknown operator `{operator}`: use $eq, $ne, $gt, $gte, $lt or $lte")]
    UnknownOperator {
        /// The operator as written.
        operator: String,
    },
    /// A condition object mixes operators (`$gt`) with plain keys, so it is neither a set
    /// of operators nor a value to compare with.
    #[error("a condition mixes operators with plain keys; wrap a literal object in $eq")]
    MixedOperators,
}
