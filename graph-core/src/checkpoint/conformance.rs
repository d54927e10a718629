//! The conformance suite every [`Checkpointer`] must pass: ordering, optimistic concurrency,
//! pending writes, thread isolation, deletion, copies, rewinds and faithful round trips.
//!
//! Call [`run`] from a test with a fresh saver; it panics with a message naming the broken
//! rule. Thread ids are unique per call, so a shared database can be reused.

use serde_json::json;

use super::{
    new_checkpoint_id, Checkpoint, CheckpointError, CheckpointMetadata, CheckpointSource,
    Checkpointer, GotoRecord, PendingRecord, PendingWrite, SendRecord, StateRecord, ThreadMark,
};

/// Runs every rule against `saver`.
pub async fn run<C: Checkpointer>(saver: &C) {
    let prefix = new_checkpoint_id();
    empty_thread(saver, &format!("{prefix}-empty")).await;
    chain_and_conflicts(saver, &format!("{prefix}-chain")).await;
    pending_writes(saver, &format!("{prefix}-writes")).await;
    isolation_and_deletion(saver, &format!("{prefix}-a"), &format!("{prefix}-b")).await;
    racing_workers(saver, &format!("{prefix}-race")).await;
    batches(saver, &format!("{prefix}-batch")).await;
    copies(saver, &format!("{prefix}-original"), &format!("{prefix}-copy")).await;
    rewinds(saver, &format!("{prefix}-rewound")).await;
}

/// A checkpoint of `thread` after `parent`, exercising every field.
pub fn sample(thread: &str, parent: Option<&Checkpoint>, step: i64) -> Checkpoint {
    let state = match parent {
        None => StateRecord::Full { values: json!({ "items": [1, 2], "name": "ünïcode ✓" }) },
        Some(_) => {
            StateRecord::Delta { writes: vec![("worker".into(), json!({ "items": [step] }))] }
        }
    };
    Checkpoint {
        id: new_checkpoint_id(),
        thread_id: thread.to_owned(),
        parent_id: parent.map(|p| p.id.clone()),
        state,
        pending: PendingRecord {
            triggered: vec!["a".into(), "b".into()],
            sends: vec![SendRecord { node: "w".into(), payload: json!({ "topic": step }) }],
            joins: vec![vec![true, false]],
            parent: vec!["p".into()],
        },
        metadata: CheckpointMetadata {
            source: if parent.is_none() { CheckpointSource::Input } else { CheckpointSource::Loop },
            step,
            writers: vec!["worker".into()],
            invocation: None,
        },
    }
}

async fn empty_thread<C: Checkpointer>(saver: &C, thread: &str) {
    assert!(
        saver.get(thread, None).await.unwrap().is_none(),
        "an unknown thread has no latest checkpoint"
    );
    assert!(
        saver.get(thread, Some("nope")).await.unwrap().is_none(),
        "an unknown checkpoint is None"
    );
    assert!(saver.list(thread).await.unwrap().is_empty(), "an unknown thread has no history");
}

async fn chain_and_conflicts<C: Checkpointer>(saver: &C, thread: &str) {
    let first = sample(thread, None, -1);
    saver.put(&first, None).await.expect("the first checkpoint of a thread expects none");
    let stored = saver.get(thread, None).await.unwrap().expect("the latest checkpoint");
    assert_eq!(stored.checkpoint, first, "a checkpoint round-trips unchanged");
    assert!(stored.writes.is_empty());

    let again = sample(thread, None, -1);
    match saver.put(&again, None).await {
        Err(CheckpointError::Conflict { expected: None, found: Some(found), .. }) => {
            assert_eq!(found, first.id)
        }
        other => panic!("a second first checkpoint must conflict, got {other:?}"),
    }

    let second = sample(thread, Some(&first), 0);
    saver.put(&second, Some(&first.id)).await.expect("advancing from the latest succeeds");
    let third = sample(thread, Some(&first), 0);
    match saver.put(&third, Some(&first.id)).await {
        Err(CheckpointError::Conflict { expected: Some(expected), found: Some(found), .. }) => {
            assert_eq!((expected, found), (first.id.clone(), second.id.clone()));
        }
        other => panic!("advancing from a stale checkpoint must conflict, got {other:?}"),
    }
    assert_eq!(
        saver.get(thread, None).await.unwrap().unwrap().checkpoint,
        second,
        "the latest is the second"
    );
    let history = saver.list(thread).await.unwrap();
    assert_eq!(
        history,
        [second.clone(), first.clone()],
        "history is newest first, without the rejected one"
    );
    assert_eq!(
        saver.get(thread, Some(&first.id)).await.unwrap().unwrap().checkpoint,
        first,
        "older checkpoints load by id"
    );
}

