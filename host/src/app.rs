//! The app actor: one per app, the only owner of its guest instance.
//!
//! Connection tasks post events into the app's bounded mailbox and the actor
//! calls the guest for them one at a time, so a guest never runs twice at once
//! and each connection's events reach it in order (open, messages, close).
//! Guest code is synchronous CPU work, so the actor runs on its own OS thread
//! rather than on a tokio worker, where it would stall every socket that worker
//! serves.
//!
//! A trap does not take the app down: the instance is thrown away and a fresh
//! one made from the pre-instantiated module (its memory starts over), the
//! connection whose event trapped is closed with 1011, and every other
//! connection stays open because the host, not the guest, owns the registry.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;

use anyhow::Context as _;
use tokio::sync::{mpsc, oneshot};

use crate::guest::{Connections, GuestState, Instance, Message, Module, Request};
use crate::outbox::{CloseRequest, ConnectionId, Outbox};

/// How an app answered a connection attempt.
#[derive(Debug)]
pub enum OpenDecision {
    Accept { subprotocol: Option<String> },
    Reject { status: u16, body: String },
}

/// What a connection task tells its app.
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
}

/// The handle connection tasks and the server hold. Cloning is cheap; the
/// actor stops once every handle is dropped and its mailbox is drained.
#[derive(Clone)]
pub struct AppHandle {
    name: Arc<str>,
    mailbox: mpsc::Sender<AppEvent>,
    live_connections: Arc<AtomicUsize>,
}

/// Why an event could not be posted: the actor is gone.
#[derive(Debug, thiserror::Error)]
#[error("app {0} has stopped")]
pub struct AppStopped(pub Arc<str>);

impl AppHandle {
    pub fn name(&self) -> &Arc<str> {
        &self.name
    }

    /// Connections accepted and not yet closed.
    pub fn live_connections(&self) -> usize {
        self.live_connections.load(Ordering::Relaxed)
    }

    /// Post an event, waiting while the mailbox is full: that wait is the
    /// backpressure that stops a connection reading faster than its app runs.
    pub async fn post(&self, event: AppEvent) -> Result<(), AppStopped> {
        self.mailbox
            .send(event)
            .await
            .map_err(|_| AppStopped(self.name.clone()))
    }
}

/// The running actor thread, joined on shutdown.
pub struct AppActor {
    thread: JoinHandle<()>,
}

impl AppActor {
    /// Start an app: make its first instance now, so that a module that traps
    /// while starting is an error at startup rather than at the first client.
    pub fn start(
        name: &str,
        module: Module,
        mailbox_capacity: usize,
    ) -> anyhow::Result<(AppHandle, AppActor)> {
        let name: Arc<str> = Arc::from(name);
        let instance = module
            .instantiate(GuestState::new(name.clone(), Connections::new()))
            .map_err(|failed| failed.error)
            .with_context(|| format!("app {name}"))?;
        let (sender, receiver) = mpsc::channel(mailbox_capacity.max(1));
        let live_connections = Arc::new(AtomicUsize::new(0));
        let runner = Runner {
            name: name.clone(),
            module,
            instance: Some(instance),
            stranded: None,
            live_connections: live_connections.clone(),
        };
        let thread = std::thread::Builder::new()
            .name(format!("app-{name}"))
            .spawn(move || runner.run(receiver))
            .context("cannot start the app thread")?;
        Ok((
            AppHandle {
                name,
                mailbox: sender,
                live_connections,
            },
            AppActor { thread },
        ))
    }

    /// Wait for the actor to finish its queued events and stop.
    pub fn join(self) {
        if self.thread.join().is_err() {
            tracing::error!("an app thread panicked");
        }
    }
}

struct Runner {
    name: Arc<str>,
    module: Module,
    /// `None` only after a trap whose restart failed; the host's state then
    /// waits in `stranded` and a restart is tried again on the next event.
    instance: Option<Instance>,
    stranded: Option<GuestState>,
    live_connections: Arc<AtomicUsize>,
}

impl Runner {
    fn run(mut self, mut mailbox: mpsc::Receiver<AppEvent>) {
        while let Some(event) = mailbox.blocking_recv() {
            self.handle(event);
        }
        tracing::debug!(app = &*self.name, "app stopped");
    }

    fn handle(&mut self, event: AppEvent) {
        match event {
            AppEvent::Open {
                connection,
                request,
                outbox,
                decision,
            } => {
                let answer = self.open(connection, &request, outbox);
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
                self.connections().remove(connection);
                let Some(instance) = self.instance() else {
                    return;
                };
                if let Err(trap) = instance.on_close(connection, code, &reason) {
                    self.trapped(trap, "on-close", None);
                }
            }
        }
    }

    fn open(
        &mut self,
        connection: ConnectionId,
        request: &Request,
        outbox: Outbox,
    ) -> OpenDecision {
        let Some(instance) = self.instance() else {
            return OpenDecision::Reject {
                status: 503,
                body: "app unavailable".into(),
            };
        };
        // Registered before on-open runs, so the guest can greet the
        // connection from on-open; the greeting waits in the outbox.
        instance.state().connections.insert(connection, outbox);
        let decision = match instance.on_open(connection, request) {
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
        if let OpenDecision::Reject { .. } = decision {
            self.connections().remove(connection);
        }
        decision
    }

    /// The registry, wherever it lives right now.
    fn connections(&mut self) -> &mut Connections {
        match (&mut self.instance, &mut self.stranded) {
            (Some(instance), _) => &mut instance.state().connections,
            (None, Some(state)) => &mut state.connections,
            (None, None) => unreachable!("the registry is always held by an instance or stranded"),
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
        tracing::error!(
            app = &*self.name,
            connection = connection.map(|id| id.0),
            "guest trapped in {export}: {trap:#}"
        );
        let Some(old) = self.instance.take() else {
            return;
        };
        let mut state = old.into_state();
        if let Some(id) = connection {
            state.connections.close(
                id,
                CloseRequest {
                    code: 1011,
                    reason: "app error".into(),
                },
            );
        }
        self.restart(state);
    }
}

fn app_unavailable() -> CloseRequest {
    CloseRequest {
        code: 1011,
        reason: "app unavailable".into(),
    }
}
