//! The two-generators check: is the load generator the bottleneck?
//!
//! Every throughput figure of the bench assumes the server, not the bench,
//! is the limit. The bench's own CPU share hints at it; this check tests it.
//! It starts one server, runs the echo scenario against it from one bench
//! process, then from two bench processes at once with the same flags each
//! (so the second doubles the offered load; with `--split` each gets half
//! the connections instead). If the server was the limit, the two together
//! get about what one got; if they get clearly more, one generator was
//! holding the figure down.
//!
//! On a 2-core machine both generators share the client core (the other is
//! the server's), so the second adds a second event loop and whatever CPU
//! the first left idle, not a core. If that core was already saturated,
//! no gain proves nothing, and the verdict says so.
//!
//! The generators are this same binary (`echo --url ... --server-pid ...`),
//! so each one is exactly the generator the other scenarios use. Each writes
//! its results as JSON to a temporary file, which is read back here.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context as _, bail};
use serde::Serialize;

use crate::cli::GeneratorsCommand;
use crate::echo;
use crate::process::TempDir;
use crate::report::{self, describe_core};
use crate::subject::{App, Subject};

/// Two generators getting at least this many times one generator's
/// msgs/s means the single one was (part of) the limit. 10%: msgs/s moves a
/// few percent between back-to-back runs of the same load, so anything
/// smaller is noise.
const GAIN_THRESHOLD: f64 = 1.10;

