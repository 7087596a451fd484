//! Following one granted file, as `tail -F` does: from its end when the
//! app starts, then every line appended, across rotation and truncation,
//! handed to the app in batches.
//!
//! The work is split in two. `Reader` is the file side, plain blocking
//! code: it knows the open file and how far it has read, notices what
//! happened to the path since (rotated, truncated, gone, back), and reads
//! until one batch is full. `follow` is the task around it: it runs each
//! step on tokio's blocking pool (a read may wait on the disk), posts the
//! batch to the app's mailbox, waiting while the mailbox is full (the same
//! backpressure connections get), and sleeps until the file watcher wakes
//! it or the slow poll comes round.
//!
//! What the reader does with what it finds:
//!
//! - appended bytes: split into lines; a line without its newline yet is
//!   held (`LineSplitter`) until the newline comes;
//! - the file shrank below where reading stands (truncated, e.g.
//!   logrotate's copytruncate): read again from its start;
//! - the path names another file (rotated: renamed away and a new file
//!   made): read the old file to its end, hand on a last line that never
//!   got its newline, then follow the new file from its start;
//! - the path is gone: keep reading the file already open, and take the
//!   new one when it appears (gone for longer than a rotation takes, it is
//!   an error line in the log);
//! - nothing to open (missing, not readable, not a regular file): one
//!   error line in the log (again only if the reason changes), and try
//!   again on every wake-up until it works. A file that appears after the
//!   app started is followed from its start.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::file::{self, FileId};
use super::lines::{Batch, LineSplitter};
use crate::app::{AppEvent, AppHandle};

/// How often a feed is looked at when no file event came: file systems
/// whose changes the watcher cannot see (network mounts, some container
/// mounts) are still followed, a second late at most.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// What one read from the file is, in bytes.
const READ_CHUNK_BYTES: usize = 64 << 10;

/// The most bytes one step reads, even when they make no line (the rest
/// of a line that was cut), so that a step is short whatever the file.
const STEP_READ_BYTES: usize = 4 << 20;

/// How long the path may name no file while the old one is still read
/// before the log hears of it: a rotation renames the file away and makes
/// the new one within moments.
const GONE_GRACE: Duration = Duration::from_secs(5);

/// How much of a feed may wait in the app's mailbox before the follower
/// waits for the app to take it: a file growing faster than its app reads
/// it costs at most this much memory, instead of filling the mailbox with
/// megabytes per slot.
const UNACKNOWLEDGED_BYTES: usize = 4 << 20;
const UNACKNOWLEDGED_BATCHES: usize = 8;

/// The file side of a feed: what is open and how far it has been read.
pub struct Reader {
    /// How the log names this feed: `APP: feed NAME`.
    label: Arc<str>,
    path: PathBuf,
    open: Option<Open>,
    /// The file last read and how far, when reading it failed: if the path
    /// names the same file again, reading goes on from there.
    lost: Option<(FileId, u64)>,
    splitter: LineSplitter,
    /// What went wrong, as last told to the log: said again only once it
    /// changes, and the recovery is told once.
    problem: Option<String>,
    /// Since when the path has named no file, while the open one is read on.
    gone_since: Option<Instant>,
    gone_grace: Duration,
    buffer: Vec<u8>,
}

struct Open {
    file: File,
    id: FileId,
    /// Where the next read starts: every byte before it was handed on (or
    /// is held as the start of a line).
    position: u64,
}

/// What one step read: the lines, and whether more can be read at once.
pub struct Step {
    pub batch: Batch,
    pub more: bool,
}

impl Reader {
    pub fn new(label: Arc<str>, path: PathBuf, max_line_bytes: usize) -> Reader {
        Reader {
            label,
            path,
            open: None,
            lost: None,
            splitter: LineSplitter::new(max_line_bytes),
            problem: None,
            gone_since: None,
            gone_grace: GONE_GRACE,
            buffer: vec![0; READ_CHUNK_BYTES],
        }
    }

    /// Open the file as the app starts and stand at its end, as `tail -f`
    /// does: the app hears what is appended from now on. A line being
    /// written at that moment is skipped (its start was not seen). A file
    /// that cannot be opened is reported now, at startup.
    pub fn start_at_end(&mut self) {
        let opened = file::open(&self.path).and_then(|(file, id)| {
            let len = file.metadata()?.len();
            let mut last = [0u8];
            if len > 0 {
                file.read_exact_at(&mut last, len - 1)?;
            }
            Ok((file, id, len, last[0]))
        });
        match opened {
            Ok((file, id, len, last)) => {
                if len > 0 && last != b'\n' {
                    self.splitter.skip_to_next_line();
                }
                tracing::info!(
                    "{}: following {} from its end",
                    self.label,
                    self.path.display()
                );
                self.open = Some(Open {
                    file,
                    id,
                    position: len,
                });
            }
            Err(error) => self.report(&error),
        }
    }

