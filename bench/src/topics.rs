//! The topics suite (issue 12): what topics cost, each figure against a
//! baseline measured in the same run, because absolute figures on this
//! machine drift by 20% and more between runs.
//!
//! - **fanout**: the broadcast scenario (1000 subscribers, closed loop,
//!   window 1) delivering through a topic (`--via topic`) against the app's
//!   `broadcast`, for the Wasm app and the native baseline, 64 B and 16 KiB
//!   text, the 16 KiB also with permessage-deflate (Wasm only: the built-in
//!   app has no config entry to turn it on). Every side of a case once per
//!   round, the order reversed every other round.
//! - **memory**: `connect --subscribe` with 10 000 connections subscribed
//!   to one topic, each to a topic of its own, and to none (the baseline),
//!   interleaved the same way: (RSS per connection with − without) is what
//!   one subscription holds.
//! - **replay**: a client that left a topic reconnects with the position it
//!   had and is sent the 1 000 messages it missed from the topic's history,
//!   then a live one; against the same client connecting and receiving
//!   1 000 live messages and one more, alternating. Both are timed from the
//!   TCP connect.
//!
//! The suite prints one line per figure from the same structures it writes
//! as JSON; the tables in docs/benchmarks.md are made from that JSON.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bytes::BytesMut;
use futures::SinkExt as _;
use serde::Serialize;
use yawc::{Frame, OpCode};

use crate::broadcast::{self, BroadcastReport};
use crate::cli::{
    BroadcastCommand, ConnectCommand, Native, Rate, Subscriptions, Target, TopicsCommand,
    TopicsPart, Via,
};
use crate::connect::{self, ConnectReport};
use crate::connection::{self, Socket};
use crate::payload::{self, Template, Verdict};
use crate::report;
use crate::server::Configured;
use crate::standard::median;
use crate::subject::{self, App, Subject};

/// Subscribers of every fan-out case: the figure.
const SUBSCRIBERS: usize = 1000;
/// Connections of every memory case: the host's default connection limit.
const CONNECTIONS: usize = 10_000;
/// Seconds the memory cases hold their connections before reading RSS.
const HOLD_S: u64 = 3;
/// Handshakes in flight in the memory cases (see `connect --concurrency`).
const CONCURRENCY: usize = 100;
/// Messages a reconnecting client missed: the figure. The server
/// keeps exactly this many per topic, so the replay needs all of it.
const MISSED: u64 = 1000;
/// Messages the client receives before it leaves, to learn its position
/// from them rather than from a topic that never had a message.
const BEFORE_LEAVING: u64 = 10;
/// Bytes of every replayed and live message: the small-message case.
const REPLAY_SIZE: usize = 64;
/// One replay or baseline round taking longer than this is a server that
/// stopped delivering.
const ROUND_TIMEOUT: Duration = Duration::from_secs(30);

/// A fan-out case: a payload, and whether the native side runs too.
struct FanoutCase {
    id: &'static str,
    title: &'static str,
    size: usize,
    compression: bool,
}

const FANOUT_CASES: [FanoutCase; 3] = [
    FanoutCase {
        id: "64-text",
        title: "64 B text",
        size: 64,
        compression: false,
    },
    FanoutCase {
        id: "16k-text",
        title: "16 KiB text",
        size: 16 * 1024,
        compression: false,
    },
    FanoutCase {
        id: "16k-text-deflate",
        title: "16 KiB text, permessage-deflate",
        size: 16 * 1024,
        compression: true,
    },
];

impl FanoutCase {
    /// (native, via) of each run in a round, in the first round's order.
    fn sides(&self) -> Vec<(bool, Via)> {
        let natives: &[bool] = if self.compression {
            &[false]
        } else {
            &[false, true]
        };
        natives
            .iter()
            .flat_map(|&native| [(native, Via::Broadcast), (native, Via::Topic)])
            .collect()
    }
}

