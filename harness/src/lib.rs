//! Test a Switchboard app the way Phoenix's `ChannelTest` tests a channel:
//! in-process, without sockets, one event at a time, so a test is quick
//! and gives the same answer every run.
//!
//! ```no_run
//! use switchboard_test::{TestApp, json};
//!
//! let mut app = TestApp::load("target/wasm32-wasip2/release/chat.wasm");
//! let alice = app.connect("/chat?name=alice");
//! app.assert_push(&alice, json!({"type": "welcome", "name": "alice"}));
//! let bob = app.connect("/chat?name=bob");
//! app.assert_push(&alice, json!({"type": "join", "name": "bob"}));
//! app.push(&bob, "hello");
//! app.assert_push(&alice, json!({"type": "message", "from": "bob", "text": "hello"}));
//! app.assert_reject("/chat", 400, "join with ?name=YOUR_NAME");
//! app.swap_to("target/wasm32-wasip2/release/chat.wasm"); // the room survives
//! ```
//!
//! Every assertion panics (failing the test) with what was expected and
//! what the app actually sent. A trap in the app fails the test with the
//! trap and what the app wrote to stderr, unless it happens inside
//! `expect_trap`. Time stands still unless the test moves it: `advance`
//! fires the app's timers that fall due, soonest first, each at its own
//! due time. The app runs through the host's own event handling
//! (`switchboard::harness`), so rejections, traps, closes and hot swaps
//! behave as they do in `switchboard serve`. `switchboard test` runs the
//! same engine from scenario files, for apps in any language.

use std::path::Path;
use std::time::Duration;

pub use serde_json::json;
pub use switchboard::config::{HistoryRule, Limits};
use switchboard::guest::{Message, Request};
use switchboard::harness::{ClientId, Harness, request};
pub use switchboard::harness::{Expected, FiredTimer, Level, LogLine, Opened, Received, Trap};

/// One app under test.
pub struct TestApp {
    harness: Harness,
    /// Inside `expect_trap`: traps are collected, not failures.
    trapping: bool,
    caught: Vec<Trap>,
}

/// One connection of a `TestApp`, as `connect` returns it.
#[derive(Debug, Clone)]
pub struct Client {
    id: ClientId,
    name: String,
    /// The subprotocol the app confirmed in `on-open`, if any.
    pub subprotocol: Option<String>,
}

impl Client {
    /// The name failure messages use: the `name` given to `Connect`, or
    /// the path and query it connected to.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// A connection attempt: the upgrade request's path and query, headers and
/// subprotocols. A `&str` converts to one with just a path and query.
#[derive(Debug, Clone)]
pub struct Connect {
    request: Request,
    name: Option<String>,
}

impl Connect {
    /// `path_and_query` as a client would put it in its URL: `/chat?name=ann`.
    pub fn to(path_and_query: &str) -> Connect {
        Connect {
            request: request(path_and_query),
            name: None,
        }
    }

    /// A request header; names are lower-cased, as the host passes them.
    pub fn header(mut self, name: &str, value: &str) -> Connect {
        self.request
            .headers
            .push((name.to_ascii_lowercase(), value.to_string()));
        self
    }

    /// A subprotocol the client offers (`Sec-WebSocket-Protocol`), in order.
    pub fn subprotocol(mut self, protocol: &str) -> Connect {
        self.request.subprotocols.push(protocol.to_string());
        self
    }

    /// The peer's `ip:port` (by default a distinct loopback port each).
    pub fn remote_address(mut self, address: &str) -> Connect {
        self.request.remote_address = address.to_string();
        self
    }

    /// What failure messages call this connection.
    pub fn named(mut self, name: &str) -> Connect {
        self.name = Some(name.to_string());
        self
    }
}

impl From<&str> for Connect {
    fn from(path_and_query: &str) -> Self {
        Connect::to(path_and_query)
    }
}

/// A message a test client sends: `&str`/`String` as text, bytes as
/// binary, a JSON value as its compact text.
#[derive(Debug, Clone)]
pub struct Push(Message);

impl From<&str> for Push {
    fn from(text: &str) -> Self {
        Push(Message::Text(text.to_string()))
    }
}

impl From<String> for Push {
    fn from(text: String) -> Self {
        Push(Message::Text(text))
    }
}

impl From<Vec<u8>> for Push {
    fn from(bytes: Vec<u8>) -> Self {
        Push(Message::Binary(bytes))
    }
}

impl From<&[u8]> for Push {
    fn from(bytes: &[u8]) -> Self {
        Push(Message::Binary(bytes.to_vec()))
    }
}

impl From<serde_json::Value> for Push {
    fn from(value: serde_json::Value) -> Self {
        Push(Message::Text(value.to_string()))
    }
}

impl TestApp {
    /// Load a component with the host's default limits.
    #[track_caller]
    pub fn load(path: impl AsRef<Path>) -> TestApp {
        match Harness::load(path.as_ref()) {
            Ok(harness) => TestApp::new(harness),
            Err(error) => panic!("cannot load {}: {error}", path.as_ref().display()),
        }
    }

