//! Timer commands, so that tests can drive the host's timers from a
//! WebSocket client (host/tests/timers.rs) or a scenario
//! (examples/fragile/tests/timers.toml):
//!
//! - `timer KEY DELAY_MS [REPEAT_MS]` sets a timer (replacing one of that
//!   key) and answers `set KEY`, or `refused KEY: ERROR` with the WIT's
//!   error name (`too-many-timers`, `interval-too-short`, `invalid-key`);
//! - `cancel KEY` answers `cancelled KEY true` (or `false`: there was none);
//! - `pending` answers `pending` and one ` KEY:DUE_IN_MS[:REPEAT_MS]` per
//!   timer, soonest first.
//!
//! When a timer fires, every connection hears `fired KEY`. Two kinds of key
//! do more, to show what a timer can do from `on-timer`: `chain-N` (N > 1)
//! sets `chain-{N-1}` 25 ms later, and a key starting with `panic` traps
//! right after its `fired` went out.

use std::time::Duration;

use switchboard_guest::timers::{self, TimerError};
use switchboard_guest::{ConnectionId, broadcast, send};

/// Run a timer command; whether `text` was one.
pub fn command(connection: ConnectionId, text: &str) -> bool {
    let mut words = text.split(' ');
    match words.next() {
        Some("timer") => {
            let key = words.next().unwrap_or_default();
            let millis = |word: Option<&str>| word.and_then(|n| n.parse::<u64>().ok());
            let delay = Duration::from_millis(millis(words.next()).unwrap_or(0));
            let repeat = millis(words.next()).map(Duration::from_millis);
            let answer = match timers::set(key, delay, repeat) {
                Ok(()) => format!("set {key}"),
                Err(error) => format!("refused {key}: {}", error_name(error)),
            };
            send(connection, answer);
        }
        Some("cancel") => {
            let key = words.next().unwrap_or_default();
            send(
                connection,
                format!("cancelled {key} {}", timers::cancel(key)),
            );
        }
        Some("pending") if text == "pending" => {
            let mut answer = String::from("pending");
            for timer in timers::pending() {
                answer.push_str(&format!(" {}:{}", timer.key, timer.due_in_ms));
                if let Some(repeat) = timer.repeat_ms {
                    answer.push_str(&format!(":{repeat}"));
                }
            }
            send(connection, answer);
        }
        _ => return false,
    }
    true
}

/// The timer `key` is due.
pub fn fired(key: &str) {
    broadcast(format!("fired {key}"), &[]);
    if let Some(n) = key
        .strip_prefix("chain-")
        .and_then(|n| n.parse::<u32>().ok())
        && n > 1
    {
        let _ = timers::after(&format!("chain-{}", n - 1), Duration::from_millis(25));
    }
    if key.starts_with("panic") {
        panic!("asked to panic by timer {key}");
    }
}

fn error_name(error: TimerError) -> &'static str {
    match error {
        TimerError::TooManyTimers => "too-many-timers",
        TimerError::IntervalTooShort => "interval-too-short",
        TimerError::InvalidKey => "invalid-key",
    }
}
