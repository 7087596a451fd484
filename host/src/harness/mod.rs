//! The test harness's engine: one app driven in-process, without sockets,
//! one event at a time, for app authors' tests. Its two front ends are the
//! `switchboard-test` crate (Rust tests) and `switchboard test` (scenario
//! files, any language); both only call what is here.
//!
//! Why it drives the app through `app::InlineApp`, the actor's own event
//! handler, rather than calling `guest::Instance` directly: what a test
//! checks must be what a host does. The actor is where an `on-open`
//! rejection's status is clamped to 400..=599, a subprotocol the client did
//! not offer becomes a 500, a trap closes its connection with 1011 and the
//! instance is made afresh, repeated traps suspend the app, and a hot swap
//! hands over the registry and the snapshot (or keeps the old version on
//! any failure). Re-implementing those here would let tests pass against
//! behaviour no host has. Only the actor's mailbox and thread are left out:
//! each call here runs one event to completion on the caller's thread, so a
//! test is deterministic, and the log lines of that event can be captured
//! with a thread-local subscriber.
//!
//! The harness plays the connection tasks' part: it gives each connection
//! an outbox, reads what the app queued into it, and, as a real client's
//! WebSocket library would, answers a close the app asked for, after which
//! the app gets `on-close` with the app's code and reason, as in a host.
//! Connection ids start at 1 in each harness, and requests carry only the
//! headers a test gives, so a run does not depend on what ran before it.
//!
//! Time stands still unless a test moves it (`advance`): the app's timers
//! run on a virtual clock, and moving it fires every timer due on the way,
//! soonest first, each with the clock at its own due time. A timer the app
//! sets from `on-timer` is therefore due at a time a test can name.

pub mod expect;

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tracing::Dispatch;
use wasmtime::Engine;

use crate::app::{InlineApp, OpenDecision, SwapError, TrapReport};
use crate::close_code;
use crate::config::{HistoryRule, Limits};
use crate::engine::LocalEngine;
use crate::feeds::Grants;
use crate::guest::{
    AppServices, CodeCache, GuestLimits, Message, Module, ModuleHash, Request, TimerLimits,
    TopicLimits, TopicSettings,
};
use crate::kv::{AppKv, MemoryStore};
use crate::outbox::{ConnectionId, OutboxReceiver, Outgoing};

pub use expect::{Expected, Mismatch, Received};

/// Why the harness could not do what a test asked. These are mistakes in
/// the test (or an app that will not load), not expectations that failed.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error("{0}")]
    Module(String),
    #[error("cannot start the app: {0}")]
    Start(String),
    #[error("there is already a connection named {0:?}: give each connection its own name")]
    NameTaken(String),
    #[error("no connection is named {0:?}: connect it first")]
    UnknownClient(String),
    #[error("connection {0:?} is not open (it was {1})")]
    NotOpen(String, &'static str),
    #[error(
        "moving the clock on by {by:?} fired {fired} timers and stopped at {at:?}: \
         the app keeps re-arming them; move it on in smaller steps"
    )]
    TooManyTimers {
        by: Duration,
        fired: usize,
        at: Duration,
    },
}

/// The most timers one `advance` fires: the app's own bounds allow about a
/// hundred thousand a second, so a long step could otherwise run for hours.
pub const MAX_TIMERS_PER_ADVANCE: usize = 100_000;

/// A timer that fired while the clock moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FiredTimer {
    pub key: String,
    /// When it fired on the app's virtual clock, which starts at zero.
    pub at: Duration,
}

/// A handle on one connection of a `Harness`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientId(usize);

/// How the app answered a connection attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened {
    Accepted { subprotocol: Option<String> },
    Rejected { status: u16, body: String },
}

