//! The bytes of one benchmark message, and the check of its echo.
//!
//! A message carries its own sequence number and send time, so a reply can be
//! matched to its request and timed without a per-message map: with echo,
//! the reply *is* the request. The header is ASCII hex so the same layout is
//! valid UTF-8 for text messages. The rest is a filler that differs per
//! connection (and, for binary, is deliberately not UTF-8), so a reply routed
//! to the wrong connection or re-encoded on the way is caught too.
//!
//! Layout: `seq` as 16 lowercase hex digits, `sent_ns` as 16 lowercase hex
//! digits, then filler up to the message size.

/// Bytes taken by the header; the smallest message the bench can send.
pub const HEADER_LEN: usize = 32;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// One connection's message: the filler stays put, the header is rewritten
/// for each message, and everything the check needs is derived from here.
#[derive(Debug, Clone)]
pub struct Template {
    bytes: Vec<u8>,
}

/// What a reply turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Exactly the message sent with the expected sequence number.
    Expected { sent_ns: u64 },
    /// One of ours, intact, but not the one due next: a lost, duplicated or
    /// reordered reply. Carries its sequence number so the caller can resync.
    OutOfOrder { seq: u64 },
    /// Not what any message of this connection looked like.
    Mismatch,
}

impl Template {
    /// A template of `size` bytes (at least [`HEADER_LEN`]) for connection
    /// `connection`.
    pub fn new(size: usize, connection: usize, binary: bool) -> Template {
        let mut bytes = vec![0u8; size.max(HEADER_LEN)];
        for (i, byte) in bytes.iter_mut().enumerate().skip(HEADER_LEN) {
            *byte = if binary {
                // Every byte value appears, including the ones UTF-8 forbids.
                ((i * 7 + connection * 13) % 256) as u8
            } else {
                b'a' + ((i + connection) % 26) as u8
            };
        }
        Template { bytes }
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Append message number `seq`, sent at `sent_ns`, to `out`.
    pub fn append_to(&self, seq: u64, sent_ns: u64, out: &mut bytes::BytesMut) {
        let start = out.len();
        out.extend_from_slice(&self.bytes);
        write_header(seq, sent_ns, &mut out[start..]);
    }

    /// Judge a reply's payload against the message `expected_seq`, which was
    /// sent at `expected_sent_ns`.
    pub fn check(&self, reply: &[u8], expected_seq: u64, expected_sent_ns: u64) -> Verdict {
        if reply.len() != self.bytes.len() || reply[HEADER_LEN..] != self.bytes[HEADER_LEN..] {
            return Verdict::Mismatch;
        }
        let mut header = [0u8; HEADER_LEN];
        write_header(expected_seq, expected_sent_ns, &mut header);
        if reply[..HEADER_LEN] == header {
            return Verdict::Expected {
                sent_ns: expected_sent_ns,
            };
        }
        match (parse_hex(&reply[..16]), parse_hex(&reply[16..HEADER_LEN])) {
            (Some(seq), Some(_)) if seq != expected_seq => Verdict::OutOfOrder { seq },
            // The right number with the wrong time, or no numbers at all:
            // the bytes were altered.
            _ => Verdict::Mismatch,
        }
    }
}

/// The sequence number a message says it carries, if it has a header at
/// all. For receivers that cannot know which message comes next (a
/// broadcast subscriber): they look the number up, then [`Template::check`]
/// the whole message against it.
pub fn seq_of(message: &[u8]) -> Option<u64> {
    message.get(..16).and_then(parse_hex)
}

fn write_header(seq: u64, sent_ns: u64, out: &mut [u8]) {
    write_hex(seq, &mut out[..16]);
    write_hex(sent_ns, &mut out[16..HEADER_LEN]);
}

fn write_hex(value: u64, out: &mut [u8]) {
    for (i, digit) in out.iter_mut().enumerate() {
        let shift = 60 - 4 * i;
        *digit = HEX[((value >> shift) & 0xf) as usize];
    }
}

fn parse_hex(digits: &[u8]) -> Option<u64> {
    digits.iter().try_fold(0u64, |value, &digit| {
        let nibble = match digit {
            b'0'..=b'9' => digit - b'0',
            b'a'..=b'f' => digit - b'a' + 10,
            _ => return None,
        };
        Some(value << 4 | u64::from(nibble))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(template: &Template, seq: u64, sent_ns: u64) -> Vec<u8> {
        let mut out = bytes::BytesMut::new();
        template.append_to(seq, sent_ns, &mut out);
        out.to_vec()
    }

    #[test]
    fn an_exact_echo_is_expected() {
        let template = Template::new(64, 3, false);
        let sent = message(&template, 42, 123_456_789);
        assert_eq!(
            template.check(&sent, 42, 123_456_789),
            Verdict::Expected {
                sent_ns: 123_456_789
            }
        );
    }

    #[test]
    fn appending_keeps_what_is_already_there() {
        let template = Template::new(40, 5, true);
        let mut out = bytes::BytesMut::from(&b"xy"[..]);
        template.append_to(3, 4, &mut out);
        assert_eq!(&out[..2], b"xy");
        assert_eq!(&out[2..], &message(&template, 3, 4)[..]);
        assert_eq!(&out[2..18], b"0000000000000003");
    }

    #[test]
    fn text_messages_are_utf8_and_binary_ones_are_not() {
        let text = message(&Template::new(300, 1, false), u64::MAX, 7);
        assert!(std::str::from_utf8(&text).is_ok());
        let binary = message(&Template::new(300, 1, true), 1, 7);
        assert!(std::str::from_utf8(&binary).is_err());
    }

    #[test]
    fn another_sequence_number_is_out_of_order() {
        let template = Template::new(64, 0, true);
        let sent = message(&template, 41, 5);
        assert_eq!(
            template.check(&sent, 42, 6),
            Verdict::OutOfOrder { seq: 41 }
        );
    }

    #[test]
    fn altered_bytes_are_a_mismatch() {
        let template = Template::new(64, 0, false);
        let sent = message(&template, 1, 2);
        // The send time, the filler, the last byte.
        for position in [20, 40, 63] {
            let mut altered = sent.clone();
            altered[position] ^= 0x01;
            assert_eq!(
                template.check(&altered, 1, 2),
                Verdict::Mismatch,
                "{position}"
            );
        }
        assert_eq!(template.check(&sent[..63], 1, 2), Verdict::Mismatch);
        assert_eq!(template.check(b"hello", 1, 2), Verdict::Mismatch);
        let mut not_hex = sent.clone();
        not_hex[0] = b'x';
        assert_eq!(template.check(&not_hex, 1, 2), Verdict::Mismatch);
    }

    #[test]
    fn an_altered_sequence_number_is_never_expected() {
        let template = Template::new(64, 0, false);
        let mut altered = message(&template, 1, 2);
        altered[0] ^= 0x01;
        assert_eq!(
            template.check(&altered, 1, 2),
            Verdict::OutOfOrder { seq: 1 << 60 | 1 }
        );
    }

    #[test]
    fn another_connections_message_is_a_mismatch() {
        let mine = Template::new(64, 0, false);
        let theirs = Template::new(64, 1, false);
        assert_eq!(mine.check(&message(&theirs, 1, 2), 1, 2), Verdict::Mismatch);
    }

    #[test]
    fn the_sequence_number_is_read_from_the_header() {
        let template = Template::new(64, 2, true);
        assert_eq!(seq_of(&message(&template, 0xabc, 7)), Some(0xabc));
        assert_eq!(seq_of(b"short"), None);
        assert_eq!(seq_of(&[b'z'; 32]), None);
    }

    #[test]
    fn the_smallest_message_is_the_header() {
        let template = Template::new(1, 0, false);
        assert_eq!(template.len(), HEADER_LEN);
        let sent = message(&template, 9, 9);
        assert_eq!(
            template.check(&sent, 9, 9),
            Verdict::Expected { sent_ns: 9 }
        );
    }
}
