use graph_core::State;

#[derive(State, Clone, Default)]
struct Tags {
    #[reducer(union)]
    tags: Vec<String>,
}

fn main() {}
