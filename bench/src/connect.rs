//! The connect scenario: open many idle connections and see what each one
//! costs the server. Most connections of a real WebSocket server are idle
//! most of the time (a chat tab in the background, a dashboard waiting for
//! its next update), so what an idle connection holds in memory, and how
//! fast the server takes new ones, decide how many users one machine serves
//! long before messages per second do.
//!
//! Connections open with a bounded number of handshakes in flight (a burst
//! of thousands of SYNs at once would overflow the listen backlog and
//! measure TCP's one-second retry). Each is then held by a task that only
//! reads, so the server's pings are answered and a close by the server is
//! seen. After a hold, the server's resident memory is compared with its
//! memory before the first connection, and everything is closed.
//!
//! With `--subscribe` the connections open on the broadcast app instead,
//! each subscribed to nothing, to one shared topic, or to a topic of its
//! own: the same run with `none` is the baseline that the other two's
//! memory per connection is compared with (`topics` does that).

use std::cell::{Cell, RefCell};
use std::fmt::Write as _;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use futures::StreamExt as _;
use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::sync::watch;
use yawc::OpCode;

use crate::cli::{ConnectCommand, Subscriptions};
use crate::connection::{self, Ending, Socket};
use crate::cpu;
use crate::process;
use crate::report::{self, Latency, plural};
use crate::subject::{self, App, Subject};

/// The route of the app the connections open on. Echo, because every host
/// has it; an idle connection never reaches the app past its opening.
/// With `--subscribe`, the broadcast app's (`crate::broadcast::ROUTE`).
const ROUTE: &str = crate::echo::ROUTE;

/// Where connection `index` opens: the app's URL, or with `--subscribe`
/// that URL subscribed as asked.
fn url_of(url: &url::Url, subscribe: Option<Subscriptions>, index: usize) -> url::Url {
    let mut url = url.clone();
    match subscribe {
        None | Some(Subscriptions::None) => {}
        Some(Subscriptions::One) => {
            url.set_query(Some(&format!("topic={}", crate::broadcast::TOPIC)))
        }
        Some(Subscriptions::Own) => url.set_query(Some(&format!("topic=t{index}"))),
    }
    url
}

/// The goal of the issue: what an idle connection may hold in the server.
/// Informational: it never fails a run.
pub const RSS_PER_CONNECTION_GOAL_KIB: f64 = 4.0;

/// One handshake (TCP connect plus upgrade) taking longer than this is a
/// server that stopped answering.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long closing every connection may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest message a held connection accepts: nothing should come.
const MESSAGE_LIMIT: usize = 64;
/// How many failures are described in the report.
const ERRORS_KEPT: usize = 5;
/// Latencies above this are recorded as this.
const HISTOGRAM_MAX_NS: u64 = 60_000_000_000;

/// Run the scenario and write its JSON if asked.
pub fn run(command: &ConnectCommand) -> anyhow::Result<ConnectReport> {
    let (name, route) = match command.subscribe {
        None => ("echo", ROUTE),
        Some(_) => ("broadcast", crate::broadcast::ROUTE),
    };
    let app = App::choose(&command.target, command.native.native, name);
    // The server first: its threads must not inherit the bench's pin.
    let subject = Subject::open(&command.target, route, &app, None)?;
    let client_core = subject::pin_bench(&command.target.placement)?;
    let config = Config {
        url: subject.url.clone(),
        connections: command.connections,
        concurrency: command.concurrency,
        hold: Duration::from_secs(command.hold),
        server_pid: subject.pid,
        subscribe: command.subscribe,
    };
    let measured = measure(&config);
    let settings = ConnectSettings {
        url: subject.url.to_string(),
        connections: command.connections,
        concurrency: command.concurrency,
        hold_s: command.hold,
        subscribe: command.subscribe,
        measured: subject.under_test(&app),
        client_core,
        client: connection::CLIENT_CHOICE,
    };
    let stop_failure = subject.stop();
    let report = ConnectReport::judge(settings, measured?, stop_failure);
    if let Some(path) = &command.json {
        report::write_json(&report, path)?;
    }
    Ok(report)
}

struct Config {
    url: url::Url,
    connections: usize,
    concurrency: usize,
    hold: Duration,
    server_pid: Option<u32>,
    subscribe: Option<Subscriptions>,
}

