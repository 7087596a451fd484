//! The app actor: one per app, the only owner of its guest instance.
//!
//! Connection tasks post events into the app's bounded mailbox and the actor
//! calls the guest for them one at a time, so a guest never runs twice at once
//! and each connection's events reach it in order (open, messages, close).
//! Guest code is synchronous CPU work, so the actor runs on its own OS thread
//! rather than on a tokio worker, where it would stall every socket that worker
//! serves.
//!
//! A hot swap is an event in the same mailbox: the actor finishes the event
//! before it, hands the connection registry (and the old version's snapshot,
//! if it exports one) to an instance of the new module, and goes on with the
//! next event. Every event is handled by exactly one version, once, in order.
//! The new module was compiled and tried off this thread, so the swap itself
//! costs one instantiation.
//!
//! A trap does not take the app down: the instance is thrown away and a fresh
//! one made from the pre-instantiated module (its memory starts over), the
//! connection whose event trapped is closed with 1011, and every other
//! connection stays open because the host, not the guest, owns the registry.
//! An app that keeps trapping (`limits.max_traps` within `trap_window_ms`)
//! is suspended instead: its connections are closed with 1011 and it
//! refuses new ones (503) until a new version is deployed.
//!
//! The app's timers fire here too, between two events: the actor waits for
//! its next event or its soonest timer, whichever comes first (`Waiter`),
//! and each due timer is one call into the app's `timer-handler` export
//! under the usual CPU deadline. The timers themselves live in the
//! registry (`guest::Timers`), so they cross swaps and traps with it.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::sync::{mpsc, oneshot};

use crate::close_code;
use crate::config::Limits;
use crate::guest::{
    AppServices, Connections, DueTimer, GuestLimits, GuestState, Instance, Message, Module,
    PresenceEvent, Request,
};
use crate::outbox::{CloseRequest, ConnectionId, Outbox};

/// How an app answered a connection attempt.
#[derive(Debug)]
pub enum OpenDecision {
    Accept { subprotocol: Option<String> },
    Reject { status: u16, body: String },
}

/// Why a swap did not happen; the old version is still serving.
#[derive(Debug, thiserror::Error)]
pub enum SwapError {
    #[error("the running version trapped in snapshot: {0}")]
    SnapshotTrapped(String),
    #[error("the running version cannot hand its state on: {0}")]
    SnapshotTooLarge(String),
    #[error("the new version failed while starting: {0}")]
    StartFailed(String),
    #[error("the new version refused the snapshot in restore: {0}")]
    RestoreRefused(String),
    #[error("the new version trapped in restore: {0}")]
    RestoreTrapped(String),
    #[error("app {0} has stopped")]
    Stopped(Arc<str>),
}

/// What connection tasks and the deployer tell an app.
pub enum AppEvent {
    Open {
        connection: ConnectionId,
        request: Request,
        outbox: Outbox,
        decision: oneshot::Sender<OpenDecision>,
    },
    Message {
        connection: ConnectionId,
        message: Message,
    },
    Close {
        connection: ConnectionId,
        code: u16,
        reason: String,
    },
    /// New complete lines in one of the app's feeds (`[[apps.feeds]]`),
    /// oldest first, for `feed-handler.on-lines`.
    Lines { feed: Arc<str>, lines: Vec<String> },
    /// Replace the running version with `module` between two events.
    Swap {
        module: Module,
        done: oneshot::Sender<Result<(), SwapError>>,
    },
    /// Answer `done` once every event posted before this one has been
    /// handled. A connection failing on a protocol error waits for it, so
    /// that the app's replies to the messages before the error are in the
    /// outbox, and go out, before the close frame.
    Flush { done: oneshot::Sender<()> },
    /// Close every connection with `close`, deliver their `on-close`, then
    /// stop; `done` fires when the last one is gone.
    Stop {
        close: CloseRequest,
        done: oneshot::Sender<()>,
    },
}

/// The handle connection tasks and the deployer hold. Cloning is cheap.
#[derive(Clone)]
pub struct AppHandle {
    name: Arc<str>,
    mailbox: mpsc::Sender<AppEvent>,
    live_connections: Arc<AtomicUsize>,
    health: Arc<Health>,
}

/// What the admin API shows of an app's faults.
#[derive(Default)]
struct Health {
    suspended: AtomicBool,
    traps: AtomicU64,
    /// Instances replaced because their memory grew past the bound.
    recycles: AtomicU64,
    /// The live instance's linear memory after its last event.
    memory_bytes: AtomicUsize,
}

