//! Results of the echo and swap scenarios, and what every scenario's report
//! shares: one structure per scenario, printed as a table for people and
//! written as JSON for scripts that compare runs. Keeping both views on the
//! same structure means the JSON never says something the table did not.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context as _;
use hdrhistogram::Histogram;
use serde::Serialize;

use crate::swap::SwapLog;

/// Goals of the swap scenario (from its issue): printed beside the numbers,
/// never a failure, because they depend on the machine as much as the code.
pub const SWAP_P99_RATIO_GOAL: f64 = 2.0;
pub const SWAP_MAX_MS_GOAL: f64 = 50.0;

/// Client CPU time at or above this share of wall time means the bench's
/// core was the bottleneck, so throughput says more about the bench than the
/// server.
pub const SATURATED: f64 = 0.9;

#[derive(Debug, Serialize)]
pub struct Report {
    pub scenario: &'static str,
    pub settings: Settings,
    pub phases: Vec<PhaseResult>,
    pub checks: Checks,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub swap: Option<SwapSummary>,
    pub passed: bool,
    pub failures: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Settings {
    pub url: String,
    pub connections: usize,
    pub size: usize,
    pub binary: bool,
    pub depth: usize,
    pub warmup_s: u64,
    pub duration_s: u64,
    #[serde(flatten)]
    pub measured: ServerUnderTest,
    pub client_core: Option<usize>,
    pub client: &'static str,
}

/// Raw measurements of one measured phase, as the load loop collects them.
pub struct PhaseSample {
    pub name: &'static str,
    pub wall_s: f64,
    /// Round-trip times of the intact, in-order replies received during the
    /// phase, in nanoseconds.
    pub latency_ns: Histogram<u64>,
    pub client_cpu_s: f64,
    pub server_cpu_s: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct PhaseResult {
    pub name: &'static str,
    pub seconds: f64,
    pub messages: u64,
    pub msgs_per_s: f64,
    pub latency_us: Latency,
    /// Server CPU time (all threads, user + system) per message, µs: the
    /// headline number.
    pub server_cpu_us_per_msg: Option<f64>,
    /// Server CPU time as a share of wall time (1.0 = one core busy).
    pub server_cpu_share: Option<f64>,
    /// The server was busy at least `SATURATED` of the time: its core, not
    /// the load, set the pace. `None` without a server pid.
    pub server_saturated: Option<bool>,
    pub client_cpu_us_per_msg: f64,
    pub client_cpu_share: f64,
    pub client_saturated: bool,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

/// Everything that makes a run fail. Counted over the whole run, warm-up and
/// drain included: a reply lost during warm-up is still a lost reply.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Checks {
    pub sent: u64,
    pub intact: u64,
    pub mismatched: u64,
    pub out_of_order: u64,
    pub lost: u64,
    pub connections_closed: u64,
    /// How the first few closed connections ended.
    pub closes: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct SwapSummary {
    pub swaps: u64,
    pub failed: u64,
    pub errors: Vec<String>,
    pub upload_ms_p50: Option<f64>,
    pub upload_ms_max: Option<f64>,
    /// Swapping phase over no-swap phase.
    pub ratio_p50: f64,
    pub ratio_p99: f64,
    pub ratio_max: f64,
    pub goal_p99_ratio: f64,
    pub goal_p99_ratio_met: bool,
    pub goal_max_ms: f64,
    pub goal_max_met: bool,
}

/// `yes (98%)` or `no (45%)` for a core busy this share of the time, against
/// `SATURATED`; `unknown` without a figure.
pub fn saturation_word(share: Option<f64>) -> String {
    match share {
        Some(share) if share >= SATURATED => format!("yes ({:.0}%)", share * 100.0),
        Some(share) => format!("no ({:.0}%)", share * 100.0),
        None => "unknown".to_string(),
    }
}

/// `1 reply was lost`, `2 replies were lost`.
pub fn plural(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

impl PhaseResult {
    pub fn from_sample(sample: &PhaseSample) -> PhaseResult {
        let messages = sample.latency_ns.len();
        let per_message = |seconds: f64| {
            if messages == 0 {
                0.0
            } else {
                seconds * 1e6 / messages as f64
            }
        };
        let wall = sample.wall_s.max(f64::EPSILON);
        let client_share = sample.client_cpu_s / wall;
        PhaseResult {
            name: sample.name,
            seconds: sample.wall_s,
            messages,
            msgs_per_s: messages as f64 / wall,
            latency_us: latency_us(&sample.latency_ns),
            server_cpu_us_per_msg: sample.server_cpu_s.map(per_message),
            server_cpu_share: sample.server_cpu_s.map(|cpu| cpu / wall),
            server_saturated: sample.server_cpu_s.map(|cpu| cpu / wall >= SATURATED),
            client_cpu_us_per_msg: per_message(sample.client_cpu_s),
            client_cpu_share: client_share,
            client_saturated: client_share >= SATURATED,
        }
    }
}

impl Checks {
    pub fn failures(&self) -> Vec<String> {
        let mut failures = Vec::new();
        let mut count = |n: u64, one: &str, many: &str| {
            if n > 0 {
                failures.push(plural(n, one, many));
            }
        };
        count(
            self.mismatched,
            "reply did not match what was sent",
            "replies did not match what was sent",
        );
        count(
            self.out_of_order,
            "reply came out of order or twice",
            "replies came out of order or twice",
        );
        count(self.lost, "reply was lost", "replies were lost");
        count(
            self.connections_closed,
            "connection was closed by the server or the network",
            "connections were closed by the server or the network",
        );
        failures
    }
}

impl SwapSummary {
    pub fn new(log: SwapLog, quiet: &PhaseResult, swapping: &PhaseResult) -> SwapSummary {
        let ratio = |during: f64, without: f64| {
            if without > 0.0 {
                during / without
            } else {
                f64::NAN
            }
        };
        let mut uploads = log.upload_ms.clone();
        uploads.sort_by(f64::total_cmp);
        let ratio_p99 = ratio(swapping.latency_us.p99, quiet.latency_us.p99);
        SwapSummary {
            swaps: log.swaps,
            failed: log.failed,
            errors: log.errors,
            upload_ms_p50: uploads.get(uploads.len() / 2).copied(),
            upload_ms_max: uploads.last().copied(),
            ratio_p50: ratio(swapping.latency_us.p50, quiet.latency_us.p50),
            ratio_p99,
            ratio_max: ratio(swapping.latency_us.max, quiet.latency_us.max),
            goal_p99_ratio: SWAP_P99_RATIO_GOAL,
            goal_p99_ratio_met: ratio_p99 <= SWAP_P99_RATIO_GOAL,
            goal_max_ms: SWAP_MAX_MS_GOAL,
            goal_max_met: swapping.latency_us.max / 1000.0 < SWAP_MAX_MS_GOAL,
        }
    }
}

/// Every report's last line: `PASS`, or `FAIL:` and each failure.
pub fn write_verdict(out: &mut String, passed: bool, failures: &[String]) {
    if passed {
        let _ = writeln!(out, "PASS");
    } else {
        let _ = writeln!(out, "FAIL: {}", failures.join("; "));
    }
}

/// Write any scenario's report as pretty JSON, creating the directory it
/// goes in (bench/results/ is not in git).
pub fn write_json(report: &impl Serialize, path: &Path) -> anyhow::Result<()> {
    let mut text = serde_json::to_string_pretty(report).context("cannot encode the results")?;
    text.push('\n');
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// The latency summary of an HDR histogram of nanoseconds, in µs.
pub fn latency_us(histogram: &Histogram<u64>) -> Latency {
    let us = |ns: u64| ns as f64 / 1000.0;
    Latency {
        p50: us(histogram.value_at_quantile(0.5)),
        p99: us(histogram.value_at_quantile(0.99)),
        p999: us(histogram.value_at_quantile(0.999)),
        max: us(histogram.max()),
        mean: histogram.mean() / 1000.0,
    }
}

/// `core 1`, or that nothing was pinned.
pub fn describe_core(core: Option<usize>) -> String {
    match core {
        Some(core) => format!("core {core}"),
        None => "no core pinned".to_string(),
    }
}

/// The server a scenario measured and the app it served: the same for
/// every scenario, so each one's settings embed it (flattened: the JSON
/// keeps these fields at the top level of `settings`).
#[derive(Debug, Serialize)]
pub struct ServerUnderTest {
    /// The binary, when the bench started it.
    pub server: Option<String>,
    pub app: Option<String>,
    /// The host's built-in app rather than a component: the native
    /// baseline.
    pub native: bool,
    pub server_pid: Option<u32>,
    pub server_core: Option<usize>,
}

impl ServerUnderTest {
    /// The `server:` and `app:` lines at the head of a table.
    pub fn write_header(&self, out: &mut String, url: &str) {
        let server = match (&self.server, self.server_pid) {
            (Some(binary), Some(pid)) => {
                format!(
                    "{binary} (pid {pid}) on {}",
                    describe_core(self.server_core)
                )
            }
            (_, Some(pid)) => format!("already running (pid {pid})"),
            _ => "already running (no server figures without --server-pid)".to_string(),
        };
        let _ = writeln!(out, "server: {server}, at {url}");
        if let Some(app) = &self.app {
            let _ = writeln!(out, "app: {app}");
        }
    }
}

impl Report {
    /// The human view.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let s = &self.settings;
        let kind = if s.binary { "binary" } else { "text" };
        let _ = writeln!(
            out,
            "switchboard-bench {}: {}, {}-byte {kind} messages, depth {}, {} s {} after {} s warm-up",
            self.scenario,
            plural(s.connections as u64, "connection", "connections"),
            s.size,
            s.depth,
            s.duration_s,
            if self.phases.len() > 1 {
                "per phase"
            } else {
                "measured"
            },
            s.warmup_s
        );
        s.measured.write_header(&mut out, &s.url);
        let _ = writeln!(
            out,
            "bench: {} on {}",
            s.client,
            describe_core(s.client_core)
        );
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{:<10} {:>10} {:>9} {:>9} {:>9} {:>9} {:>14} {:>10} {:>14} {:>10}",
            "phase",
            "msgs/s",
            "p50 µs",
            "p99 µs",
            "p99.9 µs",
            "max µs",
            "server µs/msg",
            "server cpu",
            "client µs/msg",
            "client cpu"
        );
        for phase in &self.phases {
            let optional = |value: Option<f64>, precision: usize, unit: &str| match value {
                Some(value) => format!("{value:.precision$}{unit}"),
                None => "-".to_string(),
            };
            let l = &phase.latency_us;
            let _ = writeln!(
                out,
                "{:<10} {:>10.0} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>14} {:>10} {:>14.2} {:>9.0}%",
                phase.name,
                phase.msgs_per_s,
                l.p50,
                l.p99,
                l.p999,
                l.max,
                optional(phase.server_cpu_us_per_msg, 2, ""),
                optional(phase.server_cpu_share.map(|share| share * 100.0), 0, "%"),
                phase.client_cpu_us_per_msg,
                phase.client_cpu_share * 100.0
            );
        }
        for phase in self.phases.iter().filter(|phase| phase.client_saturated) {
            let _ = writeln!(
                out,
                "note: the bench's core was saturated during {:?} ({:.0}% busy): msgs/s there measures the bench, not the server",
                phase.name,
                phase.client_cpu_share * 100.0
            );
        }

        if let Some(swap) = &self.swap {
            let _ = writeln!(
                out,
                "{:<10} {:>10} {:>8.2}x {:>8.2}x {:>9} {:>8.2}x",
                "ratio", "", swap.ratio_p50, swap.ratio_p99, "", swap.ratio_max
            );
            let _ = writeln!(out);
            let uploads = match (swap.upload_ms_p50, swap.upload_ms_max) {
                (Some(p50), Some(max)) => format!("; upload p50 {p50:.1} ms, max {max:.1} ms"),
                _ => String::new(),
            };
            let _ = writeln!(
                out,
                "swaps: {} done, {} failed{uploads}",
                swap.swaps, swap.failed
            );
            for error in &swap.errors {
                let _ = writeln!(out, "  {error}");
            }
            let met = |met: bool| if met { "met" } else { "NOT met" };
            let swapping_max_ms = self
                .phases
                .last()
                .map_or(f64::NAN, |phase| phase.latency_us.max / 1000.0);
            let _ = writeln!(
                out,
                "goal: p99 during swaps <= {:.0}x p99 without: {:.2}x, {}",
                swap.goal_p99_ratio,
                swap.ratio_p99,
                met(swap.goal_p99_ratio_met)
            );
            let _ = writeln!(
                out,
                "goal: max during swaps < {:.0} ms: {swapping_max_ms:.1} ms, {}",
                swap.goal_max_ms,
                met(swap.goal_max_met)
            );
        }

        let c = &self.checks;
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "checks: {} sent, {} came back intact; {} mismatched, {} out of order, {} lost, {} closed",
            c.sent,
            c.intact,
            c.mismatched,
            c.out_of_order,
            c.lost,
            plural(c.connections_closed, "connection", "connections")
        );
        for close in &c.closes {
            let _ = writeln!(out, "  {close}");
        }
        write_verdict(&mut out, self.passed, &self.failures);
        out
    }
}