/// Each side once per round, in reverse order every other round.
pub(crate) fn schedule<T: Copy>(sides: &[T], repeat: usize) -> Vec<(usize, T)> {
    (1..=repeat)
        .flat_map(|round| {
            let mut order = sides.to_vec();
            if round % 2 == 0 {
                order.reverse();
            }
            order.into_iter().map(move |side| (round, side))
        })
        .collect()
}

#[derive(Debug, Serialize)]
pub struct FanoutRun {
    pub case: &'static str,
    pub side: &'static str,
    pub via: Via,
    pub round: usize,
    pub report: Option<BroadcastReport>,
    pub error: Option<String>,
}

/// One side of a fan-out case, medians over its rounds.
#[derive(Debug, Serialize)]
pub struct FanoutFigures {
    pub runs: usize,
    pub deliveries_per_s: Option<f64>,
    pub server_cpu_us_per_delivery: Option<f64>,
    pub server_cpu_share: Option<f64>,
    pub client_cpu_share: Option<f64>,
    pub passed: bool,
}

/// Topic over broadcast for one side of a case.
#[derive(Debug, Serialize)]
pub struct FanoutComparison {
    pub case: &'static str,
    pub title: &'static str,
    pub side: &'static str,
    pub broadcast: FanoutFigures,
    pub topic: FanoutFigures,
    /// Topic over broadcast, of the medians.
    pub deliveries_per_s_ratio: Option<f64>,
    pub server_cpu_us_per_delivery_ratio: Option<f64>,
    /// The same ratios within each round (the two runs were back to back).
    pub deliveries_per_s_per_round: Vec<f64>,
    pub server_cpu_us_per_delivery_per_round: Vec<f64>,
}

