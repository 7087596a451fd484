//! The host side of `attachments`: what the host remembers about each
//! connection for the app (how it was opened, bytes the app attached),
//! which outlives any one guest instance.

use super::super::GuestState;
use super::wit;
use crate::guest::wasi::Grant;
use crate::guest::{AttachmentError, ConnectionInfo};
use crate::outbox::ConnectionId;

/// What importing `attachments` hands a guest.
pub(super) const GRANT: Grant = Grant {
    interface: "switchboard:app/attachments",
    authority: "read how this app's connections were opened; keep bytes on them",
};

impl wit::attachments::Host for GuestState {
    fn info(&mut self, connection: u64) -> Option<ConnectionInfo> {
        let entry = self.connections.open.get(&ConnectionId(connection))?;
        Some(ConnectionInfo {
            request: entry.request.unpack(),
            subprotocol: entry.subprotocol.as_deref().map(str::to_string),
        })
    }

    fn set(&mut self, connection: u64, data: Vec<u8>) -> Result<(), AttachmentError> {
        if data.len() > self.limits.max_attachment_bytes {
            return Err(AttachmentError::TooLarge);
        }
        let entry = self
            .connections
            .open
            .get_mut(&ConnectionId(connection))
            .ok_or(AttachmentError::UnknownConnection)?;
        entry.attachment = data;
        Ok(())
    }

    fn get(&mut self, connection: u64) -> Vec<u8> {
        self.connections
            .open
            .get(&ConnectionId(connection))
            .map(|entry| entry.attachment.clone())
            .unwrap_or_default()
    }
}
