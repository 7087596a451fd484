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
//!
//! It is a `VecDeque` under a mutex with the connection task's waker, not a
//! channel: an idle connection's outbox then holds no buffer at all (a tokio
//! channel allocates a block of 32 slots up front, 1.3 KiB per connection,
//! which at 10 000 idle connections was a third of what each cost), and the
//! task waits on one thing for both messages and a close request. The lock is
//! held for a push or a pop, never across a wait.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;

use crate::fanout::SharedMessage;

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

/// A whole message on its way to a client.
#[derive(Debug, Clone)]
pub enum OutboundMessage {
    Text(Bytes),
    Binary(Bytes),
    /// One message for many connections: every recipient's outbox holds it
    /// by reference, and its frame is encoded once per distinct encoding,
    /// not once per connection (`fanout`). Made by `into_shared`.
    Shared(Arc<SharedMessage>),
}

impl OutboundMessage {
    /// This message, to be pushed to many outboxes: push a clone of the
    /// result to each (a reference count, not a copy). Its wire frame is
    /// made once for all recipients that agreed on the same encoding, and
    /// written by each without a copy of its payload.
    pub fn into_shared(self) -> OutboundMessage {
        match self {
            OutboundMessage::Shared(_) => self,
            message => OutboundMessage::Shared(SharedMessage::new(message)),
        }
    }

    /// What one queued message costs the host, as the outbox's limit counts
    /// it: its payload and its own entry in the queue. Counting the payload
    /// alone would let a flood of tiny messages hold many times the limit.
    fn queued_size(&self) -> usize {
        self.len() + std::mem::size_of::<OutboundMessage>()
    }

    /// The payload, however the message is held.
    pub fn payload(&self) -> &Bytes {
        match self {
            OutboundMessage::Text(bytes) | OutboundMessage::Binary(bytes) => bytes,
            OutboundMessage::Shared(shared) => shared.message().payload(),
        }
    }

    pub fn is_text(&self) -> bool {
        match self {
            OutboundMessage::Text(_) => true,
            OutboundMessage::Binary(_) => false,
            OutboundMessage::Shared(shared) => shared.message().is_text(),
        }
    }

