//! Checkpoints on every backend (memory, SQLite, PostgreSQL): the conformance suite, resume
//! after failure, interrupts, editing and time travel, storage growth, conflicts between
//! workers and corrupt data.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use graph_core::checkpoint::{
    conformance, CheckpointError, CheckpointSource, Checkpointer, MemorySaver, PostgresSaver,
    SqliteSaver,
};
use graph_core::prelude::*;
use graph_core::{Durability, Input, InterruptError, InvalidResume};
use support::backends::{
    on_every_backend, postgres, postgres_url, thread, unique, with_application_name,
};
use support::{visit, visited, Log, LogUpdate};
use tokio_postgres::NoTls;

on_every_backend!(
    conformance_suite,
    resume_after_failure_runs_only_unfinished_tasks,
    interrupt_inspect_and_resume,
    several_interrupts_resume_by_id,
    interrupt_before_edit_and_resume,
    interrupt_after_pauses_after_the_step,
    replay_and_fork_from_an_old_checkpoint,
    concurrent_resumes_conflict,
    durability_modes_reach_the_same_state,
    pending_sends_survive_a_resume,
    a_refused_send_fails_the_resumed_run_as_it_failed_the_first,
);

async fn conformance_suite(saver: Arc<dyn Checkpointer>) {
    conformance::run(&saver).await;
}

async fn resume_after_failure_runs_only_unfinished_tasks(saver: Arc<dyn Checkpointer>) {
    // `ok` finishes, `flaky` fails the first time; a resume must not run `ok` again.
    let runs = Arc::new(AtomicUsize::new(0));
    let fails = Arc::new(AtomicUsize::new(1));
    let (ok_runs, remaining) = (Arc::clone(&runs), Arc::clone(&fails));
    let graph = StateGraph::<Log>::new()
        .add_node("ok", move |_: Arc<Log>| {
            ok_runs.fetch_add(1, Ordering::SeqCst);
            async { Log::update().visited(vec!["ok".into()]) }
        })
        .add_node("flaky", move |_: Arc<Log>| {
            let failing = remaining
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                if failing {
                    return Err("flaky failed");
                }
                Ok(Log::update().visited(vec!["flaky".into()]))
            }
        })
        .add_node("after", visit("after"))
        .add_edge(START, "ok")
        .add_edge(START, "flaky")
        .add_join(["ok", "flaky"], "after")
        .compile()
        .unwrap()
        .with_checkpointer(saver);
    let config = thread();
    let err = graph.invoke(Log::default(), config.clone()).await.unwrap_err();
    assert!(matches!(err, GraphError::NodeFailed { ref node, .. } if node == "flaky"), "{err:?}");
    let snapshot = graph.get_state(&config).await.unwrap().unwrap();
    assert_eq!(snapshot.next, ["flaky", "ok"]);

    let out = graph.invoke(Command::<Log>::new(), config.clone()).await.unwrap().into_state();
    assert_eq!(out.visited, visited(&["flaky", "ok", "after"]));
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the finished sibling was not run again");
}

/// `draft` writes, `review` asks a person, `publish` runs after approval.
fn approval_graph() -> StateGraph<Log> {
    StateGraph::<Log>::new()
        .add_node("draft", visit("draft"))
        .add_node("review", |s: Arc<Log>, ctx: NodeContext| async move {
            let verdict: String = ctx.interrupt(format!("approve {} items?", s.visited.len()))?;
            Ok::<_, InterruptError>(Log::update().last(Some(verdict)))
        })
        .add_node("publish", visit("publish"))
        .add_edge(START, "draft")
        .add_edge("draft", "review")
        .add_edge("review", "publish")
}

