//! When a checkpoint stores the whole state instead of its step's writes: once loading it
//! would read more than about twice the state, the last full snapshot and the deltas since.
//! A thread whose writes add to its state (a growing list) then stores each change about
//! once and almost no snapshots; one whose writes replace parts of it snapshots once the
//! deltas outgrow the state. Either way storage grows with the state, and loading any
//! checkpoint reads at most about twice the state.

use std::io;

use serde::Serialize;

/// What loading the next checkpoint would read, in encoded bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Snapshots {
    /// The last full snapshot.
    base: u64,
    /// The deltas since.
    since: u64,
    /// The value of `since` at which to measure the state again. Measuring encodes the
    /// whole state, so it waits until the load could have reached twice the state last
    /// measured, and for at least an eighth of that state in deltas: amortised, about one
    /// byte of state (at most eight) is encoded per byte of delta.
    next: u64,
}

impl Snapshots {
    /// Right after a full snapshot of `size` encoded bytes.
    pub(crate) fn after_full(size: u64) -> Self {
        Self { base: size, since: 0, next: size }
    }

    /// Counts a delta of `size` encoded bytes.
    pub(crate) fn add(&mut self, size: u64) {
        self.since = self.since.saturating_add(size);
    }

    /// Whether the deltas have grown enough to measure the state again.
    pub(crate) fn due(&self) -> bool {
        self.since >= self.next
    }

    /// Weighs the load against the state, now `size` encoded bytes: `true` when the last
    /// snapshot and the deltas since outgrew twice the state, and the next checkpoint
    /// should be a full snapshot.
    pub(crate) fn outgrown(&mut self, size: u64) -> bool {
        let twice = size.saturating_mul(2);
        if self.base.saturating_add(self.since) > twice {
            return true;
        }
        self.next = (twice - self.base).max(self.since.saturating_add(size / 8));
        false
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
    fn a_snapshot_comes_once_the_load_outgrows_twice_the_state() {
        let mut snapshots = Snapshots::after_full(100);
        snapshots.add(60);
        assert!(!snapshots.due());
        snapshots.add(40);
        assert!(snapshots.due());
        // The state grew to 150: loading reads 200 bytes, not more than 300. The load can
        // reach twice the state once the deltas reach 200.
        assert!(!snapshots.outgrown(150));
        snapshots.add(99);
        assert!(!snapshots.due());
        snapshots.add(1);
        assert!(snapshots.due());
        // The state shrank to 100: loading would read 300 bytes.
        assert!(snapshots.outgrown(100));
    }

    #[test]
    fn the_state_is_measured_after_an_eighth_of_it_in_deltas_at_least() {
        let mut snapshots = Snapshots::after_full(100);
        snapshots.add(100);
        // Loading reads 200 of at most 210: it could reach twice the state after 10 more
        // bytes, but the state is measured again after an eighth of it, 13 bytes, so a
        // state growing as fast as the load is not encoded at every step.
        assert!(!snapshots.outgrown(105));
        snapshots.add(12);
        assert!(!snapshots.due());
        snapshots.add(1);
        assert!(snapshots.due());
    }
}
