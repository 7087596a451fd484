//! The broadcast scenario: one publisher, K subscribers, one app that
//! forwards every message to every other connection. Echo measures one
//! message in, one out; a chat room or a live feed is one in, many out, and
//! the host's fan-out (one guest call queuing a message to K outboxes, K
//! socket writes) is a different cost that echo never exercises.
//!
//! The publisher runs in one of two modes. By default it is a closed loop:
//! it keeps at most W messages outstanding (published and not yet received
//! by every subscriber) and sends the next as soon as the oldest has reached
//! them all, so the server always has work queued and deliveries per second
//! are what it can fan out, while every outbox in the host stays below W
//! messages (the host closes a subscriber whose outbox overflows). With a
//! rate it is paced instead: it sends message n at n/RATE seconds, so
//! latencies are those of a known load, and a server that cannot keep up
//! shows as deliveries per second below what was offered and latencies that
//! grow, not as a publisher that slows down to match. Each message carries
//! its sequence number and send time (the echo payload, see payload.rs);
//! each subscriber checks every delivery byte for byte, times it from the
//! publisher's send, and notes duplicates and reordering. After the last
//! message every subscriber is given a grace period to receive everything;
//! whatever is still missing then is lost.
//!
//! A subscriber is in the app's audience only once the host has opened it,
//! which may be a moment after its handshake completed, so deliveries are
//! counted from the first message sent after every subscriber has received
//! something (the sync). From then on, order per connection means each one
//! must receive every message. The sync itself is paced in both modes (a
//! closed loop cannot wait for subscribers that are not yet in the
//! audience); the closed loop starts with the first counted message.
//!
//! With `--via feed` there is no publisher connection: the bench appends
//! each message as a line to a file the server's config grants the app
//! (`[[apps.feeds]]`, named `bench`), and the app publishes every new line
//! to the topic of that name, which the subscribers follow. Everything
//! else (sync, window, checks) is the same, so a run via `topic` with the
//! same flags is the baseline: the same lines, sent by a client.
//!
//! Like echo, it all runs on one current-thread runtime pinned to one core,
//! sharing state through `Rc` and `Cell`.

use std::cell::{Cell, RefCell};
use std::fmt::Write as _;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bytes::BytesMut;
use futures::{SinkExt as _, StreamExt as _, TryStreamExt as _};
use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::VecDeque;

use tokio::sync::{Notify, watch};
use yawc::{Frame, OpCode, WebSocketError};

use crate::cli::{BroadcastCommand, Rate, Via};
use crate::connection::{self, Ending, Socket};
use crate::cpu;
use crate::payload::{self, Template, Verdict};
use crate::process::TempDir;
use crate::report::{self, PhaseResult, PhaseSample, plural};
use crate::server::Configured;
use crate::stalled;
use crate::subject::{self, App, Subject};

/// The route the bench serves its broadcast app on.
pub const ROUTE: &str = "/broadcast";

/// The topic `--via topic` publishes to, and the feed `--via feed`
/// appends to (the app publishes a feed's lines to the topic of its name).
pub const TOPIC: &str = "bench";

/// The file `--via feed` appends to, in a directory of the run's own.
const FEED_FILE: &str = "bench.log";

/// The longest line the host hands an app whole (`limits.max_feed_line_bytes`
/// by default); a longer one would be cut and fail every check.
const MAX_FEED_LINE_BYTES: usize = 64 * 1024;

/// Where subscribers and the publisher connect: the app's URL as it is
/// (`--via broadcast`), or subscribed to `TOPIC` and publishing to it.
fn urls(url: &url::Url, via: Via) -> (url::Url, url::Url) {
    let with_query = |query: &str| {
        let mut url = url.clone();
        url.set_query(Some(query));
        url
    };
    match via {
        Via::Broadcast => (url.clone(), url.clone()),
        // The feed has no publisher connection; its URL is never opened.
        Via::Topic | Via::Feed => (
            with_query(&format!("topic={TOPIC}")),
            with_query(&format!("publish={TOPIC}")),
        ),
    }
}

/// Deliveries per second the default rate aims at, whatever the number of
/// subscribers (see `broadcast --rate`).
pub const DEFAULT_DELIVERIES_PER_SECOND: u64 = 50_000;

/// Messages outstanding in the closed loop unless `--window` says otherwise
/// (see `broadcast --help` and bench/README.md for why).
const DEFAULT_WINDOW: usize = 1;

/// The host's default outbox limit (`[limits] max_outbox_bytes`, which the
/// bench's servers keep): a subscriber whose queued payload passes it is
/// closed with 1008.
const HOST_OUTBOX_LIMIT_BYTES: usize = 32 << 20;

/// Handshakes in flight while subscribers join: enough to open a thousand
/// in a fraction of a second, far below the server's listen backlog.
const OPEN_CONCURRENCY: usize = 100;
/// Opening every subscriber should take well under a second; this turns a
/// server that never answers into an error.
const OPEN_TIMEOUT: Duration = Duration::from_secs(60);
/// How long every subscriber may take to receive its first message. A
/// broadcast app delivers within milliseconds; one that never does is not
/// a broadcast app.
const SYNC_TIMEOUT: Duration = Duration::from_secs(10);
/// After the last message is sent, how long deliveries may still take. A
/// delivery later than this counts as lost.
const GRACE: Duration = Duration::from_secs(5);
/// How long closing handshakes may take at the end.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the driver looks at the counts while waiting for them.
const POLL: Duration = Duration::from_millis(5);
/// How many closed connections are described in the report.
const CLOSES_KEPT: usize = 5;
/// Latencies above this are recorded as this (a minute is already a hang).
const HISTOGRAM_MAX_NS: u64 = 60_000_000_000;
/// The publisher lagging its schedule by more than this is worth a note:
/// timer granularity accounts for a millisecond or two, not more.
const LAG_NOTE_MS: f64 = 10.0;

/// The default publishing rate for this many subscribers: the paced
/// mode's reference load, and the pace of every sync.
pub fn default_rate(subscribers: usize) -> u64 {
    (DEFAULT_DELIVERIES_PER_SECOND / subscribers.max(1) as u64).max(1)
}

/// How the publisher decides when to send, once the sync is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pace {
    /// Message n at n/RATE s.
    Rate(u64),
    /// As fast as the server fans out, with at most this many messages
    /// outstanding.
    Window(usize),
}

