//! A compiled graph called as a tool: input and output mapping, failures and pauses.

// ANCHOR: uses
use std::sync::Arc;

use futures::StreamExt;

use graph_agent::{
    GraphTool, GraphToolError, MessagesState, Tool, ToolContext, ToolOutput, Toolbox,
};
use graph_core::checkpoint::MemorySaver;
use graph_core::prelude::*;
use graph_core::{GraphError, Interrupt, InterruptError};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;
// ANCHOR_END: uses

// ANCHOR: graph_tool
#[derive(State, Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct Research {
    topic: String,
    #[reducer(append)]
    notes: Vec<String>,
    summary: String,
}

async fn search(state: Arc<Research>) -> ResearchUpdate {
    let topic = &state.topic;
    Research::update().notes(vec![format!("{topic} is old"), format!("{topic} is loved")])
}

async fn summarise(state: Arc<Research>) -> ResearchUpdate {
    Research::update().summary(state.notes.join("; "))
}

fn research_graph() -> CompiledGraph<Research> {
    StateGraph::<Research>::new()
        .add_node("search", search)
        .add_node("summarise", summarise)
        .add_edge(START, "search")
        .add_edge("search", "summarise")
        .add_edge("summarise", END)
        .compile()
        .unwrap()
}

/// What the model fills in to start a research run.
#[derive(Debug, Deserialize, JsonSchema)]
struct ResearchArgs {
    /// What to research.
    topic: String,
}

fn researcher() -> GraphTool<ResearchArgs, Research, ToolOutput> {
    GraphTool::new("research", "Researches a topic and summarises it.", research_graph())
        .input(|args: ResearchArgs| Research::update().topic(args.topic))
        .output(|state: &Research| {
            ToolOutput::new(state.summary.clone()).with_artifact(json!(state.notes))
        })
}
// ANCHOR_END: graph_tool

fn args<T: Tool>(_tool: &T, value: serde_json::Value) -> T::Args {
    match serde_json::from_value(value) {
        Ok(args) => args,
        Err(error) => panic!("bad test arguments: {error}"),
    }
}

#[tokio::test]
async fn a_call_runs_the_graph_and_maps_its_final_state() {
    let tool = researcher();
    let output = tool.call(args(&tool, json!({"topic": "tea"})), &ToolContext::new("c1")).await;
    assert_eq!(
        output.unwrap(),
        ToolOutput::new("tea is old; tea is loved")
            .with_artifact(json!(["tea is old", "tea is loved"]))
    );
    // Every call is a fresh run.
    let output = tool.call(args(&tool, json!({"topic": "jam"})), &ToolContext::new("c2")).await;
    assert_eq!(output.unwrap().content, "jam is old; jam is loved");
}

#[test]
fn its_spec_reads_the_argument_type() {
    let tool = researcher();
    assert_eq!(
        tool.spec(),
        graph_agent::ToolSpec {
            name: "research".into(),
            description: "Researches a topic and summarises it.".into(),
            parameters: json!({
                "description": "What the model fills in to start a research run.",
                "type": "object",
                "properties": {"topic": {"type": "string", "description": "What to research."}},
                "required": ["topic"]
            }),
        }
    );
    let toolbox = Toolbox::<MessagesState>::new().with(researcher());
    assert_eq!(toolbox.names(), ["research"]);
    assert!(!researcher().return_direct());

    let direct = GraphTool::new("research", "Researches.", research_graph())
        .return_direct()
        .input(|args: ResearchArgs| Research::update().topic(args.topic))
        .output(|state: &Research| state.summary.clone());
    assert!(direct.return_direct());
}

async fn refuse(state: Arc<Research>) -> Result<ResearchUpdate, std::io::Error> {
    Err(std::io::Error::other(format!("no sources on {}", state.topic)))
}