#[derive(Debug, Serialize)]
pub struct MemoryRun {
    pub subscribe: Subscriptions,
    pub round: usize,
    pub report: Option<ConnectReport>,
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct MemorySummary {
    /// Median server RSS per connection, KiB, for each way of subscribing.
    pub none_kib_per_connection: Option<f64>,
    pub one_kib_per_connection: Option<f64>,
    pub own_kib_per_connection: Option<f64>,
    /// (with − without) per connection, bytes, of the medians: what one
    /// subscription holds, all in one topic and each in a topic of its own.
    pub one_topic_bytes_per_subscription: Option<f64>,
    pub own_topic_bytes_per_subscription: Option<f64>,
    /// The same within each round.
    pub one_topic_per_round: Vec<f64>,
    pub own_topic_per_round: Vec<f64>,
}

/// One timed connect of the replay part.
#[derive(Debug, Clone, Serialize)]
pub struct ReplayRound {
    /// `replay` (reconnected with a position, sent what it missed) or
    /// `live` (the baseline: connected, then sent as many live messages).
    pub kind: &'static str,
    pub round: usize,
    /// From the TCP connect: upgrade complete, the 1000th message, and the
    /// live message after them, µs.
    pub handshake_us: f64,
    pub thousandth_us: f64,
    pub caught_up_us: f64,
}

#[derive(Debug, Serialize)]
pub struct ReplaySummary {
    pub missed: u64,
    pub size: usize,
    /// Medians over the rounds of each kind, µs from the TCP connect.
    pub replay_handshake_us: Option<f64>,
    pub replay_thousandth_us: Option<f64>,
    pub replay_caught_up_us: Option<f64>,
    pub live_handshake_us: Option<f64>,
    pub live_thousandth_us: Option<f64>,
    pub live_caught_up_us: Option<f64>,
    /// Replay over live, of the medians.
    pub caught_up_ratio: Option<f64>,
    pub thousandth_ratio: Option<f64>,
    /// Replay over live within each pair of rounds.
    pub caught_up_per_round: Vec<f64>,
}

#[derive(Debug, Serialize)]
pub struct TopicsSettings {
    pub duration_s: u64,
    pub warmup_s: u64,
    pub repeat: usize,
    pub replays: usize,
    pub subscribers: usize,
    pub connections: usize,
    pub server: String,
    pub examples: String,
    pub parts: Vec<TopicsPart>,
    pub server_core: Option<usize>,
    pub client_core: Option<usize>,
}

#[derive(Debug, Serialize)]
pub struct TopicsReport {
    pub scenario: &'static str,
    pub settings: TopicsSettings,
    pub fanout: Vec<FanoutRun>,
    pub fanout_comparisons: Vec<FanoutComparison>,
    pub memory: Vec<MemoryRun>,
    pub memory_summary: Option<MemorySummary>,
    pub replay: Vec<ReplayRound>,
    pub replay_summary: Option<ReplaySummary>,
    pub elapsed_s: f64,
    pub passed: bool,
    pub failures: Vec<String>,
}

pub fn run(command: &TopicsCommand) -> anyhow::Result<TopicsReport> {
    let started = Instant::now();
    let wants = |part| command.only.is_empty() || command.only.contains(&part);
    let component = command.suite.examples.join("broadcast.wasm");
    if !component.is_file() {
        bail!(
            "the component {} does not exist (build the examples with ./scripts/build-examples, or pass --examples)",
            component.display()
        );
    }
    let target = |native: bool| Target {
        switchboard: command.suite.switchboard.clone(),
        app: (!native).then(|| component.clone()),
        url: None,
        server_pid: None,
        placement: command.suite.placement,
    };
    let mut failures = Vec::new();

    let mut fanout = Vec::new();
    if wants(TopicsPart::Fanout) {
        for case in &FANOUT_CASES {
            for (round, (native, via)) in schedule(&case.sides(), command.repeat) {
                let outcome = broadcast::run(&BroadcastCommand {
                    subscribers: SUBSCRIBERS,
                    rate: Some(Rate::Max),
                    window: None,
                    stalled: 0,
                    max_outbox_bytes: 1 << 20,
                    repeat: 1,
                    size: case.size,
                    binary: false,
                    via,
                    compression: case.compression,
                    duration: command.duration,
                    warmup: command.warmup,
                    json: None,
                    native: Native { native },
                    target: target(native),
                });
                let run = FanoutRun {
                    case: case.id,
                    side: side_name(native),
                    via,
                    round,
                    error: outcome.as_ref().err().map(|error| format!("{error:#}")),
                    report: outcome.ok(),
                };
                eprintln!("{}", fanout_progress(case, &run));
                fanout.push(run);
            }
        }
    }
    for run in &fanout {
        let name = format!(
            "fan-out {} ({} via {:?}, run {})",
            run.case, run.side, run.via, run.round
        );
        match (&run.report, &run.error) {
            (Some(report), _) if !report.passed => {
                failures.push(format!("{name}: {}", report.failures.join("; ")));
            }
            (_, Some(error)) => failures.push(format!("{name}: {error}")),
            _ => {}
        }
    }
    let mut fanout_comparisons = Vec::new();
    if wants(TopicsPart::Fanout) {
        for case in &FANOUT_CASES {
            for native in [false, true] {
                if case.sides().iter().any(|&(side, _)| side == native) {
                    fanout_comparisons.push(compare_fanout(case, native, &fanout));
                }
            }
        }
    }

    let mut memory = Vec::new();
    if wants(TopicsPart::Memory) {
        let sides = [Subscriptions::None, Subscriptions::One, Subscriptions::Own];
        for (round, subscribe) in schedule(&sides, command.repeat) {
            let outcome = connect::run(&ConnectCommand {
                connections: CONNECTIONS,
                concurrency: CONCURRENCY,
                hold: HOLD_S,
                subscribe: Some(subscribe),
                json: None,
                native: Native { native: false },
                target: target(false),
            });
            let run = MemoryRun {
                subscribe,
                round,
                error: outcome.as_ref().err().map(|error| format!("{error:#}")),
                report: outcome.ok(),
            };
            eprintln!(
                "memory, 10 000 connections subscribed to {:?} (run {round}): {}",
                run.subscribe,
                match (&run.report, &run.error) {
                    (Some(report), _) => format!(
                        "{} KiB per connection, {}",
                        optional(report.rss_per_connection_kib, 3),
                        if report.passed { "pass" } else { "FAIL" }
                    ),
                    (_, error) => format!("could not run: {}", error.as_deref().unwrap_or("?")),
                }
            );
            memory.push(run);
        }
        for run in &memory {
            let name = format!("memory {:?} (run {})", run.subscribe, run.round);
            match (&run.report, &run.error) {
                (Some(report), _) if !report.passed => {
                    failures.push(format!("{name}: {}", report.failures.join("; ")));
                }
                (_, Some(error)) => failures.push(format!("{name}: {error}")),
                _ => {}
            }
        }
    }
    let memory_summary = wants(TopicsPart::Memory).then(|| summarize_memory(&memory));

    let mut replay = Vec::new();
    if wants(TopicsPart::Replay) {
        match run_replays(command, &component) {
            Ok(rounds) => replay = rounds,
            Err(error) => failures.push(format!("replay: {error:#}")),
        }
    }
    let replay_summary =
        (wants(TopicsPart::Replay) && !replay.is_empty()).then(|| summarize_replay(&replay));

    let report = TopicsReport {
        scenario: "topics",
        settings: TopicsSettings {
            duration_s: command.duration,
            warmup_s: command.warmup,
            repeat: command.repeat,
            replays: command.replays,
            subscribers: SUBSCRIBERS,
            connections: CONNECTIONS,
            server: command.suite.switchboard.display().to_string(),
            examples: command.suite.examples.display().to_string(),
            parts: [TopicsPart::Fanout, TopicsPart::Memory, TopicsPart::Replay]
                .into_iter()
                .filter(|&part| wants(part))
                .collect(),
            server_core: (!command.suite.placement.no_pin)
                .then_some(command.suite.placement.server_core),
            client_core: (!command.suite.placement.no_pin)
                .then_some(command.suite.placement.client_core),
        },
        fanout,
        fanout_comparisons,
        memory,
        memory_summary,
        replay,
        replay_summary,
        elapsed_s: started.elapsed().as_secs_f64(),
        passed: failures.is_empty(),
        failures,
    };
    report::write_json(&report, &command.json)?;
    Ok(report)
}

fn side_name(native: bool) -> &'static str {
    if native { "native" } else { "wasm" }
}

