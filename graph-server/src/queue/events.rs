//! Runs' events in the database: written by the worker that runs a run, read back by every
//! server a client follows the run from.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use graph_core::CancellationToken;
use serde_json::Value;
use tokio::sync::{watch, Notify};

use super::{Queue, CHANNEL};
use crate::error::ApiError;
use crate::log::{Event, RunLog};
use crate::records::postgres::storage;
use crate::runner::{Handle, KEEP_FINISHED};

/// The event that marks a run's end in the table, carrying its result; never streamed.
const END: &str = "__end__";

/// How often a follower looks for events when no notification came, in case one was lost.
const POLL: Duration = Duration::from_secs(1);

/// How long an ended run's events stay in the table, for clients that rejoin late.
const KEEP_EVENTS: &str = "120 seconds";

impl Queue {
    /// Follows run `run_id` from the table: a handle whose log fills as the run's worker
    /// writes events, and whose cancel token asks that worker to stop.
    pub(super) fn follow(self: &Arc<Self>, run_id: &str) -> Handle {
        let mut followed = self.followed.lock().expect("queue lock");
        if let Some((handle, _)) = followed.get(run_id) {
            return handle.clone();
        }
        let (handle, ended_tx) = Handle::new(Arc::new(RunLog::default()), CancellationToken::new());
        let wake = Arc::new(Notify::new());
        followed.insert(run_id.to_owned(), (handle.clone(), wake.clone()));
        let run_id = run_id.to_owned();
        tokio::spawn(self.clone().read(run_id.clone(), handle.clone(), wake, ended_tx));
        let (queue, following) = (self.clone(), handle.clone());
        tokio::spawn(async move {
            let handle = following;
            tokio::select! {
                () = handle.cancel.cancelled() => {
                    let rollback = handle.rolling_back();
                    if let Err(error) = queue.cancel(&run_id, rollback).await {
                        tracing::error!(%run_id, %error, "could not cancel a run");
                    }
                }
                _ = handle.wait() => {}
            }
        });
        handle
    }

