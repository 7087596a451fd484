//! The framing rules of RFC 6455 (and RFC 7692's use of RSV1), checked on
//! the client's bytes as they arrive, before yawc parses them:
//!
//! - reserved bits: RSV2 and RSV3 never, RSV1 only on the first frame of a
//!   data message and only when permessage-deflate was negotiated;
//! - reserved opcodes (0x3-0x7, 0xB-0xF);
//! - fragmentation: a continuation frame with no message to continue, a new
//!   data frame inside a fragmented message, a fragmented control frame, a
//!   control payload over 125 bytes;
//! - an unmasked client frame;
//! - a close frame with a one-byte payload, a code no endpoint may send, or
//!   a reason that is not UTF-8 (1007);
//! - invalid UTF-8 in an uncompressed text message, as soon as the invalid
//!   byte arrives, not once the whole message has (RFC 6455 8.1, "fail
//!   fast"): a client cannot make the host buffer a message it will refuse
//!   anyway. yawc still checks every whole message, compressed ones
//!   included, once inflated.
//!
//! yawc checks most of these too, but it answers a violation the moment it
//! parses it, with a close frame queued ahead of anything else. A client
//! that sends a valid message and then a bad frame would never get the
//! app's reply to the valid one. Caught here instead, the violation ends
//! the stream for yawc right before the offending frame, and the connection
//! task closes in order: it lets the app finish the messages that came
//! before, writes the replies, then the close frame (1002, or 1007 for
//! UTF-8). Nothing after the bad frame reaches the app.
//!
//! The reader never changes a byte: it watches frame headers and text
//! payloads go by. On a violation it hands yawc only the bytes before the
//! offending frame and then ends the stream, and records the violation in a
//! `Verdict` the connection task reads to send the right close code. (An
//! I/O error would not do: yawc answers those with a close 1011 of its own.)

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll, ready};

use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::close_code;

/// The stream a WebSocket connection runs on.
pub type ClientStream = StrictReader<TokioIo<Upgraded>>;

/// A rule the client broke. The text is the close frame's reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[repr(u8)]
pub enum Violation {
    #[error("RSV1 set on a control frame")]
    Rsv1OnControlFrame = 1,
    #[error("reserved bits set without an extension that defines them")]
    ReservedBits,
    #[error("reserved opcode")]
    ReservedOpcode,
    #[error("continuation frame with no message to continue")]
    NothingToContinue,
    #[error("new data frame inside a fragmented message")]
    MessageNotFinished,
    #[error("fragmented control frame")]
    FragmentedControlFrame,
    #[error("control frame payload over 125 bytes")]
    ControlFrameTooLong,
    #[error("unmasked client frame")]
    Unmasked,
    #[error("close frame with a one-byte payload")]
    CloseWithOneByte,
    #[error("close frame with a code no endpoint may send")]
    UnsendableCloseCode,
    #[error("invalid UTF-8 in a text message")]
    InvalidUtf8,
}

impl Violation {
    const ALL: [Violation; 11] = [
        Violation::Rsv1OnControlFrame,
        Violation::ReservedBits,
        Violation::ReservedOpcode,
        Violation::NothingToContinue,
        Violation::MessageNotFinished,
        Violation::FragmentedControlFrame,
        Violation::ControlFrameTooLong,
        Violation::Unmasked,
        Violation::CloseWithOneByte,
        Violation::UnsendableCloseCode,
        Violation::InvalidUtf8,
    ];

    /// The close code the connection fails with.
    pub fn close_code(self) -> u16 {
        match self {
            Violation::InvalidUtf8 => close_code::INVALID_PAYLOAD,
            _ => close_code::PROTOCOL_ERROR,
        }
    }
}

/// What a `StrictReader` found, shared with the connection task.
#[derive(Debug, Clone, Default)]
pub struct Verdict(Arc<AtomicU8>);

impl Verdict {
    fn set(&self, violation: Violation) {
        self.0.store(violation as u8, Ordering::Relaxed);
    }

