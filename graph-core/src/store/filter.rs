//! Filters: conditions on the fields of an item's value.

use std::cmp::Ordering;

use serde_json::{Number, Value};

use super::{FilterFault, StoreError};

/// Conditions an item's value must all meet to be found by a search.
///
/// A condition names a field of the value, a top-level key (`"kind"`) or a dotted path into
/// nested objects (`"author.name"`), and compares it with an operand:
///
/// - `eq` and `ne`: equal or not. Numbers compare by value (`1` equals `1.0`), arrays and
///   objects element by element.
/// - `gt`, `gte`, `lt`, `lte`: numbers compare numerically, strings lexically (byte by
///   byte); other values never match.
///
/// A condition matches only a field that exists and holds the operand's type: a missing
/// field or a type mismatch never matches, not even `ne` (`{"n": "1"}` is neither equal nor
/// unequal to `1`).
///
/// ```
/// use graph_core::store::Filter;
/// use serde_json::json;
///
/// let typed = Filter::new().eq("kind", "note").gte("score", 3).lt("score", 10);
/// let parsed = Filter::from_json(&json!({ "kind": "note", "score": { "$gte": 3, "$lt": 10 } }))?;
/// assert_eq!(typed, parsed);
///
/// assert!(typed.matches(&json!({ "kind": "note", "score": 3.0 })));
/// assert!(!typed.matches(&json!({ "kind": "note", "score": "5" })));
/// assert!(Filter::new().eq("author.name", "Ada").matches(&json!({ "author": { "name": "Ada" } })));
/// # Ok::<(), graph_core::store::StoreError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
#[must_use]
pub struct Filter {
    conditions: Vec<Condition>,
}

#[derive(Debug, Clone, PartialEq)]
struct Condition {
    field: String,
    op: Op,
    operand: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Gt,
    Gte,
    Lt,
    Lte,
}

impl Op {
    const ALL: [Op; 6] = [Op::Eq, Op::Ne, Op::Gt, Op::Gte, Op::Lt, Op::Lte];

    fn name(self) -> &'static str {
        match self {
            Op::Eq => "$eq",
            Op::Ne => "$ne",
            Op::Gt => "$gt",
            Op::Gte => "$gte",
            Op::Lt => "$lt",
            Op::Lte => "$lte",
        }
    }

    fn holds(self, found: &Value, operand: &Value) -> bool {
        match self {
            Op::Eq => same_type(found, operand) && equal(found, operand),
            Op::Ne => same_type(found, operand) && !equal(found, operand),
            Op::Gt => order(found, operand) == Some(Ordering::Greater),
            Op::Gte => order(found, operand).is_some_and(Ordering::is_ge),
            Op::Lt => order(found, operand) == Some(Ordering::Less),
            Op::Lte => order(found, operand).is_some_and(Ordering::is_le),
        }
    }
}

impl Filter {
    /// No conditions: every item matches.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads a filter written as JSON, the way LangGraph's stores take it: an object whose
    /// keys are fields and whose values are either a value the field must equal, or an
    /// object of operators (`{"$gte": 3, "$lt": 10}`).
    ///
    /// Fails with [`StoreError::InvalidFilter`] for a filter that is not an object, an
    /// unknown operator (`$foo`), or an object mixing operators with plain keys.
    ///
    /// ```
    /// use graph_core::store::{Filter, FilterFault, StoreError};
    /// use serde_json::json;
    ///
    /// let err = Filter::from_json(&json!({ "score": { "$foo": 1 } })).unwrap_err();
    /// assert!(matches!(
    ///     err,
    ///     StoreError::InvalidFilter { field: Some(f), reason: FilterFault::UnknownOperator { operator } }
    ///         if f == "score" && operator == "$foo"
    /// ));
    /// ```
    pub fn from_json(filter: &Value) -> Result<Self, StoreError> {
        let Value::Object(fields) = filter else {
            return Err(StoreError::InvalidFilter {
                field: None,
                reason: FilterFault::NotAnObject,
            });
        };
        let mut parsed = Self::new();
        for (field, condition) in fields {
            let invalid = |reason| StoreError::InvalidFilter { field: Some(field.clone()), reason };
            let operators = match condition {
                Value::Object(map) if map.keys().any(|key| key.starts_with('$')) => map,
                literal => {
                    parsed = parsed.with(field, Op::Eq, literal.clone());
                    continue;
                }
            };
            if operators.keys().any(|key| !key.starts_with('$')) {
                return Err(invalid(FilterFault::MixedOperators));
            }
            for (name, operand) in operators {
                let Some(op) = Op::ALL.into_iter().find(|op| op.name() == name) else {
                    return Err(invalid(FilterFault::UnknownOperator { operator: name.clone() }));
                };
                parsed = parsed.with(field, op, operand.clone());
            }
        }
        Ok(parsed)
    }

