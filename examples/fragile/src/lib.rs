//! Fragile: an echo app with bugs on purpose, to show (and let the tests
//! check) that a faulty app hurts nobody else.
//!
//! - `panic` makes it trap: only the connection that sent it is closed
//!   (1011); the app keeps serving everyone else from a fresh instance.
//! - `count` answers how many messages this instance has handled, so a
//!   client can see when the instance started afresh.
//! - `refuse-next-restore` and `trap-in-snapshot` break the next hot swap
//!   on purpose, in the new version's `restore` or the old version's
//!   `snapshot`: the deploy is refused and this version keeps serving, its
//!   memory (and count) intact.
//! - `grow N` takes N more MiB of memory and keeps it (not in its
//!   snapshot), as a runtime that leaks would: past
//!   `limits.recycle_memory_percent` the host replaces the instance between
//!   two events, handing the count over by snapshot.
//! - `bloat-snapshot N` pads the next snapshot with N bytes, to meet the
//!   host's `max_snapshot_bytes`, or (past the memory cap) to run out of
//!   memory while building it.
//! - `subscribe TOPIC` and `publish TOPIC TEXT` use the host's topics, to
//!   show that a trap leaves subscriptions alone: they are the host's.
//! - `timer`, `cancel` and `pending` drive the host's timers (timers.rs).
//! - feeds (`feeds.rs`): new lines of the files the config grants it are
//!   broadcast to every client; `feeds` and `tail NAME N` read the grants.
//! - `kv-set`, `kv-get`, `kv-del`, `kv-list`, `kv-cas` and `kv-incr` call
//!   the host's key-value store and reply with the result (`kv.rs`).

mod feeds;
mod kv;
mod timers;

use switchboard_guest::{App, ConnectionId, Message, Subscribe, publish, send, subscribe};

#[derive(Default)]
struct Fragile {
    handled: u64,
    refuse_next_restore: bool,
    trap_in_snapshot: bool,
    /// Bytes of padding the next snapshot carries after its first line.
    snapshot_padding: usize,
    /// What `grow` took, held until the instance goes.
    hoard: Vec<Vec<u8>>,
}

impl App for Fragile {
    fn on_message(&mut self, connection: ConnectionId, message: Message) {
        match message.as_text() {
            Some(text) if feeds::command(connection, text) => return,
            Some("panic") => panic!("asked to panic by connection {connection}"),
            Some(text) if timers::command(connection, text) => return,
            Some("refuse-next-restore") => self.refuse_next_restore = true,
            Some("trap-in-snapshot") => self.trap_in_snapshot = true,
            Some(text) if text.starts_with("grow ") => {
                let mebibytes: usize = text
                    .strip_prefix("grow ")
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                for _ in 0..mebibytes {
                    self.hoard.push(vec![1; 1 << 20]);
                }
            }
            Some(text) if text.starts_with("subscribe ") => {
                let topic = text.trim_start_matches("subscribe ");
                let _ = subscribe(connection, topic, Subscribe::new());
            }
            Some(text) if text.starts_with("publish ") => {
                if let Some((topic, said)) = text.trim_start_matches("publish ").split_once(' ') {
                    publish(topic, said);
                }
                return;
            }
            Some(text) if text.starts_with("kv-") => return kv::command(connection, text),
            Some(text) if text.starts_with("bloat-snapshot ") => {
                self.snapshot_padding = text
                    .strip_prefix("bloat-snapshot ")
                    .and_then(|bytes| bytes.parse().ok())
                    .unwrap_or(0);
            }
            _ => {}
        }
        self.handled += 1;
        if message.as_text() == Some("count") {
            send(connection, self.handled.to_string());
            return;
        }
        send(connection, message);
    }

    fn on_timer(&mut self, key: &str) {
        timers::fired(key);
    }

    /// The count, and whether the next version should refuse it.
    fn snapshot(&mut self) -> Option<Vec<u8>> {
        if self.trap_in_snapshot {
            panic!("asked to trap in snapshot");
        }
        let refuse = if self.refuse_next_restore {
            "refuse"
        } else {
            "keep"
        };
        let mut snapshot = format!("{refuse} {}\n", self.handled).into_bytes();
        // Past the memory cap this allocation fails and the guest aborts.
        snapshot.resize(snapshot.len() + self.snapshot_padding, b'.');
        Some(snapshot)
    }

    fn on_lines(&mut self, feed: &str, lines: Vec<String>) {
        feeds::on_lines(feed, lines);
    }

    fn restore(&mut self, snapshot: &[u8]) -> Result<(), String> {
        let text = String::from_utf8_lossy(snapshot);
        let first_line = text.split('\n').next().unwrap_or_default();
        let (verdict, count) = first_line.split_once(' ').ok_or("not a fragile snapshot")?;
        if verdict == "refuse" {
            return Err("the previous version asked me to refuse its snapshot".into());
        }
        self.handled = count
            .parse()
            .map_err(|_| format!("bad count in snapshot: {count}"))?;
        Ok(())
    }
}

switchboard_guest::export!(Fragile);