async fn interrupt_inspect_and_resume(saver: Arc<dyn Checkpointer>) {
    let graph = approval_graph().compile().unwrap().with_checkpointer(saver);
    let config = thread();
    let outcome = graph.invoke(Log::default(), config.clone()).await.unwrap();
    let interrupts = outcome.interrupts().to_vec();
    assert_eq!(interrupts.len(), 1);
    assert_eq!(interrupts[0].id, "1:review#0");
    assert_eq!(interrupts[0].value, serde_json::json!("approve 1 items?"));

    let snapshot = graph.get_state(&config).await.unwrap().unwrap();
    assert_eq!(snapshot.values.visited, visited(&["draft"]));
    assert_eq!(snapshot.next, ["review"]);
    assert_eq!(snapshot.interrupts, interrupts);
    assert_eq!(snapshot.metadata.source, CheckpointSource::Loop);

    // A resume without an answer is refused while the question is open.
    let err = graph.invoke(Command::<Log>::new(), config.clone()).await.unwrap_err();
    let thread_id = config_thread(&config);
    assert_eq!(
        err.to_string(),
        format!("thread `{thread_id}` waits for answers to interrupts `1:review#0`: resume with Command::resume(answer), or Command::resume_by_id for several")
    );
    let GraphError::InvalidResume(problem) = err else { panic!("{err:?}") };
    let waiting = vec!["1:review#0".to_string()];
    assert_eq!(problem, InvalidResume::NoAnswer { thread_id: thread_id.clone(), waiting });
    // An answer to a question nobody asked is refused too.
    let answers = [("1:other#0".to_string(), "yes")];
    let err =
        graph.invoke(Command::<Log>::resume_by_id(answers), config.clone()).await.unwrap_err();
    let GraphError::InvalidResume(problem) = err else { panic!("{err:?}") };
    assert_eq!(
        problem,
        InvalidResume::UnknownInterrupt {
            thread_id: thread_id.clone(),
            interrupt_id: "1:other#0".into(),
            waiting: vec!["1:review#0".into()],
        }
    );

    let out = graph
        .invoke(Command::<Log>::resume("approved"), config.clone())
        .await
        .unwrap()
        .into_state();
    assert_eq!(out.visited, visited(&["draft", "publish"]));
    assert_eq!(out.last.as_deref(), Some("approved"));
    let finished = graph.get_state(&config).await.unwrap().unwrap();
    assert!(finished.next.is_empty());

    // The thread finished: a further resume, with or without an answer, has nothing to do.
    for resume in [Command::<Log>::new(), Command::<Log>::resume("again")] {
        let err = graph.invoke(resume, config.clone()).await.unwrap_err();
        let GraphError::NothingToResume { thread_id: t, checkpoint_id } = &err else {
            panic!("{err:?}")
        };
        assert_eq!((t, checkpoint_id), (&thread_id, &finished.checkpoint_id));
        assert_eq!(err.to_string(), format!("thread `{thread_id}` finished at checkpoint `{}`, so there is nothing to resume: start a new run with an input, or replay an earlier checkpoint with RunConfig::checkpoint_id", finished.checkpoint_id));
    }
}

async fn several_interrupts_resume_by_id(saver: Arc<dyn Checkpointer>) {
    let ask = |who: &'static str| {
        move |_: Arc<Log>, ctx: NodeContext| async move {
            let answer: String = ctx.interrupt(format!("{who}?"))?;
            Ok::<_, InterruptError>(Log::update().visited(vec![format!("{who}: {answer}")]))
        }
    };
    let graph = StateGraph::<Log>::new()
        .add_node("legal", ask("legal"))
        .add_node("finance", ask("finance"))
        .add_edge(START, "legal")
        .add_edge(START, "finance")
        .compile()
        .unwrap()
        .with_checkpointer(saver);
    let config = thread();
    let outcome = graph.invoke(Log::default(), config.clone()).await.unwrap();
    let interrupts = outcome.interrupts().to_vec();
    let ids: Vec<&str> = interrupts.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, ["0:finance#0", "0:legal#0"]);

    let err = graph.invoke(Command::<Log>::resume("yes"), config.clone()).await.unwrap_err();
    let thread_id = config_thread(&config);
    assert_eq!(err.to_string(), format!("thread `{thread_id}` waits for 2 interrupts (`0:finance#0`, `0:legal#0`), so one answer is ambiguous: answer each by id with Command::resume_by_id"));
    let GraphError::InvalidResume(problem) = err else { panic!("{err:?}") };
    let waiting = vec!["0:finance#0".to_string(), "0:legal#0".to_string()];
    assert_eq!(problem, InvalidResume::OneAnswerForSeveral { thread_id, waiting });

    let answers = [("0:legal#0".to_string(), "ok"), ("0:finance#0".to_string(), "within budget")];
    let out =
        graph.invoke(Command::<Log>::resume_by_id(answers), config).await.unwrap().into_state();
    assert_eq!(out.visited, visited(&["finance: within budget", "legal: ok"]));
}

