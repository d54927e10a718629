//! Distributed supersteps: the tasks of a step run on worker processes, through a `pgmq`
//! queue in the checkpoints' PostgreSQL, and the result is exactly the single-process one.
//!
//! A run opts in with [`RunConfig::executor`](crate::RunConfig::executor) and
//! [`Executor::queue`](crate::Executor::queue); its graph does not change. Each step:
//!
//! 1. The coordinating run saves the step's checkpoint, then sends one message per task to
//!    the queue. The messages and a dispatch record for the checkpoint are written in one
//!    transaction, so a coordinator that takes the thread over sends nothing twice.
//! 2. A [`Worker`] (any process that registers the graph under the same name and version)
//!    reads a message with a lease, loads the checkpoint, plans the step as the coordinator
//!    did and runs the one task. It then commits the task's output together with the
//!    message's deletion: a worker that dies first leaves the message to reappear after its
//!    lease, and one that commits late finds the message gone and commits nothing. Each
//!    task's output is therefore stored exactly once.
//! 3. The coordinator waits for every task's output, applies them in task order (the same
//!    order as a local run), saves the next checkpoint and goes on.
//!
//! Side effects inside nodes are at least once, as everywhere a task can be retried.

mod message;
mod queue;
mod worker;

pub(crate) use message::{Limit, RemoteOutcome, RunSettings, TaskMessage, TaskReport};
pub use queue::TaskQueue;
pub(crate) use queue::{Progress, StepKey};
pub use worker::Worker;