    /// The rule the client broke, once it has.
    pub fn violation(&self) -> Option<Violation> {
        let code = self.0.load(Ordering::Relaxed);
        Violation::ALL
            .into_iter()
            .find(|violation| *violation as u8 == code)
    }
}

/// Wraps the client's stream; reads are watched, writes pass through.
pub struct StrictReader<S> {
    inner: S,
    watch: FrameWatch,
    verdict: Verdict,
}

impl<S> StrictReader<S> {
    /// `deflate`: whether permessage-deflate was negotiated, which is what
    /// allows RSV1 on the first frame of a data message.
    pub fn new(inner: S, deflate: bool) -> (Self, Verdict) {
        let verdict = Verdict::default();
        let reader = StrictReader {
            inner,
            watch: FrameWatch::new(deflate),
            verdict: verdict.clone(),
        };
        (reader, verdict)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for StrictReader<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.verdict.violation().is_some() {
            // The stream ends for yawc; the close is the connection task's.
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.inner).poll_read(cx, buf))?;
        if let Err((violation, clean)) = self.watch.observe(&buf.filled()[before..]) {
            self.verdict.set(violation);
            buf.set_filled(before + clean);
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for StrictReader<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    /// No: yawc hands its writer one contiguous buffer, and asked to write
    /// it vectored the kernel takes the longer `writev` path (the iovec
    /// copied in, the VFS checks) for the one slice a `write` would take.
    fn is_write_vectored(&self) -> bool {
        false
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Where the watch is in the client's byte stream.
#[derive(Debug, Clone, Copy)]
enum Position {
    /// Inside a frame header; `have` of its bytes are in `bytes`.
    Header { bytes: [u8; 14], have: usize },
    /// Inside a frame's payload.
    Payload {
        remaining: u64,
        mask: [u8; 4],
        /// Payload bytes already seen, for the mask's phase.
        seen: usize,
        /// Whether these bytes belong to an uncompressed text message.
        check_utf8: bool,
        /// Whether this frame ends a data message.
        ends_message: bool,
        /// Whether this is a close frame, whose payload is collected (in
        /// `scratch`; at most 125 bytes) and checked once whole.
        close: bool,
    },
}

/// Follows client frames byte by byte.
#[derive(Debug)]
struct FrameWatch {
    position: Position,
    /// Where in the bytes being observed the current frame began, if it
    /// began in them.
    frame_start: Option<usize>,
    /// Whether permessage-deflate was negotiated (RSV1 marks a compressed
    /// message).
    deflate: bool,
    /// A fragmented data message is in progress: continuation frames are
    /// expected, new data frames are not.
    in_message: bool,
    /// An uncompressed text message is in progress (its continuation frames
    /// are text too).
    in_text_message: bool,
    utf8: Utf8Check,
    scratch: Vec<u8>,
}

impl FrameWatch {
    fn new(deflate: bool) -> Self {
        FrameWatch {
            position: Position::Header {
                bytes: [0; 14],
                have: 0,
            },
            deflate,
            in_message: false,
            in_text_message: false,
            frame_start: None,
            utf8: Utf8Check::default(),
            scratch: Vec::new(),
        }
    }
}

/// Undo the client's mask on `bytes`, which start `offset` bytes into the
/// payload. Four bytes at a time: masking byte by byte cost about eight
/// instructions a byte, the largest share of this reader's work.
fn unmask(bytes: &mut [u8], mask: [u8; 4], offset: usize) {
    let mut key = mask;
    key.rotate_left(offset % 4);
    let word = u32::from_ne_bytes(key);
    let mut words = bytes.chunks_exact_mut(4);
    for chunk in &mut words {
        let masked = u32::from_ne_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        chunk.copy_from_slice(&(masked ^ word).to_ne_bytes());
    }
    for (byte, key) in words.into_remainder().iter_mut().zip(key) {
        *byte ^= key;
    }
}

/// A frame header's length, known from its second byte.
fn header_length(second: u8) -> usize {
    let extended = match second & 0x7f {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let mask = if second & 0x80 != 0 { 4 } else { 0 };
    2 + extended + mask
}

impl FrameWatch {
    /// Follow `data`; on a violation, also say how many of its bytes come
    /// before the offending frame.
    fn observe(&mut self, data: &[u8]) -> Result<(), (Violation, usize)> {
        self.frame_start = match self.position {
            Position::Header { have: 0, .. } => Some(0),
            _ => None,
        };
        let mut rest = data;
        self.follow(&mut rest, data.len())
            .map_err(|violation| (violation, self.frame_start.unwrap_or(0)))
    }

    fn follow(&mut self, data: &mut &[u8], total: usize) -> Result<(), Violation> {
        while !data.is_empty() {
            match self.position {
                Position::Header {
                    mut bytes,
                    mut have,
                } => {
                    if have == 0 {
                        self.frame_start = Some(total - data.len());
                    }
                    let needed = if have < 2 { 2 } else { header_length(bytes[1]) };
                    let take = (needed - have).min(data.len());
                    bytes[have..have + take].copy_from_slice(&data[..take]);
                    have += take;
                    *data = &data[take..];
                    self.position = Position::Header { bytes, have };
                    if have >= 2 && have == header_length(bytes[1]) {
                        self.start_payload(&bytes)?;
                    }
                }
                Position::Payload {
                    remaining,
                    mask,
                    seen,
                    check_utf8,
                    ends_message,
                    close,
                } => {
                    let take = usize::try_from(remaining)
                        .unwrap_or(usize::MAX)
                        .min(data.len());
                    if check_utf8 {
                        self.scratch.clear();
                        self.scratch.extend_from_slice(&data[..take]);
                        unmask(&mut self.scratch, mask, seen);
                        self.utf8
                            .feed(&self.scratch)
                            .map_err(|()| Violation::InvalidUtf8)?;
                    } else if close {
                        let start = self.scratch.len();
                        self.scratch.extend_from_slice(&data[..take]);
                        unmask(&mut self.scratch[start..], mask, seen);
                    }
                    *data = &data[take..];
                    let remaining = remaining - take as u64;
                    self.position = Position::Payload {
                        remaining,
                        mask,
                        seen: seen.wrapping_add(take),
                        check_utf8,
                        ends_message,
                        close,
                    };
                    if remaining == 0 {
                        self.end_payload(ends_message, close)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// A whole header is in: check it and move into its payload.
    fn start_payload(&mut self, header: &[u8; 14]) -> Result<(), Violation> {
        let fin = header[0] & 0x80 != 0;
        let rsv1 = header[0] & 0x40 != 0;
        let opcode = header[0] & 0x0f;
        self.check_header(header[0], header[1])?;
        let (length, mask_at) = match header[1] & 0x7f {
            126 => (u64::from(u16::from_be_bytes([header[2], header[3]])), 4),
            127 => {
                let mut length = [0u8; 8];
                length.copy_from_slice(&header[2..10]);
                (u64::from_be_bytes(length), 10)
            }
            length => (u64::from(length), 2),
        };
        let mut mask = [0u8; 4];
        if header[1] & 0x80 != 0 {
            mask.copy_from_slice(&header[mask_at..mask_at + 4]);
        }
        let is_control = opcode & 0x08 != 0;
        if !is_control {
            // Checked above: a continuation continues a message, a new
            // message starts only between messages.
            self.in_message = !fin;
        }
        let check_utf8 = match opcode {
            0x1 => {
                self.in_text_message = !rsv1;
                self.utf8 = Utf8Check::default();
                self.in_text_message
            }
            0x0 => self.in_text_message,
            _ => {
                if !is_control {
                    self.in_text_message = false;
                }
                false
            }
        };
        let ends_message = fin && !is_control;
        let close = opcode == 0x8;
        if close {
            self.scratch.clear();
        }
        self.position = Position::Payload {
            remaining: length,
            mask,
            seen: 0,
            check_utf8,
            ends_message,
            close,
        };
        if length == 0 {
            self.end_payload(ends_message, close)?;
        }
        Ok(())
    }

    /// The rules a frame's first two bytes must keep, in the order the RFC
    /// gives them.
    fn check_header(&self, first: u8, second: u8) -> Result<(), Violation> {
        let fin = first & 0x80 != 0;
        let rsv1 = first & 0x40 != 0;
        let opcode = first & 0x0f;
        let is_control = opcode & 0x08 != 0;
        if is_control && rsv1 {
            return Err(Violation::Rsv1OnControlFrame);
        }
        // RSV1 means "compressed" on the first frame of a message, and only
        // with permessage-deflate; RSV2 and RSV3 mean nothing here.
        let rsv1_allowed = self.deflate && matches!(opcode, 0x1 | 0x2);
        if first & 0x30 != 0 || (rsv1 && !rsv1_allowed) {
            return Err(Violation::ReservedBits);
        }
        match opcode {
            0x0 if !self.in_message => return Err(Violation::NothingToContinue),
            0x1 | 0x2 if self.in_message => return Err(Violation::MessageNotFinished),
            0x0..=0x2 | 0x8..=0xa => {}
            _ => return Err(Violation::ReservedOpcode),
        }
        if is_control && !fin {
            return Err(Violation::FragmentedControlFrame);
        }
        if is_control && second & 0x7f > 125 {
            return Err(Violation::ControlFrameTooLong);
        }
        if second & 0x80 == 0 {
            return Err(Violation::Unmasked);
        }
        Ok(())
    }

    fn end_payload(&mut self, ends_message: bool, close: bool) -> Result<(), Violation> {
        if close {
            check_close_payload(&self.scratch)?;
        }
        if ends_message {
            // An incomplete last character is yawc's to report (1007) when
            // it checks the whole message.
            self.in_text_message = false;
        }
        self.position = Position::Header {
            bytes: [0; 14],
            have: 0,
        };
        Ok(())
    }
}

/// A close frame's payload: empty, or a code an endpoint may send and a
/// UTF-8 reason (RFC 6455 5.5.1, 7.4). The codes are yawc's list, which
/// leaves out 1014: were this one wider, yawc would still refuse the frame,
/// with a close of its own that skips the ordered close.
fn check_close_payload(payload: &[u8]) -> Result<(), Violation> {
    match payload {
        [] => Ok(()),
        [_] => Err(Violation::CloseWithOneByte),
        [high, low, reason @ ..] => {
            let code = u16::from_be_bytes([*high, *low]);
            if !yawc::close::CloseCode::from(code).is_allowed() {
                return Err(Violation::UnsendableCloseCode);
            }
            std::str::from_utf8(reason).map_err(|_| Violation::InvalidUtf8)?;
            Ok(())
        }
    }
}

/// Checks UTF-8 that arrives in pieces: a character split between pieces is
/// kept until its remaining bytes come.
#[derive(Debug, Default)]
struct Utf8Check {
    pending: [u8; 4],
    pending_length: usize,
}

impl Utf8Check {
    fn feed(&mut self, mut bytes: &[u8]) -> Result<(), ()> {
        while self.pending_length > 0 && !bytes.is_empty() {
            self.pending[self.pending_length] = bytes[0];
            self.pending_length += 1;
            bytes = &bytes[1..];
            match std::str::from_utf8(&self.pending[..self.pending_length]) {
                Ok(_) => self.pending_length = 0,
                Err(error) if error.error_len().is_some() => return Err(()),
                Err(_) if self.pending_length == 4 => return Err(()),
                Err(_) => {}
            }
        }
        if self.pending_length > 0 {
            return Ok(());
        }
        match std::str::from_utf8(bytes) {
            Ok(_) => Ok(()),
            Err(error) if error.error_len().is_some() => Err(()),
            Err(error) => {
                let rest = &bytes[error.valid_up_to()..];
                self.pending[..rest.len()].copy_from_slice(rest);
                self.pending_length = rest.len();
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unmasking_from_any_offset_matches_the_byte_by_byte_rule() {
        let mask = [0x11u8, 0x22, 0x33, 0x44];
        let payload: Vec<u8> = (0u8..=40).collect();
        let masked: Vec<u8> = payload
            .iter()
            .enumerate()
            .map(|(index, byte)| byte ^ mask[index % 4])
            .collect();
        for start in 0..payload.len() {
            for end in start..=payload.len() {
                let mut bytes = masked[start..end].to_vec();
                unmask(&mut bytes, mask, start);
                assert_eq!(bytes, payload[start..end], "bytes {start}..{end}");
            }
        }
    }

    /// A client frame, masked.
    fn frame(fin: bool, rsv1: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [0x11u8, 0x22, 0x33, 0x44];
        let mut bytes = vec![(u8::from(fin) << 7) | (u8::from(rsv1) << 6) | opcode];
        match payload.len() {
            length @ 0..=125 => bytes.push(0x80 | length as u8),
            length @ 126..=0xffff => {
                bytes.push(0x80 | 126);
                bytes.extend_from_slice(&(length as u16).to_be_bytes());
            }
            length => {
                bytes.push(0x80 | 127);
                bytes.extend_from_slice(&(length as u64).to_be_bytes());
            }
        }
        bytes.extend_from_slice(&mask);
        bytes.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        bytes
    }

    /// Feed `stream` in pieces of `piece` bytes, deflate negotiated.
    fn watch(stream: &[u8], piece: usize) -> Result<(), Violation> {
        let mut watch = FrameWatch::new(true);
        for chunk in stream.chunks(piece) {
            watch.observe(chunk).map_err(|(violation, _)| violation)?;
        }
        Ok(())
    }

    #[test]
    fn good_traffic_passes_however_it_is_split() {
        let text = "héllo wörld, κόσμε ".repeat(20);
        let bytes = text.as_bytes();
        let mut stream = frame(true, false, 0x1, bytes);
        stream.extend(frame(false, false, 0x1, &bytes[..3]));
        stream.extend(frame(true, false, 0x9, b"ping between fragments"));
        stream.extend(frame(true, false, 0x0, &bytes[3..]));
        stream.extend(frame(true, false, 0x2, &[0xff; 300]));
        stream.extend(frame(true, true, 0x1, &[0xff, 0xfe])); // compressed: yawc's
        stream.extend(frame(true, false, 0x1, &vec![b'a'; 70_000]));
        for piece in [1, 2, 3, 7, 64, 100_000] {
            assert_eq!(watch(&stream, piece), Ok(()), "pieces of {piece}");
        }
    }

    #[test]
    fn invalid_utf8_is_caught_in_the_first_fragment() {
        let stream = frame(false, false, 0x1, b"ok so far \xff");
        assert_eq!(watch(&stream, 5), Err(Violation::InvalidUtf8));
        // Split across fragments, the bad byte in the continuation.
        let mut stream = frame(false, false, 0x1, b"\xce");
        stream.extend(frame(false, false, 0x0, b"("));
        assert_eq!(watch(&stream, 1), Err(Violation::InvalidUtf8));
        // Binary payloads are not text.
        assert_eq!(watch(&frame(true, false, 0x2, b"\xff"), 1), Ok(()));
    }

    #[test]
    fn rsv1_on_a_control_frame_is_caught() {
        assert_eq!(
            watch(&frame(true, true, 0x9, b""), 1),
            Err(Violation::Rsv1OnControlFrame)
        );
        assert_eq!(
            watch(&frame(true, true, 0x8, &1000u16.to_be_bytes()), 64),
            Err(Violation::Rsv1OnControlFrame)
        );
    }

    #[test]
    fn the_frames_before_the_offending_one_are_kept() {
        let mut stream = frame(true, false, 0x1, b"fine");
        let clean = stream.len();
        stream.extend(frame(true, true, 0x9, b""));
        let mut watch = FrameWatch::new(false);
        assert_eq!(
            watch.observe(&stream),
            Err((Violation::Rsv1OnControlFrame, clean))
        );
    }

    /// A client frame with every header bit chosen by the test.
    fn raw_frame(first: u8, masked: bool, payload: &[u8]) -> Vec<u8> {
        let mut bytes = frame(true, false, 0x2, payload);
        bytes[0] = first;
        if !masked {
            bytes[1] &= 0x7f;
            bytes.drain(2..6);
            let mask = [0x11u8, 0x22, 0x33, 0x44];
            for (i, byte) in bytes[2..].iter_mut().enumerate() {
                *byte ^= mask[i % 4];
            }
        }
        bytes
    }

    #[test]
    fn every_framing_rule_is_caught_at_the_header() {
        let cases: [(Vec<u8>, Violation); 9] = [
            (
                raw_frame(0x80 | 0x20 | 0x1, true, b"x"),
                Violation::ReservedBits,
            ),
            (
                raw_frame(0x80 | 0x10 | 0x1, true, b"x"),
                Violation::ReservedBits,
            ),
            (raw_frame(0x80 | 0x3, true, b""), Violation::ReservedOpcode),
            (raw_frame(0x80 | 0xb, true, b""), Violation::ReservedOpcode),
            (frame(true, false, 0x0, b"x"), Violation::NothingToContinue),
            (
                frame(false, false, 0x9, b""),
                Violation::FragmentedControlFrame,
            ),
            (
                frame(true, false, 0x9, &[0; 126]),
                Violation::ControlFrameTooLong,
            ),
            (raw_frame(0x81, false, b"x"), Violation::Unmasked),
            (
                [
                    frame(false, false, 0x1, b"a"),
                    frame(true, false, 0x1, b"b"),
                ]
                .concat(),
                Violation::MessageNotFinished,
            ),
        ];
        for (stream, violation) in cases {
            assert_eq!(watch(&stream, 1), Err(violation), "{violation}");
            assert_eq!(violation.close_code(), close_code::PROTOCOL_ERROR);
            let mut verdict = Verdict::default();
            verdict.set(violation);
            assert_eq!(verdict.violation(), Some(violation));
            verdict = Verdict::default();
            assert_eq!(verdict.violation(), None);
        }
    }

    #[test]
    fn a_close_frame_is_checked_once_whole() {
        let close = |payload: &[u8]| frame(true, false, 0x8, payload);
        let mut reason = 1000u16.to_be_bytes().to_vec();
        reason.extend_from_slice("bye, κόσμε".as_bytes());
        for piece in [1, 3, 100] {
            assert_eq!(watch(&close(&reason), piece), Ok(()));
            assert_eq!(watch(&close(b""), piece), Ok(()));
        }
        assert_eq!(watch(&close(&[0x03]), 1), Err(Violation::CloseWithOneByte));
        assert_eq!(
            watch(&close(&1005u16.to_be_bytes()), 1),
            Err(Violation::UnsendableCloseCode)
        );
        assert_eq!(
            watch(&close(&[0x03, 0xe8, 0xff]), 2),
            Err(Violation::InvalidUtf8)
        );
    }

    #[test]
    fn rsv1_is_compression_only_where_deflate_was_negotiated() {
        let compressed = frame(true, true, 0x1, b"\xff");
        assert_eq!(watch(&compressed, 1), Ok(()));
        let mut without = FrameWatch::new(false);
        assert_eq!(
            without.observe(&compressed).map_err(|(v, _)| v),
            Err(Violation::ReservedBits)
        );
        // Never on a continuation frame, deflate or not.
        let mut stream = frame(false, true, 0x1, b"a");
        stream.extend(frame(true, true, 0x0, b"b"));
        assert_eq!(watch(&stream, 1), Err(Violation::ReservedBits));
    }
}
