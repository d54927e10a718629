//! What `#[tool]` generates: names, descriptions, argument schemas and calls.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use graph_core::{StateGraph, END, START};

// ANCHOR: uses
use graph_agent::{
    tool, HasMessages, Json, Message, MessagesState, Tool, ToolContext, ToolOutput, Toolbox,
};
use graph_core::{BoxError, Command};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
// ANCHOR_END: uses

// ANCHOR: weather
/// Today's weather in a city.
///
/// Answers in degrees Celsius,
///    with a short summary.
#[tool]
async fn weather(
    /// The city, as its English name.
    city: String,
    /// How many days ahead; today when absent.
    days: Option<u32>,
) -> String {
    format!("{city} in {} day(s): 21 C, sunny", days.unwrap_or(0))
}
// ANCHOR_END: weather

#[derive(Debug)]
struct DivideByZero;

impl fmt::Display for DivideByZero {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("cannot divide by zero")
    }
}

impl std::error::Error for DivideByZero {}

// ANCHOR: divide
/// Divides `a` by `b`.
#[tool(name = "divide", return_direct)]
async fn divide_numbers(a: i64, b: i64, ctx: &ToolContext) -> Result<String, DivideByZero> {
    if b == 0 {
        return Err(DivideByZero);
    }
    Ok(format!("{} (call {})", a / b, ctx.call_id()))
}
// ANCHOR_END: divide

// ANCHOR: returns
/// Echoes the call's id.
#[tool]
async fn call_id(ctx: ToolContext) -> ToolOutput {
    ToolOutput::new(ctx.call_id().to_owned()).with_artifact(json!({"len": ctx.call_id().len()}))
}

/// A place on a map.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
struct Place {
    /// Its name.
    name: String,
    /// Where it is.
    position: Position,
}

/// A position in degrees.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
struct Position {
    lat: f64,
    lon: f64,
}

/// Saves a place.
#[tool]
async fn save_place(place: Place) -> Json<Place> {
    Json(place)
}

/// Remembers the user's name: a `Command` updates the graph's state, and must hold the
/// tool message answering the call.
#[tool]
async fn remember_name(name: String, ctx: &ToolContext) -> Command<MessagesState> {
    let answer = Message::tool(ctx.call_id(), format!("Saved the name {name}."));
    Command::new().update(MessagesState::add(vec![answer]))
}
// ANCHOR_END: returns

/// A unit of length.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum Unit {
    Metres,
    Feet,
}

/// A shape to measure.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Shape {
    /// A circle.
    Circle { radius: f64 },
    /// A rectangle.
    Rectangle { width: f64, height: f64 },
    /// A point, which has no area.
    Point,
}

/// Measures a shape's area.
#[tool]
async fn area(shape: Shape, unit: Unit) -> String {
    let value = match shape {
        Shape::Circle { radius } => 3.0 * radius * radius,
        Shape::Rectangle { width, height } => width * height,
        Shape::Point => 0.0,
    };
    let unit = match unit {
        Unit::Metres => "m2",
        Unit::Feet => "ft2",
    };
    format!("{value} {unit}")
}

/// Counts words by tag.
#[tool]
async fn tally(words: Vec<String>, tags: BTreeMap<String, Vec<u32>>) -> serde_json::Value {
    json!({"words": words.len(), "tags": tags.keys().collect::<Vec<_>>()})
}

/// Adds two numbers; the arguments may be renamed and defaulted.
#[tool]
async fn add(
    #[serde(rename = "left")] a: u32,
    #[serde(default)] b: u32,
) -> anyhow_like::Result<u32> {
    a.checked_add(b).ok_or_else(|| "overflow".into())
}

/// A stand-in for an error crate's one-parameter `Result` alias.
mod anyhow_like {
    pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;
}

fn ctx() -> ToolContext {
    ToolContext::new("call-7")
}

#[test]
fn names_descriptions_and_options() {
    assert_eq!(weather.name(), "weather");
    assert_eq!(
        weather.description(),
        "Today's weather in a city.\n\nAnswers in degrees Celsius, with a short summary."
    );
    assert!(!weather.return_direct());
    assert_eq!(divide_numbers.name(), "divide");
    assert_eq!(divide_numbers.description(), "Divides `a` by `b`.");
    assert!(divide_numbers.return_direct());
}

