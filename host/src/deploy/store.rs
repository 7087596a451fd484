//! Versions on disk, so that what was deployed survives a restart and a
//! rollback still works after one.
//!
//! The data directory holds two kinds of file:
//!
//! ```text
//! modules/<sha256>.wasm   every module a deploy accepted, named by its
//!                         content hash, so the same bytes are stored once
//! apps/<name>.json        one record per app: its route, its versions
//!                         (oldest first) and which one is active
//! ```
//!
//! Every write is atomic (temporary file, fsync, rename, fsync of the
//! folder): a crash leaves the old file or the new one, never half of one.
//! A module is checked against its hash when read back, so a damaged file is
//! an error rather than a different app.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::guest::ModuleHash;

/// Where a version came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The module file named in the config (at startup or when it changed).
    File,
    /// An upload through the admin API (or `switchboard deploy`).
    Upload,
}

/// One stored version of an app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionRecord {
    /// Hex SHA-256 of the module; the file name under `modules/`.
    pub sha256: String,
    pub size: u64,
    /// When this version was first stored, in seconds since the Unix epoch.
    pub deployed_at: u64,
    pub source: Source,
}

impl VersionRecord {
    pub fn new(hash: &ModuleHash, size: usize, source: Source) -> Self {
        VersionRecord {
            sha256: hash.to_hex(),
            size: size as u64,
            deployed_at: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |since| since.as_secs()),
            source,
        }
    }
}

/// What the data directory remembers about one app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppRecord {
    pub name: String,
    pub route: String,
    /// Hex SHA-256 of the active version; always one of `versions`.
    pub active: String,
    /// Oldest first. A rollback steps back through this list.
    pub versions: Vec<VersionRecord>,
    /// Hex SHA-256 of the config's module file when it was last deployed,
    /// so a restart can tell "the file changed while we were down" (deploy
    /// it) from "an upload or rollback happened since" (keep that).
    #[serde(default)]
    pub file_sha256: Option<String>,
}

impl AppRecord {
    /// Make `version` the active one, appending it if it is new, and forget
    /// the oldest versions beyond `keep` (never the active one).
    pub fn activate(&mut self, version: VersionRecord, keep: usize) {
        self.active = version.sha256.clone();
        if !self.versions.iter().any(|v| v.sha256 == version.sha256) {
            self.versions.push(version);
        }
        let keep = keep.max(1);
        while self.versions.len() > keep {
            let Some(oldest) = self.versions.iter().position(|v| v.sha256 != self.active) else {
                break;
            };
            self.versions.remove(oldest);
        }
    }

    /// The version before the active one: where a rollback goes.
    pub fn previous(&self) -> Option<&VersionRecord> {
        let active = self.versions.iter().position(|v| v.sha256 == self.active)?;
        active.checked_sub(1).map(|index| &self.versions[index])
    }

