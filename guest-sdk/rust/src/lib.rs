//! Write a Switchboard WebSocket app in Rust.
//!
//! An app is one struct that implements [`App`] plus one [`export!`] line;
//! the host owns the sockets and calls your methods with whole messages:
//!
//! ```ignore
//! use switchboard_guest::{App, ConnectionId, Message, send};
//!
//! #[derive(Default)]
//! struct Echo;
//!
//! impl App for Echo {
//!     fn on_message(&mut self, connection: ConnectionId, message: Message) {
//!         send(connection, message);
//!     }
//! }
//!
//! switchboard_guest::export!(Echo);
//! ```
//!
//! Build it with `cargo build --target wasm32-wasip2 --release`; the `.wasm`
//! in `target/wasm32-wasip2/release/` is the component the host loads.
//!
//! Hot swaps keep every connection open, but a new version starts with
//! fresh memory. Two ways to keep what matters: attach bytes to a connection
//! ([`set_attachment`]; the host holds them), or hand over in-memory state
//! with [`App::snapshot`] and [`App::restore`].
//!
//! Rooms, channels and live feeds are topics: [`subscribe`] a
//! connection, [`publish`] once and the host delivers to every subscriber.
//! The host keeps who is in each topic ([`members`], and
//! [`App::on_join`]/[`App::on_leave`]) and, when the config asks, its
//! latest publications ([`history`]; a client that reconnects is sent what
//! it missed with [`Subscribe::since`]). All of it survives swaps and traps.
//!
//! The bindings are generated from the WIT files in `wit/` (world
//! `realtime-app`), the single source of truth for the contract; nothing
//! here is hand-copied from them.

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "realtime-app",
        pub_export_macro: true,
        export_macro_name: "export_app",
        default_bindings_module: "switchboard_guest::bindings",
    });
}

use bindings::switchboard::app::{
    app_info, attachments as host_attachments, connections as host, log as host_log,
    topics as host_topics,
};

pub use bindings::switchboard::app::attachments::{AttachmentError, ConnectionInfo};
pub use bindings::switchboard::app::topics::{Position, TopicError};
pub use bindings::switchboard::app::types::{Accept, ConnectionError, Message, Reject, Request};

/// One WebSocket connection, as the host names it. Ids are never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(u64);

impl ConnectionId {
    /// The raw id, e.g. to use as a key in your own maps or to log.
    pub fn as_u64(self) -> u64 {
        self.0
    }

    /// An id from its raw number, e.g. one kept in a snapshot. Ids name
    /// connections only on the host that issued them; an id that is not one
    /// of this app's open connections is refused by every host function.
    pub fn from_raw(raw: u64) -> Self {
        ConnectionId(raw)
    }
}

impl std::fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What an app does. Every method has a default, so implement only what
/// your app needs: the default `on_open` accepts everyone.
///
/// The host calls one method at a time, and for each connection in order:
/// `on_open`, then its messages, then `on_close` exactly once.
pub trait App: Default + 'static {
    /// A client asks to connect; called before the HTTP 101 response.
    /// Return `Err(Reject::new(401, "..."))` to refuse it with that status.
    fn on_open(&mut self, connection: ConnectionId, request: &Request) -> Result<Accept, Reject> {
        let _ = (connection, request);
        Ok(Accept::new())
    }

    /// A whole message arrived (fragments are already reassembled).
    fn on_message(&mut self, connection: ConnectionId, message: Message) {
        let _ = (connection, message);
    }

    /// The connection is gone. `code` is the close code (1005: none given,
    /// 1006: dropped without a close frame, 1001: the host is shutting down).
    fn on_close(&mut self, connection: ConnectionId, code: u16, reason: &str) {
        let _ = (connection, code, reason);
    }

    /// A new version is about to replace this one: return the state it
    /// should start from, in any encoding your versions agree on. `None`
    /// (the default) hands over nothing.
    fn snapshot(&mut self) -> Option<Vec<u8>> {
        None
    }

    /// This version replaces an older one that returned `snapshot`; called
    /// before any other method. An `Err` fails the deploy and the old
    /// version keeps serving. The default ignores the snapshot, so a version
    /// that does not implement this starts fresh.
    fn restore(&mut self, snapshot: &[u8]) -> Result<(), String> {
        let _ = snapshot;
        Ok(())
    }

    /// A connection joined `topic` (its first [`subscribe`] to it). Called
    /// after the event in which it subscribed.
    fn on_join(&mut self, topic: &str, member: Member) {
        let _ = (topic, member);
    }

    /// A member left `topic`: it was unsubscribed, or its connection ended
    /// (after its `on_close`).
    fn on_leave(&mut self, topic: &str, member: Member) {
        let _ = (topic, member);
    }
}

