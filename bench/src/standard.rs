//! The standard set: the cases our performance claims rest on, each run
//! against the Wasm app and against the host's built-in (native) version of
//! the same app, in one command. Running both sides in the same run, on the
//! same machine and the same host build, is what makes their ratio mean
//! something: figures from different days differ by more than the Wasm
//! sandbox costs.
//!
//! Every run starts its own server, so no case inherits another's memory,
//! connections or warm caches. A run that cannot happen (a missing
//! component, a host without built-in apps) is reported and the set goes on:
//! one missing side should not hide the others. The goals from the issue
//! are printed beside the numbers and never fail the run.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::broadcast::{self, BroadcastReport};
use crate::cli::{
    BroadcastCommand, CaseKind, Common, ConnectCommand, Native, Rate, StandardCommand, SwapArgs,
    Target,
};
use crate::connect::{self, ConnectReport};
use crate::report::{self, PhaseResult, Report};
use crate::{EXIT_CANNOT_RUN, EXIT_FAILED, EXIT_PASSED, echo};

/// Goals from the issue (informational).
const ECHO_CPU_RATIO_GOAL: f64 = 1.1;
const ECHO_P99_RATIO_GOAL: f64 = 1.2;
const ECHO_CPU_US_GOAL: f64 = 5.0;
const BROADCAST_RATE_RATIO_GOAL: f64 = 0.95;

/// The case the echo goals are about, and the broadcast and memory ones.
const ECHO_GOAL_CASE: &str = "echo-64-text-100";
const BROADCAST_GOAL_CASE: &str = "broadcast-1000";
const CONNECT_GOAL_CASE: &str = "connect-10000";

/// Idle connections of the connect case, and how long they are held.
const IDLE_CONNECTIONS: usize = 10_000;
const IDLE_HOLD_S: u64 = 3;
/// Handshakes in flight for the connect case (see `connect --concurrency`).
const IDLE_CONCURRENCY: usize = 100;
/// Connections of the swap case: the swap scenario's standard.
const SWAP_CONNECTIONS: usize = 100;
/// One swap a second, the swap scenario's standard.
const SWAP_EVERY_MS: u64 = 1000;

/// One case of the set.
struct Case {
    id: &'static str,
    title: &'static str,
    work: Work,
}

enum Work {
    Echo {
        connections: usize,
        size: usize,
        binary: bool,
    },
    Broadcast {
        subscribers: usize,
    },
    Connect,
    Swap,
}

impl Case {
    fn kind(&self) -> CaseKind {
        match self.work {
            Work::Echo { .. } => CaseKind::Echo,
            Work::Broadcast { .. } => CaseKind::Broadcast,
            Work::Connect => CaseKind::Connect,
            Work::Swap => CaseKind::Swap,
        }
    }

    /// Swapping is replacing a component: there is no native side.
    fn sides(&self) -> &'static [Side] {
        match self.work {
            Work::Swap => &[Side::Wasm],
            _ => &[Side::Wasm, Side::Native],
        }
    }
}

/// The set, in the order it runs and prints.
fn cases() -> Vec<Case> {
    let echo = |id, title, connections, size, binary| Case {
        id,
        title,
        work: Work::Echo {
            connections,
            size,
            binary,
        },
    };
    vec![
        echo("echo-64-text-1", "echo 64 B text, 1 conn", 1, 64, false),
        echo(
            "echo-64-text-100",
            "echo 64 B text, 100 conns",
            100,
            64,
            false,
        ),
        echo(
            "echo-64-text-1000",
            "echo 64 B text, 1000 conns",
            1000,
            64,
            false,
        ),
        echo(
            "echo-16k-binary-100",
            "echo 16 KiB binary, 100 conns",
            100,
            16 * 1024,
            true,
        ),
        Case {
            id: "broadcast-100",
            title: "broadcast 64 B to 100",
            work: Work::Broadcast { subscribers: 100 },
        },
        Case {
            id: BROADCAST_GOAL_CASE,
            title: "broadcast 64 B to 1000",
            work: Work::Broadcast { subscribers: 1000 },
        },
        Case {
            id: CONNECT_GOAL_CASE,
            title: "connect 10000 idle",
            work: Work::Connect,
        },
        Case {
            id: "swap-100",
            title: "swap every 1 s, 100 conns",
            work: Work::Swap,
        },
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Wasm,
    Native,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Wasm => "wasm",
            Side::Native => "native",
        }
    }
}

