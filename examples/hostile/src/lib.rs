//! Hostile: an app that attacks its host on command, to show (and let the
//! tests check) that the sandbox holds. Every attack is contained to this
//! app: a well-behaved app on the same host keeps answering throughout.
//!
//! | message | what it does | what the host does |
//! |---|---|---|
//! | `spin` | loops forever | stops the call at `call_timeout_ms`, closes this connection with 1011, makes a fresh instance |
//! | `hog` | grows memory 1 MiB at a time until refused | refuses growth past `max_memory_bytes` inside the guest; the app answers how many MiB it got |
//! | `recurse` | unbounded recursion | the stack overflow traps: 1011, fresh instance |
//! | `panic` | panics | traps: 1011, fresh instance |
//! | `flood` | sends 1 MiB messages to itself until refused | the connection's outbox fills: `send` fails and the host closes the connection (1008) |
//! | `poke N` | sends to connection id N, e.g. another app's | `send` fails with unknown-connection; the app answers with the error |
//! | `read PATH` | reads a file of the host's | there is no filesystem: the app answers with the error |
//! | `connect IP:PORT` | opens a TCP connection | every address is refused: the app answers with the error |
//! | `env` | lists its environment variables | there are none: the app answers `0 variables` |
//! | `clock` | reads the wall clock, burns CPU, reads it again | time stands still during a call: the app answers `clock stood still` |
//! | `sleep MS` | sleeps | the wait ends at the call's deadline and the call traps: 1011, fresh instance |
//!
//! Anything else is echoed, so a test can tell the app still serves.

use std::hint::black_box;

use switchboard_guest::{App, ConnectionError, ConnectionId, Message, send, try_send};

#[derive(Default)]
struct Hostile;

impl App for Hostile {
    fn on_message(&mut self, connection: ConnectionId, message: Message) {
        let Some(text) = message.as_text() else {
            send(connection, message);
            return;
        };
        match text {
            "spin" => spin(),
            "hog" => {
                let mebibytes = hog();
                send(connection, format!("got {mebibytes} MiB"));
            }
            "recurse" => {
                let depth = recurse(black_box(0));
                send(connection, format!("recursed {depth}"));
            }
            "panic" => panic!("asked to panic"),
            "flood" => {
                let sent = flood(connection);
                send(connection, format!("flooded {sent} messages"));
            }
            "env" => {
                send(
                    connection,
                    format!("{} variables", std::env::vars().count()),
                );
            }
            "clock" => {
                send(connection, clock());
            }
            _ => {
                let answer = if let Some(target) = text.strip_prefix("poke ") {
                    poke(target)
                } else if let Some(path) = text.strip_prefix("read ") {
                    match std::fs::read(path) {
                        Ok(bytes) => format!("read {} bytes", bytes.len()),
                        Err(error) => format!("cannot read {path}: {error}"),
                    }
                } else if let Some(address) = text.strip_prefix("connect ") {
                    match std::net::TcpStream::connect(address) {
                        Ok(_) => format!("connected to {address}"),
                        Err(error) => format!("cannot connect to {address}: {error}"),
                    }
                } else if let Some(milliseconds) = text.strip_prefix("sleep ") {
                    let milliseconds = milliseconds.parse().unwrap_or(0);
                    std::thread::sleep(std::time::Duration::from_millis(milliseconds));
                    // Spin a little, so the deadline the sleep ran into is
                    // noticed by compiled code.
                    let mut counter = 0u64;
                    for _ in 0..black_box(100_000_000u64) {
                        counter = black_box(counter.wrapping_add(1));
                    }
                    format!("slept {milliseconds} ms")
                } else {
                    send(connection, message);
                    return;
                };
                send(connection, answer);
            }
        }
    }
}

/// Reads the wall clock twice with real work in between.
fn clock() -> String {
    let before = std::time::SystemTime::now();
    let mut counter = 0u64;
    for _ in 0..black_box(20_000_000u64) {
        counter = black_box(counter.wrapping_add(1));
    }
    if std::time::SystemTime::now() == before {
        "clock stood still".to_string()
    } else {
        "clock moved".to_string()
    }
}

fn spin() {
    let mut counter = 0u64;
    loop {
        counter = black_box(counter.wrapping_add(1));
    }
}

/// Grow in 1 MiB steps until the host refuses; keep it all until the end.
fn hog() -> usize {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut chunk: Vec<u8> = Vec::new();
        if chunk.try_reserve_exact(1 << 20).is_err() {
            return hoard.len();
        }
        chunk.resize(1 << 20, 1);
        hoard.push(black_box(chunk));
    }
}

/// Recurses until the stack runs out (the bound is only there to say it
/// would stop; no stack reaches it).
fn recurse(depth: u64) -> u64 {
    if depth == black_box(u64::MAX) {
        return depth;
    }
    let frame = black_box([depth; 64]);
    black_box(recurse(frame[63] + 1)) + frame[0]
}

fn flood(connection: ConnectionId) -> u64 {
    let payload = vec![b'x'; 1 << 20];
    let mut sent = 0;
    while try_send(connection, payload.clone()).is_ok() {
        sent += 1;
    }
    sent
}

fn poke(target: &str) -> String {
    let Ok(raw) = target.trim().parse::<u64>() else {
        return format!("not a connection id: {target}");
    };
    match try_send(ConnectionId::from_raw(raw), "boo") {
        Ok(()) => format!("poked {raw}"),
        Err(ConnectionError::UnknownConnection) => format!("cannot poke {raw}: unknown connection"),
        Err(error) => format!("cannot poke {raw}: {error:?}"),
    }
}

switchboard_guest::export!(Hostile);
