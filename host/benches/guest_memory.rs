//! Whether a guest's memory stays flat over a long life: the echo app in
//! each language handles 1 000 messages, then a million, and its instance's
//! linear memory is read after each. A runtime that leaks a little on every
//! call (componentize-js 0.22 did) shows as growth between the two.
//!
//!     ./scripts/build-examples && cargo bench -p switchboard --bench guest_memory
//!
//! `GUEST_MEMORY_MESSAGES` changes the million.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use switchboard::config::Limits;
use switchboard::guest::{self, Connections, GuestState, Message, Module, Request};
use switchboard::outbox::{ConnectionId, outbox};

fn main() {
    let messages: u64 = std::env::var("GUEST_MEMORY_MESSAGES")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(1_000_000);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/examples");
    let engine = guest::engine(0).expect("the engine starts");
    let limits = Limits::default();
    let guest_limits = limits.guest_limits(None);
    println!("language  after 1000  after {messages}  growth  µs per call");
    for (language, path) in [
        ("rust", root.join("wasm32-wasip2/release/echo.wasm")),
        ("js", root.join("js/echo.wasm")),
        ("python", root.join("python/echo.wasm")),
    ] {
        let Ok(bytes) = std::fs::read(&path) else {
            println!(
                "{language:8}  (no {}; ./scripts/build-examples)",
                path.display()
            );
            continue;
        };
        let module = Module::compile(&engine, &bytes, language, &guest_limits)
            .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        let state = GuestState::new(Arc::from(language), Connections::new(), guest_limits);
        let mut instance = match module.instantiate(state) {
            Ok(instance) => instance,
            Err(failed) => panic!("{language} does not start: {:#}", failed.error),
        };
        let (sender, replies) = outbox(limits.max_outbox_bytes);
        let connection = ConnectionId::next();
        let request = Request {
            path: "/echo".into(),
            query: None,
            headers: Vec::new(),
            remote_address: "127.0.0.1:1".into(),
            subprotocols: Vec::new(),
        };
        instance
            .state()
            .connections
            .insert(connection, sender, &request);
        let message = Message::Text("x".repeat(64));
        let call = |instance: &mut switchboard::guest::Instance, count: u64| {
            for _ in 0..count {
                instance
                    .on_message(connection, &message)
                    .expect("echo does not trap");
                replies.try_recv().expect("echo replied");
            }
        };
        call(&mut instance, 1000);
        let early = instance.state().memory_bytes();
        let started = Instant::now();
        call(&mut instance, messages - 1000);
        let per_call = started.elapsed().as_secs_f64() * 1e6 / (messages - 1000) as f64;
        let late = instance.state().memory_bytes();
        println!(
            "{language:8}  {:>6} KiB  {:>8} KiB  {:>+5.1}%  {per_call:.2}",
            early / 1024,
            late / 1024,
            (late as f64 / early as f64 - 1.0) * 100.0
        );
    }
}
