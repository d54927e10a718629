use graph_core::State;

#[derive(State, Clone, Default)]
struct Notes {
    #[reducer(append)]
    #[reducer(overwrite)]
    lines: Vec<String>,
}

fn main() {}
