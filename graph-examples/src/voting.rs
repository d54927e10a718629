//! Voting: the same classification by five voters at once, then a majority vote with its
//! confidence, and best-score selection.

// ANCHOR: uses
use std::sync::Arc;
use std::time::Duration;

use graph_core::aggregate::{best_by, majority};
use graph_core::prelude::*;
use serde::{Deserialize, Serialize};

use graph_agent::testing::ScriptedModel;
use graph_agent::ChatModelExt;
// ANCHOR_END: uses

/// One voter's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ballot {
    /// Who voted.
    pub voter: String,
    /// The label chosen.
    pub label: String,
    /// How sure the voter is, from 0 to 1.
    pub score: f64,
}

/// A classification by vote.
#[derive(State, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Poll {
    /// The text to classify.
    pub text: String,
    /// The ballots, in voter-name order.
    #[reducer(append)]
    pub ballots: Vec<Ballot>,
    /// The majority label with its confidence, e.g. `positive (confidence: 80%)`.
    pub verdict: String,
    /// The most confident single ballot.
    pub most_confident: String,
}

const VOTERS: [(&str, &str, f64, u64); 5] = [
    ("voter_1", "positive", 0.9, 120),
    ("voter_2", "positive", 0.7, 40),
    ("voter_3", "negative", 0.95, 80),
    ("voter_4", "positive", 0.6, 100),
    ("voter_5", "positive", 0.8, 60),
];

// ANCHOR: graph
/// The poll graph: five voters in parallel, joined into a tally.
pub fn graph() -> CompiledGraph<Poll> {
    let mut graph = StateGraph::<Poll>::new();
    for (voter, label, score, latency) in VOTERS {
        let latency = Duration::from_millis(latency);
        let model = Arc::new(ScriptedModel::new().latency(latency).text(label).cycling());
        graph = graph
            .add_node(voter, move |s: Arc<Poll>| {
                let model = Arc::clone(&model);
                async move {
                    let label =
                        model.ask(&format!("Classify the sentiment of: {}", s.text)).await?;
                    let ballot = Ballot { voter: voter.to_owned(), label, score };
                    Ok::<_, graph_core::BoxError>(Poll::update().ballots(vec![ballot]))
                }
            })
            .add_edge(START, voter);
    }
    graph
        .add_node("tally", |s: Arc<Poll>| async move {
            let vote = majority(s.ballots.iter().map(|b| b.label.clone())).expect("five ballots");
            let best = best_by(s.ballots.iter(), |b| b.score).expect("five ballots");
            Poll::update().verdict(vote.to_string()).most_confident(format!(
                "{} by {} ({:.0}%)",
                best.label,
                best.voter,
                best.score * 100.0
            ))
        })
        .add_join(VOTERS.map(|v| v.0), "tally")
        .add_edge("tally", END)
        .compile()
        .expect("the poll graph is valid")
}
// ANCHOR_END: graph
