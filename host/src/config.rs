//! The one validated `Config` the server runs from, built from a TOML file,
//! command-line flags, or both (flags win).
//!
//! Every mistake becomes a `ConfigError` whose text is one line naming the
//! file and the problem, because that line is all a user sees before the
//! process exits with status 2.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::guest::GuestLimits;
use crate::native::NativeApp;

/// Where `serve` listens when neither the config nor `--listen` says.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// Where the admin API listens by default: loopback, so that turning it on
/// (by setting a token) exposes nothing beyond this machine.
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:9090";

/// The environment variable the admin token is read from, so that it need
/// not be written into a config file or shown in `ps`.
pub const ADMIN_TOKEN_ENV: &str = "SWITCHBOARD_ADMIN_TOKEN";

/// Overrides where the command line keeps what it can make again: build
/// toolchains (`switchboard build`) and compiled apps (`switchboard test`).
pub const CACHE_DIR_ENV: &str = "SWITCHBOARD_CACHE_DIR";

/// The user's cache folder for Switchboard: `$SWITCHBOARD_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/switchboard`, else `~/.cache/switchboard`; `None` when
/// none of them is set.
pub fn user_cache_dir() -> Option<PathBuf> {
    let non_empty = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty());
    if let Some(dir) = non_empty(CACHE_DIR_ENV) {
        Some(PathBuf::from(dir))
    } else if let Some(dir) = non_empty("XDG_CACHE_HOME") {
        Some(PathBuf::from(dir).join("switchboard"))
    } else {
        non_empty("HOME").map(|home| PathBuf::from(home).join(".cache/switchboard"))
    }
}

/// Everything the server needs, checked.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// Files served at `/` for paths no app claims (a front-end, a demo page).
    pub static_dir: Option<PathBuf>,
    pub apps: Vec<AppConfig>,
    /// Built-in apps from `--native-app`: the benchmark's baseline.
    pub native_apps: Vec<NativeAppConfig>,
    pub limits: Limits,
    pub deploy: DeploySettings,
    /// `None` when no token is configured: the admin API is off.
    pub admin: Option<AdminSettings>,
    /// Where apps' key-value data is kept, and how safely (`[kv]`).
    pub kv: KvSettings,
}

/// The key-value store apps' `kv` calls reach (`[kv]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvSettings {
    /// The store's folder: `DATA_DIR/kv` unless the config says.
    pub dir: PathBuf,
    /// What a write that returned has survived.
    pub durability: crate::kv::Durability,
}

/// Where versions are kept and how module files are watched.
#[derive(Debug, Clone)]
pub struct DeploySettings {
    /// Every deployed version is stored here (content-addressed) so that it
    /// survives a restart and can be rolled back to.
    pub data_dir: PathBuf,
    /// How many versions of each app to keep, the active one included.
    pub versions_kept: usize,
    /// Whether a change to an app's module file deploys it.
    pub watch_files: bool,
    /// Bytes of compiled functions kept so that a new version compiles only
    /// what changed; 0 keeps none.
    pub compile_cache_bytes: u64,
    /// Where compiled components are kept between runs (`guest::CodeCache`).
    pub code_cache_dir: PathBuf,
    /// The most that directory may hold; 0 turns the on-disk cache off.
    pub code_cache_bytes: u64,
    /// Which compiler turns apps into machine code.
    pub compiler: crate::guest::Compiler,
}

/// The admin API: where it listens and the bearer token it requires.
#[derive(Clone)]
pub struct AdminSettings {
    pub listen: SocketAddr,
    pub token: String,
}

impl std::fmt::Debug for AdminSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminSettings")
            .field("listen", &self.listen)
            .field("token", &"<hidden>")
            .finish()
    }
}

/// One app: a name for logs and the admin API, the route it is upgraded on,
/// and the component that implements it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppConfig {
    pub name: String,
    pub route: String,
    pub module: PathBuf,
    /// Overrides `limits.call_timeout_ms` for this app.
    pub call_timeout_ms: Option<u64>,
    /// Overrides `limits.max_memory_bytes` for this app.
    pub max_memory_bytes: Option<usize>,
    /// Who may connect, as far as the host can tell.
    pub policy: ClientPolicy,
    /// Which topics keep history, and how much (`[[apps.history]]`).
    pub history: Vec<HistoryRule>,
    /// Overrides `limits.max_kv_keys_per_app` for this app.
    pub max_kv_keys: Option<usize>,
    /// Overrides `limits.max_kv_bytes_per_app` for this app.
    pub max_kv_bytes: Option<usize>,
    /// The files this app may follow, by name (`[[apps.feeds]]`).
    pub feeds: Vec<FeedGrant>,
}

/// A file an app is granted to follow, read-only, under a name of the
/// config's choosing (`[[apps.feeds]]`): the app names the feed, never
/// the path, so it can read this file and no other.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedGrant {
    /// What the app calls it: `feeds.tail`, `on-lines`.
    pub name: String,
    /// The file; relative to the config file's folder when written so.
    pub path: PathBuf,
}

/// How much of a topic's publications an app keeps, for topics whose name
/// starts with `prefix` (the longest matching prefix wins; a topic no rule
/// matches keeps none). Kept publications let a client that reconnects be
/// sent exactly what it missed, and let an app show scrollback.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryRule {
    /// Topic names this rule covers; `""` covers every topic.
    pub prefix: String,
    /// The most publications kept per topic.
    pub size: usize,
    /// How long each is kept, in seconds.
    #[serde(default = "HistoryRule::default_ttl_seconds")]
    pub ttl_seconds: u64,
}

impl HistoryRule {
    /// Five minutes: long enough for a phone that lost its network to come
    /// back, short enough that an idle topic's history does not linger.
    fn default_ttl_seconds() -> u64 {
        300
    }
}

/// A built-in app (see `native`) on a route, named after its route. It
/// has no module, so nothing deploys to it; the admin API does not list it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NativeAppConfig {
    pub name: String,
    pub route: String,
    pub app: NativeApp,
}

/// Per-app rules the host enforces before the app is asked (`on-open`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientPolicy {
    /// Browsers send the page's origin; when set, any other origin (or
    /// none) is refused with 403, which stops other sites' pages from
    /// opening connections with a user's cookies.
    pub allowed_origins: Option<Vec<String>>,
    /// The subprotocols the app may confirm; the app sees only the offered
    /// ones on this list.
    pub subprotocols: Option<Vec<String>>,
    /// Open connections this app may have (503 past it), within the
    /// host-wide `limits.max_connections`.
    pub max_connections: Option<usize>,
    /// Offer permessage-deflate (RFC 7692) to clients that ask for it.
    /// Off by default: it saves bandwidth on text-heavy apps but costs CPU
    /// and a compressor's memory per connection.
    pub compression: bool,
    /// This app's own `limits.max_messages_per_second`: a chat's clients
    /// send a few messages a second, a game's or a shared board's sixty.
    pub max_messages_per_second: Option<u32>,
}

