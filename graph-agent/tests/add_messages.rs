//! `add_messages`: each of LangGraph's rules on its own, ids, the reducer inside a graph, and a
//! property test against a small reference implementation.

use std::sync::Arc;

use graph_agent::{
    add_messages, Message, Messages, MessagesState, MessagesStateUpdate, UnknownMessage,
};
use graph_core::checkpoint::MemorySaver;
use graph_core::prelude::*;
use graph_core::{GraphError, InvalidUpdate};
use proptest::prelude::*;

fn user(id: &str, text: &str) -> Message {
    Message::user(text).with_id(id)
}

/// `(id, text)` of each message.
fn pairs(messages: &Messages) -> Vec<(String, String)> {
    messages.iter().map(|m| (m.id().unwrap().to_owned(), m.content().to_owned())).collect()
}

fn expect(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(id, text)| (id.to_string(), text.to_string())).collect()
}

fn merged(left: Vec<Message>, right: Vec<Message>) -> Result<Messages, UnknownMessage> {
    let mut left = Messages::from(left);
    add_messages(&mut left, right.into()).map(|()| left)
}

#[test]
fn new_ids_are_appended_in_order() {
    let out = merged(vec![user("1", "a")], vec![user("2", "b"), user("3", "c")]).unwrap();
    assert_eq!(pairs(&out), expect(&[("1", "a"), ("2", "b"), ("3", "c")]));
}

#[test]
fn a_known_id_is_replaced_in_place() {
    let out =
        merged(vec![user("1", "a"), user("2", "b")], vec![user("1", "A"), user("3", "c")]).unwrap();
    assert_eq!(pairs(&out), expect(&[("1", "A"), ("2", "b"), ("3", "c")]));
}

#[test]
fn removals_apply_after_the_walk() {
    let out = merged(
        vec![user("1", "a"), user("2", "b"), user("3", "c")],
        vec![Message::remove("2"), user("4", "d")],
    )
    .unwrap();
    assert_eq!(pairs(&out), expect(&[("1", "a"), ("3", "c"), ("4", "d")]));
}

#[test]
fn re_adding_then_removing_in_one_update_removes() {
    let out =
        merged(vec![user("1", "a"), user("2", "b")], vec![user("2", "B"), Message::remove("2")])
            .unwrap();
    assert_eq!(pairs(&out), expect(&[("1", "a")]));
}

#[test]
fn removing_then_re_adding_keeps_the_old_slot() {
    let out = merged(
        vec![user("1", "a"), user("2", "b"), user("3", "c")],
        vec![Message::remove("2"), user("2", "B")],
    )
    .unwrap();
    assert_eq!(pairs(&out), expect(&[("1", "a"), ("2", "B"), ("3", "c")]));
}

#[test]
fn a_message_added_earlier_in_the_update_can_be_removed() {
    let out = merged(vec![user("1", "a")], vec![user("2", "b"), Message::remove("2")]).unwrap();
    assert_eq!(pairs(&out), expect(&[("1", "a")]));
}

#[test]
fn removing_an_unknown_id_is_an_error_and_changes_nothing() {
    let mut list = Messages::from(vec![user("1", "a")]);
    let update = vec![user("1", "A"), user("2", "b"), Message::remove("9")];
    let error = add_messages(&mut list, update.into()).unwrap_err();
    assert_eq!(error, UnknownMessage { id: "9".into() });
    assert_eq!(
        error.to_string(),
        "Attempting to delete a message with an ID that doesn't exist ('9')"
    );
    assert_eq!(pairs(&list), expect(&[("1", "a")]));
}

#[test]
fn remove_all_keeps_exactly_what_follows_the_last_marker() {
    let out = merged(
        vec![user("1", "a"), user("2", "b")],
        vec![
            user("3", "c"),
            Message::remove_all(),
            user("4", "d"),
            Message::remove_all(),
            user("5", "e"),
            user("5", "E"),
        ],
    )
    .unwrap();
    // No de-duplication after the marker, as in LangGraph.
    assert_eq!(pairs(&out), expect(&[("5", "e"), ("5", "E")]));
    let emptied = merged(vec![user("1", "a")], vec![Message::remove_all()]).unwrap();
    assert!(emptied.is_empty());
}