impl Pace {
    /// The command line's choice, checked: a window belongs to the closed
    /// loop only, and must keep every outbox well under the host's limit;
    /// with stalled subscribers the publisher is paced, by default at the
    /// reference load for `subscribers`.
    fn choose(
        rate: Option<Rate>,
        window: Option<usize>,
        size: usize,
        subscribers: usize,
        stalled: usize,
    ) -> anyhow::Result<Pace> {
        if stalled > 0 {
            return match (rate, window) {
                (_, Some(_)) => bail!(
                    "--window bounds the closed loop, and --stalled paces the publisher: leave --window out"
                ),
                (None, None) => Ok(Pace::Rate(default_rate(subscribers))),
                (Some(Rate::Paced(rate)), None) => Ok(Pace::Rate(rate)),
                (Some(Rate::Max), None) => bail!(
                    "--stalled measures memory at a load the server sustains, so the publisher is paced: give --rate a number of msgs/s, or leave it out ({} msgs/s to {subscribers} subscribers)",
                    default_rate(subscribers)
                ),
            };
        }
        let window = match (rate.unwrap_or(Rate::Max), window) {
            (Rate::Paced(rate), None) => return Ok(Pace::Rate(rate)),
            (Rate::Paced(_), Some(_)) => bail!(
                "--window bounds the closed loop (--rate max); a paced publisher sends on its schedule"
            ),
            (Rate::Max, window) => window.unwrap_or(DEFAULT_WINDOW),
        };
        // Each subscriber's outbox holds at most the window's payloads.
        let queued = window.saturating_mul(size);
        if queued > HOST_OUTBOX_LIMIT_BYTES / 2 {
            bail!(
                "a window of {window} {size}-byte messages could queue {queued} bytes for one subscriber, more than half the host's {HOST_OUTBOX_LIMIT_BYTES}-byte outbox limit (over it, the host closes the subscriber): use a smaller --window"
            );
        }
        Ok(Pace::Window(window))
    }

    fn mode(self) -> &'static str {
        match self {
            Pace::Rate(_) => "paced",
            Pace::Window(_) => "closed-loop",
        }
    }
}

/// Run the scenario and write its JSON if asked.
pub fn run(command: &BroadcastCommand) -> anyhow::Result<BroadcastReport> {
    let report = run_once(command, None)?;
    if let Some(path) = &command.json {
        report::write_json(&report, path)?;
    }
    Ok(report)
}

/// The empty file `--via feed` appends to, in a directory of its own
/// (removed when dropped), created before the server starts so that the
/// grant names a file that exists. Only a server the bench starts can be
/// granted it, and only the component follows feeds.
fn feed_file(command: &BroadcastCommand) -> anyhow::Result<(TempDir, std::fs::File)> {
    if command.target.url.is_some() {
        bail!(
            "--via feed needs a server the bench starts (its config grants the app the file the bench appends to), not --url"
        );
    }
    if command.native.native {
        bail!("--via feed needs the component: the built-in broadcast follows no feeds");
    }
    if command.binary || command.compression {
        bail!("--via feed sends text lines: leave out --binary and --compression");
    }
    if command.size > MAX_FEED_LINE_BYTES {
        bail!(
            "--via feed: a {}-byte line is over the host's {MAX_FEED_LINE_BYTES}-byte line limit",
            command.size
        );
    }
    let dir = TempDir::new("feed")?;
    let path = dir.path().join(FEED_FILE);
    let file = std::fs::OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    Ok((dir, file))
}

/// Refuse flags that do not go together before any server starts.
pub fn check(command: &BroadcastCommand) -> anyhow::Result<()> {
    Pace::choose(
        command.rate,
        command.window,
        command.size,
        command.subscribers,
        command.stalled,
    )
    .map(|_| ())
}

/// One run on a server of its own. With `stalled` (one side of
/// `--stalled`, see stalled.rs), that many more subscribers never read,
/// the server gets that scenario's limits, and its memory is sampled.
pub fn run_once(
    command: &BroadcastCommand,
    stalled: Option<usize>,
) -> anyhow::Result<BroadcastReport> {
    let pace = Pace::choose(
        command.rate,
        command.window,
        command.size,
        command.subscribers,
        command.stalled,
    )?;
    let app = App::choose(&command.target, command.native.native, "broadcast");
    let limits = match stalled {
        Some(_) => stalled::server_limits(command),
        None => Vec::new(),
    };
    let feed = match command.via {
        Via::Feed => Some(feed_file(command)?),
        _ => None,
    };
    let feed_path = feed.as_ref().map(|(dir, _)| dir.path().join(FEED_FILE));
    let feeds: Vec<(&str, &std::path::Path)> = feed_path
        .iter()
        .map(|path| (TOPIC, path.as_path()))
        .collect();
    // The server first: its threads must not inherit the bench's pin.
    let subject = Subject::open_with(
        &command.target,
        ROUTE,
        &app,
        None,
        &Configured {
            limits: &limits,
            compression: command.compression,
            feeds: &feeds,
            ..Configured::default()
        },
    )?;
    let client_core = subject::pin_bench(&command.target.placement)?;
    let sync_rate = default_rate(command.subscribers);
    let config = Config {
        url: subject.url.clone(),
        subscribers: command.subscribers,
        via: command.via,
        pace,
        sync_rate,
        size: command.size,
        binary: command.binary,
        compression: command.compression,
        warmup: Duration::from_secs(command.warmup),
        duration: Duration::from_secs(command.duration),
        server_pid: subject.pid,
        stalled,
        feed: feed.map(|(_, file)| file),
    };
    let measured = measure(&config);
    let settings = BroadcastSettings {
        url: subject.url.to_string(),
        subscribers: command.subscribers,
        via: command.via,
        mode: pace.mode(),
        rate: match pace {
            Pace::Rate(rate) => Some(rate),
            Pace::Window(_) => None,
        },
        window: match pace {
            Pace::Window(window) => Some(window),
            Pace::Rate(_) => None,
        },
        sync_rate: match pace {
            Pace::Rate(rate) => rate,
            Pace::Window(_) => sync_rate,
        },
        stalled: stalled.unwrap_or(0),
        size: command.size,
        binary: command.binary,
        compression: command.compression,
        warmup_s: command.warmup,
        duration_s: command.duration,
        measured: subject.under_test(&app),
        client_core,
        client: connection::CLIENT_CHOICE,
    };
    let stop_failure = subject.stop();
    Ok(BroadcastReport::judge(settings, measured?, stop_failure))
}