    /// Look at the file and read what it has until one batch is full.
    pub fn step(&mut self) -> Step {
        let mut batch = Batch::default();
        let more = self.read_into(&mut batch);
        Step { batch, more }
    }

    fn read_into(&mut self, batch: &mut Batch) -> bool {
        let named = file::id_of(&self.path);
        if let Some(open) = &self.open
            && let Ok(id) = named
            && id != open.id
        {
            // Rotated: the old file's last lines first.
            if self.read_open(batch) {
                return true;
            }
            self.splitter.finish(batch);
            self.open = None;
            self.lost = None;
            tracing::info!(
                "{}: {} now names another file (rotated); following it from its start",
                self.label,
                self.path.display()
            );
        }
        // When the path is gone, the open file (if any) is read on: the
        // next file is taken once it appears.
        match &named {
            Err(error) if self.open.is_some() => {
                let since = *self.gone_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= self.gone_grace {
                    self.report(error);
                }
            }
            _ => self.gone_since = None,
        }
        if self.open.is_none() && !self.reopen() {
            return false;
        }
        self.check_truncated(batch);
        self.read_open(batch)
    }

    /// Open the file the path names now: from its start, or from where
    /// reading stopped if it is the file that was being read.
    fn reopen(&mut self) -> bool {
        match file::open(&self.path) {
            Ok((file, id)) => {
                let position = match self.lost.take() {
                    Some((lost, at)) if lost == id => at,
                    _ => 0,
                };
                if self.problem.take().is_some() {
                    tracing::info!(
                        "{}: {} can be read again; following it",
                        self.label,
                        self.path.display()
                    );
                }
                self.open = Some(Open { file, id, position });
                true
            }
            Err(error) => {
                self.report(&error);
                false
            }
        }
    }

    /// A file now shorter than where reading stands was truncated: read it
    /// again from its start.
    fn check_truncated(&mut self, batch: &mut Batch) {
        let Some(open) = &mut self.open else {
            return;
        };
        let len = match open.file.metadata() {
            Ok(metadata) => metadata.len(),
            Err(error) => {
                self.lose(&error);
                return;
            }
        };
        if len < open.position {
            open.position = 0;
            self.splitter.finish(batch);
            tracing::info!(
                "{}: {} was truncated; reading it again from its start",
                self.label,
                self.path.display()
            );
        }
    }

    /// Read the open file from where reading stands until the batch is
    /// full, the file ends, or the step has read enough. Returns whether
    /// there is more to read at once.
    fn read_open(&mut self, batch: &mut Batch) -> bool {
        let Some(open) = &mut self.open else {
            return false;
        };
        let mut read = 0;
        let failed = loop {
            if batch.is_full() || read >= STEP_READ_BYTES {
                return true;
            }
            let n = match open.file.read_at(&mut self.buffer, open.position) {
                Ok(0) => return false,
                Ok(n) => n,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => break error,
            };
            read += n;
            let taken = self.splitter.push(&self.buffer[..n], batch);
            open.position += taken as u64;
        };
        self.lose(&failed);
        false
    }

    /// Reading the open file failed: let it go, remembering how far it was
    /// read, and say why.
    fn lose(&mut self, error: &io::Error) {
        if let Some(open) = self.open.take() {
            self.lost = Some((open.id, open.position));
        }
        self.report(error);
    }

    /// Tell the log why the file cannot be followed, unless it was told
    /// just that already.
    fn report(&mut self, error: &io::Error) {
        let problem = format!("cannot read {}: {error}", self.path.display());
        if self.problem.as_deref() == Some(problem.as_str()) {
            return;
        }
        let next = if error.kind() == io::ErrorKind::NotFound {
            "waiting for it to appear"
        } else {
            "trying again when it changes"
        };
        tracing::error!("{}: {problem}; {next}", self.label);
        self.problem = Some(problem);
    }
}

