//! The run: open every connection, warm up, measure one or more phases back
//! to back on the same connections, then drain and close.
//!
//! Everything runs on one current-thread tokio runtime on one pinned core,
//! so the bench's own cost is one number (that thread's CPU time) and no
//! locks or atomics sit in the per-message path: connections share state
//! through `Rc` and `Cell`. Phases share connections because the swap
//! scenario's question is what a swap does to connections that stay open.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use hdrhistogram::Histogram;
use tokio::sync::Notify;

use crate::connection::{self, Ending};
use crate::cpu;
use crate::payload::Template;
use crate::report::{Checks, PhaseSample};

/// Opening every connection should take milliseconds; this bounds a server
/// that accepts TCP but never answers the upgrade.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// After the last phase, how long in-flight replies and closing handshakes
/// may take. A reply later than this counts as lost.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// How many closed connections are described in the report.
const CLOSES_KEPT: usize = 5;
/// Latencies above this are recorded as this (a minute is already a hang).
const HISTOGRAM_MAX_NS: u64 = 60_000_000_000;

pub struct LoadConfig {
    pub url: url::Url,
    pub connections: usize,
    pub size: usize,
    pub binary: bool,
    pub depth: usize,
    pub warmup: Duration,
    /// The measured phases, in order: name and length.
    pub phases: Vec<(&'static str, Duration)>,
    /// The server to charge CPU time to, if known.
    pub server_pid: Option<u32>,
}

/// Called at each measured phase's start and end (on the measuring thread:
/// it must not block).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edge {
    Start(usize),
    End(usize),
}

pub struct LoadResult {
    pub phases: Vec<PhaseSample>,
    pub checks: Checks,
}

/// What every connection reads each message: which phase it is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Warmup,
    Measure(usize),
    /// Stop sending; collect what is in flight, then close.
    Drain,
}

/// State shared by the connections of one run (single-threaded).
pub struct Shared {
    pub phase: Cell<Phase>,
    base: Instant,
    pub latency: RefCell<Vec<Histogram<u64>>>,
    pub sent: Cell<u64>,
    pub intact: Cell<u64>,
    pub mismatched: Cell<u64>,
    pub out_of_order: Cell<u64>,
    closed: Cell<u64>,
    closes: RefCell<Vec<String>>,
    open: Cell<usize>,
    all_closed: Notify,
}

impl Shared {
    /// Nanoseconds since the run started: the send time in each message.
    pub fn now_ns(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }

    pub fn record(&self, phase: usize, latency_ns: u64) {
        if let Some(histogram) = self.latency.borrow_mut().get_mut(phase) {
            histogram.saturating_record(latency_ns.max(1));
        }
    }

    fn add(cell: &Cell<u64>) {
        cell.set(cell.get() + 1);
    }

    pub fn count_sent(&self) {
        Self::add(&self.sent);
    }

    pub fn count_intact(&self) {
        Self::add(&self.intact);
    }

    pub fn count_mismatched(&self) {
        Self::add(&self.mismatched);
    }

    pub fn count_out_of_order(&self) {
        Self::add(&self.out_of_order);
    }

    /// A connection ended. Only an ending the bench did not ask for (before
    /// the drain, or a close by the server) is a failure.
    fn connection_ended(&self, index: usize, ending: &Ending) {
        if let Ending::Closed(reason) = ending {
            Self::add(&self.closed);
            let mut closes = self.closes.borrow_mut();
            if closes.len() < CLOSES_KEPT {
                closes.push(format!("connection {index}: {reason}"));
            }
        }
        self.open.set(self.open.get().saturating_sub(1));
        if self.open.get() == 0 {
            self.all_closed.notify_one();
        }
    }
}

/// Run the load and return the measured phases and the checks.
pub fn run(config: &LoadConfig, mut on_edge: impl FnMut(Edge)) -> anyhow::Result<LoadResult> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, drive(config, &mut on_edge))
}

