use graph_core::State;

#[derive(State, Clone, Default)]
struct Notes {
    #[reducer(concat)]
    lines: Vec<String>,
}

fn main() {}
