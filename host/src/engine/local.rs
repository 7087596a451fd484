//! The in-process engine: every topic's stream and presence in this
//! process's memory, behind one lock. The default, and the whole story for
//! a single host.
//!
//! A stream is made when a topic is first published to or subscribed to,
//! and given a fresh epoch. It is dropped once it has no members, keeps no
//! publication and has been idle past its history's lifetime; the next use
//! starts a new epoch, which is how a client that comes back too late
//! learns it cannot be caught up. A host restart starts every stream anew
//! for the same reason: epochs carry the node id, which is new each run.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use super::{Engine, HistoryPolicy, Member, Position, Publication, Since};
use crate::outbox::OutboundMessage;

/// Publications between two sweeps of an app's idle streams.
const SWEEP_EVERY: u32 = 1024;

pub struct LocalEngine {
    node: Arc<str>,
    /// Numbers epochs within this node.
    epochs: AtomicU64,
    apps: Mutex<HashMap<Box<str>, AppTopics>>,
}

#[derive(Default)]
struct AppTopics {
    streams: HashMap<Box<str>, Stream>,
    presence: HashMap<Box<str>, Presence>,
    publishes_since_sweep: u32,
}

struct Stream {
    epoch: Arc<str>,
    offset: u64,
    kept: VecDeque<Kept>,
    kept_bytes: usize,
    policy: HistoryPolicy,
    last_used: Instant,
}

struct Kept {
    publication: Publication,
    at: Instant,
}

/// A topic's members in the order they joined.
#[derive(Default)]
struct Presence {
    next: u64,
    by_order: BTreeMap<u64, Member>,
    order_of: HashMap<Arc<str>, u64>,
}

impl LocalEngine {
    /// An engine for this process, under a node id that is new each run.
    pub fn new() -> Self {
        let mut random = [0u8; 8];
        // Without the OS's randomness, the clock and the process id keep
        // node ids apart across runs well enough for one host.
        if getrandom::fill(&mut random).is_err() {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |since| since.as_nanos() as u64);
            random = (nanos ^ u64::from(std::process::id()).rotate_left(40)).to_be_bytes();
        }
        let node: String = random.iter().map(|byte| format!("{byte:02x}")).collect();
        LocalEngine::with_node(&node)
    }

    /// An engine under a given node id (tests, and hosts configured with
    /// one).
    pub fn with_node(node: &str) -> Self {
        LocalEngine {
            node: Arc::from(node),
            epochs: AtomicU64::new(1),
            apps: Mutex::new(HashMap::new()),
        }
    }

    /// The state, even if a thread panicked while holding it: every change
    /// under the lock leaves it whole.
    fn lock(&self) -> MutexGuard<'_, HashMap<Box<str>, AppTopics>> {
        self.apps
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn new_epoch(&self) -> Arc<str> {
        let number = self.epochs.fetch_add(1, Ordering::Relaxed);
        Arc::from(format!("{}-{number}", self.node))
    }

    /// The topic's stream, made (with a new epoch) if there is none.
    fn stream<'a>(&self, topics: &'a mut AppTopics, topic: &str) -> &'a mut Stream {
        let now = Instant::now();
        let stream = topics
            .streams
            .entry(Box::from(topic))
            .or_insert_with(|| Stream {
                epoch: self.new_epoch(),
                offset: 0,
                kept: VecDeque::new(),
                kept_bytes: 0,
                policy: HistoryPolicy::NONE,
                last_used: now,
            });
        stream.expire(now);
        stream.last_used = now;
        stream
    }
}

impl Default for LocalEngine {
    fn default() -> Self {
        LocalEngine::new()
    }
}

impl Stream {
    fn position(&self) -> Position {
        Position {
            epoch: self.epoch.clone(),
            offset: self.offset,
        }
    }

    /// Drop what is past the history's lifetime, size or bytes.
    fn expire(&mut self, now: Instant) {
        while let Some(oldest) = self.kept.front() {
            let too_old = now.duration_since(oldest.at) >= self.policy.ttl;
            let too_many = self.kept.len() > self.policy.size;
            let too_big = self.kept_bytes > self.policy.max_bytes;
            if !(too_old || too_many || too_big) {
                break;
            }
            if let Some(dropped) = self.kept.pop_front() {
                self.kept_bytes -= dropped.publication.message.len();
            }
        }
    }

    /// Whether nothing would be lost by forgetting it: nothing kept, and
    /// idle past the lifetime of what it would keep.
    fn is_spent(&self, now: Instant) -> bool {
        self.kept.is_empty() && now.duration_since(self.last_used) >= self.policy.ttl
    }
}

