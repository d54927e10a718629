//! The grammar of a tool-call answer, and reading the calls back.
//!
//! The answer is JSON: one call `{"name": <tool>, "arguments": {...}}` or an array of calls.
//! Its JSON Schema (each tool's `name` a constant, its `arguments` the tool's parameter
//! schema) is turned into a GBNF grammar by llama.cpp's own `json-schema-to-grammar`, so the
//! sampler can only pick tokens that keep the answer a well-formed call to an offered tool.

use serde_json::{json, Map, Value};

use super::choice::AnswerMode;
use super::error::LocalModelError;
use crate::tool::ToolSpec;

/// At most this many calls in one answer, and never more than the tools offered: a tiny model
/// that starts an array tends to repeat its first call until the array can hold no more.
/// (Repeated identical calls are dropped when the answer is read.)
pub(crate) const MAX_PARALLEL_CALLS: usize = 8;

/// The JSON Schema of an answer in `mode` (`None` for text), as text with `name` before
/// `arguments` so the model picks the tool before writing its arguments.
pub(crate) fn answer_schema(
    mode: &AnswerMode,
    tools: &[ToolSpec],
    parallel: bool,
) -> Result<Option<String>, LocalModelError> {
    let offered: Vec<&ToolSpec> = match mode {
        AnswerMode::Text => return Ok(None),
        AnswerMode::AnyTool if tools.is_empty() => return Err(LocalModelError::NoTools),
        AnswerMode::AnyTool => tools.iter().collect(),
        AnswerMode::Tool(name) => match tools.iter().find(|tool| &tool.name == name) {
            Some(tool) => vec![tool],
            None => return Err(LocalModelError::UnknownTool { name: name.clone() }),
        },
    };
    // Subschemas referenced as `#/$defs/..` must sit at the root of the combined schema.
    let mut defs = Map::new();
    let calls: Vec<String> = offered
        .iter()
        .map(|tool| {
            let mut parameters = tool.parameters.clone();
            if let Some(Value::Object(object)) = parameters.as_object_mut().and_then(|p| p.remove("$defs")) {
                defs.extend(object);
            }
            format!(
                r#"{{"type":"object","properties":{{"name":{{"const":{}}},"arguments":{}}},"required":["name","arguments"]}}"#,
                json!(tool.name),
                parameters
            )
        })
        .collect();
    let call = match calls.as_slice() {
        [one] => one.clone(),
        _ => format!(r#"{{"anyOf":[{}]}}"#, calls.join(",")),
    };
    let max_calls = offered.len().min(MAX_PARALLEL_CALLS);
    let answer = if parallel && max_calls > 1 {
        format!(
            r#"{{"anyOf":[{call},{{"type":"array","items":{call},"minItems":1,"maxItems":{max_calls}}}]}}"#
        )
    } else {
        call
    };
    let defs = if defs.is_empty() {
        String::new()
    } else {
        format!(r#","$defs":{}"#, Value::Object(defs))
    };
    // `answer` is an object's text; open it to add the definitions.
    Ok(Some(format!("{}{defs}}}", &answer[..answer.len() - 1])))
}

/// The GBNF grammar (root rule `root`) that only lets the model write JSON valid against
/// `schema`.
pub(crate) fn grammar(schema: &str) -> Result<String, LocalModelError> {
    llama_cpp_2::json_schema_to_grammar(schema).map_err(|e| LocalModelError::Grammar(e.to_string()))
}

/// The calls in a constrained answer, as (tool name, arguments) pairs in order; a call that
/// repeats an earlier one (same tool, same arguments) is dropped.
pub(crate) fn parse_calls(
    text: &str,
    tools: &[ToolSpec],
) -> Result<Vec<(String, Value)>, LocalModelError> {
    let invalid =
        |reason: String| LocalModelError::InvalidToolCall { reason, text: text.to_owned() };
    let value: Value = serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
    let calls = match value {
        Value::Array(calls) => calls,
        call => vec![call],
    };
    let mut read: Vec<(String, Value)> = Vec::with_capacity(calls.len());
    for call in calls {
        let call = read_call(call, tools).map_err(invalid)?;
        if !read.contains(&call) {
            read.push(call);
        }
    }
    Ok(read)
}

/// One call's tool name and arguments.
fn read_call(call: Value, tools: &[ToolSpec]) -> Result<(String, Value), String> {
    let Value::Object(mut call) = call else {
        return Err("a call is not an object".into());
    };
    let name = match call.remove("name") {
        Some(Value::String(name)) if tools.iter().any(|t| t.name == name) => name,
        Some(Value::String(name)) => return Err(format!("no tool is named `{name}`")),
        _ => return Err("a call has no tool name".into()),
    };
    match call.remove("arguments") {
        Some(arguments @ Value::Object(_)) => Ok((name, arguments)),
        _ => Err(format!("the call of `{name}` has no arguments object")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tools() -> Vec<ToolSpec> {
        vec![
            ToolSpec {
                name: "weather".into(),
                description: "Weather".into(),
                parameters: json!({
                    "type": "object",
                    "properties": {"city": {"type": "string"}, "unit": {"$ref": "#/$defs/Unit"}},
                    "required": ["city"],
                    "$defs": {"Unit": {"enum": ["C", "F"]}}
                }),
            },
            ToolSpec {
                name: "time".into(),
                description: "Time".into(),
                parameters: json!({"type": "object", "properties": {}}),
            },
        ]
    }

    #[test]
    fn the_schema_names_the_tool_first_and_hoists_definitions() {
        let schema =
            answer_schema(&AnswerMode::Tool("weather".into()), &tools(), false).unwrap().unwrap();
        assert_eq!(
            schema,
            r##"{"type":"object","properties":{"name":{"const":"weather"},"arguments":{"properties":{"city":{"type":"string"},"unit":{"$ref":"#/$defs/Unit"}},"required":["city"],"type":"object"}},"required":["name","arguments"],"$defs":{"Unit":{"enum":["C","F"]}}}"##
        );
        let value: Value = serde_json::from_str(&schema).unwrap();
        assert_eq!(value["properties"]["name"], json!({"const": "weather"}));
    }

    #[test]
    fn any_tool_with_parallel_calls_is_one_call_or_an_array_of_them() {
        let schema = answer_schema(&AnswerMode::AnyTool, &tools(), true).unwrap().unwrap();
        let value: Value = serde_json::from_str(&schema).unwrap();
        let one = &value["anyOf"][0];
        assert_eq!(one["anyOf"].as_array().unwrap().len(), 2);
        assert_eq!(one["anyOf"][1]["properties"]["name"], json!({"const": "time"}));
        // At most one call per offered tool.
        assert_eq!(
            value["anyOf"][1],
            json!({"type": "array", "items": one, "minItems": 1, "maxItems": 2})
        );
        assert_eq!(value["$defs"], json!({"Unit": {"enum": ["C", "F"]}}));
    }

    #[test]
    fn text_needs_no_schema_and_forced_choices_need_their_tools() {
        assert_eq!(answer_schema(&AnswerMode::Text, &tools(), true).unwrap(), None);
        assert!(matches!(
            answer_schema(&AnswerMode::Tool("search".into()), &tools(), true),
            Err(LocalModelError::UnknownTool { name }) if name == "search"
        ));
        assert!(matches!(
            answer_schema(&AnswerMode::AnyTool, &[], true),
            Err(LocalModelError::NoTools)
        ));
    }

    #[test]
    fn llama_cpp_turns_the_schema_into_a_grammar() {
        let schema = answer_schema(&AnswerMode::AnyTool, &tools(), true).unwrap().unwrap();
        let grammar = grammar(&schema).unwrap();
        assert!(grammar.contains("root ::="), "{grammar}");
        assert!(grammar.contains(r#"\"weather\""#), "{grammar}");
    }

    #[test]
    fn calls_are_read_from_an_object_or_an_array() {
        assert_eq!(
            parse_calls(r#"{"name": "weather", "arguments": {"city": "Paris"}}"#, &tools())
                .unwrap(),
            vec![("weather".to_owned(), json!({"city": "Paris"}))]
        );
        assert_eq!(
            parse_calls(
                r#"[{"name": "weather", "arguments": {"city": "Oslo"}}, {"name": "time", "arguments": {}}]"#,
                &tools()
            )
            .unwrap(),
            vec![("weather".to_owned(), json!({"city": "Oslo"})), ("time".to_owned(), json!({}))]
        );
        assert_eq!(
            parse_calls(
                r#"[{"name": "time", "arguments": {}}, {"name": "time", "arguments": {}}]"#,
                &tools()
            )
            .unwrap(),
            vec![("time".to_owned(), json!({}))]
        );
        let error = parse_calls(r#"{"name": "search", "arguments": {}}"#, &tools()).unwrap_err();
        assert_eq!(
            error.to_string(),
            r#"the model's tool call is not valid: no tool is named `search`: {"name": "search", "arguments": {}}"#
        );
    }
}