/// Limits that protect the host from clients and apps. Each has a default
/// safe for a small server; docs/config.md lists them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// The largest message a client may send, after reassembling fragments.
    /// Larger ones close the connection with 1009. 16 MiB, the order of what
    /// browsers and common servers allow, while capping what one connection
    /// can make the host buffer.
    pub max_message_bytes: usize,
    /// How many bytes may wait in one connection's outbox before the client
    /// counts as too slow and is closed with 1008. Large enough for two
    /// messages of the maximum size.
    pub max_outbox_bytes: usize,
    /// Events that may wait for an app before connection tasks stop reading
    /// their sockets (backpressure instead of unbounded queues).
    pub mailbox_capacity: usize,
    /// How long to wait for a client's close frame after sending ours, in
    /// milliseconds; on shutdown this bounds how long draining takes.
    pub close_timeout_ms: u64,
    /// The largest module a deploy accepts (413 from the admin API). Real
    /// components run from 100 KiB (Rust) to tens of MiB (JavaScript and
    /// Python bundle their interpreter), so 64 MiB admits them all while
    /// bounding what one upload can make the host hold.
    pub max_module_bytes: usize,
    /// The most an app may attach to one connection (`attachments.set`).
    /// Attachments live in host memory for every connection, so the cap is
    /// per connection times the number of connections.
    pub max_attachment_bytes: usize,
    /// The longest one call into a guest may run, in milliseconds; past it
    /// the call traps (the connection gets 1011, the instance is made
    /// afresh). 100 ms is forever for an event handler and short enough
    /// that a spinning app is noticed at once.
    pub call_timeout_ms: u64,
    /// Linear memory one app instance may hold. 64 MiB fits any sensible
    /// app while capping what a leaking one can take from the host.
    pub max_memory_bytes: usize,
    /// An instance whose memory passes this share of `max_memory_bytes`
    /// is replaced between two events by a fresh one, its state handed
    /// over by snapshot and restore as in a hot swap; 0 never replaces.
    /// WebAssembly memory never shrinks, so a runtime that grows with every
    /// call (a leak, or componentize-js's StarlingMonkey, which collects
    /// garbage only at 75-80 MB) would otherwise run into the cap after some
    /// hundred thousand messages and start failing.
    pub recycle_memory_percent: u8,
    /// This many traps within `trap_window_ms` suspend an app: its
    /// connections are closed with 1011 and it accepts none until a new
    /// version is deployed. Restarting a broken app forever only burns CPU.
    pub max_traps: u32,
    pub trap_window_ms: u64,
    /// Open connections on the whole host; past it, upgrades get 503.
    /// Each costs a socket and its buffers; 10 000 stays well inside a
    /// typical 20 000 open-file limit with room for everything else.
    pub max_connections: usize,
    /// Open connections from one IP address; past it, upgrades get 429.
    /// Stops one client from taking the whole host's capacity, while
    /// leaving room for many users behind one NAT.
    pub max_connections_per_ip: usize,
    /// A connection with no frame from the client for this long is closed
    /// (1001). The host pings it after half of this, so a live client
    /// that is merely quiet answers and stays.
    pub idle_timeout_ms: u64,
    /// Messages one connection may send per second (a burst of as many is
    /// allowed); past it the connection is closed with 1008. Guards apps
    /// from a client that floods them. 20 000 is far above any interactive
    /// client (a 60 Hz game sends 60) and above what one connection of the
    /// echo benchmark sends (about 13 000); apps whose clients send rarely
    /// should set it much lower.
    pub max_messages_per_second: u32,
    /// The largest single frame a client may send (1009 past it). A message
    /// may still be larger when fragmented, up to `max_message_bytes`;
    /// a smaller frame cap bounds what one read must hold. By default the
    /// same as the message limit.
    pub max_frame_bytes: usize,
    /// How long a client may take to send its HTTP request head (and how
    /// long an idle keep-alive connection is kept); past it the TCP
    /// connection is dropped. Stops "slowloris" clients from holding sockets
    /// by sending a header a minute.
    pub handshake_timeout_ms: u64,
    /// The largest HTTP request head (request line and headers) either
    /// listener reads; past it the client gets 431 and the connection is
    /// closed. 16 KiB, like Node (nginx allows 8 KiB per line), holds any
    /// browser's upgrade with its cookies; hyper alone would let every
    /// connection make the host buffer about 400 KiB.
    pub max_request_head_bytes: usize,
    /// The largest snapshot an app's running version may hand to the next
    /// in a hot swap; a larger one fails the deploy and the old version
    /// keeps serving. The host holds the snapshot while the swap runs and
    /// the new version must take it into its own memory, so 16 MiB, a
    /// quarter of the default memory cap, leaves the new version room.
    pub max_snapshot_bytes: usize,
    /// Topics one connection may be subscribed to at once
    /// (`topics.subscribe` returns `too-many-topics` past it). Each
    /// subscription costs the host a presence entry and a place in the
    /// topic's subscriber set.
    pub max_topics_per_connection: usize,
    /// The longest topic name, in bytes (`invalid-topic` past it).
    pub max_topic_name_bytes: usize,
    /// The most presence info a subscriber may carry (`info-too-large`
    /// past it): a name or a small JSON object, listed by `members`.
    pub max_presence_info_bytes: usize,
    /// The most payload one topic's history keeps; past it the oldest
    /// publications go first, whatever the history rule's `size`.
    pub max_history_bytes: usize,
    /// Keys one app may store (`kv` calls that would add one more get
    /// `quota-exceeded`).
    pub max_kv_keys_per_app: usize,
    /// Bytes one app may store, its keys and values together.
    pub max_kv_bytes_per_app: usize,
    /// The longest key (`invalid-key` past it, or empty). Keys are what
    /// the store's index holds and compares; data belongs in values.
    pub max_kv_key_bytes: usize,
    /// The largest value (`value-too-large` past it). A value crosses the
    /// guest's memory in one piece, and is written whole on every set.
    pub max_kv_value_bytes: usize,
    /// Timers one app may have at once (`timers.set` returns
    /// `too-many-timers` past it). Each costs the host a few dozen bytes
    /// and, when due, one call into the app.
    pub max_timers_per_app: usize,
    /// The shortest timer interval, in milliseconds: a shorter delay is
    /// raised to it and a shorter repeat refused (`interval-too-short`),
    /// so that a timer cannot keep its app busy calling itself.
    pub min_timer_interval_ms: u64,
    /// The longest line a feed hands an app (`on-lines`, `feeds.tail`);
    /// a longer one is cut there. Bounds what the host holds of a line
    /// still waiting for its newline.
    pub max_feed_line_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: 16 << 20,
            max_outbox_bytes: 32 << 20,
            mailbox_capacity: 4096,
            close_timeout_ms: 5_000,
            max_module_bytes: 64 << 20,
            max_attachment_bytes: 16 << 10,
            call_timeout_ms: 100,
            max_memory_bytes: 64 << 20,
            recycle_memory_percent: 75,
            max_traps: 5,
            trap_window_ms: 60_000,
            max_connections: 10_000,
            max_connections_per_ip: 256,
            idle_timeout_ms: 60_000,
            max_messages_per_second: 20_000,
            handshake_timeout_ms: 10_000,
            max_frame_bytes: 16 << 20,
            max_request_head_bytes: 16 << 10,
            max_snapshot_bytes: 16 << 20,
            max_topics_per_connection: 64,
            max_topic_name_bytes: 256,
            max_presence_info_bytes: 1 << 10,
            max_history_bytes: 4 << 20,
            max_kv_keys_per_app: 100_000,
            max_kv_bytes_per_app: 64 << 20,
            max_kv_key_bytes: 512,
            max_kv_value_bytes: 1 << 20,
            max_timers_per_app: 1024,
            min_timer_interval_ms: 10,
            max_feed_line_bytes: 64 << 10,
        }
    }
}