async fn interrupt_before_edit_and_resume(saver: Arc<dyn Checkpointer>) {
    let graph = StateGraph::<Log>::new()
        .add_node("plan", |_: Arc<Log>| async {
            Log::update().last(Some("delete everything".into()))
        })
        .add_node("act", |s: Arc<Log>| async move {
            Log::update().visited(vec![format!("did: {}", s.last.clone().unwrap())])
        })
        .add_edge(START, "plan")
        .add_edge("plan", "act")
        .interrupt_before(["act"])
        .compile()
        .unwrap()
        .with_checkpointer(saver);
    let config = thread();
    let outcome = graph.invoke(Log::default(), config.clone()).await.unwrap();
    let ids: Vec<&str> = outcome.interrupts().iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, ["before:act"]);
    let snapshot = graph.get_state(&config).await.unwrap().unwrap();
    assert_eq!(snapshot.next, ["act"]);
    assert_eq!(snapshot.values.last.as_deref(), Some("delete everything"));

    // A person edits the plan; what runs next stays the same.
    graph
        .update_state(&config, Log::update().last(Some("archive old files".into())), None)
        .await
        .unwrap();
    let edited = graph.get_state(&config).await.unwrap().unwrap();
    assert_eq!(edited.next, ["act"]);
    assert_eq!(edited.metadata.source, CheckpointSource::Update);

    let out = graph.invoke(Command::<Log>::new(), config).await.unwrap().into_state();
    assert_eq!(out.visited, visited(&["did: archive old files"]));
}

async fn interrupt_after_pauses_after_the_step(saver: Arc<dyn Checkpointer>) {
    let graph = StateGraph::<Log>::new()
        .add_node("a", visit("a"))
        .add_node("b", visit("b"))
        .add_edge(START, "a")
        .add_edge("a", "b")
        .interrupt_after(["a"])
        .compile()
        .unwrap()
        .with_checkpointer(saver);
    let config = thread();
    let outcome = graph.invoke(Log::default(), config.clone()).await.unwrap();
    let ids: Vec<&str> = outcome.interrupts().iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, ["after:a"]);
    let snapshot = graph.get_state(&config).await.unwrap().unwrap();
    assert_eq!(
        (snapshot.values.visited.clone(), snapshot.next.clone()),
        (visited(&["a"]), vec!["b".to_string()])
    );
    let out = graph.invoke(Command::<Log>::new(), config).await.unwrap().into_state();
    assert_eq!(out.visited, visited(&["a", "b"]));
}

async fn replay_and_fork_from_an_old_checkpoint(saver: Arc<dyn Checkpointer>) {
    let graph = StateGraph::<Log>::new()
        .add_node("a", visit("a"))
        .add_node("b", |s: Arc<Log>| async move {
            Log::update().visited(vec![format!("b after {}", s.visited.join("+"))])
        })
        .add_edge(START, "a")
        .add_edge("a", "b")
        .compile()
        .unwrap()
        .with_checkpointer(saver);
    let config = thread();
    graph.invoke(Log::default(), config.clone()).await.unwrap().into_state();
    let history = graph.get_state_history(&config).await.unwrap();
    let steps: Vec<(i64, CheckpointSource, Vec<String>)> =
        history.iter().map(|h| (h.metadata.step, h.metadata.source, h.next.clone())).collect();
    assert_eq!(
        steps,
        [
            (1, CheckpointSource::Loop, vec![]),
            (0, CheckpointSource::Loop, vec!["b".to_string()]),
            (-1, CheckpointSource::Input, vec!["a".to_string()]),
        ]
    );
    assert_eq!(history[0].values.visited, visited(&["a", "b after a"]));
    let after_a = history[1].checkpoint_id.clone();

    // Replay from after `a`: `b` runs again on that state.
    let replay = config.clone().checkpoint_id(after_a.clone());
    let out = graph.invoke(Command::<Log>::new(), replay.clone()).await.unwrap().into_state();
    assert_eq!(out.visited, visited(&["a", "b after a"]));

    // Fork: edit the old checkpoint, then continue the new branch.
    let fork =
        graph.update_state(&replay, Log::update().visited(vec!["x".into()]), None).await.unwrap();
    let forked = graph.get_state(&config).await.unwrap().unwrap();
    assert_eq!(forked.checkpoint_id, fork);
    assert_eq!(forked.parent_id.as_deref(), Some(after_a.as_str()));
    assert_eq!(forked.metadata.source, CheckpointSource::Fork);
    let out = graph.invoke(Command::<Log>::new(), config.clone()).await.unwrap().into_state();
    assert_eq!(out.visited, visited(&["a", "x", "b after a+x"]));
}

