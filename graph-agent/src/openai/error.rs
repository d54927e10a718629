//! HTTP failures as [`ModelError`]s: the status, the provider's message and its
//! `Retry-After`.

use std::error::Error;
use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::model_error::ModelError;

/// The error for a response with a failure status.
pub(crate) fn status_error(
    provider: &str,
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
) -> ModelError {
    let provider = provider.to_owned();
    let message = provider_message(body);
    match status {
        401 | 403 => ModelError::Unauthorized { provider, status, message },
        429 => ModelError::RateLimited { provider, retry_after: retry_after(headers), message },
        500.. => {
            ModelError::Server { provider, status, retry_after: retry_after(headers), message }
        }
        // 400, 404, 422 and every other client error: the same request will fail again.
        _ => ModelError::BadRequest { provider, status, message },
    }
}

/// The explanation in an error body: OpenAI's `{"error": {"message": ..}}`, Gemini's list
/// of those, `{"error": "..."}` (Ollama) or `{"message": ..}`; else the body itself.
fn provider_message(body: &[u8]) -> String {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let json = match json {
        Some(Value::Array(items)) => items.into_iter().next(),
        other => other,
    };
    let found = json.as_ref().and_then(|json| {
        let error = json.get("error").unwrap_or(json);
        error.get("message").unwrap_or(error).as_str().map(str::to_owned)
    });
    if let Some(message) = found {
        return message;
    }
    let text = String::from_utf8_lossy(body);
    match text.trim() {
        "" => "(no message)".into(),
        text => text.chars().take(200).collect(),
    }
}

/// The wait a response asks for: OpenAI's `retry-after-ms`, else `Retry-After` in seconds
/// or as an HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    if let Some(millis) = header("retry-after-ms").and_then(|v| v.trim().parse::<f64>().ok()) {
        return Duration::try_from_secs_f64(millis / 1000.0).ok();
    }
    parse_retry_after(header("retry-after")?, SystemTime::now())
}

/// A `Retry-After` value: seconds (`2`, `1.5`) or an HTTP date, read at `now`; a date in
/// the past means no wait.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        return Duration::try_from_secs_f64(seconds).ok();
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

/// A transport failure: `mid_answer` when part of the answer had already arrived.
pub(crate) fn transport_error(
    provider: &str,
    error: &reqwest::Error,
    mid_answer: bool,
) -> ModelError {
    // reqwest's own message names only the step; the causes say what went wrong.
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    ModelError::Connection { provider: provider.to_owned(), mid_answer, message }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn retry_after_reads_seconds_milliseconds_and_dates() {
        assert_eq!(retry_after(&headers(&[("retry-after", "2")])), Some(Duration::from_secs(2)));
        assert_eq!(
            retry_after(&headers(&[("retry-after", "7"), ("retry-after-ms", "1500")])),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(retry_after(&headers(&[])), None);
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")])), None);

        let now = httpdate::parse_http_date("Sun, 06 Dec 2026 02:00:00 GMT").unwrap();
        assert_eq!(
            parse_retry_after("Sun, 06 Dec 2026 02:00:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(parse_retry_after("Sun, 06 Dec 2026 01:59:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("0.25", now), Some(Duration::from_millis(250)));
    }

    #[test]
    fn statuses_map_to_variants_with_the_providers_message() {
        let none = HeaderMap::new();
        let openai = br#"{"error":{"message":"Invalid 'messages'","type":"invalid_request_error","param":"messages","code":null}}"#;
        assert_eq!(
            status_error("openai", 422, &none, openai),
            ModelError::BadRequest {
                provider: "openai".into(),
                status: 422,
                message: "Invalid 'messages'".into()
            }
        );
        let gemini = br#"[{"error":{"code":403,"message":"API key not valid","status":"PERMISSION_DENIED"}}]"#;
        assert_eq!(
            status_error("gemini", 403, &none, gemini),
            ModelError::Unauthorized {
                provider: "gemini".into(),
                status: 403,
                message: "API key not valid".into()
            }
        );
        assert_eq!(
            status_error("ollama", 404, &none, br#"{"error":"model \"llama9\" not found"}"#),
            ModelError::BadRequest {
                provider: "ollama".into(),
                status: 404,
                message: "model \"llama9\" not found".into()
            }
        );
        assert_eq!(
            status_error("vllm", 502, &headers(&[("retry-after", "3")]), b"Bad gateway\n"),
            ModelError::Server {
                provider: "vllm".into(),
                status: 502,
                retry_after: Some(Duration::from_secs(3)),
                message: "Bad gateway".into()
            }
        );
        assert_eq!(
            status_error("x", 503, &none, b""),
            ModelError::Server {
                provider: "x".into(),
                status: 503,
                retry_after: None,
                message: "(no message)".into()
            }
        );
    }
}