/// What one generator process measured.
#[derive(Debug, Clone, Serialize)]
pub struct Generator {
    pub msgs_per_s: f64,
    pub p99_us: f64,
    pub client_cpu_share: f64,
    pub client_saturated: bool,
    /// The server's CPU share over this generator's measured window.
    pub server_cpu_share: Option<f64>,
    pub passed: bool,
    pub failures: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct GeneratorsSettings {
    pub url: String,
    pub connections_per_generator: usize,
    pub size: usize,
    pub binary: bool,
    pub depth: usize,
    pub warmup_s: u64,
    pub duration_s: u64,
    #[serde(flatten)]
    pub measured: report::ServerUnderTest,
    /// Cores of the first and the second generator.
    pub generator_cores: [Option<usize>; 2],
    /// Connections of the first and the second of the two generators (the
    /// one alone has `connections_per_generator`).
    pub split: [usize; 2],
}

#[derive(Debug, Serialize)]
pub struct GeneratorsReport {
    pub scenario: &'static str,
    pub settings: GeneratorsSettings,
    /// One generator alone.
    pub one: Generator,
    /// Two generators at the same time.
    pub two: [Generator; 2],
    /// The two generators' msgs/s added up.
    pub two_msgs_per_s: f64,
    /// The two generators' CPU shares added up (1.0 = one core busy).
    pub two_client_cpu_share: f64,
    /// `two_msgs_per_s` over `one.msgs_per_s`.
    pub gain: f64,
    /// Server CPU per message with two generators (the first's window
    /// over both generators' messages; the windows overlap almost exactly).
    pub two_server_cpu_us_per_msg: Option<f64>,
    /// The gain reached the threshold: one generator was (part of) the
    /// limit.
    pub generator_limited: bool,
    /// No gain, but the shared client core was saturated in both runs, so
    /// the check could not tell.
    pub inconclusive: bool,
    /// Alone, neither the server's core nor the generator's was saturated:
    /// something other than CPU (round trips with too few connections in
    /// flight, another process on the machine) set the single figure, and
    /// a gain says that rather than anything about the generator's speed.
    pub neither_saturated_alone: bool,
    pub verdict: String,
    pub passed: bool,
    pub failures: Vec<String>,
}

/// Run the check and write its JSON if asked.
pub fn run(command: &GeneratorsCommand) -> anyhow::Result<GeneratorsReport> {
    let common = &command.common;
    let app = App::choose(&common.target, command.native.native, "echo");
    let subject = Subject::open(&common.target, echo::ROUTE, &app, None)?;
    let placement = &common.target.placement;
    let cores = if placement.no_pin {
        [None, None]
    } else {
        [
            Some(placement.client_core),
            Some(command.second_core.unwrap_or(placement.client_core)),
        ]
    };
    let split = if command.split {
        if common.connections < 2 {
            bail!("--split needs at least 2 connections to share");
        }
        let half = common.connections / 2;
        [half, common.connections - half]
    } else {
        [common.connections, common.connections]
    };
    let scratch = TempDir::new("generators")?;
    let file = |name: &str| scratch.path().join(format!("{name}.json"));

    let measured = (|| -> anyhow::Result<(Generator, [Generator; 2])> {
        let alone = (common.connections, cores[0]);
        let one = Spawned::start(command, &subject, alone, &file("one"))?.finish()?;
        let first = Spawned::start(command, &subject, (split[0], cores[0]), &file("a"))?;
        let second = Spawned::start(command, &subject, (split[1], cores[1]), &file("b"));
        // The first must be waited for even when the second did not start,
        // or it would run on, unwatched.
        let first = first.finish();
        let (first, second) = (first?, second?.finish()?);
        Ok((one, [first, second]))
    })();

    let settings = GeneratorsSettings {
        url: subject.url.to_string(),
        connections_per_generator: common.connections,
        size: common.size,
        binary: common.binary,
        depth: common.depth,
        warmup_s: common.warmup,
        duration_s: common.duration,
        measured: subject.under_test(&app),
        generator_cores: cores,
        split,
    };
    let stop_failure = subject.stop();
    let (one, two) = measured?;
    let report = GeneratorsReport::judge(settings, one, two, stop_failure);
    if let Some(path) = &common.json {
        report::write_json(&report, path)?;
    }
    Ok(report)
}

/// A generator process on its way.
struct Spawned {
    child: Child,
    json: PathBuf,
}

impl Spawned {
    /// Start one generator with `connections` connections, pinned to
    /// `core` (or not pinned).
    fn start(
        command: &GeneratorsCommand,
        subject: &Subject,
        (connections, core): (usize, Option<usize>),
        json: &Path,
    ) -> anyhow::Result<Spawned> {
        let common = &command.common;
        let bench = std::env::current_exe().context("cannot find the bench's own binary")?;
        let mut generator = Command::new(&bench);
        generator
            .arg("echo")
            .arg("--url")
            .arg(subject.url.as_str())
            .args(["--connections", &connections.to_string()])
            .args(["--size", &common.size.to_string()])
            .args(["--depth", &common.depth.to_string()])
            .args(["--duration", &common.duration.to_string()])
            .args(["--warmup", &common.warmup.to_string()])
            .arg("--json")
            .arg(json)
            .stdin(Stdio::null())
            // Each generator's own table would interleave with the other's;
            // its JSON carries the same numbers.
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if common.binary {
            generator.arg("--binary");
        }
        if let Some(pid) = subject.pid {
            generator.args(["--server-pid", &pid.to_string()]);
        }
        match core {
            Some(core) => generator.args(["--client-core", &core.to_string()]),
            None => generator.arg("--no-pin"),
        };
        let child = generator
            .spawn()
            .with_context(|| format!("cannot start {}", bench.display()))?;
        Ok(Spawned {
            child,
            json: json.to_path_buf(),
        })
    }

