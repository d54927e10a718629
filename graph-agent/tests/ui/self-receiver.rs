use graph_agent::tool;

struct Greeter;

impl Greeter {
    /// Says hello.
    #[tool]
    async fn hello(&self, name: String) -> String {
        format!("hello {name}")
    }
}

fn main() {}
