use graph_core::prelude::*;
use std::sync::Arc;

struct App;
struct Other;

#[derive(State, Clone, Default)]
struct Chat {
    reply: String,
}

async fn answer(_: Arc<Chat>) -> ChatUpdate {
    Chat::update()
}

fn next(_: &Chat, _: &Other) -> &'static str {
    END
}

fn main() {
    let _ = StateGraph::<Chat, App>::new()
        .add_node("answer", answer)
        .add_conditional_edges_with_context("answer", next, [END]);
}
