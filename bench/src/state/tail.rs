//! The tail part of the state suite: lines a second from a file the bench
//! appends to, through the host's feed and the broadcast example (which
//! publishes each new line of its feed to the topic of the feed's name), to
//! 100 WebSocket subscribers; against the same lines sent by a client
//! connection through the same app and topic (`broadcast --via topic`).
//! Both are the broadcast scenario (`--via feed` and `--via topic`), so
//! every line is checked at every subscriber the same way: none lost,
//! duplicated, reordered or altered.
//!
//! Two windows: one line at a time (the publisher appends the next line
//! once every subscriber has the last: the way through, line by line), and
//! up to `WIDE_WINDOW` outstanding (lines arrive faster than the host
//! wakes, so it reads them in batches: what a busy log gives it). Each
//! side of a case once per round, the order reversed every other round.

use std::path::Path;

use serde::Serialize;

use crate::broadcast::{self, BroadcastReport};
use crate::cli::{BroadcastCommand, Native, Rate, StateCommand, Target, Via};
use crate::standard::median;
use crate::topics::{ratio, schedule};

/// Subscribers of every tail run: the figure.
pub const SUBSCRIBERS: usize = 100;
/// Bytes of every line (without its newline): the small-message case.
pub const LINE_BYTES: usize = 64;
/// The wide window, in lines outstanding.
pub const WIDE_WINDOW: usize = 100;

/// A window: lines published and not yet at every subscriber.
#[derive(Debug)]
pub struct TailCase {
    pub id: &'static str,
    pub title: &'static str,
    pub window: usize,
}

pub const CASES: [TailCase; 2] = [
    TailCase {
        id: "window-1",
        title: "one line at a time",
        window: 1,
    },
    TailCase {
        id: "window-100",
        title: "up to 100 lines outstanding",
        window: WIDE_WINDOW,
    },
];

#[derive(Debug, Serialize)]
pub struct TailRun {
    pub case: &'static str,
    pub via: Via,
    pub round: usize,
    pub report: Option<BroadcastReport>,
    pub error: Option<String>,
}

/// One side of a case, medians over its rounds.
#[derive(Debug, Serialize)]
pub struct TailFigures {
    pub runs: usize,
    /// Lines (messages) published per second, each to every subscriber.
    pub lines_per_s: Option<f64>,
    pub deliveries_per_s: Option<f64>,
    /// From the append (or send) to a subscriber's receipt, µs.
    pub p50_us: Option<f64>,
    pub p99_us: Option<f64>,
    /// Server CPU per line, all its deliveries included, µs.
    pub server_cpu_us_per_line: Option<f64>,
    pub server_cpu_share: Option<f64>,
    pub passed: bool,
}

/// Feed over topic for one case.
#[derive(Debug, Serialize)]
pub struct TailComparison {
    pub case: &'static str,
    pub title: &'static str,
    pub window: usize,
    pub feed: TailFigures,
    pub topic: TailFigures,
    pub lines_per_s_ratio: Option<f64>,
    pub p50_ratio: Option<f64>,
    pub server_cpu_us_per_line_ratio: Option<f64>,
    /// Feed over topic within each round.
    pub lines_per_s_per_round: Vec<f64>,
}

/// Every run of every case.
pub fn run(command: &StateCommand, broadcast_component: &Path) -> Vec<TailRun> {
    let mut runs = Vec::new();
    for case in &CASES {
        for (round, via) in schedule(&[Via::Feed, Via::Topic], command.repeat) {
            let outcome = broadcast::run(&BroadcastCommand {
                subscribers: SUBSCRIBERS,
                rate: Some(Rate::Max),
                window: Some(case.window),
                stalled: 0,
                max_outbox_bytes: 1 << 20,
                repeat: 1,
                size: LINE_BYTES,
                binary: false,
                via,
                compression: false,
                duration: command.duration,
                warmup: command.warmup,
                json: None,
                native: Native { native: false },
                target: Target {
                    switchboard: command.suite.switchboard.clone(),
                    app: Some(broadcast_component.to_path_buf()),
                    url: None,
                    server_pid: None,
                    placement: command.suite.placement,
                },
            });
            let run = TailRun {
                case: case.id,
                via,
                round,
                error: outcome.as_ref().err().map(|error| format!("{error:#}")),
                report: outcome.ok(),
            };
            eprintln!("{}", progress(case, &run));
            runs.push(run);
        }
    }
    runs
}

fn progress(case: &TailCase, run: &TailRun) -> String {
    let what = format!(
        "tail to {SUBSCRIBERS}, {}, via {:?} (run {})",
        case.title, run.via, run.round
    );
    match (&run.report, &run.error) {
        (Some(report), _) => format!(
            "{what}: {:.0} lines/s, p50 {:.0} µs, {}",
            report.published_per_s,
            report.measured.latency_us.p50,
            if report.passed { "pass" } else { "FAIL" }
        ),
        (_, error) => format!("{what}: could not run: {}", error.as_deref().unwrap_or("?")),
    }
}

fn figures(runs: &[&TailRun]) -> TailFigures {
    let reports: Vec<&BroadcastReport> =
        runs.iter().filter_map(|run| run.report.as_ref()).collect();
    let of = |f: fn(&BroadcastReport) -> Option<f64>| median(reports.iter().filter_map(|r| f(r)));
    TailFigures {
        runs: reports.len(),
        lines_per_s: of(|r| Some(r.published_per_s)),
        deliveries_per_s: of(|r| Some(r.measured.msgs_per_s)),
        p50_us: of(|r| Some(r.measured.latency_us.p50)),
        p99_us: of(|r| Some(r.measured.latency_us.p99)),
        server_cpu_us_per_line: of(|r| {
            r.measured
                .server_cpu_us_per_msg
                .map(|per_delivery| per_delivery * r.settings.subscribers as f64)
        }),
        server_cpu_share: of(|r| r.measured.server_cpu_share),
        passed: !runs.is_empty()
            && runs
                .iter()
                .all(|run| run.report.as_ref().is_some_and(|r| r.passed)),
    }
}

pub fn compare(case: &TailCase, runs: &[TailRun]) -> TailComparison {
    let side = |via: Via| -> Vec<&TailRun> {
        runs.iter()
            .filter(|run| run.case == case.id && run.via == via)
            .collect()
    };
    let (feeds, topics) = (side(Via::Feed), side(Via::Topic));
    let feed = figures(&feeds);
    let topic = figures(&topics);
    let lines_per_s_per_round = feeds
        .iter()
        .filter_map(|feed| {
            let topic = topics.iter().find(|run| run.round == feed.round)?;
            ratio(
                feed.report.as_ref().map(|r| r.published_per_s),
                topic.report.as_ref().map(|r| r.published_per_s),
            )
        })
        .collect();
    TailComparison {
        case: case.id,
        title: case.title,
        window: case.window,
        lines_per_s_ratio: ratio(feed.lines_per_s, topic.lines_per_s),
        p50_ratio: ratio(feed.p50_us, topic.p50_us),
        server_cpu_us_per_line_ratio: ratio(
            feed.server_cpu_us_per_line,
            topic.server_cpu_us_per_line,
        ),
        lines_per_s_per_round,
        feed,
        topic,
    }
}
