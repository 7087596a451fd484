//! One WebSocket connection after its upgrade: one tokio task that reads
//! frames, hands whole messages to the app, writes the connection's outbox,
//! and runs the closing handshake.
//!
//! The frame layer (masking, fragmentation, control frames, size limits,
//! UTF-8) is yawc's; this task decides what a connection's end means for the
//! app. Whatever ends it (the client, the app, the host, a network error or a
//! protocol error), the task reports exactly one `Close` event to the app,
//! which is what makes `on-close` exactly-once.

use std::time::Duration;

use futures::{SinkExt as _, StreamExt as _};
use tokio_util::sync::CancellationToken;
use yawc::close::CloseCode;
use yawc::{Frame, HttpStream, OpCode, WebSocket, WebSocketError};

use crate::app::{AppEvent, AppHandle};
use crate::guest::Message;
use crate::outbox::{CloseRequest, ConnectionId, OutboundMessage, OutboxReceiver};

/// RFC 6455 7.1.5: the code reported when a close frame carried no code.
const NO_STATUS_RECEIVED: u16 = 1005;
/// RFC 6455 7.1.5: the code reported when the connection dropped without a
/// close frame.
const ABNORMAL_CLOSURE: u16 = 1006;
/// Sent to every client when the host shuts down.
const GOING_AWAY: u16 = 1001;

/// Per-connection behaviour that comes from the config.
#[derive(Debug, Clone)]
pub struct ConnectionSettings {
    /// How long to wait for the client's close frame after sending ours.
    pub close_timeout: Duration,
}

/// How a connection ended, as the app will hear it in `on-close`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Ending {
    code: u16,
    reason: String,
}

/// Serve one upgraded connection until it ends, then tell the app.
pub async fn serve(
    websocket: WebSocket<HttpStream>,
    connection: ConnectionId,
    app: AppHandle,
    outbox: OutboxReceiver,
    shutdown: CancellationToken,
    settings: ConnectionSettings,
) {
    let mut session = Session {
        websocket,
        connection,
        app: &app,
        outbox,
        settings,
    };
    let ending = session.run(&shutdown).await;
    tracing::debug!(%connection, app = &**app.name(), code = ending.code, "connection closed");
    report_close(&app, connection, ending.code, ending.reason).await;
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

struct Session<'a> {
    websocket: WebSocket<HttpStream>,
    connection: ConnectionId,
    app: &'a AppHandle,
    outbox: OutboxReceiver,
    settings: ConnectionSettings,
}

/// What woke the connection task.
enum Wake {
    Frame(Result<Frame, WebSocketError>),
    Outgoing(Option<OutboundMessage>),
    CloseRequested(CloseRequest),
    Shutdown,
}

impl Session<'_> {
    async fn run(&mut self, shutdown: &CancellationToken) -> Ending {
        let close_requested = self.outbox.close_signal();
        loop {
            // Every branch is cancel-safe: yawc keeps partial frames inside
            // the WebSocket, the outbox is a channel, and a close request
            // stays recorded until taken.
            let wake = tokio::select! {
                frame = self.websocket.next_frame() => Wake::Frame(frame),
                message = self.outbox.recv() => Wake::Outgoing(message),
                request = close_requested.wait() => Wake::CloseRequested(request),
                () = shutdown.cancelled() => Wake::Shutdown,
            };
            match wake {
                Wake::Frame(Ok(frame)) => {
                    if let Some(ending) = self.on_frame(frame).await {
                        return ending;
                    }
                }
                Wake::Frame(Err(error)) => return self.on_read_error(error).await,
                Wake::Outgoing(Some(message)) => {
                    if let Err(error) = self.write(message).await {
                        return abnormal(&error);
                    }
                }
                // The app dropped every sender: it has stopped.
                Wake::Outgoing(None) => {
                    return self
                        .close(CloseRequest {
                            code: GOING_AWAY,
                            reason: "app stopped".into(),
                        })
                        .await;
                }
                Wake::CloseRequested(request) => return self.close(request).await,
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

    /// Handle one frame from the client; `Some` when the connection is done.
    async fn on_frame(&mut self, frame: Frame) -> Option<Ending> {
        let message = match frame.opcode() {
            OpCode::Text => {
                // yawc validated the whole message as UTF-8 already.
                match String::from_utf8(frame.into_payload().to_vec()) {
                    Ok(text) => Message::Text(text),
                    Err(_) => return Some(self.fail(CloseCode::Invalid, "invalid utf-8").await),
                }
            }
            OpCode::Binary => Message::Binary(frame.into_payload().to_vec()),
            OpCode::Close => return Some(self.on_client_close(&frame).await),
            // yawc answers pings itself and pongs need no answer.
            OpCode::Ping | OpCode::Pong | OpCode::Continuation => return None,
        };
        let event = AppEvent::Message {
            connection: self.connection,
            message,
        };
        if self.app.post(event).await.is_err() {
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
        match error {
            // yawc reports bad UTF-8 without queueing a close frame.
            WebSocketError::InvalidUTF8 => self.fail(CloseCode::Invalid, "invalid utf-8").await,
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
    async fn close(&mut self, request: CloseRequest) -> Ending {
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