struct Config {
    url: url::Url,
    subscribers: usize,
    via: Via,
    pace: Pace,
    /// The pace of the sync in the closed loop.
    sync_rate: u64,
    size: usize,
    binary: bool,
    /// Subscribers offer permessage-deflate.
    compression: bool,
    warmup: Duration,
    duration: Duration,
    server_pid: Option<u32>,
    /// Subscribers that never read, when the server's memory is sampled.
    stalled: Option<usize>,
    /// `--via feed`: the file to append to instead of a publisher
    /// connection.
    feed: Option<std::fs::File>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Publishing until every subscriber has received something.
    Sync,
    Warmup,
    Measure,
    /// No more publishing; deliveries still count until the grace ends.
    Drain,
}

/// State shared by the publisher and the subscribers (single-threaded).
struct Shared {
    stage: Cell<Stage>,
    base: Instant,
    template: Template,
    binary: bool,
    /// Send time of every message published, by sequence number.
    sent_at: RefCell<Vec<u64>>,
    /// Messages from this sequence number on are due to every subscriber;
    /// `u64::MAX` until the sync is over.
    counted_from: Cell<u64>,
    /// Subscribers that have received at least one message.
    receiving: Cell<usize>,
    /// Subscribers whose connection is still being served.
    open_subscribers: Cell<usize>,
    /// Publish-to-delivery times of deliveries received while measuring.
    latency: RefCell<Histogram<u64>>,
    /// Intact first deliveries of messages that are due (seq at or after
    /// `counted_from`).
    counted: Cell<u64>,
    duplicated: Cell<u64>,
    out_of_order: Cell<u64>,
    mismatched: Cell<u64>,
    /// Messages the publisher received: a broadcast app sends nothing back
    /// to the sender.
    echoed: Cell<u64>,
    /// How far behind its schedule the publisher was at worst while
    /// measuring.
    max_lag_ns: Cell<u64>,
    closed: Cell<u64>,
    closes: RefCell<Vec<String>>,
    /// The closed loop's bookkeeping; `None` when paced.
    window: Option<Window>,
}

/// Which published messages have not yet reached every subscriber, in the
/// closed loop. It covers the counted messages only (from `counted_from`
/// on): before the sync is over not every subscriber is in the audience,
/// so earlier messages never reach them all.
struct Window {
    /// Most messages outstanding.
    size: usize,
    /// Subscribers a message must reach to leave the window.
    audience: u64,
    /// The oldest counted message not yet received by every subscriber (or,
    /// if none is outstanding, the next to be published).
    oldest: Cell<u64>,
    /// How many subscribers have received each message from `oldest` up to
    /// the last published.
    receipts: RefCell<VecDeque<u64>>,
    /// Woken when the oldest message leaves the window, and when the closed
    /// loop begins.
    advanced: Notify,
}

impl Window {
    fn new(size: usize, audience: usize) -> Window {
        Window {
            size,
            audience: audience as u64,
            oldest: Cell::new(0),
            receipts: RefCell::new(VecDeque::with_capacity(size)),
            advanced: Notify::new(),
        }
    }

    /// Messages published and not yet received by every subscriber.
    fn outstanding(&self) -> usize {
        self.receipts.borrow().len()
    }

    /// One subscriber's first intact delivery of counted message `seq`.
    fn received(&self, seq: u64) {
        let oldest = self.oldest.get();
        let Some(index) = seq.checked_sub(oldest) else {
            return;
        };
        let mut receipts = self.receipts.borrow_mut();
        let Some(count) = usize::try_from(index)
            .ok()
            .and_then(|index| receipts.get_mut(index))
        else {
            return;
        };
        *count += 1;
        let mut left = 0;
        while receipts
            .front()
            .is_some_and(|&count| count >= self.audience)
        {
            receipts.pop_front();
            left += 1;
        }
        if left > 0 {
            self.oldest.set(oldest + left);
            self.advanced.notify_one();
        }
    }
}

impl Shared {
    fn now_ns(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }

    fn add(cell: &Cell<u64>) {
        cell.set(cell.get() + 1);
    }

    fn published(&self) -> u64 {
        self.sent_at.borrow().len() as u64
    }

    /// Note the next message as sent now: its sequence number and send
    /// time. Done before the send can yield, so no subscriber can receive a
    /// message the bench has no record of.
    fn record_send(&self) -> (u64, u64) {
        let sent_ns = self.now_ns();
        let mut sent_at = self.sent_at.borrow_mut();
        let seq = sent_at.len() as u64;
        sent_at.push(sent_ns);
        if let Some(window) = &self.window
            && seq >= self.counted_from.get()
        {
            window.receipts.borrow_mut().push_back(0);
        }
        (seq, sent_ns)
    }

    /// The closed loop has begun: the sync is over and the window counts.
    fn closed_loop(&self) -> bool {
        self.window.is_some() && self.counted_from.get() != u64::MAX
    }

    /// A connection ended in a way the bench did not ask for.
    fn closed(&self, who: String, ending: Ending) {
        if let Ending::Closed(reason) = ending {
            Self::add(&self.closed);
            let mut closes = self.closes.borrow_mut();
            if closes.len() < CLOSES_KEPT {
                closes.push(format!("{who}: {reason}"));
            }
        }
    }
}

/// What the load loop measured, before judging.
struct Measured {
    sample: PhaseSample,
    published_in_window: u64,
    checks: BroadcastChecks,
    max_lag_ns: u64,
    memory: Option<stalled::Memory>,
}

/// Run the load on a runtime of its own on this thread.
fn measure(config: &Config) -> anyhow::Result<Measured> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, drive(config))
}

