//! Runnable example graphs. Each module exposes `graph()`, used both by its example binary
//! (`cargo run -p graph-examples --example <name>`) and by the snapshot tests.

pub mod briefing;
