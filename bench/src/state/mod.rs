//! The state suite (issue 13): the host's timers, key-value store and
//! feeds, each figure against a baseline measured in the same run, because
//! absolute figures on this machine drift by 20% and more between runs.
//!
//! - **kv** (kv.rs): µs per `get`, `set` with `[kv] durability =
//!   "buffered"` and `set` with `"sync"`, from a guest, timed from outside
//!   by a client that asks for N of them in one message; against the same
//!   message asking for nothing and for N attachment calls moving as many
//!   bytes in and out of the host's memory, interleaved.
//! - **timers** (timers.rs): lateness p50/p99 of 1 000 firings a second
//!   through the host (1 000 timers every second, and 100 every 100 ms),
//!   against tokio intervals on the same schedule in the bench's process.
//! - **tail** (tail.rs): lines a second from a file the bench appends to,
//!   through a feed and the broadcast example, to 100 subscribers; against
//!   the same lines sent by a client through the same app and topic.
//!
//! The suite prints one line per figure from the same structures it writes
//! as JSON; the tables in docs/benchmarks.md are made from that JSON.

pub mod kv;
pub mod tail;
pub mod timers;

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde::Serialize;

use crate::cli::{StateCommand, StatePart, Target};
use crate::report;
use crate::subject::{self, App, Subject};
use crate::topics::{optional, schedule};

/// The component the kv and timers parts drive (examples/bench-state).
const STATE_COMPONENT: &str = "bench_state.wasm";
/// The component the tail part follows a feed with (examples/broadcast).
const BROADCAST_COMPONENT: &str = "broadcast.wasm";

#[derive(Debug, Serialize)]
pub struct StateSettings {
    pub duration_s: u64,
    pub warmup_s: u64,
    pub repeat: usize,
    pub kv_messages: usize,
    pub server: String,
    pub examples: String,
    pub parts: Vec<StatePart>,
    pub server_core: Option<usize>,
    pub client_core: Option<usize>,
}

#[derive(Debug, Serialize)]
pub struct StateReport {
    pub scenario: &'static str,
    pub settings: StateSettings,
    pub kv: Vec<kv::KvCase>,
    pub kv_summary: Option<kv::KvSummary>,
    pub timers: Vec<timers::TimerRun>,
    pub timer_comparisons: Vec<timers::TimerComparison>,
    pub tail: Vec<tail::TailRun>,
    pub tail_comparisons: Vec<tail::TailComparison>,
    pub elapsed_s: f64,
    pub passed: bool,
    pub failures: Vec<String>,
}

pub fn run(command: &StateCommand) -> anyhow::Result<StateReport> {
    let started = Instant::now();
    let wants = |part| command.only.is_empty() || command.only.contains(&part);
    let component = |name: &str| {
        let path = command.suite.examples.join(name);
        if !path.is_file() {
            bail!(
                "the component {} does not exist (build the examples with ./scripts/build-examples, or pass --examples)",
                path.display()
            );
        }
        Ok(path)
    };
    let state_component = if wants(StatePart::Kv) || wants(StatePart::Timers) {
        Some(component(STATE_COMPONENT)?)
    } else {
        None
    };
    let broadcast_component = if wants(StatePart::Tail) {
        Some(component(BROADCAST_COMPONENT)?)
    } else {
        None
    };
    let mut failures = Vec::new();

    let (mut kv_cases, mut kv_summary) = (Vec::new(), None);
    if let (true, Some(path)) = (wants(StatePart::Kv), &state_component) {
        match kv::run(command, path) {
            Ok(part) => {
                eprintln!("{}", kv_line(&part.summary));
                kv_cases = part.cases;
                kv_summary = Some(part.summary);
            }
            Err(error) => failures.push(format!("kv: {error:#}")),
        }
    }

    let mut timer_runs = Vec::new();
    if let (true, Some(path)) = (wants(StatePart::Timers), &state_component) {
        match run_timers(command, path) {
            Ok(runs) => timer_runs = runs,
            Err(error) => failures.push(format!("timers: {error:#}")),
        }
    }
    for run in &timer_runs {
        let name = format!("timers {} ({:?}, run {})", run.case, run.side, run.round);
        if let Some(error) = &run.error {
            failures.push(format!("{name}: {error}"));
        }
        if run.missed > 0 || run.duplicated > 0 {
            failures.push(format!(
                "{name}: {} firings due were missed, {} came twice",
                run.missed, run.duplicated
            ));
        }
    }
    let timer_comparisons = if wants(StatePart::Timers) {
        timers::CASES
            .iter()
            .map(|case| timers::compare(case, &timer_runs))
            .collect()
    } else {
        Vec::new()
    };

    let mut tail_runs = Vec::new();
    if let (true, Some(path)) = (wants(StatePart::Tail), &broadcast_component) {
        tail_runs = tail::run(command, path);
    }
    for run in &tail_runs {
        let name = format!("tail {} (via {:?}, run {})", run.case, run.via, run.round);
        match (&run.report, &run.error) {
            (Some(report), _) if !report.passed => {
                failures.push(format!("{name}: {}", report.failures.join("; ")));
            }
            (_, Some(error)) => failures.push(format!("{name}: {error}")),
            _ => {}
        }
    }
    let tail_comparisons = if wants(StatePart::Tail) {
        tail::CASES
            .iter()
            .map(|case| tail::compare(case, &tail_runs))
            .collect()
    } else {
        Vec::new()
    };

    let report = StateReport {
        scenario: "state",
        settings: StateSettings {
            duration_s: command.duration,
            warmup_s: command.warmup,
            repeat: command.repeat,
            kv_messages: command.kv_messages,
            server: command.suite.switchboard.display().to_string(),
            examples: command.suite.examples.display().to_string(),
            parts: [StatePart::Kv, StatePart::Timers, StatePart::Tail]
                .into_iter()
                .filter(|&part| wants(part))
                .collect(),
            server_core: (!command.suite.placement.no_pin)
                .then_some(command.suite.placement.server_core),
            client_core: (!command.suite.placement.no_pin)
                .then_some(command.suite.placement.client_core),
        },
        kv: kv_cases,
        kv_summary,
        timers: timer_runs,
        timer_comparisons,
        tail: tail_runs,
        tail_comparisons,
        elapsed_s: started.elapsed().as_secs_f64(),
        passed: failures.is_empty(),
        failures,
    };
    report::write_json(&report, &command.json)?;
    Ok(report)
}