/// One scenario's report, whichever scenario it was.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Outcome {
    /// Echo or swap.
    Echo(Report),
    Broadcast(BroadcastReport),
    Connect(ConnectReport),
}

impl Outcome {
    fn passed(&self) -> bool {
        match self {
            Outcome::Echo(report) => report.passed,
            Outcome::Broadcast(report) => report.passed,
            Outcome::Connect(report) => report.passed,
        }
    }

    fn failures(&self) -> &[String] {
        match self {
            Outcome::Echo(report) => &report.failures,
            Outcome::Broadcast(report) => &report.failures,
            Outcome::Connect(report) => &report.failures,
        }
    }

    /// The measured traffic: echo's only phase (swap's first, quiet one),
    /// broadcast's window.
    fn traffic(&self) -> Option<&PhaseResult> {
        match self {
            Outcome::Echo(report) => report.phases.first(),
            Outcome::Broadcast(report) => Some(&report.measured),
            Outcome::Connect(_) => None,
        }
    }

    fn connect(&self) -> Option<&ConnectReport> {
        match self {
            Outcome::Connect(report) => Some(report),
            _ => None,
        }
    }

    fn table(&self) -> String {
        match self {
            Outcome::Echo(report) => report.table(),
            Outcome::Broadcast(report) => report.table(),
            Outcome::Connect(report) => report.table(),
        }
    }
}

/// One side of one case.
#[derive(Debug, Serialize)]
pub struct Run {
    pub case: &'static str,
    pub title: &'static str,
    #[serde(skip)]
    kind: CaseKind,
    pub side: Side,
    /// The scenario's own report, as `switchboard-bench SCENARIO --json`
    /// writes it; absent when the run could not happen.
    pub report: Option<Outcome>,
    /// Why the run could not happen.
    pub error: Option<String>,
}

/// Wasm over native for one case (each `None` when a side is missing or
/// the native figure is zero).
#[derive(Debug, Serialize)]
pub struct Comparison {
    pub case: &'static str,
    pub title: &'static str,
    /// Replies (echo) or deliveries (broadcast) per second.
    pub msgs_per_s_ratio: Option<f64>,
    pub p99_ratio: Option<f64>,
    pub server_cpu_us_per_msg_ratio: Option<f64>,
    pub connections_per_s_ratio: Option<f64>,
    pub handshake_p99_ratio: Option<f64>,
    pub wasm_rss_per_connection_kib: Option<f64>,
    pub native_rss_per_connection_kib: Option<f64>,
    pub rss_per_connection_ratio: Option<f64>,
}

/// A goal from the issue, checked against this run.
#[derive(Debug, Serialize)]
pub struct Goal {
    pub case: &'static str,
    pub goal: String,
    /// What this run measured, in the goal's terms.
    pub value: Option<f64>,
    pub limit: f64,
    /// Of value and limit: `x` (a ratio), `µs`, `ms`, `KiB`.
    pub unit: &'static str,
    /// `None` when a side needed for it did not run.
    pub met: Option<bool>,
}

#[derive(Debug, Serialize)]
pub struct Saturation {
    pub case: &'static str,
    pub side: Side,
    pub client_cpu_share: f64,
}

/// A run meant to measure the server at saturation whose server core was
/// not saturated.
#[derive(Debug, Serialize)]
pub struct Unsaturated {
    pub case: &'static str,
    pub side: Side,
    pub server_cpu_share: f64,
}

#[derive(Debug, Serialize)]
pub struct StandardSettings {
    pub duration_s: u64,
    pub warmup_s: u64,
    pub server: String,
    pub examples: String,
    pub server_core: Option<usize>,
    pub client_core: Option<usize>,
    pub only: Vec<String>,
    /// Where this report was written.
    pub json: String,
}

#[derive(Debug, Serialize)]
pub struct StandardReport {
    pub scenario: &'static str,
    pub settings: StandardSettings,
    pub runs: Vec<Run>,
    pub comparisons: Vec<Comparison>,
    pub goals: Vec<Goal>,
    /// Runs where the bench's core was the bottleneck.
    pub saturated: Vec<Saturation>,
    /// Closed-loop broadcast runs (meant to saturate the server) whose
    /// server core was busy less than `report::SATURATED` of the time.
    pub server_unsaturated: Vec<Unsaturated>,
    /// Every run happened and passed its checks.
    pub passed: bool,
    /// `case (side): failure`, for runs whose checks failed.
    pub failures: Vec<String>,
    /// `case (side): why`, for runs that could not happen.
    pub could_not_run: Vec<String>,
}

