//! What one call into a guest costs: `on-message` on the echo component,
//! from the host's side of the call to the reply sitting in the outbox
//! (lowering the message into guest memory, the guest's code, its
//! `connections.send` back into the host, lifting the reply out). The same
//! round trip through the built-in echo (no WebAssembly) is measured beside
//! it, so the difference is the sandbox's cost per call. The echo app in
//! JavaScript and Python is measured too, when built: each language's
//! runtime is part of every call.
//!
//!     ./scripts/build-examples && cargo bench -p switchboard --bench guest_call
//!
//! Goals: at most 1 µs for the Rust 64-byte round trip; JavaScript at most
//! 10 µs and Python at most 3 µs (issue 11).

mod common;

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use switchboard::config::Limits;
use switchboard::guest::{self, Message, Module};
use switchboard::native::NativeApp;

/// Sizes measured: a typical small message, and one large enough that
/// copying it in and out of guest memory shows.
const SIZES: [usize; 2] = [64, 16 << 10];

/// The echo component in `language`, as scripts/build-examples builds it.
fn echo_component(language: &str) -> Vec<u8> {
    let examples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/examples");
    let path = match language {
        "rust" => examples.join("wasm32-wasip2/release/echo.wasm"),
        other => examples.join(other).join("echo.wasm"),
    };
    std::fs::read(&path).unwrap_or_else(|error| {
        panic!(
            "{}: {error}; build the examples first (./scripts/build-examples)",
            path.display()
        )
    })
}

fn on_message_round_trip(c: &mut Criterion) {
    let engine = guest::engine(0).expect("the engine starts");
    let limits = Limits::default().guest_limits(None);
    let compile = |language: &str| {
        Module::compile(&engine, &echo_component(language), language, &limits)
            .unwrap_or_else(|error| panic!("{error}"))
    };
    let mut modules = vec![
        ("component", compile("rust")),
        ("native", Module::native(&engine, NativeApp::Echo)),
    ];
    for language in ["js", "python"] {
        modules.push((language, compile(language)));
    }

    let mut group = c.benchmark_group("on-message round trip");
    for size in SIZES {
        let message = Message::Text("x".repeat(size));
        group.throughput(Throughput::Bytes(size as u64));
        for (name, module) in &modules {
            let limits = Limits::default();
            let (mut instance, connection, replies) = common::instance_with_connection(
                module,
                name,
                limits.guest_limits(None),
                limits.max_outbox_bytes,
            );
            group.bench_with_input(BenchmarkId::new(*name, size), &message, |b, message| {
                b.iter(|| {
                    instance
                        .on_message(connection, black_box(message))
                        .expect("echo does not trap");
                    // Take the reply, as the connection task would, so the
                    // outbox never fills.
                    black_box(replies.try_recv().expect("echo replied"));
                });
            });
        }
    }
    group.finish();
}

criterion_group!(benches, on_message_round_trip);
criterion_main!(benches);
