//! The command line. Every default here is chosen so that a bare
//! `switchboard-bench SCENARIO` from the workspace root, after
//! `scripts/bench` has built things, measures that scenario's standard case
//! and stops by itself within seconds (`standard`: a few minutes).

use std::path::PathBuf;

use clap::builder::TypedValueParser as _;
use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "switchboard-bench",
    version,
    about = "Load generator for switchboard: echo, broadcast and connection costs, Wasm against native, and the cost of hot swaps",
    long_about = "Load generator for switchboard: echo, broadcast and connection costs, Wasm against native, and the cost of hot swaps.\n\n\
        Exit status: 0 every check passed (every reply or delivery intact, in order, once; no connection closed); \
        1 the run found a failure; 2 the run could not happen."
)]
pub struct Cli {
    #[command(subcommand)]
    pub scenario: Scenario,
}

#[derive(Subcommand)]
pub enum Scenario {
    /// C connections echo S-byte messages, DEPTH in flight each, for D
    /// seconds after a warm-up: msgs/s, latency, server CPU per message.
    Echo(EchoCommand),
    /// The echo traffic twice on the same connections: a phase without
    /// swaps, then a phase hot-swapping the app through the admin API;
    /// compares their latencies.
    Swap(SwapCommand),
    /// One publisher sends as fast as the server fans out (or RATE msgs/s)
    /// to an app that forwards each message to K subscribers: delivered
    /// msgs/s, end-to-end latency, server CPU per delivery, and every
    /// delivery checked (lost, duplicated, reordered).
    Broadcast(BroadcastCommand),
    /// Open N idle connections, a bounded number of handshakes at a time:
    /// connections per second, handshake latency, server memory per open
    /// connection.
    Connect(ConnectCommand),
    /// The standard set, each case against the Wasm app and the native
    /// baseline (echo at 100 connections also against the bare-echo
    /// floor), each side --repeat times, interleaved: one table of medians
    /// and spreads, Wasm/native ratios, the goals, one JSON file.
    Standard(StandardCommand),
    /// The echo load from one bench process, then from two at once against
    /// the same server: shows whether the load generator or the server is
    /// the limit.
    Generators(GeneratorsCommand),
    /// The same apps in Rust, JavaScript and Python, through the real host:
    /// echo's server CPU per message (and the native and floor echo), each
    /// chat's cold and warm start, and deploy-to-live of new chat versions,
    /// each as a ratio to Rust in the same run.
    Languages(LanguagesCommand),
    /// Topics (issue 12), each against a baseline in the same run: topic
    /// publish against app-wide broadcast, Wasm and native, 64 B and
    /// 16 KiB (plain and compressed), interleaved; memory per subscription
    /// (10 000 connections in one topic, in a topic each, in none); and a
    /// reconnecting client replaying 1 000 missed messages against
    /// receiving 1 000 live ones.
    Topics(TopicsCommand),
    /// Timers, key-value storage and feeds (issue 13), each against a
    /// baseline in the same run: µs per kv get and set (buffered and
    /// synced) from a guest, against the same message doing nothing and
    /// attachment calls; lateness of 1 000 timer firings a second against
    /// tokio intervals in the bench; lines a second from an appended file
    /// to 100 subscribers against the same lines sent by a client.
    State(StateCommand),
}

#[derive(Args)]
pub struct EchoCommand {
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub native: Native,
}

#[derive(Args)]
pub struct SwapCommand {
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub swap: SwapArgs,
}

#[derive(Args)]
pub struct GeneratorsCommand {
    /// The traffic of each generator: both run exactly these flags (unless
    /// --split), so the second doubles the offered load. If the server was
    /// the limit, the sum stays where one generator got.
    #[command(flatten)]
    pub common: Common,

    /// Give each of the two generators half of --connections, so the server
    /// serves as many connections as from one generator and only the
    /// generating side doubles. Off by default (doubling the load is the
    /// plain question); on when the figure at twice the connections would
    /// be confounded by what more connections cost the server per message.
    #[arg(long)]
    pub split: bool,
    #[command(flatten)]
    pub native: Native,

    /// Core to pin the second generator to. By default the first one's
    /// (--client-core): on a 2-core machine the other core is the server's,
    /// and a generator there would take CPU from the server it measures.
    /// Sharing the client core, the second generator adds a second event
    /// loop and whatever CPU the first left idle.
    #[arg(long, value_name = "CORE")]
    pub second_core: Option<usize>,
}

