//! "This document is being edited by X": an edit lock per document, held
//! by the host's presence and nothing else. The app keeps no memory of its
//! own: who has a document open, and in which order they came, is the
//! topic's member list; so the lock frees the moment its holder's tab
//! closes (the host ends the subscription and calls `on_leave`), and a hot
//! swap or a trap changes nothing.
//!
//! The rule: the holder is the earliest member of topic `doc:ID` who wants
//! to edit. Everyone after them waits in line, in the order they opened the
//! document; members who only view never hold it.
//!
//! The wire protocol (JSON text messages). A client connects with
//! `?name=NAME` (400 without one) and then sends:
//!
//! - `{"type":"open","doc":D}`: open document D, wanting to edit it
//!   (`"edit":false` to only view it). The reply is
//!   `{"type":"opened","doc":D,"you":ID}`, ID being how `state` names this
//!   client, then a `state`.
//! - `{"type":"edit","doc":D,"edit":false}`: stop editing (or stop waiting):
//!   the next in line holds the lock at once. `"edit":true` asks for it
//!   again, at the back of the line.
//! - `{"type":"close","doc":D}`: close the document.
//!
//! Everyone with D open hears each change:
//! `{"type":"state","doc":D,"holder":{"id":ID,"name":NAME}|null,"waiting":[...],"viewers":[...]}`
//! (`waiting` and `viewers` are lists of `{"id","name"}`, in line order).
//! Mistakes get `{"type":"error","text":...}`.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use switchboard_guest::{
    Accept, App, ConnectionId, Member, Message, Reject, Request, Subscribe, TopicError, attachment,
    members, publish, send, set_attachment, subscribe, unsubscribe,
};

/// Names longer than this are refused: a name is shown to everyone.
const MAX_NAME_CHARS: usize = 64;

/// Document ids are short words: letters, digits, `-` and `_`.
const MAX_DOC_CHARS: usize = 64;

#[derive(Default)]
struct Lock;

/// What a client sends.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Command {
    Open {
        doc: String,
        #[serde(default = "yes")]
        edit: bool,
    },
    Edit {
        doc: String,
        edit: bool,
    },
    Close {
        doc: String,
    },
}

fn yes() -> bool {
    true
}

/// What each member carries in presence: its name and whether it wants to
/// edit.
#[derive(Serialize, Deserialize)]
struct Info {
    name: String,
    edit: bool,
}

fn doc_topic(doc: &str) -> String {
    format!("doc:{doc}")
}

fn valid_doc(doc: &str) -> bool {
    !doc.is_empty()
        && doc.chars().count() <= MAX_DOC_CHARS
        && doc
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
}

fn error(connection: ConnectionId, text: &str) {
    send(
        connection,
        json!({"type": "error", "text": text}).to_string(),
    );
}

fn describe(error: TopicError) -> &'static str {
    match error {
        TopicError::TooManyTopics => "you have too many documents open; close one first",
        TopicError::InfoTooLarge => "that name is too long",
        TopicError::InvalidTopic => "that document id is not allowed",
        TopicError::UnknownConnection | TopicError::OutboxFull => "you are disconnected",
    }
}

fn info_of(member: &Member) -> Option<Info> {
    serde_json::from_slice(&member.info).ok()
}

/// Who holds document `doc`, who waits for it and who only views it, as
/// the message everyone with it open is sent.
fn state(doc: &str) -> String {
    let mut holder = Value::Null;
    let mut waiting = Vec::new();
    let mut viewers = Vec::new();
    for member in members(&doc_topic(doc)) {
        let Some(info) = info_of(&member) else {
            continue;
        };
        let entry = json!({"id": member.id, "name": info.name});
        if !info.edit {
            viewers.push(entry);
        } else if holder.is_null() {
            holder = entry;
        } else {
            waiting.push(entry);
        }
    }
    json!({"type": "state", "doc": doc, "holder": holder, "waiting": waiting, "viewers": viewers})
        .to_string()
}

