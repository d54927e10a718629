use graph_agent::tool;

/// Not readable from JSON.
struct Point {
    x: f64,
    y: f64,
}

/// Measures a point's distance to the origin.
#[tool]
async fn norm(city: String, point: Point) -> String {
    format!("{city}: {}", (point.x * point.x + point.y * point.y).sqrt())
}

fn main() {}