pub(crate) fn optional(value: Option<f64>, precision: usize) -> String {
    value.map_or_else(|| "-".to_string(), |value| format!("{value:.precision$}"))
}

fn fanout_progress(case: &FanoutCase, run: &FanoutRun) -> String {
    let what = format!(
        "fan-out {} to {SUBSCRIBERS}, {} via {:?} (run {})",
        case.title, run.side, run.via, run.round
    );
    match (&run.report, &run.error) {
        (Some(report), _) => format!(
            "{what}: {:.0} deliveries/s, {} server µs/delivery, server {}% busy, {}",
            report.measured.msgs_per_s,
            optional(report.measured.server_cpu_us_per_msg, 2),
            optional(
                report.measured.server_cpu_share.map(|share| share * 100.0),
                0
            ),
            if report.passed { "pass" } else { "FAIL" }
        ),
        (_, error) => format!("{what}: could not run: {}", error.as_deref().unwrap_or("?")),
    }
}

fn figures(runs: &[&BroadcastReport], attempted: usize) -> FanoutFigures {
    let pick = |f: fn(&BroadcastReport) -> Option<f64>| median(runs.iter().filter_map(|r| f(r)));
    FanoutFigures {
        runs: runs.len(),
        deliveries_per_s: pick(|r| Some(r.measured.msgs_per_s)),
        server_cpu_us_per_delivery: pick(|r| r.measured.server_cpu_us_per_msg),
        server_cpu_share: pick(|r| r.measured.server_cpu_share),
        client_cpu_share: pick(|r| Some(r.measured.client_cpu_share)),
        passed: runs.len() == attempted && runs.iter().all(|r| r.passed),
    }
}