async fn concurrent_resumes_conflict(saver: Arc<dyn Checkpointer>) {
    // Both workers load the paused thread, then meet inside `work`, then both try to save.
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let graph = StateGraph::<Log>::new()
        .add_node("work", move |_: Arc<Log>| {
            let barrier = Arc::clone(&barrier);
            async move {
                barrier.wait().await;
                Log::update().n(1)
            }
        })
        .add_edge(START, "work")
        .interrupt_before(["work"])
        .compile()
        .unwrap()
        .with_checkpointer(saver);
    let config = thread();
    assert!(graph.invoke(Log::default(), config.clone()).await.unwrap().is_paused());
    let (one, two) = tokio::join!(
        graph.invoke(Command::<Log>::new(), config.clone()),
        graph.invoke(Command::<Log>::new(), config.clone()),
    );
    let conflicts = [&one, &two]
        .iter()
        .filter(|r| matches!(r, Err(GraphError::Checkpoint(CheckpointError::Conflict { .. }))))
        .count();
    assert_eq!(conflicts, 1, "{one:?} {two:?}");
    assert!(one.is_ok() || two.is_ok());
    assert_eq!(graph.get_state(&config).await.unwrap().unwrap().values.n, 1);
}

async fn durability_modes_reach_the_same_state(saver: Arc<dyn Checkpointer>) {
    let graph = StateGraph::<Log>::new()
        .add_node("a", visit("a"))
        .add_node("b", visit("b"))
        .add_node("c", visit("c"))
        .add_edge(START, "a")
        .add_edge("a", "b")
        .add_edge("b", "c")
        .compile()
        .unwrap()
        .with_checkpointer(Arc::clone(&saver));
    for (durability, checkpoints) in
        [(Durability::Sync, 4), (Durability::Async, 4), (Durability::Exit, 2)]
    {
        let config = thread().durability(durability);
        let out = graph.invoke(Log::default(), config.clone()).await.unwrap().into_state();
        assert_eq!(out.visited, visited(&["a", "b", "c"]));
        let history = graph.get_state_history(&config).await.unwrap();
        assert_eq!(history.len(), checkpoints, "{durability:?}");
        assert_eq!(history[0].values, out, "{durability:?}");
    }
}

async fn pending_sends_survive_a_resume(saver: Arc<dyn Checkpointer>) {
    let graph = StateGraph::<Log>::new()
        .add_node("plan", visit("plan"))
        .add_node("write", |Input(topic): Input<String>| async move {
            Log::update().visited(vec![format!("write {topic}")])
        })
        .add_edge(START, "plan")
        .add_conditional_edges(
            "plan",
            |_: &Log| {
                vec![
                    graph_core::Send::new("write", "a".to_string()),
                    graph_core::Send::new("write", "b".to_string()),
                ]
            },
            ["write"],
        )
        .interrupt_before(["write"])
        .compile()
        .unwrap()
        .with_checkpointer(saver);
    let config = thread();
    assert!(graph.invoke(Log::default(), config.clone()).await.unwrap().is_paused());
    assert_eq!(graph.get_state(&config).await.unwrap().unwrap().next, ["write", "write"]);
    let out = graph.invoke(Command::<Log>::new(), config).await.unwrap().into_state();
    assert_eq!(out.visited, visited(&["plan", "write a", "write b"]));
}

