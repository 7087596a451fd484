//! Broadcast: every message a connection sends reaches every other open
//! connection of the app, the sender excepted. The shape of a live ticker or
//! a log tail (one publisher, many subscribers), and the app the broadcast
//! benchmark measures: one guest call per message, then the host fans it out.
//!
//! The same through a topic, for the benchmark to compare: a connection
//! opened with `?topic=NAME` is subscribed to it (resuming after
//! `&epoch=E&offset=N` when given), and one opened with `?publish=NAME`
//! publishes every message it sends there instead of broadcasting it.
//! With `&position=1` too, a subscriber's first message from the app is
//! where the topic stood when it subscribed, `{"epoch":"E","offset":N}`
//! (after anything replayed, before anything published later): what a
//! client needs to resume from later, and what the benchmark counts from.
//!
//! And the shape of a log tail: every new line of a file the config grants
//! (`[[apps.feeds]]`) is published, one message a line, to the topic named
//! like the feed, so `?topic=NAME` follows the feed NAME. The benchmark
//! compares that with the same lines published by a client.

use switchboard_guest::{
    Accept, App, ConnectionId, Message, Position, Reject, Request, Subscribe, attachment,
    broadcast, publish, send, set_attachment, subscribe,
};

#[derive(Default)]
struct Broadcast;

impl App for Broadcast {
    fn on_open(&mut self, connection: ConnectionId, request: &Request) -> Result<Accept, Reject> {
        if let Some(topic) = request.query_param("topic") {
            let mut options = Subscribe::new();
            let offset = request.query_param("offset").and_then(|n| n.parse().ok());
            if let (Some(epoch), Some(offset)) = (request.query_param("epoch"), offset) {
                options = options.since(Position { epoch, offset });
            }
            let Ok(subscription) = subscribe(connection, &topic, options) else {
                return Err(Reject::new(400, "cannot subscribe to that topic"));
            };
            if request.query_param("position").as_deref() == Some("1") {
                let Position { epoch, offset } = subscription.position;
                send(connection, position_json(&epoch, offset));
            }
        }
        if let Some(topic) = request.query_param("publish") {
            let _ = set_attachment(connection, topic.as_bytes());
        }
        Ok(Accept::new())
    }

    fn on_message(&mut self, connection: ConnectionId, message: Message) {
        // The host queues it to each subscriber; one too slow to keep up is
        // closed by the host, the others still get it.
        match String::from_utf8(attachment(connection)) {
            Ok(topic) if !topic.is_empty() => {
                publish(&topic, message);
            }
            _ => {
                broadcast(message, &[connection]);
            }
        }
    }

    fn on_lines(&mut self, feed: &str, lines: Vec<String>) {
        for line in lines {
            publish(feed, line);
        }
    }
}

/// `{"epoch":"E","offset":N}`. The host's epochs are plain tokens; quotes
/// and backslashes are escaped all the same, so the text is always JSON.
fn position_json(epoch: &str, offset: u64) -> String {
    let epoch = epoch.replace('\\', "\\\\").replace('"', "\\\"");
    format!("{{\"epoch\":\"{epoch}\",\"offset\":{offset}}}")
}

switchboard_guest::export!(Broadcast);