/// Serve the host's built-in logic instead of a component. Shared by the
/// scenarios whose app the host also has built in (echo, broadcast).
#[derive(Args, Clone, Copy, Default)]
pub struct Native {
    /// Serve the host's built-in Rust version of the app (`serve
    /// --native-app /ROUTE=NAME`) instead of the Wasm component: the native
    /// baseline. Same host, same connection handling, no guest calls, so
    /// the difference to a run without it is what the Wasm sandbox costs.
    /// Off by default: users run components.
    #[arg(long, conflicts_with_all = ["url", "app"])]
    pub native: bool,
}

/// The traffic and the target: shared by the echo-based scenarios so their
/// numbers compare.
#[derive(Args, Clone)]
pub struct Common {
    /// Concurrent WebSocket connections. 100 is enough to keep the server's
    /// app actor and its connection tasks busy at once (the per-connection
    /// costs show), and few enough to open in well under a second.
    #[arg(long, short = 'c', default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=100_000).map(|n| n as usize))]
    pub connections: usize,

    /// Bytes per message (the bench needs 32 for its sequence number and
    /// send time). 64 is a typical small chat or control message, and small
    /// messages make the per-message costs (syscalls, guest calls) dominate,
    /// which is what the server's CPU per message is meant to expose.
    #[arg(long, short = 's', default_value_t = 64, value_parser = message_size())]
    pub size: usize,

    /// Send binary messages instead of text. Text is the default because it
    /// is what browser apps mostly send, and it includes the host's UTF-8
    /// validation in what is measured.
    #[arg(long)]
    pub binary: bool,

    /// Messages in flight per connection. 1 (send, wait for the reply, send
    /// the next) makes latency a pure round trip and throughput a measure of
    /// per-message cost without batching; raise it to measure pipelining.
    #[arg(long, short = 'd', default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=4096).map(|n| n as usize))]
    pub depth: usize,

    /// Seconds measured (per phase, for swap). 10 s gives hundreds of
    /// thousands of samples at the rates this server reaches, so even p99.9
    /// rests on hundreds of slow replies, and with two phases a run still
    /// takes under half a minute.
    #[arg(long, value_name = "SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub duration: u64,

    /// Seconds of traffic before measuring. The first second pays for fresh
    /// buffers, page faults and the CPU ramping up its clock, none of which
    /// is the steady state being measured.
    #[arg(long, value_name = "SECONDS", default_value_t = 1, value_parser = clap::value_parser!(u64).range(0..=600))]
    pub warmup: u64,

    /// Also write the results as JSON to this file (the table still goes to
    /// stdout), for scripts that compare runs. None by default: a person
    /// running the bench reads the table.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,

    #[command(flatten)]
    pub target: Target,
}

#[derive(Args)]
pub struct BroadcastCommand {
    /// Connections that only listen. 100 makes the fan-out (one incoming
    /// message, many outgoing) the dominant cost, as in a chat room;
    /// `standard` also runs 1000.
    #[arg(long, short = 'k', default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=50_000).map(|n| n as usize))]
    pub subscribers: usize,

    /// How fast the publisher sends: `max` (or 0; the default, except with
    /// --stalled, which paces at the reference load below) publishes as
    /// fast as the server fans out, in a closed loop bounded by --window,
    /// so delivered msgs/s is the server's capacity and Wasm and native
    /// compare at saturation; a number paces it at that many messages per
    /// second (message n at n/RATE s), which gives latencies at a known
    /// load: a server that keeps up then delivers exactly what was offered,
    /// one that cannot shows deliveries below it and growing latencies.
    /// Max is the default because the question the broadcast goal asks is
    /// how much one core delivers. For a paced figure, 50 000 deliveries per
    /// second shared among the subscribers (500 msgs/s to 100, 50 to 1000)
    /// stays well within one server core: 7-8 µs of server CPU per delivery
    /// at 100 subscribers (under 40% of the core) and 10-13 µs at 1000
    /// (50-65%), release host, 2026-11-25. The table's `server cpu` column
    /// says how close your build and machine come to a full core.
    #[arg(long, value_name = "MSGS/S|max", value_parser = parse_rate)]
    pub rate: Option<Rate>,

