//! Retry policies: how often and how long to wait before running a failed node again.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::error::NodeError;

type RetryIf = Arc<dyn Fn(&NodeError) -> bool + Send + Sync>;
type WaitHint = Arc<dyn Fn(&NodeError) -> Option<Duration> + Send + Sync>;

/// When and how a failed node is run again.
///
/// Attempt `n` (counting from 1) that fails waits
/// `min(initial_interval * backoff_factor^(n - 1), max_interval)` before attempt `n + 1`;
/// with jitter, each wait is drawn uniformly from the upper half of that value, so many
/// failing tasks do not retry in lockstep. By default errors and timeouts are retried and
/// panics are not.
///
/// ```
/// use graph_core::{NodeError, RetryPolicy};
/// use std::time::Duration;
///
/// let policy = RetryPolicy::new(4)
///     .initial_interval(Duration::from_millis(100))
///     .backoff_factor(3.0)
///     .jitter(false)
///     .retry_if(|error| matches!(error, NodeError::TimedOut(_)));
/// assert_eq!(policy.delay_after(1), Duration::from_millis(100));
/// assert_eq!(policy.delay_after(2), Duration::from_millis(300));
/// ```
#[derive(Clone)]
#[must_use]
pub struct RetryPolicy {
    max_attempts: u32,
    initial_interval: Duration,
    backoff_factor: f64,
    max_interval: Duration,
    jitter: bool,
    retry_if: RetryIf,
    wait_hint: Option<WaitHint>,
}

impl Default for RetryPolicy {
    /// Three attempts, 500 ms then 1 s apart (at most 128 s), with jitter.
    fn default() -> Self {
        Self::new(3)
    }
}

impl RetryPolicy {
    /// At most `max_attempts` attempts in all (1 means no retry), with the default intervals.
    pub fn new(max_attempts: u32) -> Self {
        Self {
            max_attempts: max_attempts.max(1),
            initial_interval: Duration::from_millis(500),
            backoff_factor: 2.0,
            max_interval: Duration::from_secs(128),
            jitter: true,
            retry_if: Arc::new(|error| !matches!(error, NodeError::Panicked(_))),
            wait_hint: None,
        }
    }

    /// The wait after the first failed attempt.
    pub fn initial_interval(mut self, interval: Duration) -> Self {
        self.initial_interval = interval;
        self
    }

    /// How much each wait grows over the previous one.
    pub fn backoff_factor(mut self, factor: f64) -> Self {
        self.backoff_factor = factor;
        self
    }

    /// The longest wait between two attempts.
    pub fn max_interval(mut self, interval: Duration) -> Self {
        self.max_interval = interval;
        self
    }

    /// Whether waits are randomised (on by default).
    pub fn jitter(mut self, jitter: bool) -> Self {
        self.jitter = jitter;
        self
    }

    /// Retries only the failures for which `predicate` returns `true`.
    pub fn retry_if(
        mut self,
        predicate: impl Fn(&NodeError) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.retry_if = Arc::new(predicate);
        self
    }

    /// Waits as long as `hint` says after the failures it knows (a server's `Retry-After`,
    /// say) instead of the backoff, at most `max_interval` and without jitter; `None` keeps
    /// the backoff.
    ///
    /// ```
    /// use graph_core::{NodeError, RetryPolicy};
    /// use std::time::Duration;
    ///
    /// let policy = RetryPolicy::new(3).wait_hint(|error| match error {
    ///     NodeError::Failed(e) if e.to_string() == "busy" => Some(Duration::from_secs(2)),
    ///     _ => None,
    /// });
    /// # let _ = policy;
    /// ```
    pub fn wait_hint(
        mut self,
        hint: impl Fn(&NodeError) -> Option<Duration> + Send + Sync + 'static,
    ) -> Self {
        self.wait_hint = Some(Arc::new(hint));
        self
    }

    /// The attempts allowed in all.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The wait after failed attempt `attempt` (counting from 1), before jitter.
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let exponent = i32::try_from(attempt.saturating_sub(1)).unwrap_or(i32::MAX);
        let delay = self.initial_interval.as_secs_f64() * self.backoff_factor.powi(exponent);
        Duration::try_from_secs_f64(delay).unwrap_or(self.max_interval).min(self.max_interval)
    }

    /// The wait before the attempt after `attempt`, or `None` when `error` is final.
    pub(crate) fn next_delay(&self, attempt: u32, error: &NodeError) -> Option<Duration> {
        if attempt >= self.max_attempts || !(self.retry_if)(error) {
            return None;
        }
        if let Some(wait) = self.wait_hint.as_ref().and_then(|hint| hint(error)) {
            return Some(wait.min(self.max_interval));
        }
        let delay = self.delay_after(attempt);
        Some(if self.jitter { delay.mul_f64(0.5 + fastrand::f64() / 2.0) } else { delay })
    }
}

impl fmt::Debug for RetryPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryPolicy")
            .field("max_attempts", &self.max_attempts)
            .field("initial_interval", &self.initial_interval)
            .field("backoff_factor", &self.backoff_factor)
            .field("max_interval", &self.max_interval)
            .field("jitter", &self.jitter)
            .finish_non_exhaustive()
    }
}