pub(crate) fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

fn compare_fanout(case: &FanoutCase, native: bool, runs: &[FanoutRun]) -> FanoutComparison {
    let side = side_name(native);
    let of = |via: Via| -> Vec<&FanoutRun> {
        runs.iter()
            .filter(|run| run.case == case.id && run.side == side && run.via == via)
            .collect()
    };
    let (broadcasts, topics) = (of(Via::Broadcast), of(Via::Topic));
    fn reports<'a>(runs: &[&'a FanoutRun]) -> Vec<&'a BroadcastReport> {
        runs.iter().filter_map(|run| run.report.as_ref()).collect()
    }
    let broadcast = figures(&reports(&broadcasts), broadcasts.len());
    let topic = figures(&reports(&topics), topics.len());
    let per_round = |f: fn(&BroadcastReport) -> Option<f64>| -> Vec<f64> {
        topics
            .iter()
            .filter_map(|topic| {
                let other = broadcasts.iter().find(|b| b.round == topic.round)?;
                ratio(f(topic.report.as_ref()?), f(other.report.as_ref()?))
            })
            .collect()
    };
    FanoutComparison {
        case: case.id,
        title: case.title,
        side,
        deliveries_per_s_ratio: ratio(topic.deliveries_per_s, broadcast.deliveries_per_s),
        server_cpu_us_per_delivery_ratio: ratio(
            topic.server_cpu_us_per_delivery,
            broadcast.server_cpu_us_per_delivery,
        ),
        deliveries_per_s_per_round: per_round(|r| Some(r.measured.msgs_per_s)),
        server_cpu_us_per_delivery_per_round: per_round(|r| r.measured.server_cpu_us_per_msg),
        broadcast,
        topic,
    }
}

fn summarize_memory(runs: &[MemoryRun]) -> MemorySummary {
    let kib = |run: &MemoryRun| run.report.as_ref()?.rss_per_connection_kib;
    let of = |subscribe| {
        median(
            runs.iter()
                .filter(|run| run.subscribe == subscribe)
                .filter_map(kib),
        )
    };
    let (none, one, own) = (
        of(Subscriptions::None),
        of(Subscriptions::One),
        of(Subscriptions::Own),
    );
    let bytes = |with: Option<f64>| Some((with? - none?) * 1024.0);
    let per_round = |subscribe| -> Vec<f64> {
        runs.iter()
            .filter(|run| run.subscribe == subscribe)
            .filter_map(|with| {
                let without = runs
                    .iter()
                    .find(|run| run.subscribe == Subscriptions::None && run.round == with.round)?;
                Some((kib(with)? - kib(without)?) * 1024.0)
            })
            .collect()
    };
    MemorySummary {
        none_kib_per_connection: none,
        one_kib_per_connection: one,
        own_kib_per_connection: own,
        one_topic_bytes_per_subscription: bytes(one),
        own_topic_bytes_per_subscription: bytes(own),
        one_topic_per_round: per_round(Subscriptions::One),
        own_topic_per_round: per_round(Subscriptions::Own),
    }
}