/// Why an event could not be posted: the actor is gone.
#[derive(Debug, thiserror::Error)]
#[error("app {0} has stopped")]
pub struct AppStopped(pub Arc<str>);

/// Why an event could not be posted without waiting.
pub enum TryPost {
    /// The mailbox is full; here is the event back, to post with a wait.
    Full(Box<AppEvent>),
    Stopped(AppStopped),
}

impl AppHandle {
    pub fn name(&self) -> &Arc<str> {
        &self.name
    }

    /// Connections accepted and not yet closed.
    pub fn live_connections(&self) -> usize {
        self.live_connections.load(Ordering::Relaxed)
    }

    /// Suspended after repeated traps, until the next deploy.
    pub fn is_suspended(&self) -> bool {
        self.health.suspended.load(Ordering::Relaxed)
    }

    /// Traps since the app started.
    pub fn traps(&self) -> u64 {
        self.health.traps.load(Ordering::Relaxed)
    }

    /// Instances replaced since the app started because their memory grew
    /// past `limits.recycle_memory_percent`.
    pub fn recycles(&self) -> u64 {
        self.health.recycles.load(Ordering::Relaxed)
    }

    /// The live instance's linear memory, as of its last event.
    pub fn memory_bytes(&self) -> usize {
        self.health.memory_bytes.load(Ordering::Relaxed)
    }

    /// Post an event, waiting while the mailbox is full: that wait is the
    /// backpressure that stops a connection reading faster than its app runs.
    pub async fn post(&self, event: AppEvent) -> Result<(), AppStopped> {
        self.mailbox
            .send(event)
            .await
            .map_err(|_| AppStopped(self.name.clone()))
    }

    /// Post an event if the mailbox has room now.
    pub fn try_post(&self, event: AppEvent) -> Result<(), TryPost> {
        self.mailbox.try_send(event).map_err(|error| match error {
            mpsc::error::TrySendError::Full(event) => TryPost::Full(Box::new(event)),
            mpsc::error::TrySendError::Closed(_) => TryPost::Stopped(AppStopped(self.name.clone())),
        })
    }

    /// Wait until every event posted before this call has been handled.
    pub async fn flush(&self) -> Result<(), AppStopped> {
        let (done, flushed) = oneshot::channel();
        self.post(AppEvent::Flush { done }).await?;
        flushed.await.map_err(|_| AppStopped(self.name.clone()))
    }

    /// Swap in a new version after the events already queued; returns once
    /// it serves, or why it does not.
    pub async fn swap(&self, module: Module) -> Result<(), SwapError> {
        let (done, swapped) = oneshot::channel();
        let stopped = || SwapError::Stopped(self.name.clone());
        self.post(AppEvent::Swap { module, done })
            .await
            .map_err(|_| stopped())?;
        swapped.await.map_err(|_| stopped())?
    }

    /// Close every connection and stop; returns once every `on-close` ran.
    pub async fn stop(&self, close: CloseRequest) {
        let (done, stopped) = oneshot::channel();
        if self.post(AppEvent::Stop { close, done }).await.is_ok() {
            let _ = stopped.await;
        }
    }
}

/// The running actor thread, joined when the app stops.
pub struct AppActor {
    thread: JoinHandle<()>,
}

impl AppActor {
    /// Start an app: make its first instance now, so that a module that traps
    /// while starting is an error at startup rather than at the first client.
    pub fn start(
        name: &str,
        module: Module,
        limits: &Limits,
        guest_limits: GuestLimits,
        services: AppServices,
    ) -> anyhow::Result<(AppHandle, AppActor)> {
        let runner = Runner::new(name, module, limits, guest_limits, services)?;
        let name = runner.name.clone();
        let live_connections = runner.live_connections.clone();
        let health = runner.health.clone();
        let (sender, receiver) = mpsc::channel(limits.mailbox_capacity.max(1));
        let waiter = Waiter::new().context("cannot make the app thread's timer clock")?;
        let thread = std::thread::Builder::new()
            .name(format!("app-{name}"))
            .spawn(move || runner.run(receiver, waiter))
            .context("cannot start the app thread")?;
        Ok((
            AppHandle {
                name,
                mailbox: sender,
                live_connections,
                health,
            },
            AppActor { thread },
        ))
    }

