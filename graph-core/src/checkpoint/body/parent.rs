//! A parent id that is a UUID in its usual spelling (36 characters, lowercase, hyphens) is
//! stored as its 128 bits in 22 base-64 digits, less the digits it shares with the
//! checkpoint's own id: ids are time-ordered, so a parent written a moment before its
//! child shares most of them, and a delta body is mostly its writes and its parent.

/// The digits, in ascending order so the digits sort as the UUIDs do.
const DIGITS: &[u8; 64] = b"-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz";

/// Each byte's value as a digit, or 64 for a byte that is none: reading a body's parent
/// looks each digit up here rather than searching [`DIGITS`].
const VALUES: [u8; 256] = {
    let mut values = [64; 256];
    let mut i = 0;
    while i < DIGITS.len() {
        values[DIGITS[i] as usize] = i as u8;
        i += 1;
    }
    values
};

/// 22 digits of 6 bits hold 132 bits: the first holds the top 2 bits of the 128.
const LEN: usize = 22;

/// `parent` as the digits it does not share with `id`'s (all 22 unless `id` is a UUID
/// too), if it is a UUID spelled as `Uuid::to_string` spells it, so [`decode`] gives back
/// exactly the same text; `None` for any other parent.
pub(super) fn encode(parent: &str, id: &str) -> Option<String> {
    let digits = to_digits(parent)?;
    let shared =
        to_digits(id).map_or(0, |own| own.iter().zip(&digits).take_while(|(a, b)| a == b).count());
    Some(digits[shared..].iter().map(|&d| char::from(d)).collect())
}

/// The parent that [`encode`] stored as `digits` for checkpoint `id`, spelled out; `None`
/// if they are not such digits.
pub(super) fn decode(digits: &str, id: &str) -> Option<String> {
    let shared = LEN.checked_sub(digits.len())?;
    let own = if shared == 0 { [0; LEN] } else { to_digits(id)? };
    let mut bits: u128 = 0;
    for (i, digit) in own[..shared].iter().chain(digits.as_bytes()).enumerate() {
        let value = VALUES[usize::from(*digit)];
        // The first digit holds only the top 2 bits.
        if value == 64 || (i == 0 && value > 3) {
            return None;
        }
        bits = bits << 6 | u128::from(value);
    }
    Some(uuid::Uuid::from_u128(bits).hyphenated().to_string())
}

/// The 22 digits of `id`, if it is a UUID in its usual spelling.
fn to_digits(id: &str) -> Option<[u8; LEN]> {
    let uuid = uuid::Uuid::try_parse(id).ok()?;
    let mut spelled = [0; uuid::fmt::Hyphenated::LENGTH];
    if uuid.hyphenated().encode_lower(&mut spelled) != id {
        return None;
    }
    let bits = uuid.as_u128();
    let mut digits = [0; LEN];
    for (i, digit) in digits.iter_mut().enumerate() {
        *digit = DIGITS[((bits >> (6 * (LEN - 1 - i))) & 63) as usize];
    }
    Some(digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uuid_comes_back_exactly_and_other_ids_are_left_alone() {
        let mut parent = uuid::Uuid::now_v7().to_string();
        for _ in 0..1_000 {
            let id = uuid::Uuid::now_v7().to_string();
            let digits = encode(&parent, &id).unwrap();
            // Ids a moment apart share most of their digits.
            assert!(digits.len() < LEN, "{parent} {id} {digits}");
            assert_eq!(decode(&digits, &id).as_deref(), Some(parent.as_str()));
            // Under an id that is no UUID, all 22 are kept.
            let alone = encode(&parent, "0001").unwrap();
            assert_eq!(alone.len(), LEN);
            assert_eq!(decode(&alone, "0001").as_deref(), Some(parent.as_str()));
            parent = id;
        }
        for id in ["ffffffff-ffff-ffff-ffff-ffffffffffff", "00000000-0000-0000-0000-000000000000"] {
            assert_eq!(decode(&encode(id, "x").unwrap(), "x").as_deref(), Some(id));
            assert_eq!(decode(&encode(id, id).unwrap(), id).as_deref(), Some(id));
        }
        // Spellings that would not come back as written stay as they are.
        let upper = "0190A5B2-7C3D-7E4F-8A1B-2C3D4E5F6A7B";
        let simple = "0190a5b27c3d7e4f8a1b2c3d4e5f6a7b";
        for id in ["0001", upper, simple, "{0190a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a7b}"] {
            assert_eq!(encode(id, id), None, "{id}");
        }
    }

    #[test]
    fn digits_sort_as_their_uuids_and_bad_digits_are_refused() {
        let a = "0190a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a7a";
        let b = "0190a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a7b";
        assert!(encode(a, "x").unwrap() < encode(b, "x").unwrap());
        let max = "ffffffff-ffff-ffff-ffff-ffffffffffff";
        assert_eq!(encode(max, "x").unwrap(), "2zzzzzzzzzzzzzzzzzzzzz");
        let bad =
            ["", "3zzzzzzzzzzzzzzzzzzzzz", "0zzzzzzzzzzzzzzzzzzzz!", "2zzzzzzzzzzzzzzzzzzzzzz"];
        for digits in bad {
            assert_eq!(decode(digits, "x"), None, "{digits}");
        }
        // Fewer digits take the rest from the id, which must be a UUID then.
        assert_eq!(decode("zz", "x"), None);
        assert_eq!(decode("", a).as_deref(), Some(a));
    }
}