async fn drive(config: &LoadConfig, on_edge: &mut impl FnMut(Edge)) -> anyhow::Result<LoadResult> {
    let mut histograms = Vec::new();
    for _ in &config.phases {
        histograms.push(
            Histogram::new_with_bounds(1, HISTOGRAM_MAX_NS, 3)
                .context("cannot create a latency histogram")?,
        );
    }
    let shared = Rc::new(Shared {
        phase: Cell::new(Phase::Warmup),
        base: Instant::now(),
        latency: RefCell::new(histograms),
        sent: Cell::new(0),
        intact: Cell::new(0),
        mismatched: Cell::new(0),
        out_of_order: Cell::new(0),
        closed: Cell::new(0),
        closes: RefCell::new(Vec::new()),
        open: Cell::new(config.connections),
        all_closed: Notify::new(),
    });

    // Open every connection before any message goes out, so warm-up starts
    // from a known, complete set.
    let opening = futures::future::try_join_all(
        (0..config.connections)
            .map(|index| connection::open_numbered(index, config.url.clone(), config.size, false)),
    );
    let sockets = match tokio::time::timeout(CONNECT_TIMEOUT, opening).await {
        Ok(sockets) => sockets?,
        Err(_) => bail!(
            "opening {} connections to {} took longer than {}s",
            config.connections,
            config.url,
            CONNECT_TIMEOUT.as_secs()
        ),
    };

    let mut tasks = Vec::with_capacity(sockets.len());
    for (index, socket) in sockets.into_iter().enumerate() {
        let template = Template::new(config.size, index, config.binary);
        let shared = shared.clone();
        let (depth, binary) = (config.depth, config.binary);
        tasks.push(tokio::task::spawn_local(async move {
            let ending = connection::run(socket, &template, binary, depth, &shared).await;
            shared.connection_ended(index, &ending);
        }));
    }

    // Phases end early only if every connection is gone: nothing left to
    // measure, and the report should come now, not after the full duration.
    let sleep_or_all_closed = |duration: Duration| {
        let shared = shared.clone();
        async move {
            tokio::select! {
                () = tokio::time::sleep(duration) => {}
                () = shared.all_closed.notified() => {}
            }
        }
    };

    sleep_or_all_closed(config.warmup).await;
    let mut samples = Vec::with_capacity(config.phases.len());
    for (index, &(name, duration)) in config.phases.iter().enumerate() {
        let started = Instant::now();
        let client_before = cpu::thread_cpu_time();
        let server_before = server_cpu(config.server_pid);
        shared.phase.set(Phase::Measure(index));
        on_edge(Edge::Start(index));
        sleep_or_all_closed(duration).await;
        // Stop attributing replies to this phase before anything else.
        let next = if index + 1 < config.phases.len() {
            Phase::Measure(index + 1)
        } else {
            Phase::Drain
        };
        shared.phase.set(next);
        let wall = started.elapsed();
        let client = cpu::thread_cpu_time().saturating_sub(client_before);
        let server = match (server_before, server_cpu(config.server_pid)) {
            (Some(before), Some(after)) => Some(after.saturating_sub(before).as_secs_f64()),
            _ => None,
        };
        on_edge(Edge::End(index));
        let latency = shared
            .latency
            .borrow()
            .get(index)
            .cloned()
            .context("a phase without a histogram")?;
        samples.push(PhaseSample {
            name,
            wall_s: wall.as_secs_f64(),
            latency_ns: latency,
            client_cpu_s: client.as_secs_f64(),
            server_cpu_s: server,
        });
        if shared.open.get() == 0 {
            break;
        }
    }

    // Drain: connections stop sending, wait for what is in flight, close.
    shared.phase.set(Phase::Drain);
    let drained = futures::future::join_all(tasks.iter_mut());
    if tokio::time::timeout(DRAIN_TIMEOUT, drained).await.is_err() {
        // Whatever is still in flight now is lost; the counts say so.
        for task in &tasks {
            task.abort();
        }
    }

    let sent = shared.sent.get();
    let answered = shared.intact.get() + shared.mismatched.get() + shared.out_of_order.get();
    let checks = Checks {
        sent,
        intact: shared.intact.get(),
        mismatched: shared.mismatched.get(),
        out_of_order: shared.out_of_order.get(),
        lost: sent.saturating_sub(answered),
        connections_closed: shared.closed.get(),
        closes: shared.closes.borrow().clone(),
    };
    Ok(LoadResult {
        phases: samples,
        checks,
    })
}

/// The server's CPU time so far, if we know its pid. A server that has
/// exited has no /proc entry; the phase then reports no CPU figure and the
/// caller reports the exit.
fn server_cpu(pid: Option<u32>) -> Option<Duration> {
    pid.and_then(|pid| cpu::process_cpu_time(pid).ok())
}