    /// Wait for the actor thread to end.
    pub fn join(self) {
        if self.thread.join().is_err() {
            tracing::error!("an app thread panicked");
        }
    }
}

struct Runner {
    name: Arc<str>,
    module: Module,
    guest_limits: GuestLimits,
    /// What the app is served with (kept for a registry made afresh).
    services: AppServices,
    /// `None` only after a trap whose restart failed; the host's state then
    /// waits in `stranded` and a restart is tried again on the next event.
    instance: Option<Instance>,
    stranded: Option<GuestState>,
    live_connections: Arc<AtomicUsize>,
    health: Arc<Health>,
    /// When the last traps happened, newest last, at most `max_traps`.
    recent_traps: VecDeque<Instant>,
    max_traps: u32,
    trap_window: Duration,
    /// Set by `Stop`: fired once the last connection's `on-close` ran.
    stopping: Option<oneshot::Sender<()>>,
    /// Every trap, kept for an `InlineApp` to hand to its driver; `None`
    /// in an actor, whose traps are only logged.
    trap_reports: Option<Vec<TrapReport>>,
    /// Memory an instance must pass before it is recycled, over the
    /// configured bound when a fresh instance already came close to it.
    recycle_above: Option<usize>,
}

impl Runner {
    /// Make the app's first instance now, so that a module that traps
    /// while starting is an error at startup rather than at the first
    /// client.
    fn new(
        name: &str,
        module: Module,
        limits: &Limits,
        guest_limits: GuestLimits,
        services: AppServices,
    ) -> anyhow::Result<Runner> {
        let name: Arc<str> = Arc::from(name);
        let registry = Connections::serving(services.clone());
        let state = GuestState::new(name.clone(), registry, guest_limits);
        let instance = module
            .instantiate(state)
            .map_err(|failed| failed.error)
            .with_context(|| format!("app {name}"))?;
        Ok(Runner {
            name,
            module,
            guest_limits,
            services,
            instance: Some(instance),
            stranded: None,
            live_connections: Arc::new(AtomicUsize::new(0)),
            health: Arc::new(Health::default()),
            recent_traps: VecDeque::new(),
            max_traps: limits.max_traps,
            trap_window: limits.trap_window(),
            stopping: None,
            trap_reports: None,
            recycle_above: guest_limits.recycle_memory_bytes(),
        })
    }
}

/// The most timers fired in a row before the mailbox is looked at again,
/// so that a flood of due timers cannot hold up the app's clients; the
/// rest fire after the next event.
const TIMERS_PER_TURN: usize = 64;

/// The longest the actor waits for a timer in one go: a timer due a year
/// from now is waited for in steps, so no clock ever sees a far deadline.
const LONGEST_WAIT: Duration = Duration::from_secs(3600);

/// How the actor thread waits for its next event or its soonest timer,
/// whichever comes first: a current-thread tokio runtime of its own, with
/// only a timer, on which the thread blocks on its mailbox with a
/// deadline. It costs no thread and only runs while the actor waits.
///
/// Chosen over a companion task that posts "a timer is due" into the
/// mailbox: the soonest timer can change with every guest call (the app
/// just set a sooner one), which the actor knows at once and a companion
/// would have to be told of, and a full mailbox would hold the companion's
/// post up behind the very events that delay it. Chosen over blocking on
/// the host runtime's handle: the app's timers then wait on nothing the
/// sockets keep busy, and an app needs no runtime handle to start. When no
/// timer is pending the actor blocks on its mailbox as before.
struct Waiter {
    runtime: tokio::runtime::Runtime,
}

/// The deadline of a wait came before an event: a timer is due.
struct TimerDue;

impl Waiter {
    fn new() -> std::io::Result<Waiter> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()?;
        Ok(Waiter { runtime })
    }

    /// The next event (`None` once every handle is gone), or `TimerDue`
    /// once `until` has come without one. An event already waiting is
    /// taken even when `until` has passed.
    fn next(
        &self,
        mailbox: &mut mpsc::Receiver<AppEvent>,
        until: Option<Instant>,
    ) -> Result<Option<AppEvent>, TimerDue> {
        match until {
            None => Ok(mailbox.blocking_recv()),
            Some(until) => {
                // A busy app takes what is queued without touching a clock.
                match mailbox.try_recv() {
                    Ok(event) => return Ok(Some(event)),
                    Err(mpsc::error::TryRecvError::Disconnected) => return Ok(None),
                    Err(mpsc::error::TryRecvError::Empty) => {}
                }
                let until = until.min(Instant::now() + LONGEST_WAIT);
                let deadline = tokio::time::Instant::from_std(until);
                // The timeout is made inside the runtime, whose clock it
                // registers with.
                let wait = async { tokio::time::timeout_at(deadline, mailbox.recv()).await };
                self.runtime.block_on(wait).map_err(|_elapsed| TimerDue)
            }
        }
    }
}

