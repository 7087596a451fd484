//! The standard set: the cases our performance claims rest on, each run
//! against the Wasm app and against the host's built-in (native) version of
//! the same app, in one command. Running both sides in the same run, on the
//! same machine and the same host build, is what makes their ratio mean
//! something: figures from different days differ by more than the Wasm
//! sandbox costs.
//!
//! Even runs minutes apart differ by 10-20% on a noisy machine, more than
//! the 5-10% the goals are about, so each side of each case runs several
//! times (`--repeat`), interleaved (wasm, native; native, wasm; ...) so
//! that drift in the machine hits both sides alike. The table shows each
//! side's medians and the spread of its headline figure; ratios and goals
//! are computed from the medians; every run stays in the JSON. The echo
//! goal case also runs against bare-echo, a WebSocket echo server with no
//! host at all: the floor that the kernel and the frame layer cost.
//!
//! Every run starts its own server, so no case inherits another's memory,
//! connections or warm caches. A run that cannot happen (a missing
//! component, a host without built-in apps) is reported and the set goes on:
//! one missing side should not hide the others. The goals from the issue
//! are printed beside the numbers and never fail the run; any run's failed
//! check fails the set.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use crate::broadcast::{self, BroadcastReport};
use crate::cli::{
    BroadcastCommand, CaseKind, Common, ConnectCommand, Native, Rate, StandardCommand, SwapArgs,
    Target, Via,
};
use crate::connect::{self, ConnectReport};
use crate::report::{self, Latency, PhaseResult, Report};
use crate::subject::App;
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
/// The case also measured against the floor server: the echo goal's, so
/// the floor shows how much of the figures the goals judge is not the
/// host's.
const FLOOR_CASE: &str = ECHO_GOAL_CASE;

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

    /// Swapping is replacing a component: there is no native side. The
    /// floor case also runs against the floor server.
    fn sides(&self) -> &'static [Side] {
        match self.work {
            Work::Swap => &[Side::Wasm],
            _ if self.id == FLOOR_CASE => &[Side::Wasm, Side::Native, Side::Floor],
            _ => &[Side::Wasm, Side::Native],
        }
    }

    /// How many times each side runs. Swap compares its two phases within
    /// one run, against no other side: once is enough.
    fn rounds(&self, repeat: usize) -> usize {
        match self.work {
            Work::Swap => 1,
            _ => repeat,
        }
    }

    /// The order of this case's runs, as (round, from 1; side): each side
    /// once per round, in reverse order every other round (wasm, native;
    /// native, wasm; ...), so that neither side always goes first into a
    /// machine that is warming up, cooling down or busy with something else.
    fn schedule(&self, repeat: usize) -> Vec<(usize, Side)> {
        (1..=self.rounds(repeat))
            .flat_map(|round| {
                let mut sides = self.sides().to_vec();
                if round % 2 == 0 {
                    sides.reverse();
                }
                sides.into_iter().map(move |side| (round, side))
            })
            .collect()
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
    /// bare-echo: no host, only the kernel and the WebSocket frame layer.
    Floor,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Wasm => "wasm",
            Side::Native => "native",
            Side::Floor => "floor",
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

/// One run of one side of one case.
#[derive(Debug, Serialize)]
pub struct Run {
    pub case: &'static str,
    pub title: &'static str,
    #[serde(skip)]
    kind: CaseKind,
    pub side: Side,
    /// Which of the case's rounds, from 1.
    pub repeat: usize,
    /// How many rounds the case has.
    #[serde(skip)]
    rounds: usize,
    /// The scenario's own report, as `switchboard-bench SCENARIO --json`
    /// writes it; absent when the run could not happen.
    pub report: Option<Outcome>,
    /// Why the run could not happen.
    pub error: Option<String>,
}

impl Run {
    /// `echo 64 B text, 100 conns (wasm, run 2)`; without the run when the
    /// case runs once.
    fn label(&self) -> String {
        format!("{} ({})", self.title, self.which())
    }

    /// `wasm, run 2`, or `wasm` when the case runs once.
    fn which(&self) -> String {
        if self.rounds > 1 {
            format!("{}, run {}", self.side.name(), self.repeat)
        } else {
            self.side.name().to_string()
        }
    }
}

/// One side of one case over its runs: the median of each figure (of the
/// runs that gave one), and the lowest and highest headline figure.
#[derive(Debug, Serialize)]
pub struct Median {
    pub case: &'static str,
    pub title: &'static str,
    #[serde(skip)]
    kind: CaseKind,
    pub side: Side,
    /// Runs that gave figures, of `attempted`.
    pub runs: usize,
    pub attempted: usize,
    /// Every attempted run happened and passed its checks.
    pub passed: bool,
    /// `pass`, or what went wrong first, for the table.
    #[serde(skip)]
    checks: String,
    /// Echo and broadcast: the measured phase.
    pub traffic: Option<TrafficMedian>,
    /// Connect.
    pub connect: Option<ConnectMedian>,
    /// The headline figures: server µs per message (echo); delivered
    /// msgs/s and server µs per delivery (broadcast); KiB per connection
    /// (connect).
    pub spread: Vec<Spread>,
}

/// Medians of a phase's figures (see `PhaseResult`). Each latency
/// percentile is the median of the runs' own percentiles.
#[derive(Debug, Serialize)]
pub struct TrafficMedian {
    pub msgs_per_s: f64,
    pub latency_us: Latency,
    pub server_cpu_us_per_msg: Option<f64>,
    pub server_cpu_share: Option<f64>,
    pub client_cpu_us_per_msg: f64,
    pub client_cpu_share: f64,
}

/// Medians of a connect report's figures (see `ConnectReport`).
#[derive(Debug, Serialize)]
pub struct ConnectMedian {
    pub connections_per_s: f64,
    pub handshake_us: Latency,
    pub server_cpu_us_per_connection: Option<f64>,
    pub rss_before_kib: Option<f64>,
    pub rss_open_kib: Option<f64>,
    pub rss_per_connection_kib: Option<f64>,
}

/// The lowest and highest value of one figure over a side's runs.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Spread {
    /// The figure's name in the runs' own reports.
    pub figure: &'static str,
    pub min: f64,
    pub max: f64,
}

