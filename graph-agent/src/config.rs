//! Models from a string: [`init_model`] reads `provider:model` (such as `openai:gpt-4o-mini`)
//! and the provider's usual environment variables.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use crate::model::ChatModel;
use crate::openai::{OpenAiModel, SchemaDialect};

/// The providers [`init_model`] knows, as `provider:` prefixes.
pub const PROVIDERS: &[&str] = &["openai", "anthropic", "gemini", "ollama"];

/// A model named by a string, before it is connected: the provider, the model's name, and
/// the base URL and key when given here rather than by the environment.
///
/// ```
/// use graph_agent::ModelSpec;
///
/// let spec: ModelSpec = "ollama:llama3.2".parse().unwrap();
/// assert_eq!(spec.provider(), "ollama");
/// assert_eq!(spec.model(), "llama3.2");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ModelSpec {
    provider: Provider,
    model: String,
    base_url: Option<String>,
    api_key: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Provider {
    OpenAi,
    Anthropic,
    Gemini,
    Ollama,
}

/// Where each provider is and how it is reached. All four speak the OpenAI chat-completions
/// dialect (Anthropic and Gemini through their OpenAI-compatible endpoints).
struct Endpoint {
    name: &'static str,
    /// The variable holding the key; `None` when the server needs none.
    key_var: Option<&'static str>,
    /// The variable that points to another server of the same kind.
    url_var: &'static str,
    default_url: &'static str,
    dialect: SchemaDialect,
}

impl Provider {
    fn endpoint(self) -> Endpoint {
        match self {
            Provider::OpenAi => Endpoint {
                name: "openai",
                key_var: Some("OPENAI_API_KEY"),
                url_var: "OPENAI_BASE_URL",
                default_url: "https://api.openai.com/v1",
                dialect: SchemaDialect::OpenAiStrict,
            },
            Provider::Anthropic => Endpoint {
                name: "anthropic",
                key_var: Some("ANTHROPIC_API_KEY"),
                url_var: "ANTHROPIC_BASE_URL",
                default_url: "https://api.anthropic.com/v1",
                dialect: SchemaDialect::Plain,
            },
            Provider::Gemini => Endpoint {
                name: "gemini",
                key_var: Some("GEMINI_API_KEY"),
                url_var: "GEMINI_BASE_URL",
                default_url: "https://generativelanguage.googleapis.com/v1beta/openai",
                dialect: SchemaDialect::Gemini,
            },
            Provider::Ollama => Endpoint {
                name: "ollama",
                key_var: None,
                url_var: "OLLAMA_HOST",
                default_url: "http://localhost:11434",
                dialect: SchemaDialect::Plain,
            },
        }
    }
}

impl ModelSpec {
    /// The provider's name, one of [`PROVIDERS`].
    pub fn provider(&self) -> &'static str {
        self.provider.endpoint().name
    }

    /// The model's name as the provider knows it.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// The same spec sending to `url` (an OpenAI-compatible server's `/v1` URL, say) instead
    /// of the provider's default or its URL variable.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// The same spec with `key` instead of the provider's key variable.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// The model, its URL and key taken from this spec, else from the environment.
    pub fn connect(self) -> Result<Arc<dyn ChatModel>, ModelConfigError> {
        self.connect_with(|var| std::env::var(var).ok().filter(|value| !value.is_empty()))
    }

    /// Like [`connect`](Self::connect), reading variables through `env` (for tests, or a
    /// configuration of your own).
    ///
    /// A key is required unless the URL was changed: a local OpenAI-compatible server (a
    /// llama.cpp server, vLLM, LM Studio) usually needs none.
    pub fn connect_with(
        self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Arc<dyn ChatModel>, ModelConfigError> {
        let endpoint = self.provider.endpoint();
        let custom_url = self.base_url.or_else(|| env(endpoint.url_var));
        let api_key = self.api_key.or_else(|| endpoint.key_var.and_then(&env));
        if api_key.is_none() && custom_url.is_none() {
            if let Some(var) = endpoint.key_var {
                let (provider, model) = (endpoint.name, self.model);
                return Err(ModelConfigError::MissingKey {
                    provider,
                    model,
                    var,
                    url_var: endpoint.url_var,
                });
            }
        }
        let base_url = match (self.provider, custom_url) {
            // Ollama's variable names the host; its OpenAI-compatible API lives under /v1.
            (Provider::Ollama, url) => {
                format!(
                    "{}/v1",
                    url.as_deref().unwrap_or(endpoint.default_url).trim_end_matches('/')
                )
            }
            (_, Some(url)) => url,
            (_, None) => endpoint.default_url.to_owned(),
        };
        let mut model = OpenAiModel::new(self.model)
            .base_url(base_url)
            .provider_name(endpoint.name)
            .schema_dialect(endpoint.dialect);
        if let Some(key) = api_key {
            model = model.api_key(key);
        }
        Ok(Arc::new(model))
    }
}