#[test]
fn duplicates_in_the_list_are_kept_and_a_replacement_hits_the_last() {
    let out = merged(vec![user("1", "a"), user("1", "b")], vec![user("1", "B")]).unwrap();
    assert_eq!(pairs(&out), expect(&[("1", "a"), ("1", "B")]));
    // A removal removes every copy.
    let out =
        merged(vec![user("1", "a"), user("1", "b"), user("2", "c")], vec![Message::remove("1")])
            .unwrap();
    assert_eq!(pairs(&out), expect(&[("2", "c")]));
}

#[test]
fn duplicates_in_one_update_collapse_into_one_slot_last_wins() {
    let out =
        merged(vec![user("1", "a")], vec![user("2", "b"), user("3", "c"), user("2", "B")]).unwrap();
    assert_eq!(pairs(&out), expect(&[("1", "a"), ("2", "B"), ("3", "c")]));
}

#[test]
fn missing_ids_are_assigned_deterministically_on_both_sides() {
    let run = || {
        merged(vec![Message::user("a")], vec![Message::assistant("b"), Message::user("c")]).unwrap()
    };
    let (first, second) = (run(), run());
    assert_eq!(first, second);
    let ids: Vec<&str> = first.iter().map(|m| m.id().unwrap()).collect();
    assert_eq!(ids.len(), 3);
    assert!(ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2]);
    // Every id is a UUID.
    assert!(ids.iter().all(|id| id.len() == 36 && id.matches('-').count() == 4));
    // The same text after another history gets another id.
    let other = merged(vec![Message::user("z")], vec![Message::assistant("b")]).unwrap();
    assert_ne!(other[1].id(), first[1].id());
}

#[test]
fn the_list_serializes_as_a_plain_array_and_reads_back_indexed() {
    let list = merged(vec![user("1", "a")], vec![user("2", "b")]).unwrap();
    let json = serde_json::to_value(&list).unwrap();
    assert_eq!(
        json,
        serde_json::json!([
            {"role": "user", "id": "1", "content": "a"},
            {"role": "user", "id": "2", "content": "b"}
        ])
    );
    let mut back: Messages = serde_json::from_value(json).unwrap();
    add_messages(&mut back, user("1", "A").into()).unwrap();
    assert_eq!(pairs(&back), expect(&[("1", "A"), ("2", "b")]));
}

async fn say(text: &'static str) -> MessagesStateUpdate {
    MessagesState::update().message(Message::assistant(text))
}

#[tokio::test]
async fn in_a_graph_parallel_writes_merge_in_task_order_then_replace_and_remove() {
    let graph = StateGraph::<MessagesState>::new()
        .add_node("a_first", |_: Arc<MessagesState>| say("from a"))
        .add_node("b_second", |_: Arc<MessagesState>| say("from b"))
        .add_node("edit", |s: Arc<MessagesState>| async move {
            let first = s.messages[1].id().unwrap().to_owned();
            let second = s.messages[2].id().unwrap().to_owned();
            MessagesState::update()
                .message(Message::assistant("from a, edited").with_id(first))
                .message(Message::remove(second))
        })
        .add_edge(START, "a_first")
        .add_edge(START, "b_second")
        .add_join(["a_first", "b_second"], "edit")
        .compile()
        .unwrap();
    let out =
        graph.invoke(Message::user("go"), RunConfig::default()).await.unwrap().finished().unwrap();
    let texts: Vec<&str> = out.messages.iter().map(Message::content).collect();
    assert_eq!(texts, ["go", "from a, edited"]);
}

#[tokio::test]
async fn an_unknown_removal_fails_the_run_naming_the_field_and_the_writer() {
    let graph = StateGraph::<MessagesState>::new()
        .add_node("forget", |_: Arc<MessagesState>| async {
            MessagesState::update().message(Message::remove("nope"))
        })
        .add_edge(START, "forget")
        .compile()
        .unwrap();
    let error = graph.invoke(Message::user("hi"), RunConfig::default()).await.unwrap_err();
    let GraphError::InvalidUpdate { step, source } = error else { panic!("{error}") };
    assert_eq!(step, 0);
    assert_eq!(
        source,
        InvalidUpdate::Rejected {
            field: "messages",
            writer: "forget".into(),
            reason: "Attempting to delete a message with an ID that doesn't exist ('nope')".into(),
        }
    );
}

