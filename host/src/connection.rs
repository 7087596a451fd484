//! One WebSocket connection after its upgrade: one tokio task that reads
//! frames, hands whole messages to the app, writes the connection's outbox,
//! and runs the closing handshake.
//!
//! The frame layer (masking, fragmentation, control frames, size limits,
//! UTF-8) is yawc's; this task decides what a connection's end means for the
//! app. Whatever ends it (the client, the app, the host, a network error or a
//! protocol error), the task reports exactly one `Close` event to the app,
//! which is what makes `on-close` exactly-once.
//!
//! Two client limits live here because only this task sees every frame: a
//! client silent for `idle_timeout` is pinged at half of it and closed
//! (1001) at the end of it, and one sending more than
//! `max_messages_per_second` is closed with 1008.

use std::future::poll_fn;
use std::time::Duration;

use tokio::time::Instant;

use futures::{SinkExt as _, StreamExt as _};
use tokio_util::sync::CancellationToken;
use yawc::close::CloseCode;
use yawc::{Frame, OpCode, WebSocket, WebSocketError};

use crate::admission::Admission;
use crate::app::{AppEvent, AppHandle, TryPost};
use crate::guest::Message;
use crate::outbox::{CloseRequest, ConnectionId, OutboundMessage, OutboxReceiver, Outgoing};
use crate::strict::{ClientStream, Verdict};

/// RFC 6455 7.1.5: the code reported when a close frame carried no code.
const NO_STATUS_RECEIVED: u16 = 1005;
/// RFC 6455 7.1.5: the code reported when the connection dropped without a
/// close frame.
const ABNORMAL_CLOSURE: u16 = 1006;
/// Sent to every client when the host shuts down, or when it went silent.
const GOING_AWAY: u16 = 1001;
/// Sent to a client that breaks the message rate limit.
const POLICY_VIOLATION: u16 = 1008;

/// Per-connection behaviour that comes from the config.
#[derive(Debug, Clone)]
pub struct ConnectionSettings {
    /// How long to wait for the client's close frame after sending ours.
    pub close_timeout: Duration,
    /// How long a client may send nothing before it is pinged (at half)
    /// and then closed.
    pub idle_timeout: Duration,
    /// Data messages per second, as a token bucket holding one second's worth.
    pub max_messages_per_second: u32,
}

/// What the handshake gave a connection its app accepted.
pub struct Accepted {
    pub connection: ConnectionId,
    pub app: AppHandle,
    /// Where the app's messages and close requests for it arrive.
    pub outbox: OutboxReceiver,
    /// Counts it against the host's caps until it is gone.
    pub admission: Admission,
}

/// How a connection ended, as the app will hear it in `on-close`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Ending {
    code: u16,
    reason: String,
}

/// Serve one upgraded connection until it ends, then tell the app.
///
/// Not an `async fn`: its arguments would be kept in the future beside the
/// `Session` made of them, twice the size for the connection's whole life.
/// Here the future holds the session alone (this future is most of what an
/// idle connection costs).
pub fn serve(
    websocket: WebSocket<ClientStream>,
    verdict: Verdict,
    accepted: Accepted,
    shutdown: CancellationToken,
    settings: ConnectionSettings,
) -> impl Future<Output = ()> + Send {
    let Accepted {
        connection,
        app,
        outbox,
        admission,
    } = accepted;
    let mut session = Session {
        _admission: admission,
        websocket,
        connection,
        app,
        outbox,
        last_heard: Instant::now(),
        pinged: false,
        rate: RateLimit::new(settings.max_messages_per_second),
        settings,
        verdict,
    };
    async move {
        let ending = session.run(&shutdown).await;
        let app = &session.app;
        tracing::debug!(%connection, app = &**app.name(), code = ending.code, "connection closed");
        report_close(app, connection, ending.code, ending.reason).await;
    }
}

/// Tell the app a connection it accepted is gone. Used also when an accepted
/// connection never completed its upgrade.
pub async fn report_close(app: &AppHandle, connection: ConnectionId, code: u16, reason: String) {
    let event = AppEvent::Close {
        connection,
        code,
        reason,
    };
    if app.post(event).await.is_err() {
        tracing::debug!(%connection, "app already stopped; on-close not delivered");
    }
}

