//! Feeds, for host/tests/feeds.rs: every batch of new lines is broadcast
//! to every client as `{"feed": NAME, "lines": [...]}`, and two commands
//! read the grants:
//!
//! - `feeds` answers `{"granted": [NAME, ...]}`;
//! - `tail NAME N` answers `{"tail": NAME, "lines": [...]}`, or
//!   `{"tail": NAME, "error": "unknown-feed" | "unreadable"}`.

use serde_json::json;
use switchboard_guest::feeds::{self, FeedError};
use switchboard_guest::{ConnectionId, broadcast, send};

/// New lines of a feed: told to everyone, as they came.
pub fn on_lines(feed: &str, lines: Vec<String>) {
    broadcast(json!({"feed": feed, "lines": lines}).to_string(), &[]);
}

/// Answer a feeds command; `false` when `text` is none.
pub fn command(connection: ConnectionId, text: &str) -> bool {
    let answer = if text == "feeds" {
        json!({"granted": feeds::granted()})
    } else if let Some(rest) = text.strip_prefix("tail ") {
        let (name, count) = rest.rsplit_once(' ').unwrap_or((rest, "10"));
        match feeds::tail(name, count.parse().unwrap_or(10)) {
            Ok(lines) => json!({"tail": name, "lines": lines}),
            Err(FeedError::UnknownFeed) => json!({"tail": name, "error": "unknown-feed"}),
            Err(FeedError::Unreadable) => json!({"tail": name, "error": "unreadable"}),
        }
    } else {
        return false;
    };
    send(connection, answer.to_string());
    true
}
