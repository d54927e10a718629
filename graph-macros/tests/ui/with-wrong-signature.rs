use graph_core::State;

fn keep_best(current: &mut u32, new: u64) {
    *current = (*current).max(new as u32);
}

#[derive(State, Clone, Default)]
struct Best {
    #[reducer(with = keep_best)]
    score: u32,
}

fn main() {}
