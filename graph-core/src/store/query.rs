//! What a search or a namespace listing asks for.

use super::{Filter, Namespace};

/// What [`Store::search`](super::Store::search) returns among the items under a prefix.
///
/// Results are ordered by `updated_at`, newest first, then by namespace and key, so the
/// order is the same on every backend and stable across pages. The filter applies first,
/// then `offset` skips matches and `limit` caps how many come back.
///
/// ```
/// use graph_core::store::{Filter, SearchQuery};
///
/// let query = SearchQuery::new().filter(Filter::new().eq("kind", "note")).limit(5).offset(5);
/// assert_eq!((query.limit, query.offset, query.refresh_ttl), (5, 5, true));
/// assert_eq!(SearchQuery::default().limit, 10);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[must_use]
#[non_exhaustive]
pub struct SearchQuery {
    /// Conditions on the items' values; empty by default.
    pub filter: Filter,
    /// At most this many items; 10 by default.
    pub limit: usize,
    /// Skip this many matching items first; 0 by default.
    pub offset: usize,
    /// Whether reading the items restarts their time to live (those stored with one); on by
    /// default.
    pub refresh_ttl: bool,
}

impl Default for SearchQuery {
    fn default() -> Self {
        Self { filter: Filter::new(), limit: 10, offset: 0, refresh_ttl: true }
    }
}

impl SearchQuery {
    /// The 10 newest items, refreshing their time to live.
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps only items whose value meets `filter`.
    pub fn filter(mut self, filter: Filter) -> Self {
        self.filter = filter;
        self
    }

    /// Returns at most `limit` items.
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// Skips the first `offset` matching items.
    pub fn offset(mut self, offset: usize) -> Self {
        self.offset = offset;
        self
    }

    /// Whether the items found restart their time to live.
    pub fn refresh_ttl(mut self, refresh: bool) -> Self {
        self.refresh_ttl = refresh;
        self
    }

    /// The page of `ordered` (items in result order) this query asks for.
    pub(crate) fn page<T, E>(
        &self,
        ordered: impl IntoIterator<Item = Result<T, E>>,
        value: fn(&T) -> &serde_json::Value,
    ) -> Result<Vec<T>, E> {
        let mut pager = Pager::new(self, value);
        for item in ordered {
            if pager.is_full() {
                break;
            }
            pager.offer(item?);
        }
        Ok(pager.finish())
    }
}

/// Builds a search's page from items offered in result order: filters, skips the offset,
/// stops at the limit.
pub(crate) struct Pager<'q, T> {
    query: &'q SearchQuery,
    value: fn(&T) -> &serde_json::Value,
    skipped: usize,
    page: Vec<T>,
}

impl<'q, T> Pager<'q, T> {
    /// An empty page of `query`, reading an item's value with `value`.
    pub(crate) fn new(query: &'q SearchQuery, value: fn(&T) -> &serde_json::Value) -> Self {
        Self { query, value, skipped: 0, page: Vec::new() }
    }

    /// Whether the page is complete: later items cannot be on it.
    pub(crate) fn is_full(&self) -> bool {
        self.page.len() >= self.query.limit
    }

    /// Takes the next item in result order, if it is on the page.
    pub(crate) fn offer(&mut self, item: T) {
        if self.is_full() || !self.query.filter.matches((self.value)(&item)) {
            return;
        }
        if self.skipped < self.query.offset {
            self.skipped += 1;
            return;
        }
        self.page.push(item);
    }

    /// The page.
    pub(crate) fn finish(self) -> Vec<T> {
        self.page
    }
}

