//! Test doubles for agent graphs: [`ScriptedModel`], a model that answers from a script, and
//! [`FakeTool`], a tool with a fixed or computed result. Enabled by the `test-util` feature.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::{self, BoxStream, StreamExt};
use graph_core::BoxError;

use crate::message::{AssistantMessage, Message, ToolCall};
use crate::model::{
    ChatModel, ChatRequest, MessageChunk, ModelInfo, ResponseFormat, ToolCallChunk,
};
use crate::tool::{Tool, ToolContext};

/// One answer of a [`ScriptedModel`]: a message (text, tool calls or both) or an error, and
/// how it is split when streamed.
#[derive(Debug, Clone)]
pub struct Turn {
    answer: Result<AssistantMessage, String>,
    text_pieces: Option<Vec<String>>,
    args_piece_len: Option<usize>,
}

impl Turn {
    /// A text answer.
    pub fn text(text: impl Into<String>) -> Self {
        Self::message(AssistantMessage { content: text.into(), ..Default::default() })
    }

    /// An answer calling `calls`, without text.
    pub fn tool_calls(calls: impl IntoIterator<Item = ToolCall>) -> Self {
        Self::message(AssistantMessage {
            tool_calls: calls.into_iter().collect(),
            ..Default::default()
        })
    }

    /// The answer `message`, as it is.
    pub fn message(message: AssistantMessage) -> Self {
        Self { answer: Ok(message), text_pieces: None, args_piece_len: None }
    }

    /// A failed call, with `message` as its error.
    pub fn error(message: impl Into<String>) -> Self {
        Self { answer: Err(message.into()), text_pieces: None, args_piece_len: None }
    }

    /// Streams the text as `pieces`, one chunk each (they should make up the text).
    pub fn pieces<I: IntoIterator<Item = P>, P: Into<String>>(mut self, pieces: I) -> Self {
        self.text_pieces = Some(pieces.into_iter().map(Into::into).collect());
        self
    }

    /// Streams the text word by word: each chunk is a word with the spaces before it.
    pub fn words(mut self) -> Self {
        let text = self.answer.as_ref().map(|m| m.content.clone()).unwrap_or_default();
        let mut pieces = Vec::new();
        let mut current = String::new();
        for ch in text.chars() {
            let word_ended = current.chars().last().is_some_and(|c| !c.is_whitespace());
            if ch.is_whitespace() && word_ended {
                pieces.push(std::mem::take(&mut current));
            }
            current.push(ch);
        }
        if !current.is_empty() {
            pieces.push(current);
        }
        self.text_pieces = Some(pieces);
        self
    }

    /// Streams each tool call's JSON arguments in pieces of at most `len` characters (the
    /// first piece also carries the call's id and name).
    pub fn args_in_pieces_of(mut self, len: usize) -> Self {
        self.args_piece_len = Some(len.max(1));
        self
    }

    /// The chunks this turn streams: text pieces, then each call's pieces, in order.
    fn chunks(&self, answer: &AssistantMessage) -> Vec<MessageChunk> {
        if self.text_pieces.is_none() && self.args_piece_len.is_none() {
            return vec![MessageChunk::from(answer.clone())];
        }
        let mut chunks: Vec<MessageChunk> = match &self.text_pieces {
            Some(pieces) => pieces
                .iter()
                .map(|piece| MessageChunk { content: piece.clone(), ..Default::default() })
                .collect(),
            None if answer.content.is_empty() => Vec::new(),
            None => vec![MessageChunk { content: answer.content.clone(), ..Default::default() }],
        };
        for (index, call) in answer.tool_calls.iter().enumerate() {
            let args: Vec<char> = call.args.to_string().chars().collect();
            let len = self.args_piece_len.unwrap_or(args.len().max(1));
            for (n, piece) in args.chunks(len).enumerate() {
                chunks.push(MessageChunk {
                    tool_calls: vec![ToolCallChunk {
                        index,
                        id: (n == 0).then(|| call.id.clone()),
                        name: (n == 0).then(|| call.name.clone()),
                        args: piece.iter().collect(),
                    }],
                    ..Default::default()
                });
            }
        }
        if let Some(last) = chunks.last_mut() {
            last.usage = answer.usage;
            last.stop_reason.clone_from(&answer.stop_reason);
        }
        chunks
    }
}

/// How a [`ScriptedModel`] was called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    /// With [`ChatModel::generate`].
    Generate,
    /// With [`ChatModel::stream`].
    Stream,
}

/// A request a [`ScriptedModel`] received.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    /// How it was called.
    pub kind: CallKind,
    /// The system prompt.
    pub system: Option<String>,
    /// The conversation.
    pub messages: Vec<Message>,
    /// The names of the tools offered.
    pub tools: Vec<String>,
    /// The shape asked of a structured answer.
    pub response_format: Option<ResponseFormat>,
}

/// The error of a [`ScriptedModel`] called more times than its script has turns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the scripted model was called {calls} times but its script has {turns} turns")]
pub struct ScriptExhausted {
    /// Calls made, this one included.
    pub calls: usize,
    /// Turns in the script.
    pub turns: usize,
}

