use graph_core::State;

#[derive(State, Clone, Default)]
struct Index {
    #[reducer(merge)]
    entries: Vec<(String, u32)>,
}

fn main() {}
