//! Runnable example graphs, one per pattern. Each module exposes `graph()`, used both by its
//! example binary (`cargo run -p graph-examples --example <name>`) and by the snapshot tests.

pub mod agent_demo;
pub mod agent_loop;
pub mod approval;
pub mod briefing;
pub mod code_review;
pub mod context;
pub mod memory;
pub mod react_agent;
pub mod report;
pub mod research;
pub mod subgraphs;
pub mod tool_calls;
pub mod tour;
pub mod travel_mcp;
pub mod voting;
