//! The host side of `connections`: sending to, closing and broadcasting
//! to the app's own connections. Every call pushes into an outbox and
//! returns; none waits for the network.

use bytes::Bytes;

use super::super::GuestState;
use super::wit;
use crate::close_code;
use crate::guest::wasi::Grant;
use crate::guest::{ConnectionError, Message};
use crate::outbox::{CloseRequest, ConnectionId, OutboundMessage};

/// What importing `connections` hands a guest.
pub(super) const GRANT: Grant = Grant {
    interface: "switchboard:app/connections",
    authority: "send to, close and list this app's own connections",
};

pub(super) fn outbound(message: Message) -> OutboundMessage {
    match message {
        Message::Text(text) => OutboundMessage::Text(Bytes::from(text.into_bytes())),
        Message::Binary(bytes) => OutboundMessage::Binary(Bytes::from(bytes)),
    }
}

impl wit::connections::Host for GuestState {
    fn send(&mut self, connection: u64, message: Message) -> Result<(), ConnectionError> {
        self.connections
            .push(ConnectionId(connection), outbound(message))
    }

    fn close(&mut self, connection: u64, code: u16, reason: String) -> Result<(), ConnectionError> {
        if !close_code::is_sendable(code) || reason.len() > close_code::MAX_REASON_BYTES {
            return Err(ConnectionError::InvalidClose);
        }
        let id = ConnectionId(connection);
        self.connections
            .addressable(id)
            .ok_or(ConnectionError::UnknownConnection)?;
        self.connections.close(id, CloseRequest { code, reason });
        Ok(())
    }

    fn broadcast(&mut self, message: Message, except: Vec<u64>) -> u32 {
        // Encoded once for every recipient, not once per connection.
        let message = outbound(message).into_shared();
        let targets: Vec<ConnectionId> = self
            .connections
            .open
            .iter()
            .filter(|(id, entry)| !entry.closing && !except.contains(&id.0))
            .map(|(id, _)| *id)
            .collect();
        let mut queued = 0u32;
        for id in targets {
            if self.connections.push(id, message.clone()).is_ok() {
                queued = queued.saturating_add(1);
            }
        }
        queued
    }

    fn connections(&mut self) -> Vec<u64> {
        self.connections
            .open
            .iter()
            .filter(|(_, entry)| !entry.closing)
            .map(|(id, _)| id.0)
            .collect()
    }
}
