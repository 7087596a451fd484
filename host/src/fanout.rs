//! One message for many connections, encoded once.
//!
//! A broadcast (and a topic's publish) sends the same message to every
//! recipient. Sent as a plain message, each connection task would frame it,
//! copy its payload into its own write buffer, and, with permessage-deflate,
//! compress it again: a thousand subscribers, a thousand compressions of the
//! same bytes. A `SharedMessage` is made once per publish and every
//! recipient's outbox holds it by reference. Its plain frame is made with
//! it (the payload's one copy, which the message then keeps instead of its
//! own); a compressed frame is made at most once per window size, lazily,
//! by the first connection task that needs it. Every connection writes
//! those bytes as they are (yawc's `start_send_encoded`, our change to it:
//! vendor/README.md).
//!
//! Compression, and why sharing it is sound (RFC 7692):
//!
//! - A shared compressed frame is a fresh deflate stream: it refers to
//!   nothing before it, so any client inflates it, whatever its window holds.
//!   A server may always compress that way, context takeover or not (7.2.1).
//! - The client's window now holds the shared message, which the
//!   connection's own compressor never saw; a later `send` compressed with
//!   that compressor's context could refer back to bytes the client holds
//!   differently. So writing a shared compressed frame resets the
//!   connection's compressor (yawc does, when told the frame is compressed):
//!   its next message refers to nothing earlier either.
//! - Uncompressed messages never enter the client's inflater (RSV1 clear),
//!   so a plain shared frame needs no reset.
//! - The stream's window must fit the client's: the `server_max_window_bits`
//!   it asked for. A shared encoding is made per window size (9 to 15 bits;
//!   8 is compressed as 9, as the connection's own compressor does, see
//!   `handshake::negotiate_deflate`), so connections that agreed on different
//!   windows each get one they can inflate.
//! - Where deflate was agreed, the host compresses every message, small
//!   ones too (yawc's compression threshold is left at 0), and shared
//!   frames do the same. Whether a message is compressed is the sender's
//!   choice per message, so a threshold here would only change the cost.

use std::cell::RefCell;
use std::sync::{Arc, OnceLock};

use bytes::{BufMut as _, Bytes, BytesMut};
use flate2::{Compress, Compression, FlushCompress, Status};

use crate::outbox::OutboundMessage;

/// The window sizes the host compresses with, in bits.
const WINDOW_BITS: std::ops::RangeInclusive<u8> = 9..=15;

/// How a connection's data frames go on the wire, as its handshake agreed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameEncoding {
    /// No extension: payloads as they are.
    Plain,
    /// permessage-deflate, compressed with a window of this many bits.
    Deflate { window_bits: u8 },
}

impl FrameEncoding {
    /// The encoding for a connection whose handshake answered `extensions`
    /// (the `Sec-WebSocket-Extensions` the host sent, if any): deflate with
    /// the window the client asked for (8 bits compressed as 9), or the
    /// full 15 bits when it asked for none.
    pub fn agreed(extensions: Option<&str>) -> FrameEncoding {
        let Some(agreed) = extensions else {
            return FrameEncoding::Plain;
        };
        let mut parameters = agreed.split(';').map(str::trim);
        if !parameters
            .next()
            .is_some_and(|name| name.eq_ignore_ascii_case("permessage-deflate"))
        {
            return FrameEncoding::Plain;
        }
        let window_bits = parameters
            .filter_map(|parameter| parameter.split_once('='))
            .find(|(key, _)| key.trim().eq_ignore_ascii_case("server_max_window_bits"))
            .and_then(|(_, bits)| bits.trim().trim_matches('"').parse::<u8>().ok())
            .map_or(*WINDOW_BITS.end(), |bits| {
                bits.clamp(*WINDOW_BITS.start(), *WINDOW_BITS.end())
            });
        FrameEncoding::Deflate { window_bits }
    }
}

/// A frame ready for the wire, shared by every connection that writes it.
#[derive(Debug, Clone)]
pub struct EncodedFrame {
    /// The whole frame, header and payload.
    pub bytes: Bytes,
    /// Whether the payload is deflated (RSV1 set): writing it resets the
    /// connection's compressor (see the module's comment).
    pub compressed: bool,
}

/// One message for many connections: its plain frame, made at once, and its
/// compressed ones, each made when first needed.
#[derive(Debug)]
pub struct SharedMessage {
    /// The message; its payload is a slice of `plain`'s bytes, not a copy.
    message: OutboundMessage,
    plain: EncodedFrame,
    /// Per window size, from 9 bits; `None` inside if deflate failed, and
    /// the plain frame is sent instead (an uncompressed message is always
    /// allowed).
    deflated: [OnceLock<Option<EncodedFrame>>; 7],
}

