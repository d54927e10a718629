//! When a checkpoint stores the whole state instead of its step's writes: once the deltas
//! stored since the last full snapshot outgrow the state. Snapshots then space out
//! geometrically as the state grows, so a thread stores each change about once plus a few
//! snapshots, and loading any checkpoint reads one snapshot and deltas about its size.

use std::io;

use serde::Serialize;

/// The deltas stored since the last full snapshot, measured in encoded bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Snapshots {
    /// Encoded bytes of the deltas since the last full snapshot.
    since: u64,
    /// The state's encoded size when last measured. Measuring costs encoding the whole
    /// state, so it waits until the deltas reach this size: amortised, about one byte of
    /// state is encoded per byte of delta.
    threshold: u64,
}

impl Snapshots {
    /// Right after a full snapshot of `size` encoded bytes.
    pub(crate) fn after_full(size: u64) -> Self {
        Self { since: 0, threshold: size }
    }

    /// Counts a delta of `size` encoded bytes.
    pub(crate) fn add(&mut self, size: u64) {
        self.since = self.since.saturating_add(size);
    }

    /// Whether the deltas have grown enough to measure the state again.
    pub(crate) fn due(&self) -> bool {
        self.since >= self.threshold
    }

    /// Weighs the deltas against the state, now `size` encoded bytes: `true` when they
    /// outgrew it and the next checkpoint should be a full snapshot.
    pub(crate) fn outgrown(&mut self, size: u64) -> bool {
        self.threshold = size;
        self.since > size
    }
}

/// The length of `value` encoded as JSON, counted without building the text.
pub(crate) fn encoded_len(value: &impl Serialize) -> u64 {
    struct Count(u64);
    impl io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0 += bytes.len() as u64;
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Only JSON values are measured, and they always encode; a failure would only make a
    // snapshot come sooner or later.
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_len_is_the_length_of_the_json_text() {
        let value = serde_json::json!({ "items": ["a", "é"], "n": 12 });
        assert_eq!(encoded_len(&value), serde_json::to_string(&value).unwrap().len() as u64);
    }

    #[test]
    fn the_state_is_measured_once_the_deltas_reach_its_last_size() {
        let mut snapshots = Snapshots::after_full(100);
        snapshots.add(60);
        assert!(!snapshots.due());
        snapshots.add(40);
        assert!(snapshots.due());
        // The state grew to 150: the deltas have not outgrown it; wait until they reach 150.
        assert!(!snapshots.outgrown(150));
        assert!(!snapshots.due());
        snapshots.add(50);
        assert!(snapshots.due());
        assert!(snapshots.outgrown(149));
    }
}
