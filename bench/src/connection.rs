//! One client connection: the per-message hot loop.
//!
//! The loop keeps up to `depth` messages in flight, writes all it may send
//! with one flush, and checks every reply against what was sent. It does not
//! allocate per message: outgoing payloads are carved out of one reusable
//! buffer (yawc copies and masks them into its write buffer, which frees the
//! slice for reuse), incoming payloads are slices of yawc's read buffer, and
//! the send times of messages in flight live in a ring of `depth` slots.
//!
//! After the first reply arrives, every reply already buffered is taken
//! before refilling the window, so pipelined replies that arrived together
//! are answered with one write rather than one write each.

use bytes::BytesMut;
use futures::{FutureExt as _, SinkExt as _};
use tokio::net::TcpStream;
use yawc::close::CloseCode;
use yawc::{Frame, OpCode, WebSocket, WebSocketError};

use crate::load::{Phase, Shared};
use crate::payload::{Template, Verdict};

/// The client crate, for the report. Chosen by measurement against the same
/// server (release switchboard + echo.wasm pinned to core 0, the candidate on
/// core 1, 100 connections, 64-byte binary messages, 5 s after 1 s warm-up;
/// bench-thread CPU per reply, several rounds, median; the other core also
/// had a compile running, so CPU per message, not msgs/s, is comparable):
///
/// | client                 | depth 1    | depth 16, write after each reply | depth 16, batched |
/// |------------------------|------------|----------------------------------|-------------------|
/// | yawc 0.5               | 9.65 µs    | 5.40 µs                          | 2.13 µs           |
/// | fastwebsockets 0.10    | 9.92 µs    | 4.89 µs                          | not possible      |
/// | tokio-tungstenite 0.29 | 12.51 µs   | 5.50 µs                          | not tried         |
///
/// (1 connection, depth 1: 27.3 / 27.9 / 29.7 µs.) yawc and fastwebsockets
/// cost the same within noise where both can run, tungstenite a quarter more
/// at depth 1; a profile shows 78% of the bench's CPU is the kernel's
/// loopback TCP path, so the crate is a small share either way. yawc won on
/// what else it allows: its `next_frame` is cancel-safe, so the loop can take
/// every reply already buffered before writing again (the batched column:
/// 2.5x fewer µs per message, 275k msgs/s against 110-125k), whereas
/// fastwebsockets' `read_frame` consumes a frame header before awaiting the
/// payload and cannot be polled that way. It is also already in the lock
/// file (the host's crate), so the bench adds no WebSocket stack.
pub const CLIENT_CHOICE: &str = "yawc 0.5";

/// Room for this many bytes of outgoing messages before the send buffer is
/// recycled: large enough that recycling is rare, small enough to stay in
/// cache.
const SEND_BUFFER_BYTES: usize = 64 * 1024;

pub type Socket = WebSocket<TcpStream>;

/// How a connection ended.
#[derive(Debug)]
pub enum Ending {
    /// Drained and closed by the bench: the good ending.
    Finished,
    /// Closed by the server or the network before the bench was done.
    Closed(String),
}

/// Connect and upgrade.
pub async fn open(url: &url::Url, size: usize) -> anyhow::Result<Socket> {
    open_offering(url, size, false).await
}

/// `open`, offering permessage-deflate if `compression` (with context
/// takeover and the full window, as browsers do).
pub async fn open_offering(
    url: &url::Url,
    size: usize,
    compression: bool,
) -> anyhow::Result<Socket> {
    use anyhow::Context as _;
    let host = url.host_str().context("the URL has no host")?;
    let port = url.port_or_known_default().context("the URL has no port")?;
    let tcp = TcpStream::connect((host, port))
        .await
        .with_context(|| format!("cannot connect to {host}:{port}"))?;
    // Every message is a small write that must leave now, not when Nagle's
    // algorithm decides.
    tcp.set_nodelay(true).context("cannot set TCP_NODELAY")?;
    // Leave room for a server that replies with more than it was sent, so
    // that shows up as a mismatch rather than a read error.
    let limit = size.saturating_mul(2).max(1 << 20);
    let mut options = yawc::Options::default().with_limits(limit, limit.saturating_mul(2));
    if compression {
        options = options.with_low_latency_compression();
    }
    WebSocket::handshake(url.clone(), tcp, options)
        .await
        .context("the WebSocket upgrade failed")
}

/// `open` for the bench's connection number `index`, which an error names.
pub async fn open_numbered(
    index: usize,
    url: url::Url,
    size: usize,
    compression: bool,
) -> anyhow::Result<Socket> {
    use anyhow::Context as _;
    open_offering(&url, size, compression)
        .await
        .with_context(|| format!("connection {index} to {url}"))
}

/// One connection's state between messages.
struct Connection<'a> {
    socket: Socket,
    template: &'a Template,
    shared: &'a Shared,
    binary: bool,
    depth: usize,
    outgoing: BytesMut,
    /// Send time of message `seq` at `seq % depth`.
    sent_at: Vec<u64>,
    /// The next message to send.
    next_seq: u64,
    /// The reply due next; everything from here to `next_seq` is in flight.
    expected_seq: u64,
}

/// Send and check messages until the run drains, then close.
pub async fn run(
    socket: Socket,
    template: &Template,
    binary: bool,
    depth: usize,
    shared: &Shared,
) -> Ending {
    let depth = depth.max(1);
    let mut connection = Connection {
        socket,
        template,
        shared,
        binary,
        depth,
        outgoing: BytesMut::with_capacity(SEND_BUFFER_BYTES.max(template.len() * depth)),
        sent_at: vec![0; depth],
        next_seq: 0,
        expected_seq: 0,
    };
    match connection.exchange().await {
        Ok(()) => connection.close().await,
        Err(ending) => ending,
    }
}

