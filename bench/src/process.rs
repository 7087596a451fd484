//! What the bench reads about, and sets on, processes apart from CPU time:
//! the server's resident memory (the connect scenario's per-connection
//! figure), how many sockets it holds (how `broadcast --stalled` sees
//! connections it dropped), the bench's own open-file limit (10 000
//! client sockets do not fit in the usual soft limit of 1024), and the
//! temporary directories a run leaves nothing of.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

/// A fresh, empty directory of this run's own under the system's temporary
/// directory (a server's config and data, a code cache, generated files),
/// removed with everything in it when dropped, so no error path leaves one
/// behind.
pub struct TempDir(PathBuf);

impl TempDir {
    /// `switchboard-bench-PURPOSE-PID-N`, for the first N not taken.
    pub fn new(purpose: &str) -> anyhow::Result<TempDir> {
        let base = std::env::temp_dir();
        for attempt in 0..1000u32 {
            let dir = base.join(format!(
                "switchboard-bench-{purpose}-{}-{attempt}",
                std::process::id()
            ));
            match std::fs::create_dir(&dir) {
                Ok(()) => return Ok(TempDir(dir)),
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(error) => {
                    return Err(error).with_context(|| format!("cannot create {}", dir.display()));
                }
            }
        }
        bail!("cannot create a directory under {}", base.display())
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Raise this process's soft limit on open files to its hard limit, and
/// return the new soft limit. A server the bench starts afterwards inherits
/// it, which it needs just as much (one socket per connection).
pub fn raise_open_file_limit() -> anyhow::Result<u64> {
    // SAFETY: rlimit is plain data; getrlimit fills it in.
    let mut limit: libc::rlimit = unsafe { std::mem::zeroed() };
    // SAFETY: a valid resource and a valid out pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(std::io::Error::last_os_error()).context("cannot read the open-file limit");
    }
    if limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max;
        // SAFETY: a valid resource and a fully initialised rlimit; raising
        // the soft limit up to the hard one needs no privilege.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
            return Err(std::io::Error::last_os_error()).with_context(|| {
                format!("cannot raise the open-file limit to {}", limit.rlim_max)
            });
        }
    }
    Ok(limit.rlim_cur)
}

/// The resident memory of process `pid` in KiB (VmRSS in
/// `/proc/PID/status`): the pages it actually holds, which is what an open
/// connection costs a machine, unlike the address space it reserved.
pub fn resident_kib(pid: u32) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    parse_vm_rss(&status).with_context(|| format!("cannot find VmRSS in {path}"))
}

/// How many sockets process `pid` has open (its listeners and every
/// connection it has not closed): the entries of `/proc/PID/fd` that link
/// to `socket:[INODE]`. A connection the server has dropped leaves this
/// count at once, even while the kernel still holds its unsent data.
pub fn open_sockets(pid: u32) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/fd");
    let entries = std::fs::read_dir(&path).with_context(|| format!("cannot read {path}"))?;
    let mut sockets = 0;
    for entry in entries {
        // A descriptor closed between listing and reading is not counted.
        let Ok(entry) = entry else { continue };
        if std::fs::read_link(entry.path()).is_ok_and(|target| {
            target
                .as_os_str()
                .as_encoded_bytes()
                .starts_with(b"socket:")
        }) {
            sockets += 1;
        }
    }
    Ok(sockets)
}

/// `VmRSS:     12345 kB` (the kernel always writes kB).
fn parse_vm_rss(status: &str) -> anyhow::Result<u64> {
    let Some(line) = status.lines().find(|line| line.starts_with("VmRSS:")) else {
        bail!("no VmRSS line");
    };
    let mut fields = line["VmRSS:".len()..].split_whitespace();
    let value = fields.next().context("VmRSS has no value")?;
    if fields.next() != Some("kB") {
        bail!("VmRSS is not in kB: {line:?}");
    }
    value
        .parse()
        .with_context(|| format!("VmRSS is not a number: {line:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_rss_is_read_from_its_line() {
        let status =
            "Name:\tswitchboard\nVmPeak:\t  999 kB\nVmRSS:\t   12345 kB\nRssAnon:\t 1 kB\n";
        assert_eq!(parse_vm_rss(status).unwrap(), 12345);
    }

    #[test]
    fn a_status_without_vm_rss_is_an_error() {
        // Kernel threads have no VmRSS line.
        assert!(parse_vm_rss("Name:\tkthreadd\nState:\tS\n").is_err());
        assert!(parse_vm_rss("VmRSS:\t 12 MB\n").is_err());
    }

    #[test]
    fn this_process_has_some_memory_and_files() {
        let kib = resident_kib(std::process::id()).unwrap();
        assert!(kib > 0);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        assert!(open_sockets(std::process::id()).unwrap() >= 1);
        drop(listener);
        assert!(raise_open_file_limit().unwrap() > 0);
    }

    #[test]
    fn temporary_directories_are_distinct_and_removed_when_dropped() {
        let (a, b) = (TempDir::new("test").unwrap(), TempDir::new("test").unwrap());
        assert_ne!(a.path(), b.path());
        std::fs::write(a.path().join("file"), "x").unwrap();
        let path = a.path().to_path_buf();
        drop(a);
        assert!(!path.exists());
        assert!(b.path().is_dir());
    }
}