impl Runner {
    fn run(mut self, mut mailbox: mpsc::Receiver<AppEvent>, waiter: Waiter) {
        crate::scheduling::batch_app_thread();
        loop {
            for _ in 0..TIMERS_PER_TURN {
                if !self.fire_next_timer(Instant::now()) {
                    break;
                }
            }
            let event = match waiter.next(&mut mailbox, self.next_timer()) {
                Ok(Some(event)) => event,
                Ok(None) => break, // every handle is gone
                Err(TimerDue) => continue,
            };
            self.handle(event);
            if self.stopping.is_some() && self.connections().is_empty() {
                break;
            }
        }
        if let Some(done) = self.stopping.take() {
            let _ = done.send(());
        }
        tracing::debug!(app = &*self.name, "app stopped");
    }

    fn handle(&mut self, event: AppEvent) {
        let guest_event = matches!(
            event,
            AppEvent::Open { .. }
                | AppEvent::Message { .. }
                | AppEvent::Close { .. }
                | AppEvent::Lines { .. }
        );
        self.dispatch(event);
        self.tell_presence();
        if guest_event {
            self.recycle_if_grown();
        }
    }

    /// Tell the app the presence changes its last calls made (joins and
    /// leaves), oldest first, each one call into its `presence` export.
    /// A handler that keeps subscribing and unsubscribing could feed itself
    /// forever; past `MAX_PRESENCE_CALLS` the rest are dropped.
    fn tell_presence(&mut self) {
        const MAX_PRESENCE_CALLS: usize = 65_536;
        for _ in 0..MAX_PRESENCE_CALLS {
            let Some(instance) = self.instance.as_mut() else {
                return;
            };
            let Some(event) = instance.next_presence_event() else {
                return;
            };
            if let Err(trap) = instance.on_presence(&event) {
                let export = match event {
                    PresenceEvent::Join { .. } => "on-join",
                    PresenceEvent::Leave { .. } => "on-leave",
                };
                self.trapped(trap, export, None);
            }
        }
        tracing::warn!(
            app = &*self.name,
            "its presence handlers keep changing presence; dropping the changes left untold"
        );
        if let Some(instance) = self.instance.as_mut() {
            while instance.next_presence_event().is_some() {}
        }
    }

    /// When the soonest timer that may fire is due: `None` when there is
    /// none, or while the app is suspended or stopping (its timers wait,
    /// or are gone).
    fn next_timer(&mut self) -> Option<Instant> {
        if self.is_suspended() || self.stopping.is_some() {
            return None;
        }
        self.connections().timers.next_due()
    }

    /// Fire the soonest timer if it is due by `now`; whether one was.
    fn fire_next_timer(&mut self, now: Instant) -> bool {
        if self.is_suspended() || self.stopping.is_some() {
            return false;
        }
        let Some(due) = self.connections().timers.take_due(now) else {
            return false;
        };
        self.fire(&due);
        true
    }

    /// One due timer: a call into the app's `timer-handler`, then what
    /// follows any event (presence, recycling). A one-shot timer was
    /// consumed and a repeating one re-armed before the call, so a trap
    /// here loses neither.
    fn fire(&mut self, due: &DueTimer) {
        let Some(instance) = self.instance() else {
            // Its restart failed, which was logged as an error.
            tracing::debug!(
                app = &*self.name,
                timer = &*due.key,
                "the app cannot start, so its timer went by untold"
            );
            return;
        };
        match instance.on_timer(&due.key) {
            Ok(true) => {}
            Ok(false) => tracing::debug!(
                app = &*self.name,
                timer = &*due.key,
                "this version exports no timer-handler: the timer went by untold"
            ),
            Err(trap) => self.trapped(trap, "on-timer", None),
        }
        self.tell_presence();
        self.recycle_if_grown();
    }

