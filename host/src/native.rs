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

use crate::guest::{
    AttachmentsHost as _, ConnectionsHost as _, GuestState, Message, Position, Request,
    SubscribeOptions, TopicsHost as _,
};
use crate::outbox::ConnectionId;

/// The logic of one built-in app; each matches an example component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NativeApp {
    /// Every message back to its sender, like `examples/echo`.
    Echo,
    /// Every message to every other connection, like `examples/broadcast`;
    /// or, with `?topic=` and `?publish=`, through a topic.
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

    /// What the component's `on-open` does: the broadcast app subscribes a
    /// connection opened with `?topic=NAME` (from `&epoch=E&offset=N`, when
    /// given; with `&position=1` sending it the topic's position as
    /// `{"epoch":"E","offset":N}`), and remembers a publisher's
    /// `?publish=NAME`.
    pub fn on_open(self, state: &mut GuestState, connection: ConnectionId, request: &Request) {
        if self != NativeApp::Broadcast {
            return;
        }
        let param = |name: &str| query_param(request, name);
        if let Some(topic) = param("topic") {
            let since = match (param("epoch"), param("offset").and_then(|n| n.parse().ok())) {
                (Some(epoch), Some(offset)) => Some(Position { epoch, offset }),
                _ => None,
            };
            let options = SubscribeOptions {
                info: Vec::new(),
                since,
            };
            let subscribed = state.subscribe(connection.0, topic, options);
            if let (Ok(subscription), Some("1")) = (subscribed, param("position").as_deref()) {
                let Position { epoch, offset } = subscription.position;
                let _ = state.send(connection.0, Message::Text(position_json(&epoch, offset)));
            }
        }
        if let Some(topic) = param("publish") {
            let _ = state.set(connection.0, topic.into_bytes());
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
                let topic = state.get(connection.0);
                match String::from_utf8(topic) {
                    Ok(topic) if !topic.is_empty() => {
                        let _ = state.publish(topic, message.clone());
                    }
                    _ => {
                        state.broadcast(message.clone(), vec![connection.0]);
                    }
                }
            }
        }
    }
}

/// `{"epoch":"E","offset":N}`, as `examples/broadcast` writes it.
fn position_json(epoch: &str, offset: u64) -> String {
    let epoch = epoch.replace('\\', "\\\\").replace('"', "\\\"");
    format!("{{\"epoch\":\"{epoch}\",\"offset\":{offset}}}")
}

/// The first value of a query parameter, undecoded: the benchmark names
/// its topics plainly.
fn query_param(request: &Request, name: &str) -> Option<String> {
    request
        .query
        .as_deref()?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_string())
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
