//! `tail -f` in the browser: a log file that the config grants this app
//! (`[[apps.feeds]]`) streamed to every open page. A page that opens is sent
//! the file's last lines; after that the host follows the file as it grows
//! (across rotation and truncation) and hands the app each batch of new
//! lines, which it publishes to the feed's topic, `feed:NAME`, once for all
//! the pages. The app only ever names a feed, never a path: it cannot read a
//! file the config did not grant.
//!
//! The app drops blank lines; everything else goes to every page, and each
//! page filters what it shows itself (examples/web/tail says why).
//!
//! The wire protocol (JSON text messages; the app speaks, the page only
//! listens). A client connects with `?feed=NAME` to follow that feed, or
//! without it to follow the first one granted (404 for a feed the config
//! does not grant; 503 when it grants none), and is sent
//!
//! - `{"type":"tail","feed":F,"feeds":[NAMES],"lines":[...]}`: the feed's
//!   last lines, oldest first, and the names of every feed granted;
//! - then `{"type":"lines","feed":F,"lines":[...]}` for each batch of new
//!   lines, oldest first (a long batch comes as several messages).
//!
//! When the file cannot be read (it is missing, say), the `tail` has no
//! lines and `{"type":"error","text":...}` follows; new lines arrive once
//! it is back. Anything the client sends gets an `error` too.
//!
//! A page that opens while a batch is on its way may be sent a line in the
//! `tail` and again in that batch: `tail` reads the file as it is, and the
//! batch was read from it a moment before.

use serde_json::json;
use switchboard_guest::{
    Accept, App, ConnectionId, Message, Reject, Request, Subscribe, feeds, publish, send, subscribe,
};

/// How many of the file's last lines a page opens with.
const BACKLOG: u32 = 100;

/// A batch is cut into messages of about this many bytes of lines, so one
/// burst of writes does not become one huge message.
const MESSAGE_BYTES: usize = 64 * 1024;

#[derive(Default)]
struct Tail;

fn topic(feed: &str) -> String {
    format!("feed:{feed}")
}

/// What is worth showing: blank lines are not.
fn worth_showing(line: &str) -> bool {
    !line.trim().is_empty()
}

fn error(connection: ConnectionId, text: &str) {
    send(
        connection,
        json!({"type": "error", "text": text}).to_string(),
    );
}

/// `lines` in messages of at most about `MESSAGE_BYTES` each (a single
/// longer line is a message of its own).
fn in_messages(lines: Vec<String>) -> Vec<Vec<String>> {
    let mut messages = Vec::new();
    let mut current = Vec::new();
    let mut bytes = 0;
    for line in lines {
        if !current.is_empty() && bytes + line.len() > MESSAGE_BYTES {
            messages.push(std::mem::take(&mut current));
            bytes = 0;
        }
        bytes += line.len();
        current.push(line);
    }
    if !current.is_empty() {
        messages.push(current);
    }
    messages
}

impl App for Tail {
    fn on_open(&mut self, connection: ConnectionId, request: &Request) -> Result<Accept, Reject> {
        let granted = feeds::granted();
        let feed = match request.query_param("feed") {
            Some(asked) if granted.contains(&asked) => asked,
            Some(asked) => {
                return Err(Reject::new(
                    404,
                    format!("no feed named {asked:?}; granted: {}", granted.join(", ")),
                ));
            }
            None => granted.first().cloned().ok_or_else(|| {
                Reject::new(
                    503,
                    "this app is granted no file to follow: add [[apps.feeds]] to its config",
                )
            })?,
        };
        // The last lines, then the subscription, in this one event: the
        // next batch the page hears comes after them.
        let (lines, unreadable) = match feeds::tail(&feed, BACKLOG) {
            Ok(lines) => (lines, None),
            Err(failed) => (Vec::new(), Some(failed)),
        };
        if subscribe(connection, &topic(&feed), Subscribe::new()).is_err() {
            return Err(Reject::new(503, "the feed is unavailable"));
        }
        let lines: Vec<String> = lines
            .into_iter()
            .filter(|line| worth_showing(line))
            .collect();
        send(
            connection,
            json!({"type": "tail", "feed": feed, "feeds": granted, "lines": lines}).to_string(),
        );
        if let Some(failed) = unreadable {
            error(
                connection,
                &format!("{feed} cannot be read now ({failed}); new lines will come once it can"),
            );
        }
        Ok(Accept::new())
    }

    fn on_message(&mut self, connection: ConnectionId, _message: Message) {
        error(
            connection,
            "the tail only speaks: choose a feed with ?feed=NAME when connecting",
        );
    }

    fn on_lines(&mut self, feed: &str, lines: Vec<String>) {
        let lines: Vec<String> = lines
            .into_iter()
            .filter(|line| worth_showing(line))
            .collect();
        for batch in in_messages(lines) {
            publish(
                &topic(feed),
                json!({"type": "lines", "feed": feed, "lines": batch}).to_string(),
            );
        }
    }
}

switchboard_guest::export!(Tail);
