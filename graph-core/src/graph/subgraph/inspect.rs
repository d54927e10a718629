//! Reading the state of a subgraph call from its checkpoints, for `get_state_with_subgraphs`.

use std::sync::Arc;

use futures::future::BoxFuture;

use super::call::{call_thread, Child};
use super::Settings;
use crate::checkpoint::Checkpointer;
use crate::error::GraphError;
use crate::graph::history::SubgraphState;
use crate::pregel::{Namespace, TaskId};
use crate::state::State;
use crate::thread;

/// One subgraph call, as a parent's checkpoint names it.
pub(crate) struct Call<'a> {
    /// The parent's thread.
    pub(crate) thread_id: &'a str,
    /// The parent checkpoint the call's step started from.
    pub(crate) head: &'a str,
    pub(crate) node: &'a str,
    pub(crate) task_id: &'a TaskId,
    /// The parent's namespace.
    pub(crate) namespace: &'a Namespace,
}

/// Reads a subgraph call's state from its checkpoints, with the subgraph's types erased.
pub(crate) trait InspectCall: Send + Sync {
    fn state<'a>(
        &'a self,
        saver: &'a Arc<dyn Checkpointer>,
        call: Call<'a>,
    ) -> BoxFuture<'a, Result<Option<SubgraphState>, GraphError>>;
}

pub(super) struct Inspector<S: State, T: State, C> {
    pub(super) child: Arc<Child<S, T, C>>,
    pub(super) settings: Settings,
}

impl<S: State, T: State, C: Send + Sync + 'static> InspectCall for Inspector<S, T, C> {
    fn state<'a>(
        &'a self,
        saver: &'a Arc<dyn Checkpointer>,
        call: Call<'a>,
    ) -> BoxFuture<'a, Result<Option<SubgraphState>, GraphError>> {
        Box::pin(async move {
            let segment = format!("{}:{}", call.node, call.task_id);
            let Some(thread) =
                call_thread(self.settings, call.thread_id, call.node, &segment, call.head)
            else {
                return Ok(None);
            };
            let child = &self.child;
            let persistence = (child.persistence)(Arc::clone(saver));
            let invocation = format!("{}/{}", call.head, call.task_id);
            let namespace = call.namespace.child(segment);
            let (graph, values) = (&child.graph.inner, child.state_json);
            thread::call_snapshot(&persistence, graph, &thread, &invocation, namespace, values)
                .await
        })
    }
}