impl Limits {
    pub fn close_timeout(&self) -> Duration {
        Duration::from_millis(self.close_timeout_ms)
    }

    pub fn trap_window(&self) -> Duration {
        Duration::from_millis(self.trap_window_ms)
    }

    pub fn idle_timeout(&self) -> Duration {
        Duration::from_millis(self.idle_timeout_ms)
    }

    pub fn handshake_timeout(&self) -> Duration {
        Duration::from_millis(self.handshake_timeout_ms)
    }

    /// The sandbox of an app: these limits, with the app's own overrides.
    pub fn guest_limits(&self, app: Option<&AppConfig>) -> GuestLimits {
        GuestLimits {
            call_timeout: Duration::from_millis(
                app.and_then(|app| app.call_timeout_ms)
                    .unwrap_or(self.call_timeout_ms),
            ),
            max_memory_bytes: app
                .and_then(|app| app.max_memory_bytes)
                .unwrap_or(self.max_memory_bytes),
            max_attachment_bytes: self.max_attachment_bytes,
            max_snapshot_bytes: self.max_snapshot_bytes,
            recycle_memory_percent: self.recycle_memory_percent,
        }
    }

    /// What an app may store: these limits, with the app's own quota.
    pub fn kv_limits(&self, app: Option<&AppConfig>) -> crate::kv::KvLimits {
        let keys = app
            .and_then(|app| app.max_kv_keys)
            .unwrap_or(self.max_kv_keys_per_app);
        let bytes = app
            .and_then(|app| app.max_kv_bytes)
            .unwrap_or(self.max_kv_bytes_per_app);
        crate::kv::KvLimits {
            max_key_bytes: self.max_kv_key_bytes,
            max_value_bytes: self.max_kv_value_bytes,
            quota: crate::kv::Quota {
                max_keys: keys as u64,
                max_bytes: bytes as u64,
            },
        }
    }
}

/// A config mistake, as one line of text.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

impl ConfigError {
    fn new(text: impl Into<String>) -> Self {
        ConfigError(text.into())
    }
}

/// The config file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    static_dir: Option<PathBuf>,
    #[serde(default)]
    limits: Limits,
    #[serde(default)]
    deploy: FileDeploy,
    #[serde(default)]
    admin: FileAdmin,
    #[serde(default)]
    apps: Vec<FileApp>,
    #[serde(default)]
    kv: FileKv,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileKv {
    dir: Option<PathBuf>,
    durability: Option<String>,
    sync_interval_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDeploy {
    data_dir: Option<PathBuf>,
    versions_kept: Option<usize>,
    watch_files: Option<bool>,
    compile_cache_bytes: Option<u64>,
    code_cache_dir: Option<PathBuf>,
    code_cache_bytes: Option<u64>,
    compiler: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileAdmin {
    listen: Option<String>,
    token: Option<String>,
}

impl std::fmt::Debug for FileAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileAdmin")
            .field("listen", &self.listen)
            .finish_non_exhaustive()
    }
}

/// A guest call longer than an hour is a hung guest, whatever the app.
const MAX_CALL_TIMEOUT_MS: u64 = 3_600_000;

/// Where versions are stored unless the config or `--data-dir` says: a
/// folder beside where the host runs, like most servers' data directories.
pub const DEFAULT_DATA_DIR: &str = "switchboard-data";

/// Versions kept per app unless the config says: enough to roll back a few
/// bad deploys, few enough that the data directory stays small.
pub const DEFAULT_VERSIONS_KEPT: usize = 5;

/// 64 MiB of compiled functions: the code of dozens of Rust apps (echo and
/// chat together take 0.8 MB), or a couple of apps that carry a language
/// runtime, so the usual redeploy finds its unchanged functions here.
pub const DEFAULT_COMPILE_CACHE_BYTES: u64 = 64 << 20;

/// Compiled code kept on disk: a JavaScript or Python app compiles to
/// 30–60 MB, so this holds a few dozen versions.
pub const DEFAULT_CODE_CACHE_BYTES: u64 = 2 << 30;

/// The code cache's folder inside `data_dir` unless set elsewhere.
pub const CODE_CACHE_SUBDIR: &str = "code-cache";

/// The key-value store's folder inside `data_dir` unless set elsewhere.
pub const KV_SUBDIR: &str = "kv";

/// How often `buffered` key-value writes are fsynced unless the config
/// says: a power cut loses at most the last second of them.
pub const DEFAULT_KV_SYNC_INTERVAL_MS: u64 = 1_000;

/// A minute: past it "buffered" stops meaning "on disk soon".
pub const MAX_KV_SYNC_INTERVAL_MS: u64 = 60_000;

/// The longest key a config may allow: keys live in the store's index
/// (and fjall takes at most 64 KiB with the app's name in front).
pub const MAX_KV_KEY_BYTES: usize = 16 << 10;

