//! Fragile's key-value commands: each calls one `kv` function with what
//! the client sent and replies with its result as text, so the tests can
//! drive the host's store from a real client (and check what a hot swap,
//! a trap, a restart or a crash left in it).
//!
//! | command | reply |
//! |---|---|
//! | `kv-set KEY VALUE` | `ok` |
//! | `kv-get KEY` | `value VALUE`, or `none` |
//! | `kv-del KEY` | `true` or `false` (whether it was there) |
//! | `kv-list PREFIX [AFTER] [LIMIT]` | `list`, then a line `KEY=VALUE` per entry |
//! | `kv-cas KEY OLD NEW` | `true` or `false` (`-` for OLD or NEW means absent) |
//! | `kv-incr KEY DELTA` | the counter's new value |
//!
//! Any call that fails replies `err NAME`, NAME the WIT's (`invalid-key`,
//! `quota-exceeded` ...). KEY is one word (an empty one is written as two
//! spaces); VALUE is the rest of the message. `-` as PREFIX or AFTER means
//! empty or none.

use switchboard_guest::kv::{self, KvError};
use switchboard_guest::{ConnectionId, send};

/// Handle `text`, a message starting with `kv-`.
pub fn command(connection: ConnectionId, text: &str) {
    let (command, rest) = text.split_once(' ').unwrap_or((text, ""));
    let reply = match command {
        "kv-set" => {
            let (key, value) = rest.split_once(' ').unwrap_or((rest, ""));
            kv::set(key, value).map(|()| "ok".to_string())
        }
        "kv-get" => kv::get(rest).map(|value| match value {
            Some(value) => format!("value {}", String::from_utf8_lossy(&value)),
            None => "none".to_string(),
        }),
        "kv-del" => kv::delete(rest).map(|existed| existed.to_string()),
        "kv-list" => {
            let mut words = rest.split(' ');
            let prefix = absent_if_dash(words.next()).unwrap_or("");
            let after = absent_if_dash(words.next());
            let limit = words.next().and_then(|n| n.parse().ok()).unwrap_or(1_000);
            kv::list(prefix, after, limit).map(|entries| {
                let mut reply = String::from("list");
                for entry in entries {
                    reply.push('\n');
                    reply.push_str(&entry.key);
                    reply.push('=');
                    reply.push_str(&String::from_utf8_lossy(&entry.value));
                }
                reply
            })
        }
        "kv-cas" => {
            let mut words = rest.splitn(3, ' ');
            let key = words.next().unwrap_or("");
            let old = absent_if_dash(words.next()).map(str::as_bytes);
            let new = absent_if_dash(words.next()).map(str::as_bytes);
            kv::compare_and_swap(key, old, new).map(|swapped| swapped.to_string())
        }
        "kv-incr" => {
            let (key, delta) = rest.split_once(' ').unwrap_or((rest, ""));
            match delta.parse() {
                Ok(delta) => kv::increment(key, delta).map(|counted| counted.to_string()),
                Err(_) => Ok(format!("bad delta {delta:?}")),
            }
        }
        other => Ok(format!("unknown command {other}")),
    };
    send(
        connection,
        reply.unwrap_or_else(|error| format!("err {}", name(error))),
    );
}

fn absent_if_dash(word: Option<&str>) -> Option<&str> {
    word.filter(|word| *word != "-")
}

fn name(error: KvError) -> &'static str {
    match error {
        KvError::InvalidKey => "invalid-key",
        KvError::ValueTooLarge => "value-too-large",
        KvError::QuotaExceeded => "quota-exceeded",
        KvError::NotACounter => "not-a-counter",
        KvError::Overflow => "overflow",
        KvError::StorageFailed => "storage-failed",
    }
}
