use graph_core::State;

#[derive(State, Clone, Default)]
struct Counter {
    #[reducer(add, max)]
    total: u64,
}

fn main() {}
