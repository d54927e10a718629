use graph_agent::tool;

/// Says hello.
#[tool]
async fn hello<T: ToString>(name: T) -> String {
    format!("hello {}", name.to_string())
}

fn main() {}
