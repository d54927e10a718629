//! The node cache around a superstep: its cacheable tasks are looked up in one batch before
//! it runs, and the results of those that ran are stored once it is saved.

use std::sync::Arc;

use serde_json::Value;

use super::algo::Task;
use super::runner::TaskOutput;
use crate::cache::{cache_key, CacheEntry, CacheKey, NodeCache};
use crate::graph::{Command, GraphInner};
use crate::state::State;
use crate::stream::RunWarning;
use crate::thread::SavedOutput;

/// What a step learned from the cache.
pub(crate) struct Lookup {
    /// By task: the key to store its result under, for a cacheable task that was not a hit.
    pub(crate) keys: Vec<Option<CacheKey>>,
    /// The tasks to look up: cacheable, keyed, without an output yet.
    wanted: Vec<usize>,
    /// The tasks whose results came from the cache, in task order.
    pub(crate) hits: Vec<usize>,
    /// What went wrong on the way; the step goes on without the cache where it did.
    pub(crate) warnings: Vec<RunWarning>,
}

/// Keys every cacheable task of the step. Tasks with an output already (saved before a
/// pause) are keyed to store their results, not looked up.
pub(crate) fn keys<S: State>(
    graph: &GraphInner<S>,
    state: &S,
    tasks: &[Task],
    outputs: &[Option<TaskOutput<S>>],
) -> Lookup {
    let mut found = Lookup {
        keys: vec![None; tasks.len()],
        wanted: Vec::new(),
        hits: Vec::new(),
        warnings: Vec::new(),
    };
    // The state is serialised once, for every task that reads it.
    let mut state_json: Option<Result<Value, String>> = None;
    for (index, task) in tasks.iter().enumerate() {
        let Some(spec) = &graph.nodes[task.node].cache else { continue };
        let node = graph.name(task.node);
        let input = match &task.payload {
            Some(payload) => payload.to_json().map_err(|e| e.to_string()),
            None => state_json
                .get_or_insert_with(|| spec.codec.encode_state(state).map_err(|e| e.to_string()))
                .clone(),
        };
        // The key function is the user's code: a panic in it only costs the cache.
        let input = input.and_then(|input| {
            crate::error::catch_panic(|| spec.policy.key_of(input))
                .map_err(|panic| format!("its key function panicked: {panic}"))
        });
        match input {
            Ok(input) => {
                let key = cache_key(node, spec.policy.version_name(), &input);
                if outputs[index].is_none() {
                    found.wanted.push(index);
                }
                found.keys[index] = Some(key);
            }
            Err(error) => found.warnings.push(failed(format!("keying `{node}`: {error}"))),
        }
    }
    found
}

/// Looks the wanted tasks up in one batch, and fills the output slots of those whose results
/// are cached.
pub(crate) async fn fetch(cache: &dyn NodeCache, found: &mut Lookup) -> Vec<Option<Value>> {
    if found.wanted.is_empty() {
        return Vec::new();
    }
    let keys: Vec<CacheKey> =
        found.wanted.iter().filter_map(|&index| found.keys[index].clone()).collect();
    match cache.get(&keys).await {
        Ok(values) if values.len() == keys.len() => values,
        Ok(values) => {
            let error = format!("{} keys looked up, {} answers", keys.len(), values.len());
            found.warnings.push(failed(error));
            Vec::new()
        }
        Err(error) => {
            found.warnings.push(failed(error.to_string()));
            Vec::new()
        }
    }
}

/// Fills the output slots of the tasks whose values were found.
pub(crate) fn fill<S: State>(
    graph: &GraphInner<S>,
    tasks: &[Task],
    outputs: &mut [Option<TaskOutput<S>>],
    found: &mut Lookup,
    values: Vec<Option<Value>>,
) {
    for (index, value) in std::mem::take(&mut found.wanted).into_iter().zip(values) {
        let Some(value) = value else { continue };
        let spec = graph.nodes[tasks[index].node].cache.as_ref().expect("a cacheable task");
        let decoded = serde_json::from_value::<SavedOutput>(value)
            .map_err(|e| e.to_string())
            .and_then(|saved| spec.codec.decode_output(graph, saved));
        match decoded {
            Ok(command) => {
                outputs[index] = Some(TaskOutput::Done(command));
                found.keys[index] = None;
                found.hits.push(index);
            }
            Err(reason) => {
                let node = graph.name(tasks[index].node);
                let error = format!("the entry of `{node}` is unreadable: {reason}");
                found.warnings.push(failed(error));
            }
        }
    }
}

/// The entries to store for the step's keyed tasks, from their commands (in task order).
/// A command routing in a parent graph is not stored: replaying it could not route.
pub(crate) fn entries<S: State>(
    graph: &GraphInner<S>,
    tasks: &[Task],
    keys: Vec<Option<CacheKey>>,
    commands: &[Command<S>],
) -> (Vec<CacheEntry>, Vec<RunWarning>) {
    let (mut entries, mut warnings) = (Vec::new(), Vec::new());
    for ((task, key), command) in tasks.iter().zip(keys).zip(commands) {
        let Some(key) = key else { continue };
        if !command.parent().is_empty() {
            continue;
        }
        let spec = graph.nodes[task.node].cache.as_ref().expect("a keyed task is cacheable");
        let encoded = spec
            .codec
            .encode_output(graph, command)
            .and_then(|saved| Ok(crate::checkpoint::to_json(&saved)?));
        match encoded {
            Ok(value) => entries.push(CacheEntry { key, value, ttl: spec.policy.ttl_value() }),
            Err(error) => {
                let node = graph.name(task.node);
                warnings.push(failed(format!("storing the result of `{node}`: {error}")));
            }
        }
    }
    (entries, warnings)
}

/// Stores the step's entries; a failure is a warning.
pub(crate) async fn store(
    cache: &Arc<dyn NodeCache>,
    entries: Vec<CacheEntry>,
) -> Option<RunWarning> {
    if entries.is_empty() {
        return None;
    }
    cache.set(entries).await.err().map(|error| failed(error.to_string()))
}

fn failed(error: String) -> RunWarning {
    RunWarning::CacheFailed { error }
}
