//! How the backends store a checkpoint. The thread and the id are kept beside the body (the
//! row's columns, or `MemorySaver`'s keys); the body is terse JSON: one-letter keys,
//! defaults left out, the writers not repeated when the delta names them already, a UUID
//! parent in the few base-64 digits it does not share with the id. Bodies of earlier versions (long keys, the id and
//! perhaps the thread inside, or the parent spelled out) still decode.

mod parent;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    corrupt, decode, storage, Checkpoint, CheckpointError, CheckpointMetadata, CheckpointSource,
    PendingRecord, SendRecord, StateRecord,
};

/// How every terse body starts: with the checksum of its id, which sets it apart from the
/// earlier bodies.
const TERSE: &[u8] = b"{\"k\":";

/// A checkpoint's body, as written.
#[derive(Serialize)]
struct TerseOut<'a> {
    /// The id's checksum: catches a body stored under another checkpoint's row.
    k: u32,
    /// The parent, unless it is a UUID in its usual spelling.
    #[serde(skip_serializing_if = "Option::is_none")]
    p: Option<&'a str>,
    /// The parent, a UUID in its usual spelling, as the base-64 digits it does not share
    /// with the id's.
    #[serde(skip_serializing_if = "Option::is_none")]
    q: Option<String>,
    /// The whole state.
    #[serde(skip_serializing_if = "Option::is_none")]
    f: Option<&'a Value>,
    /// The step's writes.
    #[serde(skip_serializing_if = "Option::is_none")]
    d: Option<&'a [(String, Value)]>,
    /// Triggered nodes, Sends, joins and parent destinations of the pending work.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    t: &'a [String],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    x: &'a [SendRecord],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    j: &'a [Vec<bool>],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    u: &'a [String],
    /// The source, unless it is the run loop.
    #[serde(skip_serializing_if = "is_loop")]
    o: CheckpointSource,
    /// The step.
    s: i64,
    /// The writers, unless they are the delta's writers in order.
    #[serde(skip_serializing_if = "Option::is_none")]
    w: Option<&'a [String]>,
    /// The subgraph call.
    #[serde(skip_serializing_if = "Option::is_none")]
    i: Option<&'a str>,
}

/// A terse body, as read.
#[derive(Deserialize)]
struct TerseIn {
    k: u32,
    p: Option<String>,
    q: Option<String>,
    f: Option<Value>,
    d: Option<Vec<(String, Value)>>,
    #[serde(default)]
    t: Vec<String>,
    #[serde(default)]
    x: Vec<SendRecord>,
    #[serde(default)]
    j: Vec<Vec<bool>>,
    #[serde(default)]
    u: Vec<String>,
    #[serde(default = "run_loop")]
    o: CheckpointSource,
    s: i64,
    w: Option<Vec<String>>,
    i: Option<String>,
}

/// A body of the first format: long keys, the id inside, and in the earliest versions the
/// thread too.
#[derive(Deserialize)]
struct LongIn {
    id: String,
    thread_id: Option<String>,
    parent_id: Option<String>,
    state: StateRecord,
    pending: PendingRecord,
    metadata: CheckpointMetadata,
}

fn is_loop(source: &CheckpointSource) -> bool {
    *source == CheckpointSource::Loop
}

fn run_loop() -> CheckpointSource {
    CheckpointSource::Loop
}

/// The writers a delta names, in order: what a body leaves out when the metadata agrees.
fn delta_writers(state: &StateRecord) -> impl Iterator<Item = &str> {
    let writes = match state {
        StateRecord::Delta { writes } => writes.as_slice(),
        StateRecord::Full { .. } => &[],
    };
    writes.iter().map(|(writer, _)| writer.as_str())
}

/// FNV-1a: a stable 32-bit checksum, the same in every process and version.
fn checksum(id: &str) -> u32 {
    id.bytes().fold(0x811c_9dc5, |hash, byte| (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193))
}

