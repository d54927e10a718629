use graph_agent::{tool, ToolContext};

/// Says hello.
#[tool]
async fn hello(ctx: &ToolContext, name: String) -> String {
    format!("hello {name} from {}", ctx.call_id())
}

fn main() {}
