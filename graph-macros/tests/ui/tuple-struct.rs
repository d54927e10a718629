use graph_core::State;

#[derive(State, Clone, Default)]
struct Pair(u32, String);

fn main() {}
