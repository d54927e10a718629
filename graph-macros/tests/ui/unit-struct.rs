use graph_core::State;

#[derive(State, Clone, Default)]
struct Nothing;

fn main() {}