    /// Load a component that keeps topic history as `history` says (as a
    /// host's `[[apps.history]]` would). Epochs are the same in every run:
    /// the first topic the app uses has `harness-1`, the next `harness-2`.
    #[track_caller]
    pub fn load_with_history(path: impl AsRef<Path>, history: &[HistoryRule]) -> TestApp {
        match Harness::load_with_history(path.as_ref(), history) {
            Ok(harness) => TestApp::new(harness),
            Err(error) => panic!("cannot load {}: {error}", path.as_ref().display()),
        }
    }

    /// Load a component with these limits (e.g. a short `call_timeout_ms`,
    /// or a small `max_traps`, to test how the app behaves at them).
    #[track_caller]
    pub fn load_with_limits(path: impl AsRef<Path>, limits: Limits) -> TestApp {
        let path = path.as_ref();
        let loaded = std::fs::read(path)
            .map_err(|error| error.to_string())
            .and_then(|bytes| {
                let name = path
                    .file_stem()
                    .map(|stem| stem.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "app".into());
                Harness::with_limits(&bytes, &name, limits).map_err(|error| error.to_string())
            });
        match loaded {
            Ok(harness) => TestApp::new(harness),
            Err(error) => panic!("cannot load {}: {error}", path.display()),
        }
    }

    fn new(harness: Harness) -> TestApp {
        TestApp {
            harness,
            trapping: false,
            caught: Vec::new(),
        }
    }

    /// The engine underneath, for what this API does not cover.
    pub fn harness(&mut self) -> &mut Harness {
        &mut self.harness
    }

    /// The running version: 12 hex digits of the module's SHA-256, as the
    /// app reads it from `app-info.version`.
    pub fn version(&self) -> &str {
        self.harness.version()
    }

    /// Fail on any trap since the last action, unless inside `expect_trap`.
    #[track_caller]
    fn check_traps(&mut self) {
        let traps = self.harness.take_traps();
        if self.trapping {
            self.caught.extend(traps);
        } else if let Some(trap) = traps.first() {
            panic!("{trap}");
        }
    }

    /// Try to connect; the app's answer, whatever it is.
    #[track_caller]
    pub fn try_connect(&mut self, connect: impl Into<Connect>) -> (Client, Opened) {
        let connect = connect.into();
        let name = connect.name.clone().unwrap_or_else(|| {
            let request = &connect.request;
            match &request.query {
                Some(query) => format!("{}?{query}", request.path),
                None => request.path.clone(),
            }
        });
        // The same path may connect twice: number the later ones.
        let mut unique = name.clone();
        let mut n = 1;
        while self.harness.client(&unique).is_ok() {
            n += 1;
            unique = format!("{name} #{n}");
        }
        let (id, opened) = match self.harness.connect(&unique, connect.request) {
            Ok(connected) => connected,
            Err(error) => panic!("{error}"),
        };
        self.check_traps();
        let subprotocol = match &opened {
            Opened::Accepted { subprotocol } => subprotocol.clone(),
            Opened::Rejected { .. } => None,
        };
        (
            Client {
                id,
                name: unique,
                subprotocol,
            },
            opened,
        )
    }

    /// Connect; the app must accept.
    #[track_caller]
    pub fn connect(&mut self, connect: impl Into<Connect>) -> Client {
        let (client, opened) = self.try_connect(connect);
        if let Opened::Rejected { status, body } = opened {
            panic!(
                "expected {:?} to be accepted\n     but the app rejected it: {status} {body:?}",
                client.name
            );
        }
        client
    }

    /// Connect; the app must reject with `status` and `body`.
    #[track_caller]
    pub fn assert_reject(&mut self, connect: impl Into<Connect>, status: u16, body: &str) {
        let (client, opened) = self.try_connect(connect);
        match opened {
            Opened::Rejected {
                status: actual,
                body: actual_body,
            } if actual == status && actual_body == body => {}
            Opened::Rejected {
                status: actual,
                body: actual_body,
            } => panic!(
                "expected {:?} to be rejected with {status} {body:?}\n     but the app rejected it with {actual} {actual_body:?}",
                client.name
            ),
            Opened::Accepted { .. } => panic!(
                "expected {:?} to be rejected with {status} {body:?}\n     but the app accepted it",
                client.name
            ),
        }
    }

    /// The client sends a message.
    #[track_caller]
    pub fn push(&mut self, client: &Client, message: impl Into<Push>) {
        if let Err(error) = self.harness.send(client.id, message.into().0) {
            panic!("cannot push: {error}");
        }
        self.check_traps();
    }

    /// The client closes the connection with a code and reason.
    #[track_caller]
    pub fn close(&mut self, client: &Client, code: u16, reason: &str) {
        if let Err(error) = self.harness.close(client.id, code, reason) {
            panic!("cannot close: {error}");
        }
        self.check_traps();
    }