/// What the run measured, before judging.
struct Measured {
    opened: u64,
    open_errors: Vec<String>,
    failed_opens: u64,
    opening_s: f64,
    handshake_ns: Histogram<u64>,
    server_cpu_opening_s: Option<f64>,
    client_cpu_opening_s: f64,
    rss_before_kib: Option<u64>,
    rss_open_kib: Option<u64>,
    rss_closed_kib: Option<u64>,
    closing_s: f64,
    closed_by_server: u64,
    closes: Vec<String>,
}

/// What the holding tasks share.
struct Held {
    closed_by_server: Cell<u64>,
    closes: RefCell<Vec<String>>,
}

fn measure(config: &Config) -> anyhow::Result<Measured> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, drive(config))
}

async fn drive(config: &Config) -> anyhow::Result<Measured> {
    let rss = |pid: Option<u32>| pid.and_then(|pid| process::resident_kib(pid).ok());
    let mut handshake_ns = Histogram::new_with_bounds(1, HISTOGRAM_MAX_NS, 3)
        .context("cannot create a latency histogram")?;
    let held = Rc::new(Held {
        closed_by_server: Cell::new(0),
        closes: RefCell::new(Vec::new()),
    });
    let (stop, stopped) = watch::channel(false);

    let rss_before_kib = rss(config.server_pid);
    let server_before = server_cpu(config.server_pid);
    let client_before = cpu::thread_cpu_time();
    let started = Instant::now();
    let mut handshakes = futures::stream::iter(0..config.connections)
        .map(|index| {
            let url = url_of(&config.url, config.subscribe, index);
            async move {
                let began = Instant::now();
                let opened =
                    tokio::time::timeout(HANDSHAKE_TIMEOUT, connection::open(&url, MESSAGE_LIMIT))
                        .await;
                (index, began.elapsed(), opened)
            }
        })
        .buffer_unordered(config.concurrency);
    let mut tasks = Vec::with_capacity(config.connections);
    let mut open_errors = Vec::new();
    let mut failed_opens = 0u64;
    while let Some((index, took, opened)) = handshakes.next().await {
        let socket = match opened {
            Ok(Ok(socket)) => socket,
            Ok(Err(error)) => {
                failed_opens += 1;
                if open_errors.len() < ERRORS_KEPT {
                    open_errors.push(format!("connection {index}: {error:#}"));
                }
                continue;
            }
            Err(_) => {
                failed_opens += 1;
                if open_errors.len() < ERRORS_KEPT {
                    open_errors.push(format!(
                        "connection {index}: no handshake within {}s",
                        HANDSHAKE_TIMEOUT.as_secs()
                    ));
                }
                continue;
            }
        };
        handshake_ns.saturating_record((took.as_nanos() as u64).max(1));
        let held = held.clone();
        let stopped = stopped.clone();
        tasks.push(tokio::task::spawn_local(async move {
            if let Ending::Closed(reason) = hold(socket, stopped).await {
                held.closed_by_server.set(held.closed_by_server.get() + 1);
                let mut closes = held.closes.borrow_mut();
                if closes.len() < ERRORS_KEPT {
                    closes.push(format!("connection {index}: {reason}"));
                }
            }
        }));
    }
    drop(handshakes);
    let opening = started.elapsed();
    let client_cpu_opening = cpu::thread_cpu_time().saturating_sub(client_before);
    let server_cpu_opening = match (server_before, server_cpu(config.server_pid)) {
        (Some(before), Some(after)) => Some(after.saturating_sub(before).as_secs_f64()),
        _ => None,
    };
    if tasks.is_empty() {
        bail!(
            "not one of {} connections to {} opened: {}",
            config.connections,
            config.url,
            open_errors.join("; ")
        );
    }

    tokio::time::sleep(config.hold).await;
    let rss_open_kib = rss(config.server_pid);

    let closing_started = Instant::now();
    let _ = stop.send(true);
    let closing = futures::future::join_all(tasks.iter_mut());
    if tokio::time::timeout(CLOSE_TIMEOUT, closing).await.is_err() {
        for task in &tasks {
            task.abort();
        }
    }
    let closing = closing_started.elapsed();
    // Memory after closing says whether it is given back (informational):
    // by then the server has had a moment to finish its closes.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_closed_kib = rss(config.server_pid);

    Ok(Measured {
        opened: tasks.len() as u64,
        open_errors,
        failed_opens,
        opening_s: opening.as_secs_f64(),
        handshake_ns,
        server_cpu_opening_s: server_cpu_opening,
        client_cpu_opening_s: client_cpu_opening.as_secs_f64(),
        rss_before_kib,
        rss_open_kib,
        rss_closed_kib,
        closing_s: closing.as_secs_f64(),
        closed_by_server: held.closed_by_server.get(),
        closes: held.closes.borrow().clone(),
    })
}

