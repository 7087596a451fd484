//! Feeds: files the config grants an app to follow (`[[apps.feeds]]`),
//! read-only, by a name the config gives them. The app names the feed,
//! never a path, so it can read the granted files and nothing else.
//!
//! Two things use a grant. `Followers` are the host following each granted
//! file while the app runs (one task per file, `follower`), handing its new
//! lines to the app's `feed-handler.on-lines` in batches; they start with
//! the app and stop when it is removed or the host stops, and a hot swap or
//! a trap leaves them be, since they post to the app's mailbox, not to an
//! instance. `Grants` travel with the app's registry (`guest::Connections`)
//! so that every instance answers `feeds.granted` and `feeds.tail` from the
//! same list.
//!
//! - `file`: opening a granted path safely, and telling files apart;
//! - `lines`: bytes into lines (cut, UTF-8 replaced) and lines into batches;
//! - `follower`: following one file across rotation and truncation;
//! - `tail`: the last lines of a file, for `feeds.tail`.

mod file;
mod follower;
mod lines;
mod tail;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use notify_debouncer_full::notify::{
    self, EventKind, RecommendedWatcher, RecursiveMode, Watcher as _,
};
use tokio::sync::Notify;
use tokio_util::sync::{CancellationToken, DropGuard};

pub use follower::POLL_INTERVAL;
pub use lines::{MAX_BATCH_BYTES, MAX_BATCH_LINES};
pub use tail::{MAX_TAIL_BYTES, MAX_TAIL_LINES};

use crate::app::AppHandle;
use crate::config::{FeedGrant, Limits};

/// The feeds one app is granted, by name, in the config's order. Cheap to
/// clone: every instance of the app holds the same list.
#[derive(Clone)]
pub struct Grants {
    feeds: Arc<[Feed]>,
    max_line_bytes: usize,
}

struct Feed {
    name: Arc<str>,
    /// Absolute, so that the watcher's events name it the same way.
    path: PathBuf,
}

/// Why `tail` read nothing.
#[derive(Debug, thiserror::Error)]
pub enum TailError {
    #[error("no feed of that name is granted to this app")]
    UnknownFeed,
    #[error("cannot read {path}: {source}")]
    Unreadable {
        path: String,
        source: std::io::Error,
    },
}

impl Default for Grants {
    /// No feeds.
    fn default() -> Grants {
        Grants::new(&[], Limits::default().max_feed_line_bytes)
    }
}

impl Grants {
    /// The config's grants for one app; lines longer than
    /// `max_line_bytes` (`limits.max_feed_line_bytes`) are cut there.
    pub fn new(feeds: &[FeedGrant], max_line_bytes: usize) -> Grants {
        let feeds = feeds
            .iter()
            .map(|feed| Feed {
                name: Arc::from(feed.name.as_str()),
                path: std::path::absolute(&feed.path).unwrap_or_else(|_| feed.path.clone()),
            })
            .collect();
        Grants {
            feeds,
            max_line_bytes,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.feeds.is_empty()
    }

    /// The names the app may use, in the config's order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.feeds.iter().map(|feed| &*feed.name)
    }

    /// The file granted under `name`, if any.
    pub fn path(&self, name: &str) -> Option<&Path> {
        self.feeds
            .iter()
            .find(|feed| &*feed.name == name)
            .map(|feed| feed.path.as_path())
    }

    /// The last `lines` complete lines of the feed `name` (at most
    /// `MAX_TAIL_LINES`, from at most `MAX_TAIL_BYTES` of its end), oldest
    /// first, cut and replaced as `on-lines` hands them.
    pub fn tail(&self, name: &str, lines: u32) -> Result<Vec<String>, TailError> {
        let path = self.path(name).ok_or(TailError::UnknownFeed)?;
        let lines = usize::try_from(lines).unwrap_or(usize::MAX);
        tail::tail(path, lines, self.max_line_bytes).map_err(|source| TailError::Unreadable {
            path: path.display().to_string(),
            source,
        })
    }
}