/// Run the set, print progress on stderr, write the JSON.
pub fn run(command: &StandardCommand) -> anyhow::Result<StandardReport> {
    let selected: Vec<Case> = cases()
        .into_iter()
        .filter(|case| command.only.is_empty() || command.only.contains(&case.kind()))
        .collect();
    let total: usize = selected.iter().map(|case| case.sides().len()).sum();
    let mut runs = Vec::with_capacity(total);
    for case in &selected {
        for &side in case.sides() {
            eprint!(
                "[{}/{total}] {} ({}) ... ",
                runs.len() + 1,
                case.title,
                side.name()
            );
            let run = run_one(command, case, side);
            eprintln!("{}", progress(&run));
            if command.verbose
                && let Some(report) = &run.report
            {
                eprintln!("{}", report.table());
            }
            runs.push(run);
        }
    }

    let comparisons = selected
        .iter()
        .filter_map(|case| compare(case, &runs))
        .collect();
    let goals = goals(&runs);
    let saturated = saturated(&runs);
    let server_unsaturated = server_unsaturated(&runs);
    let mut failures = Vec::new();
    let mut could_not_run = Vec::new();
    for run in &runs {
        let label = format!("{} ({})", run.title, run.side.name());
        match (&run.report, &run.error) {
            (Some(report), _) => failures.extend(
                report
                    .failures()
                    .iter()
                    .map(|failure| format!("{label}: {failure}")),
            ),
            (None, Some(error)) => could_not_run.push(format!("{label}: {error}")),
            (None, None) => could_not_run.push(format!("{label}: no result")),
        }
    }
    let pinned = !command.placement.no_pin;
    let report = StandardReport {
        scenario: "standard",
        settings: StandardSettings {
            duration_s: command.duration,
            warmup_s: command.warmup,
            server: command.switchboard.display().to_string(),
            examples: command.examples.display().to_string(),
            server_core: pinned.then_some(command.placement.server_core),
            client_core: pinned.then_some(command.placement.client_core),
            only: command
                .only
                .iter()
                .map(|kind| format!("{kind:?}").to_lowercase())
                .collect(),
            json: command.json.display().to_string(),
        },
        passed: failures.is_empty()
            && could_not_run.is_empty()
            && runs
                .iter()
                .all(|run| run.report.as_ref().is_some_and(Outcome::passed)),
        runs,
        comparisons,
        goals,
        saturated,
        server_unsaturated,
        failures,
        could_not_run,
    };
    report::write_json(&report, &command.json)?;
    Ok(report)
}

/// Run one side of one case with the scenario's own code, as its
/// subcommand would.
fn run_one(command: &StandardCommand, case: &Case, side: Side) -> Run {
    let native = side == Side::Native;
    let example = match case.work {
        Work::Broadcast { .. } => "broadcast",
        _ => "echo",
    };
    let target = Target {
        switchboard: command.switchboard.clone(),
        app: (!native).then(|| example_path(&command.examples, example)),
        url: None,
        server_pid: None,
        placement: command.placement,
    };
    let echo_traffic = |connections, size, binary| Common {
        connections,
        size,
        binary,
        depth: 1,
        duration: command.duration,
        warmup: command.warmup,
        json: None,
        target: target.clone(),
    };
    let outcome = match case.work {
        Work::Echo {
            connections,
            size,
            binary,
        } => echo::run(&echo_traffic(connections, size, binary), native, None).map(Outcome::Echo),
        Work::Swap => {
            let swap = SwapArgs {
                swap_every_ms: SWAP_EVERY_MS,
                swap_component: None,
                admin_url: None,
                admin_token: None,
                app_name: None,
            };
            echo::run(
                &echo_traffic(SWAP_CONNECTIONS, 64, false),
                false,
                Some(&swap),
            )
            .map(Outcome::Echo)
        }
        Work::Broadcast { subscribers } => broadcast::run(&BroadcastCommand {
            subscribers,
            // At saturation: the goal compares what each side can deliver.
            rate: Rate::Max,
            window: None,
            size: 64,
            binary: false,
            duration: command.duration,
            warmup: command.warmup,
            json: None,
            native: Native { native },
            target: target.clone(),
        })
        .map(Outcome::Broadcast),
        Work::Connect => connect::run(&ConnectCommand {
            connections: IDLE_CONNECTIONS,
            concurrency: IDLE_CONCURRENCY,
            hold: IDLE_HOLD_S,
            json: None,
            native: Native { native },
            target: target.clone(),
        })
        .map(Outcome::Connect),
    };
    let (report, error) = match outcome {
        Ok(report) => (Some(report), None),
        Err(error) => (None, Some(format!("{error:#}"))),
    };
    Run {
        case: case.id,
        title: case.title,
        kind: case.kind(),
        side,
        report,
        error,
    }
}