/// Keep a connection open, reading only (yawc answers the server's pings),
/// until told to close it.
async fn hold(mut socket: Socket, mut stopped: watch::Receiver<bool>) -> Ending {
    loop {
        tokio::select! {
            frame = socket.next_frame() => match frame {
                Err(error) => return connection::read_failed(error),
                Ok(frame) if frame.opcode() == OpCode::Close => {
                    return connection::closed_by_server(&frame);
                }
                // Nothing is sent on an idle connection; anything but a
                // control frame would be the app speaking first, which
                // echo does not.
                Ok(_) => {}
            },
            _ = stopped.changed() => break,
        }
    }
    connection::close(&mut socket).await;
    Ending::Finished
}

fn server_cpu(pid: Option<u32>) -> Option<Duration> {
    pid.and_then(|pid| cpu::process_cpu_time(pid).ok())
}

#[derive(Debug, Serialize)]
pub struct ConnectReport {
    pub scenario: &'static str,
    pub settings: ConnectSettings,
    pub opened: u64,
    pub failed_opens: u64,
    pub open_errors: Vec<String>,
    /// From the first connect to the last completed handshake.
    pub opening_s: f64,
    pub connections_per_s: f64,
    /// Each connection's TCP connect plus WebSocket upgrade, µs.
    pub handshake_us: Latency,
    /// Server CPU time while opening, per connection opened: what accepting
    /// a connection costs (TCP, HTTP upgrade, the app's on-open).
    pub server_cpu_us_per_connection: Option<f64>,
    /// Server CPU time while opening as a share of that time (1.0 = one
    /// core busy).
    pub server_cpu_share_opening: Option<f64>,
    pub client_cpu_share_opening: f64,
    pub client_saturated: bool,
    /// Server resident memory (VmRSS) before the first connection, with
    /// every connection open after the hold, and after closing them all.
    pub rss_before_kib: Option<u64>,
    pub rss_open_kib: Option<u64>,
    pub rss_closed_kib: Option<u64>,
    /// (open − before) / opened: what one idle connection holds.
    pub rss_per_connection_kib: Option<f64>,
    pub goal_rss_per_connection_kib: f64,
    pub goal_rss_met: Option<bool>,
    pub closing_s: f64,
    /// Connections the server (or the network) closed while held.
    pub closed_by_server: u64,
    pub closes: Vec<String>,
    pub passed: bool,
    pub failures: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct ConnectSettings {
    pub url: String,
    pub connections: usize,
    pub concurrency: usize,
    pub hold_s: u64,
    /// `--subscribe`: `null` (echo), or on the broadcast app `none`,
    /// `one` or `own`.
    pub subscribe: Option<Subscriptions>,
    #[serde(flatten)]
    pub measured: report::ServerUnderTest,
    pub client_core: Option<usize>,
    pub client: &'static str,
}

impl ConnectReport {
    fn judge(
        settings: ConnectSettings,
        measured: Measured,
        stop_failure: Option<String>,
    ) -> ConnectReport {
        let opening = measured.opening_s.max(f64::EPSILON);
        let per_connection = |total: f64| total / measured.opened.max(1) as f64;
        let rss_per_connection_kib = match (measured.rss_before_kib, measured.rss_open_kib) {
            (Some(before), Some(open)) => Some(per_connection(open.saturating_sub(before) as f64)),
            _ => None,
        };
        let client_share = measured.client_cpu_opening_s / opening;
        let mut failures = Vec::new();
        if measured.failed_opens > 0 {
            failures.push(plural(
                measured.failed_opens,
                "connection could not be opened",
                "connections could not be opened",
            ));
        }
        if measured.closed_by_server > 0 {
            failures.push(plural(
                measured.closed_by_server,
                "idle connection was closed by the server or the network",
                "idle connections were closed by the server or the network",
            ));
        }
        failures.extend(stop_failure);
        ConnectReport {
            scenario: "connect",
            settings,
            opened: measured.opened,
            failed_opens: measured.failed_opens,
            open_errors: measured.open_errors,
            opening_s: measured.opening_s,
            connections_per_s: measured.opened as f64 / opening,
            handshake_us: report::latency_us(&measured.handshake_ns),
            server_cpu_us_per_connection: measured
                .server_cpu_opening_s
                .map(|cpu| per_connection(cpu * 1e6)),
            server_cpu_share_opening: measured.server_cpu_opening_s.map(|cpu| cpu / opening),
            client_cpu_share_opening: client_share,
            client_saturated: client_share >= report::SATURATED,
            rss_before_kib: measured.rss_before_kib,
            rss_open_kib: measured.rss_open_kib,
            rss_closed_kib: measured.rss_closed_kib,
            rss_per_connection_kib,
            goal_rss_per_connection_kib: RSS_PER_CONNECTION_GOAL_KIB,
            goal_rss_met: rss_per_connection_kib.map(|kib| kib <= RSS_PER_CONNECTION_GOAL_KIB),
            closing_s: measured.closing_s,
            closed_by_server: measured.closed_by_server,
            closes: measured.closes,
            passed: failures.is_empty(),
            failures,
        }
    }

