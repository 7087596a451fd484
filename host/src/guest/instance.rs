//! One live instance of an app, and the calls into it: each armed with the
//! call's CPU deadline, each returning a trap as an error for the app actor
//! to recover from.

use wasmtime::Store;

use super::bindings::exports::switchboard::app::{handler, lifecycle};
use super::exports::OptionalExports;
use super::hub::PresenceEvent;
use super::{Accept, GuestState, Message, Reject, Request};
use crate::native::NativeApp;
use crate::outbox::ConnectionId;

/// Why a version could not hand its state on in a hot swap.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error(
        "its snapshot is {bytes} bytes, over limits.max_snapshot_bytes ({limit}): \
         hand less state across swaps or raise the limit"
    )]
    TooLarge { bytes: usize, limit: usize },
    /// The guest trapped (ran out of memory, panicked, ran too long).
    #[error("{0:#}")]
    Trapped(anyhow::Error),
}

/// A guest that could not start, and the host state it was given.
pub struct InstantiateError {
    pub error: anyhow::Error,
    pub state: GuestState,
}

/// One live instance of an app.
pub struct Instance {
    pub(super) store: Store<GuestState>,
    pub(super) code: InstanceCode,
}

pub(super) enum InstanceCode {
    Component {
        handler: handler::Guest,
        /// Boxed: with four optional exports it is far larger than a
        /// native app, and it is only read, once per call.
        optional: Box<OptionalExports>,
    },
    /// Accepts every connection and keeps no state of its own, so it has
    /// nothing to snapshot.
    Native(NativeApp),
}

impl InstanceCode {
    fn optional(&self) -> Option<&OptionalExports> {
        match self {
            InstanceCode::Component { optional, .. } => Some(&**optional),
            InstanceCode::Native(_) => None,
        }
    }

    fn lifecycle(&self) -> Option<&lifecycle::Guest> {
        self.optional()?.lifecycle.as_ref()
    }
}

impl Instance {
    pub fn state(&mut self) -> &mut GuestState {
        self.store.data_mut()
    }

    /// Tear the instance down and keep what the host owns, to hand it on.
    pub fn into_state(self) -> GuestState {
        self.store.into_data()
    }

    pub fn has_lifecycle(&self) -> bool {
        self.code.lifecycle().is_some()
    }

    /// The state this version hands to the next, if it exports `lifecycle`
    /// and has something to hand over. A snapshot over
    /// `max_snapshot_bytes` is refused: the guest built it within its
    /// memory cap, but the host would hold it and the next version take it
    /// in on top of its own memory.
    pub fn snapshot(&mut self) -> Result<Option<Vec<u8>>, SnapshotError> {
        arm_deadline(&mut self.store);
        let snapshot = match self.code.lifecycle() {
            Some(lifecycle) => lifecycle
                .call_snapshot(&mut self.store)
                .map_err(|trap| SnapshotError::Trapped(anyhow::Error::from(trap)))?,
            None => None,
        };
        let limit = self.store.data().limits.max_snapshot_bytes;
        match snapshot {
            Some(bytes) if bytes.len() > limit => Err(SnapshotError::TooLarge {
                bytes: bytes.len(),
                limit,
            }),
            snapshot => Ok(snapshot),
        }
    }

    /// Give this (new) version the previous version's snapshot. The outer
    /// error is a trap, the inner one the guest's own refusal.
    pub fn restore(&mut self, snapshot: &[u8]) -> anyhow::Result<Result<(), String>> {
        arm_deadline(&mut self.store);
        match self.code.lifecycle() {
            Some(lifecycle) => lifecycle
                .call_restore(&mut self.store, snapshot)
                .map_err(anyhow::Error::from),
            None => Ok(Ok(())),
        }
    }

    pub fn on_open(
        &mut self,
        connection: ConnectionId,
        request: &Request,
    ) -> anyhow::Result<Result<Accept, Reject>> {
        match &self.code {
            InstanceCode::Component { handler, .. } => {
                arm_deadline(&mut self.store);
                handler
                    .call_on_open(&mut self.store, connection.0, request)
                    .map_err(anyhow::Error::from)
            }
            InstanceCode::Native(app) => {
                app.on_open(self.store.data_mut(), connection, request);
                Ok(Ok(Accept { subprotocol: None }))
            }
        }
    }

