//! Snapshots of every example graph: its final state, its ordered stream of updates and its
//! Mermaid drawing, on tokio's paused clock so timings are exact.

use std::time::Duration;

use futures::StreamExt;
use graph_core::checkpoint::MemorySaver;
use graph_core::prelude::*;
use graph_core::{GraphInput, State, StreamEvent, StreamMode, Timeline};
use graph_examples::{
    agent_loop, approval, briefing, code_review, report, research, tool_calls, voting,
};
use serde::Serialize;
use serde_json::{json, Value};
use tokio::time::Instant;

/// Streams a run in `Updates` mode: the updates in order, the final state, and how long the
/// run took on the paused clock.
async fn run<S>(
    graph: &CompiledGraph<S>,
    input: impl GraphInput<S>,
    config: RunConfig,
) -> (Vec<Value>, Result<S, String>, Duration)
where
    S: State + Serialize,
    S::Update: Serialize,
{
    let started = Instant::now();
    let mut stream = graph.stream(input, config.stream_mode(StreamMode::Updates));
    let (mut updates, mut outcome) = (Vec::new(), Err("the stream ended early".to_owned()));
    while let Some(event) = stream.next().await {
        match event {
            Ok(StreamEvent::Done { state }) => outcome = Ok(state),
            Ok(StreamEvent::Paused { interrupts, .. }) => {
                let ids: Vec<&str> = interrupts.iter().map(|i| i.id.as_str()).collect();
                outcome = Err(format!("paused at {}", ids.join(", ")));
            }
            Ok(event) => updates.push(serde_json::to_value(&event).unwrap()),
            Err(error) => outcome = Err(error.to_string()),
        }
    }
    (updates, outcome, started.elapsed())
}

#[tokio::test(start_paused = true)]
async fn briefing_costs_the_slowest_source_not_the_sum() {
    let graph = briefing::graph();
    let (updates, state, elapsed) =
        run(&graph, briefing::Briefing::update().city("Lyon"), RunConfig::default()).await;
    let state = state.unwrap();
    assert_eq!(elapsed, Duration::from_millis(200));
    assert_eq!(state.sequential_ms, 400);
    insta::assert_json_snapshot!("briefing_state", state);
    insta::assert_json_snapshot!("briefing_updates", updates);
    insta::assert_snapshot!("briefing_mermaid", graph.draw_mermaid());
}

#[tokio::test(start_paused = true)]
async fn briefing_prints_its_summary_and_a_timeline_of_overlapping_fetches() {
    let graph = briefing::graph();
    let config = RunConfig::default().stream_mode(StreamMode::Tasks);
    let events: Vec<_> =
        graph.stream(briefing::Briefing::update().city("Lyon"), config).collect().await;
    let events: Vec<_> = events.into_iter().map(Result::unwrap).collect();
    let Some(StreamEvent::Done { state }) = events.last() else { panic!("the run finished") };
    let briefed = briefing::brief("Lyon").await.unwrap();
    assert_eq!(&briefed, state);
    insta::assert_snapshot!("briefing_summary", briefed.summary);
    let timeline = Timeline::from_events(&events);
    insta::assert_snapshot!("briefing_timeline_table", timeline.to_table());
    insta::assert_snapshot!("briefing_timeline_gantt", timeline.to_gantt());
}

#[tokio::test(start_paused = true)]
async fn report_writes_one_section_per_worker_in_plan_order() {
    let graph = report::graph();
    let (updates, state, elapsed) =
        run(&graph, report::Report::update().topic("Parallel agents"), RunConfig::default()).await;
    let state = state.unwrap();
    // Planning (50 ms), then the slowest worker (300 ms): the workers overlap.
    assert_eq!(elapsed, Duration::from_millis(350));
    assert_eq!(state.drafts.iter().map(|d| d.index).collect::<Vec<_>>(), [0, 1, 2]);
    insta::assert_json_snapshot!("report_state", state);
    insta::assert_json_snapshot!("report_updates", updates);
    insta::assert_snapshot!("report_mermaid", graph.draw_mermaid());
}

#[tokio::test(start_paused = true)]
async fn voting_reports_the_majority_and_its_confidence() {
    let graph = voting::graph();
    let (updates, state, elapsed) =
        run(&graph, voting::Poll::update().text("I love this library"), RunConfig::default()).await;
    let state = state.unwrap();
    assert_eq!(state.verdict, "positive (confidence: 80%)");
    assert_eq!(state.most_confident, "negative by voter_3 (95%)");
    assert_eq!(elapsed, Duration::from_millis(120));
    insta::assert_json_snapshot!("voting_state", state);
    insta::assert_json_snapshot!("voting_updates", updates);
    insta::assert_snapshot!("voting_mermaid", graph.draw_mermaid());
}

#[tokio::test(start_paused = true)]
async fn code_review_keeps_partial_results_or_fails_fast() {
    let graph = code_review::graph(code_review::Mode::BestEffort);
    let input = || code_review::Review::update().code("fn main() {}");
    let (updates, state, elapsed) = run(&graph, input(), RunConfig::default()).await;
    let state = state.unwrap();
    assert_eq!(elapsed, code_review::TIMEOUT);
    assert_eq!(state.findings.len(), 2);
    assert_eq!(state.failures, ["`style` failed: timed out after 1s (task 0:style, attempt 1)"]);
    insta::assert_json_snapshot!("code_review_state", state);
    insta::assert_json_snapshot!("code_review_updates", updates);
    insta::assert_snapshot!("code_review_mermaid", graph.draw_mermaid());

    let fail_fast = code_review::graph(code_review::Mode::FailFast);
    let (updates, outcome, elapsed) = run(&fail_fast, input(), RunConfig::default()).await;
    let error = outcome.unwrap_err();
    assert_eq!(error, "node `style` timed out after 1s in step 0 (attempt 1)");
    insta::assert_snapshot!("code_review_fail_fast", error);
    assert_eq!(elapsed, code_review::TIMEOUT);
    assert_eq!(updates.len(), 2, "security and performance finished before the timeout");
}

