use graph_agent::tool;

/// Says hello.
#[tool]
fn hello(name: String) -> String {
    format!("hello {name}")
}

fn main() {}
