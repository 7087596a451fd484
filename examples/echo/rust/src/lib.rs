//! Echo: every message comes back to its sender, text as text, binary as
//! binary. The smallest useful app, and the one the tests and benchmark lean on.

use switchboard_guest::{App, ConnectionId, Message, send};

#[derive(Default)]
struct Echo;

impl App for Echo {
    fn on_message(&mut self, connection: ConnectionId, message: Message) {
        // A full outbox means the client is too slow; the host closes it.
        send(connection, message);
    }
}

switchboard_guest::export!(Echo);
