//! Why a local model failed: [`LocalModelError`].

use std::path::PathBuf;

use graph_core::BoxError;

/// A failure of a [`LocalModel`](super::LocalModel): loading the file, preparing the prompt or
/// the grammar, or running the model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LocalModelError {
    /// llama.cpp could not be set up in this process.
    #[error("llama.cpp could not be initialised: {0}")]
    Backend(String),
    /// The model file could not be loaded.
    #[error("could not load the model {}: {source}", path.display())]
    Load {
        /// The file.
        path: PathBuf,
        /// What llama.cpp said.
        #[source]
        source: BoxError,
    },
    /// The forced tool choice names a tool the request does not offer.
    #[error("the tool choice names `{name}`, which is not among the request's tools")]
    UnknownTool {
        /// The name asked for.
        name: String,
    },
    /// A tool is forced but the request offers no tools.
    #[error("a tool call is required but the request offers no tools")]
    NoTools,
    /// The prompt and the answer's token budget do not fit in the context window.
    #[error("the prompt has {prompt_tokens} tokens; with {max_tokens} more for the answer it does not fit the context of {context_size} tokens")]
    ContextOverflow {
        /// Tokens of the prompt.
        prompt_tokens: usize,
        /// Tokens allowed for the answer.
        max_tokens: u32,
        /// The context window.
        context_size: u32,
    },
    /// A tool's parameter schema (or the response format) could not be turned into a grammar.
    #[error("could not build the grammar that constrains the answer: {0}")]
    Grammar(String),
    /// The chat template could not render the conversation.
    #[error("could not render the conversation with the model's chat template: {0}")]
    Template(String),
    /// The model ran out of tokens in the middle of a tool call.
    #[error(
        "the answer hit the limit of {max_tokens} tokens in the middle of a tool call: {text}"
    )]
    TruncatedToolCall {
        /// The token limit.
        max_tokens: u32,
        /// What was written so far.
        text: String,
    },
    /// The constrained answer is not the tool-call JSON the grammar describes.
    #[error("the model's tool call is not valid: {reason}: {text}")]
    InvalidToolCall {
        /// What is wrong with it.
        reason: String,
        /// The model's text.
        text: String,
    },
    /// llama.cpp failed while running the model.
    #[error("inference failed: {0}")]
    Inference(String),
}
