//! Starting, watching and stopping the `switchboard` process under test
//! (and `bare-echo`, the floor server the standard set measures beside it).
//!
//! The bench starts the server itself so that every run measures a known
//! binary, on a known core, serving a known app, on ports nobody else uses;
//! and so that it can read the server's CPU time from /proc, which is the
//! headline number. The server announces where it listens (and, with
//! `--admin-listen`, where its admin API is) on stdout; the bench reads
//! those lines rather than guessing ports.
//!
//! The host's default limits protect it from abusive clients: 256
//! connections per address, 20 000 messages per second per connection, a
//! minute of silence. The bench is exactly such a client (thousands of
//! connections from 127.0.0.1, pipelined senders, subscribers that never
//! speak), so every server it starts gets a config that raises them; what is
//! measured is serving, not refusing.

use std::io::{BufRead as _, BufReader};
use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::cpu::CoreSet;
use crate::process::TempDir;

/// Stdout line prefixes that are the server's contract with scripts.
const LISTENING: &str = "switchboard listening on http://";
const ADMIN: &str = "switchboard admin on http://";
/// What `bare-echo` (bench/src/bin/bare-echo.rs) prints once it listens:
/// `bare-echo listening on ws://ADDR/echo`.
const FLOOR_LISTENING: &str = "bare-echo listening on ws://";

/// The server compiles every app before it listens: well under a second for
/// the Rust examples, 15-30 s for a JavaScript or Python one on one core
/// with nothing in the code cache. This only turns a hang into an error.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(180);
/// How long a SIGTERM may take (it closes every client with 1001 first)
/// before the server is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// The last lines of the server's stderr kept to explain a failure.
const STDERR_LINES_KEPT: usize = 40;

/// The limits the bench's servers run with (see the module comment). The
/// field names are the host's `[limits]` table (host/src/config.rs).
/// `mailbox_capacity` stays at its default: it is backpressure, not a
/// refusal, and part of what is measured.
const BENCH_CONFIG: &str = "\
# Written by switchboard-bench for the server it started. The bench opens
# thousands of connections from one address and sends as fast as replies
# come back; the defaults would refuse or close them.
[limits]
max_connections = 20000
max_connections_per_ip = 20000
max_messages_per_second = 1000000
idle_timeout_ms = 3600000
";

/// What the server serves on the route.
#[derive(Debug, Clone, Copy)]
pub enum AppSource<'a> {
    /// A component: `--app /ROUTE=FILE`.
    Wasm(&'a Path),
    /// The host's built-in logic of that name: `--native-app /ROUTE=NAME`.
    Native(&'a str),
}

/// How to start the server.
pub struct Launch<'a> {
    pub binary: &'a Path,
    /// `None`: no app, only the admin API (apps come by `PUT /apps`).
    pub app: Option<AppSource<'a>>,
    /// Route the app is served on, e.g. `/echo`.
    pub route: &'a str,
    /// Pin the server (and every thread it starts) to this core.
    pub core: Option<CoreSet>,
    /// Start the admin API with this bearer token.
    pub admin_token: Option<&'a str>,
    /// What the config file sets besides the bench's own limits.
    pub config: Configured<'a>,
    /// `--code-cache-dir`: compiled apps kept here across servers. By
    /// default each server has its own, empty, in its data directory.
    pub code_cache_dir: Option<&'a Path>,
    /// `RUST_LOG` for the server, e.g. `switchboard=info` to see its
    /// compile lines (`Server::stderr_lines`). By default the bench's own
    /// environment's: more logging would be measured too.
    pub log_filter: Option<&'a str>,
}