/// A model that answers turn by turn from a script, waits a simulated latency (tokio time,
/// exact under a paused clock) and records every request.
///
/// ```
/// use graph_agent::testing::{CallKind, ScriptedModel, Turn};
/// use graph_agent::{ChatModel, ChatRequest, Message, ToolCall};
/// use serde_json::json;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let model = ScriptedModel::new()
///     .turn(Turn::tool_calls([ToolCall::new("c1", "weather", json!({"city": "Oslo"}))]))
///     .text("It is 3°C in Oslo.");
/// let question = [Message::user("Weather in Oslo?")];
/// let first = model.generate(ChatRequest::new(&question)).await.unwrap();
/// assert_eq!(first.tool_calls[0].name, "weather");
/// let second = model.generate(ChatRequest::new(&question)).await.unwrap();
/// assert_eq!(second.content, "It is 3°C in Oslo.");
/// let third = model.generate(ChatRequest::new(&question)).await.unwrap_err();
/// assert_eq!(third.to_string(), "the scripted model was called 3 times but its script has 2 turns");
/// assert_eq!(model.requests()[1].kind, CallKind::Generate);
/// # });
/// ```
#[derive(Debug, Default)]
pub struct ScriptedModel {
    turns: Mutex<VecDeque<Turn>>,
    scripted: usize,
    calls: AtomicUsize,
    requests: Mutex<Vec<RecordedRequest>>,
    latency: Duration,
    chunk_latency: Duration,
    unrecorded: bool,
    cycles: bool,
    /// Answers by what the last message says, tried before the script.
    rules: Vec<(String, Turn)>,
    /// The model's name in traces; `scripted` when empty.
    name: String,
}

impl ScriptedModel {
    /// A model with an empty script and no latency, recording its requests.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stops recording requests (for benchmarks: recording copies each conversation).
    /// [`requests`](Self::requests) is then empty; [`calls`](Self::calls) still counts.
    pub fn without_recording(mut self) -> Self {
        self.unrecorded = true;
        self
    }

    /// Names the model `name` in traces (provider `scripted`); `scripted` by default.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Plays the script again from its first turn when it runs out, forever.
    pub fn cycling(mut self) -> Self {
        self.cycles = true;
        self
    }

    /// Answers `text` whenever the request's last message contains `key`, whatever the
    /// script says: for calls made in parallel, whose order the script cannot know. The
    /// first matching rule wins; a call no rule matches takes the script's next turn.
    ///
    /// ```
    /// use graph_agent::testing::ScriptedModel;
    /// use graph_agent::{ChatModelExt};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let model = ScriptedModel::new().on("French", "bonjour").on("German", "hallo").text("?").cycling();
    /// assert_eq!(model.ask("say hello in German").await.unwrap(), "hallo");
    /// assert_eq!(model.ask("say hello in French").await.unwrap(), "bonjour");
    /// assert_eq!(model.ask("say hello in Welsh").await.unwrap(), "?");
    /// # });
    /// ```
    pub fn on(mut self, key: impl Into<String>, text: impl Into<String>) -> Self {
        self.rules.push((key.into(), Turn::text(text)));
        self
    }

    /// Adds `turn` to the script.
    pub fn turn(mut self, turn: Turn) -> Self {
        self.turns.get_mut().expect("not poisoned").push_back(turn);
        self.scripted += 1;
        self
    }

    /// Adds a text answer, streamed as one chunk.
    pub fn text(self, text: impl Into<String>) -> Self {
        self.turn(Turn::text(text))
    }

    /// Adds a text answer streamed word by word.
    pub fn streamed_words(self, text: impl Into<String>) -> Self {
        self.turn(Turn::text(text).words())
    }

    /// Adds an answer calling `calls` (several at once, if more than one).
    pub fn tool_calls(self, calls: impl IntoIterator<Item = ToolCall>) -> Self {
        self.turn(Turn::tool_calls(calls))
    }

    /// Adds a failed call.
    pub fn error(self, message: impl Into<String>) -> Self {
        self.turn(Turn::error(message))
    }

    /// Waits `latency` at the start of every call.
    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// Waits `latency` before every streamed chunk.
    pub fn chunk_latency(mut self, latency: Duration) -> Self {
        self.chunk_latency = latency;
        self
    }

    /// The requests received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.requests.lock().expect("not poisoned").clone()
    }

    /// How many calls were made.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// Turns left in the script.
    pub fn remaining(&self) -> usize {
        self.turns.lock().expect("not poisoned").len()
    }

    /// Records `request` and takes the next turn.
    fn next(&self, kind: CallKind, request: &ChatRequest<'_>) -> Result<Turn, ScriptExhausted> {
        if !self.unrecorded {
            self.requests.lock().expect("not poisoned").push(RecordedRequest {
                kind,
                system: request.system.map(str::to_owned),
                messages: request.messages.to_vec(),
                tools: request.tools.iter().map(|t| t.name.clone()).collect(),
                response_format: request.response_format.cloned(),
            });
        }
        let calls = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let said = request.messages.last().map_or("", Message::content);
        if let Some((_, turn)) = self.rules.iter().find(|(key, _)| said.contains(key.as_str())) {
            return Ok(turn.clone());
        }
        let mut turns = self.turns.lock().expect("not poisoned");
        let turn = turns.pop_front().ok_or(ScriptExhausted { calls, turns: self.scripted })?;
        if self.cycles {
            turns.push_back(turn.clone());
        }
        Ok(turn)
    }
}

