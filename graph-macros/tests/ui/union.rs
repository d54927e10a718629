use graph_core::State;

#[derive(State, Clone, Copy)]
union Bits {
    int: u32,
    float: f32,
}

fn main() {}
