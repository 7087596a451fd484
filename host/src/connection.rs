//! One WebSocket connection after its upgrade: one tokio task that reads
//! frames, hands whole messages to the app, writes the connection's outbox,
//! and runs the closing handshake.
//!
//! The frame layer (masking, fragmentation, control frames, size limits,
//! UTF-8) is yawc's, with the framing rules checked first by `strict`; this
//! task decides what a connection's end means for the app. (A broadcast's
//! frame comes encoded already, once for all its recipients, and yawc
//! writes it as it is: `fanout`.) Whatever ends the connection (the
//! client, the app, the host, a network error or a protocol error), the
//! task reports exactly one `Close` event to the app, which is what makes
//! `on-close` exactly-once.
//!
//! Nothing here waits on a client without a bound:
//!
//! - A write never holds the task up. While the socket takes no more, the
//!   task still watches for a close request, shutdown and its timers, and
//!   messages stay in the outbox, where they count against
//!   `max_outbox_bytes`. It reads nothing more from the client meanwhile:
//!   backpressure both ways, and a client that sends pings without reading
//!   cannot make the host pile up pongs for it.
//! - A client that takes in nothing for `idle_timeout` while data waits for
//!   it is closed (1008), as is one whose outbox fills up.
//! - Every close the host starts (the app's, a full outbox, the idle
//!   timeout, shutdown, a protocol error) has one deadline, `close_timeout`,
//!   for writing what is queued, the close frame, and hearing the client's
//!   reply. Past it the TCP connection is dropped, and the app hears 1006
//!   if the close frame never went out.
//!
//! The host sends exactly one close frame per connection: either its own,
//! after which it reads the client's reply without answering it (yawc
//! answers every close frame it reads, and a browser fails a connection
//! that gets a second one), or yawc's answer to a close the client started.
//!
//! Two client limits live here because only this task sees every frame: a
//! client silent for `idle_timeout` is pinged at half of it and closed
//! (1001) at the end of it, and one sending more than
//! `max_messages_per_second` is closed with 1008.

use std::future::poll_fn;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use futures::{SinkExt as _, StreamExt as _};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use yawc::close::CloseCode;
use yawc::{Frame, OpCode, WebSocket, WebSocketError};

use crate::admission::Admission;
use crate::app::{AppEvent, AppHandle, TryPost};
use crate::close_code;
use crate::fanout::FrameEncoding;
use crate::guest::Message;
use crate::outbox::{CloseRequest, ConnectionId, OutboundMessage, OutboxReceiver, Outgoing};
use crate::strict::{ClientStream, Verdict};

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
    /// How its data frames go on the wire (permessage-deflate or not).
    pub encoding: FrameEncoding,
}

/// How a connection ended, as the app will hear it in `on-close`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Ending {
    code: u16,
    reason: String,
}

impl From<CloseRequest> for Ending {
    fn from(request: CloseRequest) -> Self {
        Ending {
            code: request.code,
            reason: request.reason,
        }
    }
}