    /// With `--rate max`: at most this many messages published and not yet
    /// received by every subscriber. The publisher sends the next message
    /// as soon as the oldest outstanding one has reached all subscribers,
    /// so each subscriber's outbox in the host never holds more than
    /// WINDOW messages (the host closes a subscriber whose outbox passes
    /// 32 MiB; the bench refuses a window whose payloads could reach half
    /// of that). Default 1: each message is fanned out alone, one write per
    /// delivery, which keeps the server's core 97-99% busy at 1000
    /// subscribers (a fan-out takes ~8 ms, the round trip to the next
    /// message ~0.1 ms) and ~90% at 100, and gives the same figures run
    /// after run. A larger window lets the host coalesce several messages
    /// into one write: deliveries/s rise (2-3x at 4, ~10x at 16) but how
    /// much they coalesce depends on how the host's threads interleave, so
    /// identical runs differ by ±15%, too much for a 5% Wasm/native goal;
    /// from about 64 the bench's core, which pays as much per delivery as
    /// the server's, becomes the limit (sweep in bench/README.md).
    #[arg(long, value_name = "MESSAGES", value_parser = clap::value_parser!(u64).range(1..=1_000_000).map(|n| n as usize))]
    pub window: Option<usize>,

    /// Also open this many subscribers that complete the upgrade and then
    /// never read, and run everything twice: with them, and without them
    /// (the baseline), --repeat times interleaved, each run on a server of
    /// its own started with `max_outbox_bytes` = --max-outbox-bytes and
    /// `close_timeout_ms` = 1000. Reports the server's peak and final RSS
    /// against the baseline's, how many of them the server dropped and how
    /// long after the first message, and the usual checks of the reading
    /// subscribers. The publisher is paced (at 50 000 deliveries/s shared by
    /// the readers unless --rate says otherwise). Before its outbox fills,
    /// a stalled connection's kernel buffers take about 4 MiB, two minutes
    /// at the default 64 bytes and 500 msgs/s: measure with `-s 1024
    /// --duration 20` (see bench/README.md). 0, the default, is the plain
    /// scenario.
    #[arg(long, value_name = "S", default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=20_000).map(|n| n as usize))]
    pub stalled: usize,

    /// With --stalled: the server's `max_outbox_bytes`. 1 MiB, a 32nd of the
    /// host's default, so that an outbox fills within seconds (at 1 KiB
    /// messages) and a run takes tens of seconds: the bound is what is
    /// measured, not its size.
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 20, requires = "stalled", value_parser = clap::value_parser!(u64).range(1..=1 << 30).map(|n| n as usize))]
    pub max_outbox_bytes: usize,

    /// With --stalled: rounds of the pair (baseline, stalled; then stalled,
    /// baseline; ...). RSS repeats more closely than CPU does, so 1 gives a
    /// figure; raise it for a spread.
    #[arg(long, value_name = "N", default_value_t = 1, requires = "stalled", value_parser = clap::value_parser!(u64).range(1..=100).map(|n| n as usize))]
    pub repeat: usize,

    /// Bytes per message, as for echo (see `echo --help`).
    #[arg(long, short = 's', default_value_t = 64, value_parser = message_size())]
    pub size: usize,

    /// Send binary messages instead of text.
    #[arg(long)]
    pub binary: bool,

    /// How the publisher's messages reach the subscribers: `broadcast`
    /// (the app's `broadcast` to every other connection: what the
    /// scenario has always measured) or `topic` (subscribers open
    /// `/broadcast?topic=bench`, the publisher `/broadcast?publish=bench`,
    /// and the app publishes each message to that topic), or `feed` (no
    /// publisher connection: the bench appends each message as a line to a
    /// file the server's config grants the app as feed `bench`, and the app
    /// publishes each new line to topic `bench`, which the subscribers
    /// follow; text only, and only on a server the bench starts). Every
    /// check is the same either way.
    #[arg(long, value_enum, default_value_t = Via::Broadcast)]
    pub via: Via,

    /// Serve the app with permessage-deflate on (`compression = true`)
    /// and have every subscriber offer it, as browsers always do (the
    /// publisher does not). The component only: built-in apps have no
    /// config entry to turn it on.
    #[arg(long, conflicts_with = "native")]
    pub compression: bool,

    /// Seconds measured. 10 s, as for echo.
    #[arg(long, value_name = "SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub duration: u64,

    /// Seconds of traffic before measuring (see `echo --help`).
    #[arg(long, value_name = "SECONDS", default_value_t = 1, value_parser = clap::value_parser!(u64).range(0..=600))]
    pub warmup: u64,

    /// Also write the results as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,

    #[command(flatten)]
    pub native: Native,

    #[command(flatten)]
    pub target: Target,
}