/// Queue a message to one of this app's connections. Fire and forget: a
/// connection that is gone gets nothing, and one too slow to read is
/// closed by the host (1008). [`try_send`] says why nothing was queued.
pub fn send(connection: ConnectionId, message: impl Into<Message>) {
    let _ = try_send(connection, message);
}

/// [`send`], returning why nothing was queued: the connection is not (or
/// no longer) one of this app's, or its outbox is full.
pub fn try_send(
    connection: ConnectionId,
    message: impl Into<Message>,
) -> Result<(), ConnectionError> {
    host::send(connection.0, &message.into())
}

/// Close codes (RFC 6455 7.4) an app may send, by name. Any other code an
/// endpoint may send (1000-1003, 1007-1014, 3000-4999; 4000-4999 are for
/// apps to define) converts from a `u16`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseCode {
    /// Done, normally.
    Normal,
    /// The server (or the page) is going away.
    GoingAway,
    /// The client broke the app's protocol.
    ProtocolError,
    /// The client sent a kind of message the app does not take.
    UnsupportedData,
    /// A message the app cannot make sense of.
    InvalidPayload,
    /// The client broke the app's rules.
    PolicyViolation,
    /// A message too big for the app.
    MessageTooBig,
    /// The app hit an error it cannot go on from.
    InternalError,
    /// Another code: 3000-3999 registered ones, 4000-4999 the app's own.
    Other(u16),
}

impl From<CloseCode> for u16 {
    fn from(code: CloseCode) -> u16 {
        match code {
            CloseCode::Normal => 1000,
            CloseCode::GoingAway => 1001,
            CloseCode::ProtocolError => 1002,
            CloseCode::UnsupportedData => 1003,
            CloseCode::InvalidPayload => 1007,
            CloseCode::PolicyViolation => 1008,
            CloseCode::MessageTooBig => 1009,
            CloseCode::InternalError => 1011,
            CloseCode::Other(code) => code,
        }
    }
}

impl From<u16> for CloseCode {
    fn from(code: u16) -> CloseCode {
        match code {
            1000 => CloseCode::Normal,
            1001 => CloseCode::GoingAway,
            1002 => CloseCode::ProtocolError,
            1003 => CloseCode::UnsupportedData,
            1007 => CloseCode::InvalidPayload,
            1008 => CloseCode::PolicyViolation,
            1009 => CloseCode::MessageTooBig,
            1011 => CloseCode::InternalError,
            other => CloseCode::Other(other),
        }
    }
}

/// Close one of this app's connections with a close code and a reason
/// (at most 123 bytes). `on_close` follows once it is gone. A code an
/// endpoint may not send, or a longer reason, is `invalid-close`.
pub fn close(
    connection: ConnectionId,
    code: impl Into<CloseCode>,
    reason: &str,
) -> Result<(), ConnectionError> {
    host::close(connection.0, u16::from(code.into()), reason)
}

/// Queue a message to every open connection of this app except `except`.
/// Returns how many connections it was queued to.
pub fn broadcast(message: impl Into<Message>, except: &[ConnectionId]) -> u32 {
    let except: Vec<u64> = except.iter().map(|id| id.0).collect();
    host::broadcast(&message.into(), &except)
}

/// Every open connection of this app, oldest first.
pub fn connections() -> Vec<ConnectionId> {
    host::connections().into_iter().map(ConnectionId).collect()
}

/// How a connection was opened (its request and the subprotocol confirmed),
/// as long as it is one of this app's connections. Kept by the host, so it
/// is there after a hot swap too.
pub fn connection_info(connection: ConnectionId) -> Option<ConnectionInfo> {
    host_attachments::info(connection.0)
}

/// Attach bytes to a connection (replacing what was there; empty clears).
/// The host keeps them across hot swaps and traps, up to a size limit
/// (16 KiB by default).
pub fn set_attachment(connection: ConnectionId, data: &[u8]) -> Result<(), AttachmentError> {
    host_attachments::set(connection.0, data)
}

/// What is attached to a connection; empty if nothing is.
pub fn attachment(connection: ConnectionId) -> Vec<u8> {
    host_attachments::get(connection.0)
}