/// The body a SQL backend stores for `checkpoint`, next to its thread and id columns.
pub(crate) fn encode_checkpoint(checkpoint: &Checkpoint) -> Result<String, CheckpointError> {
    let Checkpoint { id, parent_id, state, pending, metadata, .. } = checkpoint;
    let (f, d) = match state {
        StateRecord::Full { values } => (Some(values), None),
        StateRecord::Delta { writes } => (None, Some(writes.as_slice())),
    };
    let implied = delta_writers(state).eq(metadata.writers.iter().map(String::as_str));
    let parent = parent_id.as_deref();
    let q = parent.and_then(|parent| parent::encode(parent, id));
    let body = TerseOut {
        k: checksum(id),
        p: parent.filter(|_| q.is_none()),
        q,
        f,
        d,
        t: &pending.triggered,
        x: &pending.sends,
        j: &pending.joins,
        u: &pending.parent,
        o: metadata.source,
        s: metadata.step,
        w: (!implied).then_some(metadata.writers.as_slice()),
        i: metadata.invocation.as_deref(),
    };
    serde_json::to_string(&body).map_err(storage)
}

/// Reads a stored body back into checkpoint `id` of `thread_id`. The body must belong to
/// `id` (and name `thread_id` if it names a thread): otherwise it is stored in the wrong row.
pub(crate) fn decode_checkpoint(
    thread_id: &str,
    id: &str,
    body: &[u8],
) -> Result<Checkpoint, CheckpointError> {
    if body.starts_with(TERSE) {
        return decode_terse(thread_id, id, decode(thread_id, id, body)?);
    }
    let LongIn { id: named_id, thread_id: named_thread, parent_id, state, pending, metadata } =
        decode(thread_id, id, body)?;
    let named_thread = named_thread.as_deref().unwrap_or(thread_id);
    if named_id != id || named_thread != thread_id {
        let found =
            format!("the stored record names checkpoint `{named_id}` of thread `{named_thread}`");
        return Err(corrupt(thread_id, id, found));
    }
    Ok(Checkpoint::new(id, thread_id, parent_id, state, pending, metadata))
}