/// Medians compared: Wasm over native for one case (each `None` when a side
/// is missing or the divisor is zero), and for the floor case each host
/// side over the floor.
#[derive(Debug, Serialize)]
pub struct Comparison {
    pub case: &'static str,
    pub title: &'static str,
    /// Replies (echo) or deliveries (broadcast) per second, p99 latency,
    /// server CPU per message.
    #[serde(flatten)]
    pub traffic: TrafficRatios,
    pub connections_per_s_ratio: Option<f64>,
    pub handshake_p99_ratio: Option<f64>,
    pub wasm_rss_per_connection_kib: Option<f64>,
    pub native_rss_per_connection_kib: Option<f64>,
    pub rss_per_connection_ratio: Option<f64>,
    /// The Wasm side's figures over the floor's (floor case only).
    pub wasm_over_floor: Option<TrafficRatios>,
    /// The native side's figures over the floor's (floor case only).
    pub native_over_floor: Option<TrafficRatios>,
}

#[derive(Debug, Serialize)]
pub struct TrafficRatios {
    pub msgs_per_s_ratio: Option<f64>,
    pub p99_ratio: Option<f64>,
    pub server_cpu_us_per_msg_ratio: Option<f64>,
}

/// A goal from the issue, checked against this run.
#[derive(Debug, Serialize)]
pub struct Goal {
    pub case: &'static str,
    pub goal: String,
    /// What this set measured, in the goal's terms, from the medians.
    pub value: Option<f64>,
    pub limit: f64,
    /// Of value and limit: `x` (a ratio), `µs`, `ms`, `KiB`.
    pub unit: &'static str,
    /// `None` when a side needed for it did not run.
    pub met: Option<bool>,
    /// For Wasm/native ratio goals: the ratio within each round (whose two
    /// runs ran back to back), where both runs gave the figure. Empty for
    /// other goals.
    pub per_round: Vec<f64>,
}

#[derive(Debug, Serialize)]
pub struct Saturation {
    pub case: &'static str,
    pub side: Side,
    pub repeat: usize,
    pub client_cpu_share: f64,
}

/// A run meant to measure the server at saturation whose server core was
/// not saturated.
#[derive(Debug, Serialize)]
pub struct Unsaturated {
    pub case: &'static str,
    pub side: Side,
    pub repeat: usize,
    pub server_cpu_share: f64,
}

#[derive(Debug, Serialize)]
pub struct StandardSettings {
    pub duration_s: u64,
    pub warmup_s: u64,
    /// Runs of each side of each case (swap: one).
    pub repeat: usize,
    pub server: String,
    pub examples: String,
    /// The floor server.
    pub bare_echo: String,
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
    /// Every run, in the order they ran.
    pub runs: Vec<Run>,
    /// Each side of each case (but swap) over its runs.
    pub medians: Vec<Median>,
    pub comparisons: Vec<Comparison>,
    pub goals: Vec<Goal>,
    /// Runs where the bench's core was the bottleneck.
    pub saturated: Vec<Saturation>,
    /// Closed-loop broadcast runs (meant to saturate the server) whose
    /// server core was busy less than `report::SATURATED` of the time.
    pub server_unsaturated: Vec<Unsaturated>,
    /// Wall time of the whole set.
    pub elapsed_s: f64,
    /// Every run happened and passed its checks.
    pub passed: bool,
    /// `case (side, run N): failure`, for runs whose checks failed.
    pub failures: Vec<String>,
    /// `case (side, run N): why`, for runs that could not happen.
    pub could_not_run: Vec<String>,
}

/// Run the set, print progress on stderr, write the JSON.
pub fn run(command: &StandardCommand) -> anyhow::Result<StandardReport> {
    let started = Instant::now();
    let selected: Vec<Case> = cases()
        .into_iter()
        .filter(|case| command.only.is_empty() || command.only.contains(&case.kind()))
        .collect();
    let bare_echo = command.bare_echo.clone().unwrap_or_else(default_bare_echo);
    let plan: Vec<(&Case, usize, Side)> = selected
        .iter()
        .flat_map(|case| {
            case.schedule(command.repeat)
                .into_iter()
                .map(move |(round, side)| (case, round, side))
        })
        .collect();
    let total = plan.len();
    let mut runs = Vec::with_capacity(total);
    for (case, round, side) in plan {
        let rounds = case.rounds(command.repeat);
        let of = if rounds > 1 {
            format!(", run {round}/{rounds}")
        } else {
            String::new()
        };
        eprint!(
            "[{}/{total}] {} ({}{of}) ... ",
            runs.len() + 1,
            case.title,
            side.name()
        );
        let run = run_one(command, &bare_echo, case, side, round);
        eprintln!("{}", progress(&run));
        if command.verbose
            && let Some(report) = &run.report
        {
            eprintln!("{}", report.table());
        }
        runs.push(run);
    }

    let medians: Vec<Median> = selected
        .iter()
        .filter(|case| case.kind() != CaseKind::Swap)
        .flat_map(|case| {
            case.sides()
                .iter()
                .map(|&side| summarize(case, side, &runs))
        })
        .collect();
    let comparisons = selected
        .iter()
        .filter_map(|case| compare(case, &medians))
        .collect();
    let goals = goals(&runs, &medians);
    let saturated = saturated(&runs);
    let server_unsaturated = server_unsaturated(&runs);
    let mut failures = Vec::new();
    let mut could_not_run = Vec::new();
    for run in &runs {
        let label = run.label();
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
    let pinned = !command.suite.placement.no_pin;
    let report = StandardReport {
        scenario: "standard",
        settings: StandardSettings {
            duration_s: command.duration,
            warmup_s: command.warmup,
            repeat: command.repeat,
            server: command.suite.switchboard.display().to_string(),
            examples: command.suite.examples.display().to_string(),
            bare_echo: bare_echo.display().to_string(),
            server_core: pinned.then_some(command.suite.placement.server_core),
            client_core: pinned.then_some(command.suite.placement.client_core),
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
        medians,
        comparisons,
        goals,
        saturated,
        server_unsaturated,
        elapsed_s: started.elapsed().as_secs_f64(),
        failures,
        could_not_run,
    };
    report::write_json(&report, &command.json)?;
    Ok(report)
}

/// bare-echo is a binary of this package, so cargo puts it beside this
/// one; `target/release/bare-echo` if this one's path is unknown.
pub(crate) fn default_bare_echo() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("bare-echo")))
        .unwrap_or_else(|| PathBuf::from("target/release/bare-echo"))
}

