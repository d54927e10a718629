//! Integration and conformance tests for graph-core; the tests live in `tests/`.
