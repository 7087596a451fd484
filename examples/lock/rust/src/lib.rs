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
//! A holder who goes quiet loses the lock: each document with a holder has
//! a timer, held by the host, keyed by the document and the holder
//! (`idle:DOC:MEMBER`). Whatever the holder sends about the document
//! starts it again; when it fires, the holder becomes a viewer and the
//! next in line holds the lock. Whenever the holder changes, the old
//! holder's timer goes and the new one's starts, so a timer that fires
//! always belongs to the holder it names. Like the line, the timers live in
//! the host: a hot swap or a trap stops no clock.
//!
//! The wire protocol (JSON text messages). A client connects with
//! `?name=NAME` (400 without one) and optionally `&idle=SECONDS` (1 to
//! 3600, 60 by default): how long it may hold the lock without a word
//! about the document. It then sends:
//!
//! - `{"type":"open","doc":D}`: open document D, wanting to edit it
//!   (`"edit":false` to only view it). The reply is
//!   `{"type":"opened","doc":D,"you":ID}`, ID being how `state` names this
//!   client, then a `state`.
//! - `{"type":"edit","doc":D,"edit":false}`: stop editing (or stop waiting):
//!   the next in line holds the lock at once. `"edit":true` asks for it
//!   again, at the back of the line.
//! - `{"type":"active","doc":D}`: the holder is still at work (the page
//!   sends it as its user types). Any other message about D from its
//!   holder counts as much.
//! - `{"type":"close","doc":D}`: close the document.
//!
//! Everyone with D open hears each change:
//! `{"type":"state","doc":D,"holder":{"id":ID,"name":NAME}|null,"waiting":[...],"viewers":[...]}`
//! (`waiting` and `viewers` are lists of `{"id","name"}`, in line order).
//! When a holder's time runs out they first hear
//! `{"type":"expired","doc":D,"holder":{"id":ID,"name":NAME},"idle_seconds":N}`.
//! Mistakes get `{"type":"error","text":...}`.

use std::ops::RangeInclusive;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use switchboard_guest::{
    Accept, App, ConnectionId, Member, Message, Reject, Request, Subscribe, TopicError, attachment,
    log, members, publish, send, set_attachment, subscribe, timers, unsubscribe,
};

/// Names longer than this are refused: a name is shown to everyone.
const MAX_NAME_CHARS: usize = 64;

/// Document ids are short words: letters, digits, `-` and `_`.
const MAX_DOC_CHARS: usize = 64;