#[derive(Args)]
pub struct ConnectCommand {
    /// Idle connections to open. 10 000 is the host's default connection
    /// limit and what one process may hold within a 20 000 open-file limit
    /// (the server holds one socket per connection, and so does the bench).
    #[arg(long, short = 'c', default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=60_000).map(|n| n as usize))]
    pub connections: usize,

    /// Handshakes in flight at once. 100 keeps the server busy accepting
    /// (its core, not the round trip, is the limit) while staying far below
    /// the listen backlog (1024), so no SYN is dropped and retried a second
    /// later, which would show up as a one-second handshake.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=10_000).map(|n| n as usize))]
    pub concurrency: usize,

    /// Seconds to hold every connection open before measuring the server's
    /// memory: time for the server to finish whatever each new connection
    /// started, so the figure is what an idle connection costs.
    #[arg(long, value_name = "SECONDS", default_value_t = 3, value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub hold: u64,

    /// Open the connections on the broadcast app (`/broadcast`) instead of
    /// echo, each subscribed to nothing (`none`: the baseline), to one
    /// topic they all share (`one`: `?topic=bench`), or to a topic of its
    /// own (`own`: `?topic=t{INDEX}`), so that the difference in memory
    /// per connection is what a subscription costs. Not given: echo, as
    /// always.
    #[arg(long, value_enum)]
    pub subscribe: Option<Subscriptions>,

    /// Also write the results as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,

    #[command(flatten)]
    pub native: Native,

    #[command(flatten)]
    pub target: Target,
}

/// How `broadcast` delivers (`--via`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    Broadcast,
    Topic,
    Feed,
}

/// What `connect --subscribe` subscribes each connection to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Subscriptions {
    None,
    One,
    Own,
}

#[derive(Args)]
pub struct TopicsCommand {
    /// Seconds measured per fan-out run (as in the standard set).
    #[arg(long, value_name = "SECONDS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub duration: u64,

    /// Seconds of traffic before measuring, per fan-out run.
    #[arg(long, value_name = "SECONDS", default_value_t = 1, value_parser = clap::value_parser!(u64).range(0..=600))]
    pub warmup: u64,

    /// Rounds of every fan-out and memory case (each side once per round,
    /// the order reversed every other round). 3, as in the standard set:
    /// the fewest whose median ignores one outlier per side.
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=100).map(|n| n as usize))]
    pub repeat: usize,

    /// Reconnects timed in the replay part, and as many live baselines,
    /// alternating. Each takes milliseconds.
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=1000).map(|n| n as usize))]
    pub replays: usize,

    /// Run only these parts (comma-separated: fanout, memory, replay). All
    /// by default.
    #[arg(long, value_name = "PART,...", value_delimiter = ',')]
    pub only: Vec<TopicsPart>,

    /// Where to write every result as JSON.
    #[arg(long, value_name = "FILE", default_value = "bench/results/topics.json")]
    pub json: PathBuf,

    #[command(flatten)]
    pub suite: Suite,
}

/// The parts of `topics`, for `--only`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TopicsPart {
    Fanout,
    Memory,
    Replay,
}

#[derive(Args)]
pub struct StateCommand {
    /// Seconds measured per tail run and per timers run.
    #[arg(long, value_name = "SECONDS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub duration: u64,

    /// Seconds of traffic before measuring, per tail run.
    #[arg(long, value_name = "SECONDS", default_value_t = 1, value_parser = clap::value_parser!(u64).range(0..=600))]
    pub warmup: u64,

    /// Rounds of every tail and timers case (each side once per round, the
    /// order reversed every other round). 3, as in the standard set: the
    /// fewest whose median ignores one outlier per side.
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=100).map(|n| n as usize))]
    pub repeat: usize,

    /// Cycles of the kv part: each sends every kind of message once (each
    /// about 20 ms of work), so 40 take a few seconds.
    #[arg(long, value_name = "N", default_value_t = 40, value_parser = clap::value_parser!(u64).range(1..=10_000).map(|n| n as usize))]
    pub kv_messages: usize,

    /// Run only these parts (comma-separated: kv, timers, tail). All by
    /// default.
    #[arg(long, value_name = "PART,...", value_delimiter = ',')]
    pub only: Vec<StatePart>,

    /// Where to write every result as JSON.
    #[arg(long, value_name = "FILE", default_value = "bench/results/state.json")]
    pub json: PathBuf,

    #[command(flatten)]
    pub suite: Suite,
}

/// The parts of `state`, for `--only`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StatePart {
    Kv,
    Timers,
    Tail,
}