/// Connects the model named by `spec`, `provider:model`, with its key from the provider's
/// usual environment variable.
///
/// | spec | key | another server |
/// |---|---|---|
/// | `openai:gpt-4o-mini` | `OPENAI_API_KEY` | `OPENAI_BASE_URL` (any OpenAI-compatible server; then no key is needed) |
/// | `anthropic:claude-sonnet-4-5` | `ANTHROPIC_API_KEY` | `ANTHROPIC_BASE_URL` |
/// | `gemini:gemini-2.5-flash` | `GEMINI_API_KEY` | `GEMINI_BASE_URL` |
/// | `ollama:llama3.2` | none | `OLLAMA_HOST` (default `http://localhost:11434`) |
///
/// Every provider is reached through its OpenAI-compatible chat-completions API with
/// [`OpenAiModel`], which cleans tool schemas for the provider's dialect.
///
/// ```
/// use graph_agent::{init_model, ModelConfigError};
///
/// match init_model("anthropic:claude-sonnet-4-5") {
///     Ok(model) => assert_eq!(model.info().provider, "anthropic"),
///     Err(error) => assert!(error.to_string().contains("ANTHROPIC_API_KEY")),
/// }
/// assert!(matches!(init_model("gpt-4o"), Err(ModelConfigError::NoProvider { .. })));
/// ```
pub fn init_model(spec: &str) -> Result<Arc<dyn ChatModel>, ModelConfigError> {
    spec.parse::<ModelSpec>()?.connect()
}

impl FromStr for ModelSpec {
    type Err = ModelConfigError;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let Some((provider, model)) = spec.split_once(':') else {
            return Err(ModelConfigError::NoProvider { spec: spec.to_owned() });
        };
        let provider = match provider {
            "openai" => Provider::OpenAi,
            "anthropic" => Provider::Anthropic,
            "gemini" | "google" => Provider::Gemini,
            "ollama" => Provider::Ollama,
            _ => return Err(ModelConfigError::UnknownProvider { spec: spec.to_owned() }),
        };
        if model.trim().is_empty() {
            return Err(ModelConfigError::NoModel { spec: spec.to_owned() });
        }
        Ok(Self { provider, model: model.to_owned(), base_url: None, api_key: None })
    }
}

impl fmt::Debug for ModelSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModelSpec")
            .field("provider", &self.provider())
            .field("model", &self.model)
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Why a model string could not be connected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ModelConfigError {
    /// The string has no `provider:` prefix.
    #[error("model {spec:?} names no provider: write provider:model, with provider one of {PROVIDERS:?}")]
    NoProvider {
        /// The string given.
        spec: String,
    },
    /// The prefix is not a known provider.
    #[error("model {spec:?} names an unknown provider: use one of {PROVIDERS:?} (any OpenAI-compatible server: openai with OPENAI_BASE_URL)")]
    UnknownProvider {
        /// The string given.
        spec: String,
    },
    /// Nothing follows the prefix.
    #[error("model {spec:?} names no model after the provider")]
    NoModel {
        /// The string given.
        spec: String,
    },
    /// The provider needs a key and its variable is not set.
    #[error("{provider}:{model} needs an API key: set {var} (or {url_var} to a compatible server that needs none)")]
    MissingKey {
        /// The provider.
        provider: &'static str,
        /// The model asked for.
        model: String,
        /// The variable that holds the key.
        var: &'static str,
        /// The variable that points to another server.
        url_var: &'static str,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| vars.iter().find(|(var, _)| *var == name).map(|(_, value)| (*value).to_owned())
    }

    fn connect(spec: &str, vars: &[(&str, &str)]) -> Result<String, ModelConfigError> {
        let model = spec.parse::<ModelSpec>()?.connect_with(env(vars))?;
        Ok(format!("{:?}", model.info()))
    }

    #[test]
    fn each_provider_reads_its_own_key() {
        assert_eq!(
            connect("openai:gpt-4o-mini", &[("OPENAI_API_KEY", "sk-1")]).unwrap(),
            r#"ModelInfo { provider: "openai", model: "gpt-4o-mini" }"#
        );
        assert_eq!(
            connect("anthropic:claude-sonnet-4-5", &[("ANTHROPIC_API_KEY", "k")]).unwrap(),
            r#"ModelInfo { provider: "anthropic", model: "claude-sonnet-4-5" }"#
        );
        assert_eq!(
            connect("google:gemini-2.5-flash", &[("GEMINI_API_KEY", "k")]).unwrap(),
            r#"ModelInfo { provider: "gemini", model: "gemini-2.5-flash" }"#
        );
        assert_eq!(
            connect("ollama:llama3.2", &[]).unwrap(),
            r#"ModelInfo { provider: "ollama", model: "llama3.2" }"#
        );
    }

    #[test]
    fn a_missing_key_names_the_variable() {
        let error = connect("openai:gpt-4o-mini", &[("ANTHROPIC_API_KEY", "k")]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "openai:gpt-4o-mini needs an API key: set OPENAI_API_KEY \
             (or OPENAI_BASE_URL to a compatible server that needs none)"
        );
    }

    #[test]
    fn a_compatible_server_needs_no_key() {
        let local = [("OPENAI_BASE_URL", "http://127.0.0.1:8080/v1")];
        assert!(connect("openai:qwen2.5-7b", &local).is_ok());
        let spec: ModelSpec = "openai:qwen2.5-7b".parse().unwrap();
        assert!(spec.base_url("http://127.0.0.1:8080/v1").connect_with(env(&[])).is_ok());
    }

    #[test]
    fn malformed_strings_are_typed_errors() {
        let parse = |spec: &str| spec.parse::<ModelSpec>().unwrap_err();
        assert_eq!(parse("gpt-4o"), ModelConfigError::NoProvider { spec: "gpt-4o".into() });
        assert_eq!(
            parse("azure:gpt-4o"),
            ModelConfigError::UnknownProvider { spec: "azure:gpt-4o".into() }
        );
        assert_eq!(parse("openai: "), ModelConfigError::NoModel { spec: "openai: ".into() });
    }

    #[test]
    fn debug_never_shows_the_key() {
        let spec = "openai:gpt-4o".parse::<ModelSpec>().unwrap().api_key("sk-secret");
        assert!(!format!("{spec:?}").contains("sk-secret"));
    }
}