    /// The client drops the connection without a close frame (1006).
    #[track_caller]
    pub fn disconnect(&mut self, client: &Client) {
        if let Err(error) = self.harness.disconnect(client.id) {
            panic!("cannot disconnect: {error}");
        }
        self.check_traps();
    }

    /// The next message the app sent `client` must match: a `&str` exactly,
    /// bytes exactly, a `json!` value as a subset of a JSON message (see
    /// `Expected` for more). Returns what it was.
    #[track_caller]
    pub fn assert_push(&mut self, client: &Client, expected: impl Into<Expected>) -> Received {
        match self.harness.expect(client.id, &expected.into()) {
            Ok(received) => received,
            Err(mismatch) => panic!("{mismatch}"),
        }
    }

    /// The app sent `client` nothing that was not already asserted.
    #[track_caller]
    pub fn refute_push(&mut self, client: &Client) {
        if let Err(mismatch) = self.harness.expect_nothing(client.id) {
            panic!("{mismatch}");
        }
    }

    /// Every open connection except `except` got `expected` next.
    #[track_caller]
    pub fn assert_broadcast(&mut self, expected: impl Into<Expected>, except: &[&Client]) {
        let except: Vec<ClientId> = except.iter().map(|client| client.id).collect();
        if let Err(mismatch) = self.harness.expect_broadcast(&expected.into(), &except) {
            panic!("{mismatch}");
        }
    }

    /// The app closed `client` (its messages before that were asserted)
    /// with `code`; returns the reason.
    #[track_caller]
    pub fn assert_close(&mut self, client: &Client, code: u16) -> String {
        let expected = Expected::Close {
            code: Some(code),
            reason: None,
        };
        match self.harness.expect(client.id, &expected) {
            Ok(Received::Close { reason, .. }) => reason,
            Ok(other) => panic!("expected a close, got {other}"),
            Err(mismatch) => panic!("{mismatch}"),
        }
    }

    /// A line containing `text` was logged (by the app, or a host warning
    /// about it) since the last one asserted.
    #[track_caller]
    pub fn assert_log(&mut self, text: &str) -> LogLine {
        match self.harness.expect_log(text, None) {
            Ok(line) => line,
            Err(mismatch) => panic!("{mismatch}"),
        }
    }

    /// Every log line so far.
    pub fn logs(&self) -> Vec<LogLine> {
        self.harness.logs()
    }

    /// Run `actions`, which must make the app trap; returns the first trap.
    /// The connection whose event trapped is closed with 1011, as in a host.
    #[track_caller]
    pub fn expect_trap(&mut self, actions: impl FnOnce(&mut TestApp)) -> Trap {
        self.trapping = true;
        actions(self);
        self.trapping = false;
        let mut caught = std::mem::take(&mut self.caught);
        if caught.is_empty() {
            panic!("expected the app to trap\n     but it did not");
        }
        caught.remove(0)
    }

    /// Move the app's clock on by `by`: every timer due by then fires,
    /// soonest first, with the clock at its due time (so a timer set from
    /// `on-timer` counts from that moment). Returns the timers that fired,
    /// in order, each with the time it fired at (the clock starts at zero
    /// when the app is loaded). What they send is then there to assert.
    #[track_caller]
    pub fn advance(&mut self, by: Duration) -> Vec<FiredTimer> {
        let fired = match self.harness.advance(by) {
            Ok(fired) => fired,
            Err(error) => panic!("{error}"),
        };
        self.check_traps();
        fired
    }

    /// How far the app's clock has moved since it was loaded.
    pub fn elapsed(&self) -> Duration {
        self.harness.elapsed()
    }

    /// Hot-swap to the component at `path`, as `switchboard deploy` would:
    /// the running version's snapshot is handed to the new one's restore
    /// and every connection stays open. Fails the test if the swap is
    /// refused.
    #[track_caller]
    pub fn swap_to(&mut self, path: impl AsRef<Path>) {
        if let Err(error) = self.try_swap_to(path.as_ref()) {
            panic!(
                "expected the swap to {} to succeed\n     but {error}",
                path.as_ref().display()
            );
        }
    }

    /// Hot-swap, returning why it was refused (the old version then goes
    /// on serving).
    #[track_caller]
    pub fn try_swap_to(&mut self, path: impl AsRef<Path>) -> Result<(), String> {
        let path = path.as_ref();
        match std::fs::read(path) {
            Ok(bytes) => self.try_swap_to_bytes(&bytes),
            Err(error) => panic!("cannot read {}: {error}", path.display()),
        }
    }

    /// Hot-swap to a component given as bytes (see `try_swap_to`).
    #[track_caller]
    pub fn try_swap_to_bytes(&mut self, component: &[u8]) -> Result<(), String> {
        let swapped = match self.harness.swap_to(component) {
            Ok(swapped) => swapped.map_err(|error| error.to_string()),
            Err(error) => panic!("{error}"),
        };
        self.check_traps();
        swapped
    }
}
