use graph_agent::tool;

#[tool(verbose)]
fn add<T>((a, b): (u32, u32)) -> u32 {
    a + b
}

fn main() {}