    fn dispatch(&mut self, event: AppEvent) {
        match event {
            AppEvent::Open {
                connection,
                request,
                outbox,
                decision,
            } => {
                let answer = if self.stopping.is_some() {
                    OpenDecision::Reject {
                        status: 503,
                        body: "app is being removed".into(),
                    }
                } else if self.is_suspended() {
                    OpenDecision::Reject {
                        status: 503,
                        body: "app suspended after repeated faults".into(),
                    }
                } else {
                    self.open(connection, request, outbox)
                };
                if let OpenDecision::Accept { .. } = answer {
                    self.live_connections.fetch_add(1, Ordering::Relaxed);
                }
                // The client may have gone while we decided; its task then
                // reports the close, so nothing is lost by ignoring this.
                let _ = decision.send(answer);
            }
            AppEvent::Message {
                connection,
                message,
            } => {
                if self.is_suspended() {
                    return; // its connection is being closed
                }
                let Some(instance) = self.instance() else {
                    self.connections().close(connection, app_unavailable());
                    return;
                };
                if let Err(trap) = instance.on_message(connection, &message) {
                    self.trapped(trap, "on-message", Some(connection));
                }
            }
            AppEvent::Close {
                connection,
                code,
                reason,
            } => {
                self.live_connections.fetch_sub(1, Ordering::Relaxed);
                // Unlisted, but its attachment stays readable in on-close.
                self.connections().mark_gone(connection);
                if let Some(instance) = self.instance()
                    && let Err(trap) = instance.on_close(connection, code, &reason)
                {
                    self.trapped(trap, "on-close", None);
                }
                self.connections().remove(connection);
            }
            AppEvent::Lines { feed, lines } => {
                if self.is_suspended() {
                    return; // a suspended app hears nothing until redeployed
                }
                let Some(instance) = self.instance() else {
                    return;
                };
                match instance.on_lines(&feed, &lines) {
                    Ok(true) => {}
                    Ok(false) => tracing::debug!(
                        app = &*self.name,
                        feed = &*feed,
                        "this version exports no feed-handler: {} lines not told",
                        lines.len()
                    ),
                    Err(trap) => self.trapped(trap, "on-lines", None),
                }
            }
            AppEvent::Swap { module, done } => {
                let result = self.swap(module);
                if result.is_ok() {
                    self.recycle_above = self.guest_limits.recycle_memory_bytes();
                }
                if result.is_ok() && self.is_suspended() {
                    // A new version is the fix: serve again.
                    self.recent_traps.clear();
                    self.health.suspended.store(false, Ordering::Relaxed);
                    tracing::info!(app = &*self.name, "resumed with the new version");
                }
                let _ = done.send(result);
            }
            AppEvent::Flush { done } => {
                let _ = done.send(());
            }
            AppEvent::Stop { close, done } => {
                // The app is going: its timers with it, none fires again.
                self.connections().timers.clear();
                self.connections().close_all(&close);
                self.stopping = Some(done);
            }
        }
    }

    fn open(&mut self, connection: ConnectionId, request: Request, outbox: Outbox) -> OpenDecision {
        let Some(instance) = self.instance() else {
            return OpenDecision::Reject {
                status: 503,
                body: "app unavailable".into(),
            };
        };
        // Registered before on-open runs, so the guest can greet the
        // connection from on-open (the greeting waits in the outbox) and read
        // its info through `attachments`.
        instance
            .state()
            .connections
            .insert(connection, outbox, &request);
        let decision = match instance.on_open(connection, &request) {
            Ok(Ok(accept)) => match accept.subprotocol {
                Some(chosen) if !request.subprotocols.contains(&chosen) => {
                    tracing::warn!(
                        app = &*self.name,
                        subprotocol = %chosen,
                        "on-open picked a subprotocol the client did not offer"
                    );
                    OpenDecision::Reject {
                        status: 500,
                        body: "app chose a subprotocol the client did not offer".into(),
                    }
                }
                subprotocol => OpenDecision::Accept { subprotocol },
            },
            Ok(Err(reject)) => OpenDecision::Reject {
                status: if (400..=599).contains(&reject.status) {
                    reject.status
                } else {
                    500
                },
                body: reject.body,
            },
            Err(trap) => {
                self.trapped(trap, "on-open", None);
                OpenDecision::Reject {
                    status: 500,
                    body: "app failed".into(),
                }
            }
        };
        match &decision {
            OpenDecision::Accept { subprotocol } => self
                .connections()
                .set_subprotocol(connection, subprotocol.clone()),
            OpenDecision::Reject { .. } => self.connections().remove(connection),
        }
        decision
    }