async fn pending_writes<C: Checkpointer>(saver: &C, thread: &str) {
    let first = sample(thread, None, -1);
    saver.put(&first, None).await.unwrap();
    let writes = [
        PendingWrite::Output {
            task_id: "0:a".into(),
            update: Some(json!({ "items": [3] })),
            more: vec![json!({ "items": [4] })],
            goto: vec![GotoRecord::new("w", Some(json!(7)))],
        },
        PendingWrite::Interrupt {
            task_id: "0:b".into(),
            interrupt_id: "0:b#0".into(),
            node: "b".into(),
            value: json!("ok?"),
        },
        PendingWrite::Resume { task_id: "0:b".into(), values: vec![json!("yes")] },
    ];
    for write in &writes {
        saver.put_write(thread, &first.id, write).await.unwrap();
    }
    let stored = saver.get(thread, Some(&first.id)).await.unwrap().unwrap();
    assert_eq!(stored.writes, writes, "writes come back in the order they were saved");
    let second = sample(thread, Some(&first), 0);
    saver.put(&second, Some(&first.id)).await.unwrap();
    assert!(
        saver.get(thread, None).await.unwrap().unwrap().writes.is_empty(),
        "writes belong to one checkpoint"
    );
}

async fn isolation_and_deletion<C: Checkpointer>(saver: &C, a: &str, b: &str) {
    let in_a = sample(a, None, -1);
    let in_b = sample(b, None, -1);
    saver.put(&in_a, None).await.unwrap();
    saver.put(&in_b, None).await.expect("threads advance independently");
    saver
        .put_write(a, &in_a.id, &PendingWrite::Resume { task_id: "t".into(), values: vec![] })
        .await
        .unwrap();
    // A subgraph's checkpoints live under its parent's thread id and a namespace.
    let (a_child, b_child, a_like) = (format!("{a}|x:0:x@1"), format!("{b}|x"), format!("{a}x"));
    for thread in [&a_child, &b_child, &a_like] {
        saver.put(&sample(thread, None, -1), None).await.unwrap();
    }
    saver.delete_thread(a).await.unwrap();
    assert!(saver.get(a, None).await.unwrap().is_none(), "a deleted thread is gone");
    assert!(saver.list(a).await.unwrap().is_empty());
    assert!(saver.list(&a_child).await.unwrap().is_empty(), "its subgraphs' threads go too");
    assert_eq!(
        saver.get(b, None).await.unwrap().unwrap().checkpoint,
        in_b,
        "deleting one thread keeps the others"
    );
    assert_eq!(saver.list(&b_child).await.unwrap().len(), 1, "and their subgraphs'");
    assert_eq!(
        saver.list(&a_like).await.unwrap().len(),
        1,
        "and threads whose id only starts alike"
    );
    let fresh = sample(a, None, -1);
    saver.put(&fresh, None).await.expect("a deleted thread can start again");
    assert!(saver.get(a, None).await.unwrap().unwrap().writes.is_empty());
}

async fn racing_workers<C: Checkpointer>(saver: &C, thread: &str) {
    let first = sample(thread, None, -1);
    saver.put(&first, None).await.unwrap();
    for round in 0..5 {
        let latest = saver.get(thread, None).await.unwrap().unwrap().checkpoint;
        let (one, two) =
            (sample(thread, Some(&latest), round), sample(thread, Some(&latest), round));
        let (r1, r2) =
            futures::join!(saver.put(&one, Some(&latest.id)), saver.put(&two, Some(&latest.id)));
        let conflicts = [&r1, &r2]
            .iter()
            .filter(|r| matches!(r, Err(CheckpointError::Conflict { .. })))
            .count();
        assert!(
            r1.is_ok() != r2.is_ok() && conflicts == 1,
            "exactly one of two racing workers advances: {r1:?} {r2:?}"
        );
    }
    assert_eq!(saver.list(thread).await.unwrap().len(), 6);
}