/// Tell everyone with the document open how things stand now.
fn announce(doc: &str) {
    publish(&doc_topic(doc), state(doc));
}

/// The name a connection came with, kept by the host.
fn name_of(connection: ConnectionId) -> String {
    String::from_utf8(attachment(connection)).unwrap_or_default()
}

fn info(connection: ConnectionId, edit: bool) -> Vec<u8> {
    let info = Info {
        name: name_of(connection),
        edit,
    };
    serde_json::to_vec(&info).unwrap_or_default()
}

fn is_open(connection: ConnectionId, doc: &str) -> bool {
    switchboard_guest::subscriptions(connection).contains(&doc_topic(doc))
}

impl Lock {
    fn open(&mut self, connection: ConnectionId, doc: &str, edit: bool) {
        if !valid_doc(doc) {
            return error(connection, "document ids are 1-64 letters, digits, - or _");
        }
        let topic = doc_topic(doc);
        let again = is_open(connection, doc);
        if let Err(failed) = subscribe(
            connection,
            &topic,
            Subscribe::new().info(info(connection, edit)),
        ) {
            return error(connection, describe(failed));
        }
        let you = members(&topic)
            .into_iter()
            .find(|member| member.connection == Some(connection))
            .map(|member| member.id)
            .unwrap_or_default();
        send(
            connection,
            json!({"type": "opened", "doc": doc, "you": you}).to_string(),
        );
        if again {
            // No join follows a second open (the member keeps its place,
            // with its new info), so say how things stand now.
            announce(doc);
        }
    }

    fn edit(&mut self, connection: ConnectionId, doc: &str, edit: bool) {
        if !is_open(connection, doc) {
            return error(connection, "open the document first");
        }
        let topic = doc_topic(doc);
        if edit {
            // To the back of the line: leave and come again. `on_leave`
            // and `on_join` tell everyone, after this event.
            unsubscribe(connection, &topic);
        }
        if let Err(failed) = subscribe(
            connection,
            &topic,
            Subscribe::new().info(info(connection, edit)),
        ) {
            return error(connection, describe(failed));
        }
        if !edit {
            // The member kept its place with new info: no join or leave
            // follows, so tell everyone here.
            announce(doc);
        }
    }
}

impl App for Lock {
    fn on_open(&mut self, connection: ConnectionId, request: &Request) -> Result<Accept, Reject> {
        let name = request
            .query_param("name")
            .map(|name| name.trim().to_string())
            .unwrap_or_default();
        if name.is_empty() {
            return Err(Reject::new(400, "open with ?name=YOUR_NAME"));
        }
        if name.chars().count() > MAX_NAME_CHARS
            || set_attachment(connection, name.as_bytes()).is_err()
        {
            return Err(Reject::new(400, "that name is too long"));
        }
        Ok(Accept::new())
    }

    fn on_message(&mut self, connection: ConnectionId, message: Message) {
        let Message::Text(text) = message else {
            return error(connection, "messages are JSON text");
        };
        let Ok(command) = serde_json::from_str::<Command>(&text) else {
            return error(
                connection,
                "send {\"type\": \"open\" | \"edit\" | \"close\", \"doc\": ...}",
            );
        };
        match command {
            Command::Open { doc, edit } => self.open(connection, &doc, edit),
            Command::Edit { doc, edit } => self.edit(connection, &doc, edit),
            Command::Close { doc } => {
                unsubscribe(connection, &doc_topic(&doc));
            }
        }
    }

    /// Someone opened a document: everyone with it open (them included)
    /// hears who holds it now.
    fn on_join(&mut self, topic: &str, _member: Member) {
        if let Some(doc) = topic.strip_prefix("doc:") {
            announce(doc);
        }
    }

    /// Someone closed it, or their tab went away: if they held the lock,
    /// the next in line holds it now.
    fn on_leave(&mut self, topic: &str, _member: Member) {
        if let Some(doc) = topic.strip_prefix("doc:") {
            announce(doc);
        }
    }
}

switchboard_guest::export!(Lock);
