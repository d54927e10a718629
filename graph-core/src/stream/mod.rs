//! Streaming: the events of a run as they happen, and pictures of a finished run.

mod emitter;
mod event;
mod run_stream;
mod timeline;

pub(crate) use emitter::{Emitter, TaskSink, TaskStream};
pub use event::{RunWarning, StreamEvent, StreamMode};
pub use run_stream::RunStream;
pub use timeline::{Timeline, TimelineEntry};
