use graph_agent::tool;

/// Readable from JSON but without a schema.
#[derive(serde::Deserialize)]
struct Point {
    x: f64,
    y: f64,
}

/// Measures a point's distance to the origin.
#[tool]
async fn norm(point: Point) -> String {
    format!("{}", (point.x * point.x + point.y * point.y).sqrt())
}

fn main() {}