fn example_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.wasm"))
}

/// The one-line progress note after a run.
fn progress(run: &Run) -> String {
    let Some(report) = &run.report else {
        return format!(
            "could not run: {}",
            run.error.as_deref().unwrap_or("no result")
        );
    };
    let verdict = if report.passed() { "pass" } else { "FAIL" };
    match report {
        Outcome::Connect(connect) => format!(
            "{:.0} conns/s, {} KiB/conn, {verdict}",
            connect.connections_per_s,
            optional(connect.rss_per_connection_kib, 2)
        ),
        _ => match report.traffic() {
            Some(phase) => format!(
                "{:.0} msgs/s, {} server µs/msg, p99 {:.0} µs, {verdict}",
                phase.msgs_per_s,
                optional(phase.server_cpu_us_per_msg, 2),
                phase.latency_us.p99
            ),
            None => verdict.to_string(),
        },
    }
}

fn optional(value: Option<f64>, precision: usize) -> String {
    match value {
        Some(value) => format!("{value:.precision$}"),
        None => "-".to_string(),
    }
}

/// `a / b`, when both exist and `b` is positive.
fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 && a.is_finite() && b.is_finite() => Some(a / b),
        _ => None,
    }
}

/// The report of one side of a case, if it ran.
fn find<'a>(runs: &'a [Run], case: &str, side: Side) -> Option<&'a Outcome> {
    runs.iter()
        .find(|run| run.case == case && run.side == side)
        .and_then(|run| run.report.as_ref())
}

fn compare(case: &Case, runs: &[Run]) -> Option<Comparison> {
    if case.sides().len() < 2 {
        return None;
    }
    let wasm = find(runs, case.id, Side::Wasm);
    let native = find(runs, case.id, Side::Native);
    let (wasm_traffic, native_traffic) = (
        wasm.and_then(Outcome::traffic),
        native.and_then(Outcome::traffic),
    );
    let of =
        |phase: Option<&PhaseResult>, pick: fn(&PhaseResult) -> Option<f64>| phase.and_then(pick);
    let (wasm_connect, native_connect) = (
        wasm.and_then(Outcome::connect),
        native.and_then(Outcome::connect),
    );
    let rss = |report: Option<&ConnectReport>| report.and_then(|r| r.rss_per_connection_kib);
    Some(Comparison {
        case: case.id,
        title: case.title,
        msgs_per_s_ratio: ratio(
            of(wasm_traffic, |p| Some(p.msgs_per_s)),
            of(native_traffic, |p| Some(p.msgs_per_s)),
        ),
        p99_ratio: ratio(
            of(wasm_traffic, |p| Some(p.latency_us.p99)),
            of(native_traffic, |p| Some(p.latency_us.p99)),
        ),
        server_cpu_us_per_msg_ratio: ratio(
            of(wasm_traffic, |p| p.server_cpu_us_per_msg),
            of(native_traffic, |p| p.server_cpu_us_per_msg),
        ),
        connections_per_s_ratio: ratio(
            wasm_connect.map(|r| r.connections_per_s),
            native_connect.map(|r| r.connections_per_s),
        ),
        handshake_p99_ratio: ratio(
            wasm_connect.map(|r| r.handshake_us.p99),
            native_connect.map(|r| r.handshake_us.p99),
        ),
        wasm_rss_per_connection_kib: rss(wasm_connect),
        native_rss_per_connection_kib: rss(native_connect),
        rss_per_connection_ratio: ratio(rss(wasm_connect), rss(native_connect)),
    })
}

