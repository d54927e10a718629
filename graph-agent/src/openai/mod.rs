//! [`OpenAiModel`]: any OpenAI-compatible chat-completions endpoint as a [`ChatModel`].
//!
//! `request.rs` writes the body (with async-openai's request types), `response.rs` and
//! `stream.rs` read the answer, `schema.rs` rewrites tool schemas for the provider's dialect
//! and `error.rs` turns HTTP failures into [`ModelError`]s. Requests are sent with reqwest
//! rather than async-openai's client, which retries 429s and 5xx by itself and drops the
//! `Retry-After` header: retries belong to the graph's [`RetryPolicy`](graph_core::RetryPolicy).

mod error;
mod request;
mod response;
mod schema;
mod stream;

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use eventsource_stream::Eventsource;
use futures::stream::{BoxStream, StreamExt};
use graph_core::BoxError;

use self::request::{chat_body, Settings};
use self::stream::StreamDecoder;
use crate::message::AssistantMessage;
use crate::model::{ChatModel, ChatRequest, MessageChunk, ModelInfo};
use crate::model_error::ModelError;
pub use schema::SchemaDialect;

/// OpenAI's endpoint, the default base URL.
const OPENAI_BASE_URL: &str = "https://api.openai.com/v1";

/// A model behind an OpenAI-compatible chat-completions endpoint: OpenAI itself, the
/// compatible endpoints of Anthropic and Gemini, Ollama's `/v1`, vLLM, the llama.cpp server
/// or LM Studio.
///
/// It sends the conversation, tool specs (their schemas cleaned for the provider's
/// [`SchemaDialect`]) and the structured-answer schema as one request; [`generate`](ChatModel::generate)
/// reads the whole answer, [`stream`](ChatModel::stream) reads server-sent events and asks
/// for token usage at the end. Failures are [`ModelError`]s (inside the boxed error): the
/// model never retries by itself; give the node calling it [`ModelError::retry_policy`].
/// `parallel_tool_calls` is never sent, so the provider's default applies (OpenAI allows
/// parallel calls); `max_tokens` is sent as `max_completion_tokens`.
///
/// The builder reads no environment variables; a `Debug` print never shows the key.
///
/// ```no_run
/// use graph_agent::{ChatModel, ChatRequest, Message, OpenAiModel};
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let model = OpenAiModel::new("gpt-4o-mini")
///     .api_key("sk-...")
///     .timeout(Duration::from_secs(60))
///     .temperature(0.0);
/// let messages = [Message::user("Say hello in French.")];
/// let answer = model.generate(ChatRequest::new(&messages).system("Be brief.")).await?;
/// println!("{}", answer.content);
///
/// // A local Ollama server, through its OpenAI-compatible endpoint.
/// let local = OpenAiModel::new("llama3.2")
///     .base_url("http://localhost:11434/v1")
///     .provider_name("ollama");
/// assert_eq!(local.info().provider, "ollama");
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
#[must_use]
pub struct OpenAiModel {
    model: String,
    base_url: String,
    api_key: Option<String>,
    provider: String,
    dialect: Option<SchemaDialect>,
    temperature: Option<f32>,
    max_tokens: Option<u32>,
    timeout: Duration,
    /// Built on first use, so that the builder cannot fail; shared by clones.
    client: Arc<OnceLock<Result<reqwest::Client, String>>>,
}

impl OpenAiModel {
    /// The model `model` (`gpt-4o-mini`, say) at OpenAI, with no key yet, a 10-minute
    /// timeout and the provider's defaults for temperature and answer length.
    pub fn new(model: impl Into<String>) -> Self {
        Self {
            model: model.into(),
            base_url: OPENAI_BASE_URL.into(),
            api_key: None,
            provider: "openai".into(),
            dialect: None,
            temperature: None,
            max_tokens: None,
            timeout: Duration::from_secs(600),
            client: Arc::default(),
        }
    }

    /// Sends requests to `url` (up to the `/chat/completions` the adapter appends), e.g.
    /// `http://localhost:11434/v1`.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }

    /// Sends `key` as the bearer token; without one no `Authorization` header is sent (local
    /// servers need none).
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// How long to wait. For [`generate`](ChatModel::generate), the whole request: sending,
    /// the answer and its body. For [`stream`](ChatModel::stream), until the response's
    /// headers arrive, then again for each event of the stream (the time between two
    /// events): a long answer that keeps streaming never times out. Ten minutes by default.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The sampling temperature; the provider's default when not set.
    pub fn temperature(mut self, temperature: f32) -> Self {
        self.temperature = Some(temperature);
        self
    }

    /// The most tokens an answer may have (sent as `max_completion_tokens`, which OpenAI's
    /// reasoning models require); the provider's default when not set.
    pub fn max_tokens(mut self, max_tokens: u32) -> Self {
        self.max_tokens = Some(max_tokens);
        self
    }

    /// The provider's name, as [`info`](ChatModel::info) reports it and errors name it
    /// (`anthropic`, `gemini`, `ollama`...); `openai` by default. It also picks the schema
    /// dialect unless [`schema_dialect`](Self::schema_dialect) sets one.
    pub fn provider_name(mut self, provider: impl Into<String>) -> Self {
        self.provider = provider.into();
        self
    }

    /// The JSON-Schema dialect of tool and answer schemas, whatever the provider's name.
    pub fn schema_dialect(mut self, dialect: SchemaDialect) -> Self {
        self.dialect = Some(dialect);
        self
    }

