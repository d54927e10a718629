use graph_core::State;

#[derive(State, Clone, Default)]
struct Best {
    #[reducer(with = "keep_best")]
    score: u32,
}

fn main() {}
