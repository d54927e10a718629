use graph_core::prelude::*;
use std::sync::Arc;

struct Client;

impl Client {
    async fn complete(&self) -> String {
        String::new()
    }
}

#[derive(State, Clone, Default)]
struct Chat {
    reply: String,
}

fn main() {
    let client = Arc::new(Client);
    // The future takes `client` from the closure, so the closure runs only once.
    let _ = StateGraph::<Chat>::new().add_node("answer", move |_: Arc<Chat>| async move {
        Chat::update().reply(client.complete().await)
    });
}
