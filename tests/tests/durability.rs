//! `Durability::Async` saves in the background, batching the checkpoints that queue up while
//! a save runs, yet loses and reorders nothing: when `invoke` returns, every checkpoint is
//! stored, and a conflict or a storage failure is the run's error.

mod support;

use std::sync::{Arc, Mutex};

use futures::StreamExt;
use graph_core::checkpoint::conformance::sample;
use graph_core::checkpoint::CheckpointMetadata;
use graph_core::checkpoint::{
    Checkpoint, CheckpointError, Checkpointer, PendingWrite, StoredCheckpoint,
};
use graph_core::prelude::*;
use graph_core::Durability;
use graph_core::{StateSnapshot, StreamEvent, StreamMode};
use support::backends::{on_every_backend, thread};
use support::{visit, Log};
use tokio::sync::Semaphore;

const STEPS: u64 = 200;

on_every_backend!(
    async_stores_every_checkpoint_in_order_like_sync,
    checkpoints_queued_behind_a_slow_save_are_saved_in_one_batch,
    a_thread_advanced_by_another_writer_fails_an_async_run_with_a_conflict,
    a_failing_save_fails_an_async_run,
    a_failed_run_has_saved_what_it_queued_when_it_returns,
);

/// `step` runs `STEPS` times, then the run ends.
fn counting() -> StateGraph<Log> {
    StateGraph::<Log>::new()
        .add_node("step", visit("step"))
        .add_edge(START, "step")
        .add_conditional_edges(
            "step",
            |log: &Log| if log.n < STEPS { "step" } else { END },
            ["step", END],
        )
}

fn config(durability: Durability) -> RunConfig {
    thread().durability(durability).recursion_limit(STEPS as usize + 10)
}

/// What a history says apart from its checkpoint ids: states, next nodes and metadata.
fn contents(history: &[StateSnapshot<Log>]) -> Vec<(Log, Vec<String>, CheckpointMetadata)> {
    history.iter().map(|s| (s.values.clone(), s.next.clone(), s.metadata.clone())).collect()
}

/// Newest first, each checkpoint's parent is the next one, and the oldest has none.
fn assert_chained(history: &[StateSnapshot<Log>]) {
    for pair in history.windows(2) {
        assert_eq!(pair[0].parent_id.as_deref(), Some(pair[1].checkpoint_id.as_str()));
    }
    assert_eq!(history.last().unwrap().parent_id, None);
}

async fn async_stores_every_checkpoint_in_order_like_sync(saver: Arc<dyn Checkpointer>) {
    let graph = counting().compile().unwrap().with_checkpointer(saver);
    let (sync, background) = (config(Durability::Sync), config(Durability::Async));
    let out = graph.invoke(Log::default(), background.clone()).await.unwrap().into_state();
    assert_eq!(out.n, STEPS);
    let saved = graph.get_state_history(&background).await.unwrap();
    assert_eq!(graph.invoke(Log::default(), sync.clone()).await.unwrap().into_state(), out);
    let expected = graph.get_state_history(&sync).await.unwrap();
    assert_eq!(saved.len(), STEPS as usize + 1, "the input and every step");
    assert_eq!(contents(&saved), contents(&expected));
    assert_chained(&saved);
    assert_eq!(saved[0].values, out);
    assert_eq!(saved[0].metadata.step, STEPS as i64 - 1);
}

/// Holds every save until the gate opens, and records how many checkpoints each saved.
struct Gated {
    inner: Arc<dyn Checkpointer>,
    gate: Arc<Semaphore>,
    batches: Mutex<Vec<usize>>,
}

impl Gated {
    fn new(inner: Arc<dyn Checkpointer>) -> Self {
        Self { inner, gate: Arc::new(Semaphore::new(0)), batches: Mutex::default() }
    }
}

