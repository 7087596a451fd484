//! The guest the bench's `state` suite drives (bench/src/state.rs): a
//! WebSocket client sends one command per text message and the app does
//! that much work in the one call, so the client can time a batch of host
//! calls from outside, against the same message doing the same number of
//! calls of a cheaper kind, or nothing. Not an example of how to write an
//! app: it exists so that `kv` and `timers` are measured through the real
//! host, guest and WebSocket path, with nothing else in the way.
//!
//! Commands (numbers in decimal; every reply is text):
//!
//! - `none`: nothing; replies `ok 0 0`. The message's own cost.
//! - `fill KEYS SIZE`: stores a SIZE-byte value under each of `bench/0` ..
//!   `bench/{KEYS-1}` and attaches one to the connection; replies `ok KEYS 0`.
//! - `kv-get N`, `kv-set N`: N gets (each must find a value of the filled
//!   size) or N sets of those keys, round robin.
//! - `attach-get N`, `attach-set N`: the same with the connection's
//!   attachment, bytes the host keeps in memory: a host call that copies
//!   as many bytes, without a store.
//!
//!   Each of these replies `ok N BAD` (BAD: gets that found no value or a
//!   value of another size), or `error TEXT` when a call failed.
//! - `timer-set I DELAY REPEAT`: sets timer `I` of this connection to fire
//!   after DELAY ms and then every REPEAT ms; replies `set I`. Each firing
//!   sends `fired I` to the connection that set it.
//! - `timer-cancel N`: cancels this connection's timers 0..N; replies
//!   `cancelled COUNT`.

use switchboard_guest::{App, ConnectionId, Message, attachment, kv, send, set_attachment, timers};

/// Where `fill` stores its values: `bench/0`, `bench/1`, ...
const KEY_PREFIX: &str = "bench/";

#[derive(Default)]
struct BenchState {
    /// The keys `fill` stored, made once so that each get or set costs the
    /// call and not a key's formatting.
    keys: Vec<String>,
    /// The value every set writes (its first bytes count the sets) and
    /// every get must find the size of.
    value: Vec<u8>,
    /// Sets so far, written into the value so each set stores new bytes.
    sets: u64,
}

impl App for BenchState {
    fn on_message(&mut self, connection: ConnectionId, message: Message) {
        let Message::Text(text) = message else {
            send(connection, "error send text commands");
            return;
        };
        let reply = self
            .command(connection, &text)
            .unwrap_or_else(|error| format!("error {error}"));
        send(connection, reply);
    }

    fn on_timer(&mut self, key: &str) {
        // `t/CONNECTION/I`: the key says whom to tell, so a firing needs no
        // state in the guest.
        let mut parts = key.split('/').skip(1);
        let connection = parts.next().and_then(|c| c.parse().ok());
        if let (Some(connection), Some(index)) = (connection, parts.next()) {
            send(ConnectionId::from_raw(connection), format!("fired {index}"));
        }
    }
}

fn number(word: Option<&str>, what: &str) -> Result<u64, String> {
    word.and_then(|w| w.parse().ok())
        .ok_or_else(|| format!("expected {what}"))
}

fn timer_key(connection: ConnectionId, index: u64) -> String {
    format!("t/{connection}/{index}")
}

impl BenchState {
    fn command(&mut self, connection: ConnectionId, text: &str) -> Result<String, String> {
        let mut words = text.split_ascii_whitespace();
        let verb = words.next().unwrap_or("");
        match verb {
            "none" => Ok("ok 0 0".to_string()),
            "fill" => {
                let keys = number(words.next(), "a number of keys")?;
                let size = number(words.next(), "a value size")?;
                self.keys = (0..keys).map(|i| format!("{KEY_PREFIX}{i}")).collect();
                self.value = vec![b'v'; size as usize];
                for key in &self.keys {
                    kv::set(key, &self.value).map_err(|e| format!("kv set: {e:?}"))?;
                }
                set_attachment(connection, &self.value).map_err(|e| format!("attach: {e:?}"))?;
                Ok(format!("ok {keys} 0"))
            }
            "kv-get" | "kv-set" | "attach-get" | "attach-set" => {
                let n = number(words.next(), "a number of operations")?;
                if self.keys.is_empty() {
                    return Err("fill first".to_string());
                }
                let bad = self.batch(connection, verb, n)?;
                Ok(format!("ok {n} {bad}"))
            }
            "timer-set" => {
                let index = number(words.next(), "a timer number")?;
                let delay = number(words.next(), "a delay in ms")?;
                let repeat = number(words.next(), "a repeat interval in ms")?;
                timers::set(
                    &timer_key(connection, index),
                    std::time::Duration::from_millis(delay),
                    Some(std::time::Duration::from_millis(repeat)),
                )
                .map_err(|e| format!("timer {index}: {e:?}"))?;
                Ok(format!("set {index}"))
            }
            "timer-cancel" => {
                let n = number(words.next(), "a number of timers")?;
                let cancelled = (0..n)
                    .filter(|&index| timers::cancel(&timer_key(connection, index)))
                    .count();
                Ok(format!("cancelled {cancelled}"))
            }
            _ => Err(format!("unknown command {verb:?}")),
        }
    }

    /// N operations of one kind, each kind its own loop so that no branch
    /// but the call differs; how many gets found the wrong thing.
    fn batch(&mut self, connection: ConnectionId, verb: &str, n: u64) -> Result<u64, String> {
        let size = self.value.len();
        let keys = self.keys.iter().cycle().take(n as usize);
        let mut bad = 0;
        match verb {
            "kv-get" => {
                for key in keys {
                    let found = kv::get(key).map_err(|e| format!("kv get: {e:?}"))?;
                    bad += u64::from(found.is_none_or(|value| value.len() != size));
                }
            }
            "attach-get" => {
                for _key in keys {
                    bad += u64::from(attachment(connection).len() != size);
                }
            }
            "kv-set" => {
                for key in keys {
                    next_value(&mut self.value, &mut self.sets);
                    kv::set(key, &self.value).map_err(|e| format!("kv set: {e:?}"))?;
                }
            }
            _ => {
                for _key in keys {
                    next_value(&mut self.value, &mut self.sets);
                    set_attachment(connection, &self.value)
                        .map_err(|e| format!("attach: {e:?}"))?;
                }
            }
        }
        Ok(bad)
    }
}

/// Write the next set's number into the value's first bytes.
fn next_value(value: &mut [u8], sets: &mut u64) {
    *sets += 1;
    let count = sets.to_le_bytes();
    let end = count.len().min(value.len());
    value[..end].copy_from_slice(&count[..end]);
}

switchboard_guest::export!(BenchState);