#[tokio::test]
async fn a_checkpointed_graph_needs_a_thread_id() {
    let graph = approval_graph().compile().unwrap().with_checkpointer(MemorySaver::new());
    let err = graph.invoke(Log::default(), RunConfig::default()).await.unwrap_err();
    assert!(matches!(err, GraphError::MissingThreadId));
    let config = thread();
    let thread_id = config_thread(&config);
    let err = graph.invoke(Command::<Log>::new(), config.clone()).await.unwrap_err();
    assert!(
        matches!(&err, GraphError::UnknownThread { thread_id: t } if *t == thread_id),
        "{err:?}"
    );
    assert_eq!(err.to_string(), format!("thread `{thread_id}` has no checkpoint: start it with an input (a state or an update) before resuming or editing it"));
    let edit = graph.update_state(&config, Log::update().n(1), None).await.unwrap_err();
    assert!(
        matches!(&edit, GraphError::UnknownThread { thread_id: t } if *t == thread_id),
        "{edit:?}"
    );
    assert!(graph.get_state(&config).await.unwrap().is_none(), "a thread never run has no state");
}

#[tokio::test]
async fn reading_or_resuming_a_thread_needs_a_checkpointer() {
    let graph = approval_graph().compile().unwrap();
    let config = thread();
    let expect = |err: GraphError, needed: &str| {
        assert_eq!(err.to_string(), format!("{needed} needs a checkpointer, and this graph has none: compile it and call `.with_checkpointer(..)`, for example with `MemorySaver::new()`"));
        assert!(matches!(err, GraphError::NoCheckpointer { needed_for } if needed_for == needed));
    };
    expect(graph.get_state(&config).await.unwrap_err(), "get_state");
    expect(graph.get_state_history(&config).await.unwrap_err(), "get_state_history");
    expect(
        graph.update_state(&config, Log::update().n(1), None).await.unwrap_err(),
        "update_state",
    );
    expect(graph.invoke(Command::<Log>::new(), config).await.unwrap_err(), "resuming a thread");
}

#[tokio::test]
async fn a_command_as_input_only_resumes() {
    let graph = approval_graph().compile().unwrap().with_checkpointer(MemorySaver::new());
    let config = thread();
    assert!(graph.invoke(Log::default(), config.clone()).await.unwrap().is_paused());
    let thread_id = config_thread(&config);
    let with_update = Command::<Log>::new().update(Log::update().n(1));
    let with_goto = Command::<Log>::new().goto("publish");
    for command in [with_update, with_goto] {
        let err = graph.invoke(command, config.clone()).await.unwrap_err();
        let GraphError::InvalidResume(problem) = err else { panic!("{err:?}") };
        assert_eq!(problem, InvalidResume::UpdateOrGoto { thread_id: thread_id.clone() });
    }
    // With no question open, an answer has nowhere to go.
    let graph = StateGraph::<Log>::new()
        .add_node("a", visit("a"))
        .add_edge(START, "a")
        .interrupt_before(["a"])
        .compile()
        .unwrap()
        .with_checkpointer(MemorySaver::new());
    assert!(graph.invoke(Log::default(), config.clone()).await.unwrap().is_paused());
    let err = graph.invoke(Command::<Log>::resume("yes"), config.clone()).await.unwrap_err();
    let GraphError::InvalidResume(problem) = err else { panic!("{err:?}") };
    assert_eq!(problem, InvalidResume::NothingWaiting { thread_id });
}

#[tokio::test]
async fn storage_grows_with_what_changed() {
    // 1,000 steps each append one item: a checkpoint per step must not copy the whole list.
    const STEPS: u64 = 1_000;
    let saver = Arc::new(MemorySaver::new());
    let graph = StateGraph::<Log>::new()
        .add_node("tick", |s: Arc<Log>| async move {
            Log::update().visited(vec![format!("item {}", s.n)]).n(1)
        })
        .add_edge(START, "tick")
        .add_conditional_edges(
            "tick",
            |s: &Log| if s.n < STEPS { "tick" } else { END },
            ["tick", END],
        )
        .compile()
        .unwrap()
        .with_checkpointer(Arc::clone(&saver));
    let config = thread();
    let out = graph
        .invoke(Log::default(), config.clone().recursion_limit(2_000))
        .await
        .unwrap()
        .into_state();
    assert_eq!(out.visited.len(), STEPS as usize);

    let thread_id = config_thread(&config);
    let stored: usize = saver
        .list(&thread_id)
        .await
        .unwrap()
        .iter()
        .map(|c| serde_json::to_string(c).unwrap().len())
        .sum();
    let full_state = serde_json::to_string(&out).unwrap().len();
    // What copying the state into every checkpoint would cost: about STEPS/2 full states.
    let naive: usize = (1..=STEPS as usize).map(|i| full_state * i / STEPS as usize).sum();
    println!("stored {stored} bytes for {STEPS} steps; full copies would take about {naive} bytes");
    assert!(stored * 10 < naive, "stored {stored} bytes, naive {naive}");
    // Loading the thread replays at most one snapshot interval of deltas.
    let snapshot = graph.get_state(&config).await.unwrap().unwrap();
    assert_eq!(snapshot.values, out);
}

