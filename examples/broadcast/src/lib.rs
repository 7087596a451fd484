//! Broadcast: every message a connection sends reaches every other open
//! connection of the app, the sender excepted. The shape of a live ticker or
//! a log tail (one publisher, many subscribers), and the app the broadcast
//! benchmark measures: one guest call per message, then the host fans it out.
//!
//! The same through a topic, for the benchmark to compare: a connection
//! opened with `?topic=NAME` is subscribed to it (resuming after
//! `&epoch=E&offset=N` when given), and one opened with `?publish=NAME`
//! publishes every message it sends there instead of broadcasting it.

use switchboard_guest::{
    Accept, App, ConnectionId, Message, Position, Reject, Request, Subscribe, attachment,
    broadcast, publish, set_attachment, subscribe,
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
            if subscribe(connection, &topic, options).is_err() {
                return Err(Reject::new(400, "cannot subscribe to that topic"));
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
}

switchboard_guest::export!(Broadcast);
