//! The connection registry: every connection an app accepted, with its
//! outbox, how it was opened, what the app attached to it and the topics it
//! is subscribed to (`hub`), the feeds the config grants the app
//! (`feeds`), the app's timers (`timers`) and its key-value namespace
//! (`kv`). It belongs to the host, not to a guest instance, so a trap or a
//! hot swap loses no connection, nothing attached to one, and no timer.

use std::collections::BTreeMap;

use super::hub::{Hub, TopicSettings};
use super::packed_request::PackedRequest;
use super::timers::{TimerLimits, Timers};
use super::{ConnectionError, Request};
use crate::close_code;
use crate::kv::AppKv;
use crate::outbox::{CloseRequest, ConnectionId, OutboundMessage, Outbox, PushError};

/// A connection as its app sees it.
pub(in crate::guest) struct Registered {
    pub(in crate::guest) outbox: Outbox,
    /// Set once a close was requested: the connection is no longer listed or
    /// addressable, though its `on-close` is still to come.
    pub(in crate::guest) closing: bool,
    /// How it was opened, for `attachments.info`.
    pub(in crate::guest) request: PackedRequest,
    /// The subprotocol the app confirmed in `on-open`.
    pub(in crate::guest) subprotocol: Option<Box<str>>,
    /// What the app attached (`attachments.set`); empty when nothing is.
    pub(in crate::guest) attachment: Vec<u8>,
}

/// What the host serves one app with, beyond its connections: where its
/// topics, feeds, timers and key-value data live and their bounds. The
/// deployer (or the test harness) decides it once per app; every registry
/// the app gets, first or made afresh, is made from it. Cheap to clone.
#[derive(Clone)]
pub struct AppServices {
    pub topics: TopicSettings,
    pub feeds: crate::feeds::Grants,
    pub timers: TimerLimits,
    pub kv: AppKv,
}

/// What the host keeps per app across instances: the connection registry
/// outlives any one guest instance, so a trap or a hot swap loses no
/// connection, and neither what the app attached to each.
pub struct Connections {
    /// Ordered by id, which is the order connections opened in.
    pub(in crate::guest) open: BTreeMap<ConnectionId, Registered>,
    /// Their subscriptions, and the topics' settings.
    pub hub: Hub,
    /// The app's key-value namespace (a handle on the host's store).
    pub kv: AppKv,
    /// The app's timers: they belong to the app, not to any connection.
    pub timers: Timers,
    /// The files the app may follow, by name (`[[apps.feeds]]`).
    pub feeds: crate::feeds::Grants,
}

impl Default for Connections {
    fn default() -> Self {
        Connections::new()
    }
}

impl Connections {
    /// A registry whose topics live in an engine of their own.
    pub fn new() -> Self {
        Connections::with_topics(TopicSettings::in_process())
    }

    /// Everything this registry holds, leaving it empty (under the same
    /// settings): for handing the registry to a new instance.
    pub fn take(&mut self) -> Self {
        let empty = Connections::serving(self.services());
        std::mem::replace(self, empty)
    }

    /// An empty registry for an app served with `services`.
    pub fn serving(services: AppServices) -> Self {
        Connections::with_topics(services.topics)
            .with_feeds(services.feeds)
            .with_timers(services.timers)
            .with_kv(services.kv)
    }

    /// What this registry serves its app with.
    pub fn services(&self) -> AppServices {
        AppServices {
            topics: self.hub.settings.clone(),
            feeds: self.feeds.clone(),
            timers: self.timers.limits(),
            kv: self.kv.clone(),
        }
    }

    /// A registry whose key-value namespace is a store of its own in
    /// memory, until `with_kv` names the app's.
    pub fn with_topics(topics: TopicSettings) -> Self {
        Connections {
            open: BTreeMap::new(),
            hub: Hub::new(topics),
            timers: Timers::default(),
            feeds: crate::feeds::Grants::default(),
            kv: AppKv::detached(crate::config::Limits::default().kv_limits(None)),
        }
    }

    /// The same registry, its `kv` calls reaching `kv`.
    pub fn with_kv(mut self, kv: AppKv) -> Self {
        self.kv = kv;
        self
    }

    /// The same registry, granting the app these feeds.
    pub fn with_feeds(mut self, feeds: crate::feeds::Grants) -> Self {
        self.feeds = feeds;
        self
    }

    /// The same registry, its timers bounded by `limits` (and none set).
    pub fn with_timers(mut self, limits: TimerLimits) -> Self {
        self.timers = Timers::new(limits);
        self
    }

    pub fn insert(&mut self, id: ConnectionId, outbox: Outbox, request: &Request) {
        self.open.insert(
            id,
            Registered {
                outbox,
                closing: false,
                request: PackedRequest::pack(request),
                subprotocol: None,
                attachment: Vec::new(),
            },
        );
    }

    /// Record the subprotocol the app confirmed in `on-open`.
    pub fn set_subprotocol(&mut self, id: ConnectionId, subprotocol: Option<String>) {
        if let Some(entry) = self.open.get_mut(&id) {
            entry.subprotocol = subprotocol.map(String::into_boxed_str);
        }
    }

    /// The connection is gone: stop listing it, but keep what is attached to
    /// it readable until its `on-close` has run.
    pub fn mark_gone(&mut self, id: ConnectionId) {
        if let Some(entry) = self.open.get_mut(&id) {
            entry.closing = true;
        }
    }

    /// Ask every connection to close (the app is being removed).
    pub fn close_all(&mut self, request: &CloseRequest) {
        let ids: Vec<ConnectionId> = self.open.keys().copied().collect();
        for id in ids {
            self.close(id, request.clone());
        }
    }

    /// Forget a connection whose `on-close` has run, and end its
    /// subscriptions: each is a leave in its topic's presence.
    pub fn remove(&mut self, id: ConnectionId) {
        self.open.remove(&id);
        self.hub.leave_all(id);
    }

    pub fn len(&self) -> usize {
        self.open.len()
    }

    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    /// Ask a connection to close and stop addressing it.
    pub fn close(&mut self, id: ConnectionId, request: CloseRequest) {
        if let Some(entry) = self.open.get_mut(&id) {
            entry.closing = true;
            entry.outbox.close(request);
        }
    }

    pub(in crate::guest) fn addressable(&self, id: ConnectionId) -> Option<&Outbox> {
        self.open
            .get(&id)
            .filter(|entry| !entry.closing)
            .map(|entry| &entry.outbox)
    }

    /// Push to one connection; a full outbox closes it (1008), because the
    /// client is not keeping up and the app must not wait for it.
    pub(in crate::guest) fn push(
        &mut self,
        id: ConnectionId,
        message: OutboundMessage,
    ) -> Result<(), ConnectionError> {
        let outbox = self
            .addressable(id)
            .ok_or(ConnectionError::UnknownConnection)?;
        match outbox.push(message) {
            Ok(()) => Ok(()),
            Err(PushError::OutboxFull) => {
                tracing::warn!(connection = %id, "outbox full, closing the slow connection");
                if let Some(entry) = self.open.get_mut(&id) {
                    entry.closing = true;
                    entry.outbox.abandon(CloseRequest {
                        code: close_code::POLICY_VIOLATION,
                        reason: "outbox full: client too slow".into(),
                    });
                }
                Err(ConnectionError::OutboxFull)
            }
            Err(PushError::Closed) => Err(ConnectionError::UnknownConnection),
        }
    }
}