fn config_thread(config: &RunConfig) -> String {
    config.thread_id.as_deref().unwrap().to_owned()
}

#[tokio::test]
async fn a_corrupt_sqlite_checkpoint_names_thread_and_checkpoint() {
    let dir = std::env::temp_dir().join("graph-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{}.sqlite", unique("corrupt")));
    let graph =
        approval_graph().compile().unwrap().with_checkpointer(SqliteSaver::open(&file).unwrap());
    let config = thread();
    assert!(graph.invoke(Log::default(), config.clone()).await.unwrap().is_paused());
    let latest = graph.get_state(&config).await.unwrap().unwrap().checkpoint_id;

    let conn = rusqlite::Connection::open(&file).unwrap();
    conn.execute(
        "UPDATE graph_checkpoints SET body = '{\"not\": \"a checkpoint\"}' WHERE id = ?1",
        [&latest],
    )
    .unwrap();
    let err = graph.get_state(&config).await.unwrap_err();
    match &err {
        GraphError::Checkpoint(CheckpointError::Corrupt { thread_id, checkpoint_id, .. }) => {
            assert_eq!(checkpoint_id, &latest);
            assert_eq!(thread_id, &config_thread(&config));
        }
        other => panic!("expected a corrupt checkpoint error, got {other:?}"),
    }
    assert!(err.to_string().contains(&latest));
    let err = graph.invoke(Command::<Log>::resume("ok"), config).await.unwrap_err();
    assert!(matches!(err, GraphError::Checkpoint(CheckpointError::Corrupt { .. })));
}

#[tokio::test]
async fn a_corrupt_postgres_checkpoint_names_thread_and_checkpoint() {
    let graph = approval_graph().compile().unwrap().with_checkpointer(postgres().await);
    let config = thread();
    assert!(graph.invoke(Log::default(), config.clone()).await.unwrap().is_paused());
    let latest = graph.get_state(&config).await.unwrap().unwrap().checkpoint_id;
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "host=127.0.0.1 user=postgres dbname=test".into());
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    // A state that is valid JSON but not a `Log`.
    let body = format!(
        r#"{{"id":"{latest}","thread_id":"{}","parent_id":null,"state":{{"kind":"full","values":{{"visited":3}}}},"pending":{{"triggered":[],"sends":[],"joins":[]}},"metadata":{{"source":"loop","step":0,"writers":[]}}}}"#,
        config_thread(&config)
    );
    client
        .execute("UPDATE graph_checkpoints SET body = $1 WHERE id = $2", &[&body, &latest])
        .await
        .unwrap();
    let err = graph.get_state(&config).await.unwrap_err();
    assert!(
        matches!(&err, GraphError::Checkpoint(CheckpointError::Corrupt { checkpoint_id, .. }) if *checkpoint_id == latest),
        "{err:?}"
    );
}