/// A guest call that trapped, with what the guest wrote to stderr while
/// that step ran (a Rust panic message, an uncaught JavaScript or Python
/// exception).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trap {
    /// `on-open`, `on-message`, `on-close`, `on-timer` or `snapshot`.
    pub export: String,
    /// The connection whose event trapped, if the trap closed it.
    pub client: Option<String>,
    pub line: String,
    pub stderr: Vec<String>,
}

impl std::fmt::Display for Trap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the app trapped in {}", self.export)?;
        if let Some(client) = &self.client {
            write!(
                f,
                " (connection {client:?}, closed with {})",
                crate::close_code::INTERNAL_ERROR
            )?;
        }
        write!(f, ": {}", self.line)?;
        if !self.stderr.is_empty() {
            write!(f, "; its stderr: {}", self.stderr.join(" | "))?;
        }
        Ok(())
    }
}

/// The level of a log line.
pub use tracing::Level;

/// A line the app logged (`log.log`, or its stderr), or a warning the host
/// logged about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub level: Level,
    /// True for the app's own lines, false for the host's.
    pub from_app: bool,
    pub text: String,
}

impl std::fmt::Display for LogLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let source = if self.from_app { "app" } else { "host" };
        write!(f, "{} ({source}) {:?}", self.level, self.text)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    Rejected,
    /// Closed by the app or the host: its close is in `received`.
    ClosedByApp,
    ClosedByClient,
}

impl State {
    fn describe(self) -> &'static str {
        match self {
            State::Open => "open",
            State::Rejected => "rejected in on-open",
            State::ClosedByApp => "closed by the app",
            State::ClosedByClient => "closed by the test",
        }
    }
}

struct Client {
    name: String,
    id: ConnectionId,
    state: State,
    /// Present while the connection is open.
    outbox: Option<OutboxReceiver>,
    received: VecDeque<Received>,
}

/// One app under test.
pub struct Harness {
    app: InlineApp,
    name: String,
    limits: Limits,
    guest_limits: GuestLimits,
    version: String,
    clients: Vec<Client>,
    by_name: HashMap<String, ClientId>,
    next_connection: u64,
    logs: Arc<Mutex<Vec<LogLine>>>,
    /// How far `expect_log` has read; lines before it were matched.
    log_cursor: usize,
    /// Where every call into the app logs to.
    dispatch: Dispatch,
    traps: Vec<Trap>,
}

/// The engine every harness in a process shares, like a host's.
fn engine() -> Result<&'static Engine, HarnessError> {
    static ENGINE: OnceLock<Result<Engine, String>> = OnceLock::new();
    ENGINE
        .get_or_init(|| crate::guest::engine(0).map_err(|error| format!("{error:#}")))
        .as_ref()
        .map_err(|error| HarnessError::Start(error.clone()))
}

/// Compiled components kept on disk between test runs, as a host keeps them
/// between starts: a JavaScript or Python app takes 15-30 s to compile, and
/// an author runs its tests again and again. In `SWITCHBOARD_CODE_CACHE_DIR`,
/// else the `code` folder of the user's Switchboard cache; none when neither
/// can be made (the harness then compiles every run, as before).
fn code_cache() -> Option<&'static CodeCache> {
    static CACHE: OnceLock<Option<CodeCache>> = OnceLock::new();
    CACHE
        .get_or_init(|| {
            let dir = std::env::var_os("SWITCHBOARD_CODE_CACHE_DIR")
                .filter(|dir| !dir.is_empty())
                .map(PathBuf::from)
                .or_else(|| crate::config::user_cache_dir().map(|dir| dir.join("code")))?;
            let engine = engine().ok()?;
            CodeCache::open(&dir, engine, crate::config::DEFAULT_CODE_CACHE_BYTES)
                .inspect_err(|error| {
                    tracing::warn!("no code cache at {}: {error}", dir.display());
                })
                .ok()
        })
        .as_ref()
}