/// What a started server's config file sets on top of the bench's limits
/// (`BENCH_CONFIG`). All of it off by default. Anything here but `limits`
/// and `kv_durability` puts the component into the file as an `[[apps]]`
/// entry, since no flag of `serve` sets it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Configured<'a> {
    /// `[limits]` entries set for this run on top of the bench's own (the
    /// host's field names), e.g. a small `max_outbox_bytes` so that clients
    /// that stop reading are dropped within seconds.
    pub limits: &'a [(&'static str, u64)],
    /// Serve the component with permessage-deflate on (`compression =
    /// true`).
    pub compression: bool,
    /// Keep this many publications of every topic of the component (an
    /// `[[apps.history]]` table with `prefix = ""`, `ttl_seconds` =
    /// `HISTORY_TTL_S`), so clients can resume.
    pub history: Option<usize>,
    /// Files the component may follow, as `[[apps.feeds]]` tables: (name,
    /// path).
    pub feeds: &'a [(&'a str, &'a Path)],
    /// `[kv] durability`: what a returned `set` promises (`"sync"` or
    /// `"buffered"`); the host's default when `None`.
    pub kv_durability: Option<&'a str>,
}

impl Configured<'_> {
    /// Whether the app must be an `[[apps]]` entry of the config file.
    fn app_in_file(&self) -> bool {
        self.compression || self.history.is_some() || !self.feeds.is_empty()
    }
}

/// How long the history the bench configures keeps a publication: far
/// longer than any run, so nothing expires while measured.
pub const HISTORY_TTL_S: u64 = 600;

/// Which program a `Server` runs: they announce their address and stop
/// differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `switchboard serve`: exits 0 on SIGTERM after closing its clients.
    Host,
    /// `bare-echo`: has no signal handler, so SIGTERM ends it by the
    /// signal, which is its normal way out.
    Floor,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Host => "switchboard",
            Kind::Floor => "bare-echo",
        }
    }
}

/// A running server. Dropping it kills the process, so no error path of the
/// bench leaves a server behind.
pub struct Server {
    child: Child,
    kind: Kind,
    pub ws_address: String,
    pub admin_address: Option<String>,
    stderr: Arc<Mutex<Vec<String>>>,
    /// When the process was spawned: what a start-up time counts from.
    pub spawned: Instant,
    /// The config and data directory of this run (the host's only), held
    /// only to be removed when the server is dropped.
    _run_dir: Option<TempDir>,
}

