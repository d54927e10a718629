use graph_core::State;

// Every mistake is reported in one build, and a faulty field expands as `overwrite`: no
// cascade of errors from the misspelt reducer or its field's type.
#[derive(State, Clone, Default)]
struct Report {
    #[reducer(apend)]
    lines: Vec<String>,
    #[reducer(with)]
    best: u32,
    #[reducer(add)]
    #[reducer(max)]
    tokens: u64,
    #[reducer(merge)]
    title: String,
}

fn main() {
    // The rest of the expansion exists, so using it adds no errors.
    let _ = Report::update().lines(vec![]).best(1).tokens(2).title("t");
}
