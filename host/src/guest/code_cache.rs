//! Compiled components kept on disk, so a host restart serves its apps
//! without compiling them again.
//!
//! A JavaScript or Python component is 12–18 MB of WebAssembly (a whole
//! language runtime) and takes Cranelift 15–30 s to compile; a host that
//! compiled every app at each start would be slow to come back. Each
//! compiled component is written here once, named by what decides whether
//! the code fits: the module's SHA-256 and a hash of the engine's settings
//! (`Engine::precompile_compatibility_hash`: target, wasmtime's own version,
//! every setting that changes the code). An entry is also checked on the
//! way in:
//!
//! - its own SHA-256, written in front of it, must match: a truncated or
//!   damaged file is thrown away and the component compiled again;
//! - wasmtime refuses code from another version or configuration (a cache
//!   directory shared between hosts of different builds); that entry is
//!   compiled again too, and rewritten.
//!
//! Loading compiled code trusts it to be what this host wrote: the cache
//! directory must be as private as the host binary itself (it is created
//! readable by its owner only). Entries are written under a temporary name
//! and renamed, so hosts sharing a directory never read half a file. The
//! directory is bounded in bytes: after each write the least recently used
//! entries go until it fits.

use std::hash::{DefaultHasher, Hash as _, Hasher as _};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use super::ModuleHash;

/// What every entry starts with, then the SHA-256 of the rest.
const MAGIC: &[u8; 8] = b"SBCODE1\n";
const HEADER_LEN: usize = MAGIC.len() + 32;

/// A directory of compiled components for one engine configuration.
#[derive(Debug, Clone)]
pub struct CodeCache {
    dir: PathBuf,
    /// Hex of the engine's compatibility hash: part of every entry's name.
    engine_key: String,
    max_bytes: u64,
}

/// What `load` found.
pub enum Lookup {
    Hit(Component),
    /// Nothing usable: compile, then `store`. The reason is for the log
    /// when an entry existed but could not be used.
    Miss(Option<String>),
}

impl CodeCache {
    /// Use `dir` (created if missing) for `engine`'s compiled code, holding
    /// at most `max_bytes`.
    pub fn open(dir: &Path, engine: &Engine, max_bytes: u64) -> std::io::Result<CodeCache> {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir)?;
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(CodeCache {
            dir: dir.to_path_buf(),
            engine_key: format!("{:016x}", hasher.finish()),
            max_bytes,
        })
    }

    fn path_of(&self, module: &ModuleHash) -> PathBuf {
        self.dir
            .join(format!("{}-{}.code", module.to_hex(), self.engine_key))
    }

    /// The compiled code of `module`, if an intact entry made by an engine
    /// like this one is here.
    pub fn load(&self, engine: &Engine, module: &ModuleHash) -> Lookup {
        let path = self.path_of(module);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Lookup::Miss(None);
            }
            Err(error) => {
                return Lookup::Miss(Some(format!("cannot read {}: {error}", path.display())));
            }
        };
        let intact = bytes.len() >= HEADER_LEN
            && bytes.starts_with(MAGIC)
            && Sha256::digest(&bytes[HEADER_LEN..]).as_slice() == &bytes[MAGIC.len()..HEADER_LEN];
        if !intact {
            let _ = std::fs::remove_file(&path);
            return Lookup::Miss(Some(format!(
                "{} is damaged; it was removed",
                path.display()
            )));
        }
        // SAFETY: wasmtime runs this as machine code without further
        // checks beyond its own header (version, target, settings). The
        // bytes are exactly what `store` wrote, as the checksum above shows,
        // in a directory only the host's user can write (see the module's
        // opening comment).
        match unsafe { Component::deserialize(engine, &bytes[HEADER_LEN..]) } {
            Ok(component) => {
                // Mark it recently used, for the bound.
                let _ = std::fs::File::options()
                    .append(true)
                    .open(&path)
                    .and_then(|file| file.set_modified(std::time::SystemTime::now()));
                Lookup::Hit(component)
            }
            Err(error) => {
                let _ = std::fs::remove_file(&path);
                Lookup::Miss(Some(format!(
                    "{} was made by another build or configuration ({}); it was removed",
                    path.display(),
                    super::one_line(&error)
                )))
            }
        }
    }

    /// Keep `component`'s code as `module`'s entry, then trim the directory
    /// to its bound. A cache that cannot be written costs only speed, so a
    /// failure is reported for the log, not raised.
    pub fn store(&self, module: &ModuleHash, component: &Component) -> Result<(), String> {
        let code = component.serialize().map_err(|error| {
            format!(
                "cannot serialize compiled code: {}",
                super::one_line(&error)
            )
        })?;
        if code.len() as u64 + HEADER_LEN as u64 > self.max_bytes {
            return Ok(());
        }
        let path = self.path_of(module);
        let temporary = self
            .dir
            .join(format!(".{}.{}.tmp", module.to_hex(), std::process::id()));
        let written = (|| -> std::io::Result<()> {
            let mut file = std::fs::File::create(&temporary)?;
            file.write_all(MAGIC)?;
            file.write_all(&Sha256::digest(&code))?;
            file.write_all(&code)?;
            file.sync_all()?;
            std::fs::rename(&temporary, &path)
        })();
        if let Err(error) = written {
            let _ = std::fs::remove_file(&temporary);
            return Err(format!("cannot write {}: {error}", path.display()));
        }
        self.trim();
        Ok(())
    }

    /// Remove the least recently used entries until the directory fits.
    fn trim(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let mut files: Vec<(std::time::SystemTime, u64, PathBuf)> = entries
            .filter_map(Result::ok)
            .filter(|entry| entry.path().extension().is_some_and(|ext| ext == "code"))
            .filter_map(|entry| {
                let metadata = entry.metadata().ok()?;
                Some((metadata.modified().ok()?, metadata.len(), entry.path()))
            })
            .collect();
        let mut total: u64 = files.iter().map(|(_, len, _)| len).sum();
        files.sort();
        for (_, len, path) in files {
            if total <= self.max_bytes {
                break;
            }
            if std::fs::remove_file(&path).is_ok() {
                total = total.saturating_sub(len);
            }
        }
    }
}