/// Run one side of one case with the scenario's own code, as its
/// subcommand would.
fn run_one(
    command: &StandardCommand,
    bare_echo: &Path,
    case: &Case,
    side: Side,
    round: usize,
) -> Run {
    let native = side == Side::Native;
    let example = match case.work {
        Work::Broadcast { .. } => "broadcast",
        _ => "echo",
    };
    let target = Target {
        switchboard: command.suite.switchboard.clone(),
        app: (side == Side::Wasm).then(|| example_path(&command.suite.examples, example)),
        url: None,
        server_pid: None,
        placement: command.suite.placement,
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
    let outcome = match (&case.work, side) {
        (
            &Work::Echo {
                connections,
                size,
                binary,
            },
            _,
        ) => {
            let app = match side {
                Side::Wasm => App::Wasm(example_path(&command.suite.examples, example)),
                Side::Native => App::Native("echo"),
                Side::Floor => App::Floor(bare_echo.to_path_buf()),
            };
            echo::run_app(&echo_traffic(connections, size, binary), app, None).map(Outcome::Echo)
        }
        (_, Side::Floor) => Err(anyhow::anyhow!("the floor server only echoes")),
        (Work::Swap, _) => {
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
        (&Work::Broadcast { subscribers }, _) => broadcast::run(&BroadcastCommand {
            subscribers,
            // At saturation: the goal compares what each side can deliver.
            rate: Some(Rate::Max),
            window: None,
            stalled: 0,
            max_outbox_bytes: 1 << 20,
            repeat: 1,
            size: 64,
            binary: false,
            via: Via::Broadcast,
            compression: false,
            duration: command.duration,
            warmup: command.warmup,
            json: None,
            native: Native { native },
            target: target.clone(),
        })
        .map(Outcome::Broadcast),
        (Work::Connect, _) => connect::run(&ConnectCommand {
            connections: IDLE_CONNECTIONS,
            concurrency: IDLE_CONCURRENCY,
            hold: IDLE_HOLD_S,
            subscribe: None,
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
        repeat: round,
        rounds: case.rounds(command.repeat),
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

pub(crate) fn optional(value: Option<f64>, precision: usize) -> String {
    match value {
        Some(value) => format!("{value:.precision$}"),
        None => "-".to_string(),
    }
}

/// `a / b`, when both exist and `b` is positive.
pub(crate) fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 && a.is_finite() && b.is_finite() => Some(a / b),
        _ => None,
    }
}

/// The median of the finite values; the mean of the middle two for an
/// even count; `None` for none.
pub(crate) fn median(values: impl IntoIterator<Item = f64>) -> Option<f64> {
    let mut values: Vec<f64> = values.into_iter().filter(|v| v.is_finite()).collect();
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.len() % 2 == 1 {
        values.get(middle).copied()
    } else {
        Some((values.get(middle.checked_sub(1)?)? + values.get(middle)?) / 2.0)
    }
}

/// The lowest and highest of the finite values.
pub(crate) fn spread(
    figure: &'static str,
    values: impl IntoIterator<Item = f64>,
) -> Option<Spread> {
    values
        .into_iter()
        .filter(|v| v.is_finite())
        .fold(None, |range: Option<(f64, f64)>, value| match range {
            None => Some((value, value)),
            Some((min, max)) => Some((min.min(value), max.max(value))),
        })
        .map(|(min, max)| Spread { figure, min, max })
}

/// The median of each latency figure; `None` without latencies.
fn latency_median(latencies: &[&Latency]) -> Option<Latency> {
    let of = |pick: fn(&Latency) -> f64| median(latencies.iter().map(|l| pick(l)));
    Some(Latency {
        p50: of(|l| l.p50)?,
        p99: of(|l| l.p99)?,
        p999: of(|l| l.p999)?,
        max: of(|l| l.max)?,
        mean: of(|l| l.mean)?,
    })
}

fn traffic_median(phases: &[&PhaseResult]) -> Option<TrafficMedian> {
    let of = |pick: fn(&PhaseResult) -> Option<f64>| median(phases.iter().filter_map(|p| pick(p)));
    let latencies: Vec<&Latency> = phases.iter().map(|p| &p.latency_us).collect();
    Some(TrafficMedian {
        msgs_per_s: of(|p| Some(p.msgs_per_s))?,
        latency_us: latency_median(&latencies)?,
        server_cpu_us_per_msg: of(|p| p.server_cpu_us_per_msg),
        server_cpu_share: of(|p| p.server_cpu_share),
        client_cpu_us_per_msg: of(|p| Some(p.client_cpu_us_per_msg))?,
        client_cpu_share: of(|p| Some(p.client_cpu_share))?,
    })
}

fn connect_median(reports: &[&ConnectReport]) -> Option<ConnectMedian> {
    let of =
        |pick: fn(&ConnectReport) -> Option<f64>| median(reports.iter().filter_map(|r| pick(r)));
    let latencies: Vec<&Latency> = reports.iter().map(|r| &r.handshake_us).collect();
    Some(ConnectMedian {
        connections_per_s: of(|r| Some(r.connections_per_s))?,
        handshake_us: latency_median(&latencies)?,
        server_cpu_us_per_connection: of(|r| r.server_cpu_us_per_connection),
        rss_before_kib: of(|r| r.rss_before_kib.map(|kib| kib as f64)),
        rss_open_kib: of(|r| r.rss_open_kib.map(|kib| kib as f64)),
        rss_per_connection_kib: of(|r| r.rss_per_connection_kib),
    })
}

/// One side of one case over its runs.
fn summarize(case: &Case, side: Side, runs: &[Run]) -> Median {
    let mine: Vec<&Run> = runs
        .iter()
        .filter(|run| run.case == case.id && run.side == side)
        .collect();
    let reports: Vec<&Outcome> = mine.iter().filter_map(|run| run.report.as_ref()).collect();
    let phases: Vec<&PhaseResult> = reports.iter().filter_map(|r| r.traffic()).collect();
    let connects: Vec<&ConnectReport> = reports.iter().filter_map(|r| r.connect()).collect();
    let cpu = || phases.iter().filter_map(|p| p.server_cpu_us_per_msg);
    let spread = match case.kind() {
        CaseKind::Echo => vec![spread("server_cpu_us_per_msg", cpu())],
        CaseKind::Broadcast => vec![
            spread("msgs_per_s", phases.iter().map(|p| p.msgs_per_s)),
            spread("server_cpu_us_per_msg", cpu()),
        ],
        CaseKind::Connect => vec![spread(
            "rss_per_connection_kib",
            connects.iter().filter_map(|r| r.rss_per_connection_kib),
        )],
        CaseKind::Swap => Vec::new(),
    };
    // What went wrong first: a failed check, else a run that did not happen.
    let failed = mine.iter().find_map(|run| {
        let report = run.report.as_ref()?;
        let first = report.failures().first()?;
        Some(format!("FAIL ({}): {first}", run.which()))
    });
    let missing = mine
        .iter()
        .find(|run| run.report.is_none())
        .map(|run| format!("({}) could not run", run.which()));
    let checks = failed.or(missing).unwrap_or_else(|| "pass".to_string());
    Median {
        case: case.id,
        title: case.title,
        kind: case.kind(),
        side,
        runs: reports.len(),
        attempted: mine.len(),
        passed: !mine.is_empty()
            && mine
                .iter()
                .all(|run| run.report.as_ref().is_some_and(Outcome::passed)),
        checks,
        traffic: traffic_median(&phases),
        connect: connect_median(&connects),
        spread: spread.into_iter().flatten().collect(),
    }
}

/// The summary of one side of a case, if it has one.
fn median_of<'a>(medians: &'a [Median], case: &str, side: Side) -> Option<&'a Median> {
    medians
        .iter()
        .find(|median| median.case == case && median.side == side)
}

fn traffic_ratios(a: Option<&TrafficMedian>, b: Option<&TrafficMedian>) -> TrafficRatios {
    let of = |t: Option<&TrafficMedian>, pick: fn(&TrafficMedian) -> Option<f64>| t.and_then(pick);
    TrafficRatios {
        msgs_per_s_ratio: ratio(of(a, |t| Some(t.msgs_per_s)), of(b, |t| Some(t.msgs_per_s))),
        p99_ratio: ratio(
            of(a, |t| Some(t.latency_us.p99)),
            of(b, |t| Some(t.latency_us.p99)),
        ),
        server_cpu_us_per_msg_ratio: ratio(
            of(a, |t| t.server_cpu_us_per_msg),
            of(b, |t| t.server_cpu_us_per_msg),
        ),
    }
}

fn compare(case: &Case, medians: &[Median]) -> Option<Comparison> {
    if case.sides().len() < 2 {
        return None;
    }
    let side = |side| median_of(medians, case.id, side);
    fn traffic(median: Option<&Median>) -> Option<&TrafficMedian> {
        median.and_then(|m| m.traffic.as_ref())
    }
    fn connect(median: Option<&Median>) -> Option<&ConnectMedian> {
        median.and_then(|m| m.connect.as_ref())
    }
    let (wasm, native) = (side(Side::Wasm), side(Side::Native));
    let floor = case
        .sides()
        .contains(&Side::Floor)
        .then(|| traffic(side(Side::Floor)));
    let rss = |c: Option<&ConnectMedian>| c.and_then(|c| c.rss_per_connection_kib);
    Some(Comparison {
        case: case.id,
        title: case.title,
        traffic: traffic_ratios(traffic(wasm), traffic(native)),
        connections_per_s_ratio: ratio(
            connect(wasm).map(|c| c.connections_per_s),
            connect(native).map(|c| c.connections_per_s),
        ),
        handshake_p99_ratio: ratio(
            connect(wasm).map(|c| c.handshake_us.p99),
            connect(native).map(|c| c.handshake_us.p99),
        ),
        wasm_rss_per_connection_kib: rss(connect(wasm)),
        native_rss_per_connection_kib: rss(connect(native)),
        rss_per_connection_ratio: ratio(rss(connect(wasm)), rss(connect(native))),
        wasm_over_floor: floor.map(|floor| traffic_ratios(traffic(wasm), floor)),
        native_over_floor: floor.map(|floor| traffic_ratios(traffic(native), floor)),
    })
}

/// The report of one run, if it happened.
fn find<'a>(runs: &'a [Run], case: &str, side: Side, round: usize) -> Option<&'a Outcome> {
    runs.iter()
        .find(|run| run.case == case && run.side == side && run.repeat == round)
        .and_then(|run| run.report.as_ref())
}