#[tokio::test]
async fn a_failed_sub_run_is_the_calls_error() {
    let graph = StateGraph::<Research>::new()
        .add_node("search", refuse)
        .add_edge(START, "search")
        .compile()
        .unwrap();
    let tool = GraphTool::new("research", "Researches.", graph)
        .input(|args: ResearchArgs| Research::update().topic(args.topic))
        .output(|state: &Research| state.summary.clone());
    let error = tool.call(args(&tool, json!({"topic": "tea"})), &ToolContext::new("c1")).await;
    let error = error.unwrap_err();
    assert_eq!(
        error.to_string(),
        "the graph of tool `research` failed: node `search` failed in step 0 (attempt 1): no sources on tea"
    );
    match error.downcast_ref::<GraphToolError>() {
        Some(GraphToolError::Failed { tool, source: GraphError::NodeFailed { node, .. } }) => {
            assert_eq!((tool.as_str(), node.as_str()), ("research", "search"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn the_builders_config_limits_the_sub_run() {
    let tool = GraphTool::new("research", "Researches.", research_graph())
        .config(RunConfig::default().recursion_limit(1))
        .input(|args: ResearchArgs| Research::update().topic(args.topic))
        .output(|state: &Research| state.summary.clone());
    let error = tool.call(args(&tool, json!({"topic": "tea"})), &ToolContext::new("c1")).await;
    match error.unwrap_err().downcast_ref::<GraphToolError>() {
        Some(GraphToolError::Failed {
            source: GraphError::RecursionLimit { limit, .. }, ..
        }) => {
            assert_eq!(*limit, 1)
        }
        other => panic!("{other:?}"),
    }
}

async fn ask(state: Arc<Research>, ctx: NodeContext) -> Result<ResearchUpdate, InterruptError> {
    let answer: String = ctx.interrupt(format!("which {}?", state.topic))?;
    Ok(Research::update().summary(answer))
}

#[tokio::test]
async fn a_paused_sub_run_is_the_calls_error() {
    let graph = StateGraph::<Research>::new()
        .add_node("ask", ask)
        .add_edge(START, "ask")
        .compile()
        .unwrap()
        .with_checkpointer(MemorySaver::new());
    let tool = GraphTool::new("research", "Researches.", graph)
        .config(RunConfig::default().thread_id("research-1"))
        .input(|args: ResearchArgs| Research::update().topic(args.topic))
        .output(|state: &Research| state.summary.clone());
    let error = tool.call(args(&tool, json!({"topic": "tea"})), &ToolContext::new("c1")).await;
    let error = error.unwrap_err();
    assert_eq!(
        error.to_string(),
        "the graph of tool `research` paused with 1 open interrupt(s) (0:ask#0); a tool's graph cannot pause"
    );
    match error.downcast_ref::<GraphToolError>() {
        Some(GraphToolError::Paused { tool, interrupts }) => {
            assert_eq!(tool, "research");
            assert_eq!(
                interrupts,
                &[Interrupt {
                    id: "0:ask#0".into(),
                    node: "ask".into(),
                    value: json!("which tea?")
                }]
            );
        }
        other => panic!("{other:?}"),
    }
}

/// A parent graph without a model: its node calls the research tool itself.
#[derive(State, Clone, Debug, Default, PartialEq)]
struct Desk {
    question: String,
    answer: String,
    call: String,
}

async fn delegate(state: Arc<Desk>, ctx: NodeContext) -> Result<DeskUpdate, graph_core::BoxError> {
    let tool = researcher();
    let call = ToolContext::in_task("call-1", ctx);
    let args = args(&tool, json!({"topic": state.question}));
    let output = tool.call(args, &call).await?;
    let node = call.node().map(|node| node.node().to_owned()).unwrap_or_default();
    Ok(Desk::update().answer(output.content).call(format!("{} in {node}", call.call_id())))
}

#[tokio::test]
async fn a_parent_node_calls_the_graph_tool() {
    let parent = StateGraph::<Desk>::new()
        .add_node("delegate", delegate)
        .add_edge(START, "delegate")
        .add_edge("delegate", END)
        .compile()
        .unwrap();
    let outcome =
        parent.invoke(Desk::update().question("tea".to_owned()), RunConfig::default()).await;
    assert_eq!(
        outcome.unwrap().finished().unwrap(),
        Desk {
            question: "tea".into(),
            answer: "tea is old; tea is loved".into(),
            call: "call-1 in delegate".into(),
        }
    );
}

#[tokio::test]
async fn a_graph_tool_called_in_a_task_streams_as_its_subgraph() {
    let parent = StateGraph::<Desk>::new()
        .add_node("delegate", delegate)
        .add_edge(START, "delegate")
        .compile()
        .unwrap();
    let config = RunConfig::default().stream_mode(graph_core::StreamMode::Updates);
    let events: Vec<_> =
        parent.stream(Desk::update().question("tea".to_owned()), config).collect().await;
    let nested: Vec<String> = events
        .iter()
        .filter_map(|event| match event.as_ref().unwrap() {
            graph_core::StreamEvent::Subgraph {
                namespace,
                event: graph_core::SubgraphEvent::Update { node, .. },
            } => Some(format!("{namespace} {node}")),
            _ => None,
        })
        .collect();
    assert_eq!(
        nested,
        [
            "delegate:0:delegate/research:call-1 search",
            "delegate:0:delegate/research:call-1 summarise"
        ]
    );
}

#[tokio::test]
async fn cancelling_the_run_cancels_a_graph_tool_inside_it() {
    let started = Arc::new(tokio::sync::Notify::new());
    let signal = Arc::clone(&started);
    let slow = StateGraph::<Research>::new()
        .add_node("search", move |_: Arc<Research>| {
            let signal = Arc::clone(&signal);
            async move {
                signal.notify_one();
                std::future::pending::<ResearchUpdate>().await
            }
        })
        .add_edge(START, "search")
        .compile()
        .unwrap();
    let tool = GraphTool::new("research", "Researches.", slow)
        .input(|args: ResearchArgs| Research::update().topic(args.topic))
        .output(|state: &Research| state.summary.clone());
    let parent = StateGraph::<Desk>::new()
        .add_node("delegate", move |state: Arc<Desk>, ctx: NodeContext| {
            let tool = tool.clone();
            async move {
                let args = args(&tool, json!({"topic": state.question}));
                let output = tool.call(args, &ToolContext::in_task("c1", ctx)).await?;
                Ok::<_, graph_core::BoxError>(Desk::update().answer(output))
            }
        })
        .add_edge(START, "delegate")
        .compile()
        .unwrap();
    let stop = graph_core::CancellationToken::new();
    let config = RunConfig::default().cancellation_token(stop.clone());
    let run = tokio::spawn(async move { parent.invoke(Desk::default(), config).await });
    started.notified().await;
    stop.cancel();
    assert!(matches!(run.await.unwrap(), Err(GraphError::Cancelled)));
}
