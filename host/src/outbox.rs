//! The queue between an app and one of its connections.
//!
//! Host functions called by a guest (`send`, `broadcast`, `close`) must never
//! wait for the network, so each pushes into the target connection's outbox
//! and returns at once; the connection task drains the outbox onto the socket.
//! The outbox is bounded in bytes, not in messages, because one 1 MiB message
//! costs what a thousand small ones do: a client that stops reading fills its
//! outbox, further pushes fail with `OutboxFull`, and the host closes that one
//! connection instead of growing memory or slowing the app.
//!
//! A close request travels beside the queue rather than through it, so that a
//! connection whose queue is full can still be told to close.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::{Notify, mpsc};

/// Names one WebSocket connection for the lifetime of the host process.
///
/// Ids come from one process-wide counter and are never reused, so a guest
/// holding a stale id can only ever name a connection that is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub u64);

impl ConnectionId {
    pub fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        ConnectionId(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

impl std::fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// A whole message on its way to a client. Payloads are `Bytes` so that a
/// broadcast shares one buffer between every recipient.
#[derive(Debug, Clone)]
pub enum OutboundMessage {
    Text(Bytes),
    Binary(Bytes),
}

impl OutboundMessage {
    pub fn len(&self) -> usize {
        match self {
            OutboundMessage::Text(bytes) | OutboundMessage::Binary(bytes) => bytes.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A request to close a connection with a code and reason (RFC 6455 7.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseRequest {
    pub code: u16,
    pub reason: String,
}

/// Why a push into an outbox did nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    #[error("the outbox is over its byte limit")]
    OutboxFull,
    #[error("the connection is closed")]
    Closed,
}

struct Shared {
    queued_bytes: AtomicUsize,
    limit_bytes: usize,
    close: Mutex<Option<CloseRequest>>,
    close_requested: Notify,
}

/// The app's end: cheap to clone, never blocks.
#[derive(Clone)]
pub struct Outbox {
    queue: mpsc::UnboundedSender<OutboundMessage>,
    shared: Arc<Shared>,
}

/// The connection task's end.
pub struct OutboxReceiver {
    queue: mpsc::UnboundedReceiver<OutboundMessage>,
    shared: Arc<Shared>,
}

/// A new outbox that holds at most `limit_bytes` of queued payload.
pub fn outbox(limit_bytes: usize) -> (Outbox, OutboxReceiver) {
    let (sender, receiver) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        queued_bytes: AtomicUsize::new(0),
        limit_bytes,
        close: Mutex::new(None),
        close_requested: Notify::new(),
    });
    (
        Outbox {
            queue: sender,
            shared: shared.clone(),
        },
        OutboxReceiver {
            queue: receiver,
            shared,
        },
    )
}

impl Outbox {
    /// Queue a message. An empty outbox always takes one message, however
    /// large, so that the byte limit never makes a single message unsendable.
    pub fn push(&self, message: OutboundMessage) -> Result<(), PushError> {
        let len = message.len();
        let before = self.shared.queued_bytes.fetch_add(len, Ordering::AcqRel);
        if before > 0 && before + len > self.shared.limit_bytes {
            self.shared.queued_bytes.fetch_sub(len, Ordering::AcqRel);
            return Err(PushError::OutboxFull);
        }
        self.queue.send(message).map_err(|_| {
            self.shared.queued_bytes.fetch_sub(len, Ordering::AcqRel);
            PushError::Closed
        })
    }

    /// Ask the connection to close. The first request wins; messages queued
    /// before it are still written before the close frame.
    pub fn close(&self, request: CloseRequest) {
        let mut slot = self
            .shared
            .close
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if slot.is_none() {
            *slot = Some(request);
            self.shared.close_requested.notify_waiters();
        }
    }
}

impl OutboxReceiver {
    /// The next queued message, waiting for one.
    pub async fn recv(&mut self) -> Option<OutboundMessage> {
        let message = self.queue.recv().await?;
        self.shared
            .queued_bytes
            .fetch_sub(message.len(), Ordering::AcqRel);
        Some(message)
    }

    /// The next queued message if one is ready now.
    pub fn try_recv(&mut self) -> Option<OutboundMessage> {
        let message = self.queue.try_recv().ok()?;
        self.shared
            .queued_bytes
            .fetch_sub(message.len(), Ordering::AcqRel);
        Some(message)
    }

    /// A handle to wait on for a close request, usable while the receiver
    /// itself is borrowed to receive.
    pub fn close_signal(&self) -> CloseSignal {
        CloseSignal {
            shared: self.shared.clone(),
        }
    }
}

/// Resolves when someone asks the connection to close.
pub struct CloseSignal {
    shared: Arc<Shared>,
}

impl CloseSignal {
    /// Waits until someone asks this connection to close, and says how. The
    /// request stays recorded, so a wait cancelled by `select!` loses nothing.
    pub async fn wait(&self) -> CloseRequest {
        loop {
            let notified = self.shared.close_requested.notified();
            if let Some(request) = self.current() {
                return request;
            }
            notified.await;
        }
    }

    fn current(&self) -> Option<CloseRequest> {
        self.shared
            .close
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}
