//! The thread that owns a saver's SQLite connection. Every operation runs on it, in the
//! order sent, and replies through a oneshot: async tasks never block on SQLite, and a call
//! costs two channel hops instead of a trip through tokio's blocking pool.

use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::{mpsc, oneshot};

use super::super::{storage, CheckpointError};
use crate::error::catch_panic;

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// A connection on its own thread. Dropping it lets the thread finish the jobs already
/// sent, close the connection and end, and waits for that: the file is closed (and its
/// write-ahead log checkpointed) when the drop returns, as when a connection is dropped.
pub(super) struct ConnectionThread {
    jobs: Option<mpsc::UnboundedSender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl ConnectionThread {
    /// Moves `conn` onto a new thread.
    pub(super) fn spawn(mut conn: Connection) -> Result<Self, CheckpointError> {
        let (jobs, mut received) = mpsc::unbounded_channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("graph-sqlite".into())
            .spawn(move || {
                while let Some(job) = next_job(&mut received) {
                    job(&mut conn);
                }
            })
            .map_err(storage)?;
        Ok(Self { jobs: Some(jobs), thread: Some(thread) })
    }

    /// Runs `f` on the connection's thread and returns its result.
    pub(super) async fn run<T, F>(&self, f: F) -> Result<T, CheckpointError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, CheckpointError> + Send + 'static,
    {
        let (reply, replied) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            // A job that panics fails alone; the thread goes on serving the others.
            let result = catch_panic(|| f(conn)).unwrap_or_else(|panic| {
                Err(CheckpointError::Storage(format!("a SQLite call panicked: {panic}").into()))
            });
            // The caller may have stopped waiting; the work is done either way.
            let _ = reply.send(result);
        });
        let sent = self.jobs.as_ref().is_some_and(|jobs| jobs.send(job).is_ok());
        if !sent {
            return Err(CheckpointError::Disconnected);
        }
        wait_for(replied).await
    }
}

/// How long the thread looks for another job after one before it sleeps.
const SPIN: Duration = Duration::from_micros(60);

/// The next job, or `None` once every sender is gone. A run saving each step sends its next
/// job a few microseconds after the last one's reply, so the thread looks for it briefly
/// before sleeping: waking a sleeping thread costs tens of microseconds on a virtual machine,
/// more than the write itself.
fn next_job(received: &mut mpsc::UnboundedReceiver<Job>) -> Option<Job> {
    let started = Instant::now();
    loop {
        match received.try_recv() {
            Ok(job) => return Some(job),
            Err(TryRecvError::Disconnected) => return None,
            Err(TryRecvError::Empty) if started.elapsed() < SPIN => std::thread::yield_now(),
            Err(TryRecvError::Empty) => return received.blocking_recv(),
        }
    }
}

/// The reply to a job. The task looks for it between yields for as long as the thread
/// looks for jobs, then sleeps until it comes: a short write's reply then finds the task's
/// worker thread awake, and other tasks on that worker still run meanwhile.
async fn wait_for<T>(
    mut replied: oneshot::Receiver<Result<T, CheckpointError>>,
) -> Result<T, CheckpointError> {
    let started = Instant::now();
    while started.elapsed() < SPIN {
        match replied.try_recv() {
            Ok(result) => return result,
            Err(oneshot::error::TryRecvError::Closed) => return Err(CheckpointError::Disconnected),
            Err(oneshot::error::TryRecvError::Empty) => tokio::task::yield_now().await,
        }
    }
    replied.await.map_err(|_| CheckpointError::Disconnected)?
}

impl Drop for ConnectionThread {
    fn drop(&mut self) {
        // Closing the channel ends the thread once it has run what was sent.
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_run_in_order_on_one_thread_and_a_panic_fails_only_its_own() {
        let thread = ConnectionThread::spawn(Connection::open_in_memory().unwrap()).unwrap();
        thread
            .run(|conn| conn.execute_batch("CREATE TABLE t (n INTEGER)").map_err(storage))
            .await
            .unwrap();
        let panicked = thread.run(|_| -> Result<(), CheckpointError> { panic!("boom") }).await;
        let Err(CheckpointError::Storage(error)) = panicked else { panic!("{panicked:?}") };
        assert_eq!(error.to_string(), "a SQLite call panicked: boom");
        let inserted = (0..3).map(|n| {
            thread.run(move |conn| conn.execute("INSERT INTO t VALUES (?1)", [n]).map_err(storage))
        });
        assert_eq!(futures::future::try_join_all(inserted).await.unwrap(), [1, 1, 1]);
        let names = thread
            .run(|conn| {
                let mut select = conn.prepare("SELECT group_concat(n) FROM t").map_err(storage)?;
                select.query_row([], |row| row.get::<_, String>(0)).map_err(storage)
            })
            .await
            .unwrap();
        assert_eq!(names, "0,1,2");
    }

    #[tokio::test]
    async fn jobs_and_replies_arrive_whether_or_not_the_other_side_still_looks() {
        let thread = ConnectionThread::spawn(Connection::open_in_memory().unwrap()).unwrap();
        // Sent at once, while the thread looks; then after it has gone to sleep.
        assert_eq!(thread.run(|_| Ok(1)).await.unwrap(), 1);
        assert_eq!(thread.run(|_| Ok(2)).await.unwrap(), 2);
        tokio::time::sleep(SPIN * 20).await;
        assert_eq!(thread.run(|_| Ok(3)).await.unwrap(), 3);
        // A job longer than the look: the reply finds the task asleep.
        let slow = thread.run(|_| {
            std::thread::sleep(SPIN * 20);
            Ok(4)
        });
        assert_eq!(slow.await.unwrap(), 4);
    }

    #[tokio::test]
    async fn a_reply_that_never_comes_is_a_disconnected_error_early_or_late() {
        for delay in [Duration::ZERO, SPIN * 20] {
            let (reply, replied) = oneshot::channel::<Result<(), CheckpointError>>();
            let dropped = std::thread::spawn(move || {
                std::thread::sleep(delay);
                drop(reply);
            });
            let result = wait_for(replied).await;
            assert!(matches!(result, Err(CheckpointError::Disconnected)), "{delay:?}: {result:?}");
            dropped.join().unwrap();
        }
    }

    #[tokio::test]
    async fn a_stopped_thread_is_a_disconnected_error() {
        let mut thread = ConnectionThread::spawn(Connection::open_in_memory().unwrap()).unwrap();
        drop(thread.jobs.take());
        thread.thread.take().unwrap().join().unwrap();
        let result = thread.run(|_| Ok(())).await;
        assert!(matches!(result, Err(CheckpointError::Disconnected)), "{result:?}");
    }
}