impl AppTopics {
    /// Forget the streams no one will miss (see `Stream::is_spent`).
    fn sweep(&mut self) {
        let now = Instant::now();
        let presence = &self.presence;
        self.streams.retain(|topic, stream| {
            stream.expire(now);
            presence.contains_key(topic) || !stream.is_spent(now)
        });
        self.publishes_since_sweep = 0;
    }
}

impl Engine for LocalEngine {
    fn node(&self) -> &Arc<str> {
        &self.node
    }

    fn publish(
        &self,
        app: &str,
        topic: &str,
        message: &OutboundMessage,
        policy: HistoryPolicy,
    ) -> Position {
        let mut apps = self.lock();
        let topics = apps.entry(Box::from(app)).or_default();
        topics.publishes_since_sweep += 1;
        if topics.publishes_since_sweep >= SWEEP_EVERY {
            topics.sweep();
        }
        let stream = self.stream(topics, topic);
        stream.offset += 1;
        stream.policy = policy;
        if policy.size > 0 && message.len() <= policy.max_bytes {
            stream.kept_bytes += message.len();
            stream.kept.push_back(Kept {
                publication: Publication {
                    offset: stream.offset,
                    message: message.clone(),
                },
                at: stream.last_used,
            });
        }
        stream.expire(stream.last_used);
        stream.position()
    }

    fn position(&self, app: &str, topic: &str) -> Position {
        let mut apps = self.lock();
        let topics = apps.entry(Box::from(app)).or_default();
        self.stream(topics, topic).position()
    }

    fn since(&self, app: &str, topic: &str, since: &Position) -> (Position, Since) {
        let mut apps = self.lock();
        let topics = apps.entry(Box::from(app)).or_default();
        let stream = self.stream(topics, topic);
        let position = stream.position();
        if since.epoch != stream.epoch || since.offset > stream.offset {
            return (position, Since::Unrecoverable);
        }
        if since.offset == stream.offset {
            return (position, Since::Recovered(Vec::new()));
        }
        // The first publication missed must still be kept.
        match stream.kept.front() {
            Some(oldest) if oldest.publication.offset <= since.offset + 1 => {
                let missed = stream
                    .kept
                    .iter()
                    .filter(|kept| kept.publication.offset > since.offset)
                    .map(|kept| kept.publication.clone())
                    .collect();
                (position, Since::Recovered(missed))
            }
            _ => (position, Since::Unrecoverable),
        }
    }

    fn latest(&self, app: &str, topic: &str, limit: usize) -> (Position, Vec<Publication>) {
        let mut apps = self.lock();
        let topics = apps.entry(Box::from(app)).or_default();
        let stream = self.stream(topics, topic);
        let skip = stream.kept.len().saturating_sub(limit);
        let latest = stream
            .kept
            .iter()
            .skip(skip)
            .map(|kept| kept.publication.clone())
            .collect();
        (stream.position(), latest)
    }

    fn presence_add(&self, app: &str, topic: &str, member: Member) {
        let mut apps = self.lock();
        let topics = apps.entry(Box::from(app)).or_default();
        let presence = topics.presence.entry(Box::from(topic)).or_default();
        match presence.order_of.get(&member.id) {
            Some(order) => {
                presence.by_order.insert(*order, member);
            }
            None => {
                let order = presence.next;
                presence.next += 1;
                presence.order_of.insert(member.id.clone(), order);
                presence.by_order.insert(order, member);
            }
        }
    }

    fn presence_remove(&self, app: &str, topic: &str, id: &str) -> Option<Member> {
        let mut apps = self.lock();
        let topics = apps.get_mut(app)?;
        let presence = topics.presence.get_mut(topic)?;
        let order = presence.order_of.remove(id)?;
        let member = presence.by_order.remove(&order);
        if presence.by_order.is_empty() {
            topics.presence.remove(topic);
            let now = Instant::now();
            if topics
                .streams
                .get(topic)
                .is_some_and(|stream| stream.is_spent(now))
            {
                topics.streams.remove(topic);
            }
        }
        member
    }

