use graph_agent::tool;

/// Adds two numbers.
#[tool]
async fn add((a, b): (u32, u32)) -> u32 {
    a + b
}

fn main() {}
