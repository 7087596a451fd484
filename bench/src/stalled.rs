//! `broadcast --stalled S`: what clients that stop reading cost the server
//! (issue 10). A client that stopped reading used to hold its connection,
//! its outbox and its place under the caps for as long as it stayed
//! connected; the host now closes it once its outbox is full and, since a
//! client that does not read cannot take the close frame either, drops the
//! socket `close_timeout_ms` later.
//!
//! This measures that on a real server: the broadcast scenario with S more
//! subscribers that complete the upgrade and then never read, against the
//! same run without them (the baseline), both on fresh servers with the same
//! small outbox limit, interleaved round by round. Meanwhile a thread samples
//! the server's resident memory and the sockets it holds (a connection the
//! server dropped leaves that count at once). Memory is judged as a ratio to
//! the baseline of the same command: absolute figures on a shared machine
//! drift by 20% and more between runs.

use std::fmt::Write as _;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::Serialize;

use crate::broadcast::{self, BroadcastReport};
use crate::cli::BroadcastCommand;
use crate::process;
use crate::report::{self, plural};
use crate::standard::{Spread, median, ratio, spread};

/// The server's `close_timeout_ms` in these runs: a stalled client is
/// dropped this long after its outbox filled. 1 s rather than the default
/// 5 s keeps a run short.
pub const CLOSE_TIMEOUT_MS: u64 = 1000;
/// How often the server is sampled: fine enough to time a drop to a
/// twentieth of a second, cheap enough (one small file and one directory
/// of a few hundred entries) to cost the bench's core nothing it needs.
const SAMPLE_EVERY: Duration = Duration::from_millis(50);