    fn presence(&self, app: &str, topic: &str) -> Vec<Member> {
        let apps = self.lock();
        apps.get(app)
            .and_then(|topics| topics.presence.get(topic))
            .map(|presence| presence.by_order.values().cloned().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::Bytes;

    use super::*;
    use crate::outbox::ConnectionId;

    fn text(text: &'static str) -> OutboundMessage {
        OutboundMessage::Text(Bytes::from_static(text.as_bytes()))
    }

    fn keep(size: usize) -> HistoryPolicy {
        HistoryPolicy {
            size,
            ttl: Duration::from_secs(60),
            max_bytes: 1 << 20,
        }
    }

    /// A member of node n1 with this id and info.
    fn member(id: &str, info: &str) -> Member {
        Member {
            id: Arc::from(id),
            node: Arc::from("n1"),
            connection: ConnectionId(1),
            info: Arc::from(info.as_bytes()),
        }
    }

    fn offsets(publications: &[Publication]) -> Vec<u64> {
        publications.iter().map(|p| p.offset).collect()
    }

    #[test]
    fn a_client_behind_by_what_history_keeps_gets_exactly_what_it_missed() {
        let engine = LocalEngine::with_node("n1");
        let seen = engine.publish("chat", "room", &text("a"), keep(3));
        for message in ["b", "c", "d"] {
            engine.publish("chat", "room", &text(message), keep(3));
        }
        let (now, missed) = engine.since("chat", "room", &seen);
        assert_eq!(now.offset, 4);
        match missed {
            Since::Recovered(missed) => assert_eq!(offsets(&missed), [2, 3, 4]),
            Since::Unrecoverable => panic!("should recover"),
        }
    }

    #[test]
    fn a_client_behind_by_more_than_history_keeps_is_told_so() {
        let engine = LocalEngine::with_node("n1");
        let seen = engine.publish("chat", "room", &text("a"), keep(2));
        for message in ["b", "c", "d"] {
            engine.publish("chat", "room", &text(message), keep(2));
        }
        assert!(matches!(
            engine.since("chat", "room", &seen).1,
            Since::Unrecoverable
        ));
        let other_epoch = Position {
            epoch: Arc::from("elsewhere-1"),
            offset: 4,
        };
        assert!(matches!(
            engine.since("chat", "room", &other_epoch).1,
            Since::Unrecoverable
        ));
    }

    #[test]
    fn topics_of_one_app_are_invisible_to_another() {
        let engine = LocalEngine::with_node("n1");
        engine.publish("chat", "room", &text("a"), keep(5));
        engine.presence_add("chat", "room", member("n1/1", "ann"));
        assert_eq!(engine.latest("other", "room", 10).1.len(), 0);
        assert!(engine.presence("other", "room").is_empty());
        assert_eq!(engine.latest("chat", "room", 10).1.len(), 1);
        assert_eq!(engine.presence("chat", "room").len(), 1);
    }

    #[test]
    fn members_are_listed_in_the_order_they_joined_and_rejoining_keeps_the_place() {
        let engine = LocalEngine::with_node("n1");
        for (id, info) in [("n1/1", "ann"), ("n1/2", "bob"), ("n1/3", "cy")] {
            engine.presence_add("chat", "room", member(id, info));
        }
        engine.presence_add("chat", "room", member("n1/1", "ann (away)"));
        assert!(engine.presence_remove("chat", "room", "n1/2").is_some());
        let infos: Vec<Vec<u8>> = engine
            .presence("chat", "room")
            .iter()
            .map(|member| member.info.to_vec())
            .collect();
        assert_eq!(infos, [b"ann (away)".to_vec(), b"cy".to_vec()]);
    }

    #[test]
    fn a_client_behind_by_more_than_history_lasts_is_told_so() {
        let engine = LocalEngine::with_node("n1");
        // A lifetime of zero: every publication has expired by the time it
        // could be read back.
        let fleeting = HistoryPolicy {
            ttl: Duration::ZERO,
            ..keep(10)
        };
        let seen = engine.publish("chat", "room", &text("a"), fleeting);
        engine.publish("chat", "room", &text("b"), fleeting);
        assert!(matches!(
            engine.since("chat", "room", &seen).1,
            Since::Unrecoverable
        ));
        assert!(engine.latest("chat", "room", 10).1.is_empty());
    }

    #[test]
    fn history_keeps_the_latest_within_its_byte_bound() {
        let engine = LocalEngine::with_node("n1");
        let policy = HistoryPolicy {
            size: 100,
            ttl: Duration::from_secs(60),
            max_bytes: 3,
        };
        for message in ["a", "b", "c", "d"] {
            engine.publish("chat", "room", &text(message), policy);
        }
        let (position, latest) = engine.latest("chat", "room", 10);
        assert_eq!(position.offset, 4);
        assert_eq!(offsets(&latest), [2, 3, 4]);
    }
}
