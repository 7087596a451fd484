//! What the guest benches share: an instance with one connection, set up
//! as the app actor would have it, so a bench can call its exports directly.

use std::sync::Arc;

use switchboard::guest::{Connections, GuestLimits, GuestState, Instance, Module, Request};
use switchboard::outbox::{ConnectionId, OutboxReceiver, outbox};

/// The upgrade request every bench connection was opened with.
pub fn echo_request() -> Request {
    Request {
        path: "/echo".into(),
        query: None,
        headers: Vec::new(),
        remote_address: "127.0.0.1:1".into(),
        subprotocols: Vec::new(),
    }
}

/// An instance of `module` named `name`, with one registered connection,
/// and that connection's end of the outbox.
pub fn instance_with_connection(
    module: &Module,
    name: &str,
    limits: GuestLimits,
    max_outbox_bytes: usize,
) -> (Instance, ConnectionId, OutboxReceiver) {
    let state = GuestState::new(Arc::from(name), Connections::new(), limits);
    let mut instance = match module.instantiate(state) {
        Ok(instance) => instance,
        Err(failed) => panic!("{name} does not start: {:#}", failed.error),
    };
    let (sender, receiver) = outbox(max_outbox_bytes);
    let connection = ConnectionId::next();
    instance
        .state()
        .connections
        .insert(connection, sender, &echo_request());
    (instance, connection, receiver)
}