struct Session {
    /// Counts this connection against the host's caps until it is gone.
    _admission: Admission,
    websocket: WebSocket<ClientStream>,
    connection: ConnectionId,
    app: AppHandle,
    outbox: OutboxReceiver,
    settings: ConnectionSettings,
    /// When the client last sent a frame, any frame.
    last_heard: Instant,
    /// Whether it was pinged since.
    pinged: bool,
    rate: RateLimit,
    /// What the strict reader under yawc found wrong, if anything.
    verdict: Verdict,
}

/// What woke the connection task.
enum Wake {
    Frame(Result<Frame, WebSocketError>),
    Outgoing(Outgoing),
    Shutdown,
    /// Time to ping a quiet client, or to give up on a silent one.
    Idle,
}

/// A token bucket: `per_second` tokens a second, holding at most that many,
/// one per data message.
struct RateLimit {
    per_second: f64,
    tokens: f64,
    updated: Instant,
}

impl RateLimit {
    fn new(per_second: u32) -> Self {
        let per_second = f64::from(per_second.max(1));
        RateLimit {
            per_second,
            tokens: per_second,
            updated: Instant::now(),
        }
    }

    /// Take a token for one message; `false` when there is none.
    fn take(&mut self) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.updated).as_secs_f64() * self.per_second;
        self.tokens = (self.tokens + refill).min(self.per_second);
        self.updated = now;
        if self.tokens < 1.0 {
            return false;
        }
        self.tokens -= 1.0;
        true
    }
}

impl Session {
    async fn run(&mut self, shutdown: &CancellationToken) -> Ending {
        // One timer for the whole connection, not one per message: a frame
        // only moves `last_heard`, and when the timer fires early for that
        // reason it is set again for the new deadline. Likewise one wait for
        // shutdown, registered once rather than on every wake-up.
        let idle_timer = tokio::time::sleep_until(self.next_idle_check());
        let waiting = shutdown.cancelled();
        tokio::pin!(idle_timer, waiting);
        let mut shutting_down = crate::shutdown::Cancelled::new(shutdown, waiting);
        loop {
            // Every branch is cancel-safe: yawc keeps partial frames inside
            // the WebSocket, and the outbox keeps what is not taken. Polled
            // in this order (`biased`): what is queued for the client goes
            // out before more is read from it, and a write takes everything
            // queued, so reading is never held back for long.
            let wake = tokio::select! {
                biased;
                () = &mut shutting_down => Wake::Shutdown,
                outgoing = poll_fn(|cx| self.outbox.poll_next(cx)) => Wake::Outgoing(outgoing),
                frame = self.websocket.next_frame() => Wake::Frame(frame),
                () = &mut idle_timer => Wake::Idle,
            };
            match wake {
                Wake::Frame(Ok(frame)) => {
                    self.last_heard = Instant::now();
                    self.pinged = false;
                    if let Some(ending) = self.on_frame(frame).await {
                        return ending;
                    }
                }
                Wake::Idle => {
                    if Instant::now() >= self.next_idle_check()
                        && let Some(ending) = Box::pin(self.on_idle()).await
                    {
                        return ending;
                    }
                    idle_timer.as_mut().reset(self.next_idle_check());
                }
                Wake::Frame(Err(error)) => return Box::pin(self.on_read_error(error)).await,
                Wake::Outgoing(Outgoing::Message(message)) => {
                    if let Err(error) = self.write(message).await {
                        return abnormal(&error);
                    }
                }
                Wake::Outgoing(Outgoing::Close(request)) => return self.close(request).await,
                // The app dropped every outbox handle: it has stopped.
                Wake::Outgoing(Outgoing::AppGone) => {
                    return self
                        .close(CloseRequest {
                            code: GOING_AWAY,
                            reason: "app stopped".into(),
                        })
                        .await;
                }
                Wake::Shutdown => {
                    return self
                        .close(CloseRequest {
                            code: GOING_AWAY,
                            reason: "server shutting down".into(),
                        })
                        .await;
                }
            }
        }
    }