/// The `[limits]` the server of a `--stalled` run gets, on both sides.
pub fn server_limits(command: &BroadcastCommand) -> Vec<(&'static str, u64)> {
    vec![
        ("max_outbox_bytes", command.max_outbox_bytes as u64),
        ("close_timeout_ms", CLOSE_TIMEOUT_MS),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Sample {
    /// Seconds since the first sample, taken just before the first message.
    at_s: f64,
    rss_kib: u64,
    sockets: u64,
}

fn sample(pid: u32, started: Instant) -> anyhow::Result<Sample> {
    Ok(Sample {
        at_s: started.elapsed().as_secs_f64(),
        rss_kib: process::resident_kib(pid)?,
        sockets: process::open_sockets(pid)?,
    })
}

/// A thread sampling the server until told to stop.
pub struct Sampler {
    stop: mpsc::Sender<()>,
    thread: std::thread::JoinHandle<Vec<Sample>>,
}

impl Sampler {
    /// Take the first sample now (every connection open, no message sent
    /// yet), then one every `SAMPLE_EVERY` on a thread that runs only when
    /// the bench's core has nothing else to do.
    pub fn start(pid: u32) -> anyhow::Result<Sampler> {
        let started = Instant::now();
        let first = sample(pid, started).context("cannot sample the server's memory")?;
        let (stop, stopped) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("sampler".into())
            .spawn(move || {
                // Best effort, as for the swapper: without it the samples
                // cost the measuring thread a little time.
                let _ = crate::cpu::run_only_when_idle();
                let mut samples = vec![first];
                let mut next = started + SAMPLE_EVERY;
                while let Err(mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(next.saturating_duration_since(Instant::now()))
                {
                    next = (next + SAMPLE_EVERY).max(Instant::now());
                    samples.extend(sample(pid, started).ok());
                }
                samples.extend(sample(pid, started).ok());
                samples
            })
            .context("cannot start the sampling thread")?;
        Ok(Sampler { stop, thread })
    }

    /// Stop sampling (one last sample is taken now) and sum up.
    pub fn finish(self, stalled: usize) -> anyhow::Result<Memory> {
        let _ = self.stop.send(());
        let samples = self
            .thread
            .join()
            .map_err(|_| anyhow::anyhow!("the sampling thread panicked"))?;
        Memory::from_samples(&samples, stalled).context("no sample of the server's memory")
    }
}

/// The server's memory and connections over one run, from the samples.
#[derive(Debug, Clone, Serialize)]
pub struct Memory {
    /// Subscribers that never read.
    pub stalled: usize,
    pub samples: usize,
    /// VmRSS with every connection open, just before the first message.
    pub rss_open_kib: u64,
    pub rss_peak_kib: u64,
    /// When the peak was sampled, seconds after the first message.
    pub rss_peak_at_s: f64,
    /// VmRSS at the end: every due delivery received (or the grace over),
    /// before the bench closes its connections.
    pub rss_end_kib: u64,
    /// Sockets the server held with every connection open (its listener
    /// and one per connection), and at the end.
    pub sockets_open: u64,
    pub sockets_end: u64,
    /// Connections the server dropped during the run.
    pub dropped: u64,
    /// When the first of them had gone, and when the last had, seconds
    /// after the first message (to within the sampling interval).
    pub first_drop_s: Option<f64>,
    pub last_drop_s: Option<f64>,
}

impl Memory {
    fn from_samples(samples: &[Sample], stalled: usize) -> Option<Memory> {
        let (first, last) = (samples.first()?, samples.last()?);
        // The earliest sample at the highest RSS.
        let peak = samples.iter().fold(
            first,
            |peak, s| if s.rss_kib > peak.rss_kib { s } else { peak },
        );
        let dropped = first.sockets.saturating_sub(last.sockets);
        let when = |gone: u64| {
            samples
                .iter()
                .find(|s| first.sockets.saturating_sub(s.sockets) >= gone)
                .map(|s| s.at_s)
        };
        Some(Memory {
            stalled,
            samples: samples.len(),
            rss_open_kib: first.rss_kib,
            rss_peak_kib: peak.rss_kib,
            rss_peak_at_s: peak.at_s,
            rss_end_kib: last.rss_kib,
            sockets_open: first.sockets,
            sockets_end: last.sockets,
            dropped,
            first_drop_s: when(1),
            last_drop_s: (dropped > 0).then(|| when(dropped)).flatten(),
        })
    }

    /// Stalled subscribers the server still held at the end fail the run:
    /// they are what the host must not keep.
    pub fn failure(&self) -> Option<String> {
        let stalled = self.stalled as u64;
        (self.dropped < stalled).then(|| {
            format!(
                "{} of {stalled} stalled subscribers were still connected at the end (the server dropped {}; if their outboxes had not filled yet, raise --size or --duration)",
                stalled - self.dropped,
                self.dropped
            )
        })
    }

    /// The line a broadcast report adds.
    pub fn describe(&self) -> String {
        let mut line = format!(
            "server memory: RSS {} with every connection open, peak {} ({:.1} s after the first message), {} at the end",
            mib(self.rss_open_kib as f64),
            mib(self.rss_peak_kib as f64),
            self.rss_peak_at_s,
            mib(self.rss_end_kib as f64)
        );
        if self.stalled > 0 || self.dropped > 0 {
            let _ = write!(
                line,
                "; the server dropped {} of {} stalled subscribers",
                self.dropped, self.stalled
            );
            if let (Some(first), Some(last)) = (self.first_drop_s, self.last_drop_s) {
                let _ = write!(line, ", {first:.1}-{last:.1} s after the first message");
            }
        }
        line
    }
}

fn mib(kib: f64) -> String {
    format!("{:.1} MiB", kib / 1024.0)
}

/// One run of the pair.
#[derive(Debug, Serialize)]
pub struct StalledRun {
    pub round: usize,
    /// 0 for the baseline.
    pub stalled: usize,
    pub report: BroadcastReport,
}

#[derive(Debug, Serialize)]
pub struct StalledSettings {
    pub stalled: usize,
    pub repeat: usize,
    pub max_outbox_bytes: usize,
    pub close_timeout_ms: u64,
}

/// Each side's medians over its runs, and stalled over baseline.
#[derive(Debug, Default, Serialize)]
pub struct StalledComparison {
    pub baseline_rss_peak_kib: Option<f64>,
    pub stalled_rss_peak_kib: Option<f64>,
    pub rss_peak_ratio: Option<f64>,
    pub baseline_rss_end_kib: Option<f64>,
    pub stalled_rss_end_kib: Option<f64>,
    pub rss_end_ratio: Option<f64>,
    /// Lowest-highest peak RSS over each side's runs.
    pub baseline_rss_peak_spread: Option<Spread>,
    pub stalled_rss_peak_spread: Option<Spread>,
    /// (stalled peak - baseline peak) / stalled subscribers: what one
    /// stalled client cost at most, against `max_outbox_bytes`.
    pub peak_kib_per_stalled: Option<f64>,
    pub server_us_per_delivery_ratio: Option<f64>,
    pub p99_ratio: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct StalledReport {
    pub scenario: &'static str,
    pub settings: StalledSettings,
    pub runs: Vec<StalledRun>,
    pub comparison: StalledComparison,
    pub passed: bool,
    pub failures: Vec<String>,
}

/// Run the pair `--repeat` times, interleaved, and write the JSON if asked.
pub fn run(command: &BroadcastCommand) -> anyhow::Result<StalledReport> {
    broadcast::check(command)?;
    let plan = schedule(command.repeat, command.stalled);
    let total = plan.len();
    let mut runs = Vec::with_capacity(total);
    for (round, stalled) in plan {
        eprint!(
            "[{}/{total}] {} (round {round}/{}) ... ",
            runs.len() + 1,
            side(stalled),
            command.repeat
        );
        let report = broadcast::run_once(command, Some(stalled))?;
        eprintln!(
            "{:.0} deliveries/s, {}",
            report.measured.msgs_per_s,
            report
                .memory
                .as_ref()
                .map_or("no memory figures".to_string(), |memory| memory.describe())
        );
        runs.push(StalledRun {
            round,
            stalled,
            report,
        });
    }
    let report = StalledReport::judge(command, runs);
    if let Some(path) = &command.json {
        report::write_json(&report, path)?;
    }
    Ok(report)
}

/// (round, stalled subscribers) in the order run: baseline first in odd
/// rounds, stalled first in even ones, so drift hits both sides alike.
fn schedule(repeat: usize, stalled: usize) -> Vec<(usize, usize)> {
    (1..=repeat)
        .flat_map(|round| {
            let sides = if round % 2 == 1 {
                [0, stalled]
            } else {
                [stalled, 0]
            };
            sides.map(|side| (round, side))
        })
        .collect()
}

fn side(stalled: usize) -> String {
    if stalled == 0 {
        "baseline".to_string()
    } else {
        format!("{stalled} stalled")
    }
}

impl StalledReport {
    fn judge(command: &BroadcastCommand, runs: Vec<StalledRun>) -> StalledReport {
        let of = |stalled: bool, pick: fn(&BroadcastReport) -> Option<f64>| {
            runs.iter()
                .filter(|run| (run.stalled > 0) == stalled)
                .filter_map(|run| pick(&run.report))
                .collect::<Vec<f64>>()
        };
        let peak = |r: &BroadcastReport| r.memory.as_ref().map(|m| m.rss_peak_kib as f64);
        let end = |r: &BroadcastReport| r.memory.as_ref().map(|m| m.rss_end_kib as f64);
        let cpu = |r: &BroadcastReport| r.measured.server_cpu_us_per_msg;
        let p99 = |r: &BroadcastReport| Some(r.measured.latency_us.p99);
        let both = |pick| (median(of(false, pick)), median(of(true, pick)));
        let (baseline_peak, stalled_peak) = both(peak);
        let (baseline_end, stalled_end) = both(end);
        let comparison = StalledComparison {
            baseline_rss_peak_kib: baseline_peak,
            stalled_rss_peak_kib: stalled_peak,
            rss_peak_ratio: ratio(stalled_peak, baseline_peak),
            baseline_rss_end_kib: baseline_end,
            stalled_rss_end_kib: stalled_end,
            rss_end_ratio: ratio(stalled_end, baseline_end),
            baseline_rss_peak_spread: spread("rss_peak_kib", of(false, peak)),
            stalled_rss_peak_spread: spread("rss_peak_kib", of(true, peak)),
            peak_kib_per_stalled: stalled_peak
                .zip(baseline_peak)
                .map(|(stalled, baseline)| (stalled - baseline) / command.stalled.max(1) as f64),
            server_us_per_delivery_ratio: {
                let (baseline, stalled) = both(cpu);
                ratio(stalled, baseline)
            },
            p99_ratio: {
                let (baseline, stalled) = both(p99);
                ratio(stalled, baseline)
            },
        };
        let failures: Vec<String> = runs
            .iter()
            .flat_map(|run| {
                run.report.failures.iter().map(move |failure| {
                    format!("round {} {}: {failure}", run.round, side(run.stalled))
                })
            })
            .collect();
        StalledReport {
            scenario: "broadcast-stalled",
            settings: StalledSettings {
                stalled: command.stalled,
                repeat: command.repeat,
                max_outbox_bytes: command.max_outbox_bytes,
                close_timeout_ms: CLOSE_TIMEOUT_MS,
            },
            passed: failures.is_empty() && runs.iter().all(|run| run.report.passed),
            runs,
            comparison,
            failures,
        }
    }

    /// The human view: what was run, one line per run, the ratios.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let s = &self.settings;
        let Some(first) = self.runs.first().map(|run| &run.report.settings) else {
            return "switchboard-bench broadcast --stalled: no runs\n".to_string();
        };
        let kind = if first.binary { "binary" } else { "text" };
        let _ = writeln!(
            out,
            "switchboard-bench broadcast --stalled {}: 1 publisher at {} msgs/s to {} reading subscribers, {}-byte {kind} messages, {} s measured after {} s warm-up",
            s.stalled,
            first.rate.unwrap_or(first.sync_rate),
            first.subscribers,
            first.size,
            first.duration_s,
            first.warmup_s
        );
        let _ = writeln!(
            out,
            "each round runs it on a fresh server (max_outbox_bytes = {}, close_timeout_ms = {}) with {} more subscribers that never read, and without them (the baseline); {}, order alternating",
            s.max_outbox_bytes,
            s.close_timeout_ms,
            s.stalled,
            plural(s.repeat as u64, "round", "rounds")
        );
        first.measured.write_header(&mut out, &first.url);
        let _ = writeln!(out);
        for run in &self.runs {
            let r = &run.report;
            let cpu = r
                .measured
                .server_cpu_us_per_msg
                .map_or("-".to_string(), |us| format!("{us:.2}"));
            let _ = writeln!(
                out,
                "round {} {}: {:.0} deliveries/s (offered {:.0}), p99 {:.0} µs, server {cpu} µs/delivery; checks {}",
                run.round,
                side(run.stalled),
                r.measured.msgs_per_s,
                r.offered_deliveries_per_s,
                r.measured.latency_us.p99,
                if r.passed { "pass" } else { "FAIL" }
            );
            if let Some(memory) = &r.memory {
                let _ = writeln!(out, "  {}", memory.describe());
            }
        }
        let c = &self.comparison;
        let times = |value: Option<f64>| value.map_or("-".to_string(), |v| format!("{v:.2}x"));
        let mib_of = |value: Option<f64>| value.map_or("-".to_string(), mib);
        let range = |spread: &Option<Spread>| match spread {
            Some(spread) if self.settings.repeat > 1 => {
                format!(" ({:.1}-{:.1})", spread.min / 1024.0, spread.max / 1024.0)
            }
            _ => String::new(),
        };
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "stalled/baseline, medians of {} each: peak RSS {} ({}{} against {}{}), RSS at the end {} ({} against {}), server µs/delivery {}, p99 {}",
            plural(self.settings.repeat as u64, "run", "runs"),
            times(c.rss_peak_ratio),
            mib_of(c.stalled_rss_peak_kib),
            range(&c.stalled_rss_peak_spread),
            mib_of(c.baseline_rss_peak_kib),
            range(&c.baseline_rss_peak_spread),
            times(c.rss_end_ratio),
            mib_of(c.stalled_rss_end_kib),
            mib_of(c.baseline_rss_end_kib),
            times(c.server_us_per_delivery_ratio),
            times(c.p99_ratio)
        );
        if let Some(per_stalled) = c.peak_kib_per_stalled {
            let _ = writeln!(
                out,
                "peak RSS above the baseline per stalled subscriber: {per_stalled:.0} KiB (its outbox may hold {} KiB)",
                s.max_outbox_bytes / 1024
            );
        }
        report::write_verdict(&mut out, self.passed, &self.failures);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pair_alternates_its_order_by_round() {
        assert_eq!(schedule(1, 100), [(1, 0), (1, 100)]);
        assert_eq!(
            schedule(3, 5),
            [(1, 0), (1, 5), (2, 5), (2, 0), (3, 0), (3, 5)]
        );
    }

    fn at(at_s: f64, rss_kib: u64, sockets: u64) -> Sample {
        Sample {
            at_s,
            rss_kib,
            sockets,
        }
    }

    #[test]
    fn drops_are_timed_from_the_socket_count() {
        // A listener, 2 readers, a publisher and 3 stalled: 7 sockets.
        let samples = [
            at(0.0, 100, 7),
            at(1.0, 300, 7),
            at(2.0, 300, 5),
            at(3.0, 120, 4),
            at(4.0, 110, 4),
        ];
        let memory = Memory::from_samples(&samples, 3).unwrap();
        assert_eq!(
            (memory.rss_open_kib, memory.rss_peak_kib, memory.rss_end_kib),
            (100, 300, 110)
        );
        // The earliest sample at the peak.
        assert_eq!(memory.rss_peak_at_s, 1.0);
        assert_eq!(memory.dropped, 3);
        assert_eq!(
            (memory.first_drop_s, memory.last_drop_s),
            (Some(2.0), Some(3.0))
        );
        assert_eq!(memory.failure(), None);
    }

    #[test]
    fn a_stalled_subscriber_still_held_at_the_end_fails_the_run() {
        let samples = [at(0.0, 100, 7), at(1.0, 200, 6), at(2.0, 200, 6)];
        let memory = Memory::from_samples(&samples, 3).unwrap();
        assert_eq!(memory.dropped, 1);
        assert_eq!(memory.last_drop_s, Some(1.0));
        assert!(memory.failure().unwrap().starts_with("2 of 3 stalled"));
        // The baseline has nothing to drop.
        let baseline = Memory::from_samples(&[at(0.0, 100, 4), at(1.0, 100, 4)], 0).unwrap();
        assert_eq!(
            (
                baseline.dropped,
                baseline.first_drop_s,
                baseline.last_drop_s
            ),
            (0, None, None)
        );
        assert_eq!(baseline.failure(), None);
    }
}
