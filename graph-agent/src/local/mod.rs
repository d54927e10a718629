//! A small GGUF model run in-process through llama.cpp: [`LocalModel`], another
//! [`ChatModel`].
//!
//! No server and no key: the model file is loaded into this process and the answer is
//! generated on a blocking thread, streamed as text pieces. With tools, the sampler is
//! constrained by a grammar built from the tools' JSON Schemas, so a forced call is always a
//! well-formed call to an offered tool with arguments of the right shape; see [`ToolChoice`]
//! for when a call is forced. A structured answer ([`ResponseFormat`](crate::ResponseFormat))
//! is constrained the same way.
//!
//! ```no_run
//! use futures::StreamExt;
//! use graph_agent::local::{LocalModel, ToolChoice};
//! use graph_agent::{ChatModel, ChatRequest, Message};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let model = LocalModel::load("SmolLM2-135M-Instruct.Q4_1.gguf")?
//!     .max_tokens(64)
//!     .tool_choice(ToolChoice::None);
//! let messages = [Message::user("Name a colour.")];
//! let mut answer = model.stream(ChatRequest::new(&messages));
//! while let Some(chunk) = answer.next().await {
//!     print!("{}", chunk?.content);
//! }
//! # Ok(())
//! # }
//! ```

mod choice;
mod engine;
mod error;
mod prompt;
mod tool_grammar;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::{self, BoxStream, StreamExt};
use graph_core::BoxError;

pub use choice::ToolChoice;
pub use error::LocalModelError;

use crate::accumulate::ChunkAccumulator;
use crate::message::{AssistantMessage, StopReason, Usage};
use crate::model::{ChatModel, ChatRequest, MessageChunk, ModelInfo, ToolCallChunk};
use crate::tool::ToolSpec;
use choice::AnswerMode;
use engine::{Engine, Event, Settings};

/// A GGUF chat model run in-process by llama.cpp, on the CPU.
///
/// Loading reads the file once; clones share it, so one loaded model can serve several
/// settings (a forced tool choice here, free text there). Answers are generated one at a time
/// per loaded model. By default: a 2048-token context, all cores, at most 256 tokens per
/// answer, temperature 0 (greedy, so the same request gets the same answer), parallel tool
/// calls allowed and [`ToolChoice::Auto`].
#[derive(Debug, Clone)]
pub struct LocalModel {
    engine: Arc<Engine>,
    name: Arc<str>,
    settings: Settings,
    tool_choice: ToolChoice,
    parallel_tool_calls: bool,
}

impl LocalModel {
    /// Loads the GGUF model at `path` (blocking: it reads the file). Its name, for
    /// [`ChatModel::info`], is the file's stem.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, LocalModelError> {
        let path = path.as_ref();
        let engine = Engine::load(path)?;
        let name = path.file_stem().map(|stem| stem.to_string_lossy()).unwrap_or_default();
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(Self {
            engine: Arc::new(engine),
            name: name.into(),
            settings: Settings {
                context_size: 2048,
                threads: i32::try_from(threads).unwrap_or(i32::MAX),
                max_tokens: 256,
                seed: 0,
                temperature: 0.0,
            },
            tool_choice: ToolChoice::Auto,
            parallel_tool_calls: true,
        })
    }

    /// The context window in tokens: prompt and answer together.
    #[must_use]
    pub fn context_size(mut self, tokens: u32) -> Self {
        self.settings.context_size = tokens.max(1);
        self
    }

    /// CPU threads that run the model.
    #[must_use]
    pub fn threads(mut self, threads: usize) -> Self {
        self.settings.threads = i32::try_from(threads.max(1)).unwrap_or(i32::MAX);
        self
    }

    /// The most tokens one answer may have; an answer cut there stops with
    /// [`StopReason::MaxTokens`].
    #[must_use]
    pub fn max_tokens(mut self, tokens: u32) -> Self {
        self.settings.max_tokens = tokens;
        self
    }

    /// The sampling temperature; 0 (the default) always picks the likeliest token.
    #[must_use]
    pub fn temperature(mut self, temperature: f32) -> Self {
        self.settings.temperature = temperature;
        self
    }

    /// The seed of the sampler at a temperature above 0.
    #[must_use]
    pub fn seed(mut self, seed: u32) -> Self {
        self.settings.seed = seed;
        self
    }

    /// Whether the model must call a tool when the request offers tools.
    #[must_use]
    pub fn tool_choice(mut self, choice: ToolChoice) -> Self {
        self.tool_choice = choice;
        self
    }

    /// Whether a tool-call answer may be a JSON array of calls instead of one call: at most
    /// one call per offered tool (and eight), repeated identical calls dropped. On by default.
    #[must_use]
    pub fn parallel_tool_calls(mut self, allowed: bool) -> Self {
        self.parallel_tool_calls = allowed;
        self
    }

    /// Everything the blocking thread needs, prepared before it starts.
    fn prepare(&self, request: &ChatRequest<'_>) -> Result<Job, LocalModelError> {
        let mode = self.tool_choice.mode(request);
        let schema = match (&mode, request.response_format) {
            (AnswerMode::Text, Some(format)) => Some(format.schema.to_string()),
            _ => tool_grammar::answer_schema(&mode, request.tools, self.parallel_tool_calls)?,
        };
        let grammar = schema.as_deref().map(tool_grammar::grammar).transpose()?;
        let prompt = self.engine.render(&prompt::turns(request))?;
        let calls = (mode != AnswerMode::Text).then(|| request.tools.to_vec());
        Ok(Job { id_base: call_id_base(&prompt), prompt, grammar, calls })
    }
}