/// A saver starting while another writes a thread and then its writes: the tables exist, but
/// making sure of their indexes locks each table in turn. Holding the first index's table
/// while waiting for the second would deadlock with the writer, and PostgreSQL would end
/// one of the two.
#[tokio::test]
async fn a_saver_starting_beside_a_writer_waits_for_it_without_a_deadlock() {
    drop(postgres().await); // the tables exist
    let url = postgres_url();
    let (mut writer, connection) = tokio_postgres::connect(&url, NoTls).await.unwrap();
    tokio::spawn(connection);
    let (watcher, connection) = tokio_postgres::connect(&url, NoTls).await.unwrap();
    tokio::spawn(connection);

    let writing = writer.transaction().await.unwrap();
    let thread_id = unique("thread");
    let sql = "INSERT INTO graph_threads (thread_id, latest) VALUES ($1, 'c')";
    writing.execute(sql, &[&thread_id]).await.unwrap();

    let name = unique("starting");
    let starting = tokio::spawn({
        let url = with_application_name(&url, &name);
        async move { PostgresSaver::connect(&url).await }
    });
    // The starting saver waits for the writer's lock on `graph_threads`.
    let waiting = "SELECT count(*) FROM pg_stat_activity
                   WHERE application_name = $1 AND wait_event_type = 'Lock'";
    while watcher.query_one(waiting, &[&name]).await.unwrap().get::<_, i64>(0) == 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let sql = "INSERT INTO graph_writes (thread_id, checkpoint_id, body) VALUES ($1, 'c', '{}')";
    writing.execute(sql, &[&thread_id]).await.unwrap();
    writing.rollback().await.unwrap();
    let started = tokio::time::timeout(Duration::from_secs(10), starting).await.unwrap();
    started.unwrap().unwrap();
}

#[allow(dead_code)]
fn _names(_: LogUpdate) {}

#[tokio::test]
async fn a_stream_reports_every_checkpoint() {
    use futures::StreamExt;
    use graph_core::{StreamEvent, StreamMode};

    let graph = StateGraph::<Log>::new()
        .add_node("a", visit("a"))
        .add_node("b", visit("b"))
        .add_edge(START, "a")
        .add_edge("a", "b")
        .compile()
        .unwrap()
        .with_checkpointer(MemorySaver::new());
    let config = thread().stream_mode(StreamMode::Checkpoints);
    let events: Vec<_> = graph.stream(Log::default(), config.clone()).collect().await;
    let saved: Vec<(i64, CheckpointSource, Vec<String>, bool)> = events
        .iter()
        .filter_map(|e| match e.as_ref().unwrap() {
            StreamEvent::Checkpoint { metadata, parent_id, .. } => Some((
                metadata.step,
                metadata.source,
                metadata.writers.clone(),
                parent_id.is_some(),
            )),
            _ => None,
        })
        .collect();
    assert_eq!(
        saved,
        [
            (-1, CheckpointSource::Input, vec!["__input__".to_string()], false),
            (0, CheckpointSource::Loop, vec!["a".to_string()], true),
            (1, CheckpointSource::Loop, vec!["b".to_string()], true),
        ]
    );
    let history = graph.get_state_history(&config).await.unwrap();
    let announced: Vec<&String> = events
        .iter()
        .filter_map(|e| match e.as_ref().unwrap() {
            StreamEvent::Checkpoint { checkpoint_id, .. } => Some(checkpoint_id),
            _ => None,
        })
        .collect();
    let stored: Vec<&String> = history.iter().rev().map(|h| &h.checkpoint_id).collect();
    assert_eq!(announced, stored);
}

/// Scores: floats in a list, in an optional record, and as Send payloads.
#[derive(State, Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct Scores {
    #[reducer(append)]
    scores: Vec<f64>,
    best: Option<Best>,
}

#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct Best {
    score: f64,
}

fn non_finite(err: &GraphError) -> (String, f64) {
    match err {
        GraphError::Checkpoint(CheckpointError::NonFiniteFloat { path, value }) => {
            (path.clone(), *value)
        }
        other => panic!("expected a non-finite float error, got {other:?}"),
    }
}