async fn wait(latency: Duration) {
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
}

#[async_trait]
impl ChatModel for ScriptedModel {
    fn info(&self) -> ModelInfo<'_> {
        let model = if self.name.is_empty() { "scripted" } else { &self.name };
        ModelInfo { provider: "scripted", model }
    }

    async fn generate(&self, request: ChatRequest<'_>) -> Result<AssistantMessage, BoxError> {
        let turn = self.next(CallKind::Generate, &request);
        wait(self.latency).await;
        Ok(turn?.answer?)
    }

    fn stream<'a>(
        &'a self,
        request: ChatRequest<'a>,
    ) -> BoxStream<'a, Result<MessageChunk, BoxError>> {
        let turn = self.next(CallKind::Stream, &request);
        let chunks: Vec<Result<MessageChunk, BoxError>> = match turn {
            Err(error) => vec![Err(error.into())],
            Ok(turn) => match &turn.answer {
                Err(error) => vec![Err(error.clone().into())],
                Ok(answer) => turn.chunks(answer).into_iter().map(Ok).collect(),
            },
        };
        let first = self.latency;
        let each = self.chunk_latency;
        let mut chunks = Some(chunks);
        stream::once(wait(first))
            .flat_map(move |()| stream::iter(chunks.take().unwrap_or_default()))
            .then(move |chunk| async move {
                wait(each).await;
                chunk
            })
            .boxed()
    }
}

type Behaviour = Arc<dyn Fn(&serde_json::Value) -> Result<String, String> + Send + Sync>;

/// A tool with a fixed or computed result, a simulated latency and a call counter shared by
/// its clones (keep a clone to count the calls of one given to a toolbox).
///
/// ```
/// use graph_agent::testing::FakeTool;
/// use graph_agent::{Tool, ToolContext};
/// use serde_json::json;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let tool = FakeTool::new("weather").computed(|args| Ok(format!("sunny in {}", args["city"])));
/// let out = tool.call(json!({"city": "Rome"}), &ToolContext::new("c1")).await.unwrap();
/// assert_eq!(out, "sunny in \"Rome\"");
/// assert_eq!(tool.calls(), 1);
/// # });
/// ```
#[derive(Clone)]
pub struct FakeTool {
    name: String,
    description: String,
    parameters: serde_json::Value,
    latency: Duration,
    behaviour: Behaviour,
    calls: Arc<AtomicUsize>,
}

impl std::fmt::Debug for FakeTool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeTool")
            .field("name", &self.name)
            .field("latency", &self.latency)
            .field("calls", &self.calls())
            .finish_non_exhaustive()
    }
}

impl FakeTool {
    /// A tool `name` that answers `ok`, takes any object and has no latency.
    pub fn new(name: impl Into<String>) -> Self {
        let name = name.into();
        Self {
            description: format!("The fake tool `{name}`."),
            name,
            parameters: serde_json::json!({"type": "object"}),
            latency: Duration::ZERO,
            behaviour: Arc::new(|_| Ok("ok".to_owned())),
            calls: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The same tool described as `description`.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// The same tool with `schema` as its arguments' JSON Schema.
    pub fn parameters(mut self, schema: serde_json::Value) -> Self {
        self.parameters = schema;
        self
    }

    /// The same tool, waiting `latency` on each call.
    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// The same tool, always answering `output`.
    pub fn output(mut self, output: impl Into<String>) -> Self {
        let output = output.into();
        self.behaviour = Arc::new(move |_| Ok(output.clone()));
        self
    }

    /// The same tool, answering what `f` makes of the arguments (an `Err` fails the call).
    pub fn computed(
        mut self,
        f: impl Fn(&serde_json::Value) -> Result<String, String> + Send + Sync + 'static,
    ) -> Self {
        self.behaviour = Arc::new(f);
        self
    }

    /// The same tool, always failing with `error`.
    pub fn failing(mut self, error: impl Into<String>) -> Self {
        let error = error.into();
        self.behaviour = Arc::new(move |_| Err(error.clone()));
        self
    }

    /// Calls made so far, by this tool and its clones.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Tool for FakeTool {
    type Args = serde_json::Value;
    type Output = String;

    fn name(&self) -> &str {
        &self.name
    }

    fn description(&self) -> &str {
        &self.description
    }

    fn parameters(&self) -> serde_json::Value {
        self.parameters.clone()
    }

    async fn call(&self, args: serde_json::Value, _ctx: &ToolContext) -> Result<String, BoxError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        wait(self.latency).await;
        (self.behaviour)(&args).map_err(Into::into)
    }
}