/// The largest value a config may allow: each is written whole, and
/// passes through the guest's memory (64 MiB by default) in one piece.
pub const MAX_KV_VALUE_BYTES: usize = 64 << 20;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileApp {
    name: Option<String>,
    route: String,
    module: PathBuf,
    call_timeout_ms: Option<u64>,
    max_memory_bytes: Option<usize>,
    allowed_origins: Option<Vec<String>>,
    subprotocols: Option<Vec<String>>,
    max_connections: Option<usize>,
    #[serde(default)]
    compression: bool,
    max_messages_per_second: Option<u32>,
    #[serde(default)]
    history: Vec<HistoryRule>,
    max_kv_keys: Option<usize>,
    max_kv_bytes: Option<usize>,
    #[serde(default)]
    feeds: Vec<FeedGrant>,
}

/// What the command line adds on top of (or instead of) a file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Option<String>,
    pub static_dir: Option<PathBuf>,
    /// `/ROUTE=FILE` pairs from `--app`.
    pub apps: Vec<String>,
    /// `/ROUTE=NAME` pairs from `--native-app`.
    pub native_apps: Vec<String>,
    pub max_message_bytes: Option<usize>,
    pub data_dir: Option<PathBuf>,
    /// `--code-cache-dir`.
    pub code_cache_dir: Option<PathBuf>,
    pub admin_listen: Option<String>,
    /// From `SWITCHBOARD_ADMIN_TOKEN`; wins over the file's token.
    pub admin_token: Option<String>,
    /// `--no-watch`: do not deploy module files when they change.
    pub no_watch: bool,
}

impl Config {
    /// Build the config from an optional file plus flags.
    pub fn load(file: Option<&Path>, overrides: Overrides) -> Result<Config, ConfigError> {
        let (parsed, base_dir, source) = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|error| {
                    ConfigError::new(format!("{}: cannot read: {error}", path.display()))
                })?;
                let parsed = parse_toml(&text, path)?;
                let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
                (parsed, base, path.display().to_string())
            }
            None => (
                FileConfig::default(),
                PathBuf::new(),
                "command line".to_string(),
            ),
        };
        let at = |problem: String| ConfigError::new(format!("{source}: {problem}"));

        let listen_text = overrides
            .listen
            .or(parsed.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_string());
        let listen: SocketAddr = listen_text.parse().map_err(|_| {
            at(format!(
                "listen address {listen_text:?} is not an IP:PORT (e.g. 127.0.0.1:8080)"
            ))
        })?;

        let mut apps = Vec::new();
        for (index, app) in parsed.apps.into_iter().enumerate() {
            let name = match app.name {
                Some(name) => name,
                None => name_from_route(&app.route)
                    .map_err(|problem| at(format!("apps[{index}]: {problem}")))?,
            };
            if app
                .call_timeout_ms
                .is_some_and(|ms| ms > MAX_CALL_TIMEOUT_MS)
            {
                return Err(at(format!(
                    "apps[{index}]: call_timeout_ms must be at most {MAX_CALL_TIMEOUT_MS} (one hour)"
                )));
            }
            if app.max_messages_per_second == Some(0) {
                return Err(at(format!(
                    "apps[{index}]: max_messages_per_second must be at least 1"
                )));
            }
            if app.call_timeout_ms == Some(0) || app.max_memory_bytes == Some(0) {
                return Err(at(format!(
                    "apps[{index}]: call_timeout_ms and max_memory_bytes must be at least 1"
                )));
            }
            check_history(&app.history)
                .map_err(|problem| at(format!("apps[{index}]: {problem}")))?;
            if app.max_kv_keys == Some(0) || app.max_kv_bytes == Some(0) {
                return Err(at(format!(
                    "apps[{index}]: max_kv_keys and max_kv_bytes must be at least 1"
                )));
            }
            check_feeds(&app.feeds).map_err(|problem| at(format!("app {name}: {problem}")))?;
            apps.push(AppConfig {
                name,
                route: app.route,
                module: base_dir.join(app.module),
                call_timeout_ms: app.call_timeout_ms,
                max_memory_bytes: app.max_memory_bytes,
                policy: ClientPolicy {
                    allowed_origins: app.allowed_origins,
                    subprotocols: app.subprotocols,
                    max_connections: app.max_connections,
                    compression: app.compression,
                    max_messages_per_second: app.max_messages_per_second,
                },
                history: app.history,
                max_kv_keys: app.max_kv_keys,
                max_kv_bytes: app.max_kv_bytes,
                feeds: app
                    .feeds
                    .into_iter()
                    .map(|feed| FeedGrant {
                        path: base_dir.join(feed.path),
                        ..feed
                    })
                    .collect(),
            });
        }
        for flag in &overrides.apps {
            apps.push(
                parse_app_flag(flag)
                    .map_err(|problem| ConfigError::new(format!("--app {flag}: {problem}")))?,
            );
        }
        let mut native_apps = Vec::new();
        for flag in &overrides.native_apps {
            native_apps.push(
                parse_native_app_flag(flag).map_err(|problem| {
                    ConfigError::new(format!("--native-app {flag}: {problem}"))
                })?,
            );
        }
        check_apps(&apps, &native_apps).map_err(at)?;

        let mut limits = parsed.limits;
        if let Some(max) = overrides.max_message_bytes {
            limits.max_message_bytes = max;
        }
        check_limits(&limits).map_err(at)?;

        let static_dir = overrides
            .static_dir
            .or(parsed.static_dir.map(|dir| base_dir.join(dir)));
        if let Some(dir) = &static_dir
            && !dir.is_dir()
        {
            return Err(at(format!(
                "static_dir {} is not a directory",
                dir.display()
            )));
        }

        let data_dir = overrides.data_dir.unwrap_or_else(|| {
            base_dir.join(
                parsed
                    .deploy
                    .data_dir
                    .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
            )
        });
        let code_cache_dir = match (overrides.code_cache_dir, parsed.deploy.code_cache_dir) {
            (Some(dir), _) => dir,
            (None, Some(dir)) => base_dir.join(dir),
            (None, None) => data_dir.join(CODE_CACHE_SUBDIR),
        };
        let compiler = match parsed.deploy.compiler.as_deref() {
            None | Some("cranelift") => crate::guest::Compiler::Cranelift,
            Some("winch") => crate::guest::Compiler::Winch,
            Some(other) => {
                return Err(at(format!(
                    "deploy.compiler is \"{other}\": use \"cranelift\" or \"winch\""
                )));
            }
        };
        let kv = kv_settings(parsed.kv, &base_dir, &data_dir).map_err(at)?;
        let deploy = DeploySettings {
            compiler,
            data_dir,
            code_cache_dir,
            code_cache_bytes: parsed
                .deploy
                .code_cache_bytes
                .unwrap_or(DEFAULT_CODE_CACHE_BYTES),
            versions_kept: parsed.deploy.versions_kept.unwrap_or(DEFAULT_VERSIONS_KEPT),
            watch_files: !overrides.no_watch && parsed.deploy.watch_files.unwrap_or(true),
            compile_cache_bytes: parsed
                .deploy
                .compile_cache_bytes
                .unwrap_or(DEFAULT_COMPILE_CACHE_BYTES),
        };
        if deploy.versions_kept == 0 {
            return Err(at("deploy.versions_kept must be at least 1".into()));
        }

        let token = overrides
            .admin_token
            .filter(|token| !token.is_empty())
            .or(parsed.admin.token);
        let admin = match token {
            None => None,
            Some(token) if token.len() < 16 => {
                return Err(at(format!(
                    "the admin token must be at least 16 characters (set it in [admin] token or {ADMIN_TOKEN_ENV})"
                )));
            }
            Some(token) => {
                let listen_text = overrides
                    .admin_listen
                    .or(parsed.admin.listen)
                    .unwrap_or_else(|| DEFAULT_ADMIN_LISTEN.to_string());
                let listen = listen_text.parse().map_err(|_| {
                    at(format!(
                        "admin listen address {listen_text:?} is not an IP:PORT (e.g. 127.0.0.1:9090)"
                    ))
                })?;
                Some(AdminSettings { listen, token })
            }
        };

        Ok(Config {
            listen,
            static_dir,
            apps,
            native_apps,
            limits,
            deploy,
            admin,
            kv,
        })
    }
}