/// This app's name, as the host's config and admin API know it.
pub fn app_name() -> String {
    app_info::name()
}

/// The running version: 12 hex digits of the module's SHA-256, as
/// `switchboard apps` lists it.
pub fn app_version() -> String {
    app_info::version()
}

/// One subscriber of a topic, as [`members`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Unique even when topics span several hosts.
    pub id: String,
    /// Its connection, when it is connected to this host.
    pub connection: Option<ConnectionId>,
    /// What it gave in [`Subscribe::info`].
    pub info: Vec<u8>,
}

impl Member {
    /// The info as text (it is often a name or JSON).
    pub fn info_text(&self) -> Option<&str> {
        std::str::from_utf8(&self.info).ok()
    }
}

impl From<host_topics::Member> for Member {
    fn from(member: host_topics::Member) -> Self {
        Member {
            id: member.id,
            connection: member.connection.map(ConnectionId),
            info: member.info,
        }
    }
}

/// How to [`subscribe`]: presence info, and where to resume from.
#[derive(Debug, Clone, Default)]
pub struct Subscribe {
    info: Vec<u8>,
    since: Option<Position>,
}

impl Subscribe {
    pub fn new() -> Self {
        Self::default()
    }

    /// What [`members`] and [`App::on_join`] show for this subscriber,
    /// e.g. a user name (at most 1 KiB by default).
    pub fn info(mut self, info: impl Into<Vec<u8>>) -> Self {
        self.info = info.into();
        self
    }

    /// Resume from the last position the client saw: what was published
    /// after it is sent first, then live publications, none missed, none
    /// twice (when the topic's history still reaches back that far; see
    /// [`Subscription::recovered`]).
    pub fn since(mut self, position: Position) -> Self {
        self.since = Some(position);
        self
    }
}

/// What [`subscribe`] did.
pub use bindings::switchboard::app::topics::Subscription;
/// A topic's latest publications, from [`history`].
pub use bindings::switchboard::app::topics::{HistoryPage, Publication};

/// Subscribe a connection to a topic: from now on it receives every
/// message [`publish`]ed to it, in order. Subscriptions are the host's:
/// they survive hot swaps and traps, and end when the connection does.
pub fn subscribe(
    connection: ConnectionId,
    topic: &str,
    options: Subscribe,
) -> Result<Subscription, TopicError> {
    host_topics::subscribe(
        connection.0,
        topic,
        &host_topics::SubscribeOptions {
            info: options.info,
            since: options.since,
        },
    )
}

/// End a connection's subscription; `false` if it was not subscribed.
pub fn unsubscribe(connection: ConnectionId, topic: &str) -> bool {
    host_topics::unsubscribe(connection.0, topic)
}

/// Send a message to every subscriber of a topic (and keep it in the
/// topic's history, if the config keeps one). Fire and forget: returns how
/// many connections it was queued to; an invalid topic name is logged and
/// sends nothing. [`try_publish`] returns the error instead.
pub fn publish(topic: &str, message: impl Into<Message>) -> u32 {
    match try_publish(topic, message) {
        Ok(queued) => queued,
        Err(error) => {
            log::warn(&format!("publish to {topic:?}: {error}"));
            0
        }
    }
}

/// [`publish`], returning why nothing was sent.
pub fn try_publish(topic: &str, message: impl Into<Message>) -> Result<u32, TopicError> {
    host_topics::publish(topic, &message.into())
}

/// Who is subscribed to a topic, in the order they joined.
pub fn members(topic: &str) -> Vec<Member> {
    host_topics::members(topic)
        .into_iter()
        .map(Member::from)
        .collect()
}

/// The latest `limit` publications a topic keeps, oldest first, and its
/// current position.
pub fn history(topic: &str, limit: u32) -> Result<HistoryPage, TopicError> {
    host_topics::history(topic, limit)
}

/// The topics a connection is subscribed to.
pub fn subscriptions(connection: ConnectionId) -> Vec<String> {
    host_topics::subscriptions(connection.0)
}

/// Logging into the host's log, tagged with the app's name.
pub mod log {
    use super::host_log::{Level, log};

    pub fn trace(text: &str) {
        log(Level::Trace, text);
    }
    pub fn debug(text: &str) {
        log(Level::Debug, text);
    }
    pub fn info(text: &str) {
        log(Level::Info, text);
    }
    pub fn warn(text: &str) {
        log(Level::Warn, text);
    }
    pub fn error(text: &str) {
        log(Level::Error, text);
    }
}