/// Wasm over native within each round of a case, where both runs gave the
/// figure.
fn per_round(runs: &[Run], case: &str, pick: fn(&PhaseResult) -> Option<f64>) -> Vec<f64> {
    let rounds = runs
        .iter()
        .filter(|run| run.case == case)
        .map(|run| run.repeat)
        .max()
        .unwrap_or(0);
    (1..=rounds)
        .filter_map(|round| {
            let figure = |side| {
                find(runs, case, side, round)
                    .and_then(Outcome::traffic)
                    .and_then(pick)
            };
            ratio(figure(Side::Wasm), figure(Side::Native))
        })
        .collect()
}

/// The goals, against the medians.
fn goals(runs: &[Run], medians: &[Median]) -> Vec<Goal> {
    let mut goals = Vec::new();
    let traffic = |case, side| median_of(medians, case, side).and_then(|m| m.traffic.as_ref());
    let at_most = |value: Option<f64>, limit: f64| value.map(|value| value <= limit);

    if runs.iter().any(|run| run.case == ECHO_GOAL_CASE) {
        let (wasm, native) = (
            traffic(ECHO_GOAL_CASE, Side::Wasm),
            traffic(ECHO_GOAL_CASE, Side::Native),
        );
        let ratios = traffic_ratios(wasm, native);
        let cpu_ratio = ratios.server_cpu_us_per_msg_ratio;
        goals.push(Goal {
            case: ECHO_GOAL_CASE,
            goal: format!("Wasm server CPU per message <= {ECHO_CPU_RATIO_GOAL}x native"),
            value: cpu_ratio,
            limit: ECHO_CPU_RATIO_GOAL,
            unit: "x",
            met: at_most(cpu_ratio, ECHO_CPU_RATIO_GOAL),
            per_round: per_round(runs, ECHO_GOAL_CASE, |p| p.server_cpu_us_per_msg),
        });
        let p99_ratio = ratios.p99_ratio;
        goals.push(Goal {
            case: ECHO_GOAL_CASE,
            goal: format!("Wasm p99 <= {ECHO_P99_RATIO_GOAL}x native"),
            value: p99_ratio,
            limit: ECHO_P99_RATIO_GOAL,
            unit: "x",
            met: at_most(p99_ratio, ECHO_P99_RATIO_GOAL),
            per_round: per_round(runs, ECHO_GOAL_CASE, |p| Some(p.latency_us.p99)),
        });
        let cpu = wasm.and_then(|t| t.server_cpu_us_per_msg);
        goals.push(Goal {
            case: ECHO_GOAL_CASE,
            goal: format!("Wasm server CPU per message <= ~{ECHO_CPU_US_GOAL} µs"),
            value: cpu,
            limit: ECHO_CPU_US_GOAL,
            unit: "µs",
            met: at_most(cpu, ECHO_CPU_US_GOAL),
            per_round: Vec::new(),
        });
    }

    if runs.iter().any(|run| run.case == BROADCAST_GOAL_CASE) {
        let rate_ratio = traffic_ratios(
            traffic(BROADCAST_GOAL_CASE, Side::Wasm),
            traffic(BROADCAST_GOAL_CASE, Side::Native),
        )
        .msgs_per_s_ratio;
        // Lost in any Wasm run; unknown if no Wasm run gave its checks.
        let wasm_lost = runs
            .iter()
            .filter(|run| run.case == BROADCAST_GOAL_CASE && run.side == Side::Wasm)
            .filter_map(|run| match &run.report {
                Some(Outcome::Broadcast(report)) => Some(report.checks.lost),
                _ => None,
            })
            .reduce(|a, b| a + b);
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
            per_round: per_round(runs, BROADCAST_GOAL_CASE, |p| Some(p.msgs_per_s)),
        });
    }

    if runs.iter().any(|run| run.case == CONNECT_GOAL_CASE) {
        let kib = median_of(medians, CONNECT_GOAL_CASE, Side::Wasm)
            .and_then(|m| m.connect.as_ref())
            .and_then(|c| c.rss_per_connection_kib);
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
            per_round: Vec::new(),
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
                per_round: Vec::new(),
            });
            goals.push(Goal {
                case: run.case,
                goal: format!("max while swapping < {} ms", swap.goal_max_ms),
                value: report.phases.last().map(|p| p.latency_us.max / 1000.0),
                limit: swap.goal_max_ms,
                unit: "ms",
                met: Some(swap.goal_max_met),
                per_round: Vec::new(),
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
                repeat: run.repeat,
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
                    repeat: run.repeat,
                    server_cpu_share: report.measured.server_cpu_share.unwrap_or(0.0),
                })
            }
            _ => None,
        })
        .collect()
}