/// `[kv]`, its folder resolved and its durability checked.
fn kv_settings(file: FileKv, base_dir: &Path, data_dir: &Path) -> Result<KvSettings, String> {
    let dir = match file.dir {
        Some(dir) => base_dir.join(dir),
        None => data_dir.join(KV_SUBDIR),
    };
    let durability = match (file.durability.as_deref(), file.sync_interval_ms) {
        (None | Some("sync"), None) => crate::kv::Durability::Sync,
        (None | Some("sync"), Some(_)) => {
            return Err(
                "kv.sync_interval_ms is for durability = \"buffered\" only: every \
                        \"sync\" write is fsynced before it returns"
                    .into(),
            );
        }
        (Some("buffered"), interval) => {
            let interval = interval.unwrap_or(DEFAULT_KV_SYNC_INTERVAL_MS);
            if !(1..=MAX_KV_SYNC_INTERVAL_MS).contains(&interval) {
                return Err(format!(
                    "kv.sync_interval_ms is {interval}: give 1 to {MAX_KV_SYNC_INTERVAL_MS} \
                     (how much a power cut may lose)"
                ));
            }
            crate::kv::Durability::Buffered {
                sync_interval: Duration::from_millis(interval),
            }
        }
        (Some(other), _) => {
            return Err(format!(
                "kv.durability is \"{other}\": use \"sync\" (every write fsynced before it \
                 returns) or \"buffered\" (fsynced every sync_interval_ms)"
            ));
        }
    };
    Ok(KvSettings { dir, durability })
}

fn parse_toml(text: &str, path: &Path) -> Result<FileConfig, ConfigError> {
    toml::from_str(text).map_err(|error| {
        let position = error
            .span()
            .map(|span| {
                let before = &text[..span.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let column = before.len() - before.rfind('\n').map_or(0, |at| at + 1) + 1;
                format!(":{line}:{column}")
            })
            .unwrap_or_default();
        let message = error.message().trim().replace('\n', " ");
        let message = suggest_key(&message).unwrap_or(message);
        ConfigError::new(format!("{}{position}: {message}", path.display()))
    })
}

/// serde's answer to a misspelt key lists every key the table has
/// ("unknown field `lisen`, expected one of `listen`, `static_dir`, ...");
/// with twenty limits that is a wall to search by eye. This names the
/// closest key instead, when one is close enough to be what was meant.
fn suggest_key(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    let (unknown, expected) = rest.split_once('`')?;
    // Every other backquoted word is an expected key.
    let keys = expected.split('`').skip(1).step_by(2);
    let closest = keys
        .map(|key| (strsim::jaro_winkler(unknown, key), key))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    Some(match closest {
        Some((similarity, key)) if similarity >= 0.8 => {
            format!("unknown key `{unknown}`: did you mean `{key}`?")
        }
        _ => format!("unknown key `{unknown}` (docs/config.md lists every key)"),
    })
}

/// `/ROUTE=FILE`, the app named after its route.
fn parse_app_flag(flag: &str) -> Result<AppConfig, String> {
    let (route, module) = flag
        .split_once('=')
        .ok_or_else(|| "expected /ROUTE=FILE, e.g. /echo=echo.wasm".to_string())?;
    if module.is_empty() {
        return Err("the module path after '=' is empty".into());
    }
    Ok(AppConfig {
        name: name_from_route(route)?,
        route: route.to_string(),
        module: PathBuf::from(module),
        call_timeout_ms: None,
        max_memory_bytes: None,
        policy: ClientPolicy::default(),
        history: Vec::new(),
        max_kv_keys: None,
        max_kv_bytes: None,
        feeds: Vec::new(),
    })
}

/// `/ROUTE=NAME`, NAME one of the built-in apps.
fn parse_native_app_flag(flag: &str) -> Result<NativeAppConfig, String> {
    let (route, name) = flag.split_once('=').ok_or_else(|| {
        format!(
            "expected /ROUTE=NAME, e.g. /echo=echo (built-in apps: {})",
            NativeApp::NAMES
        )
    })?;
    Ok(NativeAppConfig {
        name: name_from_route(route)?,
        route: route.to_string(),
        app: name.parse()?,
    })
}

/// `/echo` is named `echo`, `/rooms/chat` is `rooms-chat`.
fn name_from_route(route: &str) -> Result<String, String> {
    let name = route.trim_matches('/').replace('/', "-");
    if name.is_empty() {
        return Err(format!(
            "cannot name an app after the route {route:?}: give it a name"
        ));
    }
    Ok(name)
}

/// App names appear in file names, URLs and logs, so they are kept plain.
pub fn check_app_name(name: &str) -> Result<(), String> {
    let name_ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if name_ok {
        Ok(())
    } else {
        Err(format!(
            "app name {name:?} may only use letters, digits, '-' and '_' (at most 64)"
        ))
    }
}

/// A route is a plain URL path: no query, no percent-escapes, no empty or
/// dot segments, so that it means the same thing to every client.
pub fn check_route(route: &str) -> Result<(), String> {
    let Some(rest) = route.strip_prefix('/') else {
        return Err(format!("route {route:?} must start with '/'"));
    };
    let route_ok = rest.split('/').all(|segment| {
        segment
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c))
            && segment != "."
            && segment != ".."
    });
    if !route_ok || route.contains("//") {
        return Err(format!(
            "route {route:?} may only use letters, digits and - . _ ~ between slashes"
        ));
    }
    Ok(())
}