/// One answer to generate.
struct Job {
    prompt: String,
    grammar: Option<String>,
    /// The offered tools when the answer is tool calls; `None` for text.
    calls: Option<Vec<ToolSpec>>,
    id_base: String,
}

#[async_trait]
impl ChatModel for LocalModel {
    fn info(&self) -> ModelInfo<'_> {
        ModelInfo { provider: "llama.cpp", model: &self.name }
    }

    async fn generate(&self, request: ChatRequest<'_>) -> Result<AssistantMessage, BoxError> {
        let mut answer = ChunkAccumulator::new();
        let mut chunks = self.stream(request);
        while let Some(chunk) = chunks.next().await {
            answer.push(&chunk?);
        }
        Ok(answer.finish()?)
    }

    /// Text answers stream piece by piece; a tool-call answer comes as one chunk with all its
    /// calls once the JSON is complete. The last chunk carries usage and the stop reason.
    fn stream<'a>(
        &'a self,
        request: ChatRequest<'a>,
    ) -> BoxStream<'a, Result<MessageChunk, BoxError>> {
        let job = match self.prepare(&request) {
            Ok(job) => job,
            Err(error) => return stream::once(async move { Err(error.into()) }).boxed(),
        };
        let (sender, receiver) = tokio::sync::mpsc::channel(64);
        let engine = Arc::clone(&self.engine);
        let settings = self.settings;
        let prompt = job.prompt;
        let grammar = job.grammar;
        tokio::task::spawn_blocking(move || {
            let outcome = engine.generate(&prompt, grammar.as_deref(), settings, &mut |event| {
                sender.blocking_send(Ok(event)).is_ok()
            });
            if let Err(error) = outcome {
                let _ = sender.blocking_send(Err(error));
            }
        });
        let events = stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|event| (event, receiver))
        });
        let mut answer = Answer {
            calls: job.calls,
            text: String::new(),
            max_tokens: settings.max_tokens,
            id_base: job.id_base,
        };
        events.filter_map(move |event| std::future::ready(answer.chunk(event).transpose())).boxed()
    }
}

/// Turns engine events into chunks: text passes through, tool-call JSON is held until the end.
struct Answer {
    calls: Option<Vec<ToolSpec>>,
    text: String,
    max_tokens: u32,
    id_base: String,
}

impl Answer {
    fn chunk(
        &mut self,
        event: Result<Event, LocalModelError>,
    ) -> Result<Option<MessageChunk>, BoxError> {
        let (usage, hit_max_tokens) = match event? {
            Event::Piece(piece) if self.calls.is_some() => {
                self.text.push_str(&piece);
                return Ok(None);
            }
            Event::Piece(content) => {
                return Ok(Some(MessageChunk { content, ..Default::default() }))
            }
            Event::Finished { prompt_tokens, generated_tokens, hit_max_tokens } => (
                Usage { input_tokens: prompt_tokens, output_tokens: generated_tokens },
                hit_max_tokens,
            ),
        };
        let mut last = MessageChunk { usage: Some(usage), ..Default::default() };
        let Some(tools) = &self.calls else {
            last.stop_reason =
                Some(if hit_max_tokens { StopReason::MaxTokens } else { StopReason::EndTurn });
            return Ok(Some(last));
        };
        if hit_max_tokens {
            let text = std::mem::take(&mut self.text);
            return Err(
                LocalModelError::TruncatedToolCall { max_tokens: self.max_tokens, text }.into()
            );
        }
        let calls = tool_grammar::parse_calls(&self.text, tools)?;
        last.tool_calls = calls
            .into_iter()
            .enumerate()
            .map(|(index, (name, args))| ToolCallChunk {
                index,
                id: Some(format!("call_{}_{index}", self.id_base)),
                name: Some(name),
                args: args.to_string(),
            })
            .collect();
        last.stop_reason = Some(StopReason::ToolCalls);
        Ok(Some(last))
    }
}

/// The start of call ids, derived from the prompt: the same request gets the same ids (as it
/// gets the same answer at temperature 0), a later turn of the conversation new ones.
fn call_id_base(prompt: &str) -> String {
    const NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x3b8e_61f2_0c4d_4a97_8f15_d2a6_7c9e_41b0);
    uuid::Uuid::new_v5(&NAMESPACE, prompt.as_bytes()).simple().to_string()[..12].to_owned()
}
