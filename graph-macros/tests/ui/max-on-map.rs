use graph_core::State;
use std::collections::HashMap;

#[derive(State, Clone, Default)]
struct Scores {
    #[reducer(max)]
    by_name: HashMap<String, u32>,
}

fn main() {}
