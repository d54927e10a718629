//! Calling a model inside a node: [`ChatModelExt`], which streams the answer when the run's
//! stream wants messages, and [`ChatModelExt::synthesize`], which combines parallel results.

use async_trait::async_trait;
use std::future::Future;

use futures::{StreamExt, TryFutureExt};
use graph_core::{BoxError, NodeContext};

use crate::accumulate::ChunkAccumulator;
use crate::message::{derived_id, AssistantMessage, Message};
use crate::model::{ChatModel, ChatRequest, ModelInfo};
use crate::stream::StreamedMessage;
use crate::telemetry;
use tracing::Instrument;

/// What every [`ChatModel`] can do inside a graph (and out of one).
///
/// ```
/// use graph_agent::testing::ScriptedModel;
/// use graph_agent::{ChatModelExt, ChatRequest, Message};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let model = ScriptedModel::new().text("Paris.");
/// let question = [Message::user("Capital of France?").with_id("q1")];
/// let answer = model.respond_standalone(ChatRequest::new(&question)).await.unwrap();
/// assert_eq!(answer.content, "Paris.");
/// assert!(answer.id.is_some());
/// # });
/// ```
#[async_trait]
pub trait ChatModelExt: ChatModel {
    /// Answers `request` from inside a node, with a deterministic id.
    ///
    /// The answer's id is chosen before the call, from the task's id and attempt, the id of
    /// the request's last message (its text when it has no id), the conversation's length and the
    /// system prompt, so the same run gives the same ids
    /// and a conversation that goes on never reuses one. Two identical requests in one
    /// attempt of a task would get the same id: number them with
    /// [`respond_nth`](Self::respond_nth). When the run's stream wants
    /// [`StreamMode::Messages`](graph_core::StreamMode::Messages), the model is asked to
    /// [`stream`](ChatModel::stream) and every chunk is sent with that id as it arrives (the
    /// node then returns the message, which is not sent again); otherwise the model is asked
    /// once with [`generate`](ChatModel::generate) and nothing is sent.
    async fn respond(
        &self,
        ctx: &NodeContext,
        request: ChatRequest<'_>,
    ) -> Result<AssistantMessage, BoxError> {
        self.respond_nth(ctx, request, 0).await
    }

    /// Like [`respond`](Self::respond), for the `call`-th of several identical requests in
    /// one task (asking the same question several times to vote, say): `call` goes into the
    /// answer's id, so each answer gets its own. `respond` is `respond_nth(ctx, request, 0)`.
    async fn respond_nth(
        &self,
        ctx: &NodeContext,
        request: ChatRequest<'_>,
        call: usize,
    ) -> Result<AssistantMessage, BoxError> {
        let attempt = ctx.attempt().to_string();
        let call = call.to_string();
        let id = answer_id(&[&ctx.task_id().to_string(), &attempt, &call], &request);
        let answer = async {
            if !ctx.streams_messages() {
                return self.generate(request).await;
            }
            let mut chunks = self.stream(request);
            let mut answer = ChunkAccumulator::new();
            while let Some(chunk) = chunks.next().await {
                let mut chunk = chunk?;
                chunk.id = Some(id.clone());
                answer.push(&chunk);
                ctx.send_message(StreamedMessage::chunk_json(chunk)).await;
            }
            Ok(answer.finish()?)
        };
        traced(
            self.info(),
            answer.map_ok(|answer| AssistantMessage { id: Some(id.clone()), ..answer }),
        )
        .await
    }

    /// Answers `request` outside any graph: one [`generate`](ChatModel::generate) call, the
    /// answer given a deterministic id from the request.
    async fn respond_standalone(
        &self,
        request: ChatRequest<'_>,
    ) -> Result<AssistantMessage, BoxError> {
        let id = answer_id(&["standalone"], &request);
        let answer =
            self.generate(request).map_ok(|answer| AssistantMessage { id: Some(id), ..answer });
        traced(self.info(), answer).await
    }

