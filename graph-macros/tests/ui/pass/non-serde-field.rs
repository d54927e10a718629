use std::sync::Arc;

use graph_core::State;

/// Neither Debug, PartialEq nor serde: the state still derives, the update just lacks them.
struct Client;

#[derive(State, Clone, Default)]
struct WithClient {
    client: Option<Arc<Client>>,
    #[reducer(append)]
    answers: Vec<String>,
}

fn main() {
    let update = WithClient::update().client(Some(Arc::new(Client))).answers(vec!["hi".into()]);
    let mut state = WithClient::default();
    state.apply([("n", update)]).unwrap();
    assert_eq!(state.answers, ["hi"]);
}