#[derive(Args)]
pub struct StandardCommand {
    /// Seconds measured per phase of every case. 5 s keeps the whole set
    /// (46 runs at the default --repeat, each starting its own server)
    /// around five minutes, and still gives tens of thousands of samples
    /// per run at the rates this server reaches.
    #[arg(long, value_name = "SECONDS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub duration: u64,

    /// Runs of each side of each case (swap runs once), interleaved: wasm,
    /// native, then native, wasm, and so on, so drift in the machine hits
    /// both sides alike. The table shows each side's median and the spread
    /// (min-max) of the headline figure; ratios and goals use the medians.
    /// 3 because identical runs on a noisy 2-core VM differ by 10-20%, more
    /// than the 5-10% the goals are about, and 3 is the fewest whose median
    /// ignores one outlier per side; it keeps the set (46 runs, about six
    /// seconds each at the default --duration) around five minutes (4 min
    /// 44 s on the 2-core VM, 2026-11-25). Raise it when a goal's verdict
    /// sits within the spread.
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=100).map(|n| n as usize))]
    pub repeat: usize,

    /// Seconds of traffic before measuring, in every case (see `echo --help`).
    #[arg(long, value_name = "SECONDS", default_value_t = 1, value_parser = clap::value_parser!(u64).range(0..=600))]
    pub warmup: u64,

    /// Where to write every result as JSON. Under bench/results/ (ignored by
    /// git) so that runs can be compared without cluttering the tree.
    #[arg(
        long,
        value_name = "FILE",
        default_value = "bench/results/standard.json"
    )]
    pub json: PathBuf,

    /// The floor server measured beside the host in the echo 64 B, 100
    /// connections case: bare-echo (bench/src/bin/bare-echo.rs), a yawc echo
    /// server with no host around it. By default the bare-echo beside this
    /// binary, where `cargo build -p switchboard-bench` puts it.
    #[arg(long, value_name = "PATH")]
    pub bare_echo: Option<PathBuf>,

    /// Run only these kinds of case (comma-separated: echo, broadcast,
    /// connect, swap). All of them by default: the point is one complete
    /// picture.
    #[arg(long, value_name = "KIND,...", value_delimiter = ',')]
    pub only: Vec<CaseKind>,

    /// Also print each case's own table (on stderr) as it finishes. Off by
    /// default: the combined table is the result.
    #[arg(long)]
    pub verbose: bool,

    #[command(flatten)]
    pub suite: Suite,
}

#[derive(Args)]
pub struct LanguagesCommand {
    /// Seconds measured per echo run. 5 s, as in the standard set: tens of
    /// thousands of samples even for the slowest guest, and the whole
    /// scenario stays within a few minutes, most of which is compiling the
    /// JavaScript and Python components (15-30 s each).
    #[arg(long, value_name = "SECONDS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub duration: u64,

    /// Seconds of echo traffic before measuring (see `echo --help`).
    #[arg(long, value_name = "SECONDS", default_value_t = 1, value_parser = clap::value_parser!(u64).range(0..=600))]
    pub warmup: u64,

    /// Run only these parts (comma-separated: echo, start, deploy). All by
    /// default.
    #[arg(long, value_name = "PART,...", value_delimiter = ',')]
    pub only: Vec<LanguagePart>,

    /// Where to write the results as JSON (bench/results/ is not in git).
    #[arg(
        long,
        value_name = "FILE",
        default_value = "bench/results/languages.json"
    )]
    pub json: PathBuf,

    /// The JavaScript examples, where scripts/build-examples puts them.
    #[arg(long, value_name = "DIR", default_value = "target/examples/js")]
    pub js_examples: PathBuf,

    /// The Python examples, where scripts/build-examples puts them.
    #[arg(long, value_name = "DIR", default_value = "target/examples/python")]
    pub python_examples: PathBuf,

    /// The examples' sources: the deploy part builds new versions from
    /// chat/js/app.js and chat/python/app.py under it.
    #[arg(long, value_name = "DIR", default_value = "examples")]
    pub sources: PathBuf,

    /// Where `switchboard build` keeps its toolchains (its
    /// SWITCHBOARD_CACHE_DIR): where scripts/build-examples installed them,
    /// so the bench installs nothing.
    #[arg(
        long,
        value_name = "DIR",
        env = "SWITCHBOARD_CACHE_DIR",
        default_value = "target/toolchains"
    )]
    pub toolchains: PathBuf,

    /// The floor server (see `standard --help`).
    #[arg(long, value_name = "PATH")]
    pub bare_echo: Option<PathBuf>,

    #[command(flatten)]
    pub suite: Suite,
}