/// The goals, against this run.
fn goals(runs: &[Run]) -> Vec<Goal> {
    let mut goals = Vec::new();
    let traffic = |case, side| find(runs, case, side).and_then(Outcome::traffic);
    let at_most = |value: Option<f64>, limit: f64| value.map(|value| value <= limit);

    if runs.iter().any(|run| run.case == ECHO_GOAL_CASE) {
        let (wasm, native) = (
            traffic(ECHO_GOAL_CASE, Side::Wasm),
            traffic(ECHO_GOAL_CASE, Side::Native),
        );
        let cpu = |phase: Option<&PhaseResult>| phase.and_then(|p| p.server_cpu_us_per_msg);
        let p99 = |phase: Option<&PhaseResult>| phase.map(|p| p.latency_us.p99);
        let cpu_ratio = ratio(cpu(wasm), cpu(native));
        goals.push(Goal {
            case: ECHO_GOAL_CASE,
            goal: format!("Wasm server CPU per message <= {ECHO_CPU_RATIO_GOAL}x native"),
            value: cpu_ratio,
            limit: ECHO_CPU_RATIO_GOAL,
            unit: "x",
            met: at_most(cpu_ratio, ECHO_CPU_RATIO_GOAL),
        });
        let p99_ratio = ratio(p99(wasm), p99(native));
        goals.push(Goal {
            case: ECHO_GOAL_CASE,
            goal: format!("Wasm p99 <= {ECHO_P99_RATIO_GOAL}x native"),
            value: p99_ratio,
            limit: ECHO_P99_RATIO_GOAL,
            unit: "x",
            met: at_most(p99_ratio, ECHO_P99_RATIO_GOAL),
        });
        goals.push(Goal {
            case: ECHO_GOAL_CASE,
            goal: format!("Wasm server CPU per message <= ~{ECHO_CPU_US_GOAL} µs"),
            value: cpu(wasm),
            limit: ECHO_CPU_US_GOAL,
            unit: "µs",
            met: at_most(cpu(wasm), ECHO_CPU_US_GOAL),
        });
    }

    if runs.iter().any(|run| run.case == BROADCAST_GOAL_CASE) {
        let rate = |side| traffic(BROADCAST_GOAL_CASE, side).map(|p| p.msgs_per_s);
        let rate_ratio = ratio(rate(Side::Wasm), rate(Side::Native));
        let wasm_lost = match find(runs, BROADCAST_GOAL_CASE, Side::Wasm) {
            Some(Outcome::Broadcast(report)) => Some(report.checks.lost),
            _ => None,
        };
        goals.push(Goal {
            case: BROADCAST_GOAL_CASE,
            goal: format!(
                "Wasm delivered msgs/s >= {BROADCAST_RATE_RATIO_GOAL}x native, nothing lost"
            ),
            value: rate_ratio,
            limit: BROADCAST_RATE_RATIO_GOAL,
            unit: "x",
            met: match (rate_ratio, wasm_lost) {
                (Some(ratio), Some(lost)) => Some(ratio >= BROADCAST_RATE_RATIO_GOAL && lost == 0),
                _ => None,
            },
        });
    }

    if runs.iter().any(|run| run.case == CONNECT_GOAL_CASE) {
        let kib = match find(runs, CONNECT_GOAL_CASE, Side::Wasm) {
            Some(Outcome::Connect(report)) => report.rss_per_connection_kib,
            _ => None,
        };
        goals.push(Goal {
            case: CONNECT_GOAL_CASE,
            goal: format!(
                "Wasm server memory per idle connection <= {} KiB",
                connect::RSS_PER_CONNECTION_GOAL_KIB
            ),
            value: kib,
            limit: connect::RSS_PER_CONNECTION_GOAL_KIB,
            unit: "KiB",
            met: at_most(kib, connect::RSS_PER_CONNECTION_GOAL_KIB),
        });
    }

    for run in runs {
        if let Some(Outcome::Echo(report)) = &run.report
            && let Some(swap) = &report.swap
        {
            goals.push(Goal {
                case: run.case,
                goal: format!("p99 while swapping <= {}x p99 without", swap.goal_p99_ratio),
                value: Some(swap.ratio_p99),
                limit: swap.goal_p99_ratio,
                unit: "x",
                met: Some(swap.goal_p99_ratio_met),
            });
            goals.push(Goal {
                case: run.case,
                goal: format!("max while swapping < {} ms", swap.goal_max_ms),
                value: report.phases.last().map(|p| p.latency_us.max / 1000.0),
                limit: swap.goal_max_ms,
                unit: "ms",
                met: Some(swap.goal_max_met),
            });
        }
    }
    goals
}

