//! Whether a guest's memory stays flat over a long life: the echo app in
//! each language handles 1 000 messages, then a million, and its instance's
//! linear memory is read after each. A runtime that keeps garbage across
//! calls (StarlingMonkey collects only at 75-80 MB) shows as growth
//! between the two. Figures and what they mean: docs/benchmarks.md.
//!
//!     ./scripts/build-examples && cargo bench -p switchboard --bench guest_memory
//!
//! Settings, all optional, from the environment:
//!
//! - `GUEST_MEMORY_MESSAGES` changes the million.
//! - `GUEST_MEMORY_COMPONENTS=name=path,...` measures these components
//!   instead of the three echo examples (say, the same app built by another
//!   toolchain version), each as an echo app would be.
//! - `GUEST_MEMORY_CACHE=DIR` keeps compiled code there (the host's code
//!   cache), so a second run does not spend 15–20 s compiling each of the
//!   JavaScript and Python runtimes again. The compile (or load) time is
//!   printed either way.
//! - `GUEST_MEMORY_COMPILER=winch` compiles with Winch, not Cranelift.
//! - `GUEST_MEMORY_BYTES` sets the size of each message (64);
//!   `GUEST_MEMORY_TEXT` gives the message itself (say, a chat app's JSON).
//! - `GUEST_MEMORY_MAX_MB` raises (or lowers) the memory cap of each
//!   instance, `limits.max_memory_bytes` (64 MiB).
//! - `GUEST_MEMORY_TRACE=1` prints memory after each tenth of the calls.

mod common;

use std::path::PathBuf;
use std::time::Instant;

use switchboard::config::Limits;
use switchboard::guest::{self, CodeCache, Message, Module};

/// CPU time this thread has used. On a shared machine wall-clock time per
/// call includes the time other processes had the core; this does not.
fn thread_cpu_time() -> std::time::Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec for the call to fill in.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    std::time::Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

fn components() -> Vec<(String, PathBuf)> {
    if let Ok(list) = std::env::var("GUEST_MEMORY_COMPONENTS") {
        return list
            .split(',')
            .filter(|item| !item.is_empty())
            .map(|item| match item.split_once('=') {
                Some((name, path)) => (name.to_string(), PathBuf::from(path)),
                None => (item.to_string(), PathBuf::from(item)),
            })
            .collect();
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/examples");
    vec![
        ("rust".into(), root.join("wasm32-wasip2/release/echo.wasm")),
        ("js".into(), root.join("js/echo.wasm")),
        ("python".into(), root.join("python/echo.wasm")),
    ]
}

fn main() {
    // A guest's stderr (why it trapped) goes to the log.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let messages: u64 = std::env::var("GUEST_MEMORY_MESSAGES")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(1_000_000)
        .max(2000);
    let compiler = match std::env::var("GUEST_MEMORY_COMPILER").as_deref() {
        Ok("winch") => guest::Compiler::Winch,
        _ => guest::Compiler::Cranelift,
    };
    let engine = guest::engine_with(0, compiler).expect("the engine starts");
    let size: usize = std::env::var("GUEST_MEMORY_BYTES")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(64);
    let cache = std::env::var_os("GUEST_MEMORY_CACHE")
        .map(|dir| CodeCache::open(&PathBuf::from(dir), &engine, 1 << 32).expect("cache opens"));
    let limits = Limits::default();
    let mut guest_limits = limits.guest_limits(None);
    if let Some(megabytes) = std::env::var("GUEST_MEMORY_MAX_MB")
        .ok()
        .and_then(|text| text.parse::<usize>().ok())
    {
        guest_limits.max_memory_bytes = megabytes << 20;
    }
    let trace = std::env::var_os("GUEST_MEMORY_TRACE").is_some();
    let text = std::env::var("GUEST_MEMORY_TEXT").ok();
    println!("{compiler:?}, {size}-byte text messages");
    println!(
        "language      load ms  after 1000  after {messages}  growth  µs per call  ratio to first  slowest ms  cpu µs per call  cpu ratio"
    );
    let mut first: Option<(f64, f64)> = None;
    for (language, path) in components() {
        let Ok(bytes) = std::fs::read(&path) else {
            println!(
                "{language:12}  (no {}; ./scripts/build-examples)",
                path.display()
            );
            continue;
        };
        let started = Instant::now();
        let module =
            Module::compile_cached(&engine, cache.as_ref(), &bytes, &language, &guest_limits)
                .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        let load_ms = started.elapsed().as_millis();
        let (mut instance, connection, replies) = common::instance_with_connection(
            &module,
            &language,
            guest_limits,
            limits.max_outbox_bytes,
        );
        let request = common::echo_request();
        match instance.on_open(connection, &request) {
            Ok(Ok(_)) => {}
            Ok(Err(reject)) => panic!("{language} refused the connection: {reject:?}"),
            Err(trap) => panic!("{language} trapped in on-open: {trap:#}"),
        }
        let message = Message::Text(text.clone().unwrap_or_else(|| "x".repeat(size)));
        // Calls made so far, and replies seen (an app that does not echo,
        // measured for comparison, sends none).
        let mut calls = 0u64;
        let mut replied = 0u64;
        // The slowest call, where a garbage collector's pause shows.
        let mut slowest = std::time::Duration::ZERO;
        let mut call = |instance: &mut switchboard::guest::Instance, count: u64| {
            for _ in 0..count {
                let started = Instant::now();
                instance.on_message(connection, &message)?;
                slowest = slowest.max(started.elapsed());
                calls += 1;
                while replies.try_recv().is_some() {
                    replied += 1;
                }
            }
            anyhow::Ok(())
        };
        let measured = call(&mut instance, 1000).and_then(|()| {
            let early = instance.state().memory_bytes();
            let started = (Instant::now(), thread_cpu_time());
            if trace {
                // Memory after each tenth of the calls, to see growth level off or not.
                let step = (messages - 1000) / 10;
                for tenth in 1..=10u64 {
                    call(&mut instance, step)?;
                    println!(
                        "{language:12}  after {:>8} calls: {:>7} KiB",
                        1000 + tenth * step,
                        instance.state().memory_bytes() / 1024
                    );
                }
                call(&mut instance, (messages - 1000) % 10)?;
            } else {
                call(&mut instance, messages - 1000)?;
            }
            Ok((
                early,
                started.0.elapsed(),
                thread_cpu_time().saturating_sub(started.1),
            ))
        });
        let (early, elapsed, cpu) = match measured {
            Ok(measured) => measured,
            Err(trap) => {
                println!(
                    "{language:12}  trapped after {calls} calls: {}",
                    trap.root_cause()
                );
                continue;
            }
        };
        let per_call = elapsed.as_secs_f64() * 1e6 / (messages - 1000) as f64;
        let cpu_per_call = cpu.as_secs_f64() * 1e6 / (messages - 1000) as f64;
        let late = instance.state().memory_bytes();
        if replied != calls {
            println!("{language:12}  (replied to {replied} of {calls} messages)");
        }
        let baseline = *first.get_or_insert((per_call, cpu_per_call));
        println!(
            "{language:12}  {load_ms:>7}  {:>6} KiB  {:>8} KiB  {:>+5.1}%  {per_call:>11.2}  {:>13.1}x  {:>10.1}  {cpu_per_call:>15.2}  {:>8.1}x",
            early / 1024,
            late / 1024,
            (late as f64 / early as f64 - 1.0) * 100.0,
            per_call / baseline.0,
            slowest.as_secs_f64() * 1e3,
            cpu_per_call / baseline.1,
        );
    }
}