impl Connection<'_> {
    /// Until the drain is over: fill the window, wait for replies, repeat.
    async fn exchange(&mut self) -> Result<(), Ending> {
        loop {
            if self.shared.phase.get() != Phase::Drain {
                self.fill_window().await?;
            } else if self.in_flight() == 0 {
                return Ok(());
            }
            let first = self.socket.next_frame().await;
            self.receive(first)?;
            while self.in_flight() > 0 {
                match self.socket.next_frame().now_or_never() {
                    Some(next) => self.receive(next)?,
                    None => break,
                }
            }
        }
    }

    async fn fill_window(&mut self) -> Result<(), Ending> {
        if self.in_flight() >= self.depth {
            return Ok(());
        }
        let len = self.template.len();
        while self.in_flight() < self.depth {
            if self.outgoing.capacity() < len {
                // Reclaims the same allocation once yawc has dropped the
                // slices it was given.
                self.outgoing
                    .reserve(SEND_BUFFER_BYTES.max(len * self.depth));
            }
            let sent_ns = self.shared.now_ns();
            self.template
                .append_to(self.next_seq, sent_ns, &mut self.outgoing);
            let payload = self.outgoing.split().freeze();
            let frame = if self.binary {
                Frame::binary(payload)
            } else {
                Frame::text(payload)
            };
            self.socket.feed(frame).await.map_err(write_failed)?;
            let slot = self.slot(self.next_seq);
            self.sent_at[slot] = sent_ns;
            self.next_seq += 1;
            self.shared.count_sent();
        }
        self.socket.flush().await.map_err(write_failed)
    }

    fn in_flight(&self) -> usize {
        (self.next_seq - self.expected_seq) as usize
    }

    fn slot(&self, seq: u64) -> usize {
        (seq % self.depth as u64) as usize
    }

    /// Judge one frame from the server.
    fn receive(&mut self, frame: Result<Frame, WebSocketError>) -> Result<(), Ending> {
        let frame = frame.map_err(read_failed)?;
        let expected_opcode = if self.binary {
            OpCode::Binary
        } else {
            OpCode::Text
        };
        let verdict = match frame.opcode() {
            OpCode::Close => return Err(closed_by_server(&frame)),
            // yawc answers pings itself; nothing else here is a reply.
            OpCode::Ping | OpCode::Pong | OpCode::Continuation => return Ok(()),
            opcode if opcode == expected_opcode => {
                let sent_ns = self.sent_at[self.slot(self.expected_seq)];
                self.template
                    .check(frame.payload(), self.expected_seq, sent_ns)
            }
            _ => Verdict::Mismatch,
        };
        let received_ns = self.shared.now_ns();
        match verdict {
            Verdict::Expected { sent_ns } => {
                self.intact(received_ns, sent_ns);
                self.expected_seq += 1;
            }
            // A reply from further ahead in the window: the ones before it
            // never came (the end-of-run count calls them lost) and this one
            // is judged on its own. Resynchronising here means one missing
            // reply is counted once, not as every reply after it.
            Verdict::OutOfOrder { seq } if seq > self.expected_seq && seq < self.next_seq => {
                let sent_ns = self.sent_at[self.slot(seq)];
                match self.template.check(frame.payload(), seq, sent_ns) {
                    Verdict::Expected { sent_ns } => self.intact(received_ns, sent_ns),
                    _ => self.shared.count_mismatched(),
                }
                self.expected_seq = seq + 1;
            }
            // Late, repeated, or never sent.
            Verdict::OutOfOrder { .. } => self.shared.count_out_of_order(),
            Verdict::Mismatch => {
                self.shared.count_mismatched();
                // Most likely the reply to the message due, mangled; if
                // nothing is due, something the bench never sent.
                self.expected_seq = (self.expected_seq + 1).min(self.next_seq);
            }
        }
        Ok(())
    }

    fn intact(&self, received_ns: u64, sent_ns: u64) {
        self.shared.count_intact();
        if let Phase::Measure(phase) = self.shared.phase.get() {
            self.shared
                .record(phase, received_ns.saturating_sub(sent_ns));
        }
    }

    async fn close(mut self) -> Ending {
        close(&mut self.socket).await;
        Ending::Finished
    }
}

/// The bench's closing handshake: send 1000 and wait for the server's
/// close (the caller bounds the wait). Whatever else arrives meanwhile is
/// dropped: the caller has stopped counting.
pub async fn close(socket: &mut Socket) {
    if socket
        .send(Frame::close(CloseCode::Normal, b""))
        .await
        .is_ok()
    {
        while let Ok(frame) = socket.next_frame().await {
            if frame.opcode() == OpCode::Close {
                break;
            }
        }
    }
}

pub fn write_failed(error: WebSocketError) -> Ending {
    Ending::Closed(format!("write failed: {error}"))
}

pub fn read_failed(error: WebSocketError) -> Ending {
    Ending::Closed(format!("read failed: {error}"))
}

/// A close frame from the server, as an ending with its code and reason.
pub fn closed_by_server(frame: &Frame) -> Ending {
    let code = frame
        .close_code()
        .map_or("no code".to_string(), |code| u16::from(code).to_string());
    let reason = frame.close_reason().ok().flatten().unwrap_or_default();
    Ending::Closed(format!("the server closed it with {code} {reason:?}"))
}