#[tokio::test]
async fn non_finite_floats_fail_the_save_instead_of_changing() {
    let scorer = |score: f64| {
        move |_: Arc<Scores>| async move { Scores::update().best(Some(Best { score })) }
    };
    let graph = |score: f64| {
        StateGraph::<Scores>::new()
            .add_node("score", scorer(score))
            .add_edge(START, "score")
            .compile()
            .unwrap()
            .with_checkpointer(MemorySaver::new())
    };

    // The input state: nothing is saved, so the thread does not start.
    let config = thread();
    let input = Scores { scores: vec![0.5, 1.0, f64::NAN], best: None };
    let err = graph(1.0).invoke(input, config.clone()).await.unwrap_err();
    let (path, value) = non_finite(&err);
    assert_eq!(path, "scores[2]");
    assert!(value.is_nan());
    assert!(err.to_string().starts_with("cannot save the non-finite float NaN at `scores[2]`"));

    // A node's update: the run fails at that step; the thread keeps the step before.
    let graph = graph(f64::INFINITY);
    let err = graph.invoke(Scores::default(), config.clone()).await.unwrap_err();
    assert_eq!(non_finite(&err), ("best.score".into(), f64::INFINITY));
    let saved = graph.get_state(&config).await.unwrap().unwrap();
    assert_eq!((saved.metadata.step, saved.values), (-1, Scores::default()));

    // An edit through update_state.
    let edit = Scores::update().scores(vec![f64::NEG_INFINITY]);
    let err = graph.update_state(&config, edit, None).await.unwrap_err();
    assert_eq!(non_finite(&err), ("scores[0]".into(), f64::NEG_INFINITY));
    assert_eq!(graph.get_state_history(&config).await.unwrap().len(), 1, "nothing was saved");
}

#[tokio::test]
async fn non_finite_send_payloads_and_interrupt_values_fail_too() {
    let graph = StateGraph::<Scores>::new()
        .add_node("plan", |_: Arc<Scores>| async { Scores::update() })
        .add_node("score", |Input(score): Input<f64>| async move {
            Scores::update().scores(vec![score])
        })
        .add_edge(START, "plan")
        .add_conditional_edges(
            "plan",
            |_: &Scores| {
                vec![
                    graph_core::Send::new("score", 1.0),
                    graph_core::Send::new("score", f64::NEG_INFINITY),
                ]
            },
            ["score"],
        )
        .compile()
        .unwrap()
        .with_checkpointer(MemorySaver::new());
    let err = graph.invoke(Scores::default(), thread()).await.unwrap_err();
    assert_eq!(non_finite(&err), (".".into(), f64::NEG_INFINITY));

    let graph = StateGraph::<Scores>::new()
        .add_node("ask", |_: Arc<Scores>, ctx: NodeContext| async move {
            let _: bool = ctx.interrupt(Best { score: f64::NAN })?;
            Ok::<_, InterruptError>(Scores::update())
        })
        .add_edge(START, "ask")
        .compile()
        .unwrap()
        .with_checkpointer(MemorySaver::new());
    let err = graph.invoke(Scores::default(), thread()).await.unwrap_err();
    let GraphError::NodeFailed { node, source, .. } = &err else { panic!("{err:?}") };
    assert_eq!(node, "ask");
    match source.downcast_ref::<InterruptError>() {
        Some(InterruptError::NonFiniteValue { id, path, value }) => {
            assert_eq!((id.as_str(), path.as_str()), ("0:ask#0", "score"));
            assert!(value.is_nan());
        }
        other => panic!("expected a non-finite interrupt value, got {other:?}"),
    }
}

/// A `Send` its node does not take fails the run when the step is applied, after the task's
/// output was saved. A run resumed from that checkpoint fails the same way, naming the same
/// types, rather than finding the saved output unreadable.
async fn a_refused_send_fails_the_resumed_run_as_it_failed_the_first(saver: Arc<dyn Checkpointer>) {
    let graph = StateGraph::<Log>::new()
        .add_node_with(
            "plan",
            |_: Arc<Log>| async {
                Command::<Log>::new().goto(graph_core::Send::new("w", "text".to_owned()))
            },
            graph_core::NodeOptions::new().destinations(["w"]),
        )
        .add_node(
            "w",
            |Input(n): Input<u32>| async move { Log::update().visited(vec![n.to_string()]) },
        )
        // A second task in the step, so that each task's output is saved as it finishes.
        .add_node("other", |_: Arc<Log>| async { Log::update().n(1) })
        .add_edge(START, "plan")
        .add_edge(START, "other")
        .compile()
        .unwrap()
        .with_checkpointer(saver);
    let config = thread();
    let refused = |error: GraphError| match error {
        GraphError::PayloadType { node, expected, found } => {
            assert_eq!((node.as_str(), expected, found), ("w", "u32", "alloc::string::String"));
        }
        other => panic!("expected a refused payload, got {other:?}"),
    };
    refused(graph.invoke(Log::update(), config.clone()).await.unwrap_err());
    refused(graph.invoke(Command::<Log>::new(), config).await.unwrap_err());
}
