use graph_agent::tool;

/// Says hello.
#[tool(name = "say hello")]
async fn hello(name: String) -> String {
    format!("hello {name}")
}

fn main() {}
