//! Stream modes as the API names them, and a run's events turned into the server-sent events
//! of those modes.

use graph_core::StreamMode;
use serde_json::{json, Map, Value};

use crate::error::ApiError;
use crate::served::interrupt_json;

/// The stream modes a request asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Modes {
    values: bool,
    updates: bool,
    messages: bool,
    custom: bool,
    debug: bool,
    tasks: bool,
    checkpoints: bool,
    /// Whether subgraphs' events are streamed too.
    subgraphs: bool,
}

impl Modes {
    /// Reads `stream_mode` (a name or a list of names; `values` when absent) and
    /// `stream_subgraphs`.
    pub fn parse(stream_mode: Option<&Value>, subgraphs: bool) -> Result<Self, ApiError> {
        let mut modes = Modes { subgraphs, ..Modes::default() };
        let names: Vec<&Value> = match stream_mode {
            None | Some(Value::Null) => vec![&Value::Null],
            Some(Value::String(name)) if name.is_empty() => vec![&Value::Null],
            Some(Value::Array(names)) => names.iter().collect(),
            Some(name) => vec![name],
        };
        for name in names {
            match name.as_str().unwrap_or("values") {
                "values" => modes.values = true,
                "updates" => modes.updates = true,
                "messages" | "messages-tuple" => modes.messages = true,
                "custom" => modes.custom = true,
                "debug" => modes.debug = true,
                "tasks" => modes.tasks = true,
                "checkpoints" => modes.checkpoints = true,
                other => {
                    return Err(ApiError::invalid(
                        "stream_mode",
                        format!(
                            "unknown mode `{other}`; the modes are values, updates, messages, \
                             messages-tuple, custom, debug, tasks and checkpoints"
                        ),
                    ))
                }
            }
        }
        Ok(modes)
    }

    /// The graph's stream modes these need.
    pub fn graph_modes(self) -> Vec<StreamMode> {
        let wanted = [
            (self.values, StreamMode::Values),
            (self.updates, StreamMode::Updates),
            (self.messages, StreamMode::Messages),
            (self.custom, StreamMode::Custom),
            (self.debug || self.tasks, StreamMode::Tasks),
            (self.debug || self.checkpoints, StreamMode::Checkpoints),
        ];
        wanted.into_iter().filter(|(on, _)| *on).map(|(_, mode)| mode).collect()
    }

    /// The server-sent events (name, data) for one run event, in the JSON form of
    /// [`graph_core::StreamEvent`].
    pub fn events(self, event: &Value) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        self.push(event, "", &mut out);
        out
    }

    fn push(self, event: &Value, namespace: &str, out: &mut Vec<(String, Value)>) {
        let mut emit = |mode: &str, data: Value| {
            let name =
                if namespace.is_empty() { mode.to_owned() } else { format!("{mode}|{namespace}") };
            out.push((name, data));
        };
        let field = |name: &str| event.get(name).cloned().unwrap_or(Value::Null);
        let step = field("step");
        match event.get("event").and_then(Value::as_str).unwrap_or_default() {
            "values" if self.values => emit("values", field("state")),
            "update" if self.updates => {
                let node = event["node"].as_str().unwrap_or_default().to_owned();
                emit("updates", Value::Object(Map::from_iter([(node, field("update"))])));
            }
            "custom" if self.custom => emit("custom", field("value")),
            "message" if self.messages => {
                let metadata = json!({"langgraph_node": field("node"), "langgraph_step": step});
                emit("messages", json!([field("message"), metadata]));
            }
            "task_start" if self.tasks || self.debug => {
                let payload = json!({"id": field("task_id"), "name": field("node"),
                                     "attempt": field("attempt")});
                if self.tasks {
                    emit("tasks", payload.clone());
                }
                if self.debug {
                    emit("debug", json!({"type": "task", "step": step, "payload": payload}));
                }
            }
            "task_end" if self.tasks || self.debug => {
                let mut payload = json!({"id": field("task_id"), "name": field("node"),
                                     "attempt": field("attempt"), "error": field("error"),
                                     "started_at": field("started_at"), "duration": field("duration")});
                // Only a task that ran on a worker process names one.
                if let Some(worker) = event.get("worker") {
                    payload["worker"] = worker.clone();
                }
                if self.tasks {
                    emit("tasks", payload.clone());
                }
                if self.debug {
                    emit("debug", json!({"type": "task_result", "step": step, "payload": payload}));
                }
            }
            "checkpoint" if self.checkpoints || self.debug => {
                let payload = json!({"checkpoint_id": field("checkpoint_id"),
                                     "parent_id": field("parent_id"), "metadata": field("metadata")});
                if self.checkpoints {
                    emit("checkpoints", payload.clone());
                }
                if self.debug {
                    let step = payload["metadata"]["step"].clone();
                    emit("debug", json!({"type": "checkpoint", "step": step, "payload": payload}));
                }
            }
            "paused" if self.values || self.updates => {
                let interrupts: Vec<Value> = event["interrupts"]
                    .as_array()
                    .map(|all| all.iter().map(interrupt_value).collect())
                    .unwrap_or_default();
                let interrupts = Value::Array(interrupts);
                if self.updates {
                    emit("updates", json!({"__interrupt__": interrupts}));
                }
                if self.values {
                    // The state where the run paused, with the questions beside it.
                    let mut state = field("state");
                    if let Value::Object(fields) = &mut state {
                        fields.insert("__interrupt__".into(), interrupts);
                    }
                    emit("values", state);
                }
            }
            "subgraph" if self.subgraphs => {
                let namespace = event["namespace"].as_str().unwrap_or_default();
                self.push(&event["data"], namespace, out);
            }
            _ => {}
        }
    }
}

/// An interrupt from its JSON form in a run event to the API's.
fn interrupt_value(interrupt: &Value) -> Value {
    match serde_json::from_value::<graph_core::Interrupt>(interrupt.clone()) {
        Ok(interrupt) => interrupt_json(&interrupt),
        Err(_) => interrupt.clone(),
    }
}