async fn batches<C: Checkpointer>(saver: &C, thread: &str) {
    let first = sample(thread, None, -1);
    let stale = [sample(thread, None, -1), sample(thread, None, 0)];
    saver.put(&first, None).await.unwrap();
    match saver.put_batch(&stale, None).await {
        Err(CheckpointError::Conflict { expected: None, found: Some(found), .. }) => {
            assert_eq!(found, first.id)
        }
        other => panic!("a batch expecting a fresh thread must conflict, got {other:?}"),
    }
    assert_eq!(
        saver.list(thread).await.unwrap(),
        std::slice::from_ref(&first),
        "a stale batch saves nothing"
    );

    let second = sample(thread, Some(&first), 0);
    let third = sample(thread, Some(&second), 1);
    let fourth = sample(thread, Some(&third), 2);
    let batch = [second.clone(), third.clone(), fourth.clone()];
    saver.put_batch(&batch, Some(&first.id)).await.expect("a batch after the latest is saved");
    assert_eq!(
        saver.list(thread).await.unwrap(),
        [fourth.clone(), third.clone(), second.clone(), first.clone()],
        "a batch reads back in order, after what was there"
    );
    assert_eq!(
        saver.get(thread, None).await.unwrap().unwrap().checkpoint,
        fourth,
        "the batch's last checkpoint is the latest"
    );
    assert_eq!(
        saver.get(thread, Some(&third.id)).await.unwrap().unwrap().checkpoint,
        third,
        "a checkpoint inside a batch loads by id"
    );

    let late = [sample(thread, Some(&second), 1), sample(thread, Some(&second), 2)];
    match saver.put_batch(&late, Some(&second.id)).await {
        Err(CheckpointError::Conflict { expected: Some(expected), found: Some(found), .. }) => {
            assert_eq!((expected, found), (second.id.clone(), fourth.id.clone()));
        }
        other => panic!("a batch after a stale checkpoint must conflict, got {other:?}"),
    }
    saver.put_batch(&[], Some(&fourth.id)).await.expect("an empty batch saves nothing");
    assert_eq!(saver.list(thread).await.unwrap().len(), 4, "neither rejected batch saved a thing");
    let fifth = sample(thread, Some(&fourth), 3);
    saver.put(&fifth, Some(&fourth.id)).await.expect("a single put follows a batch");
}

