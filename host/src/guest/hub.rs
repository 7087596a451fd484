//! The topics side of an app's registry: which of its connections on this
//! host subscribe to which topic, the settings topics run under, and the
//! presence changes waiting to be told to the app. Like the rest of the
//! registry it belongs to the host, so a trap or a hot swap changes no
//! subscription.
//!
//! What topics share beyond this host (positions, history, presence) is
//! the engine's (`crate::engine`); the hub only knows whose outbox a
//! publication goes to here.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use crate::config::{HistoryRule, Limits};
use crate::engine::{Engine, HistoryPolicy, LocalEngine, Member};
use crate::guest::bindings::switchboard::app::topics as wit;
use crate::outbox::ConnectionId;

/// What topics run under for one app: the engine they share state
/// through, the app's history rules, and the limits.
#[derive(Clone)]
pub struct TopicSettings {
    /// The app's name, which namespaces its topics in the engine.
    pub app: Arc<str>,
    pub engine: Arc<dyn Engine>,
    /// Longest prefix first, so the first match is the one that wins.
    history: Arc<[HistoryRule]>,
    pub limits: TopicLimits,
}

/// The limits on topics (`[limits]` in the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicLimits {
    pub max_topics_per_connection: usize,
    pub max_topic_name_bytes: usize,
    pub max_presence_info_bytes: usize,
    pub max_history_bytes: usize,
}

impl TopicLimits {
    pub fn from_config(limits: &Limits) -> Self {
        TopicLimits {
            max_topics_per_connection: limits.max_topics_per_connection,
            max_topic_name_bytes: limits.max_topic_name_bytes,
            max_presence_info_bytes: limits.max_presence_info_bytes,
            max_history_bytes: limits.max_history_bytes,
        }
    }
}

impl Default for TopicLimits {
    fn default() -> Self {
        TopicLimits::from_config(&Limits::default())
    }
}

impl TopicSettings {
    pub fn new(
        app: Arc<str>,
        engine: Arc<dyn Engine>,
        history: &[HistoryRule],
        limits: TopicLimits,
    ) -> Self {
        let mut history = history.to_vec();
        history.sort_by_key(|rule| std::cmp::Reverse(rule.prefix.len()));
        TopicSettings {
            app,
            engine,
            history: Arc::from(history),
            limits,
        }
    }

    /// Topics in an engine of their own, without history: for an app
    /// driven alone (the test harness, a module's trial start).
    pub fn in_process() -> Self {
        TopicSettings::new(
            Arc::from("app"),
            Arc::new(LocalEngine::new()),
            &[],
            TopicLimits::default(),
        )
    }

    /// How much of `topic` to keep: the rule with the longest matching
    /// prefix, or nothing.
    pub fn policy_for(&self, topic: &str) -> HistoryPolicy {
        match self
            .history
            .iter()
            .find(|rule| topic.starts_with(&rule.prefix))
        {
            Some(rule) => HistoryPolicy {
                size: rule.size,
                ttl: Duration::from_secs(rule.ttl_seconds),
                max_bytes: self.limits.max_history_bytes,
            },
            None => HistoryPolicy::NONE,
        }
    }
}

/// A change in a topic's presence, for the app's `presence` export.
#[derive(Debug, Clone)]
pub enum PresenceEvent {
    Join { topic: Arc<str>, member: Member },
    Leave { topic: Arc<str>, member: Member },
}

/// The most presence events waiting at once. An app whose `on-join` keeps
/// subscribing and unsubscribing could otherwise feed itself forever.
const MAX_PENDING_EVENTS: usize = 65_536;

/// This host's subscribers of an app's topics.
pub struct Hub {
    pub settings: TopicSettings,
    subscribers: HashMap<Arc<str>, BTreeSet<ConnectionId>>,
    /// Each subscribed connection's topics, in the order it subscribed.
    /// Only connections with a subscription have an entry, so an idle
    /// connection costs the hub nothing.
    topics_of: HashMap<ConnectionId, Vec<Arc<str>>>,
    /// Presence changes the app has yet to hear, oldest first.
    events: VecDeque<PresenceEvent>,
}

impl Hub {
    pub fn new(settings: TopicSettings) -> Self {
        Hub {
            settings,
            subscribers: HashMap::new(),
            topics_of: HashMap::new(),
            events: VecDeque::new(),
        }
    }

