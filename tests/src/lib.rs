#![doc = include_str!("../../README.md")]

pub mod fanout;
pub mod generated;
pub mod journey;