fn check_apps(apps: &[AppConfig], native_apps: &[NativeAppConfig]) -> Result<(), String> {
    let mut names = HashSet::new();
    let mut routes = HashSet::new();
    let every_app = apps
        .iter()
        .map(|app| (&app.name, &app.route))
        .chain(native_apps.iter().map(|app| (&app.name, &app.route)));
    for (name, route) in every_app {
        check_app_name(name)?;
        check_route(route).map_err(|problem| format!("app {name}: {problem}"))?;
        if !names.insert(name.as_str()) {
            return Err(format!("two apps are named {name:?}"));
        }
        if !routes.insert(route.as_str()) {
            return Err(format!("two apps use the route {route:?}"));
        }
    }
    Ok(())
}

/// The most publications one history rule may keep per topic: history
/// lives in host memory, and a client catching up is sent all of it.
pub const MAX_HISTORY_SIZE: usize = 100_000;

/// A week: history is for clients that lost their connection, not an
/// archive (that is what an app's own storage is for).
pub const MAX_HISTORY_TTL_SECONDS: u64 = 7 * 24 * 3600;

/// Whether history rules make sense: sizes and lifetimes in range, one rule
/// per prefix. The problem, when there is one, names the rule.
pub fn check_history(rules: &[HistoryRule]) -> Result<(), String> {
    for (index, rule) in rules.iter().enumerate() {
        if rule.size == 0 || rule.size > MAX_HISTORY_SIZE {
            return Err(format!(
                "history[{index}] (prefix {:?}): size must be from 1 to {MAX_HISTORY_SIZE}",
                rule.prefix
            ));
        }
        if rule.ttl_seconds == 0 || rule.ttl_seconds > MAX_HISTORY_TTL_SECONDS {
            return Err(format!(
                "history[{index}] (prefix {:?}): ttl_seconds must be from 1 to \
                 {MAX_HISTORY_TTL_SECONDS} (a week)",
                rule.prefix
            ));
        }
        if rules[..index]
            .iter()
            .any(|other| other.prefix == rule.prefix)
        {
            return Err(format!(
                "history[{index}]: prefix {:?} has two rules; keep one",
                rule.prefix
            ));
        }
    }
    Ok(())
}

/// The longest feed name: it is a short identifier, written in code.
pub const MAX_FEED_NAME_BYTES: usize = 64;

/// Whether an app's feed grants make sense: plain names, each once, and a
/// path for each. Whether the file exists is not checked here: a file may
/// appear later (a log not yet written), and the host waits for it.
pub fn check_feeds(feeds: &[FeedGrant]) -> Result<(), String> {
    for (index, feed) in feeds.iter().enumerate() {
        let name = &feed.name;
        let name_ok = !name.is_empty()
            && name.len() <= MAX_FEED_NAME_BYTES
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
        if !name_ok {
            return Err(format!(
                "feeds[{index}]: feed name {name:?} may only use letters, digits, '-', '_' and \
                 '.' (at most {MAX_FEED_NAME_BYTES})"
            ));
        }
        if feed.path.as_os_str().is_empty() {
            return Err(format!(
                "feeds[{index}] ({name}): path is empty; give the file to follow"
            ));
        }
        if feeds[..index].iter().any(|other| other.name == *name) {
            return Err(format!(
                "feeds[{index}]: two feeds are named {name:?}; give each its own name"
            ));
        }
    }
    Ok(())
}

fn check_limits(limits: &Limits) -> Result<(), String> {
    if limits.max_message_bytes == 0 || limits.max_frame_bytes == 0 {
        return Err("limits.max_message_bytes and max_frame_bytes must be at least 1".into());
    }
    if limits.max_outbox_bytes == 0 {
        return Err("limits.max_outbox_bytes must be at least 1".into());
    }
    if limits.mailbox_capacity == 0 {
        return Err("limits.mailbox_capacity must be at least 1".into());
    }
    if limits.max_module_bytes == 0 {
        return Err("limits.max_module_bytes must be at least 1".into());
    }
    if limits.max_snapshot_bytes == 0 {
        return Err("limits.max_snapshot_bytes must be at least 1".into());
    }
    if limits.max_topics_per_connection == 0
        || limits.max_topic_name_bytes == 0
        || limits.max_history_bytes == 0
    {
        return Err(
            "limits.max_topics_per_connection, max_topic_name_bytes and max_history_bytes \
             must be at least 1"
                .into(),
        );
    }
    if !(1..=MAX_TIMERS_PER_APP).contains(&limits.max_timers_per_app) {
        return Err(format!(
            "limits.max_timers_per_app is {}: give from 1 to {MAX_TIMERS_PER_APP}",
            limits.max_timers_per_app
        ));
    }
    if !(1..=MAX_MIN_TIMER_INTERVAL_MS).contains(&limits.min_timer_interval_ms) {
        return Err(format!(
            "limits.min_timer_interval_ms is {}: give from 1 to {MAX_MIN_TIMER_INTERVAL_MS} \
             (one hour); a timer may not fire more often than that",
            limits.min_timer_interval_ms
        ));
    }
    if !(1..=MAX_FEED_LINE_BYTES).contains(&limits.max_feed_line_bytes) {
        return Err(format!(
            "limits.max_feed_line_bytes must be from 1 to {MAX_FEED_LINE_BYTES} (1 MiB, what \
             feeds.tail reads at most)"
        ));
    }
    if limits.recycle_memory_percent > 100 {
        return Err(format!(
            "limits.recycle_memory_percent is {}: give a share of max_memory_bytes from 1 to 100, \
             or 0 to never recycle",
            limits.recycle_memory_percent
        ));
    }
    if limits.call_timeout_ms == 0 || limits.max_memory_bytes == 0 {
        return Err("limits.call_timeout_ms and limits.max_memory_bytes must be at least 1".into());
    }
    if limits.call_timeout_ms > MAX_CALL_TIMEOUT_MS {
        return Err(format!(
            "limits.call_timeout_ms must be at most {MAX_CALL_TIMEOUT_MS} (one hour)"
        ));
    }
    if limits.max_traps == 0 {
        return Err("limits.max_traps must be at least 1".into());
    }
    if limits.max_connections == 0
        || limits.max_connections_per_ip == 0
        || limits.idle_timeout_ms == 0
        || limits.max_messages_per_second == 0
        || limits.handshake_timeout_ms == 0
    {
        return Err(
            "limits.max_connections, max_connections_per_ip, idle_timeout_ms, \
             max_messages_per_second and handshake_timeout_ms must be at least 1"
                .into(),
        );
    }
    if limits.max_kv_keys_per_app == 0 || limits.max_kv_bytes_per_app == 0 {
        return Err(
            "limits.max_kv_keys_per_app and max_kv_bytes_per_app must be at least 1".into(),
        );
    }
    if !(1..=MAX_KV_KEY_BYTES).contains(&limits.max_kv_key_bytes) {
        return Err(format!(
            "limits.max_kv_key_bytes is {}: give 1 to {MAX_KV_KEY_BYTES} (keys name data; \
             the data belongs in values)",
            limits.max_kv_key_bytes
        ));
    }
    if !(1..=MAX_KV_VALUE_BYTES).contains(&limits.max_kv_value_bytes) {
        return Err(format!(
            "limits.max_kv_value_bytes is {}: give 1 to {MAX_KV_VALUE_BYTES} (64 MiB)",
            limits.max_kv_value_bytes
        ));
    }
    if !(MIN_REQUEST_HEAD_BYTES..=MAX_REQUEST_HEAD_BYTES).contains(&limits.max_request_head_bytes) {
        return Err(format!(
            "limits.max_request_head_bytes must be between {MIN_REQUEST_HEAD_BYTES} and \
             {MAX_REQUEST_HEAD_BYTES} (a browser's upgrade request alone is about 1 KiB)"
        ));
    }
    Ok(())
}

