//! Threads: the checkpoints saved under one thread id, and everything that reads or writes
//! them.
//!
//! - `start`: where a run begins, from an input or from a thread's checkpoint (a resume);
//! - `session`: a run's checkpoints, written after every step;
//! - `chain`: the one walk that rebuilds a checkpoint's state from its chain of deltas;
//! - `codec`: runtime values as checkpoint records and back;
//! - `snapshots`: when a checkpoint stores the whole state instead of a delta;
//! - `writes`: what the tasks of a checkpoint's next step left behind;
//! - `inspect`: reading and editing a thread (`get_state`, its history, `update_state`);
//! - `call`: where a subgraph call stands in its thread, and the writes it made.

mod background;
mod call;
mod chain;
mod codec;
mod inspect;
mod session;
mod snapshots;
mod start;
mod writes;

pub(crate) use call::{call_snapshot, call_start, CallStart};
#[cfg(feature = "distributed")]
pub(crate) use chain::load;
pub(crate) use codec::{Codec, Persistence};
pub(crate) use inspect::{history, snapshot, subgraph_states, update};
pub(crate) use session::{loop_metadata, stop, Session};
pub(crate) use start::{check_thread_id, Start};
pub(crate) use writes::SavedOutput;
#[cfg(feature = "distributed")]
pub(crate) use writes::SavedWrites;