/// Compiled modules by hash: a test suite loads the same app in many
/// tests, and a JavaScript or Python component takes seconds to compile.
fn compile(bytes: &[u8], name: &str, limits: &GuestLimits) -> Result<Module, HarnessError> {
    static COMPILED: OnceLock<Mutex<HashMap<ModuleHash, Module>>> = OnceLock::new();
    let hash = ModuleHash::of(bytes);
    let cache = COMPILED.get_or_init(Default::default);
    let cached = cache
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .get(&hash)
        .cloned();
    if let Some(module) = cached {
        return Ok(module);
    }
    let module = Module::compile_cached(engine()?, code_cache(), bytes, name, limits)
        .map_err(|error| HarnessError::Module(error.to_string()))?;
    cache
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .insert(hash, module.clone());
    Ok(module)
}

fn read(path: &Path) -> Result<Vec<u8>, HarnessError> {
    std::fs::read(path)
        .map_err(|error| HarnessError::Module(format!("cannot read {}: {error}", path.display())))
}

/// A request for `path_and_query` (`/chat?name=alice`): no headers, no
/// subprotocols, a loopback peer address.
pub fn request(path_and_query: &str) -> Request {
    let (path, query) = match path_and_query.split_once('?') {
        Some((path, query)) => (path, Some(query.to_string())),
        None => (path_and_query, None),
    };
    Request {
        path: if path.is_empty() { "/" } else { path }.to_string(),
        query,
        headers: Vec::new(),
        remote_address: String::new(),
        subprotocols: Vec::new(),
    }
}

impl Harness {
    /// Load the component at `path` with the host's default limits.
    pub fn load(path: &Path) -> Result<Harness, HarnessError> {
        Self::load_with_history(path, &[])
    }

    /// Load the component at `path`, keeping topic history as `history`
    /// says (as `[[apps.history]]` does in a host's config).
    pub fn load_with_history(
        path: &Path,
        history: &[HistoryRule],
    ) -> Result<Harness, HarnessError> {
        let name = path
            .file_stem()
            .map(|stem| stem.to_string_lossy().into_owned())
            .unwrap_or_else(|| "app".to_string());
        Self::start(
            &read(path)?,
            &name,
            &path.display().to_string(),
            Limits::default(),
            history,
        )
    }

    /// Load a component from its bytes, under the app name `name`, with
    /// these limits (a test of the app's limits lowers them).
    pub fn with_limits(bytes: &[u8], name: &str, limits: Limits) -> Result<Harness, HarnessError> {
        Self::start(bytes, name, name, limits, &[])
    }

    /// `source` names the module in errors: its path, when it has one.
    fn start(
        bytes: &[u8],
        name: &str,
        source: &str,
        limits: Limits,
        history: &[HistoryRule],
    ) -> Result<Harness, HarnessError> {
        let guest_limits = limits.guest_limits(None);
        let logs = Arc::new(Mutex::new(Vec::new()));
        let dispatch = capture::dispatch(logs.clone());
        let app = tracing::dispatcher::with_default(&dispatch, || {
            let module = compile(bytes, source, &guest_limits)?;
            let topics = TopicSettings::new(
                Arc::from(name),
                // A fixed node id: epochs and member ids come out the same
                // in every run (`harness-1` is the first topic's epoch).
                Arc::new(LocalEngine::with_node("harness")),
                history,
                TopicLimits::from_config(&limits),
            );
            // A store of the harness's own, in memory: a test starts from
            // nothing and leaves nothing behind.
            let kv = AppKv::new(
                Arc::from(name),
                Arc::new(MemoryStore::new()),
                limits.kv_limits(None),
            );
            let services = AppServices {
                topics,
                // The harness follows no files: an app under test is
                // granted none.
                feeds: Grants::default(),
                timers: TimerLimits::from_config(&limits),
                kv,
            };
            InlineApp::start(name, module, &limits, guest_limits, services)
                .map_err(|error| HarnessError::Start(format!("{error:#}")))
        })?;
        Ok(Harness {
            app,
            name: name.to_string(),
            limits,
            guest_limits,
            version: ModuleHash::of(bytes).short(),
            clients: Vec::new(),
            by_name: HashMap::new(),
            next_connection: 1,
            logs,
            log_cursor: 0,
            dispatch,
            traps: Vec::new(),
        })
    }