#[async_trait::async_trait]
impl Checkpointer for Gated {
    async fn put(
        &self,
        checkpoint: &Checkpoint,
        expected_latest: Option<&str>,
    ) -> Result<(), CheckpointError> {
        self.put_batch(std::slice::from_ref(checkpoint), expected_latest).await
    }
    async fn put_batch(
        &self,
        checkpoints: &[Checkpoint],
        expected_latest: Option<&str>,
    ) -> Result<(), CheckpointError> {
        let _open = self.gate.acquire().await.unwrap();
        self.batches.lock().unwrap().push(checkpoints.len());
        self.inner.put_batch(checkpoints, expected_latest).await
    }
    async fn put_write(
        &self,
        thread_id: &str,
        checkpoint_id: &str,
        write: &PendingWrite,
    ) -> Result<(), CheckpointError> {
        self.inner.put_write(thread_id, checkpoint_id, write).await
    }
    async fn get(
        &self,
        thread_id: &str,
        checkpoint_id: Option<&str>,
    ) -> Result<Option<StoredCheckpoint>, CheckpointError> {
        self.inner.get(thread_id, checkpoint_id).await
    }
    async fn list(&self, thread_id: &str) -> Result<Vec<Checkpoint>, CheckpointError> {
        self.inner.list(thread_id).await
    }
    async fn delete_thread(&self, thread_id: &str) -> Result<(), CheckpointError> {
        self.inner.delete_thread(thread_id).await
    }
    async fn copy_thread(
        &self,
        thread_id: &str,
        new_thread_id: &str,
    ) -> Result<(), CheckpointError> {
        self.inner.copy_thread(thread_id, new_thread_id).await
    }

    async fn mark(
        &self,
        thread_id: &str,
    ) -> Result<graph_core::checkpoint::ThreadMark, CheckpointError> {
        self.inner.mark(thread_id).await
    }

    async fn rewind(
        &self,
        thread_id: &str,
        mark: &graph_core::checkpoint::ThreadMark,
    ) -> Result<(), CheckpointError> {
        self.inner.rewind(thread_id, mark).await
    }
}

async fn checkpoints_queued_behind_a_slow_save_are_saved_in_one_batch(
    saver: Arc<dyn Checkpointer>,
) {
    let saver = Arc::new(Gated::new(saver));
    let graph = counting().compile().unwrap().with_checkpointer(Arc::clone(&saver));
    let config = config(Durability::Async).stream_mode(StreamMode::Checkpoints);
    // The input's save waits until the last checkpoint is announced, so every step's
    // checkpoint queues behind it.
    let mut run = graph.stream(Log::default(), config.clone());
    let mut announced = 0;
    while let Some(event) = run.next().await {
        if let StreamEvent::Checkpoint { .. } = event.unwrap() {
            announced += 1;
            if announced == STEPS + 1 {
                saver.gate.add_permits(1);
            }
        }
    }
    assert_eq!(announced, STEPS + 1);
    // Whatever the first save took, all the rest waited for it and went in the second.
    let batches = saver.batches.lock().unwrap().clone();
    assert!(batches.len() <= 2, "{batches:?}");
    assert_eq!(batches.iter().sum::<usize>(), STEPS as usize + 1, "{batches:?}");
    let saved = graph.get_state_history(&config).await.unwrap();
    assert_eq!(saved.len(), STEPS as usize + 1);
    assert_chained(&saved);
    let steps: Vec<i64> = saved.iter().rev().map(|s| s.metadata.step).collect();
    assert_eq!(steps, (-1..STEPS as i64).collect::<Vec<_>>());
    let counts: Vec<u64> = saved.iter().rev().map(|s| s.values.n).collect();
    assert_eq!(counts, (0..=STEPS).collect::<Vec<_>>());
}

async fn a_thread_advanced_by_another_writer_fails_an_async_run_with_a_conflict(
    saver: Arc<dyn Checkpointer>,
) {
    let gated = Arc::new(Gated::new(Arc::clone(&saver)));
    let graph = counting().compile().unwrap().with_checkpointer(Arc::clone(&gated));
    let config = config(Durability::Async).stream_mode(StreamMode::Checkpoints);
    let thread_id = config.thread_id.clone().unwrap();
    let mut run = graph.stream(Log::default(), config.clone());
    // While the run's first save waits, another worker starts the thread.
    let theirs = sample(&thread_id, None, -1);
    let (mut errors, mut started) = (Vec::new(), false);
    while let Some(event) = run.next().await {
        match event {
            Ok(StreamEvent::Checkpoint { .. }) if !started => {
                saver.put(&theirs, None).await.unwrap();
                gated.gate.add_permits(1);
                started = true;
            }
            Ok(_) => {}
            Err(error) => errors.push(error),
        }
    }
    match errors.as_slice() {
        [GraphError::Checkpoint(CheckpointError::Conflict { thread_id: t, expected, found })] => {
            assert_eq!((t, expected, found), (&thread_id, &None, &Some(theirs.id.clone())));
        }
        other => panic!("expected one conflict, got {other:?}"),
    }
    assert_eq!(saver.list(&thread_id).await.unwrap(), [theirs], "the run saved nothing");
}

