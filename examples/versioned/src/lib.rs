//! Versioned: an echo app that shows what a hot swap keeps.
//!
//! - Every text reply is prefixed with the version that handled it
//!   (`app_version()`: 12 hex digits of the module's hash), so a client can
//!   watch versions change under an open connection: `hello` comes back as
//!   `3f2a9c01b7de hello`. Binary messages come back unchanged.
//! - `/note TEXT` attaches TEXT to the connection and `/note` reads it back.
//!   The host holds attachments, so the note outlives every swap even
//!   though each version starts with empty memory.
//! - `/info` answers how the connection was opened (path and query), which
//!   the host also keeps for every connection, swap or no swap.

use switchboard_guest::{
    App, AttachmentError, ConnectionId, Message, app_version, attachment, connection_info, send,
    set_attachment,
};

#[derive(Default)]
struct Versioned;

impl App for Versioned {
    fn on_message(&mut self, connection: ConnectionId, message: Message) {
        let Message::Text(text) = message else {
            send(connection, message);
            return;
        };
        let version = app_version();
        let reply = if let Some(note) = text.strip_prefix("/note ") {
            match set_attachment(connection, note.as_bytes()) {
                Ok(()) => "noted".to_string(),
                Err(AttachmentError::TooLarge) => "cannot note that: too large".to_string(),
                Err(AttachmentError::UnknownConnection) => "cannot note that: gone".to_string(),
            }
        } else if text == "/note" {
            format!("note: {}", String::from_utf8_lossy(&attachment(connection)))
        } else if text == "/info" {
            match connection_info(connection) {
                Some(info) => format!(
                    "path {} query {}",
                    info.request.path,
                    info.request.query.unwrap_or_default()
                ),
                None => "no info".to_string(),
            }
        } else {
            text
        };
        send(connection, format!("{version} {reply}"));
    }
}

switchboard_guest::export!(Versioned);