    /// Replace the running version. On any failure the old instance keeps
    /// (or gets back) the registry and goes on serving.
    fn swap(&mut self, module: Module) -> Result<(), SwapError> {
        // Reasons are one line: they are the admin API's answer and a log line.
        let call_timeout = self.guest_limits.call_timeout;
        let reason = |error: &anyhow::Error| crate::guest::trap_line(error, call_timeout);
        let Some(mut old) = self.instance.take() else {
            // No instance (its restart failed): the new version simply starts.
            let state = self.stranded.take().unwrap_or_else(|| self.empty_state());
            return match module.instantiate(state.renew()) {
                Ok(instance) => {
                    self.instance = Some(instance);
                    self.module = module;
                    Ok(())
                }
                Err(failed) => {
                    self.stranded = Some(failed.state);
                    Err(SwapError::StartFailed(reason(&failed.error)))
                }
            };
        };

        let snapshot = match old.snapshot() {
            Ok(snapshot) => snapshot,
            Err(too_large @ crate::guest::SnapshotError::TooLarge { .. }) => {
                // Not a fault: the old instance and its memory serve on.
                self.instance = Some(old);
                return Err(SwapError::SnapshotTooLarge(too_large.to_string()));
            }
            Err(crate::guest::SnapshotError::Trapped(trap)) => {
                let reason = reason(&trap);
                self.instance = Some(old);
                self.trapped(trap, "snapshot", None);
                return Err(SwapError::SnapshotTrapped(reason));
            }
        };

        let registry = old.state().connections.take();
        let state = GuestState::new(self.name.clone(), registry, self.guest_limits);
        let mut new = match module.instantiate(state) {
            Ok(new) => new,
            Err(failed) => {
                old.state().connections = failed.state.connections;
                self.instance = Some(old);
                return Err(SwapError::StartFailed(reason(&failed.error)));
            }
        };

        if let Some(snapshot) = snapshot {
            let failure = if new.has_lifecycle() {
                match new.restore(&snapshot) {
                    Ok(Ok(())) => None,
                    Ok(Err(refusal)) => Some(SwapError::RestoreRefused(refusal.replace('\n', " "))),
                    Err(trap) => Some(SwapError::RestoreTrapped(reason(&trap))),
                }
            } else {
                tracing::warn!(
                    app = &*self.name,
                    "the new version does not export lifecycle.restore: \
                     the old version's snapshot is dropped and it starts fresh"
                );
                None
            };
            if let Some(failure) = failure {
                old.state().connections = new.into_state().connections;
                self.instance = Some(old);
                return Err(failure);
            }
        }

        self.instance = Some(new);
        self.module = module;
        Ok(())
    }

    /// Replace the instance, between two events, once its memory has grown
    /// past `limits.recycle_memory_percent`: WebAssembly memory never
    /// shrinks, so a runtime that grows with every call (a leak, or a
    /// garbage collector that waits too long) would otherwise reach the cap
    /// and fail. The state goes across as in a hot swap to
    /// the same version (snapshot, fresh instance, restore); connections,
    /// attachments and queued messages are the host's and never move.
    fn recycle_if_grown(&mut self) {
        let Some(instance) = &mut self.instance else {
            return;
        };
        let memory = instance.state().memory_bytes();
        self.health.memory_bytes.store(memory, Ordering::Relaxed);
        let Some(bound) = self.recycle_above else {
            return;
        };
        if memory <= bound {
            return;
        }
        let hands_over = instance.has_lifecycle();
        let module = self.module.clone();
        match self.swap(module) {
            Ok(()) => {
                self.health.recycles.fetch_add(1, Ordering::Relaxed);
                let fresh = self
                    .instance
                    .as_mut()
                    .map_or(0, |instance| instance.state().memory_bytes());
                self.health.memory_bytes.store(fresh, Ordering::Relaxed);
                // A fresh instance that starts near the bound (a large
                // snapshot) would be recycled after every event: let it
                // double first.
                let configured = self.guest_limits.recycle_memory_bytes().unwrap_or(bound);
                self.recycle_above = Some(configured.max(fresh.saturating_mul(2)));
                tracing::info!(
                    app = &*self.name,
                    "recycled its instance: its memory had grown to {} KiB, past \
                     limits.recycle_memory_percent ({}% of {} KiB); {}",
                    memory / 1024,
                    self.guest_limits.recycle_memory_percent,
                    self.guest_limits.max_memory_bytes / 1024,
                    if hands_over {
                        "its state went across by snapshot and restore"
                    } else {
                        "it exports no lifecycle, so its in-memory state starts afresh"
                    }
                );
            }
            Err(error) => {
                // The old instance serves on; try again when it has doubled.
                self.recycle_above = Some(memory.saturating_mul(2));
                tracing::warn!(
                    app = &*self.name,
                    "cannot recycle its instance ({} KiB of memory): {error}",
                    memory / 1024
                );
            }
        }
    }

