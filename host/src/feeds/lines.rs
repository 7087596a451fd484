//! Bytes of a file into the lines an app is handed: split at `\n`, a
//! trailing `\r` dropped, anything that is not UTF-8 replaced (U+FFFD), and
//! a line longer than `limits.max_feed_line_bytes` cut there, without
//! splitting a character. A line still waiting for its newline is held
//! here, never more of it than the limit, so a file that never writes a
//! newline costs the host one line's worth of memory.
//!
//! Lines are gathered into a `Batch`, bounded in lines and bytes, which is
//! what one `on-lines` call hands the app: one event per batch, never one
//! per line.

/// The most lines one `on-lines` call carries: enough that a busy file
/// costs one event per thousand lines, few enough that an app filtering
/// them stays far inside its call deadline.
pub const MAX_BATCH_LINES: usize = 1024;

/// The most bytes of lines one `on-lines` call carries (a batch always
/// takes at least one line, whatever its length).
pub const MAX_BATCH_BYTES: usize = 1 << 20;

/// Lines on their way to the app, oldest first.
#[derive(Debug, Default)]
pub struct Batch {
    pub lines: Vec<String>,
    bytes: usize,
}

impl Batch {
    pub fn push(&mut self, line: String) {
        self.bytes += line.len();
        self.lines.push(line);
    }