impl Server {
    pub fn start(launch: &Launch<'_>) -> anyhow::Result<Server> {
        let flags = serve_flags(launch.binary)?;
        let wants_admin = launch.admin_token.is_some();
        if wants_admin && !flags.contains("--admin-listen") {
            bail!(
                "{} has no admin API (`serve --admin-listen`), which the swap scenario needs",
                launch.binary.display()
            );
        }

        let mut command = Command::new(launch.binary);
        command
            .arg("serve")
            .args(["--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        match launch.app {
            None => {}
            Some(AppSource::Wasm(path)) => {
                // The server would refuse too, but only after starting, and
                // in words about its config rather than about the build.
                if !path.is_file() {
                    bail!(
                        "the component {} does not exist (build the examples with ./scripts/build-examples, or pass --app)",
                        path.display()
                    );
                }
                // With compression, history or feeds the app is in the
                // config file instead.
                if !launch.config.app_in_file() {
                    command
                        .arg("--app")
                        .arg(format!("{}={}", launch.route, path.display()));
                }
            }
            Some(AppSource::Native(name)) => {
                if !flags.contains("--native-app") {
                    bail!(
                        "{} has no built-in apps (`serve --native-app`), which the native baseline needs; rebuild it with `cargo build --release -p switchboard`",
                        launch.binary.display()
                    );
                }
                command
                    .arg("--native-app")
                    .arg(format!("{}={name}", launch.route));
            }
        }
        let config_app = match (launch.config.app_in_file(), launch.app) {
            (false, _) => None,
            (true, Some(AppSource::Wasm(path))) if flags.contains("--config") => {
                // The config file is elsewhere: a relative path would be
                // read from its folder.
                let path = std::path::absolute(path)
                    .with_context(|| format!("cannot resolve {}", path.display()))?;
                Some((launch.route, path))
            }
            (true, _) => bail!(
                "compression, history and feeds need a component served from the config file, which {} with this app cannot do",
                launch.binary.display()
            ),
        };
        // Removed on drop: by this function if starting fails, by the
        // server's drop once it exists.
        let run_dir = TempDir::new("server")?;
        // Hosts without a config file keep their default limits: the bench
        // still runs the scenarios that fit inside them.
        if flags.contains("--config") {
            let config = run_dir.path().join("config.toml");
            let app = config_app
                .as_ref()
                .map(|(route, path)| (*route, path.as_path()));
            std::fs::write(&config, config_text(&launch.config, app))
                .with_context(|| format!("cannot write {}", config.display()))?;
            command.arg("--config").arg(&config);
        }
        // Hosts from before the deploy issue have no data dir; passing the
        // flag to them would only make them refuse to start.
        if flags.contains("--data-dir") {
            let data = run_dir.path().join("data");
            std::fs::create_dir(&data)
                .with_context(|| format!("cannot create {}", data.display()))?;
            command.arg("--data-dir").arg(&data);
        }
        if let Some(token) = launch.admin_token {
            command
                .args(["--admin-listen", "127.0.0.1:0"])
                .env("SWITCHBOARD_ADMIN_TOKEN", token);
        }
        if let Some(dir) = launch.code_cache_dir {
            if !flags.contains("--code-cache-dir") {
                bail!(
                    "{} keeps no compiled code on disk (`serve --code-cache-dir`); rebuild it with `cargo build --release -p switchboard`",
                    launch.binary.display()
                );
            }
            command.arg("--code-cache-dir").arg(dir);
        }
        if let Some(filter) = launch.log_filter {
            command.env("RUST_LOG", filter);
        }
        if let Some(core) = launch.core {
            pin(&mut command, core);
        }
        let spawned = Instant::now();
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {}", launch.binary.display()))?;
        Server::announced(child, Kind::Host, spawned, Some(run_dir), wants_admin)
    }

    /// Start `bare-echo` (the floor: a WebSocket echo server with nothing
    /// but tokio and yawc) on a port of its choosing, pinned like the host
    /// would be, so its CPU per message compares with the host's.
    pub fn start_floor(binary: &Path, core: Option<CoreSet>) -> anyhow::Result<Server> {
        if !binary.is_file() {
            bail!(
                "the floor server {} does not exist (`cargo build --release -p switchboard-bench` builds it beside switchboard-bench; or pass --bare-echo)",
                binary.display()
            );
        }
        let mut command = Command::new(binary);
        command
            .arg("127.0.0.1:0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(core) = core {
            pin(&mut command, core);
        }
        let spawned = Instant::now();
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        Server::announced(child, Kind::Floor, spawned, None, false)
    }

    /// Keep reading the child's output, and wait until it has said where it
    /// listens (and, with `wants_admin`, where its admin API is).
    fn announced(
        mut child: Child,
        kind: Kind,
        spawned: Instant,
        run_dir: Option<TempDir>,
        wants_admin: bool,
    ) -> anyhow::Result<Server> {
        let stderr = Arc::new(Mutex::new(Vec::new()));
        if let Some(pipe) = child.stderr.take() {
            let kept = stderr.clone();
            std::thread::spawn(move || keep_tail(pipe, &kept));
        }
        let (lines, announced) = mpsc::channel();
        if let Some(pipe) = child.stdout.take() {
            // Keeps reading after startup: a server blocked on a full stdout
            // pipe would stall mid-benchmark.
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    let _ = lines.send(line);
                }
            });
        }

        let name = kind.name();
        let mut server = Server {
            child,
            kind,
            ws_address: String::new(),
            admin_address: None,
            stderr,
            spawned,
            _run_dir: run_dir,
        };
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        while server.ws_address.is_empty() || (wants_admin && server.admin_address.is_none()) {
            let remaining = deadline.saturating_duration_since(Instant::now());
            match announced.recv_timeout(remaining.max(Duration::from_millis(1))) {
                Ok(line) => match kind {
                    Kind::Host => {
                        if let Some(address) = line.strip_prefix(LISTENING) {
                            server.ws_address = address.trim().to_string();
                        } else if let Some(address) = line.strip_prefix(ADMIN) {
                            server.admin_address = Some(address.trim().to_string());
                        }
                    }
                    Kind::Floor => {
                        if let Some(address) = floor_address(&line) {
                            server.ws_address = address.to_string();
                        }
                    }
                },
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    // Stdout closed: the server exited. Wait for stderr to be
                    // read so the explanation is complete.
                    let status = server.child.wait().ok();
                    std::thread::sleep(Duration::from_millis(100));
                    bail!(
                        "{name} exited before listening ({}){}",
                        describe(status),
                        server.stderr_tail()
                    );
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    bail!(
                        "{name} did not announce its addresses within {}s{}",
                        STARTUP_TIMEOUT.as_secs(),
                        server.stderr_tail()
                    );
                }
            }
        }
        Ok(server)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the server has died, and how.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The last lines of the server's stderr (its log), oldest first.
    pub fn stderr_lines(&self) -> Vec<String> {
        match self.stderr.lock() {
            Ok(lines) => lines.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The end of the server's stderr, formatted to append to an error.
    pub fn stderr_tail(&self) -> String {
        let lines = self.stderr_lines();
        if lines.is_empty() {
            String::new()
        } else {
            format!("; its stderr ends with:\n{}", lines.join("\n"))
        }
    }

    /// SIGTERM, as an operator would: the host closes every client with
    /// 1001 and exits 0 (bare-echo just ends, by the signal). Anything else
    /// is reported, not hidden.
    pub fn stop(mut self) -> anyhow::Result<()> {
        let name = self.kind.name();
        if let Some(status) = self.exited() {
            bail!(
                "{name} had already exited ({}){}",
                describe(Some(status)),
                self.stderr_tail()
            );
        }
        let pid = libc::pid_t::try_from(self.child.id()).context("pid out of range")?;
        // SAFETY: signalling our own child, which has not been reaped (it is
        // still running, checked above), so the pid cannot have been reused.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            if let Some(status) = self.exited() {
                let expected = status.success()
                    || (self.kind == Kind::Floor && status.signal() == Some(libc::SIGTERM));
                if expected {
                    return Ok(());
                }
                bail!(
                    "{name} exited with {} after SIGTERM{}",
                    describe(Some(status)),
                    self.stderr_tail()
                );
            }
            if Instant::now() >= deadline {
                bail!(
                    "{name} did not exit within {}s of SIGTERM; killed",
                    STOP_TIMEOUT.as_secs()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.exited().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        // The run directory goes after this, with the fields.
    }
}

/// Pin the child (and every thread it starts) to `core`.
fn pin(command: &mut Command, core: CoreSet) {
    // SAFETY: the closure runs between fork and exec and only makes one
    // system call (sched_setaffinity) on a value copied in before the fork:
    // no allocation, no locks.
    unsafe {
        command.pre_exec(move || core.apply());
    }
}

/// The bench's config, with `configured`'s additions, and the component
/// served on `app` = (route, module) as an `[[apps]]` entry when given.
fn config_text(configured: &Configured<'_>, app: Option<(&str, &Path)>) -> String {
    // TOML basic strings: escape what could end them.
    let quoted = |text: &str| format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""));
    let mut text = BENCH_CONFIG.to_string();
    for (name, value) in configured.limits {
        text.push_str(&format!("{name} = {value}\n"));
    }
    if let Some(durability) = configured.kv_durability {
        text.push_str(&format!("\n[kv]\ndurability = {}\n", quoted(durability)));
    }
    if let Some((route, module)) = app {
        text.push_str(&format!(
            "\n[[apps]]\nroute = {}\nmodule = {}\ncompression = {}\n",
            quoted(route),
            quoted(&module.display().to_string()),
            configured.compression
        ));
        if let Some(size) = configured.history {
            text.push_str(&format!(
                "\n[[apps.history]]\nprefix = \"\"\nsize = {size}\nttl_seconds = {HISTORY_TTL_S}\n"
            ));
        }
        for (name, path) in configured.feeds {
            text.push_str(&format!(
                "\n[[apps.feeds]]\nname = {}\npath = {}\n",
                quoted(name),
                quoted(&path.display().to_string())
            ));
        }
    }
    text
}

