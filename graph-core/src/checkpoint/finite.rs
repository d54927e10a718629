//! Checkpoints are JSON, and JSON has no NaN or infinity: `serde_json` writes them as
//! `null`, so a resumed run would go on with another value, or fail to decode. Every value is
//! checked before it is saved, and the first non-finite float is named by its path.

use serde::ser::{self, Serialize};
use serde_json::Value;

use super::CheckpointError;

/// `value` as JSON, or [`CheckpointError::NonFiniteFloat`] naming where a NaN or an
/// infinity sits. Costs one extra walk over the value, which allocates only on failure.
pub(crate) fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<Value, CheckpointError> {
    match value.serialize(FiniteCheck::default()) {
        Err(Found::NonFinite { value, mut path }) => {
            path.reverse();
            return Err(CheckpointError::NonFiniteFloat { path: display(&path), value });
        }
        Err(Found::NullInSome { mut path }) => {
            path.reverse();
            return Err(CheckpointError::NullInSome { path: display(&path) });
        }
        _ => {}
    }
    // Any other failure of the value's own `Serialize` is reported by the encoding itself.
    serde_json::to_value(value).map_err(|error| CheckpointError::Storage(Box::new(error)))
}

/// One step of a path into a value.
#[derive(Debug)]
enum Segment {
    /// A struct field or an enum variant.
    Name(&'static str),
    /// A map key.
    Key(String),
    /// A position in a sequence or tuple.
    Index(usize),
}

/// `scores[2]`, `best.score`, or `.` for the value itself.
fn display(path: &[Segment]) -> String {
    if path.is_empty() {
        return ".".to_owned();
    }
    let mut out = String::new();
    for segment in path {
        match segment {
            Segment::Index(index) => out.push_str(&format!("[{index}]")),
            Segment::Name(name) => dotted(&mut out, name),
            Segment::Key(key) => dotted(&mut out, key),
        }
    }
    out
}

fn dotted(out: &mut String, name: &str) {
    if !out.is_empty() {
        out.push('.');
    }
    out.push_str(name);
}

/// What stopped the check.
#[derive(Debug)]
enum Found {
    /// A non-finite float, with its path built innermost first on the way out.
    NonFinite { value: f64, path: Vec<Segment> },
    /// A `Some` of something JSON writes as `null` (`Some(None)`, `Some(())`), which reads
    /// back as `None`.
    NullInSome { path: Vec<Segment> },
    /// The value's `Serialize` implementation failed.
    Other,
}

impl Found {
    fn within(self, segment: impl FnOnce() -> Segment) -> Self {
        match self {
            Found::NonFinite { value, mut path } => {
                path.push(segment());
                Found::NonFinite { value, path }
            }
            Found::NullInSome { mut path } => {
                path.push(segment());
                Found::NullInSome { path }
            }
            Found::Other => Found::Other,
        }
    }
}

impl std::fmt::Display for Found {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Found::NonFinite { value, .. } => write!(f, "non-finite float {value}"),
            Found::NullInSome { .. } => f.write_str("a Some of a null"),
            Found::Other => f.write_str("the value failed to serialize"),
        }
    }
}

impl std::error::Error for Found {}

impl ser::Error for Found {
    fn custom<M: std::fmt::Display>(_: M) -> Self {
        Found::Other
    }
}

/// A serializer that produces nothing and fails on the first non-finite float, or on the
/// first `Some` of a value JSON writes as `null`.
#[derive(Clone, Copy, Default)]
struct FiniteCheck {
    /// Directly inside a `Some` (newtype structs let it through), where a `null` is lossy.
    in_some: bool,
}

impl FiniteCheck {
    fn null(self) -> Result<(), Found> {
        if self.in_some {
            Err(Found::NullInSome { path: Vec::new() })
        } else {
            Ok(())
        }
    }
}

/// The state of a compound value being checked: the next position, and for enum variants
/// the variant's name.
struct Compound {
    next: usize,
    variant: Option<&'static str>,
}

impl Compound {
    fn new(variant: Option<&'static str>) -> Self {
        Self { next: 0, variant }
    }

    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Found> {
        let index = self.next;
        self.next += 1;
        value
            .serialize(FiniteCheck::default())
            .map_err(|found| self.within(found, Segment::Index(index)))
    }

    fn field<T: Serialize + ?Sized>(&mut self, name: &'static str, value: &T) -> Result<(), Found> {
        value
            .serialize(FiniteCheck::default())
            .map_err(|found| self.within(found, Segment::Name(name)))
    }