impl SharedMessage {
    /// The message, framed: its payload is copied once, into the frame,
    /// and the message keeps only that copy.
    pub(crate) fn new(message: OutboundMessage) -> Arc<SharedMessage> {
        let text = message.is_text();
        let opcode = if text { OPCODE_TEXT } else { OPCODE_BINARY };
        let payload = message.payload();
        let bytes = frame(opcode, false, payload);
        let payload = bytes.slice(bytes.len() - payload.len()..);
        Arc::new(SharedMessage {
            message: if text {
                OutboundMessage::Text(payload)
            } else {
                OutboundMessage::Binary(payload)
            },
            plain: EncodedFrame {
                bytes,
                compressed: false,
            },
            deflated: Default::default(),
        })
    }

    /// The message itself (`Text` or `Binary`).
    pub fn message(&self) -> &OutboundMessage {
        &self.message
    }

    /// The frame to write on a connection with this encoding.
    pub fn frame_for(&self, encoding: FrameEncoding) -> &EncodedFrame {
        let FrameEncoding::Deflate { window_bits } = encoding else {
            return &self.plain;
        };
        let opcode = if self.message.is_text() {
            OPCODE_TEXT
        } else {
            OPCODE_BINARY
        };
        let payload = self.message.payload();
        let bits = window_bits.clamp(*WINDOW_BITS.start(), *WINDOW_BITS.end());
        let slot = &self.deflated[usize::from(bits - WINDOW_BITS.start())];
        let deflated = slot.get_or_init(|| {
            let compressed = deflate(payload, bits);
            if compressed.is_none() {
                tracing::warn!("deflate failed on a shared message; sending it uncompressed");
            }
            compressed.map(|compressed| EncodedFrame {
                bytes: frame(opcode, true, &compressed),
                compressed: true,
            })
        });
        deflated.as_ref().unwrap_or(&self.plain)
    }
}

const OPCODE_TEXT: u8 = 0x1;
const OPCODE_BINARY: u8 = 0x2;

/// A whole unmasked (server) frame (RFC 6455 5.2): FIN, RSV1 when
/// `compressed`, the opcode, the length in 7, 16 or 64 bits, the payload.
fn frame(opcode: u8, compressed: bool, payload: &[u8]) -> Bytes {
    let mut frame = BytesMut::with_capacity(10 + payload.len());
    frame.put_u8(0x80 | if compressed { 0x40 } else { 0 } | opcode);
    match payload.len() {
        len @ 0..=125 => frame.put_u8(len as u8),
        len if len <= usize::from(u16::MAX) => {
            frame.put_u8(126);
            frame.put_u16(len as u16);
        }
        len => {
            frame.put_u8(127);
            frame.put_u64(len as u64);
        }
    }
    frame.extend_from_slice(payload);
    frame.freeze()
}

thread_local! {
    /// Deflate state kept per thread and window size: building one costs
    /// more than compressing a small message.
    static DEFLATERS: RefCell<Vec<(u8, Compress)>> = const { RefCell::new(Vec::new()) };
}

/// `payload` as permessage-deflate sends it (RFC 7692 7.2.1): raw deflate
/// at the host's fast level with a window of `window_bits`, from a fresh
/// stream, ended by a sync flush whose final 4 bytes (00 00 ff ff) are left
/// off. `None` if deflate reports an error.
fn deflate(payload: &[u8], window_bits: u8) -> Option<Bytes> {
    DEFLATERS.with_borrow_mut(|deflaters| {
        let index = match deflaters.iter().position(|(bits, _)| *bits == window_bits) {
            Some(index) => index,
            None => {
                let compress =
                    Compress::new_with_window_bits(Compression::fast(), false, window_bits);
                deflaters.push((window_bits, compress));
                deflaters.len() - 1
            }
        };
        let compress = &mut deflaters[index].1;
        compress.reset();
        let output = deflate_with(compress, payload);
        if output.is_none() {
            // State that failed is not kept for the next message.
            deflaters.swap_remove(index);
        }
        output
    })
}