fn summarize_replay(rounds: &[ReplayRound]) -> ReplaySummary {
    let of = |kind: &str, f: fn(&ReplayRound) -> f64| {
        median(rounds.iter().filter(|r| r.kind == kind).map(f))
    };
    let caught_up_per_round = rounds
        .iter()
        .filter(|r| r.kind == "replay")
        .filter_map(|replay| {
            let live = rounds
                .iter()
                .find(|r| r.kind == "live" && r.round == replay.round)?;
            Some(replay.caught_up_us / live.caught_up_us)
        })
        .collect();
    let replay_caught_up_us = of("replay", |r| r.caught_up_us);
    let live_caught_up_us = of("live", |r| r.caught_up_us);
    let replay_thousandth_us = of("replay", |r| r.thousandth_us);
    let live_thousandth_us = of("live", |r| r.thousandth_us);
    ReplaySummary {
        missed: MISSED,
        size: REPLAY_SIZE,
        replay_handshake_us: of("replay", |r| r.handshake_us),
        replay_thousandth_us,
        replay_caught_up_us,
        live_handshake_us: of("live", |r| r.handshake_us),
        live_thousandth_us,
        live_caught_up_us,
        caught_up_ratio: ratio(replay_caught_up_us, live_caught_up_us),
        thousandth_ratio: ratio(replay_thousandth_us, live_thousandth_us),
        caught_up_per_round,
    }
}

/// The replay part: one server serving the component with a history of
/// `MISSED` publications per topic, and `--replays` rounds of each kind,
/// alternating (replay first in odd rounds), each on topics of its own.
fn run_replays(
    command: &TopicsCommand,
    component: &std::path::Path,
) -> anyhow::Result<Vec<ReplayRound>> {
    let target = Target {
        switchboard: command.suite.switchboard.clone(),
        app: Some(component.to_path_buf()),
        url: None,
        server_pid: None,
        placement: command.suite.placement,
    };
    let app = App::Wasm(component.to_path_buf());
    let subject = Subject::open_with(
        &target,
        broadcast::ROUTE,
        &app,
        None,
        &Configured {
            history: Some(MISSED as usize),
            ..Configured::default()
        },
    )?;
    subject::pin_bench(&command.suite.placement)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    let url = subject.url.clone();
    let rounds = runtime.block_on(async {
        let mut rounds = Vec::with_capacity(command.replays * 2);
        for round in 1..=command.replays {
            let kinds = if round % 2 == 1 {
                [true, false]
            } else {
                [false, true]
            };
            for replayed in kinds {
                let timed = tokio::time::timeout(ROUND_TIMEOUT, one_round(&url, round, replayed))
                    .await
                    .map_err(|_| {
                        anyhow::anyhow!("round {round} took longer than {}s", ROUND_TIMEOUT.as_secs())
                    })??;
                eprintln!(
                    "replay of {MISSED} missed, {} (round {round}): upgraded after {:.0} µs, 1000th at {:.0} µs, caught up at {:.0} µs",
                    timed.kind, timed.handshake_us, timed.thousandth_us, timed.caught_up_us
                );
                rounds.push(timed);
            }
        }
        anyhow::Ok(rounds)
    });
    let stop_failure = subject.stop();
    let rounds = rounds?;
    if let Some(failure) = stop_failure {
        bail!("{failure}");
    }
    Ok(rounds)
}

/// Messages of one round, numbered from 0, all from one publisher.
struct Round {
    template: Template,
    base: Instant,
    sent_at: Vec<u64>,
    outgoing: BytesMut,
}

impl Round {
    /// Queue the next `n` messages on the publisher and flush them.
    async fn publish(&mut self, publisher: &mut Socket, n: u64) -> anyhow::Result<()> {
        for _ in 0..n {
            let seq = self.sent_at.len() as u64;
            let sent_ns = self.base.elapsed().as_nanos() as u64;
            self.sent_at.push(sent_ns);
            self.template.append_to(seq, sent_ns, &mut self.outgoing);
            let frame = Frame::text(self.outgoing.split().freeze());
            publisher.feed(frame).await.context("publishing")?;
        }
        publisher.flush().await.context("publishing")
    }