/// The timers part: one server, each side of each case once per round.
fn run_timers(
    command: &StateCommand,
    component: &std::path::Path,
) -> anyhow::Result<Vec<timers::TimerRun>> {
    let target = Target {
        switchboard: command.suite.switchboard.clone(),
        app: Some(component.to_path_buf()),
        url: None,
        server_pid: None,
        placement: command.suite.placement,
    };
    let subject = Subject::open(
        &target,
        kv::ROUTE,
        &App::Wasm(component.to_path_buf()),
        None,
    )?;
    subject::pin_bench(&command.suite.placement)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    let duration = Duration::from_secs(command.duration);
    let core = subject::server_core(&command.suite.placement)?;
    let url = subject.url.clone();
    let runs = runtime.block_on(async {
        let mut runs = Vec::new();
        for case in &timers::CASES {
            let sides = [
                timers::TimerSide::Host,
                timers::TimerSide::Floor,
                timers::TimerSide::FloorBatch,
            ];
            for (round, side) in schedule(&sides, command.repeat) {
                let run = timers::run_side(&url, case, side, round, duration, core).await;
                eprintln!("{}", timer_progress(case, &run));
                runs.push(run);
            }
        }
        runs
    });
    if let Some(failure) = subject.stop() {
        bail!("{failure}");
    }
    Ok(runs)
}

fn timer_progress(case: &timers::TimerCase, run: &timers::TimerRun) -> String {
    let what = format!("timers, {} ({:?}, run {})", case.title, run.side, run.round);
    match (&run.lateness_us, &run.error) {
        (_, Some(error)) => format!("{what}: could not run: {error}"),
        (Some(l), None) => format!(
            "{what}: {} firings ({:.0}/s), late p50 {:.0} µs, p99 {:.0} µs, max {:.0} µs; {} missed, {} twice",
            run.firings, run.firings_per_s, l.p50, l.p99, l.max, run.missed, run.duplicated
        ),
        (None, None) => format!("{what}: nothing fired"),
    }
}