async fn drive(config: &Config) -> anyhow::Result<Measured> {
    let shared = Rc::new(Shared {
        stage: Cell::new(Stage::Sync),
        base: Instant::now(),
        // Publisher and subscribers are different connections, so the
        // filler is the publisher's (connection 0), checked by everyone.
        template: Template::new(config.size, 0, config.binary),
        binary: config.binary,
        sent_at: RefCell::new(Vec::new()),
        counted_from: Cell::new(u64::MAX),
        receiving: Cell::new(0),
        open_subscribers: Cell::new(config.subscribers),
        latency: RefCell::new(
            Histogram::new_with_bounds(1, HISTOGRAM_MAX_NS, 3)
                .context("cannot create a latency histogram")?,
        ),
        counted: Cell::new(0),
        duplicated: Cell::new(0),
        out_of_order: Cell::new(0),
        mismatched: Cell::new(0),
        echoed: Cell::new(0),
        max_lag_ns: Cell::new(0),
        closed: Cell::new(0),
        closes: RefCell::new(Vec::new()),
        window: match config.pace {
            Pace::Window(size) => Some(Window::new(size, config.subscribers)),
            Pace::Rate(_) => None,
        },
    });

    // Every subscriber is open before the publisher is: the audience is
    // complete before the first message. The stalled ones come last of
    // them, and are never read from.
    let stalled = config.stalled.unwrap_or(0);
    let (subscriber_url, publisher_url) = urls(&config.url, config.via);
    // A feed's publisher is the file, not a connection.
    let publishers = usize::from(config.feed.is_none());
    let opening = futures::stream::iter(0..config.subscribers + stalled + publishers)
        .map(|index| {
            // The publisher, opened last, does not offer compression.
            let subscriber = index < config.subscribers + stalled;
            let compression = config.compression && subscriber;
            let url = if subscriber {
                subscriber_url.clone()
            } else {
                publisher_url.clone()
            };
            connection::open_numbered(index, url, config.size, compression)
        })
        .buffered(OPEN_CONCURRENCY)
        .try_collect::<Vec<Socket>>();
    let mut sockets = match tokio::time::timeout(OPEN_TIMEOUT, opening).await {
        Ok(sockets) => sockets?,
        Err(_) => bail!(
            "opening {} connections to {} took longer than {}s",
            config.subscribers + stalled + 1,
            config.url,
            OPEN_TIMEOUT.as_secs()
        ),
    };
    let publisher = match &config.feed {
        Some(file) => Outlet::Feed {
            file: file.try_clone().context("cannot reopen the feed's file")?,
            pending: Vec::new(),
        },
        None => Outlet::Socket(Box::new(sockets.pop().context("no publisher connection")?)),
    };
    let stalled_sockets = sockets.split_off(config.subscribers);
    // From just before the first message, while every connection is open.
    let sampler = match (config.stalled, config.server_pid) {
        (Some(_), Some(pid)) => Some(stalled::Sampler::start(pid)?),
        _ => None,
    };

    let (stop, stopped) = watch::channel(false);
    let mut tasks = Vec::with_capacity(sockets.len() + 1);
    for (index, socket) in sockets.into_iter().enumerate() {
        let shared = shared.clone();
        let stopped = stopped.clone();
        tasks.push(tokio::task::spawn_local(async move {
            let ending = Subscriber::new(&shared).run(socket, stopped).await;
            shared
                .open_subscribers
                .set(shared.open_subscribers.get().saturating_sub(1));
            shared.closed(format!("subscriber {index}"), ending);
        }));
    }
    {
        let shared = shared.clone();
        let rate = match config.pace {
            Pace::Rate(rate) => rate,
            Pace::Window(_) => config.sync_rate,
        };
        tasks.push(tokio::task::spawn_local(async move {
            let ending = publish(publisher, &shared, rate, stopped).await;
            shared.closed("publisher".to_string(), ending);
        }));
    }

    sync(config, &shared).await?;
    let counted_from = shared.published();
    shared.counted_from.set(counted_from);
    if let Some(window) = &shared.window {
        // The closed loop begins with the next message.
        window.oldest.set(counted_from);
        window.advanced.notify_one();
    }
    shared.stage.set(Stage::Warmup);
    tokio::time::sleep(config.warmup).await;

    let started = Instant::now();
    let client_before = cpu::thread_cpu_time();
    let server_before = server_cpu(config.server_pid);
    let published_before = shared.published();
    shared.stage.set(Stage::Measure);
    tokio::time::sleep(config.duration).await;
    // Stop timing deliveries before anything else.
    shared.stage.set(Stage::Drain);
    let wall = started.elapsed();
    let client = cpu::thread_cpu_time().saturating_sub(client_before);
    let server = match (server_before, server_cpu(config.server_pid)) {
        (Some(before), Some(after)) => Some(after.saturating_sub(before).as_secs_f64()),
        _ => None,
    };
    let published = shared.published();
    let sample = PhaseSample {
        name: "measured",
        wall_s: wall.as_secs_f64(),
        latency_ns: shared.latency.borrow().clone(),
        client_cpu_s: client.as_secs_f64(),
        server_cpu_s: server,
    };

    // The publisher has stopped; wait for every due delivery, or the end of
    // the grace, or every subscriber gone.
    let counted_from = shared.counted_from.get();
    let due = published.saturating_sub(counted_from) * config.subscribers as u64;
    let grace_ends = Instant::now() + GRACE;
    while shared.counted.get() < due
        && shared.open_subscribers.get() > 0
        && Instant::now() < grace_ends
    {
        tokio::time::sleep(POLL).await;
    }
    let memory = sampler.map(|sampler| sampler.finish(stalled));

    let _ = stop.send(true);
    let closing = futures::future::join_all(tasks.iter_mut());
    if tokio::time::timeout(CLOSE_TIMEOUT, closing).await.is_err() {
        for task in &tasks {
            task.abort();
        }
    }

    let delivered = shared.counted.get();
    let checks = BroadcastChecks {
        published,
        counted_from,
        deliveries_due: due,
        delivered,
        lost: due.saturating_sub(delivered),
        duplicated: shared.duplicated.get(),
        out_of_order: shared.out_of_order.get(),
        mismatched: shared.mismatched.get(),
        echoed_to_publisher: shared.echoed.get(),
        connections_closed: shared.closed.get(),
        closes: shared.closes.borrow().clone(),
    };
    // Unread, so the kernel resets them; the server may have dropped them
    // long ago.
    drop(stalled_sockets);
    Ok(Measured {
        sample,
        published_in_window: published.saturating_sub(published_before),
        checks,
        max_lag_ns: shared.max_lag_ns.get(),
        memory: memory.transpose()?,
    })
}

/// Wait until every subscriber has received a message: from then on each
/// one is in the app's audience.
async fn sync(config: &Config, shared: &Shared) -> anyhow::Result<()> {
    let deadline = Instant::now() + SYNC_TIMEOUT;
    while shared.receiving.get() < config.subscribers {
        if shared.closed.get() > 0 {
            bail!(
                "connections were closed before every subscriber received a message: {}",
                shared.closes.borrow().join("; ")
            );
        }
        if Instant::now() >= deadline {
            bail!(
                "after {}s only {} of {} subscribers had received anything ({} published, {} sent back to the publisher): is the app at {} a broadcast?",
                SYNC_TIMEOUT.as_secs(),
                shared.receiving.get(),
                config.subscribers,
                shared.published(),
                shared.echoed.get(),
                config.url
            );
        }
        tokio::time::sleep(POLL).await;
    }
    Ok(())
}