    /// Receive messages `from..to` on `socket`, in order and intact.
    async fn receive(&self, socket: &mut Socket, from: u64, to: u64) -> anyhow::Result<()> {
        for expected in from..to {
            let text = next_text(socket).await?;
            let sent_ns = self.sent_at.get(expected as usize).copied().unwrap_or(0);
            if self.template.check(&text, expected, sent_ns) != (Verdict::Expected { sent_ns }) {
                bail!(
                    "expected message {expected}, got {}",
                    payload::seq_of(&text).map_or_else(
                        || "something else".to_string(),
                        |seq| format!("message {seq}")
                    )
                );
            }
        }
        Ok(())
    }
}

/// The next text message, skipping control frames.
pub(crate) async fn next_text(socket: &mut Socket) -> anyhow::Result<bytes::Bytes> {
    loop {
        let frame = socket.next_frame().await.context("receiving")?;
        match frame.opcode() {
            OpCode::Text => return Ok(frame.into_payload()),
            OpCode::Ping | OpCode::Pong | OpCode::Continuation => {}
            OpCode::Close => bail!("the server closed the connection"),
            OpCode::Binary => bail!("a binary message where text was due"),
        }
    }
}

async fn open(url: &url::Url, query: &str) -> anyhow::Result<Socket> {
    let mut url = url.clone();
    url.set_query(Some(query));
    connection::open(&url, REPLAY_SIZE)
        .await
        .with_context(|| format!("connecting to {url}"))
}

/// One timed connect: with `replayed`, a client that saw `BEFORE_LEAVING`
/// messages, left, and missed `MISSED` comes back with its position; else
/// a client connects and the publisher sends it `MISSED` live ones. Then
/// one more live message either way.
async fn one_round(url: &url::Url, round: usize, replayed: bool) -> anyhow::Result<ReplayRound> {
    let topic = format!("{}-{round}", if replayed { "replay" } else { "live" });
    let mut state = Round {
        template: Template::new(REPLAY_SIZE, 0, false),
        base: Instant::now(),
        sent_at: Vec::new(),
        outgoing: BytesMut::new(),
    };
    let mut publisher = open(url, &format!("publish={topic}")).await?;
    let mut resume_query = None;
    if replayed {
        // The client's first life: its position, then some messages.
        let mut client = open(url, &format!("topic={topic}&position=1")).await?;
        let position: serde_json::Value = serde_json::from_slice(&next_text(&mut client).await?)
            .context("the position message is not JSON")?;
        let epoch = position["epoch"]
            .as_str()
            .context("no epoch in the position")?
            .to_string();
        let offset = position["offset"]
            .as_u64()
            .context("no offset in the position")?;
        state.publish(&mut publisher, BEFORE_LEAVING).await?;
        state.receive(&mut client, 0, BEFORE_LEAVING).await?;
        connection::close(&mut client).await;
        // What it misses, seen by a witness so that it is all in the
        // history before the client comes back.
        let mut witness = open(url, &format!("topic={topic}")).await?;
        state.publish(&mut publisher, MISSED).await?;
        state
            .receive(&mut witness, BEFORE_LEAVING, BEFORE_LEAVING + MISSED)
            .await?;
        connection::close(&mut witness).await;
        resume_query = Some(format!(
            "topic={topic}&epoch={epoch}&offset={}",
            offset + BEFORE_LEAVING
        ));
    }
    let query = resume_query.unwrap_or_else(|| format!("topic={topic}"));
    // The first message the client is due: the first it missed, or the
    // first live one.
    let first = if replayed {
        BEFORE_LEAVING
    } else {
        state.sent_at.len() as u64
    };
    let started = Instant::now();
    let mut client = open(url, &query).await?;
    let handshake = started.elapsed();
    // Subscribed (on-open ran before the upgrade was answered): anything
    // published from now on is live.
    let live = if replayed { 1 } else { MISSED + 1 };
    state.publish(&mut publisher, live).await?;
    state.receive(&mut client, first, first + MISSED).await?;
    let thousandth = started.elapsed();
    state
        .receive(&mut client, first + MISSED, first + MISSED + 1)
        .await?;
    let caught_up = started.elapsed();
    connection::close(&mut client).await;
    connection::close(&mut publisher).await;
    let us = |at: Duration| at.as_secs_f64() * 1e6;
    Ok(ReplayRound {
        kind: if replayed { "replay" } else { "live" },
        round,
        handshake_us: us(handshake),
        thousandth_us: us(thousandth),
        caught_up_us: us(caught_up),
    })
}