#[tokio::test]
async fn runs_with_typed_arguments() {
    let args = serde_json::from_value(json!({"city": "Paris", "days": 2})).unwrap();
    assert_eq!(weather.call(args, &ctx()).await.unwrap(), "Paris in 2 day(s): 21 C, sunny");
    let args = serde_json::from_value(json!({"city": "Oslo"})).unwrap();
    assert_eq!(weather.call(args, &ctx()).await.unwrap(), "Oslo in 0 day(s): 21 C, sunny");

    let args = serde_json::from_value(json!({"a": 7, "b": 2})).unwrap();
    assert_eq!(divide_numbers.call(args, &ctx()).await.unwrap(), "3 (call call-7)");

    let output = call_id.call(serde_json::from_value(json!({})).unwrap(), &ctx()).await.unwrap();
    assert_eq!(output, ToolOutput::new("call-7").with_artifact(json!({"len": 6})));

    let args = serde_json::from_value(json!({"left": 4})).unwrap();
    assert_eq!(add.call(args, &ctx()).await.unwrap(), 4);

    let args = serde_json::from_value(json!({
        "shape": {"kind": "rectangle", "width": 2.0, "height": 3.0},
        "unit": "feet"
    }))
    .unwrap();
    assert_eq!(area.call(args, &ctx()).await.unwrap(), "6 ft2");

    let args =
        serde_json::from_value(json!({"words": ["a", "b"], "tags": {"y": [1], "x": []}})).unwrap();
    assert_eq!(tally.call(args, &ctx()).await.unwrap(), json!({"words": 2, "tags": ["x", "y"]}));

    let place = Place { name: "Home".into(), position: Position { lat: 1.5, lon: -2.0 } };
    let args = serde_json::from_value(json!({"place": place})).unwrap();
    assert_eq!(save_place.call(args, &ctx()).await.unwrap(), Json(place));
}

#[tokio::test]
async fn the_function_stays_callable() {
    assert_eq!(weather::run("Rome".into(), Some(1)).await, "Rome in 1 day(s): 21 C, sunny");
    assert_eq!(divide_numbers::run(9, 3, &ctx()).await.unwrap(), "3 (call call-7)");
}

#[tokio::test]
async fn an_error_of_the_function_is_the_calls_error() {
    let args = serde_json::from_value(json!({"a": 1, "b": 0})).unwrap();
    let error = divide_numbers.call(args, &ctx()).await.unwrap_err();
    assert_eq!(error.to_string(), "cannot divide by zero");
    assert!(error.downcast_ref::<DivideByZero>().is_some());

    let args = serde_json::from_value(json!({"left": u32::MAX, "b": 1})).unwrap();
    assert_eq!(add.call(args, &ctx()).await.unwrap_err().to_string(), "overflow");
}

/// The error reading `value` as the arguments of `tool`.
fn args_error<T: Tool>(tool: &T, value: serde_json::Value) -> serde_json::Error {
    match serde_json::from_value::<T::Args>(value) {
        Ok(_) => panic!("arguments of `{}` were read", tool.name()),
        Err(error) => error,
    }
}

#[test]
fn wrong_arguments_are_typed_deserialization_errors() {
    let missing = args_error(&weather, json!({"days": 1}));
    assert_eq!(missing.to_string(), "missing field `city`");
    let wrong = args_error(&weather, json!({"city": 3}));
    assert_eq!(wrong.to_string(), "invalid type: integer `3`, expected a string");
    let negative = args_error(&weather, json!({"city": "x", "days": -1}));
    assert_eq!(negative.to_string(), "invalid value: integer `-1`, expected u32");

    let variant = args_error(&area, json!({"shape": {"kind": "hexagon"}, "unit": "feet"}));
    assert_eq!(
        variant.to_string(),
        "unknown variant `hexagon`, expected one of `circle`, `rectangle`, `point`"
    );
}

#[test]
fn a_toolbox_takes_tools_by_their_fn_name() {
    let toolbox = Toolbox::<MessagesState>::new()
        .with(weather)
        .with(divide_numbers)
        .with(call_id)
        .with(save_place)
        .with(area)
        .with(tally);
    assert_eq!(toolbox.names(), ["weather", "divide", "call_id", "save_place", "area", "tally"]);
    let specs = toolbox.specs();
    assert_eq!(specs[0], weather.spec());
    assert_eq!(specs[1].description, "Divides `a` by `b`.");
}