    /// The running version, as `app-info.version` and the admin API name
    /// it: the first 12 hex digits of the module's SHA-256.
    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn app_name(&self) -> &str {
        &self.name
    }

    /// Suspended after repeated traps, until a swap.
    pub fn is_suspended(&self) -> bool {
        self.app.is_suspended()
    }

    /// The connection named `name`.
    pub fn client(&self, name: &str) -> Result<ClientId, HarnessError> {
        self.by_name
            .get(name)
            .copied()
            .ok_or_else(|| HarnessError::UnknownClient(name.to_string()))
    }

    pub fn client_name(&self, client: ClientId) -> &str {
        self.clients
            .get(client.0)
            .map(|client| client.name.as_str())
            .unwrap_or("?")
    }

    /// Whether the connection is open (accepted, and closed by neither side).
    pub fn is_open(&self, client: ClientId) -> bool {
        self.clients
            .get(client.0)
            .is_some_and(|client| client.state == State::Open)
    }

    /// The names of the open connections, oldest first.
    pub fn open_clients(&self) -> Vec<ClientId> {
        (0..self.clients.len())
            .map(ClientId)
            .filter(|client| self.is_open(*client))
            .collect()
    }

    /// Run one call into the app with its log lines captured.
    fn call<T>(&mut self, call: impl FnOnce(&mut InlineApp) -> T) -> T {
        let app = &mut self.app;
        tracing::dispatcher::with_default(&self.dispatch, || call(app))
    }

    /// A client named `name` asks to connect with `request`. The name is
    /// how expectations and failure messages refer to the connection.
    pub fn connect(
        &mut self,
        name: &str,
        mut request: Request,
    ) -> Result<(ClientId, Opened), HarnessError> {
        if self.by_name.contains_key(name) {
            return Err(HarnessError::NameTaken(name.to_string()));
        }
        let id = ConnectionId(self.next_connection);
        self.next_connection += 1;
        if request.remote_address.is_empty() {
            // A distinct, stable peer per connection, as clients would be.
            request.remote_address = format!("127.0.0.1:{}", 50_000 + id.0 % 10_000);
        }
        let (outbox, receiver) = crate::outbox::outbox(self.limits.max_outbox_bytes);
        let logs_before = self.log_len();
        let decision = self.call(|app| app.open(id, request, outbox));
        let (state, outbox, opened) = match decision {
            OpenDecision::Accept { subprotocol } => (
                State::Open,
                Some(receiver),
                Opened::Accepted { subprotocol },
            ),
            OpenDecision::Reject { status, body } => {
                (State::Rejected, None, Opened::Rejected { status, body })
            }
        };
        let client = ClientId(self.clients.len());
        self.clients.push(Client {
            name: name.to_string(),
            id,
            state,
            outbox,
            received: VecDeque::new(),
        });
        self.by_name.insert(name.to_string(), client);
        self.settle(logs_before);
        Ok((client, opened))
    }

    fn open_client(&self, client: ClientId) -> Result<&Client, HarnessError> {
        let entry = self
            .clients
            .get(client.0)
            .ok_or_else(|| HarnessError::UnknownClient(format!("{client:?}")))?;
        if entry.state != State::Open {
            return Err(HarnessError::NotOpen(
                entry.name.clone(),
                entry.state.describe(),
            ));
        }
        Ok(entry)
    }

    /// The client sends a message.
    pub fn send(&mut self, client: ClientId, message: Message) -> Result<(), HarnessError> {
        let id = self.open_client(client)?.id;
        let logs_before = self.log_len();
        self.call(|app| app.message(id, message));
        self.settle(logs_before);
        Ok(())
    }