    /// When to look at the client's silence next: half the idle timeout
    /// after it was last heard (ping), then the full timeout (give up).
    fn next_idle_check(&self) -> Instant {
        let idle = self.settings.idle_timeout;
        let wait = if self.pinged { idle } else { idle / 2 };
        // A timeout too long to add to a clock reading means "never".
        const NEVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
        self.last_heard
            .checked_add(wait)
            .unwrap_or_else(|| self.last_heard + NEVER)
    }

    /// The client has been quiet: ping it once, and close it if it stays
    /// silent until the idle timeout.
    async fn on_idle(&mut self) -> Option<Ending> {
        if self.last_heard.elapsed() >= self.settings.idle_timeout {
            tracing::info!(connection = %self.connection, "closed: idle timeout");
            return Some(
                self.close(CloseRequest {
                    code: GOING_AWAY,
                    reason: "idle timeout".into(),
                })
                .await,
            );
        }
        if !self.pinged {
            self.pinged = true;
            if let Err(error) = self.websocket.send(Frame::ping(Vec::new())).await {
                return Some(abnormal(&error));
            }
        }
        None
    }

    /// Handle one frame from the client; `Some` when the connection is done.
    async fn on_frame(&mut self, frame: Frame) -> Option<Ending> {
        if matches!(frame.opcode(), OpCode::Text | OpCode::Binary) && !self.rate.take() {
            tracing::info!(connection = %self.connection, "closed: over the message rate limit");
            return Some(
                self.close(CloseRequest {
                    code: POLICY_VIOLATION,
                    reason: "message rate limit".into(),
                })
                .await,
            );
        }
        let message = match frame.opcode() {
            OpCode::Text => {
                // yawc validated the whole message as UTF-8 already.
                match String::from_utf8(Vec::from(frame.into_payload())) {
                    Ok(text) => Message::Text(text),
                    Err(_) => return Some(self.fail(CloseCode::Invalid, "invalid utf-8").await),
                }
            }
            OpCode::Binary => Message::Binary(Vec::from(frame.into_payload())),
            OpCode::Close => return Some(Box::pin(self.on_client_close(&frame)).await),
            // yawc answers pings itself and pongs need no answer.
            OpCode::Ping | OpCode::Pong | OpCode::Continuation => return None,
        };
        let event = AppEvent::Message {
            connection: self.connection,
            message,
        };
        let posted = match self.app.try_post(event) {
            Ok(()) => Ok(()),
            // The app is behind: wait for room, which is what stops this
            // client from reading ahead of it. Boxed, so that an idle
            // connection's task does not carry this rare wait's state.
            Err(TryPost::Full(event)) => Box::pin(self.app.post(*event)).await,
            Err(TryPost::Stopped(stopped)) => Err(stopped),
        };
        if posted.is_err() {
            return Some(
                self.close(CloseRequest {
                    code: GOING_AWAY,
                    reason: "app stopped".into(),
                })
                .await,
            );
        }
        None
    }

    /// The client started the closing handshake: yawc has queued the echo of
    /// its close frame, so keep polling until it is written and the stream
    /// ends.
    async fn on_client_close(&mut self, frame: &Frame) -> Ending {
        let code = frame
            .close_code()
            .map(u16::from)
            .unwrap_or(NO_STATUS_RECEIVED);
        let reason = frame
            .close_reason()
            .ok()
            .flatten()
            .unwrap_or_default()
            .to_string();
        self.drain_until_closed().await;
        Ending { code, reason }
    }