impl Accept {
    /// Accept without a subprotocol.
    pub fn new() -> Self {
        Accept { subprotocol: None }
    }

    /// Accept and confirm one of the subprotocols the client offered.
    pub fn with_subprotocol(subprotocol: impl Into<String>) -> Self {
        Accept {
            subprotocol: Some(subprotocol.into()),
        }
    }
}

impl Default for Accept {
    fn default() -> Self {
        Self::new()
    }
}

impl Reject {
    /// Refuse with an HTTP status (400..=599) and a plain-text body.
    pub fn new(status: u16, body: impl Into<String>) -> Self {
        Reject {
            status,
            body: body.into(),
        }
    }
}

impl Request {
    /// The first value of a query parameter, percent-decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        let query = self.query.as_deref()?;
        form_urlencoded::parse(query.as_bytes())
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    }

    /// The first value of a header; `name` is matched case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

impl Message {
    /// The text of a text message.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Message::Text(text) => Some(text),
            Message::Binary(_) => None,
        }
    }
}

impl From<String> for Message {
    fn from(text: String) -> Self {
        Message::Text(text)
    }
}

impl From<&str> for Message {
    fn from(text: &str) -> Self {
        Message::Text(text.to_string())
    }
}

impl From<Vec<u8>> for Message {
    fn from(bytes: Vec<u8>) -> Self {
        Message::Binary(bytes)
    }
}

impl From<&[u8]> for Message {
    fn from(bytes: &[u8]) -> Self {
        Message::Binary(bytes.to_vec())
    }
}

/// Make `$app` the component's implementation of the handler exports.
/// The host keeps one instance of `$app` per app instance, created with
/// `Default` before the first event.
#[macro_export]
macro_rules! export {
    ($app:ty) => {
        const _: () = {
            struct SwitchboardExports;

            ::std::thread_local! {
                static APP: ::std::cell::RefCell<::std::option::Option<$app>> =
                    const { ::std::cell::RefCell::new(::std::option::Option::None) };
            }

            fn with_app<R>(f: impl FnOnce(&mut $app) -> R) -> R {
                APP.with(|slot| {
                    let mut slot = slot.borrow_mut();
                    f(slot.get_or_insert_with(<$app as ::std::default::Default>::default))
                })
            }

            impl $crate::bindings::exports::switchboard::app::handler::Guest for SwitchboardExports {
                fn on_open(
                    connection: u64,
                    request: $crate::Request,
                ) -> ::std::result::Result<$crate::Accept, $crate::Reject> {
                    with_app(|app| {
                        $crate::App::on_open(app, $crate::ConnectionId::from_raw(connection), &request)
                    })
                }

                fn on_message(connection: u64, message: $crate::Message) {
                    with_app(|app| {
                        $crate::App::on_message(app, $crate::ConnectionId::from_raw(connection), message)
                    })
                }

                fn on_close(connection: u64, code: u16, reason: ::std::string::String) {
                    with_app(|app| {
                        $crate::App::on_close(
                            app,
                            $crate::ConnectionId::from_raw(connection),
                            code,
                            &reason,
                        )
                    })
                }
            }

            impl $crate::bindings::exports::switchboard::app::lifecycle::Guest for SwitchboardExports {
                fn snapshot() -> ::std::option::Option<::std::vec::Vec<u8>> {
                    with_app(|app| $crate::App::snapshot(app))
                }

                fn restore(
                    snapshot: ::std::vec::Vec<u8>,
                ) -> ::std::result::Result<(), ::std::string::String> {
                    with_app(|app| $crate::App::restore(app, &snapshot))
                }
            }

            impl $crate::bindings::exports::switchboard::app::presence::Guest for SwitchboardExports {
                fn on_join(
                    topic: ::std::string::String,
                    member: $crate::bindings::switchboard::app::topics::Member,
                ) {
                    with_app(|app| $crate::App::on_join(app, &topic, $crate::Member::from(member)))
                }

                fn on_leave(
                    topic: ::std::string::String,
                    member: $crate::bindings::switchboard::app::topics::Member,
                ) {
                    with_app(|app| $crate::App::on_leave(app, &topic, $crate::Member::from(member)))
                }
            }

            $crate::bindings::export_app!(SwitchboardExports with_types_in $crate::bindings);
        };
    };
}