async fn copies<C: Checkpointer>(saver: &C, original: &str, copy: &str) {
    // Two checkpoints with writes, a subgraph's thread with a checkpoint and a write, and a
    // thread whose id only starts alike.
    let first = sample(original, None, -1);
    let second = sample(original, Some(&first), 0);
    saver.put(&first, None).await.unwrap();
    saver.put(&second, Some(&first.id)).await.unwrap();
    let first_writes = [PendingWrite::Output {
        task_id: "0:a".into(),
        update: Some(json!({ "items": [3] })),
        more: Vec::new(),
        goto: vec![GotoRecord::new("w", None)],
    }];
    let second_writes = [
        PendingWrite::Interrupt {
            task_id: "1:b".into(),
            interrupt_id: "1:b#0".into(),
            node: "b".into(),
            value: json!("ok?"),
        },
        PendingWrite::Resume { task_id: "1:b".into(), values: vec![json!("yes")] },
    ];
    for (checkpoint, writes) in [(&first, &first_writes[..]), (&second, &second_writes[..])] {
        for write in writes {
            saver.put_write(original, &checkpoint.id, write).await.unwrap();
        }
    }
    let namespace = format!("|s:1:s@{}", second.id);
    let child = format!("{original}{namespace}");
    let mut in_child = sample(&child, None, -1);
    in_child.metadata.invocation = Some(format!("{}/1:s", second.id));
    saver.put(&in_child, None).await.unwrap();
    let child_writes = [PendingWrite::Answer {
        task_id: "1:s".into(),
        interrupt_id: "s:1|x:0:x#0".into(),
        value: json!({ "answer": 42 }),
    }];
    saver.put_write(&child, &in_child.id, &child_writes[0]).await.unwrap();
    let alike = format!("{original}x");
    saver.put(&sample(&alike, None, -1), None).await.unwrap();

    saver.copy_thread(original, copy).await.expect("a thread copies to an unused id");
    let moved = |checkpoint: &Checkpoint, thread: &str| Checkpoint {
        thread_id: thread.to_owned(),
        ..checkpoint.clone()
    };
    let copy_child = format!("{copy}{namespace}");
    assert_eq!(
        saver.list(copy).await.unwrap(),
        [moved(&second, copy), moved(&first, copy)],
        "the copy has every checkpoint, with the same ids and parents, under its own id"
    );
    let latest = saver.get(copy, None).await.unwrap().expect("the copy's latest checkpoint");
    assert_eq!(
        (latest.checkpoint, latest.writes),
        (moved(&second, copy), second_writes.to_vec()),
        "the copy's latest checkpoint is the original's, with its writes"
    );
    let older = saver.get(copy, Some(&first.id)).await.unwrap().expect("an older checkpoint");
    assert_eq!(
        (older.checkpoint, older.writes),
        (moved(&first, copy), first_writes.to_vec()),
        "older checkpoints are copied with their writes"
    );
    let child_copy = saver.get(&copy_child, None).await.unwrap().expect("the subgraph's copy");
    assert_eq!(
        (child_copy.checkpoint, child_copy.writes),
        (moved(&in_child, &copy_child), child_writes.to_vec()),
        "the subgraphs' threads are copied under the copy's id, with their writes"
    );
    assert_eq!(saver.list(&copy_child).await.unwrap().len(), 1);
    assert!(
        saver.list(&format!("{copy}x")).await.unwrap().is_empty(),
        "threads whose id only starts alike are not copied"
    );

    match saver.copy_thread(original, copy).await {
        Err(CheckpointError::ThreadInUse { thread_id }) => assert_eq!(thread_id, copy),
        other => panic!("a copy to a thread in use must be refused, got {other:?}"),
    }
    let taken = format!("{copy}-taken");
    let taken_child = sample(&format!("{taken}|s"), None, -1);
    saver.put(&taken_child, None).await.unwrap();
    match saver.copy_thread(original, &taken).await {
        Err(CheckpointError::ThreadInUse { thread_id }) => assert_eq!(thread_id, taken),
        other => {
            panic!("a copy to a thread whose subgraph is in use must be refused, got {other:?}")
        }
    }
    assert!(saver.list(&taken).await.unwrap().is_empty(), "a refused copy copies nothing");
    assert_eq!(
        saver.list(&taken_child.thread_id).await.unwrap(),
        std::slice::from_ref(&taken_child)
    );
    let written = format!("{copy}-written");
    saver
        .put_write(&written, "c", &PendingWrite::Resume { task_id: "t".into(), values: vec![] })
        .await
        .unwrap();
    assert!(
        matches!(
            saver.copy_thread(original, &written).await,
            Err(CheckpointError::ThreadInUse { .. })
        ),
        "a thread with writes only is in use too"
    );

    // Saves to the copy leave the original as it was.
    let third = sample(copy, Some(&moved(&second, copy)), 1);
    saver.put(&third, Some(&second.id)).await.expect("the copy advances from its latest");
    saver
        .put_write(
            copy,
            &second.id,
            &PendingWrite::Resume { task_id: "2:c".into(), values: vec![] },
        )
        .await
        .unwrap();
    saver.put(&sample(&copy_child, Some(&in_child), 0), Some(&in_child.id)).await.unwrap();
    assert_eq!(saver.list(original).await.unwrap(), [second.clone(), first.clone()]);
    let stored = saver.get(original, None).await.unwrap().unwrap();
    assert_eq!(
        (stored.checkpoint, stored.writes),
        (second.clone(), second_writes.to_vec()),
        "the original keeps its latest checkpoint and its writes"
    );
    assert_eq!(saver.list(&child).await.unwrap(), [in_child.clone()], "and its subgraphs'");
    saver
        .put(&sample(original, Some(&second), 1), Some(&second.id))
        .await
        .expect("the original advances from its own latest, whatever the copy did");
    assert_eq!(saver.list(copy).await.unwrap().len(), 3);

    // A thread with nothing saved copies to nothing; deleting the copy keeps the original.
    let nothing = format!("{copy}-of-nothing");
    saver.copy_thread(&format!("{original}-none"), &nothing).await.unwrap();
    assert!(saver.list(&nothing).await.unwrap().is_empty());
    saver.delete_thread(copy).await.unwrap();
    assert!(saver.list(&copy_child).await.unwrap().is_empty());
    assert_eq!(
        saver.list(original).await.unwrap().len(),
        3,
        "deleting the copy keeps the original"
    );
    assert_eq!(saver.list(&child).await.unwrap().len(), 1);
}

