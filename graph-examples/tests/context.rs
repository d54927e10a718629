//! The run-context example (`src/context.rs`) does what the book says.

// ANCHOR: uses
use std::sync::Arc;
use std::time::Duration;

use graph_agent::testing::ScriptedModel;
use graph_agent::ChatModel;
use graph_core::prelude::*;
use graph_examples::context::{self, Notice, Services};
// ANCHOR_END: uses

// ANCHOR: run
/// A scripted stand-in for a real model client.
fn model() -> Arc<dyn ChatModel> {
    let model = ScriptedModel::new()
        .latency(Duration::from_millis(100))
        .on("summarize", "the lift is closed on Monday")
        .on("French", "l'ascenseur est fermé lundi")
        .on("German", "der Aufzug ist am Montag geschlossen")
        .text("")
        .cycling();
    Arc::new(model)
}

/// A site's services: a model client, its languages and its fallback text.
fn services(languages: &[&str]) -> Services {
    Services {
        model: model(),
        languages: languages.iter().map(|l| l.to_string()).collect(),
        fallback: "translation pending".into(),
    }
}

async fn translate_for_two_sites() -> Result<String, GraphError> {
    let paris = context::graph(services(&["French", "German", "Welsh"])).expect("a valid graph");
    // Another site: the same graph with other settings, sharing the same model client.
    let bern = paris.with_context(Services {
        model: Arc::clone(&paris.context().model),
        languages: vec!["German".into()],
        fallback: "Übersetzung folgt".into(),
    });
    let notice = || Notice::update().text("The lift will be closed on Monday for repairs.");
    let (paris, bern) = tokio::join!(
        paris.invoke(notice(), RunConfig::default()),
        bern.invoke(notice(), RunConfig::default()),
    );
    let (paris, bern) = (paris?.finished()?, bern?.finished()?);
    Ok(format!(
        "paris:\n  {}\nbern:\n  {}",
        paris.translations.join("\n  "),
        bern.translations.join("\n  ")
    ))
}
// ANCHOR_END: run

#[tokio::test(start_paused = true)]
async fn each_site_translates_with_its_own_settings_and_the_shared_client() {
    let started = tokio::time::Instant::now();
    let printed = translate_for_two_sites().await.unwrap();
    // Both runs overlap: one summary and one parallel round of translations each.
    assert_eq!(started.elapsed(), Duration::from_millis(200));
    assert_eq!(
        printed,
        "paris:\n  French: l'ascenseur est fermé lundi\n  German: der Aufzug ist am Montag geschlossen\n  translation pending (no model speaks Welsh)\nbern:\n  German: der Aufzug ist am Montag geschlossen"
    );
    insta::assert_snapshot!("context_sites", printed);
}