fn kv_line(s: &kv::KvSummary) -> String {
    format!(
        "kv from a guest, {}-byte values, {} keys, µs per operation: get {} (attachment {}: {}x; the store called directly {}: {}x), set buffered {} (attachment {}: {}x; directly {}: {}x), set sync {} ({}x buffered; directly {}: {}x; directly at the normal policy rather than the app thread's SCHED_BATCH {}: batch/normal {}x); empty message {} µs round trip; medians of {} cycles",
        s.value_bytes,
        s.keys,
        optional(s.get_us, 2),
        optional(s.attach_get_us, 2),
        optional(s.get_over_attach, 2),
        optional(s.direct_get_us, 2),
        optional(s.get_over_direct, 2),
        optional(s.set_buffered_us, 2),
        optional(s.attach_set_us, 2),
        optional(s.set_buffered_over_attach, 2),
        optional(s.direct_set_buffered_us, 2),
        optional(s.set_buffered_over_direct, 2),
        optional(s.set_sync_us, 1),
        optional(s.sync_over_buffered, 0),
        optional(s.direct_set_sync_us, 1),
        optional(s.set_sync_over_direct, 2),
        optional(s.direct_set_sync_normal_policy_us, 1),
        optional(s.sync_batch_over_normal_policy, 2),
        optional(s.empty_round_trip_us, 0),
        s.cycles
    )
}

impl StateReport {
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
        if let Some(s) = &self.kv_summary {
            let _ = writeln!(out, "{}", kv_line(s));
            for case in &self.kv {
                if case.operations == 0 {
                    continue;
                }
                let _ = writeln!(
                    out,
                    "  {}, {}: {} per batch, {} µs a batch, {} µs per operation (quartiles {}-{})",
                    case.op_name(),
                    case.durability.name(),
                    case.operations,
                    optional(case.round_trip_us, 0),
                    optional(case.us_per_op, 3),
                    optional(case.us_per_op_p25, 3),
                    optional(case.us_per_op_p75, 3)
                );
            }
        }
        for c in &self.timer_comparisons {
            let _ = writeln!(
                out,
                "timers, {}: late p50 {} µs, p99 {} µs, max {} µs through the host ({} firings/s; the way to the bench about {} µs of it); tokio intervals on the server's core p50 {} µs, p99 {} µs, max {} µs; host/floor p50 {}x (rounds {}), p99 {}x (rounds {}); the floor at the app thread's SCHED_BATCH p50 {} µs, p99 {} µs, max {} µs, host over it p50 {}x, p99 {}x",
                c.title,
                optional(c.host_p50_us, 0),
                optional(c.host_p99_us, 0),
                optional(c.host_max_us, 0),
                optional(c.host_firings_per_s, 0),
                optional(c.delivery_us, 0),
                optional(c.floor_p50_us, 0),
                optional(c.floor_p99_us, 0),
                optional(c.floor_max_us, 0),
                optional(c.p50_ratio, 2),
                rounds(&c.p50_per_round),
                optional(c.p99_ratio, 2),
                rounds(&c.p99_per_round),
                optional(c.floor_batch_p50_us, 0),
                optional(c.floor_batch_p99_us, 0),
                optional(c.floor_batch_max_us, 0),
                optional(c.p50_over_batch_floor, 2),
                optional(c.p99_over_batch_floor, 2)
            );
        }
        for c in &self.tail_comparisons {
            let _ = writeln!(
                out,
                "tail to {} subscribers, {}-byte lines, {}: feed {} lines/s (p50 {} µs, p99 {} µs, server {} µs/line); client through the topic {} lines/s (p50 {} µs, p99 {} µs, server {} µs/line); feed/topic {}x lines/s (rounds {}), {}x p50, {}x server µs/line; checks {}",
                tail::SUBSCRIBERS,
                tail::LINE_BYTES,
                c.title,
                optional(c.feed.lines_per_s, 0),
                optional(c.feed.p50_us, 0),
                optional(c.feed.p99_us, 0),
                optional(c.feed.server_cpu_us_per_line, 1),
                optional(c.topic.lines_per_s, 0),
                optional(c.topic.p50_us, 0),
                optional(c.topic.p99_us, 0),
                optional(c.topic.server_cpu_us_per_line, 1),
                optional(c.lines_per_s_ratio, 2),
                rounds(&c.lines_per_s_per_round),
                optional(c.p50_ratio, 2),
                optional(c.server_cpu_us_per_line_ratio, 2),
                if c.feed.passed && c.topic.passed {
                    "pass"
                } else {
                    "FAIL"
                }
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

impl kv::KvCase {
    fn op_name(&self) -> &'static str {
        match self.op {
            kv::Op::None => "nothing",
            kv::Op::AttachGet => "attachment get",
            kv::Op::KvGet => "kv get",
            kv::Op::AttachSet => "attachment set",
            kv::Op::KvSet => "kv set",
            kv::Op::DirectGet => "direct get",
            kv::Op::DirectSet => "direct set",
            kv::Op::DirectSetNormalPolicy => "direct set at the normal policy",
        }
    }
}