/// Where the publisher's messages go: a WebSocket connection, or lines
/// appended to the app's feed.
enum Outlet {
    /// Boxed: a socket is large, and an outlet is made once a run.
    Socket(Box<Socket>),
    Feed {
        file: std::fs::File,
        /// Lines not yet written: each flush is one `write`, as each flush
        /// of a socket is.
        pending: Vec<u8>,
    },
}

impl Outlet {
    /// Queue one message (unflushed).
    async fn feed(&mut self, message: bytes::Bytes, binary: bool) -> Result<(), Ending> {
        match self {
            Outlet::Socket(socket) => {
                let frame = if binary {
                    Frame::binary(message)
                } else {
                    Frame::text(message)
                };
                socket.feed(frame).await.map_err(connection::write_failed)
            }
            Outlet::Feed { pending, .. } => {
                pending.extend_from_slice(&message);
                pending.push(b'\n');
                Ok(())
            }
        }
    }

    async fn flush(&mut self) -> Result<(), Ending> {
        match self {
            Outlet::Socket(socket) => socket.flush().await.map_err(connection::write_failed),
            Outlet::Feed { file, pending } => {
                use std::io::Write as _;
                // A page-cache write of a few KiB: it does not block for
                // long enough to matter to the subscribers' tasks.
                let written = file.write_all(pending);
                pending.clear();
                written
                    .map_err(|error| Ending::Closed(format!("cannot append to the feed: {error}")))
            }
        }
    }

    /// What the server sent the publisher; a feed hears nothing.
    async fn next_frame(&mut self) -> Result<Frame, WebSocketError> {
        match self {
            Outlet::Socket(socket) => socket.next_frame().await,
            Outlet::Feed { .. } => std::future::pending().await,
        }
    }

    async fn close(&mut self) {
        if let Outlet::Socket(socket) = self {
            connection::close(socket).await;
        }
    }
}

/// Publish until the drain: on schedule (paced, and every sync), or in the
/// closed loop whenever the window has room. Then keep reading (the
/// server's pings, anything sent back by mistake) until told to stop, and
/// close.
async fn publish(
    mut socket: Outlet,
    shared: &Shared,
    rate: u64,
    mut stopped: watch::Receiver<bool>,
) -> Ending {
    let start = tokio::time::Instant::now();
    let period_ns = 1e9 / rate as f64;
    let due_at = |n: u64| start + Duration::from_nanos((n as f64 * period_ns) as u64);
    // Messages sent on the schedule.
    let mut scheduled = 0u64;
    let mut outgoing = BytesMut::new();
    let advanced = || async {
        match &shared.window {
            Some(window) => window.advanced.notified().await,
            None => std::future::pending().await,
        }
    };
    loop {
        let publishing = shared.stage.get() != Stage::Drain;
        let paced = publishing && !shared.closed_loop();
        tokio::select! {
            () = tokio::time::sleep_until(due_at(scheduled)), if paced => {
                let now = tokio::time::Instant::now();
                // Only the measured window's lag bears on its figures.
                if shared.stage.get() == Stage::Measure {
                    let lag = now.saturating_duration_since(due_at(scheduled)).as_nanos() as u64;
                    shared.max_lag_ns.set(shared.max_lag_ns.get().max(lag));
                }
                // Everything due by now goes out in one write: a late wake
                // catches up rather than drifting. A send can yield, and
                // meanwhile the drain or the closed loop may begin.
                while due_at(scheduled) <= now
                    && shared.stage.get() != Stage::Drain
                    && !shared.closed_loop()
                {
                    if let Err(ending) = send_next(&mut socket, shared, &mut outgoing).await {
                        return ending;
                    }
                    scheduled += 1;
                }
                if let Err(ending) = socket.flush().await {
                    return ending;
                }
            }
            () = advanced(), if publishing && shared.window.is_some() => {
                // Fill the window: every message it has room for goes out in
                // one write.
                if let Some(window) = shared.window.as_ref().filter(|_| shared.closed_loop()) {
                    while window.outstanding() < window.size
                        && shared.stage.get() != Stage::Drain
                    {
                        if let Err(ending) = send_next(&mut socket, shared, &mut outgoing).await {
                            return ending;
                        }
                    }
                    if let Err(ending) = socket.flush().await {
                        return ending;
                    }
                }
            }
            frame = socket.next_frame() => {
                if let Err(ending) = publisher_received(shared, frame) {
                    return ending;
                }
            }
            _ = stopped.changed() => break,
        }
    }
    socket.close().await;
    Ending::Finished
}

/// Queue the next message on the publisher's socket (unflushed).
async fn send_next(
    socket: &mut Outlet,
    shared: &Shared,
    outgoing: &mut BytesMut,
) -> Result<(), Ending> {
    let (seq, sent_ns) = shared.record_send();
    shared.template.append_to(seq, sent_ns, outgoing);
    let payload = outgoing.split().freeze();
    socket.feed(payload, shared.binary).await
}

/// Anything but control frames reaching the publisher was sent back to the
/// sender, which a broadcast must not do.
fn publisher_received(shared: &Shared, frame: Result<Frame, WebSocketError>) -> Result<(), Ending> {
    let frame = frame.map_err(connection::read_failed)?;
    match frame.opcode() {
        OpCode::Close => Err(connection::closed_by_server(&frame)),
        OpCode::Ping | OpCode::Pong | OpCode::Continuation => Ok(()),
        _ => {
            Shared::add(&shared.echoed);
            Ok(())
        }
    }
}

/// One subscriber's view of the stream.
struct Subscriber<'a> {
    shared: &'a Shared,
    /// Which sequence numbers arrived, as bits. Grows only up to the number
    /// of messages published: a number beyond it is a mismatch, not an
    /// allocation.
    seen: Vec<u64>,
    highest: Option<u64>,
}

impl<'a> Subscriber<'a> {
    fn new(shared: &'a Shared) -> Self {
        Subscriber {
            shared,
            seen: Vec::new(),
            highest: None,
        }
    }

    /// Receive until told to stop, then close.
    async fn run(mut self, mut socket: Socket, mut stopped: watch::Receiver<bool>) -> Ending {
        loop {
            tokio::select! {
                frame = socket.next_frame() => {
                    if let Err(ending) = self.receive(frame) {
                        return ending;
                    }
                }
                _ = stopped.changed() => break,
            }
        }
        connection::close(&mut socket).await;
        Ending::Finished
    }