    /// A stored version named by its full hash or a unique prefix of it.
    pub fn find(&self, prefix: &str) -> Result<&VersionRecord, FindError> {
        let prefix = prefix.to_ascii_lowercase();
        let mut matches = self
            .versions
            .iter()
            .filter(|v| v.sha256.starts_with(&prefix));
        match (matches.next(), matches.next()) {
            _ if prefix.is_empty() => Err(FindError::NotFound),
            (Some(found), None) => Ok(found),
            (Some(_), Some(_)) => Err(FindError::Ambiguous),
            (None, _) => Err(FindError::NotFound),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FindError {
    NotFound,
    Ambiguous,
}

/// Why the store could not do something; the text names the file.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("{path}: stored module does not match its hash (damaged file?)")]
    Damaged { path: String },
    #[error("{path}: {reason}")]
    BadRecord { path: String, reason: String },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The data directory.
#[derive(Debug, Clone)]
pub struct VersionStore {
    modules: PathBuf,
    apps: PathBuf,
}

impl VersionStore {
    /// Open (creating if needed) a data directory.
    pub fn open(root: &Path) -> Result<Self, StoreError> {
        let store = VersionStore {
            modules: root.join("modules"),
            apps: root.join("apps"),
        };
        fs::create_dir_all(&store.modules).map_err(io_error(&store.modules))?;
        fs::create_dir_all(&store.apps).map_err(io_error(&store.apps))?;
        Ok(store)
    }

    fn module_path(&self, sha256: &str) -> PathBuf {
        self.modules.join(format!("{sha256}.wasm"))
    }

    fn record_path(&self, name: &str) -> PathBuf {
        self.apps.join(format!("{name}.json"))
    }

    /// Store a module under its hash. Storing the same bytes twice is free.
    pub fn put_module(&self, hash: &ModuleHash, bytes: &[u8]) -> Result<(), StoreError> {
        let path = self.module_path(&hash.to_hex());
        if path.exists() {
            return Ok(());
        }
        write_atomically(&path, bytes)
    }

    /// Read a module back, checking it is still the bytes that were stored.
    pub fn read_module(&self, sha256: &str) -> Result<Vec<u8>, StoreError> {
        let path = self.module_path(sha256);
        let bytes = fs::read(&path).map_err(io_error(&path))?;
        if ModuleHash::of(&bytes).to_hex() != sha256 {
            return Err(StoreError::Damaged {
                path: path.display().to_string(),
            });
        }
        Ok(bytes)
    }

    /// Every app record, in name order. A record that cannot be read is
    /// reported beside the good ones rather than hiding them.
    pub fn load_apps(&self) -> (Vec<AppRecord>, Vec<StoreError>) {
        let mut records = Vec::new();
        let mut errors = Vec::new();
        let entries = match fs::read_dir(&self.apps) {
            Ok(entries) => entries,
            Err(error) => return (records, vec![io_error(&self.apps)(error)]),
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            match read_record(&path) {
                Ok(record) => records.push(record),
                Err(error) => errors.push(error),
            }
        }
        records.sort_by(|a, b| a.name.cmp(&b.name));
        (records, errors)
    }

    pub fn save_app(&self, record: &AppRecord) -> Result<(), StoreError> {
        let path = self.record_path(&record.name);
        let text = serde_json::to_vec_pretty(record).map_err(|error| StoreError::BadRecord {
            path: path.display().to_string(),
            reason: error.to_string(),
        })?;
        write_atomically(&path, &text)
    }

    pub fn remove_app(&self, name: &str) -> Result<(), StoreError> {
        let path = self.record_path(name);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(error) => Err(io_error(&path)(error)),
        }
    }

    /// Delete every stored module no app record names any more. Returns how
    /// many were deleted. Call it only while no deploy is between storing a
    /// module and saving the record that names it.
    pub fn collect_garbage(&self) -> Result<usize, StoreError> {
        let (records, errors) = self.load_apps();
        if let Some(error) = errors.into_iter().next() {
            // A record we cannot read may name modules: keep everything.
            return Err(error);
        }
        let referenced: HashSet<String> = records
            .iter()
            .flat_map(|record| record.versions.iter().map(|v| v.sha256.clone()))
            .collect();
        let mut deleted = 0;
        let entries = fs::read_dir(&self.modules).map_err(io_error(&self.modules))?;
        for entry in entries.flatten() {
            let path = entry.path();
            let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            let is_module = path.extension().and_then(|e| e.to_str()) == Some("wasm");
            if is_module && !referenced.contains(stem) {
                fs::remove_file(&path).map_err(io_error(&path))?;
                deleted += 1;
            }
        }
        Ok(deleted)
    }
}

fn read_record(path: &Path) -> Result<AppRecord, StoreError> {
    let text = fs::read(path).map_err(io_error(path))?;
    let record: AppRecord =
        serde_json::from_slice(&text).map_err(|error| StoreError::BadRecord {
            path: path.display().to_string(),
            reason: error.to_string(),
        })?;
    if !record.versions.iter().any(|v| v.sha256 == record.active) {
        return Err(StoreError::BadRecord {
            path: path.display().to_string(),
            reason: "the active version is not among the stored versions".into(),
        });
    }
    Ok(record)
}

/// Write a file so that readers see the old contents or the new, never a
/// mix: a temporary file beside it, fsync, rename over, fsync the folder.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let folder = path.parent().unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .and_then(|name| name.to_str())
        .unwrap_or("file");
    let temporary = folder.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temporary, path)?;
        File::open(folder)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    result.map_err(io_error(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(byte: u8) -> VersionRecord {
        VersionRecord::new(&ModuleHash::of(&[byte]), 1, Source::Upload)
    }

    fn record(first: VersionRecord) -> AppRecord {
        AppRecord {
            name: "echo".into(),
            route: "/echo".into(),
            active: first.sha256.clone(),
            versions: vec![first],
            file_sha256: None,
        }
    }

    #[test]
    fn activating_keeps_the_newest_and_never_drops_the_active_one() {
        let mut app = record(version(1));
        for byte in 2..=6 {
            app.activate(version(byte), 3);
        }
        let kept: Vec<_> = app.versions.iter().map(|v| v.sha256.clone()).collect();
        let expected: Vec<_> = (4..=6).map(|b| version(b).sha256).collect();
        assert_eq!(kept, expected);

        // Roll back to the oldest kept, then deploy two more: the active one
        // (now the oldest) survives pruning.
        app.active = version(4).sha256;
        app.activate(version(7), 2);
        assert_eq!(app.active, version(7).sha256);
        assert_eq!(app.versions.len(), 2);
        app.active = version(6).sha256;
        app.activate(version(6), 1);
        assert_eq!(app.versions.len(), 1);
        assert_eq!(app.versions[0].sha256, version(6).sha256);
    }

    #[test]
    fn rollback_steps_back_and_prefixes_find_versions() {
        let mut app = record(version(1));
        app.activate(version(2), 5);
        assert_eq!(app.previous().map(|v| &v.sha256), Some(&version(1).sha256));
        app.active = version(1).sha256;
        assert!(app.previous().is_none());
        let full = version(2).sha256;
        assert_eq!(app.find(&full[..8]).map(|v| &v.sha256), Ok(&full));
        assert_eq!(app.find("zz"), Err(FindError::NotFound));
        assert_eq!(app.find(""), Err(FindError::NotFound));
    }

    #[test]
    fn modules_and_records_round_trip_and_garbage_is_collected() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = VersionStore::open(dir.path()).expect("open");
        let kept = ModuleHash::of(b"kept");
        let orphan = ModuleHash::of(b"orphan");
        store.put_module(&kept, b"kept").expect("put");
        store.put_module(&orphan, b"orphan").expect("put");
        let app = record(VersionRecord::new(&kept, 4, Source::File));
        store.save_app(&app).expect("save");

        let (loaded, errors) = store.load_apps();
        assert!(errors.is_empty());
        assert_eq!(loaded, vec![app]);
        assert_eq!(store.collect_garbage().expect("gc"), 1);
        assert_eq!(store.read_module(&kept.to_hex()).expect("read"), b"kept");
        assert!(store.read_module(&orphan.to_hex()).is_err());

        // A damaged module is refused, not loaded as something else.
        fs::write(store.module_path(&kept.to_hex()), b"tampered").expect("write");
        assert!(matches!(
            store.read_module(&kept.to_hex()),
            Err(StoreError::Damaged { .. })
        ));
    }
}