    /// The client closes the connection with `code` and `reason` (1005 is a
    /// close frame without a code, 1006 a connection dropped without one).
    /// Whatever the app had queued for it is still received first, as the
    /// host writes it before answering the close.
    pub fn close(&mut self, client: ClientId, code: u16, reason: &str) -> Result<(), HarnessError> {
        let id = self.open_client(client)?.id;
        self.drain(client);
        if let Some(entry) = self.clients.get_mut(client.0) {
            entry.state = State::ClosedByClient;
            // The host frees the outbox before the app hears of the close.
            entry.outbox = None;
        }
        let logs_before = self.log_len();
        let reason = reason.to_string();
        self.call(|app| app.close(id, code, reason));
        self.settle(logs_before);
        Ok(())
    }

    /// The client drops the connection without a close frame (1006).
    pub fn disconnect(&mut self, client: ClientId) -> Result<(), HarnessError> {
        self.close(client, close_code::ABNORMAL_CLOSURE, "")
    }

    /// How far the app's virtual clock has moved since it started.
    pub fn elapsed(&self) -> Duration {
        self.app.elapsed()
    }

    /// Move the app's clock on by `by`: every timer due by then fires,
    /// soonest first, with the clock at its due time (which is when a timer
    /// set from `on-timer` counts from), and what each sends is received as
    /// after any event. Returns the timers that fired, in order. A
    /// suspended app's timers do not fire.
    pub fn advance(&mut self, by: Duration) -> Result<Vec<FiredTimer>, HarnessError> {
        let until = self.app.elapsed().saturating_add(by);
        let mut fired = Vec::new();
        loop {
            if fired.len() == MAX_TIMERS_PER_ADVANCE {
                return Err(HarnessError::TooManyTimers {
                    by,
                    fired: fired.len(),
                    at: self.app.elapsed(),
                });
            }
            let logs_before = self.log_len();
            let Some((key, at)) = self.call(|app| app.fire_next_timer(until)) else {
                return Ok(fired);
            };
            self.settle(logs_before);
            fired.push(FiredTimer { key, at });
        }
    }

    /// Hot-swap to the component at `path`, as a deploy does: the old
    /// version's snapshot, the new one's restore, every connection kept.
    /// On `Err` the old version goes on serving.
    pub fn swap_to_file(&mut self, path: &Path) -> Result<Result<(), SwapError>, HarnessError> {
        self.swap_to(&read(path)?)
    }

    /// Hot-swap to the component `bytes` (see `swap_to_file`).
    pub fn swap_to(&mut self, bytes: &[u8]) -> Result<Result<(), SwapError>, HarnessError> {
        let logs_before = self.log_len();
        let (name, limits) = (self.name.clone(), self.guest_limits);
        let module =
            tracing::dispatcher::with_default(&self.dispatch, || compile(bytes, &name, &limits))?;
        let swapped = self.call(|app| app.swap(module));
        if swapped.is_ok() {
            self.version = ModuleHash::of(bytes).short();
        }
        self.settle(logs_before);
        Ok(swapped)
    }

    fn log_len(&self) -> usize {
        self.logs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .len()
    }

    /// Move what the app queued for `client` into its `received`.
    fn drain(&mut self, client: ClientId) {
        let Some(entry) = self.clients.get_mut(client.0) else {
            return;
        };
        let Some(outbox) = &entry.outbox else {
            return;
        };
        while let Some(message) = outbox.try_recv() {
            let payload = message.payload();
            entry.received.push_back(if message.is_text() {
                Received::Text(String::from_utf8_lossy(payload).into_owned())
            } else {
                Received::Binary(payload.to_vec())
            });
        }
    }