#[test]
fn schema_of_plain_and_optional_arguments() {
    insta::assert_json_snapshot!("weather", weather.spec());
}

#[test]
fn schema_of_a_nested_struct_argument() {
    insta::assert_json_snapshot!("save_place", save_place.parameters());
}

#[test]
fn schema_of_enum_arguments() {
    insta::assert_json_snapshot!("area", area.parameters());
}

#[test]
fn schema_of_vec_and_map_arguments() {
    insta::assert_json_snapshot!("tally", tally.parameters());
}

#[test]
fn schema_of_no_arguments_and_renamed_arguments() {
    insta::assert_json_snapshot!("call_id", call_id.parameters());
    insta::assert_json_snapshot!("add", add.parameters());
}

/// What OpenAI-style providers require of every tool: an object schema with `properties`,
/// and `required` naming only known properties.
#[test]
fn every_schema_is_an_object_with_properties() {
    for spec in [
        weather.spec(),
        divide_numbers.spec(),
        call_id.spec(),
        save_place.spec(),
        area.spec(),
        tally.spec(),
        add.spec(),
    ] {
        let schema = spec.parameters.as_object().unwrap();
        assert_eq!(schema["type"], "object", "{}", spec.name);
        let properties = schema["properties"].as_object().unwrap();
        for required in schema.get("required").and_then(|r| r.as_array()).into_iter().flatten() {
            assert!(properties.contains_key(required.as_str().unwrap()), "{}", spec.name);
        }
        assert!(!schema.contains_key("$schema") && !schema.contains_key("title"));
        assert!(!spec.parameters.to_string().contains("$ref"), "{}", spec.name);
    }
}

// ANCHOR: manual
/// A tool whose name is known only at run time: it looks a key up in a fixed table.
struct Lookup {
    name: String,
    table: BTreeMap<String, String>,
}

/// The arguments of [`Lookup`].
#[derive(Deserialize, JsonSchema)]
struct LookupArgs {
    /// The key to look up.
    key: String,
}

#[async_trait::async_trait]
impl Tool for Lookup {
    type Args = LookupArgs;
    type Output = String;

    fn name(&self) -> &str {
        &self.name
    }

    fn description(&self) -> &str {
        "Looks a key up in the table."
    }

    async fn call(&self, args: LookupArgs, _ctx: &ToolContext) -> Result<String, BoxError> {
        match self.table.get(&args.key) {
            Some(value) => Ok(value.clone()),
            None => Err(format!("no entry for `{}`", args.key).into()),
        }
    }
}
// ANCHOR_END: manual

#[tokio::test]
async fn a_hand_written_tool() {
    let table = BTreeMap::from([("pi".to_owned(), "3.14".to_owned())]);
    let lookup = Lookup { name: "constants".into(), table };
    assert_eq!(lookup.call(LookupArgs { key: "pi".into() }, &ctx()).await.unwrap(), "3.14");
    let error = lookup.call(LookupArgs { key: "e".into() }, &ctx()).await.unwrap_err();
    assert_eq!(error.to_string(), "no entry for `e`");
    assert_eq!(
        lookup.parameters(),
        json!({
            "description": "The arguments of [`Lookup`].",
            "type": "object",
            "properties": {"key": {"type": "string", "description": "The key to look up."}},
            "required": ["key"]
        })
    );
}

async fn remember(_state: Arc<MessagesState>) -> Result<Command<MessagesState>, BoxError> {
    let args = serde_json::from_value(json!({"name": "Ada"}))?;
    remember_name.call(args, &ToolContext::new("call-3")).await
}

#[tokio::test]
async fn a_tool_returning_a_command_updates_the_state() {
    let graph = StateGraph::<MessagesState>::new()
        .add_node("remember", remember)
        .add_edge(START, "remember")
        .add_edge("remember", END)
        .compile()
        .unwrap();
    let state = graph
        .invoke(MessagesState::default(), graph_core::RunConfig::default())
        .await
        .unwrap()
        .finished()
        .unwrap();
    let [Message::Tool(answer)] = state.messages.as_slice() else { panic!("{state:?}") };
    assert_eq!(
        (answer.tool_call_id.as_str(), answer.content.as_str()),
        ("call-3", "Saved the name Ada.")
    );
}
