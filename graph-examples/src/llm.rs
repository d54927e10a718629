//! Stand-ins for language models and tools: small traits a real client can implement, and
//! deterministic implementations with simulated latency for examples and tests.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use graph_core::BoxError;

/// A language model: a prompt in, a completion out.
#[async_trait]
pub trait ChatModel: Send + Sync {
    /// Completes `prompt`.
    async fn complete(&self, prompt: &str) -> Result<String, BoxError>;
}

/// A tool an agent can call.
#[async_trait]
pub trait Tool: Send + Sync {
    /// The tool's name, as a model names it.
    fn name(&self) -> &str;
    /// Runs the tool on `input`.
    async fn call(&self, input: &str) -> Result<String, BoxError>;
}

/// A model that answers from a script: the first rule whose key the prompt contains wins.
#[derive(Debug, Clone)]
pub struct ScriptedModel {
    rules: Vec<(String, String)>,
    fallback: String,
    latency: Duration,
}

impl ScriptedModel {
    /// A model that answers `fallback` to anything, after `latency`.
    pub fn new(fallback: impl Into<String>, latency: Duration) -> Self {
        Self { rules: Vec::new(), fallback: fallback.into(), latency }
    }

    /// Answers `answer` to prompts containing `key`.
    pub fn on(mut self, key: impl Into<String>, answer: impl Into<String>) -> Self {
        self.rules.push((key.into(), answer.into()));
        self
    }
}

#[async_trait]
impl ChatModel for ScriptedModel {
    async fn complete(&self, prompt: &str) -> Result<String, BoxError> {
        tokio::time::sleep(self.latency).await;
        let answer =
            self.rules.iter().find(|(key, _)| prompt.contains(key.as_str())).map(|(_, a)| a);
        Ok(answer.unwrap_or(&self.fallback).clone())
    }
}

/// A tool computed by a plain function, after a simulated latency.
pub struct FnTool {
    name: String,
    latency: Duration,
    run: fn(&str) -> Result<String, String>,
}

impl FnTool {
    /// A tool named `name` that answers with `run` after `latency`.
    pub fn new(
        name: impl Into<String>,
        latency: Duration,
        run: fn(&str) -> Result<String, String>,
    ) -> Self {
        Self { name: name.into(), latency, run }
    }
}

#[async_trait]
impl Tool for FnTool {
    fn name(&self) -> &str {
        &self.name
    }

    async fn call(&self, input: &str) -> Result<String, BoxError> {
        tokio::time::sleep(self.latency).await;
        (self.run)(input).map_err(Into::into)
    }
}

/// Tools by name.
pub type Toolbox = HashMap<String, std::sync::Arc<dyn Tool>>;