    /// The field must equal `value`.
    pub fn eq(self, field: impl Into<String>, value: impl Into<Value>) -> Self {
        self.with(field, Op::Eq, value.into())
    }

    /// The field must hold `value`'s type and differ from it.
    pub fn ne(self, field: impl Into<String>, value: impl Into<Value>) -> Self {
        self.with(field, Op::Ne, value.into())
    }

    /// The field must be greater than `value` (both numbers, or both strings).
    pub fn gt(self, field: impl Into<String>, value: impl Into<Value>) -> Self {
        self.with(field, Op::Gt, value.into())
    }

    /// The field must be greater than or equal to `value` (both numbers, or both strings).
    pub fn gte(self, field: impl Into<String>, value: impl Into<Value>) -> Self {
        self.with(field, Op::Gte, value.into())
    }

    /// The field must be less than `value` (both numbers, or both strings).
    pub fn lt(self, field: impl Into<String>, value: impl Into<Value>) -> Self {
        self.with(field, Op::Lt, value.into())
    }

    /// The field must be less than or equal to `value` (both numbers, or both strings).
    pub fn lte(self, field: impl Into<String>, value: impl Into<Value>) -> Self {
        self.with(field, Op::Lte, value.into())
    }

    /// Whether it has no conditions.
    pub fn is_empty(&self) -> bool {
        self.conditions.is_empty()
    }

    /// Whether `value` meets every condition. Backends that cannot evaluate a filter
    /// themselves call this on each candidate.
    pub fn matches(&self, value: &Value) -> bool {
        self.conditions.iter().all(|Condition { field, op, operand }| {
            lookup(value, field).is_some_and(|found| op.holds(found, operand))
        })
    }

    fn with(mut self, field: impl Into<String>, op: Op, operand: Value) -> Self {
        self.conditions.push(Condition { field: field.into(), op, operand });
        self
    }
}

/// The value at a dotted path through nested objects.
fn lookup<'v>(value: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.').try_fold(value, |value, key| value.as_object()?.get(key))
}

fn same_type(a: &Value, b: &Value) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

/// Equality where numbers compare by value, recursively.
fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => compare_numbers(x, y) == Some(Ordering::Equal),
        (Value::Array(xs), Value::Array(ys)) => {
            xs.len() == ys.len() && xs.iter().zip(ys).all(|(x, y)| equal(x, y))
        }
        (Value::Object(xs), Value::Object(ys)) => {
            xs.len() == ys.len() && xs.iter().all(|(k, x)| ys.get(k).is_some_and(|y| equal(x, y)))
        }
        _ => a == b,
    }
}