/// Runs where the bench's core was saturated, so their throughput is the
/// bench's.
fn saturated(runs: &[Run]) -> Vec<Saturation> {
    let mut saturated = Vec::new();
    for run in runs {
        let share = match &run.report {
            Some(Outcome::Echo(report)) => report
                .phases
                .iter()
                .filter(|phase| phase.client_saturated)
                .map(|phase| phase.client_cpu_share)
                .reduce(f64::max),
            Some(Outcome::Broadcast(report)) => report
                .measured
                .client_saturated
                .then_some(report.measured.client_cpu_share),
            Some(Outcome::Connect(report)) => report
                .client_saturated
                .then_some(report.client_cpu_share_opening),
            None => None,
        };
        if let Some(client_cpu_share) = share {
            saturated.push(Saturation {
                case: run.case,
                side: run.side,
                client_cpu_share,
            });
        }
    }
    saturated
}

/// Closed-loop broadcast runs whose server was not saturated: their
/// deliveries/s are not the server's capacity.
fn server_unsaturated(runs: &[Run]) -> Vec<Unsaturated> {
    runs.iter()
        .filter_map(|run| match &run.report {
            Some(Outcome::Broadcast(report))
                if report.settings.rate.is_none()
                    && report.measured.server_saturated == Some(false) =>
            {
                Some(Unsaturated {
                    case: run.case,
                    side: run.side,
                    server_cpu_share: report.measured.server_cpu_share.unwrap_or(0.0),
                })
            }
            _ => None,
        })
        .collect()
}

impl StandardReport {
    /// 0 every run happened and passed, 1 some run failed its checks, 2 some
    /// run could not happen.
    pub fn status(&self) -> u8 {
        if !self.could_not_run.is_empty() {
            EXIT_CANNOT_RUN
        } else if self.passed {
            EXIT_PASSED
        } else {
            EXIT_FAILED
        }
    }

    /// The human view: traffic, connections, swap, ratios, goals, notes.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let s = &self.settings;
        let core = |core: Option<usize>| report::describe_core(core);
        let _ = writeln!(
            out,
            "switchboard-bench standard: each case against the Wasm app and the native baseline; {} s measured after {} s warm-up",
            s.duration_s, s.warmup_s
        );
        let _ = writeln!(
            out,
            "server: {} on {}; Wasm apps from {}; bench on {}",
            s.server,
            core(s.server_core),
            s.examples,
            core(s.client_core)
        );
        self.traffic_table(&mut out);
        self.connect_table(&mut out);
        self.swap_lines(&mut out);
        self.goal_lines(&mut out);