/// The last step of a connection, once `Session::run` knows it is over.
enum Finish {
    /// The host's close frame is out: read, without answering, until the
    /// client's close frame or the end of its stream, or the deadline.
    AwaitClientClose(Instant),
    /// yawc has queued a close frame (its answer to the client's close, or
    /// its own for a protocol error it caught): write it, by the deadline.
    FlushQueuedClose(Instant),
    /// Nothing more to say: drop the TCP connection.
    Drop,
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
        encoding,
    } = accepted;
    let mut session = Session {
        admission,
        websocket,
        connection,
        app,
        outbox,
        encoding,
        last_heard: Instant::now(),
        pinged: false,
        write_waiting_since: None,
        rate: RateLimit::new(settings.max_messages_per_second),
        settings,
        verdict,
    };
    async move {
        let (ending, finish) = session.run(&shutdown).await;
        let Session {
            websocket,
            app,
            outbox,
            admission,
            ..
        } = session;
        // Boxed: it runs once, at the end (see `Session::close`).
        Box::pin(finish_closing(websocket, finish)).await;
        // The socket is closed: free its outbox and its place under the
        // caps before the app hears of it.
        drop(outbox);
        drop(admission);
        tracing::debug!(%connection, app = &**app.name(), code = ending.code, "connection closed");
        report_close(&app, connection, ending.code, ending.reason).await;
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

/// The end of the closing handshake, bounded by its deadline; the TCP
/// connection closes when `websocket` is dropped.
async fn finish_closing(mut websocket: WebSocket<ClientStream>, finish: Finish) {
    match finish {
        Finish::Drop => {}
        Finish::FlushQueuedClose(deadline) => {
            // yawc's read side is closed, so this reads nothing: it writes
            // the close frame yawc queued, and ends.
            let _ = tokio::time::timeout_at(deadline, websocket.next_frame()).await;
        }
        Finish::AwaitClientClose(deadline) => {
            // yawc would answer the client's close frame with a second one
            // of ours, so its framing layer alone reads on.
            // SAFETY: `split_stream` is unsafe only because the parts share
            // protocol state that two users could break; the framed stream
            // is the only part kept, and it is only read from.
            let (mut framed, _, _) = unsafe { websocket.split_stream() };
            let reply = async {
                while let Some(Ok(frame)) = framed.next().await {
                    if frame.opcode() == OpCode::Close {
                        return;
                    }
                }
            };
            if tokio::time::timeout_at(deadline, reply).await.is_err() {
                tracing::debug!("client did not finish the closing handshake in time");
            }
        }
    }
}

struct Session {
    /// Counts this connection against the host's caps until it is gone.
    admission: Admission,
    websocket: WebSocket<ClientStream>,
    connection: ConnectionId,
    app: AppHandle,
    outbox: OutboxReceiver,
    encoding: FrameEncoding,
    settings: ConnectionSettings,
    /// When the client last sent a frame, any frame.
    last_heard: Instant,
    /// Whether it was pinged since.
    pinged: bool,
    /// Since when a write has waited for the client's socket to take more;
    /// `None` while nothing waits.
    write_waiting_since: Option<Instant>,
    rate: RateLimit,
    /// What the strict reader under yawc found wrong, if anything.
    verdict: Verdict,
}

/// What woke the connection task.
enum Wake {
    Frame(Result<Frame, WebSocketError>),
    Outgoing(Outgoing),
    /// A write that waited for the socket is done, or failed.
    Written(Result<(), WebSocketError>),
    Shutdown,
    /// Time to ping a quiet client, or to give up on a silent one (or on
    /// one that does not read).
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

/// How a session ends: what the app hears, and the last step on the wire.
type Closed = (Ending, Finish);

impl Session {
    async fn run(&mut self, shutdown: &CancellationToken) -> Closed {
        // One timer for the whole connection, not one per message: a frame
        // only moves `last_heard`, and when the timer fires early for that
        // reason it is set again for the new deadline. Likewise one wait for
        // shutdown, registered once rather than on every wake-up.
        let idle_timer = tokio::time::sleep_until(self.next_idle_check());
        let waiting = shutdown.cancelled();
        tokio::pin!(idle_timer, waiting);
        let mut shutting_down = crate::shutdown::Cancelled::new(shutdown, waiting);
        loop {
            let writing = self.write_waiting_since.is_some();
            // Every branch is cancel-safe: yawc keeps partial frames inside
            // the WebSocket, and the outbox keeps what is not taken. Polled
            // in this order (`biased`): what is queued for the client goes
            // out before more is read from it, and a write takes everything
            // queued, so reading is never held back for long. While a write
            // waits for the socket, the outbox wakes the task only for a
            // close request, and the socket branch carries the write on
            // instead of reading.
            let wake = tokio::select! {
                biased;
                () = &mut shutting_down => Wake::Shutdown,
                outgoing = poll_fn(|cx| self.outbox.poll_next(cx, !writing)) => Wake::Outgoing(outgoing),
                wake = poll_fn(|cx| poll_socket(&mut self.websocket, &self.outbox, self.encoding, writing, cx)) => wake,
                () = &mut idle_timer => Wake::Idle,
            };
            match wake {
                Wake::Frame(Ok(frame)) => {
                    self.last_heard = Instant::now();
                    self.pinged = false;
                    if let Some(closed) = self.on_frame(frame).await {
                        return closed;
                    }
                }
                Wake::Idle => {
                    if Instant::now() >= self.next_idle_check()
                        && let Some(closed) = Box::pin(self.on_idle()).await
                    {
                        return closed;
                    }
                    idle_timer.as_mut().reset(self.next_idle_check());
                }
                Wake::Frame(Err(error)) => return Box::pin(self.on_read_error(error)).await,
                Wake::Outgoing(Outgoing::Messages) => {
                    if let Err(error) = self.write_queued().await {
                        return (abnormal(&error), Finish::Drop);
                    }
                }
                Wake::Written(Ok(())) => {
                    // Taking in what waited for it (the socket drained) is a
                    // sign of life too.
                    self.write_waiting_since = None;
                    self.last_heard = Instant::now();
                    self.pinged = false;
                    idle_timer.as_mut().reset(self.next_idle_check());
                }
                Wake::Written(Err(error)) => return (abnormal(&error), Finish::Drop),
                Wake::Outgoing(Outgoing::Close(request)) => return self.close(request).await,
                // The app dropped every outbox handle: it has stopped.
                Wake::Outgoing(Outgoing::AppGone) => {
                    return self.close(going_away("app stopped")).await;
                }
                Wake::Shutdown => return self.close(going_away("server shutting down")).await,
            }
        }
    }

    /// When to look at the client next: half the idle timeout after it was
    /// last heard (ping), then the full timeout (give up). While a write
    /// waits for it nothing is read, so its silence means nothing then:
    /// the idle timeout runs from when the write began to wait.
    fn next_idle_check(&self) -> Instant {
        let idle = self.settings.idle_timeout;
        match self.write_waiting_since {
            Some(since) => after(since, idle),
            None => after(self.last_heard, if self.pinged { idle } else { idle / 2 }),
        }
    }

    /// The client has been quiet, or has not read: ping it once, and close
    /// it if it stays silent until the idle timeout, or if a write has
    /// waited for it that long.
    async fn on_idle(&mut self) -> Option<Closed> {
        let idle = self.settings.idle_timeout;
        if let Some(since) = self.write_waiting_since {
            if since.elapsed() < idle {
                return None;
            }
            tracing::info!(connection = %self.connection, "closed: the client does not read");
            return Some(
                self.close(CloseRequest {
                    code: close_code::POLICY_VIOLATION,
                    reason: "client not reading".into(),
                })
                .await,
            );
        }
        if self.last_heard.elapsed() >= idle {
            tracing::info!(connection = %self.connection, "closed: idle timeout");
            return Some(self.close(going_away("idle timeout")).await);
        }
        if !self.pinged {
            self.pinged = true;
            if let Err(error) = self.queue_ping().await {
                return Some((abnormal(&error), Finish::Drop));
            }
        }
        None
    }

    /// Ping the client, without waiting for the socket: what it does not
    /// take now is a write waiting, like any other. (No write waits when
    /// this runs: `on_idle` judges such a client by its write.)
    async fn queue_ping(&mut self) -> Result<(), WebSocketError> {
        let websocket = &mut self.websocket;
        match poll_once(|cx| websocket.poll_ready_unpin(cx)).await {
            Poll::Ready(ready) => ready?,
            Poll::Pending => return Ok(()),
        }
        self.websocket.start_send_unpin(Frame::ping(Vec::new()))?;
        self.write_queued().await
    }

    /// Write what the outbox holds, as far as the socket takes it now; if
    /// it takes less, the main loop finishes the write (`Wake::Written`).
    async fn write_queued(&mut self) -> Result<(), WebSocketError> {
        let (websocket, outbox, encoding) = (&mut self.websocket, &self.outbox, self.encoding);
        match poll_once(|cx| poll_write(websocket, outbox, encoding, cx)).await {
            Poll::Ready(written) => written,
            Poll::Pending => {
                self.write_waiting_since = Some(Instant::now());
                Ok(())
            }
        }
    }

    /// Handle one frame from the client; `Some` when the connection is done.
    async fn on_frame(&mut self, frame: Frame) -> Option<Closed> {
        if matches!(frame.opcode(), OpCode::Text | OpCode::Binary) && !self.rate.take() {
            tracing::info!(connection = %self.connection, "closed: over the message rate limit");
            return Some(
                self.close(CloseRequest {
                    code: close_code::POLICY_VIOLATION,
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
                    Err(_) => {
                        return Some(
                            self.fail(close_code::INVALID_PAYLOAD, "invalid utf-8")
                                .await,
                        );
                    }
                }
            }
            OpCode::Binary => Message::Binary(Vec::from(frame.into_payload())),
            OpCode::Close => return Some(self.on_client_close(&frame)),
            // yawc has queued the pong: write it now, like the app's
            // messages, so that a socket too full to take it counts as a
            // write waiting (and the client's next pings are not read).
            OpCode::Ping => {
                return match self.write_queued().await {
                    Ok(()) => None,
                    Err(error) => Some((abnormal(&error), Finish::Drop)),
                };
            }
            OpCode::Pong | OpCode::Continuation => return None,
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
            return Some(self.close(going_away("app stopped")).await);
        }
        None
    }

    /// The client started the closing handshake: yawc has queued the answer
    /// to its close frame, which `finish_closing` writes.
    fn on_client_close(&mut self, frame: &Frame) -> Closed {
        let code = frame
            .close_code()
            .map(u16::from)
            .unwrap_or(close_code::NO_STATUS_RECEIVED);
        let reason = frame
            .close_reason()
            .ok()
            .flatten()
            .unwrap_or_default()
            .to_string();
        let deadline = Instant::now() + self.settings.close_timeout;
        (Ending { code, reason }, Finish::FlushQueuedClose(deadline))
    }

    async fn on_read_error(&mut self, error: WebSocketError) -> Closed {
        // A rule the strict reader caught before yawc saw the bytes; for
        // yawc the stream just ended.
        if let Some(violation) = self.verdict.violation() {
            return self
                .fail(violation.close_code(), &violation.to_string())
                .await;
        }
        match error {
            // yawc's reassembly layer reports these without queueing a close
            // frame (its framing layer queues one for everything else).
            WebSocketError::InvalidUTF8 => {
                self.fail(close_code::INVALID_PAYLOAD, "invalid utf-8")
                    .await
            }
            WebSocketError::InvalidFragment => {
                self.fail(close_code::PROTOCOL_ERROR, "invalid fragmentation")
                    .await
            }
            WebSocketError::FragmentTimeout => {
                self.fail(close_code::PROTOCOL_ERROR, "fragmented message timed out")
                    .await
            }
            WebSocketError::ConnectionClosed | WebSocketError::IoError(_) => {
                (abnormal(&error), Finish::Drop)
            }
            error => {
                // yawc has queued a close frame for this protocol error.
                let code = protocol_error_code(&error);
                tracing::debug!(connection = %self.connection, "protocol error: {error}");
                let deadline = Instant::now() + self.settings.close_timeout;
                let ending = Ending {
                    code,
                    reason: error.to_string(),
                };
                (ending, Finish::FlushQueuedClose(deadline))
            }
        }
    }

    /// Fail the connection for something the client sent, in order: the
    /// app first finishes the messages that came before it (its replies
    /// are queued), then those replies go out, then the close frame; all
    /// within the close timeout.
    async fn fail(&mut self, code: u16, reason: &str) -> Closed {
        Box::pin(self.fail_now(code, reason)).await
    }

    async fn fail_now(&mut self, code: u16, reason: &str) -> Closed {
        let deadline = Instant::now() + self.settings.close_timeout;
        // An app that has stopped has nothing more to send.
        let _ = tokio::time::timeout_at(deadline, self.app.flush()).await;
        let request = CloseRequest {
            code,
            reason: reason.to_string(),
        };
        self.close_by(request, deadline).await
    }

    /// The host starts the closing handshake: what the outbox holds goes
    /// out first, then the close frame, both within the close timeout.
    ///
    /// Boxed, like every path that ends a connection: each runs once, and
    /// its future (a close frame, a timeout) would otherwise sit in every
    /// connection's task for its whole life, idle or not.
    async fn close(&mut self, request: CloseRequest) -> Closed {
        let deadline = Instant::now() + self.settings.close_timeout;
        Box::pin(self.close_by(request, deadline)).await
    }

    async fn close_by(&mut self, request: CloseRequest, deadline: Instant) -> Closed {
        let frame = Frame::close(CloseCode::from(request.code), request.reason.as_bytes());
        let (websocket, outbox, encoding) = (&mut self.websocket, &self.outbox, self.encoding);
        let sent = tokio::time::timeout_at(deadline, async {
            poll_fn(|cx| poll_write(websocket, outbox, encoding, cx)).await?;
            websocket.send(frame).await
        })
        .await;
        let why = match sent {
            Ok(Ok(())) => return (Ending::from(request), Finish::AwaitClientClose(deadline)),
            Ok(Err(error)) => format!("the close frame could not be sent: {error}"),
            Err(_) => format!(
                "the close frame could not be written within {} ms",
                self.settings.close_timeout.as_millis()
            ),
        };
        tracing::info!(connection = %self.connection, reason = %request.reason, "dropped: {why}");
        let ending = Ending {
            code: close_code::ABNORMAL_CLOSURE,
            reason: format!("{}; {why}", request.reason),
        };
        (ending, Finish::Drop)
    }
}

/// What the socket has for the task: the end of a write that waited for
/// it, or else the next frame the client sent.
fn poll_socket(
    websocket: &mut WebSocket<ClientStream>,
    outbox: &OutboxReceiver,
    encoding: FrameEncoding,
    writing: bool,
    cx: &mut Context<'_>,
) -> Poll<Wake> {
    if writing {
        return poll_write(websocket, outbox, encoding, cx).map(Wake::Written);
    }
    websocket.poll_next_frame(cx).map(Wake::Frame)
}

/// Move queued messages into yawc's write buffer and write them out.
/// `Ready` once everything queued is written (or writing failed); `Pending`
/// while the socket takes no more, with the rest left in the outbox, where
/// it counts against the connection's byte limit.
fn poll_write(
    websocket: &mut WebSocket<ClientStream>,
    outbox: &OutboxReceiver,
    encoding: FrameEncoding,
    cx: &mut Context<'_>,
) -> Poll<Result<(), WebSocketError>> {
    loop {
        // yawc takes a frame while its buffer is under its backpressure
        // boundary, and writes the buffer out first when it is not.
        ready!(websocket.poll_ready_unpin(cx))?;
        let Some(message) = outbox.try_recv() else {
            break;
        };
        start_send(websocket, message, encoding)?;
    }
    websocket.poll_flush_unpin(cx)
}

/// Poll `poll` once with the task's own waker, and say what it answered,
/// rather than waiting until it is ready.
async fn poll_once<T>(mut poll: impl FnMut(&mut Context<'_>) -> Poll<T>) -> Poll<T> {
    poll_fn(|cx| Poll::Ready(poll(cx))).await
}

fn going_away(reason: &str) -> CloseRequest {
    CloseRequest {
        code: close_code::GOING_AWAY,
        reason: reason.into(),
    }
}

/// `instant + wait`, or a century later if that cannot be represented: a
/// timeout too long to add to a clock reading means "never".
fn after(instant: Instant, wait: Duration) -> Instant {
    const NEVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    instant.checked_add(wait).unwrap_or_else(|| instant + NEVER)
}

/// Hand one message to yawc: a shared one as the frame made once for every
/// connection with this encoding, which yawc writes as it is (and, if it is
/// compressed, resets this connection's compressor: `fanout`); any other is
/// framed (and compressed) here.
fn start_send(
    websocket: &mut WebSocket<ClientStream>,
    message: OutboundMessage,
    encoding: FrameEncoding,
) -> Result<(), WebSocketError> {
    match message {
        OutboundMessage::Text(bytes) => websocket.start_send_unpin(Frame::text(bytes)),
        OutboundMessage::Binary(bytes) => websocket.start_send_unpin(Frame::binary(bytes)),
        OutboundMessage::Shared(shared) => {
            let frame = shared.frame_for(encoding);
            websocket.start_send_encoded(&frame.bytes, frame.compressed)
        }
    }
}

fn abnormal(error: &WebSocketError) -> Ending {
    Ending {
        code: close_code::ABNORMAL_CLOSURE,
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