    /// The human view.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let s = &self.settings;
        let subscribed = match s.subscribe {
            None => "",
            Some(Subscriptions::None) => " (broadcast app, no subscriptions)",
            Some(Subscriptions::One) => " (broadcast app, all subscribed to one topic)",
            Some(Subscriptions::Own) => " (broadcast app, each subscribed to a topic of its own)",
        };
        let _ = writeln!(
            out,
            "switchboard-bench connect: {} idle{subscribed}, {} handshakes in flight, held {} s",
            plural(s.connections as u64, "connection", "connections"),
            s.concurrency,
            s.hold_s
        );
        s.measured.write_header(&mut out, &s.url);
        let _ = writeln!(
            out,
            "bench: {} on {}",
            s.client,
            report::describe_core(s.client_core)
        );
        let _ = writeln!(out);
        let optional = |value: Option<f64>, precision: usize, unit: &str| match value {
            Some(value) => format!("{value:.precision$}{unit}"),
            None => "-".to_string(),
        };
        let mib = |kib: Option<u64>| optional(kib.map(|kib| kib as f64 / 1024.0), 1, "");
        let _ = writeln!(
            out,
            "{:>8} {:>9} {:>13} {:>13} {:>13} {:>14} {:>10} {:>10} {:>11} {:>11} {:>12} {:>11}",
            "opened",
            "conns/s",
            "handshake p50",
            "p99 µs",
            "max µs",
            "server µs/conn",
            "server cpu",
            "client cpu",
            "RSS before",
            "RSS open",
            "RSS closed",
            "KiB/conn"
        );
        let h = &self.handshake_us;
        let _ = writeln!(
            out,
            "{:>8} {:>9.0} {:>10.1} µs {:>13.1} {:>13.1} {:>14} {:>10} {:>9.0}% {:>7} MiB {:>7} MiB {:>8} MiB {:>11}",
            self.opened,
            self.connections_per_s,
            h.p50,
            h.p99,
            h.max,
            optional(self.server_cpu_us_per_connection, 1, ""),
            optional(
                self.server_cpu_share_opening.map(|share| share * 100.0),
                0,
                "%"
            ),
            self.client_cpu_share_opening * 100.0,
            mib(self.rss_before_kib),
            mib(self.rss_open_kib),
            mib(self.rss_closed_kib),
            optional(self.rss_per_connection_kib, 2, "")
        );
        if self.client_saturated {
            let _ = writeln!(
                out,
                "note: the bench's core was saturated while opening ({:.0}% busy): conns/s measures the bench, not the server",
                self.client_cpu_share_opening * 100.0
            );
        }
        let goal = match (self.rss_per_connection_kib, self.goal_rss_met) {
            (Some(kib), Some(met)) => {
                format!("{kib:.2} KiB, {}", if met { "met" } else { "NOT met" })
            }
            _ => "not measured (no server pid)".to_string(),
        };
        let _ = writeln!(
            out,
            "goal: server memory per idle connection <= {:.0} KiB: {goal}",
            self.goal_rss_per_connection_kib
        );
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "checks: {} opened, {} failed to open, {} closed while held; all closed in {:.2} s",
            self.opened, self.failed_opens, self.closed_by_server, self.closing_s
        );
        for error in self.open_errors.iter().chain(&self.closes) {
            let _ = writeln!(out, "  {error}");
        }
        report::write_verdict(&mut out, self.passed, &self.failures);
        out
    }
}