/// The tasks following one app's feeds, and the file watcher that wakes
/// them. Dropping it stops them.
pub struct Followers {
    // Dropped first: the tasks stop before the watcher goes.
    _stop: DropGuard,
    _watcher: Option<RecommendedWatcher>,
}

impl Followers {
    /// Start following every feed `grants` names for the app behind `app`.
    /// Each file is opened now, so that the app hears what is appended
    /// from this moment, and a file that cannot be read is an error line
    /// in the log at startup (the follower then waits for it). Runs its
    /// tasks on the tokio runtime this is called in; outside one it follows
    /// nothing and says so.
    pub fn start(app: &AppHandle, grants: &Grants) -> Followers {
        let stop = CancellationToken::new();
        let mut followers = Followers {
            _stop: stop.clone().drop_guard(),
            _watcher: None,
        };
        if grants.is_empty() {
            return followers;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::error!(
                "{}: its feeds are not followed: no async runtime to follow them on",
                app.name()
            );
            return followers;
        };
        let mut wakes: HashMap<PathBuf, Vec<Arc<Notify>>> = HashMap::new();
        for feed in grants.feeds.iter() {
            let label: Arc<str> = Arc::from(format!("{}: feed {}", app.name(), feed.name));
            let wake = Arc::new(Notify::new());
            wakes
                .entry(feed.path.clone())
                .or_default()
                .push(wake.clone());
            // A path through a symbolic link changes where the link points.
            if let Ok(target) = std::fs::canonicalize(&feed.path)
                && target != feed.path
            {
                wakes.entry(target).or_default().push(wake.clone());
            }
            let mut reader = follower::Reader::new(label, feed.path.clone(), grants.max_line_bytes);
            reader.start_at_end();
            runtime.spawn(follower::follow(
                reader,
                feed.name.clone(),
                app.clone(),
                wake,
                stop.clone(),
            ));
        }
        followers._watcher = watch(app.name(), wakes);
        followers
    }
}

/// Watch the folders of the followed files and wake a file's follower on
/// any change to it (its folder, not the file: a rotation replaces the
/// file, and a missing file has nothing to watch). Opening and reading are
/// events too, and are ignored: the followers' own reads would wake them.
/// Without a watcher, or for a folder it cannot watch, the followers' slow
/// poll still finds every change.
fn watch(app: &str, wakes: HashMap<PathBuf, Vec<Arc<Notify>>>) -> Option<RecommendedWatcher> {
    let folders: BTreeSet<PathBuf> = wakes
        .keys()
        .filter_map(|path| path.parent().map(Path::to_path_buf))
        .collect();
    let every: Vec<Arc<Notify>> = wakes.values().flatten().cloned().collect();
    let wake_all = move || every.iter().for_each(|wake| wake.notify_one());
    let app_name = app.to_string();
    let handler = move |event: notify::Result<notify::Event>| match event {
        Ok(event) if matches!(event.kind, EventKind::Access(_)) => {}
        // Events were lost: anything may have changed.
        Ok(event) if event.need_rescan() => wake_all(),
        Ok(event) => {
            for wake in event.paths.iter().filter_map(|path| wakes.get(path)) {
                wake.iter().for_each(|wake| wake.notify_one());
            }
        }
        Err(error) => {
            tracing::warn!("{app_name}: watching its feeds: {error}");
            wake_all();
        }
    };
    let mut watcher = match notify::recommended_watcher(handler) {
        Ok(watcher) => watcher,
        Err(error) => {
            tracing::warn!(
                "{app}: cannot watch its feeds ({error}); looking at them every {} s instead",
                POLL_INTERVAL.as_secs()
            );
            return None;
        }
    };
    for folder in folders {
        if let Err(error) = watcher.watch(&folder, RecursiveMode::NonRecursive) {
            let why = match error.kind {
                notify::ErrorKind::PathNotFound => "it does not exist".to_string(),
                _ => error.to_string(),
            };
            tracing::warn!(
                "{app}: cannot watch {} for its feeds ({why}); looking at them every {} s instead",
                folder.display(),
                POLL_INTERVAL.as_secs()
            );
        }
    }
    Some(watcher)
}
