//! The rules every records backend follows, checked on each (ids are fresh, so a shared
//! database or a reopened file holds other records too).

use graph_core::checkpoint::ThreadMark;
use serde_json::{json, Map};

use super::{Backend, Records, Run, RunStatus, Thread, ThreadStatus};
use crate::error::ApiError;

pub(crate) fn thread(id: &str, owner: Option<&str>) -> Thread {
    Thread {
        thread_id: id.to_owned(),
        created_at: super::now(),
        updated_at: super::now(),
        metadata: Map::from_iter([("topic".to_owned(), json!("mail"))]),
        status: ThreadStatus::Idle,
        values: json!(null),
        interrupts: Map::new(),
        error: None,
        owner: owner.map(str::to_owned),
    }
}

fn run(id: &str, thread_id: &str, created_at: &str) -> Run {
    Run {
        run_id: id.to_owned(),
        thread_id: thread_id.to_owned(),
        assistant_id: "a".to_owned(),
        created_at: created_at.to_owned(),
        updated_at: created_at.to_owned(),
        status: RunStatus::Pending,
        metadata: Map::new(),
        kwargs: json!({"input": {"x": [1, "ü"]}}),
        multitask_strategy: "enqueue".to_owned(),
        started_at: None,
    }
}

/// Runs every rule on `backend`.
pub(crate) async fn check(backend: impl Backend) {
    let records = Records::new(backend);
    let fresh = || uuid::Uuid::new_v4().to_string();
    let (owner, other) = (fresh(), fresh());
    let (mine, theirs) = (fresh(), fresh());

    records.insert_thread(thread(&mine, Some(&owner))).await.unwrap();
    records.insert_thread(thread(&theirs, Some(&other))).await.unwrap();
    let taken = records.insert_thread(thread(&mine, Some(&other))).await;
    assert!(matches!(taken, Err(ApiError::Exists(id)) if id == mine));

    let found = records.thread(&mine, Some(&owner)).await.unwrap();
    assert_eq!(
        (found.owner.as_deref(), &found.metadata["topic"]),
        (Some(owner.as_str()), &json!("mail"))
    );
    let hidden = records.thread(&mine, Some(&other)).await;
    assert!(matches!(hidden, Err(ApiError::NotFound { kind: "thread", .. })));
    assert!(records.thread(&mine, None).await.is_err());
    let listed: Vec<String> =
        records.threads(Some(&owner)).await.unwrap().into_iter().map(|t| t.thread_id).collect();
    assert_eq!(listed, std::slice::from_ref(&mine));

    let changed = records
        .update_thread(&mine, |t| {
            t.status = ThreadStatus::Interrupted;
            t.values = json!({"items": ["a"]});
        })
        .await
        .unwrap()
        .unwrap();
    let reread = records.thread(&mine, Some(&owner)).await.unwrap();
    assert_eq!(
        (reread.status, &reread.values),
        (ThreadStatus::Interrupted, &json!({"items": ["a"]}))
    );
    assert_eq!(reread.updated_at, changed.updated_at);
    assert!(records.update_thread(&fresh(), |_| {}).await.unwrap().is_none());

    let (first, second) = (fresh(), fresh());
    records.insert_run(&run(&first, &mine, "2026-01-01T00:00:00.000001+00:00")).await.unwrap();
    records.insert_run(&run(&second, &mine, "2026-01-01T00:00:00.000002+00:00")).await.unwrap();
    let unfinished = |records: Vec<Run>| -> Vec<String> {
        records.into_iter().map(|r| r.run_id).filter(|id| *id == first || *id == second).collect()
    };
    assert_eq!(
        unfinished(records.unfinished_runs().await.unwrap()),
        [first.clone(), second.clone()]
    );
    let mark = |latest: &str| ThreadMark::new([(mine.clone(), latest.to_owned())].into(), 7);
    assert_eq!(records.start_run(&second, mark("c1")).await.unwrap(), mark("c1"));
    assert_eq!(
        records.start_run(&second, mark("c2")).await.unwrap(),
        mark("c1"),
        "a later attempt of a run keeps where its first started"
    );
    records.set_run_status(&first, RunStatus::Success).await.unwrap();
    assert_eq!(unfinished(records.unfinished_runs().await.unwrap()), std::slice::from_ref(&second));
    let started = records.run(&mine, &second).await.unwrap();
    assert_eq!((started.started_from(), &started.started_at), (Some("c1"), &Some(mark("c1"))));
    let runs = records.runs(&mine).await.unwrap();
    let seen: Vec<(&str, RunStatus)> = runs.iter().map(|r| (r.run_id.as_str(), r.status)).collect();
    assert_eq!(seen, [(second.as_str(), RunStatus::Running), (first.as_str(), RunStatus::Success)]);
    assert_eq!(runs[0].kwargs, json!({"input": {"x": [1, "ü"]}}));
    assert!(records.run(&theirs, &first).await.is_err(), "a run is found only under its thread");

    records.delete_run(&second).await.unwrap();
    assert!(records.run(&mine, &second).await.is_err());
    records.delete_thread(&mine).await.unwrap();
    assert!(records.thread(&mine, Some(&owner)).await.is_err());
    assert!(records.runs(&mine).await.unwrap().is_empty());
    assert!(records.thread(&theirs, Some(&other)).await.is_ok());
    records.delete_thread(&theirs).await.unwrap();
}

#[tokio::test]
async fn memory_records_follow_the_rules() {
    check(super::MemoryRecords::default()).await;
}
