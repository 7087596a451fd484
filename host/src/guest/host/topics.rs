//! The host side of `topics`: subscribe, unsubscribe, publish, presence
//! and history. Subscriptions live in the registry's hub (this host's
//! subscribers); positions, history and presence in the engine, which may
//! span hosts. A publish is one call: the host queues the same bytes to
//! every subscriber's outbox, and a subscriber too slow to take them is
//! closed (1008) without holding up the others.

use std::sync::Arc;

use super::super::GuestState;
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
        registry.hub.join(&topic, id, options.info);
        Ok(Subscription {
            position: position(now),
            recovered,
            replayed,
        })
    }

    fn unsubscribe(&mut self, connection: u64, topic: String) -> bool {
        self.connections.hub.leave(&topic, ConnectionId(connection))
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
        let hub = &self.connections.hub;
        hub.settings
            .engine
            .presence(&hub.settings.app, &topic)
            .iter()
            .map(|member| hub.as_seen_here(member))
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
