//! Chat rooms: many rooms, each a topic. The app keeps nothing in its own
//! memory: who is in a room is the host's presence, each client's name is
//! attached to its connection, and what was said is kept twice by the host:
//! the room's last 50 messages in the app's key-value store, on disk, for
//! the scrollback a newcomer sees (so a room remembers them across a host
//! restart), and the topic's history, in memory, for catching up a client
//! that lost its connection. A hot swap or a trap therefore loses nothing,
//! and needs no snapshot.
//!
//! The wire protocol (JSON text messages). A client connects with
//! `?name=NAME` (400 without one) and then sends:
//!
//! - `{"type":"join","room":R}`: enter room R. The reply is
//!   `{"type":"scrollback","room":R,"messages":[...]}` (the room's last 50
//!   messages, as they were published, from before the host's last restart
//!   too) and then
//!   `{"type":"joined","room":R,"position":{"epoch":E,"offset":N},"recovered":false,"members":[NAMES]}`.
//! - `{"type":"join","room":R,"since":{"epoch":E,"offset":N}}`: come back to
//!   a room after a lost connection, from the last position seen. What was
//!   published since is sent first, exactly once each, then `joined` with
//!   `"recovered":true`. When the room's history no longer reaches back (or
//!   the host restarted), `recovered` is false and a fresh scrollback comes
//!   first: the client starts over.
//! - `{"type":"message","room":R,"text":T}`: say T in room R.
//! - `{"type":"typing","room":R}`: tell R's members you are typing.
//! - `{"type":"leave","room":R}`: leave room R.
//!
//! Published to room R (topic `room:R`, kept in history when the config
//! says so; see examples/demo.toml): `{"type":"message","room":R,"from":NAME,"text":T}`,
//! `{"type":"join","room":R,"name":NAME}` and `{"type":"leave","room":R,"name":NAME}`.
//! A client numbers these from the `joined` position on, one each, to know
//! the position it has seen. Typing notices go to topic `typing:R`, which
//! keeps no history: `{"type":"typing","room":R,"name":NAME}`.
//! Mistakes get `{"type":"error","text":...}`.
//!
//! In the key-value store (the same in every language, so that a version in
//! one can take over from another): `count:R`, a counter of what room R has
//! kept, and a ring of 50 keys `said:R:00` to `said:R:49`, the message
//! numbered N under slot N mod 50 as `{"n":N,"message":{...}}`. A room thus
//! never takes more than 51 keys, and the newest message overwrites the
//! oldest.

use serde::Deserialize;
use serde_json::{Value, json};
use switchboard_guest::kv::{self, KvError};
use switchboard_guest::{
    Accept, App, ConnectionId, Member, Message, Position, Reject, Request, Subscribe, TopicError,
    attachment, log, members, publish, send, set_attachment, subscribe, unsubscribe,
};

/// Names longer than this are refused, so one client cannot flood a room's
/// notices with a huge name.
const MAX_NAME_CHARS: usize = 64;

/// Room names are short words: letters, digits, `-` and `_`.
const MAX_ROOM_CHARS: usize = 32;

/// Messages a joining client is shown from before it joined: how many
/// each room keeps in the key-value store.
const SCROLLBACK: u32 = 50;

#[derive(Default)]
struct Rooms;

/// What a client sends.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Command {
    Join { room: String, since: Option<Since> },
    Message { room: String, text: String },
    Typing { room: String },
    Leave { room: String },
}

#[derive(Deserialize)]
struct Since {
    epoch: String,
    offset: u64,
}

/// One message kept in a room's ring: its number in the room, and what
/// was published.
#[derive(Deserialize)]
struct Said {
    n: i64,
    message: Value,
}

fn room_topic(room: &str) -> String {
    format!("room:{room}")
}

fn typing_topic(room: &str) -> String {
    format!("typing:{room}")
}

fn valid_room(room: &str) -> bool {
    !room.is_empty()
        && room.chars().count() <= MAX_ROOM_CHARS
        && room
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
}

/// The name a connection joined with, kept by the host.
fn name_of(connection: ConnectionId) -> String {
    String::from_utf8(attachment(connection)).unwrap_or_default()
}

fn error(connection: ConnectionId, text: &str) {
    send(
        connection,
        json!({"type": "error", "text": text}).to_string(),
    );
}

fn member_names(topic: &str) -> Vec<String> {
    members(topic)
        .iter()
        .filter_map(|member| member.info_text().map(str::to_string))
        .collect()
}

/// Publish `message` to room `room` and keep it as the room's latest.
fn say(room: &str, message: Value) {
    publish(&room_topic(room), message.to_string());
    if let Err(failed) = remember(room, message) {
        log::warn(&format!("room {room}: a message was not kept: {failed}"));
    }
}

/// Keep `message` in the room's ring: numbered by the room's counter, in
/// the slot of that number, over the message 50 before it.
fn remember(room: &str, message: Value) -> Result<(), KvError> {
    let n = kv::increment(&format!("count:{room}"), 1)?;
    let slot = n.rem_euclid(i64::from(SCROLLBACK));
    let said = json!({"n": n, "message": message}).to_string();
    kv::set(&format!("said:{room}:{slot:02}"), said)
}

