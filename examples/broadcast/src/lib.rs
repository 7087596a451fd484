//! Broadcast: every message a connection sends reaches every other open
//! connection of the app, the sender excepted. The shape of a live ticker or
//! a log tail (one publisher, many subscribers), and the app the broadcast
//! benchmark measures: one guest call per message, then the host fans it out.

use switchboard_guest::{App, ConnectionId, Message, broadcast};

#[derive(Default)]
struct Broadcast;

impl App for Broadcast {
    fn on_message(&mut self, connection: ConnectionId, message: Message) {
        // The host queues it to each subscriber; one too slow to keep up is
        // closed by the host, the others still get it.
        broadcast(message, &[connection]);
    }
}

switchboard_guest::export!(Broadcast);