impl TopicsReport {
    /// One line per figure, from the same structures as the JSON.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let rounds = |values: &[f64]| {
            values
                .iter()
                .map(|value| format!("{value:.2}x"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        for c in &self.fanout_comparisons {
            let _ = writeln!(
                out,
                "fan-out {} to {SUBSCRIBERS}, {}: broadcast {} dlv/s, {} µs/dlv; topic {} dlv/s, {} µs/dlv; topic/broadcast {}x dlv/s (rounds {}), {}x µs/dlv (rounds {}); checks {}",
                c.title,
                c.side,
                optional(c.broadcast.deliveries_per_s, 0),
                optional(c.broadcast.server_cpu_us_per_delivery, 2),
                optional(c.topic.deliveries_per_s, 0),
                optional(c.topic.server_cpu_us_per_delivery, 2),
                optional(c.deliveries_per_s_ratio, 2),
                rounds(&c.deliveries_per_s_per_round),
                optional(c.server_cpu_us_per_delivery_ratio, 2),
                rounds(&c.server_cpu_us_per_delivery_per_round),
                if c.broadcast.passed && c.topic.passed {
                    "pass"
                } else {
                    "FAIL"
                }
            );
        }
        if let Some(m) = &self.memory_summary {
            let bytes = |values: &[f64]| {
                values
                    .iter()
                    .map(|v| format!("{v:.0}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let _ = writeln!(
                out,
                "memory, {CONNECTIONS} connections: {} KiB each subscribed to nothing, {} KiB all in one topic, {} KiB each in its own; per subscription {} B in one topic (rounds {}), {} B in a topic each (rounds {})",
                optional(m.none_kib_per_connection, 3),
                optional(m.one_kib_per_connection, 3),
                optional(m.own_kib_per_connection, 3),
                optional(m.one_topic_bytes_per_subscription, 0),
                bytes(&m.one_topic_per_round),
                optional(m.own_topic_bytes_per_subscription, 0),
                bytes(&m.own_topic_per_round)
            );
        }
        if let Some(r) = &self.replay_summary {
            let _ = writeln!(
                out,
                "replay of {} missed {}-byte messages: caught up {} µs after the TCP connect (1000th at {} µs, upgraded at {} µs); {} live: {} µs ({} µs, {} µs); replay/live {}x (1000th {}x; rounds {})",
                r.missed,
                r.size,
                optional(r.replay_caught_up_us, 0),
                optional(r.replay_thousandth_us, 0),
                optional(r.replay_handshake_us, 0),
                r.missed,
                optional(r.live_caught_up_us, 0),
                optional(r.live_thousandth_us, 0),
                optional(r.live_handshake_us, 0),
                optional(r.caught_up_ratio, 2),
                optional(r.thousandth_ratio, 2),
                rounds(&r.caught_up_per_round)
            );
        }
        let _ = writeln!(
            out,
            "{:.0} s; every run's report: the JSON file",
            self.elapsed_s
        );
        report::write_verdict(&mut out, self.passed, &self.failures);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_side_runs_once_a_round_and_the_order_flips() {
        let sides = FANOUT_CASES[0].sides();
        assert_eq!(sides.len(), 4);
        let order = schedule(&sides, 2);
        assert_eq!(order.len(), 8);
        assert_eq!(order[0], (1, (false, Via::Broadcast)));
        assert_eq!(order[3], (1, (true, Via::Topic)));
        assert_eq!(order[4], (2, (true, Via::Topic)));
        // Compression is the component's only.
        assert!(FANOUT_CASES[2].sides().iter().all(|&(native, _)| !native));
    }
}
