use graph_core::State;

#[derive(State, Clone, Default)]
struct Notes {
    #[reducer = "append"]
    lines: Vec<String>,
    #[reducer]
    count: u32,
}

fn main() {}
