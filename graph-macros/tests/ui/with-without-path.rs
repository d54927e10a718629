use graph_core::State;

#[derive(State, Clone, Default)]
struct Best {
    #[reducer(with)]
    score: u32,
}

fn main() {}
