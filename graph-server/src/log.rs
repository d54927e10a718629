//! A run's server-sent events, kept in order with ids so that any number of clients follow
//! the run, and one that dropped rejoins after the last id it saw without losing an event.

use std::sync::{Arc, Mutex};

use futures::stream::{self, Stream};
use serde_json::Value;
use tokio::sync::Notify;

/// One server-sent event: `id`, `event` and the JSON `data`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Event {
    /// Its place in the run's log, counting from 0.
    pub id: u64,
    /// The event's name, such as `values` or `updates|child:1:child`.
    pub event: Arc<str>,
    /// The event's data.
    pub data: Arc<Value>,
}

/// The events of one run so far, and whether the run has ended.
#[derive(Debug, Default)]
pub(crate) struct RunLog {
    inner: Mutex<Inner>,
    grown: Notify,
}

#[derive(Debug, Default)]
struct Inner {
    events: Vec<Event>,
    closed: bool,
}

impl RunLog {
    /// Appends an event.
    pub fn push(&self, event: impl Into<Arc<str>>, data: Value) {
        let mut inner = self.inner.lock().expect("run log lock");
        let id = inner.events.len() as u64;
        inner.events.push(Event { id, event: event.into(), data: Arc::new(data) });
        drop(inner);
        self.grown.notify_waiters();
    }

    /// Marks the run as ended: followers stop after the last event.
    pub fn close(&self) {
        self.inner.lock().expect("run log lock").closed = true;
        self.grown.notify_waiters();
    }

    /// Every event after id `after` (from the first without one), as they come, until the
    /// run ends.
    pub fn follow(self: Arc<Self>, after: Option<u64>) -> impl Stream<Item = Event> + Send {
        let next = after.map_or(0, |id| id + 1);
        stream::unfold((self, next), |(log, next)| async move {
            loop {
                // Listen before looking, so an event pushed in between still wakes us.
                let grown = log.grown.notified();
                {
                    let inner = log.inner.lock().expect("run log lock");
                    if let Some(event) = inner.events.get(next as usize) {
                        return Some((event.clone(), (log.clone(), next + 1)));
                    }
                    if inner.closed {
                        return None;
                    }
                }
                grown.await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;
    use serde_json::json;

    use super::*;

    #[tokio::test]
    async fn followers_see_every_event_in_order_from_where_they_join() {
        let log = Arc::new(RunLog::default());
        log.push("metadata", json!({"run_id": "r"}));
        let from_start = tokio::spawn(log.clone().follow(None).collect::<Vec<_>>());
        let rejoined = tokio::spawn(log.clone().follow(Some(1)).collect::<Vec<_>>());
        for n in 0..3 {
            tokio::task::yield_now().await;
            log.push("values", json!({ "n": n }));
        }
        log.close();
        let names = |events: Vec<Event>| -> Vec<(u64, String)> {
            events.into_iter().map(|e| (e.id, e.event.to_string())).collect()
        };
        assert_eq!(
            names(from_start.await.unwrap()),
            [
                (0, "metadata".into()),
                (1, "values".into()),
                (2, "values".into()),
                (3, "values".into())
            ]
        );
        assert_eq!(names(rejoined.await.unwrap()), [(2, "values".into()), (3, "values".into())]);
        assert!(log.follow(Some(3)).collect::<Vec<_>>().await.is_empty());
    }
}