    /// Wait for the generator and read what it measured. Exit status 1
    /// (checks failed) still has results; 2 does not.
    fn finish(self) -> anyhow::Result<Generator> {
        let output = self
            .child
            .wait_with_output()
            .context("cannot wait for a generator")?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        if output.status.code() == Some(i32::from(crate::EXIT_CANNOT_RUN)) || !self.json.exists() {
            bail!(
                "a generator could not run ({}): {}",
                output.status,
                stderr.trim()
            );
        }
        let text = std::fs::read_to_string(&self.json)
            .with_context(|| format!("cannot read {}", self.json.display()))?;
        parse_generator(&text).with_context(|| format!("cannot use {}", self.json.display()))
    }
}

/// The figures of one echo report (as `echo --json` writes it).
fn parse_generator(text: &str) -> anyhow::Result<Generator> {
    let report: serde_json::Value = serde_json::from_str(text).context("not JSON")?;
    let phase = report
        .get("phases")
        .and_then(|phases| phases.get(0))
        .context("no measured phase")?;
    let number = |value: &serde_json::Value, key: &str| -> anyhow::Result<f64> {
        value
            .get(key)
            .and_then(serde_json::Value::as_f64)
            .with_context(|| format!("no number {key}"))
    };
    let latency = phase.get("latency_us").context("no latency_us")?;
    Ok(Generator {
        msgs_per_s: number(phase, "msgs_per_s")?,
        p99_us: number(latency, "p99")?,
        client_cpu_share: number(phase, "client_cpu_share")?,
        client_saturated: phase
            .get("client_saturated")
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false),
        server_cpu_share: phase
            .get("server_cpu_share")
            .and_then(serde_json::Value::as_f64),
        passed: report
            .get("passed")
            .and_then(serde_json::Value::as_bool)
            .context("no passed")?,
        failures: report
            .get("failures")
            .and_then(serde_json::Value::as_array)
            .map(|failures| {
                failures
                    .iter()
                    .filter_map(|failure| failure.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
    })
}

impl GeneratorsReport {
    fn judge(
        settings: GeneratorsSettings,
        one: Generator,
        two: [Generator; 2],
        stop_failure: Option<String>,
    ) -> GeneratorsReport {
        let two_msgs_per_s = two[0].msgs_per_s + two[1].msgs_per_s;
        let gain = if one.msgs_per_s > 0.0 {
            two_msgs_per_s / one.msgs_per_s
        } else {
            f64::NAN
        };
        let generator_limited = gain >= GAIN_THRESHOLD;
        let two_client_cpu_share = two[0].client_cpu_share + two[1].client_cpu_share;
        let shared_core = settings.generator_cores[0] == settings.generator_cores[1];
        let inconclusive = !generator_limited
            && shared_core
            && one.client_saturated
            && two_client_cpu_share >= report::SATURATED;
        let server_busy = |generator: &Generator| {
            generator.server_cpu_share.map_or(String::new(), |share| {
                format!("; the server's core was {:.0}% busy", share * 100.0)
            })
        };
        let verdict = if generator_limited {
            format!(
                "two generators got {gain:.2}x what one got: one generator was (part of) the limit, so one generator's msgs/s understate the server"
            )
        } else if inconclusive {
            format!(
                "two generators got {gain:.2}x what one got, but their shared core was saturated both times ({:.0}% alone, {:.0}% together): this cannot tell; give the second generator a core of its own (--second-core) on a machine with one to spare",
                one.client_cpu_share * 100.0,
                two_client_cpu_share * 100.0
            )
        } else {
            format!(
                "two generators got {gain:.2}x what one got (under {GAIN_THRESHOLD:.2}x): the server is the limit, not the generator{}",
                server_busy(&two[0])
            )
        };
        let neither_saturated_alone = !one.client_saturated
            && one
                .server_cpu_share
                .is_some_and(|share| share < report::SATURATED);
        let mut failures = Vec::new();
        for (name, generator) in [
            ("one alone", &one),
            ("first of two", &two[0]),
            ("second of two", &two[1]),
        ] {
            for failure in &generator.failures {
                failures.push(format!("generator {name}: {failure}"));
            }
            if !generator.passed && generator.failures.is_empty() {
                failures.push(format!("generator {name} failed its checks"));
            }
        }
        failures.extend(stop_failure);
        GeneratorsReport {
            scenario: "generators",
            settings,
            two_server_cpu_us_per_msg: two[0]
                .server_cpu_share
                .filter(|_| two_msgs_per_s > 0.0)
                .map(|share| share * 1e6 / two_msgs_per_s),
            one,
            two,
            two_msgs_per_s,
            two_client_cpu_share,
            gain,
            generator_limited,
            inconclusive,
            neither_saturated_alone,
            verdict,
            passed: failures.is_empty(),
            failures,
        }
    }

    /// The human view.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let s = &self.settings;
        let kind = if s.binary { "binary" } else { "text" };
        let _ = writeln!(
            out,
            "switchboard-bench generators: echo from one bench process, then from two at once; each {} connections, {}-byte {kind} messages, depth {}, {} s measured after {} s warm-up",
            s.connections_per_generator, s.size, s.depth, s.duration_s, s.warmup_s
        );
        s.measured.write_header(&mut out, &s.url);
        let _ = writeln!(
            out,
            "generators: first on {}, second on {}; {} connections alone, {} + {} together",
            describe_core(s.generator_cores[0]),
            describe_core(s.generator_cores[1]),
            s.connections_per_generator,
            s.split[0],
            s.split[1]
        );
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{:<16} {:>10} {:>9} {:>11} {:>11}",
            "generator", "msgs/s", "p99 µs", "client cpu", "server cpu"
        );
        let share = |share: Option<f64>| match share {
            Some(share) => format!("{:.0}%", share * 100.0),
            None => "-".to_string(),
        };
        let rows = [
            ("one alone", &self.one),
            ("two: first", &self.two[0]),
            ("two: second", &self.two[1]),
        ];
        for (name, generator) in rows {
            let _ = writeln!(
                out,
                "{:<16} {:>10.0} {:>9.1} {:>10.0}% {:>11}",
                name,
                generator.msgs_per_s,
                generator.p99_us,
                generator.client_cpu_share * 100.0,
                share(generator.server_cpu_share)
            );
        }
        let _ = writeln!(
            out,
            "{:<16} {:>10.0} {:>9} {:>10.0}%   ({:.2}x one alone)",
            "two: together",
            self.two_msgs_per_s,
            "",
            self.two_client_cpu_share * 100.0,
            self.gain
        );
        let _ = writeln!(out);
        let _ = writeln!(out, "verdict: {}", self.verdict);
        if self.neither_saturated_alone {
            let _ = writeln!(
                out,
                "note: alone, neither the server's core ({}) nor the generator's ({:.0}%) was saturated: round trips (too few connections in flight) or another process on the machine set that figure, not CPU",
                share(self.one.server_cpu_share),
                self.one.client_cpu_share * 100.0
            );
        }
        report::write_verdict(&mut out, self.passed, &self.failures);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generator(msgs_per_s: f64) -> Generator {
        Generator {
            msgs_per_s,
            p99_us: 100.0,
            client_cpu_share: 0.5,
            client_saturated: false,
            server_cpu_share: Some(1.0),
            passed: true,
            failures: Vec::new(),
        }
    }

    fn settings() -> GeneratorsSettings {
        GeneratorsSettings {
            url: "ws://127.0.0.1:1/echo".into(),
            connections_per_generator: 100,
            size: 64,
            binary: false,
            depth: 1,
            warmup_s: 1,
            duration_s: 1,
            measured: report::ServerUnderTest {
                server: None,
                app: None,
                native: false,
                server_pid: None,
                server_core: None,
            },
            generator_cores: [Some(1), Some(1)],
            split: [100, 100],
        }
    }

    #[test]
    fn no_gain_means_the_server_is_the_limit() {
        let report = GeneratorsReport::judge(
            settings(),
            generator(70_000.0),
            [generator(36_000.0), generator(36_000.0)],
            None,
        );
        assert!(!report.generator_limited);
        assert!(report.passed);
        assert!(report.verdict.contains("the server is the limit"));
        assert_eq!(report.two_server_cpu_us_per_msg, Some(1e6 / 72_000.0));
    }

    #[test]
    fn no_gain_on_a_saturated_shared_core_proves_nothing() {
        let mut one = generator(70_000.0);
        one.client_cpu_share = 0.97;
        one.client_saturated = true;
        let mut half = generator(35_000.0);
        half.client_cpu_share = 0.48;
        let report = GeneratorsReport::judge(settings(), one, [half.clone(), half], None);
        assert!(report.inconclusive);
        assert!(!report.generator_limited);
        assert!(report.verdict.contains("cannot tell"));
    }

    #[test]
    fn a_clear_gain_means_the_generator_was_the_limit() {
        let report = GeneratorsReport::judge(
            settings(),
            generator(50_000.0),
            [generator(40_000.0), generator(40_000.0)],
            None,
        );
        assert!(report.generator_limited);
        assert!((report.gain - 1.6).abs() < 1e-9);
    }

    #[test]
    fn an_echo_report_is_read_back() {
        let text = r#"{"scenario":"echo","phases":[{"msgs_per_s":1234.5,"latency_us":{"p99":99.0},
            "client_cpu_share":0.4,"client_saturated":false,"server_cpu_share":0.9}],
            "passed":false,"failures":["3 replies were lost"]}"#;
        let generator = parse_generator(text).unwrap();
        assert_eq!(generator.msgs_per_s, 1234.5);
        assert_eq!(generator.server_cpu_share, Some(0.9));
        assert_eq!(generator.failures, ["3 replies were lost"]);
        assert!(parse_generator("{}").is_err());
    }
}
