//! Fragile: an echo app with a bug on purpose. The message `panic` makes it
//! trap, which shows (and the tests check) that a trap closes only the
//! connection whose message caused it, with 1011, while the app keeps serving
//! everyone else. It also counts messages in memory, so a client can see that
//! a trap starts the instance afresh.

use switchboard_guest::{App, ConnectionId, Message, send};

#[derive(Default)]
struct Fragile {
    handled: u64,
}

impl App for Fragile {
    fn on_message(&mut self, connection: ConnectionId, message: Message) {
        if message.as_text() == Some("panic") {
            panic!("asked to panic by connection {connection}");
        }
        self.handled += 1;
        if message.as_text() == Some("count") {
            let _ = send(connection, self.handled.to_string());
            return;
        }
        let _ = send(connection, message);
    }
}

switchboard_guest::export!(Fragile);
