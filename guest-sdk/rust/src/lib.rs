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
//! Time, storage and outside data live in the host too: [`timers`] call
//! [`App::on_timer`] when due, [`kv`] is the app's own key-value store on
//! disk, and [`feeds`] hand it the lines appended to files its config
//! grants ([`App::on_lines`]).
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

    /// The timer set under `key` ([`timers::after`], [`timers::every`]) is
    /// due. Timers belong to the app: one set by an older version fires in
    /// the new one.
    fn on_timer(&mut self, key: &str) {
        let _ = key;
    }

    /// New complete lines were appended to the file the config grants as
    /// `feed` (`[[apps.feeds]]`), oldest first, without line endings.
    fn on_lines(&mut self, feed: &str, lines: Vec<String>) {
        let _ = (feed, lines);
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

/// Timers held by the host: each has a key the app chooses, and
/// [`App::on_timer`] hears that key when it is due. Setting a key again
/// replaces its timer. They survive hot swaps and traps.
pub mod timers {
    use super::bindings::switchboard::app::timers as host_timers;
    use std::time::Duration;

    pub use host_timers::{Timer, TimerError};

    fn millis(duration: Duration) -> u64 {
        u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
    }

    /// Fire once, after `delay`.
    pub fn after(key: &str, delay: Duration) -> Result<(), TimerError> {
        host_timers::set(key, millis(delay), None)
    }

    /// Fire every `interval`, the first time one interval from now.
    pub fn every(key: &str, interval: Duration) -> Result<(), TimerError> {
        host_timers::set(key, millis(interval), Some(millis(interval)))
    }

    /// Fire after `delay`, then every `repeat` if given.
    pub fn set(key: &str, delay: Duration, repeat: Option<Duration>) -> Result<(), TimerError> {
        host_timers::set(key, millis(delay), repeat.map(millis))
    }

    /// Cancel the timer under `key`; whether there was one.
    pub fn cancel(key: &str) -> bool {
        host_timers::cancel(key)
    }

    /// The app's timers, soonest first.
    pub fn pending() -> Vec<Timer> {
        host_timers::pending()
    }
}

/// The app's own key-value store, held by the host on disk: it outlives
/// swaps, traps and restarts, and no other app can see it. Values are
/// bytes; keys are strings, listed in byte order.
pub mod kv {
    use super::bindings::switchboard::app::kv as host_kv;

    pub use host_kv::{Entry, KvError};

    /// The value under `key`, if any.
    pub fn get(key: &str) -> Result<Option<Vec<u8>>, KvError> {
        host_kv::get(key)
    }

    /// Store `value` under `key`.
    pub fn set(key: &str, value: impl AsRef<[u8]>) -> Result<(), KvError> {
        host_kv::set(key, value.as_ref())
    }

    /// Remove `key`; whether it was there.
    pub fn delete(key: &str) -> Result<bool, KvError> {
        host_kv::delete(key)
    }

    /// Up to `limit` (at most 1 000) entries whose keys start with
    /// `prefix`, in key order, after `start_after` when given.
    pub fn list(
        prefix: &str,
        start_after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Entry>, KvError> {
        host_kv::list(prefix, start_after, limit)
    }

    /// Store `new` (or remove the key, for `None`) only if the key holds
    /// `expected` now (`None`: absent). Whether it did.
    pub fn compare_and_swap(
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool, KvError> {
        host_kv::compare_and_swap(key, expected, new)
    }

    /// Add `delta` to the counter under `key` (absent: 0); its new value.
    pub fn increment(key: &str, delta: i64) -> Result<i64, KvError> {
        host_kv::increment(key, delta)
    }
}

/// Files the config grants this app (`[[apps.feeds]]`), by name. New lines
/// arrive in [`App::on_lines`].
pub mod feeds {
    use super::bindings::switchboard::app::feeds as host_feeds;

    pub use host_feeds::FeedError;

    /// The names of the feeds this app is granted.
    pub fn granted() -> Vec<String> {
        host_feeds::granted()
    }

    /// The last `lines` complete lines of a feed (at most 1 000), oldest
    /// first.
    pub fn tail(feed: &str, lines: u32) -> Result<Vec<String>, FeedError> {
        host_feeds::tail(feed, lines)
    }
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

            impl $crate::bindings::exports::switchboard::app::timer_handler::Guest for SwitchboardExports {
                fn on_timer(key: ::std::string::String) {
                    with_app(|app| $crate::App::on_timer(app, &key))
                }
            }

            impl $crate::bindings::exports::switchboard::app::feed_handler::Guest for SwitchboardExports {
                fn on_lines(
                    feed: ::std::string::String,
                    lines: ::std::vec::Vec<::std::string::String>,
                ) {
                    with_app(|app| $crate::App::on_lines(app, &feed, lines))
                }
            }

            $crate::bindings::export_app!(SwitchboardExports with_types_in $crate::bindings);
        };
    };
}