    /// Payload bytes. A shared message counts whole in each outbox holding
    /// it: a client that stops reading keeps it alive, as it would a copy.
    pub fn len(&self) -> usize {
        self.payload().len()
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

/// What the connection task learns from its outbox, in this order of
/// priority: queued messages first, then a close request, then that the app
/// is gone. The messages stay queued until the task takes them
/// (`try_recv`) as fast as the socket takes their bytes; whatever ends the
/// connection, the closing path writes what is still queued before the close
/// frame (within the close timeout).
#[derive(Debug, PartialEq, Eq)]
pub enum Outgoing {
    /// Messages are waiting to be written.
    Messages,
    /// The app (or the host on its behalf) asked to close.
    Close(CloseRequest),
    /// Every `Outbox` is gone: the app stopped without a word.
    AppGone,
}

struct Shared {
    queue: Mutex<Queue>,
    limit_bytes: usize,
}

struct Queue {
    messages: VecDeque<OutboundMessage>,
    queued_bytes: usize,
    /// The first close request; later ones are ignored.
    close: Option<CloseRequest>,
    /// The connection task, when it waits for something to write.
    waker: Option<Waker>,
    /// How many `Outbox` handles exist; none left means the app is gone.
    senders: usize,
    /// The connection task has ended; pushes fail from now on.
    receiver_gone: bool,
}

/// A queue that grew for a burst gives its buffer back once drained past
/// this many slots; below it the buffer is kept, since a connection that
/// got one message will likely get another.
const KEPT_SLOTS: usize = 8;

/// The app's end: cheap to clone, never blocks.
pub struct Outbox {
    shared: Arc<Shared>,
}

/// The connection task's end.
pub struct OutboxReceiver {
    shared: Arc<Shared>,
}

/// A new outbox that holds at most `limit_bytes` of queued payload.
pub fn outbox(limit_bytes: usize) -> (Outbox, OutboxReceiver) {
    let shared = Arc::new(Shared {
        queue: Mutex::new(Queue {
            messages: VecDeque::new(),
            queued_bytes: 0,
            close: None,
            waker: None,
            senders: 1,
            receiver_gone: false,
        }),
        limit_bytes,
    });
    (
        Outbox {
            shared: shared.clone(),
        },
        OutboxReceiver { shared },
    )
}

impl Shared {
    /// The queue, even if a thread panicked while holding it: every change
    /// to it is a single push or pop, so it is never left half-done.
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Outbox {
    /// Queue a message. An empty outbox always takes one message, however
    /// large, so that the byte limit never makes a single message unsendable.
    pub fn push(&self, message: OutboundMessage) -> Result<(), PushError> {
        let len = message.queued_size();
        let mut queue = self.shared.lock();
        if queue.receiver_gone {
            return Err(PushError::Closed);
        }
        if queue.queued_bytes > 0 && queue.queued_bytes + len > self.shared.limit_bytes {
            return Err(PushError::OutboxFull);
        }
        queue.queued_bytes += len;
        queue.messages.push_back(message);
        let waker = queue.waker.take();
        drop(queue);
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }

    /// Ask the connection to close. The first request wins; messages queued
    /// before it are still written before the close frame.
    pub fn close(&self, request: CloseRequest) {
        self.request_close(request, false);
    }

    /// Close a connection whose client is not keeping up: what is queued is
    /// dropped now (its memory freed at once), so that the close frame is
    /// the next thing the client gets.
    pub fn abandon(&self, request: CloseRequest) {
        self.request_close(request, true);
    }

    fn request_close(&self, request: CloseRequest, drop_queued: bool) {
        let mut queue = self.shared.lock();
        if drop_queued {
            queue.messages = VecDeque::new();
            queue.queued_bytes = 0;
        }
        if queue.close.is_some() {
            return;
        }
        queue.close = Some(request);
        let waker = queue.waker.take();
        drop(queue);
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl Clone for Outbox {
    fn clone(&self) -> Self {
        self.shared.lock().senders += 1;
        Outbox {
            shared: self.shared.clone(),
        }
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        let mut queue = self.shared.lock();
        queue.senders -= 1;
        let waker = if queue.senders == 0 {
            queue.waker.take()
        } else {
            None
        };
        drop(queue);
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl OutboxReceiver {
    /// The next thing to do, waiting until there is one. While the task is
    /// still writing earlier messages (`messages_wanted` false), queued
    /// messages do not count: only a close request or the app's end wakes
    /// it, so a client that stops reading cannot hold off its close.
    pub fn poll_next(&self, cx: &mut Context<'_>, messages_wanted: bool) -> Poll<Outgoing> {
        let mut queue = self.shared.lock();
        if let Some(next) = queue.next(messages_wanted) {
            return Poll::Ready(next);
        }
        if !queue
            .waker
            .as_ref()
            .is_some_and(|waker| waker.will_wake(cx.waker()))
        {
            queue.waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }

    /// The next queued message if one is ready now; a close request or a
    /// gone app stay for `poll_next` to report.
    pub fn try_recv(&self) -> Option<OutboundMessage> {
        self.shared.lock().pop()
    }
}

impl Queue {
    fn next(&self, messages_wanted: bool) -> Option<Outgoing> {
        if messages_wanted && !self.messages.is_empty() {
            return Some(Outgoing::Messages);
        }
        if let Some(request) = &self.close {
            return Some(Outgoing::Close(request.clone()));
        }
        (self.senders == 0).then_some(Outgoing::AppGone)
    }

    fn pop(&mut self) -> Option<OutboundMessage> {
        let message = self.messages.pop_front()?;
        self.queued_bytes -= message.queued_size();
        if self.messages.is_empty() && self.messages.capacity() > KEPT_SLOTS {
            self.messages = VecDeque::new();
        }
        Some(message)
    }
}

impl Drop for OutboxReceiver {
    fn drop(&mut self) {
        let mut queue = self.shared.lock();
        queue.receiver_gone = true;
        // Nothing queued will be written: give the memory back now.
        queue.messages = VecDeque::new();
        queue.queued_bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &'static str) -> OutboundMessage {
        OutboundMessage::Text(Bytes::from_static(s.as_bytes()))
    }

    fn next(receiver: &OutboxReceiver) -> Option<Outgoing> {
        next_while(receiver, true)
    }

    fn next_while(receiver: &OutboxReceiver, messages_wanted: bool) -> Option<Outgoing> {
        let mut cx = Context::from_waker(Waker::noop());
        match receiver.poll_next(&mut cx, messages_wanted) {
            Poll::Ready(next) => Some(next),
            Poll::Pending => None,
        }
    }

    #[test]
    fn messages_queued_before_a_close_request_come_first() {
        let (outbox, receiver) = outbox(1024);
        outbox.push(text("one")).unwrap();
        outbox.close(CloseRequest {
            code: 1000,
            reason: "bye".into(),
        });
        outbox.close(CloseRequest {
            code: 4000,
            reason: "too late".into(),
        });
        assert_eq!(next(&receiver), Some(Outgoing::Messages));
        assert!(receiver.try_recv().is_some());
        match next(&receiver) {
            Some(Outgoing::Close(request)) => assert_eq!(request.code, 1000),
            other => panic!("expected the first close request, got {other:?}"),
        }
    }

    #[test]
    fn a_close_request_overtakes_messages_while_the_task_is_writing() {
        let (outbox, receiver) = outbox(1024);
        outbox.push(text("one")).unwrap();
        assert_eq!(next_while(&receiver, false), None);
        outbox.close(CloseRequest {
            code: 1000,
            reason: "bye".into(),
        });
        assert!(matches!(
            next_while(&receiver, false),
            Some(Outgoing::Close(_))
        ));
        // The message is still there for the closing path to write first.
        assert!(receiver.try_recv().is_some());
    }

    #[test]
    fn abandoning_a_slow_connection_frees_its_queue_at_once() {
        let (outbox, receiver) = outbox(1024);
        outbox.push(text("backlog")).unwrap();
        outbox.abandon(CloseRequest {
            code: 1008,
            reason: "too slow".into(),
        });
        assert_eq!(outbox.shared.lock().queued_bytes, 0);
        assert!(receiver.try_recv().is_none());
        assert!(matches!(next(&receiver), Some(Outgoing::Close(_))));
    }

    #[test]
    fn the_byte_limit_refuses_a_push_but_never_the_first() {
        let (outbox, receiver) = outbox(4);
        outbox.push(text("longer than four")).unwrap();
        assert_eq!(outbox.push(text("x")), Err(PushError::OutboxFull));
        assert!(receiver.try_recv().is_some());
        outbox.push(text("abcd")).unwrap();
    }

    #[test]
    fn tiny_messages_count_their_queue_entries_against_the_limit() {
        let (outbox, _receiver) = outbox(4096);
        let mut taken = 0usize;
        while outbox.push(text("x")).is_ok() {
            taken += 1;
            assert!(taken < 4096, "a 4 KiB outbox took 4096 one-byte messages");
        }
        let entry = std::mem::size_of::<OutboundMessage>() + 1;
        assert_eq!(taken, 4096 / entry);
    }

    #[test]
    fn the_last_outbox_dropped_means_the_app_is_gone() {
        let (outbox, receiver) = outbox(1024);
        let copy = outbox.clone();
        drop(outbox);
        assert!(next(&receiver).is_none());
        drop(copy);
        assert!(matches!(next(&receiver), Some(Outgoing::AppGone)));
    }

    #[test]
    fn pushes_fail_once_the_connection_is_gone() {
        let (outbox, receiver) = outbox(1024);
        drop(receiver);
        assert_eq!(outbox.push(text("late")), Err(PushError::Closed));
    }
}
