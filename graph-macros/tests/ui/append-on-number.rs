use graph_core::State;

#[derive(State, Clone, Default)]
struct Counter {
    #[reducer(append)]
    total: u64,
}

fn main() {}