    /// Whether it holds as much as one call should carry.
    pub fn is_full(&self) -> bool {
        self.lines.len() >= MAX_BATCH_LINES || self.bytes >= MAX_BATCH_BYTES
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// The bytes of its lines.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

/// Splits a stream of bytes into lines, across reads.
#[derive(Debug)]
pub struct LineSplitter {
    max_line_bytes: usize,
    /// The start of a line whose newline has not come yet: at most
    /// `max_line_bytes + 1` bytes (one past the limit tells that it is cut).
    partial: Vec<u8>,
    /// Dropping bytes up to the next newline: the rest of a line already
    /// cut, or of the line being written when following began.
    skipping: bool,
}

impl LineSplitter {
    pub fn new(max_line_bytes: usize) -> LineSplitter {
        LineSplitter {
            max_line_bytes: max_line_bytes.max(1),
            partial: Vec::new(),
            skipping: false,
        }
    }

    /// Drop what comes before the next newline: following starts in the
    /// middle of a line, whose start the app never saw.
    pub fn skip_to_next_line(&mut self) {
        self.partial.clear();
        self.skipping = true;
    }

    /// Split `bytes` into lines, each complete one into `batch`, until the
    /// batch is full. Returns how many bytes were taken: the rest are to
    /// be offered again, to the next batch.
    pub fn push(&mut self, bytes: &[u8], batch: &mut Batch) -> usize {
        let mut rest = bytes;
        while !rest.is_empty() && !batch.is_full() {
            let Some(end) = memchr::memchr(b'\n', rest) else {
                self.hold(rest, batch);
                rest = &[];
                break;
            };
            let line = &rest[..end];
            rest = &rest[end + 1..];
            if self.skipping {
                self.skipping = false;
            } else if self.partial.is_empty() {
                batch.push(to_line(strip_cr(line), self.max_line_bytes));
            } else {
                let room = (self.max_line_bytes + 1).saturating_sub(self.partial.len());
                let whole = line.len() <= room;
                self.partial
                    .extend_from_slice(&line[..line.len().min(room)]);
                let held = if whole {
                    strip_cr(&self.partial)
                } else {
                    &self.partial[..]
                };
                batch.push(to_line(held, self.max_line_bytes));
                self.partial.clear();
            }
        }
        bytes.len() - rest.len()
    }

    /// Keep the start of a line that has no newline yet; once it is over
    /// the limit, hand it on cut and drop the rest of it as it comes.
    fn hold(&mut self, bytes: &[u8], batch: &mut Batch) {
        if self.skipping {
            return;
        }
        let room = (self.max_line_bytes + 1).saturating_sub(self.partial.len());
        self.partial
            .extend_from_slice(&bytes[..bytes.len().min(room)]);
        if self.partial.len() > self.max_line_bytes {
            batch.push(to_line(&self.partial, self.max_line_bytes));
            self.partial.clear();
            self.skipping = true;
        }
    }

    /// The file ends here for good (it was rotated away or truncated): a
    /// line still waiting for its newline is handed on as it is, since no
    /// newline will come for it.
    pub fn finish(&mut self, batch: &mut Batch) {
        if !self.partial.is_empty() {
            batch.push(to_line(strip_cr(&self.partial), self.max_line_bytes));
            self.partial.clear();
        }
        self.skipping = false;
    }
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// One line as the app gets it: cut to `max_bytes` (before a character
/// that the cut would split), bytes that are not UTF-8 replaced.
pub fn to_line(bytes: &[u8], max_bytes: usize) -> String {
    let end = if bytes.len() > max_bytes {
        cut_point(bytes, max_bytes)
    } else {
        bytes.len()
    };
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// Where to cut a line longer than `max` bytes: at `max`, or up to three
/// bytes before it when a UTF-8 character straddles it.
fn cut_point(bytes: &[u8], max: usize) -> usize {
    let is_continuation = |byte: u8| byte & 0xC0 == 0x80;
    let mut end = max;
    while end > 0 && max - end < 3 && is_continuation(bytes[end]) {
        end -= 1;
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feed `chunks` one after another; the lines that came out.
    fn split(max: usize, chunks: &[&[u8]]) -> (Vec<String>, LineSplitter) {
        let mut splitter = LineSplitter::new(max);
        let mut batch = Batch::default();
        for chunk in chunks {
            assert_eq!(splitter.push(chunk, &mut batch), chunk.len());
        }
        (batch.lines, splitter)
    }

    #[test]
    fn complete_lines_come_out_without_their_endings() {
        let (lines, _) = split(100, &[b"one\ntwo\r\n\nfour\n"]);
        assert_eq!(lines, ["one", "two", "", "four"]);
    }

    #[test]
    fn a_partial_line_waits_for_its_newline_across_reads() {
        let (lines, mut splitter) = split(100, &[b"first\nsec", b"ond", b" half"]);
        assert_eq!(lines, ["first"]);
        let mut batch = Batch::default();
        splitter.push(b"\nthird", &mut batch);
        assert_eq!(batch.lines, ["second half"]);
        // A CRLF split between two reads is still one line ending.
        let (lines, _) = split(100, &[b"dos\r", b"\nnext\n"]);
        assert_eq!(lines, ["dos", "next"]);
    }

    #[test]
    fn a_long_line_is_cut_at_the_limit_and_its_rest_dropped() {
        let (lines, _) = split(4, &[b"abcdefgh\nij\n"]);
        assert_eq!(lines, ["abcd", "ij"]);
        // The same when the line arrives in pieces: it is handed on as soon
        // as it passes the limit, and its rest never comes out.
        let (lines, splitter) = split(4, &[b"ab", b"cdef", b"gh"]);
        assert_eq!(lines, ["abcd"]);
        assert!(splitter.partial.is_empty(), "nothing of it is held");
        let (lines, _) = split(4, &[b"ab", b"cdef", b"gh\nij\n"]);
        assert_eq!(lines, ["abcd", "ij"]);
        // Exactly the limit is not cut, with or without a CR.
        let (lines, _) = split(4, &[b"abcd\nabcd\r\n"]);
        assert_eq!(lines, ["abcd", "abcd"]);
        let (lines, _) = split(4, &[b"ab", b"cd\r", b"\n"]);
        assert_eq!(lines, ["abcd"]);
    }

    #[test]
    fn a_cut_never_splits_a_character() {
        // "€" is three bytes; a cut through it goes before it.
        assert_eq!(to_line("abc€x".as_bytes(), 4), "abc");
        assert_eq!(to_line("abc€x".as_bytes(), 5), "abc");
        assert_eq!(to_line("abc€x".as_bytes(), 6), "abc€");
        assert_eq!(to_line("a😀b".as_bytes(), 4), "a");
        assert_eq!(to_line("a😀b".as_bytes(), 5), "a😀");
    }

    #[test]
    fn bytes_that_are_not_utf8_are_replaced() {
        let (lines, _) = split(100, &[b"ok \xff\xfe ok\n"]);
        assert_eq!(lines, ["ok \u{FFFD}\u{FFFD} ok"]);
        // A character split across two reads is whole again.
        let euro = "€".as_bytes();
        let (lines, _) = split(100, &[&euro[..1], &euro[1..], b"\n"]);
        assert_eq!(lines, ["€"]);
    }

    #[test]
    fn following_from_mid_line_drops_that_lines_start() {
        let mut splitter = LineSplitter::new(100);
        splitter.skip_to_next_line();
        let mut batch = Batch::default();
        splitter.push(b"tail of an old line\nnew\n", &mut batch);
        assert_eq!(batch.lines, ["new"]);
    }

    #[test]
    fn finishing_hands_on_the_held_line() {
        let (lines, mut splitter) = split(100, &[b"done\nunfinished"]);
        assert_eq!(lines, ["done"]);
        let mut batch = Batch::default();
        splitter.finish(&mut batch);
        splitter.finish(&mut batch);
        assert_eq!(batch.lines, ["unfinished"]);
    }

    #[test]
    fn a_full_batch_takes_no_more_and_says_how_far_it_got() {
        let text: Vec<u8> = (0..MAX_BATCH_LINES + 10)
            .flat_map(|n| format!("line {n}\n").into_bytes())
            .collect();
        let mut splitter = LineSplitter::new(100);
        let mut batch = Batch::default();
        let taken = splitter.push(&text, &mut batch);
        assert!(batch.is_full());
        assert_eq!(batch.lines.len(), MAX_BATCH_LINES);
        let mut next = Batch::default();
        assert_eq!(splitter.push(&text[taken..], &mut next), text.len() - taken);
        assert_eq!(next.lines.first().map(String::as_str), Some("line 1024"));
        assert_eq!(next.lines.len(), 10);

        // Bytes bound a batch too: one line past the bound fills it.
        let mut batch = Batch::default();
        batch.push("x".repeat(MAX_BATCH_BYTES));
        assert!(batch.is_full());
        assert_eq!(splitter.push(b"more\n", &mut batch), 0);
    }
}
