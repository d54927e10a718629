//! How an update's fields travel through serde: a present key always means "written".
//!
//! The update of a field `x: Option<T>` is `Option<Option<T>>`, and clearing the field writes
//! `Some(None)`. Serde's own `Option` encoding turns that into `null` and reads `null` back as
//! `None`, "not written", so a checkpoint would lose the clearing. Here the inner value is
//! written as is, and whatever is present is read back wrapped in `Some`; an absent key (the
//! container's `default`) is the only way to say "not written".

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Writes a written field's value as is. The derive skips unwritten fields, so `None` is only
/// reached when serializing by hand.
pub fn serialize<T: Serialize, S: Serializer>(
    value: &Option<T>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(value) => value.serialize(serializer),
        None => serializer.serialize_none(),
    }
}

/// Reads a present field as written, even when its value is `null`.
pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(deserializer).map(Some)
}