    /// After each event: collect what the app sent, answer the closes it
    /// asked for (each delivers `on-close`, which may send or close more),
    /// and note any trap with what the guest wrote to stderr meanwhile.
    fn settle(&mut self, logs_before: usize) {
        loop {
            let mut closes = Vec::new();
            for index in 0..self.clients.len() {
                self.drain(ClientId(index));
                let entry = &mut self.clients[index];
                let Some(outbox) = &entry.outbox else {
                    continue;
                };
                let mut cx = Context::from_waker(Waker::noop());
                if let Poll::Ready(Outgoing::Close(request)) = outbox.poll_next(&mut cx, true) {
                    entry.received.push_back(Received::Close {
                        code: request.code,
                        reason: request.reason.clone(),
                    });
                    entry.state = State::ClosedByApp;
                    entry.outbox = None;
                    closes.push((entry.id, request));
                }
            }
            if closes.is_empty() {
                break;
            }
            for (id, request) in closes {
                self.call(|app| app.close(id, request.code, request.reason));
            }
        }
        let reports = self.app.take_traps();
        if reports.is_empty() {
            return;
        }
        let stderr: Vec<String> = self
            .logs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(logs_before..)
            .unwrap_or_default()
            .iter()
            .filter(|line| line.from_app)
            .filter_map(|line| line.text.strip_prefix("stderr: "))
            .filter(|text| !text.trim().is_empty())
            .map(str::to_string)
            .collect();
        for TrapReport {
            export,
            connection,
            line,
        } in reports
        {
            let client = connection.and_then(|id| {
                self.clients
                    .iter()
                    .find(|client| client.id == id)
                    .map(|client| client.name.clone())
            });
            self.traps.push(Trap {
                export,
                client,
                line,
                stderr: stderr.clone(),
            });
        }
    }

    /// The traps since the last call, oldest first. A front end reports any
    /// the test did not expect as a failure.
    pub fn take_traps(&mut self) -> Vec<Trap> {
        std::mem::take(&mut self.traps)
    }

