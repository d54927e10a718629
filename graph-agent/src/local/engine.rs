//! llama.cpp in-process: the backend (initialised once per process), a loaded model, and the
//! token loop, which runs on a blocking thread and reports text pieces as it goes.

use std::num::NonZeroU32;
use std::path::Path;
use std::sync::{Mutex, OnceLock};

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;

use super::error::LocalModelError;
use super::prompt::Turn;

/// The llama.cpp backend: it may be initialised only once per process.
fn backend() -> Result<&'static LlamaBackend, LocalModelError> {
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            // llama.cpp logs every load to stderr; route it to `tracing` instead.
            llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default());
            LlamaBackend::init().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| LocalModelError::Backend(e.clone()))
}

/// A model file loaded into memory, with its chat template.
pub(crate) struct Engine {
    model: LlamaModel,
    template: LlamaChatTemplate,
    /// One generation at a time: the CPU is the bottleneck anyway, and llama.cpp does not
    /// allow creating contexts of one model concurrently.
    busy: Mutex<()>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").finish_non_exhaustive()
    }
}

/// How one answer is generated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Settings {
    pub(crate) context_size: u32,
    pub(crate) threads: i32,
    pub(crate) max_tokens: u32,
    pub(crate) seed: u32,
    pub(crate) temperature: f32,
}

/// What the token loop reports.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Event {
    /// Text the model wrote (whole UTF-8 characters; a character split across tokens waits for
    /// its last byte).
    Piece(String),
    /// The answer is over.
    Finished {
        prompt_tokens: u64,
        generated_tokens: u64,
        /// Whether it stopped at the token limit rather than at its end-of-turn token.
        hit_max_tokens: bool,
    },
}

impl Engine {
    /// Loads the GGUF file at `path`.
    pub(crate) fn load(path: &Path) -> Result<Self, LocalModelError> {
        let backend = backend()?;
        let load_error = |source: Box<dyn std::error::Error + Send + Sync>| LocalModelError::Load {
            path: path.to_owned(),
            source,
        };
        if !path.is_file() {
            return Err(load_error("no such file".into()));
        }
        let model = LlamaModel::load_from_file(backend, path, &LlamaModelParams::default())
            .map_err(|e| load_error(e.into()))?;
        // Models without a template of their own get ChatML, which most small chat models use.
        let template = match model.chat_template(None) {
            Ok(template) => template,
            Err(_) => LlamaChatTemplate::new("chatml").map_err(|e| load_error(e.into()))?,
        };
        Ok(Self { model, template, busy: Mutex::new(()) })
    }

    /// The prompt text for `turns`, ending where the assistant's answer starts.
    pub(crate) fn render(&self, turns: &[Turn]) -> Result<String, LocalModelError> {
        let template_error = |e: &dyn std::fmt::Display| LocalModelError::Template(e.to_string());
        let messages = turns
            .iter()
            .map(|turn| LlamaChatMessage::new(turn.role.to_owned(), turn.content.clone()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| template_error(&e))?;
        self.model
            .apply_chat_template(&self.template, &messages, true)
            .map_err(|e| template_error(&e))
    }

    /// Generates the answer to `prompt`, constrained by the GBNF `grammar` if given, and
    /// reports it to `report`; stops early when `report` returns `false` (nobody listens).
    pub(crate) fn generate(
        &self,
        prompt: &str,
        grammar: Option<&str>,
        settings: Settings,
        report: &mut dyn FnMut(Event) -> bool,
    ) -> Result<(), LocalModelError> {
        let _one_at_a_time = self.busy.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let failed = |e: &dyn std::fmt::Display| LocalModelError::Inference(e.to_string());
        let vocab = self.model.vocab();
        let prompt_tokens = vocab.tokenize(prompt.as_bytes(), true, true);
        if prompt_tokens.is_empty()
            || prompt_tokens.len() + settings.max_tokens as usize > settings.context_size as usize
        {
            return Err(LocalModelError::ContextOverflow {
                prompt_tokens: prompt_tokens.len(),
                max_tokens: settings.max_tokens,
                context_size: settings.context_size,
            });
        }

        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(settings.context_size))
            .with_n_batch(settings.context_size)
            .with_n_threads(settings.threads)
            .with_n_threads_batch(settings.threads);
        let mut context = self.model.new_context(backend()?, params).map_err(|e| failed(&e))?;
        let mut sampler = self.sampler(grammar, settings)?;

        let mut batch = LlamaBatch::new(prompt_tokens.len(), 1);
        batch.add_sequence(&prompt_tokens, 0, false).map_err(|e| failed(&e))?;
        context.decode(&mut batch).map_err(|e| failed(&e))?;

        let mut utf8 = encoding_rs::UTF_8.new_decoder();
        let mut position = prompt_tokens.len() as i32;
        let mut generated = 0u32;
        let hit_max_tokens = loop {
            if generated == settings.max_tokens {
                break true;
            }
            let token = sampler.sample(&context, batch.n_tokens() - 1);
            if vocab.is_eog(token) {
                break false;
            }
            generated += 1;
            let bytes = vocab.token_to_piece(token, false, None);
            let mut piece = String::with_capacity(bytes.len() + 4);
            let _ = utf8.decode_to_string(&bytes, &mut piece, false);
            if !piece.is_empty() && !report(Event::Piece(piece)) {
                return Ok(());
            }
            batch.clear();
            batch.add(token, position, &[0], true).map_err(|e| failed(&e))?;
            position += 1;
            context.decode(&mut batch).map_err(|e| failed(&e))?;
        };
        // An incomplete character at the very end becomes U+FFFD rather than vanishing.
        let mut rest = String::new();
        let _ = utf8.decode_to_string(&[], &mut rest, true);
        if !rest.is_empty() && !report(Event::Piece(rest)) {
            return Ok(());
        }
        report(Event::Finished {
            prompt_tokens: prompt_tokens.len() as u64,
            generated_tokens: u64::from(generated),
            hit_max_tokens,
        });
        Ok(())
    }

    /// Greedy at temperature 0 (deterministic), else seeded sampling; behind the grammar if any.
    fn sampler(
        &self,
        grammar: Option<&str>,
        settings: Settings,
    ) -> Result<LlamaSampler, LocalModelError> {
        let mut samplers = Vec::new();
        if let Some(grammar) = grammar {
            samplers.push(
                LlamaSampler::grammar(&self.model, grammar, "root")
                    .map_err(|e| LocalModelError::Grammar(e.to_string()))?,
            );
        }
        if settings.temperature <= 0.0 {
            samplers.push(LlamaSampler::greedy());
        } else {
            samplers.push(LlamaSampler::temp(settings.temperature));
            samplers.push(LlamaSampler::dist(settings.seed));
        }
        Ok(LlamaSampler::chain_simple(samplers))
    }
}