/// Follow one feed until `stop` or the app is gone: each batch of new lines
/// becomes one `AppEvent::Lines`.
pub async fn follow(
    mut reader: Reader,
    feed: Arc<str>,
    app: AppHandle,
    wake: Arc<Notify>,
    stop: CancellationToken,
) {
    let label = reader.label.clone();
    let mut unacknowledged_bytes = 0;
    let mut unacknowledged_batches = 0;
    loop {
        loop {
            let stepped = tokio::task::spawn_blocking(move || {
                let step = reader.step();
                (reader, step)
            })
            .await;
            let step;
            (reader, step) = match stepped {
                Ok(stepped) => stepped,
                Err(error) => {
                    tracing::error!("{label}: stopped following: {error}");
                    return;
                }
            };
            if !step.batch.is_empty() {
                unacknowledged_bytes += step.batch.bytes();
                unacknowledged_batches += 1;
                let lines = AppEvent::Lines {
                    feed: feed.clone(),
                    lines: step.batch.lines,
                };
                tokio::select! {
                    () = stop.cancelled() => return,
                    posted = app.post(lines) => if posted.is_err() { return },
                }
                if unacknowledged_bytes >= UNACKNOWLEDGED_BYTES
                    || unacknowledged_batches >= UNACKNOWLEDGED_BATCHES
                {
                    tokio::select! {
                        () = stop.cancelled() => return,
                        flushed = app.flush() => if flushed.is_err() { return },
                    }
                    unacknowledged_bytes = 0;
                    unacknowledged_batches = 0;
                }
            }
            if !step.more {
                break;
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = wake.notified() => {}
            () = tokio::time::sleep(POLL_INTERVAL) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    //! The reader on real files, step by step (the watcher and the app are
    //! host/tests/feeds.rs's).

    use std::io::Write as _;

    use super::*;

    struct Scene {
        _dir: tempfile::TempDir,
        path: PathBuf,
        reader: Reader,
    }

    impl Scene {
        fn new(initial: Option<&str>) -> Scene {
            let dir = tempfile::tempdir().expect("a temporary directory");
            let path = dir.path().join("app.log");
            if let Some(text) = initial {
                std::fs::write(&path, text).expect("the log is written");
            }
            let mut reader = Reader::new(Arc::from("test: feed log"), path.clone(), 100);
            reader.start_at_end();
            Scene {
                _dir: dir,
                path,
                reader,
            }
        }

        fn append(&self, text: &str) {
            let mut file = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(&self.path)
                .expect("the log opens");
            file.write_all(text.as_bytes())
                .expect("the log is appended");
        }

        /// Every line there is to read now.
        fn lines(&mut self) -> Vec<String> {
            let mut lines = Vec::new();
            loop {
                let step = self.reader.step();
                lines.extend(step.batch.lines);
                if !step.more {
                    return lines;
                }
            }
        }
    }

    #[test]
    fn starts_at_the_end_then_hands_on_what_is_appended() {
        let mut scene = Scene::new(Some("old\nhalf of an old"));
        assert!(scene.lines().is_empty());
        scene.append(" line\nnew\npartial");
        assert_eq!(scene.lines(), ["new"]);
        scene.append(" line\n");
        assert_eq!(scene.lines(), ["partial line"]);
    }

    #[test]
    fn a_truncated_file_is_read_again_from_its_start() {
        let mut scene = Scene::new(Some("before\n"));
        scene.append("one\n");
        assert_eq!(scene.lines(), ["one"]);
        std::fs::write(&scene.path, "a\n").expect("truncated and written");
        assert_eq!(scene.lines(), ["a"]);
    }

    #[test]
    fn a_rotated_file_is_finished_then_the_new_one_followed() {
        let mut scene = Scene::new(Some(""));
        scene.append("one\n");
        assert_eq!(scene.lines(), ["one"]);
        scene.append("two\nunfinished");
        let rotated = scene.path.with_extension("log.1");
        std::fs::rename(&scene.path, &rotated).expect("rotated");
        // Gone for now: the old file is still read.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&rotated)
            .and_then(|mut file| file.write_all(b" still\n"))
            .expect("the old file grows");
        assert_eq!(scene.lines(), ["two", "unfinished still"]);
        std::fs::write(&scene.path, "fresh\n").expect("a new file");
        assert_eq!(scene.lines(), ["fresh"]);
    }

    #[test]
    fn a_file_gone_for_longer_than_a_rotation_is_reported_and_its_return_told() {
        let mut scene = Scene::new(Some(""));
        scene.reader.gone_grace = Duration::ZERO;
        std::fs::remove_file(&scene.path).expect("the log is deleted");
        assert!(scene.lines().is_empty());
        let problem = scene.reader.problem.clone().expect("reported");
        assert!(problem.contains("No such file"), "{problem}");
        scene.append("back\n");
        assert_eq!(scene.lines(), ["back"]);
        assert!(scene.reader.problem.is_none(), "its return was told");
    }

    #[test]
    fn a_missing_file_is_followed_from_its_start_once_it_appears() {
        let mut scene = Scene::new(None);
        assert!(scene.lines().is_empty());
        assert!(scene.reader.problem.is_some(), "the problem was reported");
        scene.append("first\nsecond\n");
        assert_eq!(scene.lines(), ["first", "second"]);
        assert!(scene.reader.problem.is_none());
    }

    #[test]
    fn a_long_backlog_comes_in_bounded_batches() {
        let mut scene = Scene::new(Some(""));
        let backlog: String = (0..3000).map(|n| format!("{n}\n")).collect();
        scene.append(&backlog);
        let first = scene.reader.step();
        assert!(first.more);
        assert_eq!(
            first.batch.lines.len(),
            super::super::lines::MAX_BATCH_LINES
        );
        let rest = scene.lines();
        assert_eq!(rest.len(), 3000 - first.batch.lines.len());
        assert_eq!(rest.last().map(String::as_str), Some("2999"));
    }
}