    fn empty_state(&self) -> GuestState {
        let registry = Connections::serving(self.services.clone());
        GuestState::new(self.name.clone(), registry, self.guest_limits)
    }

    /// The registry, wherever it lives right now.
    fn connections(&mut self) -> &mut Connections {
        if self.instance.is_none() && self.stranded.is_none() {
            self.stranded = Some(self.empty_state());
        }
        match (&mut self.instance, &mut self.stranded) {
            (Some(instance), _) => &mut instance.state().connections,
            (None, Some(state)) => &mut state.connections,
            (None, None) => unreachable!("a stranded state was just made"),
        }
    }

    /// The live instance, making a new one first if the last restart failed.
    fn instance(&mut self) -> Option<&mut Instance> {
        if self.instance.is_none() {
            let state = self.stranded.take()?;
            self.restart(state);
        }
        self.instance.as_mut()
    }

    fn restart(&mut self, state: GuestState) {
        match self.module.instantiate(state.renew()) {
            Ok(instance) => self.instance = Some(instance),
            Err(failed) => {
                tracing::error!(
                    app = &*self.name,
                    "cannot restart the app: {:#}",
                    failed.error
                );
                self.stranded = Some(failed.state);
            }
        }
    }

    /// A guest call failed: log it, close the connection it was serving with
    /// 1011, and replace the instance, keeping every other connection open.
    fn trapped(&mut self, trap: anyhow::Error, export: &str, connection: Option<ConnectionId>) {
        let why = crate::guest::trap_line(&trap, self.guest_limits.call_timeout);
        tracing::error!(
            app = &*self.name,
            connection = connection.map(|id| id.0),
            "guest trapped in {export}: {why}"
        );
        // The wasm backtrace, for whoever debugs the guest.
        tracing::debug!(app = &*self.name, "{export} trap in full: {trap:?}");
        if let Some(reports) = &mut self.trap_reports {
            reports.push(TrapReport {
                export: export.to_string(),
                connection,
                line: why.clone(),
            });
        }
        self.health.traps.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        self.recent_traps.push_back(now);
        while self
            .recent_traps
            .front()
            .is_some_and(|at| now.duration_since(*at) > self.trap_window)
            || self.recent_traps.len() > self.max_traps as usize
        {
            self.recent_traps.pop_front();
        }
        if self.recent_traps.len() >= self.max_traps as usize && !self.is_suspended() {
            tracing::error!(
                app = &*self.name,
                "{} traps within {} s: app suspended until a new version is deployed",
                self.recent_traps.len(),
                self.trap_window.as_secs()
            );
            self.health.suspended.store(true, Ordering::Relaxed);
            self.connections().close_all(&CloseRequest {
                code: close_code::INTERNAL_ERROR,
                reason: "app suspended after repeated faults".into(),
            });
        }
        let Some(old) = self.instance.take() else {
            return;
        };
        let mut state = old.into_state();
        if let Some(id) = connection {
            state.connections.close(
                id,
                CloseRequest {
                    code: close_code::INTERNAL_ERROR,
                    reason: "app error".into(),
                },
            );
        }
        self.restart(state);
    }
}

impl Runner {
    fn is_suspended(&self) -> bool {
        self.health.suspended.load(Ordering::Relaxed)
    }
}

fn app_unavailable() -> CloseRequest {
    CloseRequest {
        code: close_code::INTERNAL_ERROR,
        reason: "app unavailable".into(),
    }
}

/// A guest call that trapped, as the actor logs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrapReport {
    /// The export that trapped: `on-open`, `on-message`, `on-close`,
    /// `on-timer`, `snapshot`.
    pub export: String,
    /// The connection whose event trapped, when the trap closed it (1011).
    pub connection: Option<ConnectionId>,
    /// What trapped, on one line (`guest::trap_line`).
    pub line: String,
}

