//! Apps built into the host, written in Rust: the benchmark's baseline.
//!
//! A native app runs where a guest would: on its app's actor thread, fed by
//! the same mailbox, answering through the same host functions
//! (`connections.send`, `connections.broadcast`) into the same outboxes. Only
//! WebAssembly is missing, so the gap between a native app and the same
//! logic as a component (`examples/echo`, `examples/broadcast`) is what the
//! sandbox costs, measured in one run on one host binary
//! (`switchboard serve --native-app /echo=echo`).

use std::str::FromStr;

use crate::guest::{ConnectionsHost as _, GuestState, Message};
use crate::outbox::ConnectionId;

/// The logic of one built-in app; each matches an example component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NativeApp {
    /// Every message back to its sender, like `examples/echo`.
    Echo,
    /// Every message to every other connection, like `examples/broadcast`.
    Broadcast,
}

impl NativeApp {
    pub const NAMES: &'static str = "echo, broadcast";

    pub fn name(self) -> &'static str {
        match self {
            NativeApp::Echo => "echo",
            NativeApp::Broadcast => "broadcast",
        }
    }

    /// What the component's `on-message` does, through the same host calls.
    /// The message is cloned because a guest gets its own copy too (lifted
    /// out of its linear memory).
    pub fn on_message(self, state: &mut GuestState, connection: ConnectionId, message: &Message) {
        match self {
            NativeApp::Echo => {
                // A full outbox closes the client, as for the component.
                let _ = state.send(connection.0, message.clone());
            }
            NativeApp::Broadcast => {
                state.broadcast(message.clone(), vec![connection.0]);
            }
        }
    }
}

impl FromStr for NativeApp {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "echo" => Ok(NativeApp::Echo),
            "broadcast" => Ok(NativeApp::Broadcast),
            other => Err(format!(
                "no built-in app is called {other:?} (there are: {})",
                Self::NAMES
            )),
        }
    }
}
