//! Cache keys: a node's version and input, canonically serialised and hashed.

use std::io::Write;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{CacheKey, CachePolicy};
use crate::state::State;
use crate::thread::Codec;

/// A node's cache policy, with the functions that turn its input and output into JSON.
pub(crate) struct NodeCacheSpec<S: State> {
    pub(crate) policy: CachePolicy,
    pub(crate) codec: Codec<S>,
}

/// The key of `node`'s result for `input` under `version`: the same input gives the same key
/// whatever the order of its maps' entries.
pub(crate) fn cache_key(node: &str, version: &str, input: &Value) -> CacheKey {
    let mut hasher = Sha256::new();
    // The version's length first, so no version and input pair can pass for another.
    hasher.update((version.len() as u64).to_le_bytes());
    hasher.update(version.as_bytes());
    write_canonical(&mut HashWriter(&mut hasher), input);
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = hasher.finalize();
    let mut hash = String::with_capacity(2 * digest.len());
    for byte in digest {
        hash.push(char::from(HEX[usize::from(byte >> 4)]));
        hash.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    CacheKey { node: node.to_owned(), hash }
}

struct HashWriter<'a>(&'a mut Sha256);

impl Write for HashWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Compact JSON with every object's keys sorted.
fn write_canonical(out: &mut HashWriter<'_>, value: &Value) {
    // Writing into a hasher cannot fail.
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            let _ = out.write_all(b"{");
            for (index, (key, value)) in entries.into_iter().enumerate() {
                if index > 0 {
                    let _ = out.write_all(b",");
                }
                let _ = serde_json::to_writer(&mut *out, key);
                let _ = out.write_all(b":");
                write_canonical(out, value);
            }
            let _ = out.write_all(b"}");
        }
        Value::Array(items) => {
            let _ = out.write_all(b"[");
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    let _ = out.write_all(b",");
                }
                write_canonical(out, item);
            }
            let _ = out.write_all(b"]");
        }
        scalar => {
            let _ = serde_json::to_writer(&mut *out, scalar);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::cache_key;

    #[test]
    fn keys_ignore_map_order_and_depend_on_version_and_input() {
        let a = cache_key("search", "v1", &json!({ "q": "rust", "n": { "x": 1, "y": [2, 3] } }));
        let b = cache_key("search", "v1", &json!({ "n": { "y": [2, 3], "x": 1 }, "q": "rust" }));
        assert_eq!(a, b);
        assert_eq!(a.node, "search");
        assert_eq!(a.hash.len(), 64);
        assert_ne!(
            a,
            cache_key("search", "v2", &json!({ "q": "rust", "n": { "x": 1, "y": [2, 3] } }))
        );
        assert_ne!(
            a,
            cache_key("search", "v1", &json!({ "q": "rust", "n": { "x": 1, "y": [3, 2] } }))
        );
        // The version and the input cannot trade characters.
        assert_ne!(cache_key("n", "ab", &json!("c")), cache_key("n", "a", &json!("bc")));
    }
}