#[tokio::test]
async fn a_checkpointed_conversation_reads_back_as_written() {
    let graph = StateGraph::<MessagesState>::new()
        .add_node("reply", |s: Arc<MessagesState>| async move {
            let text = format!("echo: {}", s.messages.last().unwrap().content());
            MessagesState::update().message(Message::assistant(text))
        })
        .add_edge(START, "reply")
        .compile()
        .unwrap()
        .with_checkpointer(MemorySaver::new());
    let config = || RunConfig::default().thread_id("chat");
    let first = graph.invoke(Message::user("one"), config()).await.unwrap().finished().unwrap();
    let second = graph.invoke(Message::user("two"), config()).await.unwrap().finished().unwrap();
    let texts: Vec<&str> = second.messages.iter().map(Message::content).collect();
    assert_eq!(texts, ["one", "echo: one", "two", "echo: two"]);
    assert_eq!(second.messages[..2], first.messages[..]);
    let saved = graph.get_state(&config()).await.unwrap().unwrap();
    assert_eq!(saved.values.messages, second.messages);
}

/// One operation of a random update (ids are given: their assignment is tested above).
#[derive(Debug, Clone)]
enum Op {
    /// A message with id `n`, text `text`.
    Put(u8, String),
    Remove(u8),
    RemoveAll,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..6, "[a-z]{1,3}").prop_map(|(id, text)| Op::Put(id, text)),
        2 => (0u8..6).prop_map(Op::Remove),
        1 => Just(Op::RemoveAll),
    ]
}

fn to_message(op: &Op) -> Message {
    match op {
        Op::Put(id, text) => user(&id.to_string(), text),
        Op::Remove(id) => Message::remove(id.to_string()),
        Op::RemoveAll => Message::remove_all(),
    }
}

/// LangGraph's `_add_messages`, written as plainly as possible over a vector, on messages
/// that already have their ids.
fn reference(left: &[Message], right: &[Message]) -> Result<Vec<Message>, UnknownMessage> {
    let remove_all = |m: &Message| matches!(m, Message::Remove(r) if r.id == "__remove_all__");
    if let Some(last) = right.iter().rposition(remove_all) {
        return Ok(right[last + 1..].to_vec());
    }
    let mut merged = left.to_vec();
    let mut removed: Vec<String> = Vec::new();
    for message in right {
        let id = message.id().unwrap().to_owned();
        let existing = merged.iter().rposition(|m| m.id() == Some(&id));
        match (existing, message) {
            (Some(_), Message::Remove(_)) => removed.push(id),
            (Some(at), message) => {
                removed.retain(|r| *r != id);
                merged[at] = message.clone();
            }
            (None, Message::Remove(_)) => return Err(UnknownMessage { id }),
            (None, message) => merged.push(message.clone()),
        }
    }
    merged.retain(|m| !removed.iter().any(|r| Some(r.as_str()) == m.id()));
    Ok(merged)
}

proptest! {
    #[test]
    fn add_messages_matches_the_reference(updates in prop::collection::vec(prop::collection::vec(op(), 0..6), 1..6)) {
        let mut list = Messages::new();
        let mut model: Vec<Message> = Vec::new();
        for update in &updates {
            // A removal after a remove-all marker has no reference behaviour worth copying.
            let after_all = update.iter().rposition(|o| matches!(o, Op::RemoveAll));
            if let Some(at) = after_all {
                prop_assume!(!update[at..].iter().any(|o| matches!(o, Op::Remove(_))));
            }
            let before = list.clone();
            let right: Vec<Message> = update.iter().map(to_message).collect();
            let result = add_messages(&mut list, right.clone().into());
            let expected = reference(&model, &right);
            match (result, expected) {
                (Ok(()), Ok(expected)) => {
                    prop_assert_eq!(list.as_slice(), expected.as_slice());
                    model = expected;
                }
                (Err(error), Err(expected)) => {
                    prop_assert_eq!(error, expected);
                    prop_assert_eq!(&list, &before);
                }
                (got, expected) => prop_assert!(false, "got {:?}, expected {:?}", got, expected),
            }
        }
    }
}
