//! Why a model call failed, in terms a retry policy can act on: [`ModelError`].
//!
//! Provider adapters return their failures as a `ModelError` inside the boxed error of
//! [`ChatModel`](crate::ChatModel); [`ModelError::in_error`] finds it again however deeply a
//! node wrapped it, and [`ModelError::retry_policy`] retries exactly the failures worth
//! retrying, waiting as long as the provider asked.

use std::error::Error;
use std::fmt;
use std::time::Duration;

use graph_core::{NodeError, RetryPolicy};

/// Why a call to a model's provider failed.
///
/// Every variant names the provider (the adapter's `provider` in [`ModelInfo`](crate::ModelInfo)),
/// and the display says what happened in one line:
///
/// ```
/// use graph_agent::ModelError;
/// use std::time::Duration;
///
/// let error = ModelError::RateLimited {
///     provider: "openai".into(),
///     retry_after: Some(Duration::from_secs(2)),
///     message: "Rate limit reached".into(),
/// };
/// assert_eq!(
///     error.to_string(),
///     "openai answered 429 Too Many Requests: Rate limit reached (retry after 2s)"
/// );
/// assert!(error.is_retryable());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// The provider rejected the request as malformed (400), for an unknown model or path
    /// (404) or as unprocessable (422). Sending it again will not help.
    #[error("{provider} answered {}: {message}", status_line(*status))]
    BadRequest {
        /// The provider's name.
        provider: String,
        /// The HTTP status.
        status: u16,
        /// The provider's explanation.
        message: String,
    },
    /// The provider refused the credentials (401) or the access (403).
    #[error("{provider} answered {}: {message}", status_line(*status))]
    Unauthorized {
        /// The provider's name.
        provider: String,
        /// The HTTP status.
        status: u16,
        /// The provider's explanation.
        message: String,
    },
    /// Too many requests (429); try again later, after `retry_after` if the provider said.
    #[error("{provider} answered {}: {message}{}", status_line(429), RetryAfter(*retry_after))]
    RateLimited {
        /// The provider's name.
        provider: String,
        /// How long the provider asked to wait (its `Retry-After` header).
        retry_after: Option<Duration>,
        /// The provider's explanation.
        message: String,
    },
    /// The provider failed (5xx); try again later.
    #[error("{provider} answered {}: {message}{}", status_line(*status), RetryAfter(*retry_after))]
    Server {
        /// The provider's name.
        provider: String,
        /// The HTTP status.
        status: u16,
        /// How long the provider asked to wait (its `Retry-After` header), if it did.
        retry_after: Option<Duration>,
        /// The provider's explanation.
        message: String,
    },
    /// The provider did not answer in time.
    #[error("{provider} did not answer within {after:?}")]
    Timeout {
        /// The provider's name.
        provider: String,
        /// The time allowed.
        after: Duration,
    },
    /// The provider could not be reached, or the connection broke while it answered.
    #[error("{}: {message}", connection_failure(provider, *mid_answer))]
    Connection {
        /// The provider's name.
        provider: String,
        /// Whether the connection broke in the middle of a (streamed) answer, after part of it
        /// arrived; otherwise no answer came at all.
        mid_answer: bool,
        /// What the transport said.
        message: String,
    },
    /// The provider answered something this crate cannot read: a body or a streamed event
    /// that is not the JSON the protocol promises.
    #[error("{provider} sent an answer that cannot be read: {message}")]
    InvalidResponse {
        /// The provider's name.
        provider: String,
        /// What is wrong with it.
        message: String,
    },
}

impl ModelError {
    /// Whether trying again may succeed: rate limits, server errors, timeouts and broken
    /// connections.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ModelError::RateLimited { .. }
                | ModelError::Server { .. }
                | ModelError::Timeout { .. }
                | ModelError::Connection { .. }
        )
    }

    /// How long the provider asked to wait before the next attempt.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ModelError::RateLimited { retry_after, .. }
            | ModelError::Server { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The `ModelError` in `error` or in its chain of [`source`](Error::source)s, if any.
    pub fn in_error<'a>(error: &'a (dyn Error + 'static)) -> Option<&'a ModelError> {
        let mut next = Some(error);
        while let Some(error) = next {
            if let Some(found) = error.downcast_ref::<ModelError>() {
                return Some(found);
            }
            next = error.source();
        }
        None
    }

    /// The `ModelError` a node failed with, if it failed because of one.
    pub fn in_node_error(error: &NodeError) -> Option<&ModelError> {
        match error {
            NodeError::Failed(error) => Self::in_error(error.as_ref()),
            _ => None,
        }
    }

    /// A retry policy for nodes that call models: at most `max_attempts` attempts; a
    /// `ModelError` is retried only when [retryable](Self::is_retryable), after the wait the
    /// provider asked for (its `Retry-After`) or else the usual backoff; node timeouts are
    /// retried; other failures keep the default (retried unless the node panicked).
    ///
    /// ```
    /// use graph_agent::ModelError;
    /// use graph_core::NodeOptions;
    /// # #[derive(graph_core::State, Clone, Debug, Default)]
    /// # struct Chat { turns: u32 }
    ///
    /// let options = NodeOptions::<Chat>::new().retry(ModelError::retry_policy(4));
    /// # let _ = options;
    /// ```
    pub fn retry_policy(max_attempts: u32) -> RetryPolicy {
        RetryPolicy::new(max_attempts)
            .retry_if(|error| match Self::in_node_error(error) {
                Some(model_error) => model_error.is_retryable(),
                None => !matches!(error, NodeError::Panicked(_)),
            })
            .wait_hint(|error| Self::in_node_error(error).and_then(ModelError::retry_after))
    }
}

/// `429 Too Many Requests`: the status and its reason phrase.
fn status_line(status: u16) -> String {
    let reason = http::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason());
    match reason {
        Some(reason) => format!("{status} {reason}"),
        None => status.to_string(),
    }
}