/// An app run on the caller's thread, one event per call, instead of on an
/// actor thread behind a mailbox: the test harness (`crate::harness`) drives
/// apps this way, deterministically and without sockets. Every event goes
/// through the actor's own `Runner::handle`, so opening, trapping and
/// restarting, suspension and hot swaps behave exactly as in a host; only
/// the mailbox and the thread are left out, and the traps are kept for the
/// caller to read as well as logged.
///
/// Its timers run on a virtual clock that stands still until the caller
/// moves it (`fire_next_timer`): what a test sees does not depend on how
/// fast it runs.
pub struct InlineApp {
    runner: Runner,
    /// The virtual clock's reading.
    now: Instant,
    /// Where the virtual clock started.
    started: Instant,
}

impl InlineApp {
    /// Start an app: its first instance is made now, as `AppActor::start`
    /// does.
    pub fn start(
        name: &str,
        module: Module,
        limits: &Limits,
        guest_limits: GuestLimits,
        services: AppServices,
    ) -> anyhow::Result<InlineApp> {
        let started = Instant::now();
        let mut runner = Runner::new(name, module, limits, guest_limits, services)?;
        runner.trap_reports = Some(Vec::new());
        let mut app = InlineApp {
            runner,
            now: started,
            started,
        };
        app.handle(None);
        Ok(app)
    }

    /// Run one event (or none) with the registry's timers on this app's
    /// virtual clock; a registry made afresh (after a failed restart)
    /// starts on the real one until told.
    fn handle(&mut self, event: Option<AppEvent>) {
        self.runner.connections().timers.use_virtual_clock(self.now);
        if let Some(event) = event {
            self.runner.handle(event);
        }
    }

    /// How far the virtual clock has moved since the app started.
    pub fn elapsed(&self) -> Duration {
        self.now.duration_since(self.started)
    }

    /// Move the virtual clock towards `elapsed()` == `until`: if a timer is
    /// due by then, the clock moves to its due time (or stays, for a timer
    /// overdue while the app was suspended), it fires (as in an actor:
    /// after it, presence and recycling), and its key and the time it
    /// fired at are returned; otherwise the clock moves to `until` and
    /// `None` says nothing was due. A suspended app's timers do not fire
    /// (they wait).
    pub fn fire_next_timer(&mut self, until: Duration) -> Option<(String, Duration)> {
        let until = self.started + until;
        self.handle(None);
        let due = self.runner.next_timer().filter(|due| *due <= until);
        let Some(due) = due else {
            self.now = self.now.max(until);
            self.handle(None);
            return None;
        };
        self.now = self.now.max(due);
        self.handle(None);
        let fired = self.runner.connections().timers.take_due(self.now)?;
        self.runner.fire(&fired);
        Some((fired.key.to_string(), self.elapsed()))
    }

    /// A client asks to connect; `outbox` is where the app's messages to it
    /// go.
    pub fn open(
        &mut self,
        connection: ConnectionId,
        request: Request,
        outbox: Outbox,
    ) -> OpenDecision {
        let (decision, mut answer) = oneshot::channel();
        self.handle(Some(AppEvent::Open {
            connection,
            request,
            outbox,
            decision,
        }));
        // `handle` has answered by the time it returns.
        answer.try_recv().unwrap_or(OpenDecision::Reject {
            status: 503,
            body: "app unavailable".into(),
        })
    }

    pub fn message(&mut self, connection: ConnectionId, message: Message) {
        self.handle(Some(AppEvent::Message {
            connection,
            message,
        }));
    }

    /// The connection is gone, with this close code and reason.
    pub fn close(&mut self, connection: ConnectionId, code: u16, reason: String) {
        self.handle(Some(AppEvent::Close {
            connection,
            code,
            reason,
        }));
    }

    /// Replace the running version between two events, as a deploy does.
    pub fn swap(&mut self, module: Module) -> Result<(), SwapError> {
        let (done, mut swapped) = oneshot::channel();
        self.handle(Some(AppEvent::Swap { module, done }));
        swapped
            .try_recv()
            .unwrap_or_else(|_| Err(SwapError::Stopped(self.runner.name.clone())))
    }

    /// The traps since the last call, oldest first.
    pub fn take_traps(&mut self) -> Vec<TrapReport> {
        self.runner
            .trap_reports
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Suspended after repeated traps, until the next swap.
    pub fn is_suspended(&self) -> bool {
        self.runner.is_suspended()
    }

    /// Connections accepted and not yet closed.
    pub fn live_connections(&self) -> usize {
        self.runner.live_connections.load(Ordering::Relaxed)
    }
}