    async fn on_read_error(&mut self, error: WebSocketError) -> Ending {
        // A rule the strict reader caught before yawc saw the bytes; for
        // yawc the stream just ended.
        if let Some(violation) = self.verdict.violation() {
            let code = CloseCode::from(violation.close_code());
            return self.fail(code, &violation.to_string()).await;
        }
        match error {
            // yawc's reassembly layer reports these without queueing a close
            // frame (its framing layer queues one for everything else).
            WebSocketError::InvalidUTF8 => self.fail(CloseCode::Invalid, "invalid utf-8").await,
            WebSocketError::InvalidFragment => {
                self.fail(CloseCode::Protocol, "invalid fragmentation")
                    .await
            }
            WebSocketError::FragmentTimeout => {
                self.fail(CloseCode::Protocol, "fragmented message timed out")
                    .await
            }
            WebSocketError::ConnectionClosed | WebSocketError::IoError(_) => abnormal(&error),
            error => {
                // yawc has queued a close frame for this protocol error;
                // flushing sends it.
                let code = protocol_error_code(&error);
                tracing::debug!(connection = %self.connection, "protocol error: {error}");
                let _ = self.websocket.flush().await;
                self.drain_until_closed().await;
                Ending {
                    code,
                    reason: error.to_string(),
                }
            }
        }
    }

    /// Fail the connection with a close frame we send ourselves.
    async fn fail(&mut self, code: CloseCode, reason: &str) -> Ending {
        Box::pin(self.fail_now(code, reason)).await
    }

    async fn fail_now(&mut self, code: CloseCode, reason: &str) -> Ending {
        let _ = self.websocket.send(Frame::close(code, reason)).await;
        self.drain_until_closed().await;
        Ending {
            code: code.into(),
            reason: reason.to_string(),
        }
    }

    /// Write one message, and whatever else is queued behind it, with one
    /// flush: under load many replies go out in one write.
    async fn write(&mut self, first: OutboundMessage) -> Result<(), WebSocketError> {
        self.websocket.feed(frame_for(first)).await?;
        while let Some(next) = self.outbox.try_recv() {
            self.websocket.feed(frame_for(next)).await?;
        }
        self.websocket.flush().await
    }

    /// The server side starts the closing handshake: messages queued before
    /// the close request go out first, then the close frame; then we wait a
    /// bounded time for the client's reply.
    ///
    /// Boxed, like every path that ends a connection: each runs once, and
    /// its future (a close frame, a timeout) would otherwise sit in every
    /// connection's task for its whole life, idle or not.
    async fn close(&mut self, request: CloseRequest) -> Ending {
        Box::pin(self.close_now(request)).await
    }

    async fn close_now(&mut self, request: CloseRequest) -> Ending {
        let ending = Ending {
            code: request.code,
            reason: request.reason,
        };
        while let Some(message) = self.outbox.try_recv() {
            if self.websocket.feed(frame_for(message)).await.is_err() {
                return ending;
            }
        }
        let close = Frame::close(CloseCode::from(ending.code), ending.reason.as_bytes());
        if self.websocket.send(close).await.is_err() {
            return ending;
        }
        self.drain_until_closed().await;
        ending
    }

    /// Read and discard until the client closes its side or the close timeout
    /// passes, so the closing handshake completes before the TCP close.
    async fn drain_until_closed(&mut self) {
        let timeout = self.settings.close_timeout;
        let drain = async {
            while let Some(frame) = self.websocket.next().await {
                if frame.opcode() == OpCode::Close {
                    // Keep polling once more so yawc flushes anything queued.
                    continue;
                }
            }
        };
        if tokio::time::timeout(timeout, drain).await.is_err() {
            tracing::debug!(connection = %self.connection, "client did not finish the closing handshake in time");
        }
    }
}

fn frame_for(message: OutboundMessage) -> Frame {
    match message {
        OutboundMessage::Text(bytes) => Frame::text(bytes),
        OutboundMessage::Binary(bytes) => Frame::binary(bytes),
    }
}

fn abnormal(error: &WebSocketError) -> Ending {
    Ending {
        code: ABNORMAL_CLOSURE,
        reason: error.to_string(),
    }
}

/// The close code yawc sends for a read error (mirrors its own mapping, so
/// `on-close` reports what the client was actually sent).
fn protocol_error_code(error: &WebSocketError) -> u16 {
    let code = match error {
        WebSocketError::FrameTooLarge => CloseCode::Size,
        WebSocketError::InvalidUTF8 => CloseCode::Invalid,
        WebSocketError::InvalidOpCode(_) => CloseCode::Unsupported,
        error if error.is_protocol_error() => CloseCode::Protocol,
        _ => CloseCode::Error,
    };
    code.into()
}