        if !self.saturated.is_empty() {
            let _ = writeln!(out);
            let _ = writeln!(
                out,
                "note: the bench's core was saturated (so msgs/s or conns/s there measure the bench, not the server) in:"
            );
            for saturation in &self.saturated {
                let _ = writeln!(
                    out,
                    "  {} ({}): {:.0}% busy",
                    self.title_of(saturation.case),
                    saturation.side.name(),
                    saturation.client_cpu_share * 100.0
                );
            }
        }
        if !self.server_unsaturated.is_empty() {
            let _ = writeln!(out);
            let _ = writeln!(
                out,
                "note: broadcast runs as fast as the server fans out, yet the server's core was under {:.0}% busy (so its msgs/s are not the server's capacity) in:",
                report::SATURATED * 100.0
            );
            for unsaturated in &self.server_unsaturated {
                let _ = writeln!(
                    out,
                    "  {} ({}): {:.0}% busy",
                    self.title_of(unsaturated.case),
                    unsaturated.side.name(),
                    unsaturated.server_cpu_share * 100.0
                );
            }
        }
        let _ = writeln!(out);
        for line in &self.could_not_run {
            let _ = writeln!(out, "could not run: {line}");
        }
        if self.passed {
            let _ = writeln!(out, "PASS");
        } else if self.failures.is_empty() {
            let _ = writeln!(out, "FAIL: not every run happened");
        } else {
            let _ = writeln!(out, "FAIL: {}", self.failures.join("; "));
        }
        let _ = writeln!(
            out,
            "every run's own report, and all of the above: {}",
            self.settings.json
        );
        out
    }

    fn title_of(&self, case: &str) -> &'static str {
        self.runs
            .iter()
            .find(|run| run.case == case)
            .map_or("?", |run| run.title)
    }

    fn comparison(&self, case: &str) -> Option<&Comparison> {
        self.comparisons
            .iter()
            .find(|comparison| comparison.case == case)
    }

    fn traffic_table(&self, out: &mut String) {
        let traffic: Vec<&Run> = self
            .runs
            .iter()
            .filter(|run| matches!(run.kind, CaseKind::Echo | CaseKind::Broadcast))
            .collect();
        if traffic.is_empty() {
            return;
        }
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "traffic: a msg is a reply (echo) or a delivery to one subscriber (broadcast, as fast as the server fans out); ratio rows are the Wasm figure over the native one; saturated: which core was at least {:.0}% busy",
            report::SATURATED * 100.0
        );
        let _ = writeln!(
            out,
            "{:<30} {:<8} {:>10} {:>9} {:>9} {:>9} {:>9} {:>13} {:>10} {:>10} {:>10}  checks",
            "case",
            "side",
            "msgs/s",
            "p50 µs",
            "p99 µs",
            "p99.9 µs",
            "max µs",
            "server µs/msg",
            "server cpu",
            "client cpu",
            "saturated",
        );
        let mut previous_case = "";
        for run in traffic {
            let title = if run.case == previous_case {
                ""
            } else {
                run.title
            };
            previous_case = run.case;
            let phase = run.report.as_ref().and_then(Outcome::traffic);
            match (phase, &run.report) {
                (Some(p), Some(report)) => {
                    let l = &p.latency_us;
                    let _ = writeln!(
                        out,
                        "{:<30} {:<8} {:>10.0} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>13} {:>10} {:>9.0}% {:>10}  {}",
                        title,
                        run.side.name(),
                        p.msgs_per_s,
                        l.p50,
                        l.p99,
                        l.p999,
                        l.max,
                        optional(p.server_cpu_us_per_msg, 2),
                        p.server_cpu_share
                            .map_or("-".to_string(), |share| format!("{:.0}%", share * 100.0)),
                        p.client_cpu_share * 100.0,
                        saturated_word(p),
                        checks_word(report)
                    );
                }
                _ => {
                    let _ = writeln!(
                        out,
                        "{:<30} {:<8} could not run (see below)",
                        title,
                        run.side.name(),
                    );
                }
            }
            if run.side == Side::Native
                && let Some(comparison) = self.comparison(run.case)
            {
                let x = |value: Option<f64>| match value {
                    Some(value) => format!("{value:.2}x"),
                    None => "-".to_string(),
                };
                let _ = writeln!(
                    out,
                    "{:<30} {:<8} {:>10} {:>9} {:>9} {:>9} {:>9} {:>13}",
                    "",
                    "ratio",
                    x(comparison.msgs_per_s_ratio),
                    "",
                    x(comparison.p99_ratio),
                    "",
                    "",
                    x(comparison.server_cpu_us_per_msg_ratio)
                );
            }
        }
    }

    fn connect_table(&self, out: &mut String) {
        let connects: Vec<&Run> = self
            .runs
            .iter()
            .filter(|run| run.kind == CaseKind::Connect)
            .collect();
        if connects.is_empty() {
            return;
        }
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{:<30} {:<8} {:>10} {:>14} {:>9} {:>9} {:>14} {:>11} {:>10} {:>9}  checks",
            "connections (idle)",
            "side",
            "conns/s",
            "handshake p50",
            "p99 µs",
            "max µs",
            "server µs/conn",
            "RSS before",
            "RSS open",
            "KiB/conn",
        );
        let mut previous_case = "";
        for run in connects {
            let title = if run.case == previous_case {
                ""
            } else {
                run.title
            };
            previous_case = run.case;
            match &run.report {
                Some(outcome @ Outcome::Connect(report)) => {
                    let h = &report.handshake_us;
                    let mib = |kib: Option<u64>| match kib {
                        Some(kib) => format!("{:.1} MiB", kib as f64 / 1024.0),
                        None => "-".to_string(),
                    };
                    let _ = writeln!(
                        out,
                        "{:<30} {:<8} {:>10.0} {:>11.1} µs {:>9.1} {:>9.1} {:>14} {:>11} {:>10} {:>9}  {}",
                        title,
                        run.side.name(),
                        report.connections_per_s,
                        h.p50,
                        h.p99,
                        h.max,
                        optional(report.server_cpu_us_per_connection, 1),
                        mib(report.rss_before_kib),
                        mib(report.rss_open_kib),
                        optional(report.rss_per_connection_kib, 2),
                        checks_word(outcome)
                    );
                }
                _ => {
                    let _ = writeln!(
                        out,
                        "{:<30} {:<8} could not run (see below)",
                        title,
                        run.side.name()
                    );
                }
            }
            if run.side == Side::Native
                && let Some(comparison) = self.comparison(run.case)
            {
                let x = |value: Option<f64>| match value {
                    Some(value) => format!("{value:.2}x"),
                    None => "-".to_string(),
                };
                let _ = writeln!(
                    out,
                    "{:<30} {:<8} {:>10} {:>14} {:>9} {:>9} {:>14} {:>11} {:>10} {:>9}",
                    "",
                    "ratio",
                    x(comparison.connections_per_s_ratio),
                    "",
                    x(comparison.handshake_p99_ratio),
                    "",
                    "",
                    "",
                    "",
                    x(comparison.rss_per_connection_ratio)
                );
            }
        }
    }

    fn swap_lines(&self, out: &mut String) {
        for run in self.runs.iter().filter(|run| run.kind == CaseKind::Swap) {
            let _ = writeln!(out);
            match &run.report {
                Some(outcome @ Outcome::Echo(report)) => {
                    let phase = |index: usize| report.phases.get(index);
                    let p99 = |index: usize| phase(index).map(|p| p.latency_us.p99);
                    let max_ms = phase(1).map(|p| p.latency_us.max / 1000.0);
                    let (swaps, failed) = report
                        .swap
                        .as_ref()
                        .map_or((0, 0), |swap| (swap.swaps, swap.failed));
                    let _ = writeln!(
                        out,
                        "{} (wasm only): p99 {} µs without swaps, {} µs swapping; max swapping {} ms; {swaps} swaps, {failed} failed; checks {}",
                        run.title,
                        optional(p99(0), 0),
                        optional(p99(1), 0),
                        optional(max_ms, 1),
                        checks_word(outcome)
                    );
                }
                _ => {
                    let _ = writeln!(out, "{} (wasm only): could not run (see below)", run.title);
                }
            }
        }
    }

    fn goal_lines(&self, out: &mut String) {
        if self.goals.is_empty() {
            return;
        }
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "goals (from the issue; informational, never a failure):"
        );
        for goal in &self.goals {
            let value = match (goal.value, goal.unit) {
                (Some(value), "x") => format!("{value:.2}x"),
                (Some(value), unit) => format!("{value:.2} {unit}"),
                (None, _) => "-".to_string(),
            };
            let met = match goal.met {
                Some(true) => "met",
                Some(false) => "NOT met",
                None => "not measured",
            };
            let _ = writeln!(
                out,
                "  {}: {}: {value}, {met}",
                self.title_of(goal.case),
                goal.goal
            );
        }
        // The reference the memory goal is judged against.
        if let Some(comparison) = self.comparison(CONNECT_GOAL_CASE)
            && let Some(native) = comparison.native_rss_per_connection_kib
        {
            let _ = writeln!(
                out,
                "  ({}: native {native:.2} KiB per idle connection, for reference)",
                self.title_of(CONNECT_GOAL_CASE)
            );
        }
    }
}