    /// Everything `client` received and no expectation has taken yet.
    pub fn pending(&self, client: ClientId) -> Vec<Received> {
        self.clients
            .get(client.0)
            .map(|client| client.received.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The next thing `client` received must match `expected`; it is taken.
    pub fn expect(&mut self, client: ClientId, expected: &Expected) -> Result<Received, Mismatch> {
        let name = self.client_name(client).to_string();
        let mismatch = |actual: String| Mismatch {
            expected: format!("{name:?} to receive {expected}"),
            actual,
        };
        let Some(entry) = self.clients.get_mut(client.0) else {
            return Err(mismatch("there is no such connection".into()));
        };
        if entry
            .received
            .front()
            .is_some_and(|next| expected.matches(next))
            && let Some(next) = entry.received.pop_front()
        {
            return Ok(next);
        }
        match entry.received.front() {
            Some(next) => {
                let later = entry
                    .received
                    .iter()
                    .skip(1)
                    .position(|received| expected.matches(received));
                let mut actual = format!("the app sent {next}");
                if let Some(skipped) = later {
                    actual.push_str(&format!(
                        " (a match came later, after {} other message{})",
                        skipped + 1,
                        if skipped == 0 { "" } else { "s" }
                    ));
                } else if entry.received.len() > 1 {
                    actual.push_str(&format!(
                        " (and {} more, none matching)",
                        entry.received.len() - 1
                    ));
                }
                Err(mismatch(actual))
            }
            None => Err(mismatch(match entry.state {
                State::Open => "the app sent nothing".to_string(),
                state => format!(
                    "the app sent nothing more (the connection was {})",
                    state.describe()
                ),
            })),
        }
    }

    /// `client` received nothing that no expectation took.
    pub fn expect_nothing(&mut self, client: ClientId) -> Result<(), Mismatch> {
        let name = self.client_name(client).to_string();
        match self.clients.get(client.0).and_then(|c| c.received.front()) {
            None => Ok(()),
            Some(next) => {
                let count = self.clients[client.0].received.len();
                Err(Mismatch {
                    expected: format!("{name:?} to receive nothing more"),
                    actual: if count == 1 {
                        format!("the app sent {next}")
                    } else {
                        format!("the app sent {next} and {} more", count - 1)
                    },
                })
            }
        }
    }

    /// Every open connection but those in `except` receives `expected` next
    /// (each one's copy is taken), and at least one does.
    pub fn expect_broadcast(
        &mut self,
        expected: &Expected,
        except: &[ClientId],
    ) -> Result<(), Mismatch> {
        let targets: Vec<ClientId> = self
            .open_clients()
            .into_iter()
            .filter(|client| !except.contains(client))
            .collect();
        if targets.is_empty() {
            return Err(Mismatch {
                expected: format!("a broadcast of {expected}"),
                actual: "no open connection is left to receive it".into(),
            });
        }
        let mut failures = Vec::new();
        for client in &targets {
            if let Err(mismatch) = self.expect(*client, expected) {
                failures.push(format!(
                    "{:?}: {}",
                    self.client_name(*client),
                    mismatch.actual
                ));
            }
        }
        if failures.is_empty() {
            return Ok(());
        }
        let names: Vec<String> = targets
            .iter()
            .map(|client| format!("{:?}", self.client_name(*client)))
            .collect();
        Err(Mismatch {
            expected: format!("{} to receive {expected}", names.join(", ")),
            actual: failures.join("; "),
        })
    }

    /// Every log line so far, the app's and the host's warnings.
    pub fn logs(&self) -> Vec<LogLine> {
        self.logs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// A line containing `text` (at `level`, if given) was logged since the
    /// last line an expectation took; it and the lines before it are taken.
    pub fn expect_log(&mut self, text: &str, level: Option<Level>) -> Result<LogLine, Mismatch> {
        let logs = self.logs();
        let unread = logs.get(self.log_cursor..).unwrap_or_default();
        let found = unread.iter().position(|line| {
            line.text.contains(text) && level.is_none_or(|level| line.level == level)
        });
        match found {
            Some(offset) => {
                self.log_cursor += offset + 1;
                Ok(unread[offset].clone())
            }
            None => Err(Mismatch {
                expected: match level {
                    Some(level) => format!("a log line at {level} containing {text:?}"),
                    None => format!("a log line containing {text:?}"),
                },
                actual: if unread.is_empty() {
                    "nothing more was logged".into()
                } else {
                    let lines: Vec<String> = unread.iter().map(ToString::to_string).collect();
                    format!("the log had: {}", lines.join(", "))
                },
            }),
        }
    }
}

/// Log capture: a subscriber that keeps the app's lines and the host's
/// warnings in memory, installed around each call into the app.
mod capture {
    use std::sync::{Arc, Mutex};

    use tracing::field::{Field, Visit};
    use tracing::{Event, Level, Metadata, Subscriber};
    use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};

    use super::LogLine;

    pub fn dispatch(lines: Arc<Mutex<Vec<LogLine>>>) -> tracing::Dispatch {
        tracing::Dispatch::new(tracing_subscriber::registry().with(Capture { lines }))
    }

    struct Capture {
        lines: Arc<Mutex<Vec<LogLine>>>,
    }

    fn wanted(metadata: &Metadata<'_>) -> bool {
        metadata.target() == "guest" || *metadata.level() <= Level::WARN
    }

    #[derive(Default)]
    struct Text(String);

    impl Visit for Text {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            if field.name() == "message" {
                self.0 = format!("{value:?}");
            }
        }
    }

    impl<S: Subscriber> Layer<S> for Capture {
        fn enabled(&self, metadata: &Metadata<'_>, _: Context<'_, S>) -> bool {
            wanted(metadata)
        }

        fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
            let metadata = event.metadata();
            if !wanted(metadata) {
                return;
            }
            let mut text = Text::default();
            event.record(&mut text);
            self.lines
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .push(LogLine {
                    level: *metadata.level(),
                    from_app: metadata.target() == "guest",
                    text: text.0,
                });
        }
    }
}