    /// This host's subscribers of a topic.
    pub fn subscribers(&self, topic: &str) -> impl Iterator<Item = ConnectionId> + '_ {
        self.subscribers.get(topic).into_iter().flatten().copied()
    }

    /// The topic's name as the hub holds it, shared by every subscriber.
    fn topic_name(&self, topic: &str) -> Arc<str> {
        match self.subscribers.get_key_value(topic) {
            Some((name, _)) => name.clone(),
            None => Arc::from(topic),
        }
    }

    /// Subscribe a connection, with `info` for presence (replacing what it
    /// gave before, if it is subscribed already). A connection new to the
    /// topic is a join the app will hear of.
    pub fn join(&mut self, topic: &str, connection: ConnectionId, info: Vec<u8>) {
        let topic = self.topic_name(topic);
        let engine = self.settings.engine.clone();
        let member = Member {
            id: self.member_id(connection),
            node: engine.node().clone(),
            connection,
            info: Arc::from(info),
        };
        engine.presence_add(&self.settings.app, &topic, member.clone());
        if self.add(topic.clone(), connection) {
            self.queue(PresenceEvent::Join { topic, member });
        }
    }

    /// End a connection's subscription, a leave the app will hear of;
    /// `false` if it was not subscribed.
    pub fn leave(&mut self, topic: &str, connection: ConnectionId) -> bool {
        if !self.remove(topic, connection) {
            return false;
        }
        self.leave_presence(Arc::from(topic), connection);
        true
    }

    /// End every subscription of a connection that is gone.
    pub fn leave_all(&mut self, connection: ConnectionId) {
        for topic in self.remove_connection(connection) {
            self.leave_presence(topic, connection);
        }
    }

    fn leave_presence(&mut self, topic: Arc<str>, connection: ConnectionId) {
        let engine = self.settings.engine.clone();
        let id = self.member_id(connection);
        if let Some(member) = engine.presence_remove(&self.settings.app, &topic, &id) {
            self.queue(PresenceEvent::Leave { topic, member });
        }
    }

    /// A member as the app sees it: its connection only when it is on this
    /// host.
    pub fn as_seen_here(&self, member: &Member) -> wit::Member {
        let here = member.node == *self.settings.engine.node();
        wit::Member {
            id: member.id.to_string(),
            connection: here.then_some(member.connection.0),
            info: member.info.to_vec(),
        }
    }

    /// The topics a connection is subscribed to, in the order it
    /// subscribed.
    pub fn topics_of(&self, connection: ConnectionId) -> &[Arc<str>] {
        self.topics_of
            .get(&connection)
            .map_or(&[], |topics| topics.as_slice())
    }

    /// Add a subscriber; `false` if it was one already.
    fn add(&mut self, topic: Arc<str>, connection: ConnectionId) -> bool {
        let added = self
            .subscribers
            .entry(topic.clone())
            .or_default()
            .insert(connection);
        if added {
            self.topics_of.entry(connection).or_default().push(topic);
        }
        added
    }

    /// Take a subscriber out; `false` if it was not one.
    fn remove(&mut self, topic: &str, connection: ConnectionId) -> bool {
        let Some(subscribers) = self.subscribers.get_mut(topic) else {
            return false;
        };
        let removed = subscribers.remove(&connection);
        if subscribers.is_empty() {
            self.subscribers.remove(topic);
        }
        if removed && let Some(topics) = self.topics_of.get_mut(&connection) {
            topics.retain(|name| &**name != topic);
            if topics.is_empty() {
                self.topics_of.remove(&connection);
            }
        }
        removed
    }

    /// Take a connection out of every topic; the topics it was in.
    fn remove_connection(&mut self, connection: ConnectionId) -> Vec<Arc<str>> {
        let topics = self.topics_of.remove(&connection).unwrap_or_default();
        for topic in &topics {
            if let Some(subscribers) = self.subscribers.get_mut(topic) {
                subscribers.remove(&connection);
                if subscribers.is_empty() {
                    self.subscribers.remove(topic);
                }
            }
        }
        topics
    }

    /// The member id a connection has in presence, unique across hosts.
    fn member_id(&self, connection: ConnectionId) -> Arc<str> {
        Arc::from(format!("{}/{}", self.settings.engine.node(), connection.0))
    }

    fn queue(&mut self, event: PresenceEvent) {
        if self.events.len() >= MAX_PENDING_EVENTS {
            tracing::warn!("presence events are piling up; dropping the oldest");
            self.events.pop_front();
        }
        self.events.push_back(event);
    }

    /// The next presence change the app has yet to hear.
    pub fn next_event(&mut self) -> Option<PresenceEvent> {
        self.events.pop_front()
    }

    /// Forget the changes not yet told (an app that does not listen).
    pub fn clear_events(&mut self) {
        self.events.clear();
    }
}
