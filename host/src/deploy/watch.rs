//! Watching module files: saving a new build over an app's module file
//! deploys it, with no command to run.
//!
//! Builds and editors rarely write a file in one go: some write it in place
//! in pieces, others write a temporary file and rename it over the old one
//! (which replaces the inode, so watching the file itself would go deaf
//! after the first swap). So the watcher watches each module's folder and
//! waits until a file has been quiet for `QUIET_PERIOD` before reading it.
//! A file that is still half-written at that point fails to compile, which
//! the deploy path treats like any bad module: the old version keeps serving,
//! and the next write triggers another try.
//!
//! Only writes, creations and renames count. Reading a file is an event too
//! (inotify reports opens and closes), and reacting to those would make the
//! watcher's own read of a module trigger the next read, forever.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use notify_debouncer_full::notify::event::{EventKind, ModifyKind};
use notify_debouncer_full::notify::{RecommendedWatcher, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::Deployer;

/// How long a file must be left alone before it is read. Long enough for a
/// linker's write-then-rename to finish, short enough that a save is live
/// well within a second.
const QUIET_PERIOD: Duration = Duration::from_millis(250);

/// Keeps the watch alive; dropping it stops watching.
pub struct Watch {
    _debouncer: Debouncer<RecommendedWatcher, RecommendedCache>,
}

/// Watch every app's module file and deploy it when it changes, until
/// `shutdown`.
pub fn watch_module_files(
    deployer: Arc<Deployer>,
    shutdown: CancellationToken,
) -> anyhow::Result<Option<Watch>> {
    let files: HashMap<PathBuf, String> = deployer
        .watched_files()
        .into_iter()
        .map(|(name, path)| (absolute(&path), name))
        .collect();
    if files.is_empty() {
        return Ok(None);
    }
    let (changed_sender, mut changed) = mpsc::unbounded_channel::<PathBuf>();
    let mut debouncer = new_debouncer(QUIET_PERIOD, None, move |result: DebounceEventResult| {
        match result {
            Ok(events) => {
                for event in events {
                    let written = match event.kind {
                        EventKind::Create(_) => true,
                        EventKind::Modify(ModifyKind::Metadata(_)) => false,
                        EventKind::Modify(_) => true,
                        _ => false,
                    };
                    if written {
                        // A rename names the old path, then the new one.
                        for path in &event.paths {
                            let _ = changed_sender.send(path.clone());
                        }
                    }
                }
            }
            Err(errors) => {
                for error in errors {
                    tracing::warn!("file watcher: {error}");
                }
            }
        }
    })
    .context("cannot start the file watcher")?;
    let mut folders: Vec<PathBuf> = files
        .keys()
        .filter_map(|path| path.parent().map(PathBuf::from))
        .collect();
    folders.sort();
    folders.dedup();
    for folder in &folders {
        debouncer
            .watch(folder, RecursiveMode::NonRecursive)
            .with_context(|| format!("cannot watch {}", folder.display()))?;
    }
    tokio::spawn(async move {
        loop {
            let path = tokio::select! {
                () = shutdown.cancelled() => break,
                path = changed.recv() => match path {
                    Some(path) => path,
                    None => break,
                },
            };
            if let Some(name) = files.get(&absolute(&path)) {
                deployer.deploy_file(name, &path).await;
            }
        }
    });
    Ok(Some(Watch {
        _debouncer: debouncer,
    }))
}

/// Paths from the config may be relative; events carry absolute ones.
fn absolute(path: &std::path::Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}