    fn settings(&self) -> Settings {
        Settings {
            model: self.model.clone(),
            temperature: self.temperature,
            max_tokens: self.max_tokens,
            dialect: self.dialect.unwrap_or_else(|| SchemaDialect::for_provider(&self.provider)),
        }
    }

    fn client(&self) -> Result<&reqwest::Client, ModelError> {
        self.client.get_or_init(http_client).as_ref().map_err(|message| ModelError::Connection {
            provider: self.provider.clone(),
            mid_answer: false,
            message: message.clone(),
        })
    }

    fn timed_out(&self) -> ModelError {
        ModelError::Timeout { provider: self.provider.clone(), after: self.timeout }
    }

    /// Posts `body` and returns the response if its status is a success.
    async fn send(
        &self,
        body: &async_openai::types::chat::CreateChatCompletionRequest,
    ) -> Result<reqwest::Response, ModelError> {
        let url = format!("{}/chat/completions", self.base_url.trim_end_matches('/'));
        let mut request = self.client()?.post(url).json(body);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let response =
            request.send().await.map_err(|e| error::transport_error(&self.provider, &e, false))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let headers = response.headers().clone();
        let body = response.bytes().await.unwrap_or_default();
        Err(error::status_error(&self.provider, status.as_u16(), &headers, &body))
    }

    async fn complete(&self, request: ChatRequest<'_>) -> Result<AssistantMessage, ModelError> {
        let body = chat_body(&self.settings(), request, false);
        let call = async {
            let response = self.send(&body).await?;
            let bytes = response
                .bytes()
                .await
                .map_err(|e| error::transport_error(&self.provider, &e, true))?;
            response::decode_completion(&self.provider, &bytes)
        };
        tokio::time::timeout(self.timeout, call).await.map_err(|_| self.timed_out())?
    }
}

/// The adapter's HTTP client.
fn http_client() -> Result<reqwest::Client, String> {
    crate::http::client_builder()?
        .build()
        .map_err(|e| format!("could not build the HTTP client: {e}"))
}

impl fmt::Debug for OpenAiModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiModel")
            .field("model", &self.model)
            .field("provider", &self.provider)
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("dialect", &self.dialect)
            .field("temperature", &self.temperature)
            .field("max_tokens", &self.max_tokens)
            .field("timeout", &self.timeout)
            .finish()
    }
}

#[async_trait]
impl ChatModel for OpenAiModel {
    fn info(&self) -> ModelInfo<'_> {
        ModelInfo { provider: &self.provider, model: &self.model }
    }

    async fn generate(&self, request: ChatRequest<'_>) -> Result<AssistantMessage, BoxError> {
        Ok(self.complete(request).await?)
    }

    fn stream<'a>(
        &'a self,
        request: ChatRequest<'a>,
    ) -> BoxStream<'a, Result<MessageChunk, BoxError>> {
        let body = chat_body(&self.settings(), request, true);
        let opened = async move {
            let response = tokio::time::timeout(self.timeout, self.send(&body))
                .await
                .map_err(|_| self.timed_out())??;
            Ok::<_, ModelError>(Events {
                model: self,
                events: response.bytes_stream().eventsource().boxed(),
                decoder: StreamDecoder::new(&self.provider),
            })
        };
        futures::stream::once(opened)
            .map(|opened| match opened {
                Ok(events) => events.chunks().boxed(),
                Err(error) => futures::stream::once(async move { Err(error) }).boxed(),
            })
            .flatten()
            .map(|chunk| chunk.map_err(BoxError::from))
            .boxed()
    }
}

type EventStream<'a> = BoxStream<
    'a,
    Result<eventsource_stream::Event, eventsource_stream::EventStreamError<reqwest::Error>>,
>;

/// An open event stream and the decoder of its events.
struct Events<'a> {
    model: &'a OpenAiModel,
    events: EventStream<'a>,
    decoder: StreamDecoder,
}

impl<'a> Events<'a> {
    /// The chunks of the answer, ending at the first error.
    fn chunks(self) -> BoxStream<'a, Result<MessageChunk, ModelError>> {
        futures::stream::unfold(Some(self), |state| async move {
            let mut events = state?;
            match events.next_chunk().await {
                Ok(Some(chunk)) => Some((Ok(chunk), Some(events))),
                Ok(None) => None,
                Err(error) => Some((Err(error), None)),
            }
        })
        .boxed()
    }

    /// The next chunk with something in it, the usage chunk at the end, or `None`.
    async fn next_chunk(&mut self) -> Result<Option<MessageChunk>, ModelError> {
        let model = self.model;
        while !self.decoder.is_done() {
            let event = tokio::time::timeout(model.timeout, self.events.next())
                .await
                .map_err(|_| model.timed_out())?;
            let event = match event {
                None => break,
                Some(Ok(event)) => event,
                Some(Err(eventsource_stream::EventStreamError::Transport(e))) => {
                    return Err(error::transport_error(&model.provider, &e, true));
                }
                Some(Err(e)) => {
                    return Err(ModelError::InvalidResponse {
                        provider: model.provider.clone(),
                        message: format!("the event stream is malformed: {e}"),
                    });
                }
            };
            if let Some(chunk) = self.decoder.decode(&event.data)? {
                return Ok(Some(chunk));
            }
        }
        self.decoder.finish()
    }
}
