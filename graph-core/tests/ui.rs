//! Compile-time diagnostics of graphs with a run context, pinned per mistake.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