/// The room's last messages, oldest first, each the JSON that was
/// published.
fn scrollback(connection: ConnectionId, room: &str) {
    let messages: Vec<Value> = match kv::list(&format!("said:{room}:"), None, SCROLLBACK) {
        Ok(entries) => {
            let mut said: Vec<Said> = entries
                .iter()
                .filter_map(|entry| serde_json::from_slice(&entry.value).ok())
                .collect();
            said.sort_by_key(|said| said.n);
            said.into_iter().map(|said| said.message).collect()
        }
        Err(failed) => {
            log::warn(&format!(
                "room {room}: the scrollback cannot be read: {failed}"
            ));
            Vec::new()
        }
    };
    send(
        connection,
        json!({"type": "scrollback", "room": room, "messages": messages}).to_string(),
    );
}

fn describe(error: TopicError) -> &'static str {
    match error {
        TopicError::TooManyTopics => "you are in too many rooms; leave one first",
        TopicError::InfoTooLarge => "that name is too long",
        TopicError::InvalidTopic => "that room name is not allowed",
        TopicError::UnknownConnection | TopicError::OutboxFull => "you are disconnected",
    }
}

impl Rooms {
    fn join(&mut self, connection: ConnectionId, room: &str, since: Option<Since>) {
        if !valid_room(room) {
            return error(connection, "room names are 1-32 letters, digits, - or _");
        }
        let name = name_of(connection);
        let since = since.map(|since| Position {
            epoch: since.epoch,
            offset: since.offset,
        });
        let resuming = since.is_some();
        if !resuming {
            // Scrollback first: nothing can be published between it and
            // the subscription, so the client misses nothing in between.
            scrollback(connection, room);
        }
        let mut options = Subscribe::new().info(name.clone());
        if let Some(since) = since {
            options = options.since(since);
        }
        let subscription = match subscribe(connection, &room_topic(room), options) {
            Ok(subscription) => subscription,
            Err(failed) => return error(connection, describe(failed)),
        };
        if resuming && !subscription.recovered {
            // Too late to catch up: start the client over.
            scrollback(connection, room);
        }
        if let Err(failed) = subscribe(connection, &typing_topic(room), Subscribe::new().info(name))
        {
            return error(connection, describe(failed));
        }
        send(
            connection,
            json!({
                "type": "joined",
                "room": room,
                "position": {
                    "epoch": subscription.position.epoch,
                    "offset": subscription.position.offset,
                },
                "recovered": subscription.recovered,
                "members": member_names(&room_topic(room)),
            })
            .to_string(),
        );
    }

    fn in_room(connection: ConnectionId, room: &str) -> bool {
        switchboard_guest::subscriptions(connection).contains(&room_topic(room))
    }
}

impl App for Rooms {
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
        if set_attachment(connection, name.as_bytes()).is_err() {
            return Err(Reject::new(400, "that name is too long"));
        }
        Ok(Accept::new())
    }

    fn on_message(&mut self, connection: ConnectionId, message: Message) {
        let Message::Text(text) = message else {
            return error(connection, "messages are JSON text");
        };
        let command: Command = match serde_json::from_str(&text) {
            Ok(command) => command,
            Err(_) => {
                return error(
                    connection,
                    "send {\"type\": \"join\" | \"message\" | \"typing\" | \"leave\", \"room\": ...}",
                );
            }
        };
        match command {
            Command::Join { room, since } => self.join(connection, &room, since),
            Command::Message { room, text } => {
                if !Rooms::in_room(connection, &room) {
                    return error(connection, "join the room first");
                }
                let from = name_of(connection);
                say(
                    &room,
                    json!({"type": "message", "room": room, "from": from, "text": text}),
                );
            }
            Command::Typing { room } => {
                if Rooms::in_room(connection, &room) {
                    let name = name_of(connection);
                    publish(
                        &typing_topic(&room),
                        json!({"type": "typing", "room": room, "name": name}).to_string(),
                    );
                }
            }
            Command::Leave { room } => {
                unsubscribe(connection, &room_topic(&room));
                unsubscribe(connection, &typing_topic(&room));
            }
        }
    }

    /// Everyone in the room hears who came in: a notice said in the room,
    /// so it is in its scrollback and history too.
    fn on_join(&mut self, topic: &str, member: Member) {
        if let (Some(room), Some(name)) = (topic.strip_prefix("room:"), member.info_text()) {
            say(room, json!({"type": "join", "room": room, "name": name}));
        }
    }

    fn on_leave(&mut self, topic: &str, member: Member) {
        if let (Some(room), Some(name)) = (topic.strip_prefix("room:"), member.info_text()) {
            say(room, json!({"type": "leave", "room": room, "name": name}));
        }
    }
}

switchboard_guest::export!(Rooms);