    /// Judge one frame from the server.
    fn receive(&mut self, frame: Result<Frame, WebSocketError>) -> Result<(), Ending> {
        let frame = frame.map_err(connection::read_failed)?;
        let expected_opcode = if self.shared.binary {
            OpCode::Binary
        } else {
            OpCode::Text
        };
        match frame.opcode() {
            OpCode::Close => return Err(connection::closed_by_server(&frame)),
            // yawc answers pings itself; nothing else here is a delivery.
            OpCode::Ping | OpCode::Pong | OpCode::Continuation => return Ok(()),
            opcode if opcode == expected_opcode => {}
            _ => {
                Shared::add(&self.shared.mismatched);
                return Ok(());
            }
        }
        let received_ns = self.shared.now_ns();
        let message = frame.payload();
        let Some(seq) = payload::seq_of(message) else {
            Shared::add(&self.shared.mismatched);
            return Ok(());
        };
        let sent_ns = self.shared.sent_at.borrow().get(seq as usize).copied();
        let intact = sent_ns.is_some_and(|sent_ns| {
            matches!(
                self.shared.template.check(message, seq, sent_ns),
                Verdict::Expected { .. }
            )
        });
        let (true, Some(sent_ns)) = (intact, sent_ns) else {
            Shared::add(&self.shared.mismatched);
            return Ok(());
        };
        self.delivered(seq, sent_ns, received_ns);
        Ok(())
    }

    /// An intact message `seq` arrived.
    fn delivered(&mut self, seq: u64, sent_ns: u64, received_ns: u64) {
        let shared = self.shared;
        if self.highest.is_none() {
            shared.receiving.set(shared.receiving.get() + 1);
        }
        let (word, bit) = ((seq / 64) as usize, 1u64 << (seq % 64));
        if self.seen.len() <= word {
            self.seen.resize(word + 1, 0);
        }
        if self.seen[word] & bit != 0 {
            Shared::add(&shared.duplicated);
            return;
        }
        self.seen[word] |= bit;
        if self.highest.is_some_and(|highest| seq < highest) {
            Shared::add(&shared.out_of_order);
        }
        self.highest = Some(self.highest.map_or(seq, |highest| highest.max(seq)));
        if seq >= shared.counted_from.get() {
            Shared::add(&shared.counted);
            if let Some(window) = &shared.window {
                window.received(seq);
            }
        }
        if shared.stage.get() == Stage::Measure {
            shared
                .latency
                .borrow_mut()
                .saturating_record(received_ns.saturating_sub(sent_ns).max(1));
        }
    }
}

/// The server's CPU time so far, if we know its pid.
fn server_cpu(pid: Option<u32>) -> Option<Duration> {
    pid.and_then(|pid| cpu::process_cpu_time(pid).ok())
}

#[derive(Debug, Serialize)]
pub struct BroadcastReport {
    pub scenario: &'static str,
    pub settings: BroadcastSettings,
    /// The measured window. Its messages are deliveries (one message
    /// reaching one subscriber), so `msgs_per_s` is deliveries per second
    /// to all subscribers together, the latency is from the publisher's
    /// send to a subscriber's receipt, and the CPU figures are per delivery.
    pub measured: PhaseResult,
    /// Messages the publisher sent per second of the window.
    pub published_per_s: f64,
    /// `published_per_s` times the subscribers: what the server was asked to
    /// deliver. `measured.msgs_per_s` below it means it did not keep up.
    pub offered_deliveries_per_s: f64,
    /// How far the publisher fell behind its schedule at worst while
    /// measuring, ms; `null` in the closed loop, which has no schedule.
    pub publisher_max_lag_ms: Option<f64>,
    pub checks: BroadcastChecks,
    /// The server's memory and the connections it dropped, sampled through
    /// the run; only with `--stalled` (both sides of it). Boxed: most
    /// reports have none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<Box<stalled::Memory>>,
    pub passed: bool,
    pub failures: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct BroadcastSettings {
    pub url: String,
    pub subscribers: usize,
    /// `broadcast` (the app's broadcast to every other connection),
    /// `topic` (subscribed to `bench`, published to it: `--via topic`) or
    /// `feed` (subscribed to `bench`, lines appended to the app's feed
    /// `bench`: `--via feed`).
    pub via: Via,
    /// `closed-loop` (`--rate max`: as fast as the server fans out, at most
    /// `window` messages outstanding) or `paced` (`rate` msgs/s).
    pub mode: &'static str,
    /// Messages per second the publisher was paced at; `null` in the
    /// closed loop.
    pub rate: Option<u64>,
    /// Most messages outstanding in the closed loop; `null` when paced.
    pub window: Option<usize>,
    /// Messages per second while subscribers joined (the sync is paced in
    /// both modes).
    pub sync_rate: u64,
    /// Subscribers besides `subscribers` that never read (`--stalled`).
    pub stalled: usize,
    pub size: usize,
    pub binary: bool,
    /// Whether the app was served with permessage-deflate and the
    /// subscribers offered it (`--compression`).
    pub compression: bool,
    pub warmup_s: u64,
    pub duration_s: u64,
    #[serde(flatten)]
    pub measured: report::ServerUnderTest,
    pub client_core: Option<usize>,
    pub client: &'static str,
}

/// Every delivery of the run, warm-up and grace included.
#[derive(Debug, Default, Clone, Serialize)]
pub struct BroadcastChecks {
    pub published: u64,
    /// Messages from this sequence number on were due to every subscriber;
    /// the ones before went out while subscribers were still joining.
    pub counted_from: u64,
    /// Due messages times subscribers.
    pub deliveries_due: u64,
    /// Intact, first-time deliveries of due messages.
    pub delivered: u64,
    /// Due deliveries that had not arrived by the end of the grace period.
    pub lost: u64,
    /// Messages a subscriber received more than once.
    pub duplicated: u64,
    /// Messages a subscriber received after a later one.
    pub out_of_order: u64,
    /// Deliveries that were not any message the publisher sent.
    pub mismatched: u64,
    pub echoed_to_publisher: u64,
    pub connections_closed: u64,
    pub closes: Vec<String>,
}

impl BroadcastReport {
    fn judge(
        settings: BroadcastSettings,
        measured: Measured,
        stop_failure: Option<String>,
    ) -> BroadcastReport {
        let phase = PhaseResult::from_sample(&measured.sample);
        let wall = measured.sample.wall_s.max(f64::EPSILON);
        let published_per_s = measured.published_in_window as f64 / wall;
        let paced = settings.rate.is_some();
        let c = &measured.checks;
        let mut failures = Vec::new();
        let mut count = |n: u64, one: &str, many: &str| {
            if n > 0 {
                failures.push(plural(n, one, many));
            }
        };
        count(c.lost, "delivery was lost", "deliveries were lost");
        count(
            c.duplicated,
            "message was delivered twice",
            "messages were delivered twice",
        );
        count(
            c.out_of_order,
            "message was delivered out of order",
            "messages were delivered out of order",
        );
        count(
            c.mismatched,
            "delivery did not match any message sent",
            "deliveries did not match any message sent",
        );
        count(
            c.echoed_to_publisher,
            "message came back to the publisher",
            "messages came back to the publisher",
        );
        count(
            c.connections_closed,
            "connection was closed by the server or the network",
            "connections were closed by the server or the network",
        );
        if phase.messages == 0 {
            failures.push("nothing was delivered while measuring".to_string());
        }
        if let Some(memory) = &measured.memory {
            failures.extend(memory.failure());
        }
        failures.extend(stop_failure);
        BroadcastReport {
            scenario: "broadcast",
            offered_deliveries_per_s: published_per_s * settings.subscribers as f64,
            settings,
            measured: phase,
            published_per_s,
            publisher_max_lag_ms: paced.then(|| measured.max_lag_ns as f64 / 1e6),
            checks: measured.checks,
            memory: measured.memory.map(Box::new),
            passed: failures.is_empty(),
            failures,
        }
    }