/// The parts of `languages`, for `--only`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LanguagePart {
    Echo,
    Start,
    Deploy,
}

/// The kinds of case `standard` runs, for `--only`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum CaseKind {
    Echo,
    Broadcast,
    Connect,
    Swap,
}

/// Where the scenario's Wasm apps are built by default.
pub const EXAMPLES_DIR: &str = "target/examples/wasm32-wasip2/release";

/// What every suite of cases (`standard`, `languages`, `topics`, `state`)
/// starts, and where: one declaration, so the flags mean the same in each.
#[derive(Args)]
pub struct Suite {
    /// The switchboard binary to start (and, for `languages`, to build new
    /// JavaScript and Python versions with `switchboard build`).
    #[arg(
        long,
        value_name = "PATH",
        default_value = "target/release/switchboard"
    )]
    pub switchboard: PathBuf,

    /// Where the Rust example components are (echo.wasm, chat.wasm,
    /// broadcast.wasm, bench_state.wasm): where scripts/build-examples puts
    /// them.
    #[arg(long, value_name = "DIR", default_value = EXAMPLES_DIR)]
    pub examples: PathBuf,

    #[command(flatten)]
    pub placement: Placement,
}

/// What to measure, and where everything runs.
#[derive(Args, Clone)]
pub struct Target {
    /// The switchboard binary to start. The release build by default: it is
    /// what users run, and a debug build's costs would mostly measure the
    /// missing optimisation.
    #[arg(
        long,
        value_name = "PATH",
        default_value = "target/release/switchboard"
    )]
    pub switchboard: PathBuf,

    /// The component to serve. By default the scenario's example as built by
    /// scripts/build-examples (target/examples/wasm32-wasip2/release/
    /// echo.wasm for echo and swap, broadcast.wasm for broadcast), so the
    /// numbers are the host's plus the smallest possible app.
    #[arg(long, value_name = "PATH.wasm")]
    pub app: Option<PathBuf>,

    /// Measure an already-running server at this WebSocket URL instead of
    /// starting one (its app must behave as the scenario expects). Without
    /// --server-pid there is no server CPU or memory figure, and nothing is
    /// pinned on the server side. By default the bench starts its own
    /// server, so it knows the binary, the core and the process it is
    /// measuring.
    #[arg(long, value_name = "ws://HOST:PORT/ROUTE", conflicts_with_all = ["switchboard", "app"])]
    pub url: Option<url::Url>,

    /// With --url: the server's process id, to read its CPU time and memory
    /// from /proc. None by default because a URL does not say which process
    /// serves it.
    #[arg(long, value_name = "PID", requires = "url")]
    pub server_pid: Option<u32>,

    #[command(flatten)]
    pub placement: Placement,
}

impl Target {
    /// The component to serve: `--app`, or the named example.
    pub fn app_or_example(&self, example: &str) -> PathBuf {
        self.app
            .clone()
            .unwrap_or_else(|| PathBuf::from(EXAMPLES_DIR).join(format!("{example}.wasm")))
    }
}

/// Which core the server and the bench run on.
#[derive(Args, Clone, Copy)]
pub struct Placement {
    /// Core to pin the started server (and all its threads) to. Core 0 and
    /// the bench on core 1 give each a whole core on a 2-core machine, so
    /// neither steals the other's time.
    #[arg(long, value_name = "CORE", default_value_t = 0)]
    pub server_core: usize,

    /// Core to pin the bench to (see --server-core).
    #[arg(long, value_name = "CORE", default_value_t = 1)]
    pub client_core: usize,

    /// Pin nothing: for machines with one core, or to see what the scheduler
    /// does unaided. Off by default because unpinned numbers vary run to run.
    #[arg(long)]
    pub no_pin: bool,
}

/// How the broadcast publisher paces itself (`broadcast --rate`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rate {
    /// As fast as the server fans out: a closed loop with at most `--window`
    /// messages outstanding.
    Max,
    /// This many messages per second, on a fixed schedule.
    Paced(u64),
}

/// The most messages per second a paced publisher may be asked for.
const MAX_PACED_RATE: u64 = 1_000_000;