    /// Asks one question outside any conversation: `prompt` as the only user message, the
    /// answer's text back.
    ///
    /// ```
    /// use graph_agent::testing::ScriptedModel;
    /// use graph_agent::ChatModelExt;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let model = ScriptedModel::new().text("Paris.");
    /// assert_eq!(model.ask("Capital of France?").await.unwrap(), "Paris.");
    /// assert_eq!(model.requests()[0].messages[0].content(), "Capital of France?");
    /// # });
    /// ```
    async fn ask(&self, prompt: &str) -> Result<String, BoxError> {
        let messages = [Message::user(prompt)];
        Ok(traced(self.info(), self.generate(ChatRequest::new(&messages))).await?.content)
    }

    /// Combines labelled results into one answer: asks the model, with `instructions` as the
    /// system prompt, one user message listing each part under its label, and returns the
    /// answer's text.
    ///
    /// The message reads `Combine the following results.` then, for each part, a blank line,
    /// `## label` and the text.
    ///
    /// ```
    /// use graph_agent::testing::ScriptedModel;
    /// use graph_agent::ChatModelExt;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let model = ScriptedModel::new().text("Both agree: 42.");
    /// let answer = model
    ///     .synthesize("Answer in one line.", &[("first", "42"), ("second", "forty-two")])
    ///     .await
    ///     .unwrap();
    /// assert_eq!(answer, "Both agree: 42.");
    /// let asked = &model.requests()[0];
    /// assert_eq!(asked.system.as_deref(), Some("Answer in one line."));
    /// assert_eq!(
    ///     asked.messages[0].content(),
    ///     "Combine the following results.\n\n## first\n42\n\n## second\nforty-two"
    /// );
    /// # });
    /// ```
    async fn synthesize(
        &self,
        instructions: &str,
        parts: &[(&str, &str)],
    ) -> Result<String, BoxError> {
        let mut prompt = String::from("Combine the following results.");
        for (label, text) in parts {
            prompt.push_str("\n\n## ");
            prompt.push_str(label);
            prompt.push('\n');
            prompt.push_str(text);
        }
        let messages = [Message::user(prompt)];
        let request = ChatRequest::new(&messages).system(instructions);
        Ok(traced(self.info(), self.generate(request)).await?.content)
    }
}

impl<M: ChatModel + ?Sized> ChatModelExt for M {}

/// Runs one model call inside its GenAI span and records the answer there.
async fn traced(
    model: ModelInfo<'_>,
    call: impl Future<Output = Result<AssistantMessage, BoxError>>,
) -> Result<AssistantMessage, BoxError> {
    let span = telemetry::chat_span(model);
    let answer = call.instrument(span.clone()).await;
    telemetry::record_answer(&span, &answer);
    answer
}

/// The id of the answer to `request`: `scope`, the conversation's length and its last
/// message (its id, or its text when it has none), so calls of one task with different
/// conversations get different ids, at a cost that does not grow with the history.
fn answer_id(scope: &[&str], request: &ChatRequest<'_>) -> String {
    let last = request.messages.last();
    let last = match last.and_then(Message::id) {
        Some(id) => id,
        None => last.map_or("", Message::content),
    };
    let length = request.messages.len().to_string();
    let mut parts = scope.to_vec();
    parts.extend([length.as_str(), last, request.system.unwrap_or("")]);
    derived_id(&parts)
}

#[cfg(all(test, feature = "test-util"))]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::testing::ScriptedModel;

    #[tokio::test]
    async fn a_shared_model_behind_dyn_answers_with_a_stable_id() {
        async fn ask(question_id: &str) -> AssistantMessage {
            let model: Arc<dyn ChatModel> = Arc::new(ScriptedModel::new().text("hello"));
            let messages = [Message::user("hi").with_id(question_id)];
            model.respond_standalone(ChatRequest::new(&messages)).await.unwrap()
        }
        let a = ask("u1").await;
        let b = ask("u1").await;
        assert_eq!((a.content.as_str(), &a.id), ("hello", &b.id));
        assert_ne!(ask("u2").await.id, a.id);
    }
}