    /// The human view.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let s = &self.settings;
        let kind = match (s.binary, s.compression) {
            (false, false) => "text",
            (true, false) => "binary",
            (false, true) => "text (permessage-deflate)",
            (true, true) => "binary (permessage-deflate)",
        };
        let publisher = match (s.rate, s.window) {
            (Some(rate), _) => format!("at {rate} msgs/s"),
            (None, Some(window)) => format!(
                "as fast as the server fans out (closed loop, at most {} outstanding)",
                plural(window as u64, "message", "messages")
            ),
            (None, None) => "as fast as the server fans out".to_string(),
        };
        let via = match s.via {
            Via::Broadcast => "",
            Via::Topic => " through topic \"bench\"",
            Via::Feed => " as lines appended to feed \"bench\", published to topic \"bench\"",
        };
        let _ = writeln!(
            out,
            "switchboard-bench broadcast: 1 publisher {publisher} to {}{via}, {}-byte {kind} messages, {} s measured after {} s warm-up",
            plural(s.subscribers as u64, "subscriber", "subscribers"),
            s.size,
            s.duration_s,
            s.warmup_s
        );
        s.measured.write_header(&mut out, &s.url);
        let _ = writeln!(
            out,
            "bench: {} on {}",
            s.client,
            report::describe_core(s.client_core)
        );
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{:>13} {:>10} {:>9} {:>9} {:>9} {:>9} {:>14} {:>10} {:>14} {:>10}",
            "deliveries/s",
            "offered/s",
            "p50 µs",
            "p99 µs",
            "p99.9 µs",
            "max µs",
            "server µs/dlv",
            "server cpu",
            "client µs/dlv",
            "client cpu"
        );
        let p = &self.measured;
        let l = &p.latency_us;
        let optional = |value: Option<f64>, precision: usize, unit: &str| match value {
            Some(value) => format!("{value:.precision$}{unit}"),
            None => "-".to_string(),
        };
        let _ = writeln!(
            out,
            "{:>13.0} {:>10.0} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>14} {:>10} {:>14.2} {:>9.0}%",
            p.msgs_per_s,
            self.offered_deliveries_per_s,
            l.p50,
            l.p99,
            l.p999,
            l.max,
            optional(p.server_cpu_us_per_msg, 2, ""),
            optional(p.server_cpu_share.map(|share| share * 100.0), 0, "%"),
            p.client_cpu_us_per_msg,
            p.client_cpu_share * 100.0
        );
        let _ = writeln!(
            out,
            "saturated: server core {}, bench core {}",
            report::saturation_word(p.server_cpu_share),
            report::saturation_word(Some(p.client_cpu_share))
        );
        if p.client_saturated {
            let _ = writeln!(
                out,
                "note: the bench's core was saturated ({:.0}% busy): deliveries/s and latencies measure the bench, not the server",
                p.client_cpu_share * 100.0
            );
        }
        if s.rate.is_none() && p.server_saturated == Some(false) && !p.client_saturated {
            let _ = writeln!(
                out,
                "note: in the closed loop neither core was saturated: the window was too small to keep the server busy (round trips set the pace), so deliveries/s understate its capacity"
            );
        }
        if s.rate.is_none() {
            let _ = writeln!(
                out,
                "note: closed loop, so a latency is how long a saturated server takes to fan out what is outstanding (about the window over the messages published per second), not a latency at a known load"
            );
        }
        if let Some(lag) = self.publisher_max_lag_ms
            && lag > LAG_NOTE_MS
        {
            let _ = writeln!(
                out,
                "note: the publisher fell up to {lag:.1} ms behind its schedule (the bench's core was busy, or the server pushed back)"
            );
        }
        let c = &self.checks;
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "checks: {} published, {} deliveries due (messages {} on, to every subscriber), {} delivered intact; {} lost, {} duplicated, {} out of order, {} mismatched, {} sent back to the publisher, {} closed",
            c.published,
            c.deliveries_due,
            c.counted_from,
            c.delivered,
            c.lost,
            c.duplicated,
            c.out_of_order,
            c.mismatched,
            c.echoed_to_publisher,
            plural(c.connections_closed, "connection", "connections")
        );
        for close in &c.closes {
            let _ = writeln!(out, "  {close}");
        }
        if let Some(memory) = &self.memory {
            let _ = writeln!(out, "{}", memory.describe());
        }
        report::write_verdict(&mut out, self.passed, &self.failures);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_rate_shares_one_delivery_rate() {
        assert_eq!(default_rate(100), 500);
        assert_eq!(default_rate(1000), 50);
        assert_eq!(default_rate(1_000_000), 1);
        assert_eq!(default_rate(0), DEFAULT_DELIVERIES_PER_SECOND);
    }

    fn shared() -> Shared {
        Shared {
            stage: Cell::new(Stage::Measure),
            base: Instant::now(),
            template: Template::new(64, 0, false),
            binary: false,
            sent_at: RefCell::new(vec![10, 20, 30, 40]),
            counted_from: Cell::new(1),
            receiving: Cell::new(0),
            open_subscribers: Cell::new(1),
            latency: RefCell::new(Histogram::new_with_bounds(1, HISTOGRAM_MAX_NS, 3).unwrap()),
            counted: Cell::new(0),
            duplicated: Cell::new(0),
            out_of_order: Cell::new(0),
            mismatched: Cell::new(0),
            echoed: Cell::new(0),
            max_lag_ns: Cell::new(0),
            closed: Cell::new(0),
            closes: RefCell::new(Vec::new()),
            window: None,
        }
    }

    fn text(shared: &Shared, seq: u64) -> Result<Frame, WebSocketError> {
        let mut out = BytesMut::new();
        let sent_ns = shared.sent_at.borrow()[seq as usize];
        shared.template.append_to(seq, sent_ns, &mut out);
        Ok(Frame::text(out.freeze()))
    }

    #[test]
    fn via_topic_subscribes_the_audience_and_publishes_from_the_publisher() {
        let url = url::Url::parse("ws://127.0.0.1:1/broadcast").unwrap();
        assert_eq!(urls(&url, Via::Broadcast), (url.clone(), url.clone()));
        let (subscriber, publisher) = urls(&url, Via::Topic);
        assert_eq!(
            subscriber.as_str(),
            "ws://127.0.0.1:1/broadcast?topic=bench"
        );
        assert_eq!(
            publisher.as_str(),
            "ws://127.0.0.1:1/broadcast?publish=bench"
        );
    }

    #[test]
    fn deliveries_are_counted_once_in_order() {
        let shared = shared();
        let mut subscriber = Subscriber::new(&shared);
        for seq in [0, 1, 3, 2, 3] {
            subscriber.receive(text(&shared, seq)).unwrap();
        }
        // 0 is before counted_from; 1, 3, 2 count; the second 3 is a
        // duplicate, 2 after 3 is out of order.
        assert_eq!(shared.counted.get(), 3);
        assert_eq!(shared.duplicated.get(), 1);
        assert_eq!(shared.out_of_order.get(), 1);
        assert_eq!(shared.receiving.get(), 1);
        assert_eq!(shared.latency.borrow().len(), 4);
    }

    #[test]
    fn the_window_is_the_closed_loop_and_stays_under_the_outbox_limit() {
        let choose = |rate, window, size| Pace::choose(rate, window, size, 100, 0);
        assert_eq!(
            choose(None, None, 64).unwrap(),
            Pace::Window(DEFAULT_WINDOW)
        );
        assert_eq!(
            choose(Some(Rate::Max), Some(16), 64).unwrap(),
            Pace::Window(16)
        );
        assert_eq!(
            choose(Some(Rate::Paced(500)), None, 64).unwrap(),
            Pace::Rate(500)
        );
        // A window means nothing to a schedule.
        assert!(choose(Some(Rate::Paced(500)), Some(16), 64).is_err());
        // 1024 messages of 16 KiB is exactly half the host's outbox limit;
        // one more could take a subscriber past it under load.
        assert!(choose(None, Some(1024), 16 * 1024).is_ok());
        assert!(choose(None, Some(1025), 16 * 1024).is_err());
    }

    #[test]
    fn stalled_subscribers_are_measured_at_a_paced_load() {
        let choose = |rate, window| Pace::choose(rate, window, 64, 100, 100);
        // The reference load for the readers, unless a rate is given.
        assert_eq!(choose(None, None).unwrap(), Pace::Rate(500));
        assert_eq!(
            choose(Some(Rate::Paced(200)), None).unwrap(),
            Pace::Rate(200)
        );
        assert!(choose(Some(Rate::Max), None).is_err());
        assert!(choose(None, Some(1)).is_err());
    }

    #[test]
    fn a_message_leaves_the_window_once_every_subscriber_has_it() {
        let mut shared = shared();
        shared.sent_at.borrow_mut().clear();
        shared.counted_from.set(u64::MAX);
        shared.window = Some(Window::new(2, 2));
        let window = shared.window.as_ref().unwrap();
        // Before the sync is over nothing is in the window.
        assert_eq!(shared.record_send().0, 0);
        assert_eq!(window.outstanding(), 0);
        // The closed loop begins at message 1.
        shared.counted_from.set(1);
        window.oldest.set(1);
        assert_eq!(shared.record_send().0, 1);
        assert_eq!(shared.record_send().0, 2);
        assert_eq!(window.outstanding(), 2);

        let mut first = Subscriber::new(&shared);
        let mut second = Subscriber::new(&shared);
        first.receive(text(&shared, 0)).unwrap();
        first.receive(text(&shared, 1)).unwrap();
        first.receive(text(&shared, 2)).unwrap();
        // Message 2 has reached one subscriber of two, message 1 too.
        assert_eq!((window.outstanding(), window.oldest.get()), (2, 1));
        second.receive(text(&shared, 1)).unwrap();
        assert_eq!((window.outstanding(), window.oldest.get()), (1, 2));
        // A duplicate is not a second subscriber.
        first.receive(text(&shared, 2)).unwrap();
        assert_eq!(window.outstanding(), 1);
        second.receive(text(&shared, 2)).unwrap();
        assert_eq!((window.outstanding(), window.oldest.get()), (0, 3));
        assert_eq!(shared.duplicated.get(), 1);
        assert_eq!(shared.counted.get(), 4);
    }

    #[test]
    fn a_message_never_sent_or_altered_is_a_mismatch() {
        let shared = shared();
        let mut subscriber = Subscriber::new(&shared);
        let mut unsent = BytesMut::new();
        shared.template.append_to(9, 10, &mut unsent);
        subscriber
            .receive(Ok(Frame::text(unsent.freeze())))
            .unwrap();
        let mut wrong_time = BytesMut::new();
        shared.template.append_to(1, 11, &mut wrong_time);
        subscriber
            .receive(Ok(Frame::text(wrong_time.freeze())))
            .unwrap();
        subscriber.receive(Ok(Frame::binary(&b"x"[..]))).unwrap();
        assert_eq!(shared.mismatched.get(), 3);
        assert_eq!(shared.counted.get(), 0);
        assert_eq!(shared.receiving.get(), 0);
    }
}
