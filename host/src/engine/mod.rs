//! Where the state that topics share lives: each topic's stream of
//! publications (positions, history) and its presence. The host functions
//! of `topics` (`guest/host/topics.rs`) talk to this trait and never know
//! which implementation runs:
//!
//! - `local`: in this process, the default for one host;
//! - a Redis implementation (a later issue) makes the same calls span
//!   hosts, which is why every name here is cluster-minded: member ids
//!   carry the node they live on, and positions carry an epoch that names
//!   one life of a stream, so a client can tell "what I saw" from "what
//!   this stream has".
//!
//! What stays out of the engine is which of *this host's* connections
//! subscribe to a topic: that is the app's registry (`guest/registry.rs`),
//! which pushes into their outboxes. An engine stores and answers; it never
//! writes to a socket.
//!
//! Every call is synchronous and cheap for the local engine. A networked
//! engine must not make a guest call wait on the network (see
//! /docs/architecture.md, "Topics"): it answers from state it keeps locally
//! and reconciles in the background.

use std::sync::Arc;
use std::time::Duration;

use crate::outbox::{ConnectionId, OutboundMessage};

mod local;

pub use local::LocalEngine;

/// A place in a topic's stream: how many publications it has had, within
/// one epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub epoch: Arc<str>,
    pub offset: u64,
}

/// One publication kept in a topic's history. Its message shares its bytes
/// with every outbox it was queued to.
#[derive(Debug, Clone)]
pub struct Publication {
    pub offset: u64,
    pub message: OutboundMessage,
}

/// How much of a topic's stream to keep (per app, by topic prefix; see
/// `config::HistoryRule`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryPolicy {
    /// The most publications kept; 0 keeps none.
    pub size: usize,
    /// How long a publication is kept, and how long an idle stream keeps
    /// its epoch.
    pub ttl: Duration,
    /// The most payload bytes kept; the oldest go first past it.
    pub max_bytes: usize,
}

impl HistoryPolicy {
    /// A topic without history: positions still count, nothing is kept.
    pub const NONE: HistoryPolicy = HistoryPolicy {
        size: 0,
        ttl: Duration::ZERO,
        max_bytes: 0,
    };
}

/// One subscriber as presence keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Unique across hosts: the node it is on and its connection id.
    pub id: Arc<str>,
    /// The node (host process) it is connected to.
    pub node: Arc<str>,
    pub connection: ConnectionId,
    /// What it gave when it subscribed.
    pub info: Arc<[u8]>,
}

/// What reading a stream after a position found.
#[derive(Debug)]
pub enum Since {
    /// Every publication after the position, oldest first (maybe none).
    Recovered(Vec<Publication>),
    /// The history no longer reaches back to it: trimmed, expired, or the
    /// position is of another epoch.
    Unrecoverable,
}

/// Shared topic state. `app` namespaces everything: one app's topics are
/// invisible to every other.
pub trait Engine: Send + Sync {
    /// This host's name among those sharing the engine; part of every
    /// member id it makes.
    fn node(&self) -> &Arc<str>;

    /// Count a publication in the topic's stream, keep it per `policy`,
    /// and return its position.
    fn publish(
        &self,
        app: &str,
        topic: &str,
        message: &OutboundMessage,
        policy: HistoryPolicy,
    ) -> Position;

    /// Where the topic's stream stands.
    fn position(&self, app: &str, topic: &str) -> Position;

    /// The publications after `since`, and where the stream stands.
    fn since(&self, app: &str, topic: &str, since: &Position) -> (Position, Since);

    /// The latest `limit` publications kept, oldest first, and where the
    /// stream stands.
    fn latest(&self, app: &str, topic: &str, limit: usize) -> (Position, Vec<Publication>);

    /// Add a member to the topic's presence, or replace its info.
    fn presence_add(&self, app: &str, topic: &str, member: Member);

    /// Take a member out; what it was, if it was there.
    fn presence_remove(&self, app: &str, topic: &str, id: &str) -> Option<Member>;

    /// The topic's members, in the order they joined.
    fn presence(&self, app: &str, topic: &str) -> Vec<Member>;
}
