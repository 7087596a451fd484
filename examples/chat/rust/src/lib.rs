//! Chat: one room. A client joins with `?name=...`; each text it sends goes
//! to everyone else as `{"type":"message","from":NAME,"text":TEXT}`, and
//! everyone hears `{"type":"join",...}` and `{"type":"leave",...}` notices.
//! A client without a name is refused with HTTP 400 before the upgrade.
//! Sending `/quit` makes the server close the connection (1000, "goodbye").
//! A client that offers the subprotocol `chat.v1` gets it confirmed.
//!
//! The member list lives in guest memory, so a new version of the app would
//! start with an empty room; `snapshot` and `restore` hand the list over
//! during a hot swap, and everyone stays in the room.

use std::collections::HashMap;

use serde_json::json;
use switchboard_guest::{
    Accept, App, CloseCode, ConnectionId, Message, Reject, Request, broadcast, close, log, send,
};

/// Names longer than this are refused, so one client cannot flood the room's
/// notices with a huge name.
const MAX_NAME_CHARS: usize = 64;

/// The one version of this app's message format.
const SUBPROTOCOL: &str = "chat.v1";

#[derive(Default)]
struct Chat {
    names: HashMap<ConnectionId, String>,
}

impl App for Chat {
    fn on_open(&mut self, connection: ConnectionId, request: &Request) -> Result<Accept, Reject> {
        let name = request
            .query_param("name")
            .map(|name| name.trim().to_string())
            .unwrap_or_default();
        if name.is_empty() {
            return Err(Reject::new(400, "join with ?name=YOUR_NAME"));
        }
        if name.chars().count() > MAX_NAME_CHARS {
            return Err(Reject::new(400, "that name is too long"));
        }
        let members: Vec<&String> = self.names.values().collect();
        send(
            connection,
            json!({"type": "welcome", "name": name, "members": members}).to_string(),
        );
        broadcast(
            json!({"type": "join", "name": name}).to_string(),
            &[connection],
        );
        log::info(&format!("{name} joined"));
        self.names.insert(connection, name);
        if request
            .subprotocols
            .iter()
            .any(|offered| offered == SUBPROTOCOL)
        {
            Ok(Accept::with_subprotocol(SUBPROTOCOL))
        } else {
            Ok(Accept::new())
        }
    }

    fn on_message(&mut self, connection: ConnectionId, message: Message) {
        let Some(from) = self.names.get(&connection) else {
            return;
        };
        let Message::Text(text) = message else {
            send(
                connection,
                json!({"type": "error", "text": "chat messages are text"}).to_string(),
            );
            return;
        };
        if text.trim() == "/quit" {
            // on_close follows once the closing handshake is done.
            let _ = close(connection, CloseCode::Normal, "goodbye");
            return;
        }
        broadcast(
            json!({"type": "message", "from": from, "text": text}).to_string(),
            &[connection],
        );
    }

    fn on_close(&mut self, connection: ConnectionId, _code: u16, _reason: &str) {
        if let Some(name) = self.names.remove(&connection) {
            log::info(&format!("{name} left"));
            broadcast(json!({"type": "leave", "name": name}).to_string(), &[]);
        }
    }

    /// The room as JSON: `{"members": [[connection, name], ...]}`.
    fn snapshot(&mut self) -> Option<Vec<u8>> {
        let members: Vec<(u64, &String)> = self
            .names
            .iter()
            .map(|(connection, name)| (connection.as_u64(), name))
            .collect();
        Some(json!({ "members": members }).to_string().into_bytes())
    }

    fn restore(&mut self, snapshot: &[u8]) -> Result<(), String> {
        #[derive(serde::Deserialize)]
        struct Room {
            members: Vec<(u64, String)>,
        }
        let room: Room = serde_json::from_slice(snapshot)
            .map_err(|error| format!("not a chat snapshot: {error}"))?;
        self.names = room
            .members
            .into_iter()
            .map(|(connection, name)| (ConnectionId::from_raw(connection), name))
            .collect();
        log::info(&format!(
            "took over a room of {} from the previous version",
            self.names.len()
        ));
        Ok(())
    }
}

switchboard_guest::export!(Chat);
