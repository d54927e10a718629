use graph_agent::tool;

#[tool]
async fn hello(name: String) -> String {
    format!("hello {name}")
}

fn main() {}