    /// Copies run `run_id`'s events from the table into its `handle`'s log as they are
    /// written, until its end (or its record is gone); then forgets it after a while.
    async fn read(
        self: Arc<Self>,
        run_id: String,
        handle: Handle,
        wake: Arc<Notify>,
        ended: watch::Sender<Option<Arc<Value>>>,
    ) {
        let run_id = run_id.as_str();
        let mut next = 0_i64;
        let result = 'reading: loop {
            match self.events(run_id, next).await {
                Ok(events) => {
                    for (event, data) in events {
                        next += 1;
                        if event == END {
                            break 'reading data;
                        }
                        handle.log.push(event, data);
                    }
                }
                Err(error) => tracing::warn!(%run_id, %error, "could not read a run's events"),
            }
            tokio::select! {
                () = wake.notified() => {}
                () = tokio::time::sleep(POLL) => {
                    if let Ok(false) = self.exists(run_id).await {
                        // Deleted (its thread was, or it was rolled back) before it ended.
                        break Value::Null;
                    }
                }
            }
        };
        handle.log.close();
        let _ = ended.send(Some(Arc::new(result)));
        tokio::time::sleep(KEEP_FINISHED).await;
        self.followed.lock().expect("queue lock").remove(run_id);
    }

    /// Run `run_id`'s events from number `from` on, in order.
    pub(super) async fn events(
        &self,
        run_id: &str,
        from: i64,
    ) -> Result<Vec<(String, Value)>, ApiError> {
        let sql = "SELECT event, data FROM graph_server_events
                   WHERE run_id = $1 AND seq >= $2 ORDER BY seq";
        let client = self.pool.get().await.map_err(storage)?;
        let rows = client.query(sql, &[&run_id, &from]).await.map_err(storage)?;
        rows.iter()
            .map(|row| {
                let data: &str = row.get(1);
                let data = serde_json::from_str(data).map_err(|error| {
                    ApiError::Storage(format!("an event of run `{run_id}` is corrupt: {error}"))
                })?;
                Ok((row.get(0), data))
            })
            .collect()
    }

    /// Whether run `run_id` still has a record.
    async fn exists(&self, run_id: &str) -> Result<bool, ApiError> {
        let sql = "SELECT EXISTS (SELECT 1 FROM graph_server_runs WHERE run_id = $1)";
        let client = self.pool.get().await.map_err(storage)?;
        Ok(client.query_one(sql, &[&run_id]).await.map_err(storage)?.get(0))
    }

    /// Writes the events `log` gets from id `from` on, in batches as they come, until the
    /// run ends; then its end with `result`.
    pub(super) async fn write_log(
        &self,
        run_id: &str,
        log: Arc<RunLog>,
        from: u64,
        result: impl std::future::Future<Output = Arc<Value>>,
    ) -> Result<(), ApiError> {
        let mut batches = Box::pin(log.follow(from.checked_sub(1)).ready_chunks(256));
        let mut next = from;
        while let Some(batch) = batches.next().await {
            self.write(run_id, &batch).await?;
            next = batch.last().map_or(next, |event| event.id + 1);
        }
        let end = Event { id: next, event: END.into(), data: result.await };
        self.write(run_id, &[end]).await
    }

    /// Writes `events`, and tells the servers following the run.
    async fn write(&self, run_id: &str, events: &[Event]) -> Result<(), ApiError> {
        let seqs: Vec<i64> =
            events.iter().map(|e| i64::try_from(e.id).unwrap_or(i64::MAX)).collect();
        let names: Vec<&str> = events.iter().map(|e| &*e.event).collect();
        let data: Vec<String> = events.iter().map(|e| e.data.to_string()).collect();
        // A second writer of the same events (a worker given up for dead that was not) adds
        // nothing.
        let sql = format!(
            "WITH written AS (
                 INSERT INTO graph_server_events (run_id, seq, event, data)
                 SELECT $1, * FROM unnest($2::bigint[], $3::text[], $4::text[])
                 ON CONFLICT DO NOTHING)
             SELECT pg_notify('{CHANNEL}', 'events ' || $1)"
        );
        let client = self.pool.get().await.map_err(storage)?;
        client.execute(&sql, &[&run_id, &seqs, &names, &data]).await.map(drop).map_err(storage)
    }

    /// Marks the end of a run that ended without its end written (its worker stopped in
    /// between), with `result`.
    pub(super) async fn write_end(&self, run_id: &str, result: &Value) -> Result<(), ApiError> {
        let events = self.events(run_id, 0).await?;
        if events.iter().any(|(event, _)| event == END) {
            return Ok(());
        }
        let next = u64::try_from(events.len()).unwrap_or_default();
        let end = Event { id: next, event: END.into(), data: Arc::new(result.clone()) };
        self.write(run_id, &[end]).await
    }

    /// Deletes the events of runs that ended a while ago, and of runs deleted since; and
    /// the requests to stop runs that have ended (asked too late) or are gone.
    pub(super) async fn forget_old_events(&self) -> Result<u64, ApiError> {
        let sql = format!(
            "DELETE FROM graph_server_cancels c
             WHERE asked_at < now() - interval '{KEEP_EVENTS}' AND NOT EXISTS (
                 SELECT 1 FROM graph_server_runs r
                 WHERE r.run_id = c.run_id AND r.status IN ('pending', 'running'))"
        );
        self.pool.get().await.map_err(storage)?.execute(&sql, &[]).await.map_err(storage)?;
        let sql = format!(
            "DELETE FROM graph_server_events WHERE run_id IN (
                 SELECT run_id FROM graph_server_events
                 WHERE event = '{END}' AND written_at < now() - interval '{KEEP_EVENTS}'
                 UNION
                 SELECT e.run_id FROM graph_server_events e
                 LEFT JOIN graph_server_runs r ON r.run_id = e.run_id
                 WHERE r.run_id IS NULL AND e.written_at < now() - interval '{KEEP_EVENTS}')"
        );
        let client = self.pool.get().await.map_err(storage)?;
        client.execute(&sql, &[]).await.map_err(storage)
    }
}