/// `-` and `1.06x`.
pub(crate) fn times(value: Option<f64>) -> String {
    match value {
        Some(value) => format!("{value:.2}x"),
        None => "-".to_string(),
    }
}

/// `107k-135k` deliveries per second.
fn thousands(spread: &Spread) -> String {
    format!("{:.0}k–{:.0}k", spread.min / 1000.0, spread.max / 1000.0)
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
        let runs = if s.repeat == 1 {
            "one run of each side".to_string()
        } else {
            format!("{} runs of each side, interleaved (swap: one)", s.repeat)
        };
        let _ = writeln!(
            out,
            "switchboard-bench standard: each case against the Wasm app and the native baseline, {runs}; {} s measured after {} s warm-up",
            s.duration_s, s.warmup_s
        );
        let _ = writeln!(
            out,
            "server: {} on {}; Wasm apps from {}; floor: {}; bench on {}",
            s.server,
            core(s.server_core),
            s.examples,
            s.bare_echo,
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
            let shares: Vec<(&'static str, Side, usize, f64)> = self
                .saturated
                .iter()
                .map(|s| (s.case, s.side, s.repeat, s.client_cpu_share))
                .collect();
            self.busy_lines(&mut out, &shares);
        }
        if !self.server_unsaturated.is_empty() {
            let _ = writeln!(out);
            let _ = writeln!(
                out,
                "note: broadcast runs as fast as the server fans out, yet the server's core was under {:.0}% busy (so its msgs/s are not the server's capacity) in:",
                report::SATURATED * 100.0
            );
            let shares: Vec<(&'static str, Side, usize, f64)> = self
                .server_unsaturated
                .iter()
                .map(|s| (s.case, s.side, s.repeat, s.server_cpu_share))
                .collect();
            self.busy_lines(&mut out, &shares);
        }
        let _ = writeln!(out);
        for line in &self.could_not_run {
            let _ = writeln!(out, "could not run: {line}");
        }
        if !self.passed && self.failures.is_empty() {
            let _ = writeln!(out, "FAIL: not every run happened");
        } else {
            report::write_verdict(&mut out, self.passed, &self.failures);
        }
        let _ = writeln!(
            out,
            "{} runs in {:.0} min {:.0} s; every run's own report, and all of the above: {}",
            self.runs.len(),
            (self.elapsed_s / 60.0).floor(),
            self.elapsed_s % 60.0,
            self.settings.json
        );
        out
    }

    /// One line per case and side: `title (side): 89% (run 1), 88% (run 3)`.
    fn busy_lines(&self, out: &mut String, shares: &[(&'static str, Side, usize, f64)]) {
        let mut seen: Vec<(&str, Side)> = Vec::new();
        for &(case, side, _, _) in shares {
            if seen.contains(&(case, side)) {
                continue;
            }
            seen.push((case, side));
            let list: Vec<String> = shares
                .iter()
                .filter(|s| s.0 == case && s.1 == side)
                .map(|&(_, _, repeat, share)| {
                    if self.settings.repeat > 1 && self.kind_of(case) != Some(CaseKind::Swap) {
                        format!("{:.0}% (run {repeat})", share * 100.0)
                    } else {
                        format!("{:.0}%", share * 100.0)
                    }
                })
                .collect();
            let _ = writeln!(
                out,
                "  {} ({}): {} busy",
                self.title_of(case),
                side.name(),
                list.join(", ")
            );
        }
    }

    fn title_of(&self, case: &str) -> &'static str {
        self.runs
            .iter()
            .find(|run| run.case == case)
            .map_or("?", |run| run.title)
    }

    fn kind_of(&self, case: &str) -> Option<CaseKind> {
        self.runs
            .iter()
            .find(|run| run.case == case)
            .map(|run| run.kind)
    }

    fn comparison(&self, case: &str) -> Option<&Comparison> {
        self.comparisons
            .iter()
            .find(|comparison| comparison.case == case)
    }

    /// `wasm`, or `wasm (2/3)` when some of its runs gave no figures.
    fn side_label(median: &Median) -> String {
        if median.runs < median.attempted {
            format!(
                "{} ({}/{})",
                median.side.name(),
                median.runs,
                median.attempted
            )
        } else {
            median.side.name().to_string()
        }
    }

    /// The spreads of a side's headline figures, `-` from a single run.
    fn spread_text(median: &Median, format: impl Fn(&Spread) -> String) -> String {
        if median.runs < 2 {
            return "-".to_string();
        }
        let each: Vec<String> = median.spread.iter().map(format).collect();
        each.join(", ")
    }

    /// Whether `median` is the last side of its case in the table.
    fn last_of_case(&self, index: usize) -> bool {
        match (self.medians.get(index), self.medians.get(index + 1)) {
            (Some(this), Some(next)) => this.case != next.case,
            _ => true,
        }
    }

    fn traffic_table(&self, out: &mut String) {
        let traffic: Vec<(usize, &Median)> = self
            .medians
            .iter()
            .enumerate()
            .filter(|(_, m)| matches!(m.kind, CaseKind::Echo | CaseKind::Broadcast))
            .collect();
        if traffic.is_empty() {
            return;
        }
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "traffic: a msg is a reply (echo) or a delivery to one subscriber (broadcast, as fast as the server fans out)"
        );
        let _ = writeln!(
            out,
            "  each row: the median of that side's runs ({} each); spread: lowest–highest over those runs of server µs/msg (echo), of msgs/s and server µs/msg (broadcast)",
            self.settings.repeat
        );
        let _ = writeln!(
            out,
            "  ratio rows divide the medians: wasm/native (what the goals judge), wasm/floor and native/floor (over bare-echo: no host, only the kernel and the frame layer)"
        );
        let _ = writeln!(
            out,
            "  saturated: which core was at least {:.0}% busy (from the median shares)",
            report::SATURATED * 100.0
        );
        let _ = writeln!(
            out,
            "{:<30} {:<12} {:>10} {:>9} {:>9} {:>9} {:>9} {:>13} {:>10} {:>10} {:>10}  {:<24}  checks",
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
            "spread",
        );
        let mut previous_case = "";
        for (index, median) in traffic {
            let title = if median.case == previous_case {
                ""
            } else {
                median.title
            };
            previous_case = median.case;
            match &median.traffic {
                Some(t) => {
                    let l = &t.latency_us;
                    let server_saturated = t.server_cpu_share.map(|s| s >= report::SATURATED);
                    let client_saturated = t.client_cpu_share >= report::SATURATED;
                    let spread_text = Self::spread_text(median, |spread| match spread.figure {
                        "msgs_per_s" => thousands(spread),
                        _ => format!("{:.2}–{:.2}", spread.min, spread.max),
                    });
                    let _ = writeln!(
                        out,
                        "{:<30} {:<12} {:>10.0} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>13} {:>10} {:>9.0}% {:>10}  {:<24}  {}",
                        title,
                        Self::side_label(median),
                        t.msgs_per_s,
                        l.p50,
                        l.p99,
                        l.p999,
                        l.max,
                        optional(t.server_cpu_us_per_msg, 2),
                        t.server_cpu_share
                            .map_or("-".to_string(), |share| format!("{:.0}%", share * 100.0)),
                        t.client_cpu_share * 100.0,
                        saturated_word(server_saturated, client_saturated),
                        spread_text,
                        median.checks
                    );
                }
                None => {
                    let _ = writeln!(
                        out,
                        "{:<30} {:<12} could not run (see below)",
                        title,
                        median.side.name(),
                    );
                }
            }
            if self.last_of_case(index)
                && let Some(comparison) = self.comparison(median.case)
            {
                let mut ratio_row = |name: &str, ratios: &TrafficRatios| {
                    let _ = writeln!(
                        out,
                        "{:<30} {:<12} {:>10} {:>9} {:>9} {:>9} {:>9} {:>13}",
                        "",
                        name,
                        times(ratios.msgs_per_s_ratio),
                        "",
                        times(ratios.p99_ratio),
                        "",
                        "",
                        times(ratios.server_cpu_us_per_msg_ratio)
                    );
                };
                ratio_row("wasm/native", &comparison.traffic);
                if let Some(ratios) = &comparison.wasm_over_floor {
                    ratio_row("wasm/floor", ratios);
                }
                if let Some(ratios) = &comparison.native_over_floor {
                    ratio_row("native/floor", ratios);
                }
            }
        }
    }

    fn connect_table(&self, out: &mut String) {
        let connects: Vec<(usize, &Median)> = self
            .medians
            .iter()
            .enumerate()
            .filter(|(_, m)| m.kind == CaseKind::Connect)
            .collect();
        if connects.is_empty() {
            return;
        }
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{:<30} {:<12} {:>10} {:>14} {:>9} {:>9} {:>14} {:>11} {:>10} {:>9}  {:<13}  checks",
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
            "spread",
        );
        let mut previous_case = "";
        for (index, median) in connects {
            let title = if median.case == previous_case {
                ""
            } else {
                median.title
            };
            previous_case = median.case;
            match &median.connect {
                Some(c) => {
                    let h = &c.handshake_us;
                    let mib = |kib: Option<f64>| match kib {
                        Some(kib) => format!("{:.1} MiB", kib / 1024.0),
                        None => "-".to_string(),
                    };
                    let spread_text = Self::spread_text(median, |spread| {
                        format!("{:.2}–{:.2}", spread.min, spread.max)
                    });
                    let _ = writeln!(
                        out,
                        "{:<30} {:<12} {:>10.0} {:>11.1} µs {:>9.1} {:>9.1} {:>14} {:>11} {:>10} {:>9}  {:<13}  {}",
                        title,
                        Self::side_label(median),
                        c.connections_per_s,
                        h.p50,
                        h.p99,
                        h.max,
                        optional(c.server_cpu_us_per_connection, 1),
                        mib(c.rss_before_kib),
                        mib(c.rss_open_kib),
                        optional(c.rss_per_connection_kib, 2),
                        spread_text,
                        median.checks
                    );
                }
                None => {
                    let _ = writeln!(
                        out,
                        "{:<30} {:<12} could not run (see below)",
                        title,
                        median.side.name()
                    );
                }
            }
            if self.last_of_case(index)
                && let Some(comparison) = self.comparison(median.case)
            {
                let _ = writeln!(
                    out,
                    "{:<30} {:<12} {:>10} {:>14} {:>9} {:>9} {:>14} {:>11} {:>10} {:>9}",
                    "",
                    "wasm/native",
                    times(comparison.connections_per_s_ratio),
                    "",
                    times(comparison.handshake_p99_ratio),
                    "",
                    "",
                    "",
                    "",
                    times(comparison.rss_per_connection_ratio)
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
                        "{} (wasm only, one run): p99 {} µs without swaps, {} µs swapping; max swapping {} ms; {swaps} swaps, {failed} failed; checks {}",
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
            "goals (from the issue; informational, never a failure; judged on the medians):"
        );
        for goal in &self.goals {
            let value = match (goal.value, goal.unit) {
                (Some(value), "x") => format!("{value:.2}x"),
                (Some(value), unit) => format!("{value:.2} {unit}"),
                (None, _) => "-".to_string(),
            };
            let rounds = if goal.per_round.len() > 1 {
                let each: Vec<String> = goal
                    .per_round
                    .iter()
                    .map(|ratio| format!("{ratio:.2}x"))
                    .collect();
                format!(" (round by round: {})", each.join(", "))
            } else {
                String::new()
            };
            let met = match goal.met {
                Some(true) => "met",
                Some(false) => "NOT met",
                None => "not measured",
            };
            let _ = writeln!(
                out,
                "  {}: {}: {value}{rounds}, {met}",
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
fn saturated_word(server: Option<bool>, client: bool) -> &'static str {
    match (server, client) {
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
        for goal_case in [
            ECHO_GOAL_CASE,
            BROADCAST_GOAL_CASE,
            CONNECT_GOAL_CASE,
            FLOOR_CASE,
        ] {
            assert!(ids.contains(&goal_case), "{goal_case}");
        }
    }

    #[test]
    fn the_set_is_sixteen_runs_per_repeat_but_swap_runs_once() {
        let runs =
            |repeat| -> usize { cases().iter().map(|case| case.schedule(repeat).len()).sum() };
        // 7 cases of wasm and native, the floor in one, swap once.
        assert_eq!(runs(1), 16);
        assert_eq!(runs(3), 46);
    }

    #[test]
    fn sides_alternate_which_goes_first() {
        use Side::{Floor, Native, Wasm};
        let cases = cases();
        let find = |id| {
            cases
                .iter()
                .find(|case| case.id == id)
                .map(|c| c.schedule(3))
        };
        assert_eq!(
            find(BROADCAST_GOAL_CASE),
            Some(vec![
                (1, Wasm),
                (1, Native),
                (2, Native),
                (2, Wasm),
                (3, Wasm),
                (3, Native)
            ])
        );
        assert_eq!(
            find(FLOOR_CASE),
            Some(vec![
                (1, Wasm),
                (1, Native),
                (1, Floor),
                (2, Floor),
                (2, Native),
                (2, Wasm),
                (3, Wasm),
                (3, Native),
                (3, Floor)
            ])
        );
        assert_eq!(find("swap-100"), Some(vec![(1, Wasm)]));
    }

    #[test]
    fn medians_take_the_middle_or_the_mean_of_the_middle_two() {
        assert_eq!(median([3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median([4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median([7.0]), Some(7.0));
        assert_eq!(median([]), None);
        assert_eq!(median([f64::NAN, 5.0]), Some(5.0));
        let range = spread("x", [3.0, 1.0, f64::INFINITY, 2.0]);
        assert_eq!(range.map(|s| (s.min, s.max)), Some((1.0, 3.0)));
        assert!(spread("x", []).is_none());
    }

    #[test]
    fn ratios_need_both_sides_and_a_positive_divisor() {
        assert_eq!(ratio(Some(3.0), Some(2.0)), Some(1.5));
        assert_eq!(ratio(Some(3.0), Some(0.0)), None);
        assert_eq!(ratio(None, Some(2.0)), None);
        assert_eq!(ratio(Some(f64::NAN), Some(2.0)), None);
    }

    fn phase(msgs_per_s: f64, cpu: f64, p99: f64) -> PhaseResult {
        PhaseResult {
            name: "measured",
            seconds: 5.0,
            messages: (msgs_per_s * 5.0) as u64,
            msgs_per_s,
            latency_us: Latency {
                p50: p99 / 2.0,
                p99,
                p999: p99 * 2.0,
                max: p99 * 4.0,
                mean: p99 / 2.0,
            },
            server_cpu_us_per_msg: Some(cpu),
            server_cpu_share: Some(1.0),
            server_saturated: Some(true),
            client_cpu_us_per_msg: 1.0,
            client_cpu_share: 0.5,
            client_saturated: false,
        }
    }

    fn echo_run(side: Side, repeat: usize, phase: PhaseResult, failures: Vec<String>) -> Run {
        let report = Report {
            scenario: "echo",
            settings: report::Settings {
                url: "ws://127.0.0.1:1/echo".to_string(),
                connections: 100,
                size: 64,
                binary: false,
                depth: 1,
                warmup_s: 1,
                duration_s: 5,
                measured: report::ServerUnderTest {
                    server: None,
                    app: None,
                    native: side == Side::Native,
                    server_pid: None,
                    server_core: None,
                },
                client_core: None,
                client: "test",
            },
            phases: vec![phase],
            checks: report::Checks::default(),
            swap: None,
            passed: failures.is_empty(),
            failures,
        };
        Run {
            case: FLOOR_CASE,
            title: "echo 64 B text, 100 conns",
            kind: CaseKind::Echo,
            side,
            repeat,
            rounds: 3,
            report: Some(Outcome::Echo(report)),
            error: None,
        }
    }

    #[test]
    fn medians_spreads_and_ratios_come_from_every_run_of_a_side() {
        use Side::{Floor, Native, Wasm};
        let runs = vec![
            echo_run(Wasm, 1, phase(100.0, 9.0, 1000.0), Vec::new()),
            echo_run(Native, 1, phase(110.0, 8.0, 900.0), Vec::new()),
            echo_run(Floor, 1, phase(200.0, 4.0, 500.0), Vec::new()),
            echo_run(Floor, 2, phase(210.0, 5.0, 500.0), Vec::new()),
            echo_run(Native, 2, phase(120.0, 7.0, 1000.0), Vec::new()),
            echo_run(
                Wasm,
                2,
                phase(90.0, 10.0, 1100.0),
                vec!["1 reply was lost".to_string()],
            ),
            echo_run(Wasm, 3, phase(95.0, 8.0, 1200.0), Vec::new()),
            echo_run(Native, 3, phase(100.0, 9.0, 800.0), Vec::new()),
            Run {
                report: None,
                error: Some("no floor".to_string()),
                ..echo_run(Floor, 3, phase(0.0, 0.0, 0.0), Vec::new())
            },
        ];
        let cases = cases();
        let Some(case) = cases.iter().find(|case| case.id == FLOOR_CASE) else {
            panic!("no floor case");
        };
        let medians: Vec<Median> = case
            .sides()
            .iter()
            .map(|&side| summarize(case, side, &runs))
            .collect();

        let wasm = &medians[0];
        assert_eq!((wasm.runs, wasm.attempted, wasm.passed), (3, 3, false));
        assert_eq!(wasm.checks, "FAIL (wasm, run 2): 1 reply was lost");
        let traffic = wasm
            .traffic
            .as_ref()
            .map(|t| (t.msgs_per_s, t.server_cpu_us_per_msg, t.latency_us.p99));
        assert_eq!(traffic, Some((95.0, Some(9.0), 1100.0)));
        assert_eq!(
            wasm.spread
                .iter()
                .map(|s| (s.figure, s.min, s.max))
                .collect::<Vec<_>>(),
            vec![("server_cpu_us_per_msg", 8.0, 10.0)]
        );

        let floor = &medians[2];
        assert_eq!((floor.runs, floor.attempted, floor.passed), (2, 3, false));
        assert_eq!(floor.checks, "(floor, run 3) could not run");
        assert_eq!(
            floor.traffic.as_ref().and_then(|t| t.server_cpu_us_per_msg),
            Some(4.5)
        );

        let Some(comparison) = compare(case, &medians) else {
            panic!("no comparison");
        };
        // Medians: wasm 9 µs, native 8 µs, floor 4.5 µs.
        assert_eq!(
            comparison.traffic.server_cpu_us_per_msg_ratio,
            Some(9.0 / 8.0)
        );
        assert_eq!(
            comparison
                .wasm_over_floor
                .as_ref()
                .and_then(|r| r.server_cpu_us_per_msg_ratio),
            Some(2.0)
        );
        assert_eq!(
            comparison
                .native_over_floor
                .as_ref()
                .and_then(|r| r.server_cpu_us_per_msg_ratio),
            Some(8.0 / 4.5)
        );
        assert_eq!(
            per_round(&runs, FLOOR_CASE, |p| p.server_cpu_us_per_msg),
            vec![9.0 / 8.0, 10.0 / 7.0, 8.0 / 9.0]
        );
    }
}
