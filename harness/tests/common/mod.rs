//! The example apps these tests drive, built once per test process, as
//! host/tests/common/mod.rs builds them (the same target directory, so a
//! suite run builds them once for both).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("harness/ sits in the workspace")
        .to_path_buf()
}

const EXAMPLES: &[&str] = &["echo", "chat", "fragile", "versioned"];

/// The component of example `name`, built for wasm32-wasip2.
pub fn example(name: &str) -> PathBuf {
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

/// The same component with a custom section appended: a distinct version
/// (its hash differs) that behaves exactly like the original.
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

/// The message a test's panic carried, for tests of failure messages.
pub fn panic_message(failed: Box<dyn std::any::Any + Send>) -> String {
    match failed.downcast::<String>() {
        Ok(text) => *text,
        Err(failed) => failed
            .downcast::<&str>()
            .map(|text| text.to_string())
            .unwrap_or_default(),
    }
}
