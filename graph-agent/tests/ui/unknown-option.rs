use graph_agent::tool;

/// Says hello.
#[tool(name = "hello", retrun_direct)]
async fn hello(name: String) -> String {
    format!("hello {name}")
}

fn main() {}
