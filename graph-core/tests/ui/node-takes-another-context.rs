use graph_core::prelude::*;
use std::sync::Arc;

struct App;
struct Other;

#[derive(State, Clone, Default)]
struct Chat {
    reply: String,
}

async fn answer(_: Arc<Chat>, _: Context<Other>) -> ChatUpdate {
    Chat::update()
}

fn main() {
    let _ = StateGraph::<Chat, App>::new().add_node("answer", answer);
}