    fn within(&self, found: Found, segment: Segment) -> Found {
        let found = found.within(|| segment);
        match self.variant {
            Some(variant) => found.within(|| Segment::Name(variant)),
            None => found,
        }
    }
}

fn float(value: f64) -> Result<(), Found> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(Found::NonFinite { value, path: Vec::new() })
    }
}

/// A map key as a path segment: its JSON text without quotes.
fn key_name<T: Serialize + ?Sized>(key: &T) -> Segment {
    match serde_json::to_value(key) {
        Ok(Value::String(key)) => Segment::Key(key),
        Ok(other) => Segment::Key(other.to_string()),
        Err(_) => Segment::Key("?".to_owned()),
    }
}

macro_rules! accept {
    ($($method:ident($ty:ty)),* $(,)?) => {
        $(fn $method(self, _: $ty) -> Result<(), Found> { Ok(()) })*
    };
}

impl ser::Serializer for FiniteCheck {
    type Ok = ();
    type Error = Found;
    type SerializeSeq = Compound;
    type SerializeTuple = Compound;
    type SerializeTupleStruct = Compound;
    type SerializeTupleVariant = Compound;
    type SerializeMap = Compound;
    type SerializeStruct = Compound;
    type SerializeStructVariant = Compound;

    accept!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_i128(i128),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_u128(u128),
        serialize_char(char),
        serialize_str(&str),
        serialize_bytes(&[u8]),
    );

    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Found> {
        self.null()
    }

    fn serialize_f32(self, value: f32) -> Result<(), Found> {
        float(f64::from(value))
    }

    fn serialize_f64(self, value: f64) -> Result<(), Found> {
        float(value)
    }

    fn serialize_none(self) -> Result<(), Found> {
        self.null()
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Found> {
        value.serialize(FiniteCheck { in_some: true })
    }

    fn serialize_unit(self) -> Result<(), Found> {
        self.null()
    }

    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Result<(), Found> {
        Ok(())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), Found> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Found> {
        value
            .serialize(FiniteCheck::default())
            .map_err(|found| found.within(|| Segment::Name(variant)))
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Compound, Found> {
        Ok(Compound::new(None))
    }

    fn serialize_tuple(self, _: usize) -> Result<Compound, Found> {
        Ok(Compound::new(None))
    }

    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Compound, Found> {
        Ok(Compound::new(None))
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Compound, Found> {
        Ok(Compound::new(Some(variant)))
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Compound, Found> {
        Ok(Compound::new(None))
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Compound, Found> {
        Ok(Compound::new(None))
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Compound, Found> {
        Ok(Compound::new(Some(variant)))
    }
}

impl ser::SerializeSeq for Compound {
    type Ok = ();
    type Error = Found;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Found> {
        self.element(value)
    }

    fn end(self) -> Result<(), Found> {
        Ok(())
    }
}

impl ser::SerializeTuple for Compound {
    type Ok = ();
    type Error = Found;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Found> {
        self.element(value)
    }

    fn end(self) -> Result<(), Found> {
        Ok(())
    }
}

impl ser::SerializeTupleStruct for Compound {
    type Ok = ();
    type Error = Found;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Found> {
        self.element(value)
    }

    fn end(self) -> Result<(), Found> {
        Ok(())
    }
}

impl ser::SerializeTupleVariant for Compound {
    type Ok = ();
    type Error = Found;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Found> {
        self.element(value)
    }

    fn end(self) -> Result<(), Found> {
        Ok(())
    }
}

impl ser::SerializeMap for Compound {
    type Ok = ();
    type Error = Found;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Found> {
        key.serialize(FiniteCheck::default()).map_err(|found| found.within(|| key_name(key)))
    }

    /// Reached only through `serialize_key` then `serialize_value`, which serde's own maps
    /// do not use; the key is gone by then.
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Found> {
        value
            .serialize(FiniteCheck::default())
            .map_err(|found| found.within(|| Segment::Key("?".into())))
    }

    fn serialize_entry<K, V>(&mut self, key: &K, value: &V) -> Result<(), Found>
    where
        K: Serialize + ?Sized,
        V: Serialize + ?Sized,
    {
        self.serialize_key(key)?;
        value.serialize(FiniteCheck::default()).map_err(|found| found.within(|| key_name(key)))
    }

    fn end(self) -> Result<(), Found> {
        Ok(())
    }
}

impl ser::SerializeStruct for Compound {
    type Ok = ();
    type Error = Found;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        value: &T,
    ) -> Result<(), Found> {
        self.field(name, value)
    }

    fn end(self) -> Result<(), Found> {
        Ok(())
    }
}

impl ser::SerializeStructVariant for Compound {
    type Ok = ();
    type Error = Found;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        value: &T,
    ) -> Result<(), Found> {
        self.field(name, value)
    }

    fn end(self) -> Result<(), Found> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[derive(serde::Serialize)]
    struct Best {
        score: f64,
    }

    #[derive(serde::Serialize)]
    struct Run {
        scores: Vec<f32>,
        best: Option<Best>,
        by_name: BTreeMap<String, (u8, f64)>,
    }

    fn rejected<T: Serialize>(value: &T) -> (String, f64) {
        match to_json(value) {
            Err(CheckpointError::NonFiniteFloat { path, value }) => (path, value),
            other => panic!("expected a non-finite float error, got {other:?}"),
        }
    }

    #[test]
    fn a_some_of_a_null_is_named_by_path() {
        #[derive(serde::Serialize)]
        struct Unit;
        #[derive(serde::Serialize)]
        struct Wrapper(Option<u8>);
        #[derive(serde::Serialize)]
        struct Answer {
            verdicts: Vec<Option<Option<bool>>>,
        }
        let null_in_some = |value: &dyn erased::Value| match value.check() {
            Err(CheckpointError::NullInSome { path }) => path,
            other => panic!("expected a NullInSome error, got {other:?}"),
        };
        let answer = Answer { verdicts: vec![Some(Some(true)), None, Some(None)] };
        assert_eq!(null_in_some(&answer), "verdicts[2]");
        assert_eq!(null_in_some(&Some(Wrapper(None))), ".");
        assert_eq!(null_in_some(&Some(Unit)), ".");
        assert_eq!(null_in_some(&Some(())), ".");
        // A None inside a Some's own fields or items is not ambiguous.
        let fine = Some(vec![None::<u8>]);
        assert_eq!(to_json(&fine).unwrap(), serde_json::json!([null]));
        assert_eq!(to_json(&Some(Wrapper(Some(1)))).unwrap(), serde_json::json!(1));
    }

    /// Lets the test above list values of different types.
    mod erased {
        use super::super::to_json;
        use crate::checkpoint::CheckpointError;

        pub(super) trait Value {
            fn check(&self) -> Result<serde_json::Value, CheckpointError>;
        }

        impl<T: serde::Serialize> Value for T {
            fn check(&self) -> Result<serde_json::Value, CheckpointError> {
                to_json(self)
            }
        }
    }

    #[test]
    fn finite_values_encode_as_serde_json_does() {
        let run = Run {
            scores: vec![1.5, -0.0],
            best: Some(Best { score: f64::MAX }),
            by_name: BTreeMap::from([("ünï".into(), (1, f64::MIN_POSITIVE))]),
        };
        assert_eq!(to_json(&run).unwrap(), serde_json::to_value(&run).unwrap());
    }

    #[test]
    fn non_finite_floats_are_named_by_path() {
        let run = |scores: Vec<f32>, score: f64, pair: f64| Run {
            scores,
            best: Some(Best { score }),
            by_name: BTreeMap::from([("a".into(), (0, pair))]),
        };
        let (path, value) = rejected(&run(vec![0.0, 1.0, f32::NAN], 0.0, 0.0));
        assert_eq!(path, "scores[2]");
        assert!(value.is_nan());
        assert_eq!(
            rejected(&run(vec![], f64::INFINITY, 0.0)),
            ("best.score".into(), f64::INFINITY)
        );
        let minus = f64::NEG_INFINITY;
        assert_eq!(rejected(&run(vec![], 0.0, minus)), ("by_name.a[1]".into(), minus));
        assert_eq!(rejected(&f64::INFINITY), (".".into(), f64::INFINITY));
        assert_eq!(rejected(&Some(vec![Some(f32::NAN)])).0, "[0]");
        #[derive(serde::Serialize)]
        enum Shape {
            Circle { radius: f64 },
            Pair(f64, f64),
        }
        let circle = Shape::Circle { radius: f64::INFINITY };
        assert_eq!(rejected(&circle), ("Circle.radius".into(), f64::INFINITY));
        assert_eq!(rejected(&Shape::Pair(0.0, f64::INFINITY)), ("Pair[1]".into(), f64::INFINITY));
        let keyed = BTreeMap::from([(7_u32, f64::INFINITY)]);
        assert_eq!(rejected(&keyed), ("7".into(), f64::INFINITY));
    }
}
