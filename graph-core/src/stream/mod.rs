//! Streaming: the events of a run as they happen, and pictures of a finished run.

mod emitter;
mod event;
mod run_stream;
mod timeline;

pub(crate) use emitter::{Emitter, StreamLink, TaskSink, TaskStream};
pub use event::{RunWarning, StreamEvent, StreamMode, SubgraphEvent};
pub use run_stream::RunStream;
pub use timeline::{Timeline, TimelineEntry};