fn decode_terse(thread_id: &str, id: &str, body: TerseIn) -> Result<Checkpoint, CheckpointError> {
    let TerseIn { k, p, q, f, d, t, x, j, u, o, s, w, i } = body;
    if k != checksum(id) {
        return Err(corrupt(thread_id, id, "the stored record belongs to another checkpoint"));
    }
    let p = match (p, q) {
        (p, None) => p,
        (None, Some(q)) => Some(
            parent::decode(&q, id)
                .ok_or_else(|| corrupt(thread_id, id, "the stored parent is not a UUID"))?,
        ),
        (Some(_), Some(_)) => {
            return Err(corrupt(thread_id, id, "the stored record has two parents"))
        }
    };
    let state = match (f, d) {
        (Some(values), None) => StateRecord::Full { values },
        (None, Some(writes)) => StateRecord::Delta { writes },
        _ => return Err(corrupt(thread_id, id, "the stored record holds no state, or two")),
    };
    let writers = w.unwrap_or_else(|| delta_writers(&state).map(str::to_owned).collect());
    let pending = PendingRecord { triggered: t, sends: x, joins: j, parent: u };
    let metadata = CheckpointMetadata { source: o, step: s, writers, invocation: i };
    Ok(Checkpoint::new(id, thread_id, p, state, pending, metadata))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn checkpoint(state: StateRecord, writers: &[&str]) -> Checkpoint {
        let writers = writers.iter().map(|w| (*w).to_owned()).collect();
        Checkpoint::new(
            "0190a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a7b",
            "thread",
            Some("0190a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a7a".to_owned()),
            state,
            PendingRecord::new(vec!["next".into()], Vec::new(), Vec::new()),
            CheckpointMetadata::new(CheckpointSource::Loop, 7, writers),
        )
    }

    fn round_trip(checkpoint: &Checkpoint) -> String {
        let body = encode_checkpoint(checkpoint).unwrap();
        let decoded = decode_checkpoint("thread", &checkpoint.id, body.as_bytes()).unwrap();
        assert_eq!(&decoded, checkpoint);
        body
    }

    #[test]
    fn a_delta_body_leaves_out_what_it_implies() {
        let writes = vec![("a".to_owned(), json!({ "n": 1 })), ("b".to_owned(), json!(null))];
        let body = round_trip(&checkpoint(StateRecord::Delta { writes }, &["a", "b"]));
        assert_eq!(
            body,
            r#"{"k":4109547576,"q":"u","d":[["a",{"n":1}],["b",null]],"t":["next"],"s":7}"#
        );
    }

    #[test]
    fn a_terse_body_with_its_parent_spelled_out_still_decodes() {
        // As the versions before the short parent wrote it.
        let body = r#"{"k":4109547576,"p":"0190a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a7a","d":[["a",{"n":1}],["b",null]],"t":["next"],"s":7}"#;
        let writes = vec![("a".to_owned(), json!({ "n": 1 })), ("b".to_owned(), json!(null))];
        let expected = checkpoint(StateRecord::Delta { writes }, &["a", "b"]);
        let decoded = decode_checkpoint("thread", &expected.id, body.as_bytes()).unwrap();
        assert_eq!(decoded, expected);
        // A parent that is not a UUID in its usual spelling is kept as it is.
        for parent in ["0001", "0190A5B2-7C3D-7E4F-8A1B-2C3D4E5F6A7A"] {
            let mut other = expected.clone();
            other.parent_id = Some(parent.to_owned());
            assert!(round_trip(&other).contains(&format!(r#""p":"{parent}""#)));
        }
    }

    #[test]
    fn a_body_with_a_bad_parent_is_corrupt() {
        let id = "0190a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a7b";
        for (body, reason) in [
            (r#"{"k":4109547576,"q":"!","f":1,"s":0}"#, "the stored parent is not a UUID"),
            (
                r#"{"k":4109547576,"p":"a","q":"-0Z9LmU2pyIscQA2pDMqdu","f":1,"s":0}"#,
                "the stored record has two parents",
            ),
        ] {
            let error = decode_checkpoint("thread", id, body.as_bytes()).unwrap_err();
            let CheckpointError::Corrupt { reason: found, .. } = error else { panic!("{error:?}") };
            assert_eq!(found, reason);
        }
    }

    #[test]
    fn every_field_survives_a_round_trip() {
        let full = StateRecord::Full { values: json!({ "n": 1 }) };
        let mut whole = checkpoint(full, &["a"]);
        whole.parent_id = None;
        whole.pending.sends = vec![SendRecord::new("worker", json!(3))];
        whole.pending.joins = vec![vec![true, false]];
        whole.pending.parent = vec!["up".into()];
        whole.metadata.source = CheckpointSource::Fork;
        whole.metadata.invocation = Some("call/task".into());
        round_trip(&whole);
        // Writers that differ from the delta's are kept.
        let writes = vec![("a".to_owned(), json!(1))];
        round_trip(&checkpoint(StateRecord::Delta { writes }, &["b"]));
    }

    #[test]
    fn a_body_under_another_id_is_corrupt() {
        let moved = checkpoint(StateRecord::Full { values: json!(1) }, &[]);
        let body = encode_checkpoint(&moved).unwrap();
        let error = decode_checkpoint("thread", "another", body.as_bytes()).unwrap_err();
        let CheckpointError::Corrupt { checkpoint_id, reason, .. } = error else {
            panic!("{error:?}")
        };
        assert_eq!(checkpoint_id, "another");
        assert_eq!(reason, "the stored record belongs to another checkpoint");
    }

    #[test]
    fn a_body_of_the_first_format_still_decodes() {
        let body = json!({
            "id": "0001",
            "parent_id": "0000",
            "state": { "kind": "delta", "writes": [["a", 1]] },
            "pending": { "triggered": ["next"] },
            "metadata": { "source": "update", "step": 3, "writers": ["a"] },
        });
        let decoded = decode_checkpoint("t", "0001", body.to_string().as_bytes()).unwrap();
        let expected = Checkpoint::new(
            "0001",
            "t",
            Some("0000".into()),
            StateRecord::Delta { writes: vec![("a".into(), json!(1))] },
            PendingRecord::new(vec!["next".into()], Vec::new(), Vec::new()),
            CheckpointMetadata::new(CheckpointSource::Update, 3, vec!["a".into()]),
        );
        assert_eq!(decoded, expected);
    }
}