/// The most timers an app may be allowed: a million timers is already a
/// million calls whenever they come due.
const MAX_TIMERS_PER_APP: usize = 1_000_000;

/// The longest minimum interval: past an hour, `limits.min_timer_interval_ms`
/// would turn every short delay into a long one.
const MAX_MIN_TIMER_INTERVAL_MS: u64 = 3_600_000;
/// The longest line a feed may be set to hand on: `feeds.tail` reads at
/// most this much of a file, and one line must fit in one batch.
pub const MAX_FEED_LINE_BYTES: usize = 1 << 20;

/// Below this, browsers' upgrade requests would be refused.
const MIN_REQUEST_HEAD_BYTES: usize = 1 << 10;

/// hyper's read buffer stops growing at about 400 KiB whatever the limit,
/// so a larger value would be a promise it does not keep.
const MAX_REQUEST_HEAD_BYTES: usize = 400 << 10;

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(apps: &[&str]) -> Overrides {
        Overrides {
            apps: apps.iter().map(|app| app.to_string()).collect(),
            ..Overrides::default()
        }
    }

    #[test]
    fn apps_from_flags_are_named_after_their_route() {
        let config = Config::load(None, flags(&["/echo=echo.wasm", "/rooms/chat=chat.wasm"]))
            .expect("valid flags");
        let names: Vec<_> = config.apps.iter().map(|app| app.name.as_str()).collect();
        assert_eq!(names, ["echo", "rooms-chat"]);
        assert_eq!(config.listen.to_string(), DEFAULT_LISTEN);
    }

    #[test]
    fn a_duplicate_route_is_refused() {
        let error = Config::load(None, flags(&["/echo=a.wasm", "/echo=b.wasm"]))
            .expect_err("duplicate route");
        assert!(error.to_string().contains("two apps"), "{error}");
    }

    #[test]
    fn a_misspelt_key_gets_the_closest_key_not_the_whole_list() {
        let serde_says = "unknown field `max_mesage_bytes`, expected one of `max_message_bytes`, \
                          `max_frame_bytes`, `max_outbox_bytes`";
        assert_eq!(
            suggest_key(serde_says).as_deref(),
            Some("unknown key `max_mesage_bytes`: did you mean `max_message_bytes`?")
        );
        let nothing_close = "unknown field `colour`, expected `listen`";
        assert_eq!(
            suggest_key(nothing_close).as_deref(),
            Some("unknown key `colour` (docs/config.md lists every key)")
        );
        assert_eq!(suggest_key("invalid type: string, expected a map"), None);
    }

    #[test]
    fn a_flag_without_equals_says_what_it_expected() {
        let error = Config::load(None, flags(&["/echo"])).expect_err("missing '='");
        assert!(error.to_string().contains("/ROUTE=FILE"), "{error}");
    }

    #[test]
    fn timer_limits_outside_their_range_say_what_to_give() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let load = |text: &str| {
            let path = dir.path().join("switchboard.toml");
            std::fs::write(&path, text).expect("the config is written");
            Config::load(Some(&path), flags(&["/echo=echo.wasm"]))
        };
        let limits = load("").expect("defaults are valid").limits;
        assert_eq!(
            (limits.max_timers_per_app, limits.min_timer_interval_ms),
            (1024, 10)
        );
        let error = load("[limits]\nmax_timers_per_app = 0\n").expect_err("no timers at all");
        assert!(
            error
                .to_string()
                .contains("limits.max_timers_per_app is 0: give from 1 to"),
            "{error}"
        );
        let error = load("[limits]\nmin_timer_interval_ms = 0\n").expect_err("no minimum");
        assert!(
            error
                .to_string()
                .contains("limits.min_timer_interval_ms is 0: give from 1 to 3600000"),
            "{error}"
        );
        let limits = load("[limits]\nmax_timers_per_app = 5\nmin_timer_interval_ms = 250\n")
            .expect("in range")
            .limits;
        assert_eq!(
            (limits.max_timers_per_app, limits.min_timer_interval_ms),
            (5, 250)
        );
    }

    #[test]
    fn feeds_are_granted_by_name_with_paths_beside_the_config() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let load = |feeds: &str| {
            let path = dir.path().join("switchboard.toml");
            let text = format!(
                "[[apps]]\nname = \"tail\"\nroute = \"/tail\"\nmodule = \"tail.wasm\"\n{feeds}"
            );
            std::fs::write(&path, text).expect("the config is written");
            Config::load(Some(&path), Overrides::default())
        };
        let config = load(
            "[[apps.feeds]]\nname = \"access-log\"\npath = \"/var/log/nginx/access.log\"\n\
             [[apps.feeds]]\nname = \"app.log\"\npath = \"logs/app.log\"\n",
        )
        .expect("valid feeds");
        let feeds = &config.apps[0].feeds;
        assert_eq!(feeds[0].name, "access-log");
        assert_eq!(feeds[0].path, Path::new("/var/log/nginx/access.log"));
        assert_eq!(feeds[1].path, dir.path().join("logs/app.log"));

        let error = |feeds: &str| load(feeds).expect_err("a bad feed").to_string();
        let two = error(
            "[[apps.feeds]]\nname = \"log\"\npath = \"a\"\n\
             [[apps.feeds]]\nname = \"log\"\npath = \"b\"\n",
        );
        assert!(
            two.contains("app tail: feeds[1]: two feeds are named \"log\""),
            "{two}"
        );
        let bad_name = error("[[apps.feeds]]\nname = \"../etc\"\npath = \"a\"\n");
        assert!(
            bad_name.contains("feed name \"../etc\" may only use"),
            "{bad_name}"
        );
        let empty = error("[[apps.feeds]]\nname = \"log\"\npath = \"\"\n");
        assert!(empty.contains("path is empty"), "{empty}");
        let no_path = error("[[apps.feeds]]\nname = \"log\"\n");
        assert!(no_path.contains("missing field `path`"), "{no_path}");
        let unknown = error("[[apps.feeds]]\nname = \"log\"\npath = \"a\"\nfollow = true\n");
        assert!(unknown.contains("unknown key `follow`"), "{unknown}");
        for line in [two, bad_name, empty, no_path, unknown] {
            assert!(!line.contains('\n'), "one line: {line}");
        }
    }

    #[test]
    fn the_feed_line_limit_is_checked() {
        let mut limits = Limits::default();
        assert_eq!(limits.max_feed_line_bytes, 64 << 10);
        limits.max_feed_line_bytes = 0;
        assert!(check_limits(&limits).is_err());
        limits.max_feed_line_bytes = MAX_FEED_LINE_BYTES + 1;
        let error = check_limits(&limits).expect_err("over the bound");
        assert!(error.contains("max_feed_line_bytes"), "{error}");
        limits.max_feed_line_bytes = MAX_FEED_LINE_BYTES;
        assert!(check_limits(&limits).is_ok());
    }

    #[test]
    fn the_compiler_is_cranelift_unless_winch_is_asked_for() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let load = |text: &str| {
            let path = dir.path().join("switchboard.toml");
            std::fs::write(&path, text).expect("the config is written");
            Config::load(Some(&path), flags(&["/echo=echo.wasm"]))
        };
        let compiler = |text: &str| load(text).expect("valid config").deploy.compiler;
        assert_eq!(compiler(""), crate::guest::Compiler::Cranelift);
        assert_eq!(
            compiler("[deploy]\ncompiler = \"winch\"\n"),
            crate::guest::Compiler::Winch
        );
        let error = load("[deploy]\ncompiler = \"v8\"\n").expect_err("no such compiler");
        assert!(
            error.to_string().contains("\"cranelift\" or \"winch\""),
            "{error}"
        );
    }

    #[test]
    fn kv_is_durable_in_the_data_directory_unless_the_config_says() {
        use crate::kv::Durability;
        let dir = tempfile::tempdir().expect("a temporary directory");
        let load = |text: &str| {
            let path = dir.path().join("switchboard.toml");
            std::fs::write(&path, text).expect("the config is written");
            Config::load(Some(&path), flags(&["/echo=echo.wasm"]))
        };
        let kv = load("[deploy]\ndata_dir = \"data\"\n").expect("valid").kv;
        assert_eq!(kv.dir, dir.path().join("data").join(KV_SUBDIR));
        assert_eq!(kv.durability, Durability::Sync);

        let kv = load("[kv]\ndir = \"store\"\ndurability = \"buffered\"\n")
            .expect("valid")
            .kv;
        assert_eq!(kv.dir, dir.path().join("store"));
        assert_eq!(
            kv.durability,
            Durability::Buffered {
                sync_interval: Duration::from_millis(DEFAULT_KV_SYNC_INTERVAL_MS)
            }
        );
        let kv = load("[kv]\ndurability = \"buffered\"\nsync_interval_ms = 50\n")
            .expect("valid")
            .kv;
        assert_eq!(
            kv.durability,
            Durability::Buffered {
                sync_interval: Duration::from_millis(50)
            }
        );

        for (text, says) in [
            ("[kv]\ndurability = \"fast\"\n", "\"sync\""),
            (
                "[kv]\nsync_interval_ms = 10\n",
                "for durability = \"buffered\" only",
            ),
            (
                "[kv]\ndurability = \"buffered\"\nsync_interval_ms = 0\n",
                "give 1 to 60000",
            ),
            ("[limits]\nmax_kv_key_bytes = 0\n", "max_kv_key_bytes is 0"),
            ("[limits]\nmax_kv_value_bytes = 1000000000\n", "64 MiB"),
            ("[limits]\nmax_kv_keys_per_app = 0\n", "at least 1"),
        ] {
            let error = load(text).expect_err(text);
            assert!(error.to_string().contains(says), "{text}: {error}");
        }
    }

    #[test]
    fn an_apps_own_kv_quota_wins_over_the_limits() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("switchboard.toml");
        std::fs::write(
            &path,
            "[limits]\nmax_kv_keys_per_app = 10\n\n\
             [[apps]]\nroute = \"/a\"\nmodule = \"a.wasm\"\nmax_kv_bytes = 99\n\n\
             [[apps]]\nroute = \"/b\"\nmodule = \"b.wasm\"\nmax_kv_keys = 0\n",
        )
        .expect("the config is written");
        let error = Config::load(Some(&path), Overrides::default()).expect_err("zero keys");
        assert!(
            error.to_string().contains("apps[1]: max_kv_keys"),
            "{error}"
        );

        std::fs::write(
            &path,
            "[limits]\nmax_kv_keys_per_app = 10\n\n\
             [[apps]]\nroute = \"/a\"\nmodule = \"a.wasm\"\nmax_kv_bytes = 99\n",
        )
        .expect("the config is written");
        let config = Config::load(Some(&path), Overrides::default()).expect("valid");
        let quota = config.limits.kv_limits(config.apps.first()).quota;
        assert_eq!((quota.max_keys, quota.max_bytes), (10, 99));
        let defaults = config.limits.kv_limits(None);
        assert_eq!(defaults.quota.max_bytes, 64 << 20);
        assert_eq!(defaults.max_key_bytes, 512);
    }
}
