//! Memory and caching: a travel agent that remembers a user's preferences across threads
//! through the store, and caches a slow forecast service with the node cache.
//!
//! `recall` reads what the store knows about the user while `forecast` asks a slow weather
//! service (cached by city); then the model answers, calling the `remember` tool when the
//! user states a preference. The user is the run context, so the same compiled graph serves
//! every user, and each user's memories stay under their own namespace.

// ANCHOR: uses
use std::sync::Arc;
use std::time::Duration;

use graph_agent::testing::ScriptedModel;
use graph_agent::{
    add_messages, route_tool_calls, tool, ChatModel, ChatModelExt, ChatRequest, HasMessages,
    Message, Messages, ToolCall, ToolContext, ToolNode, Toolbox,
};
use graph_core::cache::{CachePolicy, NodeCache};
use graph_core::checkpoint::MemorySaver;
use graph_core::prelude::*;
use graph_core::store::{Namespace, SearchQuery, Store, StoreError};
use graph_core::BoxError;
use serde::{Deserialize, Serialize};
use serde_json::json;
// ANCHOR_END: uses

// ANCHOR: state
/// One conversation about a trip.
#[derive(State, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Trip {
    /// Where the user is going.
    pub city: String,
    /// The conversation.
    #[reducer(with = add_messages)]
    pub messages: Messages,
    /// What the store remembered about the user when the run started.
    pub preferences: Vec<String>,
    /// The forecast for the city.
    pub forecast: String,
}

/// Who is talking: the run context, so tools and nodes know whose memories to use.
#[derive(Debug, Clone)]
pub struct User {
    /// The user's id, the last label of their namespace.
    pub id: String,
}

/// Where a user's preferences live in the store.
pub fn preferences_of(user: &str) -> Result<Namespace, StoreError> {
    Namespace::new(["users", user, "preferences"])
}
// ANCHOR_END: state

impl HasMessages for Trip {
    fn messages(&self) -> &[Message] {
        &self.messages
    }

    fn add(messages: Vec<Message>) -> TripUpdate {
        Trip::update().messages(messages.into())
    }

    fn messages_in(update: &TripUpdate) -> &[Message] {
        update.messages.as_deref().unwrap_or_default()
    }
}

/// How long the weather service takes to answer.
pub const FORECAST_LATENCY: Duration = Duration::from_millis(400);

// ANCHOR: nodes
/// Reads the user's preferences from the store, oldest first.
async fn recall(_: Arc<Trip>, ctx: NodeContext) -> Result<TripUpdate, BoxError> {
    let (store, user) = (ctx.store().ok_or("no store")?, ctx.context::<User>().ok_or("no user")?);
    let query = SearchQuery::new().limit(20);
    let mut items = store.search(&preferences_of(&user.id)?, &query).await?;
    items.sort_by_key(|item| item.created_at);
    let preferences = items.iter().filter_map(|item| item.value["text"].as_str()).map(String::from);
    Ok(Trip::update().preferences(preferences.collect()))
}

/// A slow weather service: the node the cache saves.
async fn forecast(trip: Arc<Trip>) -> TripUpdate {
    tokio::time::sleep(FORECAST_LATENCY).await;
    Trip::update().forecast(format!("{}: sunny, 24°C", trip.city))
}

/// Stores a preference of the user's, to remember it in later conversations.
#[tool]
async fn remember(
    /// The preference, in a few words.
    preference: String,
    ctx: &ToolContext,
) -> Result<String, BoxError> {
    let (store, user) = (ctx.store().ok_or("no store")?, ctx.context::<User>().ok_or("no user")?);
    // Keyed by the text, so a task that runs again writes the same item again.
    let key = preference.to_lowercase();
    store.put(&preferences_of(&user.id)?, &key, json!({ "text": preference }), None).await?;
    Ok(format!("noted: {preference}"))
}
// ANCHOR_END: nodes

// ANCHOR: graph
/// The agent: `recall` and `forecast` side by side, then the model, with the `remember` tool;
/// each conversation is a thread of its own.
pub fn graph(
    model: Arc<dyn ChatModel>,
    store: impl Store,
    cache: impl NodeCache,
) -> CompiledGraph<Trip, User> {
    let tools = Toolbox::<Trip>::new().with(remember);
    let specs = tools.specs();
    let agent = move |trip: Arc<Trip>, ctx: NodeContext| {
        let (model, specs) = (Arc::clone(&model), specs.clone());
        async move {
            let system = format!(
                "You plan trips. Forecast: {}. Known preferences: {}.",
                trip.forecast,
                if trip.preferences.is_empty() {
                    "none".into()
                } else {
                    trip.preferences.join(", ")
                }
            );
            let request = ChatRequest::new(&trip.messages).system(&system).tools(&specs);
            let answer = model.respond(&ctx, request).await?;
            Ok::<_, BoxError>(Trip::update().messages(vec![answer.into()].into()))
        }
    };
    // The forecast depends on the city alone, and stays good for an hour.
    let cached = CachePolicy::new()
        .version("forecast-v1")
        .key(|trip| trip["city"].clone())
        .ttl(Duration::from_secs(3600));
    StateGraph::<Trip, User>::new()
        .add_node("recall", recall)
        .add_node_with("forecast", forecast, NodeOptions::new().cache(cached))
        .add_node("agent", agent)
        .add_node("tools", ToolNode::new(tools).per_call())
        .add_edge(START, "recall")
        .add_edge(START, "forecast")
        .add_join(["recall", "forecast"], "agent")
        .add_conditional_edges("agent", route_tool_calls("tools", END), ["tools", END])
        .add_edge("tools", "agent")
        .compile_with_context(User { id: "nobody".into() })
        .expect("the travel agent is valid")
        .with_checkpointer(MemorySaver::new())
        .with_store(store)
        .with_cache(cache)
}
// ANCHOR_END: graph

/// The model of the demo: it notes the preference stated in the first conversation, then
/// answers each conversation from what it was told.
pub fn scripted_model() -> ScriptedModel {
    ScriptedModel::new()
        .latency(Duration::from_millis(20))
        .tool_calls([ToolCall::new("call_1", "remember", json!({ "preference": "vegetarian" }))])
        .text("Noted. Lyon will be sunny: try the vegetarian bouchon on Rue Mercière.")
        .text("Welcome back! Sunny in Lyon again: a vegetarian dinner at Les Halles?")
}

/// The first conversation: the user states a preference.
pub fn first_question() -> TripUpdate {
    Trip::update()
        .city("Lyon")
        .messages(vec![Message::user("I'm vegetarian. Where should I eat in Lyon?")].into())
}

/// The second conversation, in a new thread: the user says nothing about food.
pub fn second_question() -> TripUpdate {
    Trip::update()
        .city("Lyon")
        .messages(vec![Message::user("Back in Lyon next week. Dinner ideas?")].into())
}