/// The order of two numbers or two strings; `None` for anything else.
fn order(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => compare_numbers(x, y),
        (Value::String(x), Value::String(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        _ => None,
    }
}

/// Integers compare exactly; anything with a fraction compares as `f64`.
fn compare_numbers(a: &Number, b: &Number) -> Option<Ordering> {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return Some(x.cmp(&y));
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return Some(x.cmp(&y));
    }
    a.as_f64()?.partial_cmp(&b.as_f64()?)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn operators_on_numbers_and_strings() {
        let value = json!({ "n": 5, "s": "m" });
        let check = |filter: Filter| filter.matches(&value);
        assert_eq!([0, 5, 9].map(|x| check(Filter::new().gt("n", x))), [true, false, false], "$gt");
        assert_eq!([0, 5, 9].map(|x| check(Filter::new().gte("n", x))), [true, true, false]);
        assert_eq!([0, 5, 9].map(|x| check(Filter::new().lt("n", x))), [false, false, true]);
        assert_eq!([0, 5, 9].map(|x| check(Filter::new().lte("n", x))), [false, true, true]);
        assert_eq!(["a", "m", "z"].map(|x| check(Filter::new().gt("s", x))), [true, false, false]);
        assert_eq!(["a", "m", "z"].map(|x| check(Filter::new().ne("s", x))), [true, false, true]);
        assert!(check(Filter::new().eq("n", 5.0)));
        assert!(check(Filter::new().lt("n", 5.5)));
    }

    #[test]
    fn mismatches_and_missing_fields_never_match() {
        let value = json!({ "n": "5", "flag": true, "none": null });
        for filter in [
            Filter::new().eq("n", 5),
            Filter::new().ne("n", 5),
            Filter::new().gt("n", 1),
            Filter::new().gt("flag", false),
            Filter::new().ne("missing", 1),
            Filter::new().eq("n.deeper", "5"),
            Filter::new().ne("none", 1),
        ] {
            assert!(!filter.matches(&value), "{filter:?}");
        }
        assert!(Filter::new().eq("none", Value::Null).matches(&value));
    }

    #[test]
    fn integers_compare_exactly() {
        let big = json!({ "n": u64::MAX });
        assert!(Filter::new().gt("n", u64::MAX - 1).matches(&big));
        assert!(Filter::new().gt("n", -1).matches(&big));
        assert!(Filter::new().lt("n", i64::MIN).matches(&json!({ "n": i64::MIN as f64 * 2.0 })));
    }

    #[test]
    fn nested_values_compare_by_value() {
        let value = json!({ "tags": [1, { "x": 2.0 }], "meta": { "a": { "b": [1] } } });
        assert!(Filter::new().eq("tags", json!([1.0, { "x": 2 }])).matches(&value));
        assert!(Filter::new().eq("meta.a", json!({ "b": [1] })).matches(&value));
        assert!(!Filter::new().eq("meta.a", json!({ "b": [1], "c": 1 })).matches(&value));
    }

    #[test]
    fn json_filters_read_literals_and_operators() {
        let parsed = Filter::from_json(&json!({
            "a": 1,
            "b": { "$ne": "x", "$gt": "a" },
            "c": { "plain": 1 },
            "d": { "$eq": { "$gt": 1 } },
        }))
        .unwrap();
        let expected = Filter::new()
            .eq("a", 1)
            .ne("b", "x")
            .gt("b", "a")
            .eq("c", json!({ "plain": 1 }))
            .eq("d", json!({ "$gt": 1 }));
        // Operators of one field come in the map's order, so compare as matches.
        let value = json!({ "a": 1, "b": "b", "c": { "plain": 1 }, "d": { "$gt": 1 } });
        assert!(parsed.matches(&value) && expected.matches(&value));
        assert_eq!(parsed.conditions.len(), 5);
    }

    #[test]
    fn json_filter_errors_name_the_field() {
        let fault = |filter: Value| match Filter::from_json(&filter) {
            Err(StoreError::InvalidFilter { field, reason }) => (field, reason),
            other => panic!("{other:?}"),
        };
        assert_eq!(fault(json!([1])), (None, FilterFault::NotAnObject));
        assert_eq!(
            fault(json!({ "n": { "$gte": 1, "$in": [1] } })),
            (Some("n".into()), FilterFault::UnknownOperator { operator: "$in".into() })
        );
        assert_eq!(
            fault(json!({ "n": { "$gte": 1, "x": 2 } })),
            (Some("n".into()), FilterFault::MixedOperators)
        );
        let err = Filter::from_json(&json!({ "n": { "$foo": 1 } })).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid store filter on field \"n\": unknown operator `$foo`: use $eq, $ne, $gt, $gte, $lt or $lte"
        );
    }
}