/// `max` or 0 for the closed loop, or a number of messages per second.
fn parse_rate(text: &str) -> Result<Rate, String> {
    if text.eq_ignore_ascii_case("max") {
        return Ok(Rate::Max);
    }
    match text.parse::<u64>() {
        Ok(0) => Ok(Rate::Max),
        Ok(rate) if rate <= MAX_PACED_RATE => Ok(Rate::Paced(rate)),
        Ok(_) => Err(format!(
            "at most {MAX_PACED_RATE} msgs/s can be paced; `max` sends as fast as the server takes"
        )),
        Err(_) => Err(format!(
            "{text:?} is neither `max` nor a number of messages per second"
        )),
    }
}

/// Only the swap scenario has these.
#[derive(Args, Clone)]
pub struct SwapArgs {
    /// Milliseconds between swaps. One a second (the figure) is far
    /// more often than any real deployment, so a swap's cost cannot hide
    /// between swaps, yet leaves each swap time to finish.
    #[arg(long, value_name = "MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub swap_every_ms: u64,

    /// The component to upload on each swap (with a unique stamp appended).
    /// By default the one being served (--app), so behaviour never changes
    /// and only the swap itself is measured. The host's compile cache then
    /// finds nearly every function of each upload compiled already, as for
    /// a rollback or a small rebuild; a server started with `[deploy]
    /// compile_cache_bytes = 0` (and --url) compiles every upload whole.
    #[arg(long, value_name = "PATH.wasm")]
    pub swap_component: Option<PathBuf>,

    /// With --url: the server's admin API base URL. When the bench starts
    /// the server it reads this from the server's stdout instead.
    #[arg(long, value_name = "http://HOST:PORT", requires = "url")]
    pub admin_url: Option<String>,

    /// With --url: the admin bearer token. Read from the environment
    /// rather than given as a flag so it does not show in `ps`. Ignored when
    /// the bench starts the server: it then makes up a random token, so no
    /// other local process can drive that server's admin API.
    #[arg(long, env = "SWITCHBOARD_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,

    /// The name of the app to swap, as in `PUT /apps/{name}`. By default
    /// named after the URL's route (`/echo` is `echo`), as the host names
    /// apps given with `--app /ROUTE=FILE`.
    #[arg(long, value_name = "NAME")]
    pub app_name: Option<String>,
}

