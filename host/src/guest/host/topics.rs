//! The host side of `topics`: subscribe, unsubscribe, publish, presence
//! and history. Subscriptions live in the registry's hub (this host's
//! subscribers); positions, history and presence in the engine, which may
//! span hosts. A publish is one call: the host queues the same bytes to
//! every subscriber's outbox, and a subscriber too slow to take them is
//! closed (1008) without holding up the others.

use std::sync::Arc;

use super::super::GuestState;
use super::super::hub::PresenceEvent;
use super::wit;
use crate::engine::{self, Since};
use crate::guest::Message;
use crate::guest::wasi::Grant;
use crate::outbox::{ConnectionId, OutboundMessage};
use wit::topics::{
    HistoryPage, Member, Position, Publication, SubscribeOptions, Subscription, TopicError,
};

/// What importing `topics` hands a guest.
pub(super) const GRANT: Grant = Grant {
    interface: "switchboard:app/topics",
    authority: "publish to, subscribe this app's connections to, and list the members and history of this app's own topics",
};

impl GuestState {
    /// A topic name within the limits, or the error to return.
    fn check_topic(&self, topic: &str) -> Result<(), TopicError> {
        let limit = self.connections.hub.settings.limits.max_topic_name_bytes;
        if topic.is_empty() || topic.len() > limit {
            return Err(TopicError::InvalidTopic);
        }
        Ok(())
    }
}

fn position(position: engine::Position) -> Position {
    Position {
        epoch: position.epoch.to_string(),
        offset: position.offset,
    }
}

fn message(message: &OutboundMessage) -> Message {
    let payload = message.payload();
    if message.is_text() {
        Message::Text(String::from_utf8_lossy(payload).into_owned())
    } else {
        Message::Binary(payload.to_vec())
    }
}

impl wit::topics::Host for GuestState {
    fn subscribe(
        &mut self,
        connection: u64,
        topic: String,
        options: SubscribeOptions,
    ) -> Result<Subscription, TopicError> {
        self.check_topic(&topic)?;
        let id = ConnectionId(connection);
        let registry = &mut self.connections;
        let settings = registry.hub.settings.clone();
        if options.info.len() > settings.limits.max_presence_info_bytes {
            return Err(TopicError::InfoTooLarge);
        }
        if registry.addressable(id).is_none() {
            return Err(TopicError::UnknownConnection);
        }
        let already = registry
            .hub
            .topics_of(id)
            .iter()
            .any(|name| **name == *topic);
        if !already && registry.hub.topics_of(id).len() >= settings.limits.max_topics_per_connection
        {
            return Err(TopicError::TooManyTopics);
        }
        let app = &settings.app;
        // Replay what the client missed before it hears anything live:
        // within this call nothing else can publish to the topic.
        let (now, recovered, replayed) = match &options.since {
            Some(since) => {
                let since = engine::Position {
                    epoch: Arc::from(since.epoch.as_str()),
                    offset: since.offset,
                };
                match settings.engine.since(app, &topic, &since) {
                    (now, Since::Recovered(missed)) => {
                        for publication in &missed {
                            registry
                                .push(id, publication.message.clone())
                                .map_err(|_| TopicError::OutboxFull)?;
                        }
                        let replayed = u32::try_from(missed.len()).unwrap_or(u32::MAX);
                        (now, true, replayed)
                    }
                    (now, Since::Unrecoverable) => (now, false, 0),
                }
            }
            None => (settings.engine.position(app, &topic), false, 0),
        };
        let topic = registry.hub.topic_name(&topic);
        let member = engine::Member {
            id: registry.hub.member_id(id),
            node: settings.engine.node().clone(),
            connection: id,
            info: Arc::from(options.info),
        };
        settings.engine.presence_add(app, &topic, member.clone());
        if registry.hub.add(topic.clone(), id) {
            registry.hub.queue(PresenceEvent::Join { topic, member });
        }
        Ok(Subscription {
            position: position(now),
            recovered,
            replayed,
        })
    }

    fn unsubscribe(&mut self, connection: u64, topic: String) -> bool {
        let id = ConnectionId(connection);
        let hub = &mut self.connections.hub;
        if !hub.remove(&topic, id) {
            return false;
        }
        let settings = hub.settings.clone();
        let member_id = hub.member_id(id);
        if let Some(member) = settings
            .engine
            .presence_remove(&settings.app, &topic, &member_id)
        {
            hub.queue(PresenceEvent::Leave {
                topic: Arc::from(topic),
                member,
            });
        }
        true
    }

    fn publish(&mut self, topic: String, message: Message) -> Result<u32, TopicError> {
        self.check_topic(&topic)?;
        // Encoded once for every subscriber (and kept so in history, so a
        // replay reuses the frames), not once per connection.
        let message = super::connections::outbound(message).into_shared();
        let registry = &mut self.connections;
        let settings = registry.hub.settings.clone();
        let policy = settings.policy_for(&topic);
        settings
            .engine
            .publish(&settings.app, &topic, &message, policy);
        let subscribers: Vec<ConnectionId> = registry.hub.subscribers(&topic).collect();
        let mut queued = 0u32;
        for id in subscribers {
            if registry.push(id, message.clone()).is_ok() {
                queued = queued.saturating_add(1);
            }
        }
        Ok(queued)
    }

    fn members(&mut self, topic: String) -> Vec<Member> {
        let settings = &self.connections.hub.settings;
        let node = settings.engine.node();
        settings
            .engine
            .presence(&settings.app, &topic)
            .into_iter()
            .map(|member| Member {
                id: member.id.to_string(),
                connection: (member.node == *node).then_some(member.connection.0),
                info: member.info.to_vec(),
            })
            .collect()
    }

    fn history(&mut self, topic: String, limit: u32) -> Result<HistoryPage, TopicError> {
        self.check_topic(&topic)?;
        let settings = &self.connections.hub.settings;
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let (now, latest) = settings.engine.latest(&settings.app, &topic, limit);
        Ok(HistoryPage {
            publications: latest
                .iter()
                .map(|publication| Publication {
                    offset: publication.offset,
                    message: message(&publication.message),
                })
                .collect(),
            position: position(now),
        })
    }

    fn subscriptions(&mut self, connection: u64) -> Vec<String> {
        self.connections
            .hub
            .topics_of(ConnectionId(connection))
            .iter()
            .map(|topic| topic.to_string())
            .collect()
    }
}
