//! The Rust example apps built for wasm32-wasip2, once per test process,
//! and the stamp that makes a new version of one. Shared by the host's
//! end-to-end tests (`common/mod.rs`) and the `switchboard-test` crate's
//! tests (harness/tests/common, which includes this file by path), so both
//! build the same crates into the same target directory.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The workspace's root: both test crates sit one folder below it.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the test crate sits in the workspace")
        .to_path_buf()
}

/// Every Rust example app the tests use (scripts/build-examples builds the
/// same). They are built in one cargo run: one cargo run for all the crates is
/// much faster than a `switchboard build` each.
const EXAMPLES: &[&str] = &[
    "echo",
    "chat",
    "rooms",
    "lock",
    "cursors",
    "ticker",
    "tail",
    "fragile",
    "versioned",
    "hostile",
    "broadcast",
];

/// The component of Rust example `name`. Cargo's own lock makes concurrent
/// test processes wait for one build.
pub fn rust_example(name: &str) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        let root = workspace_root();
        let status = Command::new(env!("CARGO"))
            .current_dir(&root)
            .args(["build", "--release", "--target", "wasm32-wasip2"])
            .args(EXAMPLES.iter().flat_map(|name| ["-p", name]))
            // Its own target dir: the test run holds the lock on ours.
            .env("CARGO_TARGET_DIR", root.join("target/examples"))
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the example apps failed");
        root.join("target/examples/wasm32-wasip2/release")
    });
    let path = dir.join(format!("{name}.wasm"));
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// The same bytes with a custom section appended: a distinct version (its
/// hash differs) that behaves exactly like the original. `n` tells them
/// apart.
pub fn stamp(component: &[u8], n: u32) -> Vec<u8> {
    use wasm_encoder::ComponentSection as _;
    let mut bytes = component.to_vec();
    wasm_encoder::CustomSection {
        name: "switchboard-test-stamp".into(),
        data: n.to_le_bytes().to_vec().into(),
    }
    .append_to_component(&mut bytes);
    bytes
}
