//! The example apps these tests drive, built once per test process by the
//! same code as the host's end-to-end tests (the same target directory, so
//! a suite run builds them once for both).

#![allow(dead_code)]

#[path = "../../../host/tests/common/examples.rs"]
mod examples;

#[allow(unused_imports)] // each test file uses its own part of this module
pub use examples::{rust_example as example, stamp, workspace_root};

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
