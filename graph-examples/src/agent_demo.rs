//! The agent demo: the travel agent of [`react_agent`] with its native
//! tools and the tools of an MCP server run as a child process, on a real model when one is
//! configured and on a scripted one otherwise.

use std::path::PathBuf;

use graph_agent::testing::ScriptedModel;
use graph_agent::ToolCall;
use serde_json::json;

use crate::react_agent;

/// What the traveller asks: the `react_agent` question, with a budget in pounds.
pub const QUESTION: &str = "Plan me a weekend in Lisbon: I fly from London on Friday, I want \
     a nice hotel, and my budget is £400.";

/// What the scripted model says before it proposes the booking.
pub const PROPOSAL: &str = "Casa do Rio has the best reviews and costs €95 a night, well \
     within your budget. I will book it for two nights.";

/// The scripted model's final answer.
pub const ANSWER: &str = "Your Lisbon weekend is ready. Saturday will be sunny and 24°C. \
     Take TP1351 on Friday at 18:05 (€142). Casa do Rio, in Alfama, is booked for €190, so \
     of your £400 (€460) you keep €128 to spend. Enjoy the pastéis de nata!";

/// Which model drives the demo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Brain {
    /// A provider's model, as a `provider:model` string for [`graph_agent::init_model`].
    Provider(String),
    /// A GGUF model file run in-process (the `local` feature).
    Local(Option<PathBuf>),
    /// The scripted model: no key, no server.
    Scripted,
}

/// The variables that choose a provider, in the order they are tried, with the model each
/// gets unless `GRAPH_MODEL` names one.
const PROVIDERS: [(&str, &str); 4] = [
    ("OPENAI_API_KEY", "openai:gpt-4o-mini"),
    ("OPENAI_BASE_URL", "openai:gpt-4o-mini"),
    ("ANTHROPIC_API_KEY", "anthropic:claude-haiku-4-5"),
    ("GEMINI_API_KEY", "gemini:gemini-2.5-flash"),
];

/// The brain the command line and environment ask for: `--local [PATH]` (or
/// `GRAPH_LOCAL_MODEL`) for the local model, `--model SPEC` or `GRAPH_MODEL` for any provider,
/// else the first provider whose variable is set (`OPENAI_MODEL` names OpenAI's model), else the
/// scripted model.
pub fn choose(args: &[String], env: impl Fn(&str) -> Option<String>) -> Brain {
    let after = |flag: &str| {
        let at = args.iter().position(|a| a == flag)?;
        Some(args.get(at + 1).filter(|next| !next.starts_with("--")).cloned())
    };
    if let Some(path) = after("--local") {
        return Brain::Local(path.or_else(|| env("GRAPH_LOCAL_MODEL")).map(PathBuf::from));
    }
    if let Some(spec) = after("--model").flatten().or_else(|| env("GRAPH_MODEL")) {
        return Brain::Provider(spec);
    }
    for (var, spec) in PROVIDERS {
        if env(var).is_some() {
            let spec = match env("OPENAI_MODEL") {
                Some(model) if spec.starts_with("openai:") => format!("openai:{model}"),
                _ => spec.to_owned(),
            };
            return Brain::Provider(spec);
        }
    }
    Brain::Scripted
}

/// The model `scripts/fetch-local-model` puts in its cache (`GRAPH_MODEL_CACHE`, by default
/// `~/.cache/graph-models`), if it is there.
pub fn cached_local_model() -> Option<PathBuf> {
    let cache = std::env::var_os("GRAPH_MODEL_CACHE").map(PathBuf::from).or_else(|| {
        std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache/graph-models"))
    })?;
    let mut models: Vec<PathBuf> = std::fs::read_dir(cache.join("smollm2"))
        .ok()?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "gguf"))
        .collect();
    models.sort();
    models.into_iter().next()
}

/// The line the demo prints when no model is configured.
pub const NO_MODEL: &str = "No model configured (set OPENAI_API_KEY, OPENAI_BASE_URL, \
     ANTHROPIC_API_KEY, GEMINI_API_KEY or GRAPH_MODEL, or pass --local): running on the \
     scripted model.";

/// The scripted model: four lookups at once (one of them on the MCP server), a booking to
/// approve, then the answer, streamed word by word.
pub fn scripted_model() -> ScriptedModel {
    let mut lookups = react_agent::lookups();
    lookups.push(ToolCall::new(
        "call_budget",
        "convert_currency",
        json!({"amount": 400, "from": "GBP", "to": "EUR"}),
    ));
    react_agent::scripted(lookups, PROPOSAL, ANSWER).named("travel-script")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn choose_with(args: &[&str], vars: &[(&str, &str)]) -> Brain {
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        choose(&args, |name| vars.iter().find(|(v, _)| *v == name).map(|(_, x)| (*x).to_owned()))
    }

    #[test]
    fn the_brain_follows_flags_then_variables_then_falls_back_to_the_script() {
        let provider = |spec: &str| Brain::Provider(spec.to_owned());
        assert_eq!(choose_with(&[], &[]), Brain::Scripted);
        assert_eq!(choose_with(&[], &[("OPENAI_API_KEY", "k")]), provider("openai:gpt-4o-mini"));
        assert_eq!(
            choose_with(
                &[],
                &[("OPENAI_BASE_URL", "http://127.0.0.1:8080/v1"), ("OPENAI_MODEL", "qwen")]
            ),
            provider("openai:qwen")
        );
        assert_eq!(
            choose_with(&[], &[("ANTHROPIC_API_KEY", "k")]),
            provider("anthropic:claude-haiku-4-5")
        );
        assert_eq!(
            choose_with(&["--model", "ollama:llama3.2"], &[("OPENAI_API_KEY", "k")]),
            provider("ollama:llama3.2")
        );
        assert_eq!(choose_with(&[], &[("GRAPH_MODEL", "gemini:x")]), provider("gemini:x"));
        assert_eq!(
            choose_with(&["--local"], &[("GRAPH_LOCAL_MODEL", "/m.gguf")]),
            Brain::Local(Some("/m.gguf".into()))
        );
        assert_eq!(choose_with(&["--local", "a.gguf"], &[]), Brain::Local(Some("a.gguf".into())));
        assert_eq!(choose_with(&["--local", "--nights", "3"], &[]), Brain::Local(None));
    }
}