async fn rewinds<C: Checkpointer>(saver: &C, thread: &str) {
    // Before the mark: two checkpoints, the latest with a pause; a subgraph paused inside;
    // a thread whose id only starts alike.
    let first = sample(thread, None, -1);
    let second = sample(thread, Some(&first), 0);
    saver.put_batch(&[first.clone(), second.clone()], None).await.unwrap();
    let pause = PendingWrite::Interrupt {
        task_id: "1:b".into(),
        interrupt_id: "1:b#0".into(),
        node: "b".into(),
        value: json!("ok?"),
    };
    saver.put_write(thread, &second.id, &pause).await.unwrap();
    let child = format!("{thread}|b:1:b@{}", second.id);
    let in_child = sample(&child, None, -1);
    saver.put(&in_child, None).await.unwrap();
    saver.put_write(&child, &in_child.id, &pause).await.unwrap();
    let alike = format!("{thread}x");
    let in_alike = sample(&alike, None, -1);
    saver.put(&in_alike, None).await.unwrap();
    let history = saver.list(thread).await.unwrap();

    let mark = saver.mark(thread).await.unwrap();
    assert_eq!(
        mark.latest,
        [(thread.to_owned(), second.id.clone()), (child.clone(), in_child.id.clone())].into(),
        "a mark names the latest checkpoint of the thread and of each subgraph's thread"
    );

    // A run after the mark: answers and outputs against the paused checkpoint, two new
    // checkpoints with a write, the subgraph resumed, a new subgraph thread; the thread that
    // only starts alike moves on too.
    let answer = PendingWrite::Resume { task_id: "1:b".into(), values: vec![json!("yes")] };
    let output = PendingWrite::Output {
        task_id: "1:b".into(),
        update: Some(json!({ "items": [9] })),
        more: Vec::new(),
        goto: Vec::new(),
    };
    for write in [&answer, &output] {
        saver.put_write(thread, &second.id, write).await.unwrap();
    }
    let third = sample(thread, Some(&second), 1);
    let fourth = sample(thread, Some(&third), 2);
    saver.put_batch(&[third.clone(), fourth.clone()], Some(&second.id)).await.unwrap();
    saver.put_write(thread, &fourth.id, &output).await.unwrap();
    saver.put_write(&child, &in_child.id, &answer).await.unwrap();
    saver.put(&sample(&child, Some(&in_child), 0), Some(&in_child.id)).await.unwrap();
    let new_child = format!("{thread}|c");
    saver.put(&sample(&new_child, None, -1), None).await.unwrap();
    saver.put_write(&new_child, "any", &answer).await.unwrap();
    let alike_next = sample(&alike, Some(&in_alike), 0);
    saver.put(&alike_next, Some(&in_alike.id)).await.unwrap();
    saver.put_write(&alike, &alike_next.id, &output).await.unwrap();

    saver.rewind(thread, &mark).await.expect("a thread rewinds to a mark");
    assert_eq!(saver.list(thread).await.unwrap(), history, "the checkpoints after the mark go");
    let latest = saver.get(thread, None).await.unwrap().expect("the marked latest");
    assert_eq!(
        (latest.checkpoint, latest.writes),
        (second.clone(), vec![pause.clone()]),
        "the marked checkpoint is the latest again, with only the writes it had"
    );
    let child_latest = saver.get(&child, None).await.unwrap().expect("the subgraph's latest");
    assert_eq!(
        (child_latest.checkpoint, child_latest.writes),
        (in_child.clone(), vec![pause.clone()]),
        "a subgraph's thread rewinds to its own mark"
    );
    assert_eq!(saver.list(&child).await.unwrap().len(), 1);
    assert!(
        saver.list(&new_child).await.unwrap().is_empty()
            && saver.get(&new_child, Some("any")).await.unwrap().is_none(),
        "a subgraph's thread begun after the mark is gone"
    );
    assert_eq!(
        saver.list(&alike).await.unwrap(),
        [alike_next.clone(), in_alike],
        "a thread whose id only starts alike keeps what it saved"
    );
    assert_eq!(
        saver.get(&alike, None).await.unwrap().unwrap().writes,
        std::slice::from_ref(&output)
    );
    let again = sample(thread, Some(&second), 1);
    saver.put(&again, Some(&second.id)).await.expect("the thread goes on from the marked latest");
    saver.rewind(thread, &mark).await.unwrap();
    saver.rewind(thread, &mark).await.expect("rewinding twice changes nothing more");
    assert_eq!(saver.list(thread).await.unwrap(), history);

    // A mark of a thread with nothing saved rewinds to nothing.
    let fresh = format!("{thread}-fresh");
    let empty = saver.mark(&fresh).await.unwrap();
    assert_eq!(empty.latest, ThreadMark::default().latest, "an unknown thread marks no latest");
    let started = sample(&fresh, None, -1);
    saver.put(&started, None).await.unwrap();
    saver.put_write(&fresh, &started.id, &output).await.unwrap();
    saver.rewind(&fresh, &empty).await.unwrap();
    assert!(saver.get(&fresh, None).await.unwrap().is_none(), "the thread has no checkpoint");
    assert!(saver.get(&fresh, Some(&started.id)).await.unwrap().is_none());
    saver.put(&started, None).await.expect("a rewound thread with nothing starts afresh");
    assert!(
        saver.get(&fresh, None).await.unwrap().unwrap().writes.is_empty(),
        "no write of the rewound run is left behind"
    );
}
