use graph_core::State;

#[derive(State, Clone, Default)]
struct Text {
    #[reducer(add)]
    body: String,
}

fn main() {}
