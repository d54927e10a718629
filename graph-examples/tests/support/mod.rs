//! Support shared by the tests that run example binaries.

use std::path::{Path, PathBuf};

/// The binary of example `name`, which `cargo test` builds next to the test's own binary;
/// a binary older than any of `sources` (paths in this crate) is refused as stale.
pub fn example(name: &str, sources: &[&str]) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile = exe.parent().and_then(|deps| deps.parent()).expect("target/<profile>/deps");
    let binary = profile.join("examples").join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    let built = std::fs::metadata(&binary).and_then(|m| m.modified());
    let built = built.unwrap_or_else(|_| {
        panic!("{} is missing: `cargo test` (without `--test`) builds it", binary.display())
    });
    // `cargo test --test <one>` alone does not rebuild examples: refuse a stale one.
    for source in sources {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(source);
        let changed = std::fs::metadata(&path).and_then(|m| m.modified()).unwrap();
        assert!(
            changed <= built,
            "{} is older than {source}: run `cargo build -p graph-examples --example {name}`",
            binary.display()
        );
    }
    binary
}