    pub fn on_message(
        &mut self,
        connection: ConnectionId,
        message: &Message,
    ) -> anyhow::Result<()> {
        match &self.code {
            InstanceCode::Component { handler, .. } => {
                arm_deadline(&mut self.store);
                handler
                    .call_on_message(&mut self.store, connection.0, message)
                    .map_err(anyhow::Error::from)
            }
            InstanceCode::Native(app) => {
                app.on_message(self.store.data_mut(), connection, message);
                Ok(())
            }
        }
    }

    pub fn on_close(
        &mut self,
        connection: ConnectionId,
        code: u16,
        reason: &str,
    ) -> anyhow::Result<()> {
        match &self.code {
            InstanceCode::Component { handler, .. } => {
                arm_deadline(&mut self.store);
                handler
                    .call_on_close(&mut self.store, connection.0, code, reason)
                    .map_err(anyhow::Error::from)
            }
            InstanceCode::Native(_) => Ok(()),
        }
    }

    /// The next presence change the app's calls made and it has yet to
    /// hear; `None` when there is none. An app without the `presence`
    /// export hears none, so none are kept for it.
    pub fn next_presence_event(&mut self) -> Option<PresenceEvent> {
        let hub = &mut self.store.data_mut().connections.hub;
        match self.code.optional() {
            Some(OptionalExports {
                presence: Some(_), ..
            }) => hub.next_event(),
            _ => {
                hub.clear_events();
                None
            }
        }
    }

    /// Tell the app one presence change (`presence.on-join` or
    /// `on-leave`).
    pub fn on_presence(&mut self, event: &PresenceEvent) -> anyhow::Result<()> {
        let Some(presence) = self.code.optional().and_then(|o| o.presence.as_ref()) else {
            return Ok(());
        };
        let (topic, member, join) = match event {
            PresenceEvent::Join { topic, member } => (topic, member, true),
            PresenceEvent::Leave { topic, member } => (topic, member, false),
        };
        let member = self.store.data().connections.hub.as_seen_here(member);
        arm_deadline(&mut self.store);
        let called = if join {
            presence.call_on_join(&mut self.store, topic, &member)
        } else {
            presence.call_on_leave(&mut self.store, topic, &member)
        };
        called.map_err(anyhow::Error::from)
    }

    /// Tell the app one of its timers is due (`timer-handler.on-timer`).
    /// Returns `Ok(false)` when this version does not export the handler.
    pub fn on_timer(&mut self, key: &str) -> anyhow::Result<bool> {
        let Some(timers) = self.code.optional().and_then(|o| o.timer_handler.as_ref()) else {
            return Ok(false);
        };
        arm_deadline(&mut self.store);
        timers
            .call_on_timer(&mut self.store, key)
            .map_err(anyhow::Error::from)?;
        Ok(true)
    }

    /// Hand the app new lines of one of its feeds
    /// (`feed-handler.on-lines`). Returns `Ok(false)` when this version does
    /// not export the handler.
    pub fn on_lines(&mut self, feed: &str, lines: &[String]) -> anyhow::Result<bool> {
        let Some(feeds) = self.code.optional().and_then(|o| o.feed_handler.as_ref()) else {
            return Ok(false);
        };
        arm_deadline(&mut self.store);
        feeds
            .call_on_lines(&mut self.store, feed, lines)
            .map_err(anyhow::Error::from)?;
        Ok(true)
    }
}

/// Give the next guest call its CPU deadline. A free function, so that a
/// call can arm it while the instance's export is borrowed.
pub(super) fn arm_deadline(store: &mut Store<GuestState>) {
    let state = store.data_mut();
    state.clock.begin_call(state.limits.call_timeout);
    state.storage_wait.begin_call();
    let ticks = state.limits.deadline_ticks();
    store.set_epoch_deadline(ticks);
}
