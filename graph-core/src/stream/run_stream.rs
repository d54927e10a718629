//! The `futures::Stream` returned by `CompiledGraph::stream`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use tokio::sync::mpsc;

use super::StreamEvent;
use crate::error::GraphError;
use crate::graph::RunOutcome;
use crate::state::State;

type RunFuture<S> = Pin<Box<dyn Future<Output = Result<RunOutcome<S>, GraphError>> + Send>>;

/// The events of one run, ending with [`StreamEvent::Done`], [`StreamEvent::Paused`] or the
/// run's error.
///
/// The run makes progress while the stream is polled (its spawned tasks run on their own);
/// events wait in a bounded buffer, so a slow consumer slows the run instead of growing
/// memory. Dropping the stream cancels the run and every task of it.
#[must_use = "a stream does nothing unless polled"]
pub struct RunStream<S: State> {
    run: Option<RunFuture<S>>,
    events: mpsc::Receiver<StreamEvent<S>>,
    outcome: Option<Result<RunOutcome<S>, GraphError>>,
}

impl<S: State> RunStream<S> {
    pub(crate) fn new(run: RunFuture<S>, events: mpsc::Receiver<StreamEvent<S>>) -> Self {
        Self { run: Some(run), events, outcome: None }
    }
}

// Nothing in the stream is pinned in place: the run future is boxed.
impl<S: State> Unpin for RunStream<S> {}

impl<S: State> Stream for RunStream<S> {
    type Item = Result<StreamEvent<S>, GraphError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Poll::Ready(Some(event)) = this.events.poll_recv(cx) {
                return Poll::Ready(Some(Ok(event)));
            }
            let Some(run) = &mut this.run else { break };
            match run.as_mut().poll(cx) {
                Poll::Ready(outcome) => {
                    this.run = None;
                    this.outcome = Some(outcome);
                }
                Poll::Pending => return Poll::Pending,
            }
        }
        // The run is over. Drain what it buffered without waiting for senders that a
        // node may have kept alive (a detached task holding its context).
        if let Ok(event) = this.events.try_recv() {
            return Poll::Ready(Some(Ok(event)));
        }
        Poll::Ready(this.outcome.take().map(|outcome| {
            outcome.map(|outcome| match outcome {
                RunOutcome::Finished(state) => StreamEvent::Done { state },
                RunOutcome::Paused { state, interrupts } => {
                    StreamEvent::Paused { state, interrupts }
                }
            })
        }))
    }
}

impl<S: State> std::fmt::Debug for RunStream<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunStream").field("running", &self.run.is_some()).finish_non_exhaustive()
    }
}