fn deflate_with(compress: &mut Compress, payload: &[u8]) -> Option<Bytes> {
    let mut output = Vec::with_capacity(payload.len() / 2 + 64);
    let start = compress.total_in();
    loop {
        let consumed = usize::try_from(compress.total_in() - start).ok()?;
        let input = payload.get(consumed..)?;
        let before = (compress.total_in(), compress.total_out());
        let room = output.len() < output.capacity();
        match compress.compress_vec(input, &mut output, FlushCompress::Sync) {
            Ok(Status::Ok | Status::BufError) => {}
            Ok(Status::StreamEnd) | Err(_) => return None,
        }
        // The flush is complete once all input is in and deflate stopped
        // with room to spare.
        let consumed = usize::try_from(compress.total_in() - start).ok()?;
        if consumed == payload.len() && output.len() < output.capacity() {
            break;
        }
        // Stuck with room to write: not a deflate stream worth waiting on.
        if room && (compress.total_in(), compress.total_out()) == before {
            return None;
        }
        output.reserve(output.capacity().max(1024));
    }
    let body = output.strip_suffix(&[0x00, 0x00, 0xff, 0xff])?.len();
    output.truncate(body);
    Some(Bytes::from(output))
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Decompress, FlushDecompress};

    fn inflate(window_bits: u8, messages: &[&[u8]]) -> Vec<Vec<u8>> {
        // One inflater for every message, as a client with context
        // takeover keeps it.
        let mut inflate = Decompress::new_with_window_bits(false, window_bits);
        messages
            .iter()
            .map(|message| {
                let mut input = message.to_vec();
                input.extend_from_slice(&[0x00, 0x00, 0xff, 0xff]);
                let mut output = Vec::with_capacity(1 << 20);
                inflate
                    .decompress_vec(&input, &mut output, FlushDecompress::Sync)
                    .expect("inflates");
                output
            })
            .collect()
    }

    fn payload_of(frame: &EncodedFrame) -> Bytes {
        let bytes = &frame.bytes;
        let (len, offset) = match bytes[1] & 0x7f {
            126 => (usize::from(u16::from_be_bytes([bytes[2], bytes[3]])), 4),
            127 => (
                usize::try_from(u64::from_be_bytes(bytes[2..10].try_into().unwrap())).unwrap(),
                10,
            ),
            len => (usize::from(len), 2),
        };
        assert_eq!(
            bytes.len(),
            offset + len,
            "the length field is the payload's"
        );
        bytes.slice(offset..)
    }

    #[test]
    fn the_agreed_extension_names_the_encoding() {
        assert_eq!(FrameEncoding::agreed(None), FrameEncoding::Plain);
        assert_eq!(
            FrameEncoding::agreed(Some("permessage-deflate")),
            FrameEncoding::Deflate { window_bits: 15 }
        );
        assert_eq!(
            FrameEncoding::agreed(Some(
                "permessage-deflate; server_no_context_takeover; server_max_window_bits=10"
            )),
            FrameEncoding::Deflate { window_bits: 10 }
        );
        assert_eq!(
            FrameEncoding::agreed(Some("permessage-deflate; server_max_window_bits=8")),
            FrameEncoding::Deflate { window_bits: 9 }
        );
    }

    #[test]
    fn frames_carry_each_length_form() {
        for len in [0, 125, 126, 65_535, 65_536, 70_000] {
            let shared = SharedMessage::new(OutboundMessage::Binary(Bytes::from(vec![7u8; len])));
            let frame = shared.frame_for(FrameEncoding::Plain);
            assert_eq!(frame.bytes[0], 0x82);
            assert!(!frame.compressed);
            assert_eq!(payload_of(frame).len(), len);
        }
    }

    #[test]
    fn a_shared_deflate_stream_inflates_after_other_messages_in_every_window() {
        let text: Vec<u8> = (0..20_000u32)
            .flat_map(|n| format!("line {} of the shared text; ", n % 97).into_bytes())
            .collect();
        for bits in 9..=15 {
            let earlier = SharedMessage::new(OutboundMessage::Text(Bytes::from_static(
                b"an earlier message in the client's window",
            )));
            let shared = SharedMessage::new(OutboundMessage::Text(Bytes::from(text.clone())));
            let encoding = FrameEncoding::Deflate { window_bits: bits };
            let first = shared.frame_for(encoding);
            assert!(first.compressed);
            assert_eq!(first.bytes[0], 0xc1, "FIN, RSV1, text");
            assert!(
                first.bytes.len() < text.len() / 4,
                "compressed to {}",
                first.bytes.len()
            );
            // Made once: every connection with this window gets the same bytes.
            assert_eq!(
                shared.frame_for(encoding).bytes.as_ptr(),
                first.bytes.as_ptr()
            );
            let inflated = inflate(
                bits,
                &[&payload_of(earlier.frame_for(encoding)), &payload_of(first)],
            );
            assert_eq!(inflated[1], text, "window {bits}");
        }
    }
}