/// Which core was the limit: `server`, `bench`, `both`, `neither` (`-`
/// when the server's share is unknown).
fn saturated_word(phase: &PhaseResult) -> &'static str {
    match (phase.server_saturated, phase.client_saturated) {
        (Some(true), true) => "both",
        (Some(true), false) => "server",
        (_, true) => "bench",
        (Some(false), false) => "neither",
        (None, false) => "-",
    }
}

/// `pass`, or `FAIL` with the first reason.
fn checks_word(outcome: &Outcome) -> String {
    match outcome.failures().first() {
        None => "pass".to_string(),
        Some(first) => format!("FAIL: {first}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_case_has_a_unique_id_and_the_goal_cases_exist() {
        let cases = cases();
        let mut ids: Vec<&str> = cases.iter().map(|case| case.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), cases.len());
        for goal_case in [ECHO_GOAL_CASE, BROADCAST_GOAL_CASE, CONNECT_GOAL_CASE] {
            assert!(ids.contains(&goal_case), "{goal_case}");
        }
    }

    #[test]
    fn the_set_is_fifteen_runs() {
        let runs: usize = cases().iter().map(|case| case.sides().len()).sum();
        assert_eq!(runs, 15);
    }

    #[test]
    fn ratios_need_both_sides_and_a_positive_divisor() {
        assert_eq!(ratio(Some(3.0), Some(2.0)), Some(1.5));
        assert_eq!(ratio(Some(3.0), Some(0.0)), None);
        assert_eq!(ratio(None, Some(2.0)), None);
        assert_eq!(ratio(Some(f64::NAN), Some(2.0)), None);
    }
}