fn connection_failure(provider: &str, mid_answer: bool) -> String {
    if mid_answer {
        format!("the connection to {provider} broke in the middle of its answer")
    } else {
        format!("could not reach {provider}")
    }
}

/// ` (retry after 2s)`, or nothing when the provider did not say.
struct RetryAfter(Option<Duration>);

impl fmt::Display for RetryAfter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(wait) => write!(f, " (retry after {wait:?})"),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate_limited(seconds: u64) -> ModelError {
        ModelError::RateLimited {
            provider: "openai".into(),
            retry_after: Some(Duration::from_secs(seconds)),
            message: "Rate limit reached".into(),
        }
    }

    #[test]
    fn every_variant_names_the_provider_and_what_happened() {
        let cases = [
            (
                ModelError::BadRequest {
                    provider: "openai".into(),
                    status: 400,
                    message: "Invalid value for 'model'".into(),
                },
                "openai answered 400 Bad Request: Invalid value for 'model'",
            ),
            (
                ModelError::Unauthorized {
                    provider: "anthropic".into(),
                    status: 401,
                    message: "invalid x-api-key".into(),
                },
                "anthropic answered 401 Unauthorized: invalid x-api-key",
            ),
            (
                ModelError::RateLimited {
                    provider: "openai".into(),
                    retry_after: None,
                    message: "slow down".into(),
                },
                "openai answered 429 Too Many Requests: slow down",
            ),
            (
                ModelError::Server {
                    provider: "gemini".into(),
                    status: 503,
                    retry_after: Some(Duration::from_millis(1500)),
                    message: "overloaded".into(),
                },
                "gemini answered 503 Service Unavailable: overloaded (retry after 1.5s)",
            ),
            (
                ModelError::Timeout { provider: "openai".into(), after: Duration::from_secs(30) },
                "openai did not answer within 30s",
            ),
            (
                ModelError::Connection {
                    provider: "ollama".into(),
                    mid_answer: false,
                    message: "connection refused".into(),
                },
                "could not reach ollama: connection refused",
            ),
            (
                ModelError::Connection {
                    provider: "openai".into(),
                    mid_answer: true,
                    message: "unexpected end of stream".into(),
                },
                "the connection to openai broke in the middle of its answer: unexpected end of stream",
            ),
            (
                ModelError::InvalidResponse {
                    provider: "openai".into(),
                    message: "expected value at line 1 column 1".into(),
                },
                "openai sent an answer that cannot be read: expected value at line 1 column 1",
            ),
        ];
        for (error, expected) in cases {
            assert_eq!(error.to_string(), expected);
        }
    }

    #[test]
    fn only_transient_failures_are_retryable() {
        assert!(rate_limited(1).is_retryable());
        assert_eq!(rate_limited(2).retry_after(), Some(Duration::from_secs(2)));
        let bad = ModelError::BadRequest { provider: "x".into(), status: 422, message: "".into() };
        assert!(!bad.is_retryable());
        assert_eq!(bad.retry_after(), None);
    }

    #[derive(Debug, thiserror::Error)]
    #[error("the model node failed")]
    struct Wrapper(#[source] ModelError);

    #[test]
    fn a_model_error_is_found_through_wrappers_and_node_errors() {
        let wrapped = Wrapper(rate_limited(3));
        assert_eq!(ModelError::in_error(&wrapped), Some(&rate_limited(3)));
        let node_error = NodeError::Failed(Box::new(Wrapper(rate_limited(3))));
        assert_eq!(ModelError::in_node_error(&node_error), Some(&rate_limited(3)));
        assert_eq!(ModelError::in_node_error(&NodeError::Panicked("boom".into())), None);
        let other: Box<dyn Error + Send + Sync> = "plain".into();
        assert_eq!(ModelError::in_error(other.as_ref()), None);
    }
}