/// `ADDR` from `bare-echo listening on ws://ADDR/echo`.
fn floor_address(line: &str) -> Option<&str> {
    let rest = line.strip_prefix(FLOOR_LISTENING)?;
    let address = rest.split('/').next()?.trim();
    (!address.is_empty()).then_some(address)
}

/// The flags `serve` accepts, from its help text. The bench must also run
/// against hosts older than the flags it would like to pass.
fn serve_flags(binary: &Path) -> anyhow::Result<String> {
    let output = Command::new(binary)
        .args(["serve", "--help"])
        .stdin(Stdio::null())
        .output()
        .with_context(|| {
            format!(
                "cannot run {} (build it with `cargo build --release -p switchboard`, or pass --switchboard)",
                binary.display()
            )
        })?;
    if !output.status.success() {
        bail!(
            "`{} serve --help` failed: {}",
            binary.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn keep_tail(pipe: impl std::io::Read, kept: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(pipe);
    let mut line = Vec::new();
    // Bytes, not `lines()`: a non-UTF-8 line is kept lossily rather than
    // ending the reader (and then blocking the server on a full pipe).
    while matches!(reader.read_until(b'\n', &mut line), Ok(n) if n > 0) {
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        push_line(kept, &line);
        line.clear();
    }
}

fn push_line(kept: &Mutex<Vec<String>>, line: &[u8]) {
    if line.is_empty() {
        return;
    }
    let mut lines = match kept.lock() {
        Ok(lines) => lines,
        Err(poisoned) => poisoned.into_inner(),
    };
    if lines.len() == STDERR_LINES_KEPT {
        lines.remove(0);
    }
    lines.push(String::from_utf8_lossy(line).into_owned());
}

fn describe(status: Option<ExitStatus>) -> String {
    match status {
        Some(status) => status.to_string(),
        None => "unknown status".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_puts_the_app_in_the_config_with_a_rule_for_every_topic() {
        let configured = Configured {
            history: Some(1000),
            ..Configured::default()
        };
        let app = ("/broadcast", Path::new("/x/broadcast.wasm"));
        let text = config_text(&configured, Some(app));
        assert!(
            text.ends_with(
                "[[apps]]\nroute = \"/broadcast\"\nmodule = \"/x/broadcast.wasm\"\ncompression = false\n\n[[apps.history]]\nprefix = \"\"\nsize = 1000\nttl_seconds = 600\n"
            ),
            "{text}"
        );
        assert!(!config_text(&Configured::default(), None).contains("[[apps]]"));
    }

    #[test]
    fn feeds_and_durability_go_into_the_config() {
        let configured = Configured {
            limits: &[("call_timeout_ms", 5000)],
            feeds: &[("bench", Path::new("/tmp/a \"b\".log"))],
            kv_durability: Some("sync"),
            ..Configured::default()
        };
        assert!(configured.app_in_file());
        let text = config_text(&configured, Some(("/broadcast", Path::new("/x/b.wasm"))));
        assert!(
            text.contains("call_timeout_ms = 5000\n\n[kv]\ndurability = \"sync\"\n"),
            "{text}"
        );
        assert!(
            text.ends_with("\n[[apps.feeds]]\nname = \"bench\"\npath = \"/tmp/a \\\"b\\\".log\"\n"),
            "{text}"
        );
        // Durability alone leaves the app on the command line.
        let durable = Configured {
            kv_durability: Some("buffered"),
            ..Configured::default()
        };
        assert!(!durable.app_in_file());
    }

    #[test]
    fn the_floor_address_is_read_from_its_line() {
        assert_eq!(
            floor_address("bare-echo listening on ws://127.0.0.1:41234/echo"),
            Some("127.0.0.1:41234")
        );
        assert_eq!(floor_address("bare-echo listening on ws:///echo"), None);
        assert_eq!(floor_address("switchboard listening on http://x"), None);
    }
}