/// How long a holder may go without a word about the document, unless it
/// connected with `?idle=SECONDS`, and what it may ask for.
const IDLE_SECONDS: u64 = 60;
const IDLE_RANGE: RangeInclusive<u64> = 1..=3600;

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
    Active {
        doc: String,
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

/// What is attached to each connection: who it is, and how long it may
/// hold a lock without a word.
#[derive(Serialize, Deserialize)]
struct Client {
    name: String,
    idle: u64,
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

/// A member as `state` lists it.
fn entry(member: &Member, info: &Info) -> Value {
    json!({"id": member.id, "name": info.name})
}

/// Who holds document `doc` (the member and its info), and the message
/// everyone with it open is sent: the holder, who waits for it and who
/// only views it.
fn state(doc: &str) -> (Option<(Member, Info)>, String) {
    let mut holder: Option<(Member, Info)> = None;
    let mut waiting = Vec::new();
    let mut viewers = Vec::new();
    for member in members(&doc_topic(doc)) {
        let Some(info) = info_of(&member) else {
            continue;
        };
        if !info.edit {
            viewers.push(entry(&member, &info));
        } else if holder.is_none() {
            holder = Some((member, info));
        } else {
            waiting.push(entry(&member, &info));
        }
    }
    let shown = holder
        .as_ref()
        .map_or(Value::Null, |(member, info)| entry(member, info));
    let message = json!({"type": "state", "doc": doc, "holder": shown, "waiting": waiting, "viewers": viewers})
        .to_string();
    (holder, message)
}

/// The holder of `doc`, if anyone holds it.
fn holder_of(doc: &str) -> Option<(Member, Info)> {
    state(doc).0
}

/// Tell everyone with the document open how things stand now, and keep
/// the idle timer on whoever holds it now.
fn announce(doc: &str) {
    let (holder, message) = state(doc);
    publish(&doc_topic(doc), message);
    keep_timer(doc, holder.as_ref().map(|(member, _)| member));
}

/// The idle timer of `holder` on `doc`.
fn timer_key(doc: &str, holder: &str) -> String {
    format!("idle:{doc}:{holder}")
}

/// The document and holder an idle timer is for.
fn timer_of(key: &str) -> Option<(&str, &str)> {
    key.strip_prefix("idle:")?.split_once(':')
}

/// Only the holder of `doc` has an idle timer on it: cancel any other, and
/// start the holder's if it has none yet (one that runs keeps running).
fn keep_timer(doc: &str, holder: Option<&Member>) {
    let wanted = holder.map(|member| timer_key(doc, &member.id));
    let mut running = false;
    for timer in timers::pending() {
        if timer_of(&timer.key).is_some_and(|(of, _)| of == doc) {
            if Some(&timer.key) == wanted.as_ref() {
                running = true;
            } else {
                timers::cancel(&timer.key);
            }
        }
    }
    if let (Some(member), false) = (holder, running) {
        start_timer(doc, member);
    }
}

/// Start (or start again) the idle timer of `doc`'s holder.
fn start_timer(doc: &str, holder: &Member) {
    let idle = holder
        .connection
        .and_then(client_of)
        .map_or(IDLE_SECONDS, |client| client.idle);
    if let Err(failed) = timers::after(&timer_key(doc, &holder.id), Duration::from_secs(idle)) {
        log::warn(&format!("the lock on {doc} will not expire: {failed}"));
    }
}

/// Who a connection is, as it said when it came (kept by the host).
fn client_of(connection: ConnectionId) -> Option<Client> {
    serde_json::from_slice(&attachment(connection)).ok()
}

/// The name a connection came with.
fn name_of(connection: ConnectionId) -> String {
    client_of(connection)
        .map(|client| client.name)
        .unwrap_or_default()
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

    /// A word from `connection` about `doc`: if it holds the lock, its
    /// idle time starts again.
    fn active(&mut self, connection: ConnectionId, doc: &str) {
        if let Some((holder, _)) = holder_of(doc)
            && holder.connection == Some(connection)
        {
            start_timer(doc, &holder);
        }
    }

    /// `doc`'s holder `id` said nothing for its idle time: it becomes a
    /// viewer, keeping its place, and the next in line holds the lock.
    fn expire(&mut self, doc: &str, id: &str) {
        let Some((holder, info)) = holder_of(doc) else {
            return;
        };
        let Some(connection) = holder.connection.filter(|_| holder.id == id) else {
            // Not the holder any more: the timer outlived its hold.
            return;
        };
        let idle = client_of(connection).map_or(IDLE_SECONDS, |client| client.idle);
        publish(
            &doc_topic(doc),
            json!({"type": "expired", "doc": doc, "holder": entry(&holder, &info), "idle_seconds": idle})
                .to_string(),
        );
        let viewing = serde_json::to_vec(&Info {
            name: info.name,
            edit: false,
        })
        .unwrap_or_default();
        if subscribe(connection, &doc_topic(doc), Subscribe::new().info(viewing)).is_err() {
            log::warn(&format!(
                "the idle holder of {doc} could not be made a viewer"
            ));
        }
        // The member kept its place: no join or leave follows.
        announce(doc);
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
        if name.chars().count() > MAX_NAME_CHARS {
            return Err(Reject::new(400, "that name is too long"));
        }
        let idle = match request.query_param("idle") {
            None => IDLE_SECONDS,
            Some(idle) => match idle.parse::<u64>() {
                Ok(idle) if IDLE_RANGE.contains(&idle) => idle,
                _ => {
                    return Err(Reject::new(
                        400,
                        format!(
                            "idle is whole seconds, {} to {}",
                            IDLE_RANGE.start(),
                            IDLE_RANGE.end()
                        ),
                    ));
                }
            },
        };
        let client = serde_json::to_vec(&Client { name, idle }).unwrap_or_default();
        if set_attachment(connection, &client).is_err() {
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
                "send {\"type\": \"open\" | \"edit\" | \"active\" | \"close\", \"doc\": ...}",
            );
        };
        match command {
            Command::Open { doc, edit } => {
                self.open(connection, &doc, edit);
                self.active(connection, &doc);
            }
            Command::Edit { doc, edit } => {
                self.edit(connection, &doc, edit);
                self.active(connection, &doc);
            }
            Command::Active { doc } => self.active(connection, &doc),
            Command::Close { doc } => {
                unsubscribe(connection, &doc_topic(&doc));
            }
        }
    }

    /// A holder's idle time ran out.
    fn on_timer(&mut self, key: &str) {
        if let Some((doc, holder)) = timer_of(key) {
            self.expire(doc, holder);
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