/// Which namespaces [`Store::list_namespaces`](super::Store::list_namespaces) returns.
///
/// Only namespaces holding at least one live item exist. Those under `prefix` and ending
/// with `suffix` are cut to `max_depth` labels, de-duplicated and sorted (by dotted path,
/// see [`Namespace`]); then `offset` and `limit` pick a page.
///
/// ```
/// use graph_core::store::{ListNamespaces, Namespace};
///
/// let users = Namespace::new(["users"])?;
/// let query = ListNamespaces::new().prefix(users).max_depth(2).limit(50);
/// assert_eq!((query.max_depth, query.limit, query.offset), (Some(2), 50, 0));
///
/// let found = ["users.ada.notes", "users.ada.todo", "users.bob", "teams.x"]
///     .map(|path| path.parse::<Namespace>().unwrap());
/// assert_eq!(query.apply(found), ["users.ada".parse()?, "users.bob".parse()?]);
/// # Ok::<(), graph_core::store::StoreError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[must_use]
#[non_exhaustive]
pub struct ListNamespaces {
    /// Only namespaces starting with these labels; any by default.
    pub prefix: Option<Namespace>,
    /// Only namespaces ending with these labels; any by default.
    pub suffix: Option<Namespace>,
    /// Cut longer namespaces to this many labels, counted from the root (the prefix's
    /// included; 0 lists nothing); none by default.
    pub max_depth: Option<usize>,
    /// At most this many namespaces; 100 by default.
    pub limit: usize,
    /// Skip this many namespaces first; 0 by default.
    pub offset: usize,
}

impl Default for ListNamespaces {
    fn default() -> Self {
        Self { prefix: None, suffix: None, max_depth: None, limit: 100, offset: 0 }
    }
}

impl ListNamespaces {
    /// The first 100 namespaces.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only namespaces starting with `prefix`'s labels.
    pub fn prefix(mut self, prefix: Namespace) -> Self {
        self.prefix = Some(prefix);
        self
    }

    /// Only namespaces ending with `suffix`'s labels.
    pub fn suffix(mut self, suffix: Namespace) -> Self {
        self.suffix = Some(suffix);
        self
    }

    /// Cuts namespaces to their first `depth` labels, counted from the root.
    pub fn max_depth(mut self, depth: usize) -> Self {
        self.max_depth = Some(depth);
        self
    }

    /// Returns at most `limit` namespaces.
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// Skips the first `offset` namespaces.
    pub fn offset(mut self, offset: usize) -> Self {
        self.offset = offset;
        self
    }

    /// The answer to this query, given the namespaces of the live items in any order and
    /// with repeats. Backends that cannot select namespaces themselves call this.
    pub fn apply(&self, namespaces: impl IntoIterator<Item = Namespace>) -> Vec<Namespace> {
        let mut kept: Vec<Namespace> = namespaces
            .into_iter()
            .filter(|ns| self.prefix.as_ref().is_none_or(|prefix| ns.starts_with(prefix)))
            .filter(|ns| self.suffix.as_ref().is_none_or(|suffix| ns.ends_with(suffix)))
            .filter_map(|ns| match self.max_depth {
                Some(depth) => ns.truncated(depth),
                None => Some(ns),
            })
            .collect();
        kept.sort_unstable();
        kept.dedup();
        kept.into_iter().skip(self.offset).take(self.limit).collect()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    fn ns(path: &str) -> Namespace {
        path.parse().unwrap()
    }

    #[test]
    fn pages_filter_before_skipping() {
        let values: Vec<Result<Value, ()>> = (0..10).map(|n| Ok(json!({ "n": n }))).collect();
        let query = SearchQuery::new().filter(Filter::new().gte("n", 4)).offset(2).limit(3);
        assert_eq!(
            query.page(values.clone(), |v| v).unwrap(),
            [json!({ "n": 6 }), json!({ "n": 7 }), json!({ "n": 8 })]
        );
        assert_eq!(SearchQuery::new().limit(0).page(values, |v| v).unwrap(), Vec::<Value>::new());
    }

    #[test]
    fn listing_cuts_dedups_sorts_and_pages() {
        let all = ["a.b.c", "a.b.d", "a.x", "b.c", "a-b.c"].map(ns);
        assert_eq!(
            ListNamespaces::new().apply(all.clone()),
            ["a-b.c", "a.b.c", "a.b.d", "a.x", "b.c"].map(ns),
            "dotted paths order byte by byte, and `-` sorts before `.`"
        );
        assert_eq!(
            ListNamespaces::new().max_depth(1).apply(all.clone()),
            ["a", "a-b", "b"].map(ns)
        );
        assert_eq!(
            ListNamespaces::new().suffix(ns("c")).apply(all.clone()),
            ["a-b.c", "a.b.c", "b.c"].map(ns)
        );
        assert_eq!(
            ListNamespaces::new()
                .prefix(ns("a"))
                .max_depth(2)
                .offset(1)
                .limit(1)
                .apply(all.clone()),
            [ns("a.x")]
        );
        assert!(ListNamespaces::new().max_depth(0).apply(all).is_empty());
    }
}