/// Message sizes the bench can send: room for its header, and no more than
/// the host's default message limit.
fn message_size() -> impl clap::builder::TypedValueParser<Value = usize> {
    clap::value_parser!(u64)
        .range(crate::payload::HEADER_LEN as u64..=16 * 1024 * 1024)
        .map(|n| n as usize)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    /// Clap checks flag names, `requires` and `conflicts_with` targets only
    /// when asked; a typo there would otherwise surface as a panic at run
    /// time.
    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults_are_the_standard_scenario() {
        let Scenario::Echo(echo) = Cli::parse_from(["switchboard-bench", "echo"]).scenario else {
            panic!("not echo");
        };
        let common = echo.common;
        assert_eq!(
            (
                common.connections,
                common.size,
                common.depth,
                common.duration
            ),
            (100, 64, 1, 10)
        );
        assert!(!common.binary);
        assert_eq!(
            (
                common.target.placement.server_core,
                common.target.placement.client_core
            ),
            (0, 1)
        );
    }

    #[test]
    fn native_serves_no_component_and_needs_its_own_server() {
        let parse =
            |args: &[&str]| Cli::try_parse_from(["switchboard-bench"].iter().chain(args).copied());
        for scenario in ["echo", "broadcast", "connect", "generators"] {
            assert!(parse(&[scenario, "--native"]).is_ok(), "{scenario}");
            assert!(
                parse(&[scenario, "--native", "--app", "x.wasm"]).is_err(),
                "{scenario}"
            );
            assert!(
                parse(&[scenario, "--native", "--url", "ws://127.0.0.1:1/echo"]).is_err(),
                "{scenario}"
            );
        }
        // Only components are swapped.
        assert!(parse(&["swap", "--native"]).is_err());
    }

    #[test]
    fn languages_defaults_and_parts() {
        let Scenario::Languages(languages) =
            Cli::parse_from(["switchboard-bench", "languages", "--only", "start,deploy"]).scenario
        else {
            panic!("not languages");
        };
        assert_eq!((languages.duration, languages.warmup), (5, 1));
        assert_eq!(languages.only, [LanguagePart::Start, LanguagePart::Deploy]);
        assert_eq!(languages.js_examples, PathBuf::from("target/examples/js"));
        assert!(
            Cli::try_parse_from(["switchboard-bench", "languages", "--only", "memory"]).is_err()
        );
    }

    #[test]
    fn broadcast_and_connect_defaults() {
        let Scenario::Broadcast(broadcast) =
            Cli::parse_from(["switchboard-bench", "broadcast"]).scenario
        else {
            panic!("not broadcast");
        };
        assert_eq!(
            (
                broadcast.subscribers,
                broadcast.rate,
                broadcast.window,
                broadcast.stalled
            ),
            (100, None, None, 0)
        );
        assert_eq!(broadcast.via, Via::Broadcast);
        assert_eq!(
            broadcast.target.app_or_example("broadcast"),
            PathBuf::from(EXAMPLES_DIR).join("broadcast.wasm")
        );
        let Scenario::Connect(connect) = Cli::parse_from(["switchboard-bench", "connect"]).scenario
        else {
            panic!("not connect");
        };
        assert_eq!(
            (connect.connections, connect.concurrency, connect.hold),
            (10_000, 100, 3)
        );
    }

    #[test]
    fn topics_are_measured_through_the_broadcast_scenarios() {
        let Scenario::Broadcast(broadcast) =
            Cli::parse_from(["switchboard-bench", "broadcast", "--via", "topic"]).scenario
        else {
            panic!("not broadcast");
        };
        assert_eq!(broadcast.via, Via::Topic);
        let Scenario::Connect(connect) =
            Cli::parse_from(["switchboard-bench", "connect", "--subscribe", "own"]).scenario
        else {
            panic!("not connect");
        };
        assert_eq!(connect.subscribe, Some(Subscriptions::Own));
        let Scenario::Topics(topics) =
            Cli::parse_from(["switchboard-bench", "topics", "--only", "memory,replay"]).scenario
        else {
            panic!("not topics");
        };
        assert_eq!((topics.repeat, topics.replays), (3, 20));
        assert_eq!(topics.only, [TopicsPart::Memory, TopicsPart::Replay]);
        assert!(Cli::try_parse_from(["switchboard-bench", "broadcast", "--via", "room"]).is_err());
    }

    #[test]
    fn state_defaults_and_parts() {
        let Scenario::State(state) =
            Cli::parse_from(["switchboard-bench", "state", "--only", "kv,tail"]).scenario
        else {
            panic!("not state");
        };
        assert_eq!(
            (state.duration, state.repeat, state.kv_messages),
            (5, 3, 40)
        );
        assert_eq!(state.only, [StatePart::Kv, StatePart::Tail]);
        assert_eq!(state.json, PathBuf::from("bench/results/state.json"));
        assert!(Cli::try_parse_from(["switchboard-bench", "state", "--only", "redis"]).is_err());
        let Scenario::Broadcast(broadcast) =
            Cli::parse_from(["switchboard-bench", "broadcast", "--via", "feed"]).scenario
        else {
            panic!("not broadcast");
        };
        assert_eq!(broadcast.via, Via::Feed);
    }

    #[test]
    fn standard_defaults_and_case_selection() {
        let Scenario::Standard(standard) =
            Cli::parse_from(["switchboard-bench", "standard", "--only", "echo,swap"]).scenario
        else {
            panic!("not standard");
        };
        assert_eq!(standard.duration, 5);
        assert_eq!(standard.json, PathBuf::from("bench/results/standard.json"));
        assert_eq!(standard.only, [CaseKind::Echo, CaseKind::Swap]);
        assert!(Cli::try_parse_from(["switchboard-bench", "standard", "--only", "chat"]).is_err());
    }

    #[test]
    fn the_broadcast_rate_is_max_zero_or_a_pace() {
        let rate = |value: &str| match Cli::try_parse_from([
            "switchboard-bench",
            "broadcast",
            "--rate",
            value,
        ])
        .map(|cli| cli.scenario)
        {
            Ok(Scenario::Broadcast(broadcast)) => broadcast.rate,
            _ => None,
        };
        assert_eq!(rate("max"), Some(Rate::Max));
        assert_eq!(rate("MAX"), Some(Rate::Max));
        assert_eq!(rate("0"), Some(Rate::Max));
        assert_eq!(rate("500"), Some(Rate::Paced(500)));
        assert_eq!(rate("1000000"), Some(Rate::Paced(1_000_000)));
        assert_eq!(rate("1000001"), None);
        assert_eq!(rate("fast"), None);
        assert_eq!(rate("-1"), None);
    }

    #[test]
    fn a_message_too_small_for_the_header_is_refused() {
        assert!(Cli::try_parse_from(["switchboard-bench", "echo", "--size", "31"]).is_err());
    }
}
