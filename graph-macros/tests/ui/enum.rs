use graph_core::State;

#[derive(State, Clone)]
enum Phase {
    Plan,
    Act,
}

fn main() {}