/// Fails the save of the checkpoint after `step` with a storage error.
struct FailAt {
    inner: Arc<dyn Checkpointer>,
    step: i64,
}

#[async_trait::async_trait]
impl Checkpointer for FailAt {
    async fn put(
        &self,
        checkpoint: &Checkpoint,
        expected_latest: Option<&str>,
    ) -> Result<(), CheckpointError> {
        if checkpoint.metadata.step == self.step {
            return Err(CheckpointError::Storage("disk full".into()));
        }
        self.inner.put(checkpoint, expected_latest).await
    }
    async fn put_write(
        &self,
        thread_id: &str,
        checkpoint_id: &str,
        write: &PendingWrite,
    ) -> Result<(), CheckpointError> {
        self.inner.put_write(thread_id, checkpoint_id, write).await
    }
    async fn get(
        &self,
        thread_id: &str,
        checkpoint_id: Option<&str>,
    ) -> Result<Option<StoredCheckpoint>, CheckpointError> {
        self.inner.get(thread_id, checkpoint_id).await
    }
    async fn list(&self, thread_id: &str) -> Result<Vec<Checkpoint>, CheckpointError> {
        self.inner.list(thread_id).await
    }
    async fn delete_thread(&self, thread_id: &str) -> Result<(), CheckpointError> {
        self.inner.delete_thread(thread_id).await
    }
    async fn copy_thread(
        &self,
        thread_id: &str,
        new_thread_id: &str,
    ) -> Result<(), CheckpointError> {
        self.inner.copy_thread(thread_id, new_thread_id).await
    }

    async fn mark(
        &self,
        thread_id: &str,
    ) -> Result<graph_core::checkpoint::ThreadMark, CheckpointError> {
        self.inner.mark(thread_id).await
    }

    async fn rewind(
        &self,
        thread_id: &str,
        mark: &graph_core::checkpoint::ThreadMark,
    ) -> Result<(), CheckpointError> {
        self.inner.rewind(thread_id, mark).await
    }
}

async fn a_failing_save_fails_an_async_run(saver: Arc<dyn Checkpointer>) {
    let failing = FailAt { inner: Arc::clone(&saver), step: 5 };
    let graph = counting().compile().unwrap().with_checkpointer(failing);
    let config = config(Durability::Async);
    let error = graph.invoke(Log::default(), config.clone()).await.unwrap_err();
    assert_eq!(error.to_string(), "checkpoint storage failed: disk full");
    assert!(matches!(error, GraphError::Checkpoint(CheckpointError::Storage(_))), "{error:?}");
    // The checkpoints before the failed one are saved, in order; none after it.
    let saved = graph.get_state_history(&config).await.unwrap();
    let steps: Vec<i64> = saved.iter().rev().map(|s| s.metadata.step).collect();
    assert_eq!(steps, [-1, 0, 1, 2, 3, 4]);
    assert_chained(&saved);
}

async fn a_failed_run_has_saved_what_it_queued_when_it_returns(saver: Arc<dyn Checkpointer>) {
    let saver = Arc::new(Gated::new(saver));
    let gate = Arc::clone(&saver.gate);
    let graph = StateGraph::<Log>::new()
        .add_node("step", visit("step"))
        .add_edge(START, "step")
        .add_conditional_edges(
            "step",
            move |log: &Log| {
                if log.n < 50 {
                    return "step";
                }
                // The input's save held every later checkpoint in the queue until now; the
                // run fails right after releasing it.
                gate.add_permits(1);
                "nowhere"
            },
            ["step", END],
        )
        .compile()
        .unwrap()
        .with_checkpointer(Arc::clone(&saver));
    let config = config(Durability::Async);
    let error = graph.invoke(Log::default(), config.clone()).await.unwrap_err();
    assert!(matches!(error, GraphError::InvalidRoute { .. }), "{error:?}");
    let saved = graph.get_state_history(&config).await.unwrap();
    let steps: Vec<i64> = saved.iter().rev().map(|s| s.metadata.step).collect();
    assert_eq!(steps, (-1..49).collect::<Vec<_>>(), "the input and steps 0 to 48");
    assert_chained(&saved);
}
