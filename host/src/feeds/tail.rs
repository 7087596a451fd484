//! `feeds.tail`: the last lines of a granted file, read from its end, as a
//! page that just opened shows them before new lines arrive. Bounded twice
//! (at most `MAX_TAIL_LINES` lines, at most `MAX_TAIL_BYTES` read), so a
//! guest asking for much costs the host a bounded read, on the app's own
//! thread.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt as _;
use std::path::Path;

use super::file;
use super::lines::to_line;

/// The most lines one `tail` returns.
pub const MAX_TAIL_LINES: usize = 1000;

/// The most of a file one `tail` reads, from its end.
pub const MAX_TAIL_BYTES: u64 = 1 << 20;

/// How much is read at a time, backwards from the end, until enough lines
/// are in.
const CHUNK_BYTES: u64 = 64 << 10;

/// The last `lines` complete lines of the file at `path`, oldest first:
/// a last line without its newline yet is left out (it is still being
/// written), and so is the first line of the window when the window does
/// not start at a line's start.
pub fn tail(path: &Path, lines: usize, max_line_bytes: usize) -> io::Result<Vec<String>> {
    let lines = lines.min(MAX_TAIL_LINES);
    if lines == 0 {
        return Ok(Vec::new());
    }
    let (file, _) = file::open(path)?;
    let len = file.metadata()?.len();
    last_lines(&file, len, lines, max_line_bytes)
}

fn last_lines(
    file: &File,
    len: u64,
    lines: usize,
    max_line_bytes: usize,
) -> io::Result<Vec<String>> {
    // One byte before the window, when there is one, tells whether the
    // window starts at a line's start: the bytes up to the first newline
    // are dropped either way.
    let floor = len.saturating_sub(MAX_TAIL_BYTES + 1);
    let mut start = len;
    let mut window: Vec<u8> = Vec::new();
    let mut newlines = 0;
    // `lines` endings, and one before the first of them.
    while start > floor && newlines <= lines {
        let size = CHUNK_BYTES.min(start - floor);
        start -= size;
        // At most CHUNK_BYTES, so it fits in a usize.
        let mut chunk = vec![0; size as usize];
        file.read_exact_at(&mut chunk, start)?;
        newlines += memchr::memchr_iter(b'\n', &chunk).count();
        chunk.extend_from_slice(&window);
        window = chunk;
    }
    // Only complete lines: up to the last newline.
    let Some(last) = memchr::memrchr(b'\n', &window) else {
        return Ok(Vec::new());
    };
    let mut complete = &window[..last];
    if start > 0 {
        complete = match memchr::memchr(b'\n', complete) {
            Some(first) => &complete[first + 1..],
            // The window's only newline ends a line that starts before it.
            None => return Ok(Vec::new()),
        };
    }
    let mut found: Vec<&[u8]> = complete.rsplit(|byte| *byte == b'\n').take(lines).collect();
    found.reverse();
    Ok(found
        .into_iter()
        .map(|line| to_line(line.strip_suffix(b"\r").unwrap_or(line), max_line_bytes))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tail_of(text: &[u8], lines: usize, max_line_bytes: usize) -> Vec<String> {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("log");
        std::fs::write(&path, text).expect("the file is written");
        tail(&path, lines, max_line_bytes).expect("the file is readable")
    }

    #[test]
    fn the_last_complete_lines_oldest_first() {
        assert_eq!(tail_of(b"a\nb\nc\nd\n", 2, 100), ["c", "d"]);
        assert_eq!(tail_of(b"a\nb\r\n", 10, 100), ["a", "b"]);
        assert_eq!(tail_of(b"a\n\nc\n", 3, 100), ["a", "", "c"]);
        // A line still being written is not a line yet.
        assert_eq!(tail_of(b"a\nb\nhalf", 2, 100), ["a", "b"]);
        assert!(tail_of(b"only half", 5, 100).is_empty());
        assert!(tail_of(b"", 5, 100).is_empty());
        assert!(tail_of(b"a\n", 0, 100).is_empty());
    }

    #[test]
    fn lines_are_cut_and_replaced_as_on_lines_hands_them() {
        assert_eq!(
            tail_of(b"abcdefgh\nok \xff\n", 5, 4),
            ["abcd", "ok \u{FFFD}"]
        );
    }

    #[test]
    fn a_file_longer_than_the_window_gives_the_lines_inside_it() {
        // 2 MiB of numbered lines, each 16 bytes: the window holds the last
        // 65 536, and every line asked for comes out whole.
        let text: Vec<u8> = (0..131_072)
            .flat_map(|n| format!("line {n:>10}\n").into_bytes())
            .collect();
        let lines = tail_of(&text, 5000, 100);
        assert_eq!(lines.len(), MAX_TAIL_LINES);
        assert_eq!(lines[0], format!("line {:>10}", 131_072 - 1000));
        assert_eq!(lines[999], format!("line {:>10}", 131_071));

        // One line longer than the window: nothing of it is complete inside.
        let mut long = vec![b'x'; (MAX_TAIL_BYTES + 10) as usize];
        long.push(b'\n');
        assert!(tail_of(&long, 3, 100).is_empty());
        // ...but the lines after it are.
        long.extend_from_slice(b"short\n");
        assert_eq!(tail_of(&long, 3, 100), ["short"]);
    }

    #[test]
    fn a_window_that_starts_at_a_line_start_keeps_that_line() {
        // Exactly the window plus one byte before it, which is a newline.
        let line = vec![b'y'; (MAX_TAIL_BYTES - 1) as usize];
        let mut text = b"z\n".to_vec();
        text.extend_from_slice(&line);
        text.push(b'\n');
        let lines = tail_of(&text, 5, usize::MAX);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].len(), line.len());
    }
}