#[tokio::test(start_paused = true)]
async fn tool_calls_run_two_at_a_time_and_return_in_call_order() {
    let graph = tool_calls::graph(tool_calls::model());
    let (updates, state, elapsed) = run(&graph, tool_calls::request(), RunConfig::default()).await;
    let state = state.unwrap();
    // Five 100 ms calls, two at a time: three waves; then summarize and translate (50 ms each).
    assert_eq!(elapsed, Duration::from_millis(400));
    let answered: Vec<&str> = state
        .messages
        .iter()
        .filter_map(|m| m.as_tool())
        .map(|t| t.tool_call_id.as_str())
        .collect();
    assert_eq!(answered, ["call_0", "call_1", "call_2", "call_3", "call_4"]);
    assert!(state.translation.starts_with("[fr] In short: Lisbon: 18°C"));
    insta::assert_json_snapshot!("tool_calls_state", state);
    insta::assert_json_snapshot!("tool_calls_updates", updates);
    insta::assert_snapshot!("tool_calls_mermaid", graph.draw_mermaid());
}

#[tokio::test(start_paused = true)]
async fn ten_one_second_research_jobs_take_one_second() {
    let graph = research::graph();
    let topics: Vec<String> = (1..=10).map(|i| format!("topic {i}")).collect();
    let (updates, state, elapsed) =
        run(&graph, research::Research::update().topics(topics), RunConfig::default()).await;
    let state = state.unwrap();
    assert_eq!(elapsed, research::SEARCH_TIME);
    assert_eq!(state.summaries.len(), 10);
    assert_eq!(state.summaries[9], "topic 10: three sources on topic 10");
    insta::assert_json_snapshot!("research_state", state);
    insta::assert_json_snapshot!("research_updates", updates);
    insta::assert_snapshot!("research_mermaid", graph.draw_mermaid());
}

#[tokio::test(start_paused = true)]
async fn the_run_s_concurrency_limit_reaches_the_research_sub_agents() {
    let topics: Vec<String> = (1..=10).map(|i| format!("topic {i}")).collect();
    let config = RunConfig::default().max_concurrency(5);
    let (_, state, elapsed) =
        run(&research::graph(), research::Research::update().topics(topics), config).await;
    assert_eq!(state.unwrap().summaries.len(), 10);
    // Five searches at a time: two rounds of one second.
    assert_eq!(elapsed, 2 * research::SEARCH_TIME);
}

#[tokio::test(start_paused = true)]
async fn approval_pauses_for_a_person_who_edits_and_approves() {
    let graph = approval::graph().with_checkpointer(MemorySaver::new());
    let config = RunConfig::default().thread_id("email-1");
    let (first, outcome, _) =
        run(&graph, approval::Outbox::update().to("Ada"), config.clone()).await;
    assert_eq!(outcome.unwrap_err(), "paused at 1:review#0");

    // The person reads the question, softens the draft, and approves.
    let paused = graph.get_state(&config).await.unwrap().unwrap();
    assert_eq!(paused.next, ["review"]);
    assert_eq!(
        paused.interrupts[0].value,
        json!("Send this email?\nDear Ada, the invoice is attached. Pay now!!")
    );
    assert!(paused.values.sent.is_empty(), "nothing was sent before approval");
    let edit = approval::Outbox::update().draft("Dear Ada, the invoice is attached. Thank you!");
    graph.update_state(&config, edit, None).await.unwrap();
    let (second, state, _) =
        run(&graph, Command::<approval::Outbox>::resume("approve"), config).await;
    let state = state.unwrap();
    assert_eq!(state.sent, ["to Ada: Dear Ada, the invoice is attached. Thank you!"]);
    insta::assert_json_snapshot!("approval_state", state);
    insta::assert_json_snapshot!("approval_updates", [first, second]);
    insta::assert_snapshot!("approval_mermaid", graph.draw_mermaid());
}

#[tokio::test(start_paused = true)]
async fn the_agent_loops_until_done_and_the_limit_stops_a_stubborn_one() {
    let graph = agent_loop::graph(agent_loop::decisive_model());
    let (updates, state, elapsed) = run(&graph, agent_loop::question(), RunConfig::default()).await;
    let state = state.unwrap();
    // Two model calls of 20 ms around two 30 ms tools that run at once.
    assert_eq!(elapsed, Duration::from_millis(20 + 30 + 20));
    assert_eq!(
        state.messages.last().unwrap().content(),
        "Paris is 344 km from London, and it is sunny there."
    );
    insta::assert_json_snapshot!("agent_loop_state", state);
    insta::assert_json_snapshot!("agent_loop_updates", updates);
    insta::assert_snapshot!("agent_loop_mermaid", graph.draw_mermaid());

    let stubborn = agent_loop::graph(agent_loop::stubborn_model());
    let (_, outcome, _) =
        run(&stubborn, agent_loop::question(), RunConfig::default().recursion_limit(10)).await;
    assert_eq!(
        outcome.unwrap_err(),
        "recursion limit of 10 supersteps reached; nodes still pending: agent"
    );
}
