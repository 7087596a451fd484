//! `switchboard-bench languages`: what writing an app in JavaScript or
//! Python costs against the same app in Rust, end to end, through the real
//! host process. Three parts, every language in the same run, each figure a
//! ratio to the Rust app's from that run (figures from different runs on
//! this machine differ by more than some of the gaps):
//!
//! - **echo**: the echo scenario (64-byte text, 100 connections, depth 1)
//!   against the Rust, JavaScript and Python echo, plus the host's built-in
//!   echo and `bare-echo` as the floors the echo scenario uses: server CPU
//!   per message and msgs/s.
//! - **start**: each language's chat served by a fresh host, from process
//!   start to the first successful upgrade, with an empty code cache
//!   (cold: the host compiles the component) and again with the cache the
//!   cold start filled (warm: it loads the compiled code). The host's own
//!   log line says which happened; a warm start that compiled fails the run.
//! - **deploy**: on a fresh host serving nothing, `PUT /apps/chat-LANG` of
//!   a chat version nobody has compiled yet (nothing cached), then of a
//!   second new version (the in-memory compile cache now holds the first
//!   one's functions): request to response, which the host sends once the
//!   version is live; an upgrade then confirms it serves. The JavaScript
//!   and Python versions are built by `switchboard build` from the
//!   example's source with one line added; the Rust versions are the
//!   example with a custom section stamped on (new bytes, the same code).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde::Serialize;

use crate::cli::{Common, LanguagePart, LanguagesCommand, Target};
use crate::echo;
use crate::process::TempDir;
use crate::report::{self, Report, plural};
use crate::server::{AppSource, Configured, Launch, Server};
use crate::standard::{default_bare_echo, optional, ratio, times};
use crate::subject::{self, App};
use crate::swap;

/// What the host must log for the start and deploy parts: its compile and
/// code-cache lines.
const LOG_FILTER: &str = "switchboard=info";
/// How long a started or deployed app gets to accept its first upgrade.
const UPGRADE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one deploy may take: a JavaScript or Python compile on one
/// busy core takes 15-40 s.
const DEPLOY_TIMEOUT: Duration = Duration::from_secs(300);

/// The languages an app is written in, in the order rows print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    Rust,
    Javascript,
    Python,
}

const LANGUAGES: [Language; 3] = [Language::Rust, Language::Javascript, Language::Python];

impl Language {
    fn name(self) -> &'static str {
        match self {
            Language::Rust => "rust",
            Language::Javascript => "javascript",
            Language::Python => "python",
        }
    }

    /// The example `app` in this language, where scripts/build-examples
    /// puts it.
    fn example(self, command: &LanguagesCommand, app: &str) -> PathBuf {
        let dir = match self {
            Language::Rust => &command.suite.examples,
            Language::Javascript => &command.js_examples,
            Language::Python => &command.python_examples,
        };
        dir.join(format!("{app}.wasm"))
    }

    /// The chat's source and a line that makes a new version of it (new
    /// code, not only new bytes); `None` for Rust, whose new versions are
    /// stamped instead.
    fn chat_edit(self, sources: &Path, stamp: &str) -> Option<(PathBuf, String)> {
        match self {
            Language::Rust => None,
            Language::Javascript => Some((
                sources.join("chat/js/app.js"),
                format!("\nglobalThis.switchboardBenchVersion = \"{stamp}\";\n"),
            )),
            Language::Python => Some((
                sources.join("chat/python/app.py"),
                format!("\nswitchboard_bench_version = \"{stamp}\"\n"),
            )),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct LanguagesSettings {
    pub duration_s: u64,
    pub warmup_s: u64,
    pub connections: usize,
    pub size: usize,
    pub server: String,
    pub server_core: Option<usize>,
    pub client_core: Option<usize>,
    pub parts: Vec<LanguagePart>,
}

/// One side of the echo part.
#[derive(Debug, Serialize)]
pub struct EchoRow {
    /// `rust`, `javascript`, `python`, `native` or `floor`.
    pub side: &'static str,
    /// The echo scenario's own report, as `echo --json` writes it.
    pub report: Option<Report>,
    /// Why the run could not happen.
    pub error: Option<String>,
    /// Server CPU per message over the Rust guest's.
    pub cpu_ratio_to_rust: Option<f64>,
    /// Msgs/s over the Rust guest's.
    pub msgs_per_s_ratio_to_rust: Option<f64>,
}

/// What the host logged about compiling an app: compiled (with how many
/// functions it compiled and took from the in-memory compile cache) or
/// loaded from the on-disk code cache.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CompileLine {
    pub from_code_cache: bool,
    pub milliseconds: Option<u64>,
    pub compiled_functions: Option<u64>,
    pub reused_functions: Option<u64>,
}

/// One timed start or deploy.
#[derive(Debug, Serialize)]
pub struct Timed {
    pub seconds: f64,
    /// The host's compile line for it; `None` if none was seen.
    pub compile: Option<CompileLine>,
}

/// One language's chat, started cold then warm.
#[derive(Debug, Serialize)]
pub struct StartRow {
    pub language: Language,
    pub app: String,
    /// Process start to first upgrade, empty code cache.
    pub cold: Option<Timed>,
    /// The same, with the code cache the cold start filled.
    pub warm: Option<Timed>,
    pub cold_over_warm: Option<f64>,
    pub error: Option<String>,
}

/// One language's chat deployed twice as a new version.
#[derive(Debug, Serialize)]
pub struct DeployRow {
    pub language: Language,
    /// `PUT` to live of a version nothing has compiled before.
    pub first: Option<Timed>,
    /// The same, for a second new version, the first's functions in the
    /// compile cache.
    pub second: Option<Timed>,
    pub first_ratio_to_rust: Option<f64>,
    pub second_ratio_to_rust: Option<f64>,
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct LanguagesReport {
    pub scenario: &'static str,
    pub settings: LanguagesSettings,
    pub echo: Vec<EchoRow>,
    pub start: Vec<StartRow>,
    pub deploy: Vec<DeployRow>,
    pub elapsed_s: f64,
    /// Every part ran and every check passed.
    pub passed: bool,
    pub failures: Vec<String>,
}

/// Run the parts asked for, print progress on stderr, write the JSON.
pub fn run(command: &LanguagesCommand) -> anyhow::Result<LanguagesReport> {
    let started = Instant::now();
    let parts = if command.only.is_empty() {
        vec![
            LanguagePart::Echo,
            LanguagePart::Start,
            LanguagePart::Deploy,
        ]
    } else {
        command.only.clone()
    };
    let mut failures = Vec::new();
    // Builds first, while nothing is pinned: they are the slow part of
    // setting up and measure nothing.
    let versions = if parts.contains(&LanguagePart::Deploy) {
        Some(build_versions(command)?)
    } else {
        None
    };
    let echo = if parts.contains(&LanguagePart::Echo) {
        echo_part(command, &mut failures)
    } else {
        Vec::new()
    };
    let start = if parts.contains(&LanguagePart::Start) {
        start_part(command, &mut failures)
    } else {
        Vec::new()
    };
    let deploy = match &versions {
        Some(versions) => deploy_part(command, versions, &mut failures),
        None => Vec::new(),
    };
    let pinned = !command.suite.placement.no_pin;
    let report = LanguagesReport {
        scenario: "languages",
        settings: LanguagesSettings {
            duration_s: command.duration,
            warmup_s: command.warmup,
            connections: ECHO_CONNECTIONS,
            size: ECHO_SIZE,
            server: command.suite.switchboard.display().to_string(),
            server_core: pinned.then_some(command.suite.placement.server_core),
            client_core: pinned.then_some(command.suite.placement.client_core),
            parts,
        },
        echo,
        start,
        deploy,
        elapsed_s: started.elapsed().as_secs_f64(),
        passed: failures.is_empty(),
        failures,
    };
    report::write_json(&report, &command.json)?;
    Ok(report)
}

/// The echo goal case of the standard set.
const ECHO_CONNECTIONS: usize = 100;
const ECHO_SIZE: usize = 64;

fn echo_part(command: &LanguagesCommand, failures: &mut Vec<String>) -> Vec<EchoRow> {
    let common = Common {
        connections: ECHO_CONNECTIONS,
        size: ECHO_SIZE,
        binary: false,
        depth: 1,
        duration: command.duration,
        warmup: command.warmup,
        json: None,
        target: Target {
            switchboard: command.suite.switchboard.clone(),
            app: None,
            url: None,
            server_pid: None,
            placement: command.suite.placement,
        },
    };
    let bare_echo = command.bare_echo.clone().unwrap_or_else(default_bare_echo);
    let sides = LANGUAGES
        .iter()
        .map(|&language| {
            (
                language.name(),
                App::Wasm(language.example(command, "echo")),
            )
        })
        .chain([
            ("native", App::Native("echo")),
            ("floor", App::Floor(bare_echo)),
        ]);
    let mut rows: Vec<EchoRow> = Vec::new();
    for (side, app) in sides {
        eprint!("echo 64 B, 100 conns ({side}) ... ");
        let (report, error) = match echo::run_app(&common, app, None) {
            Ok(report) => {
                failures.extend(
                    report
                        .failures
                        .iter()
                        .map(|f| format!("echo ({side}): {f}")),
                );
                (Some(report), None)
            }
            Err(error) => {
                failures.push(format!("echo ({side}) could not run: {error:#}"));
                (None, Some(format!("{error:#}")))
            }
        };
        let phase = report.as_ref().and_then(|report| report.phases.first());
        eprintln!(
            "{}",
            match phase {
                Some(phase) => format!(
                    "{:.0} msgs/s, {} server µs/msg",
                    phase.msgs_per_s,
                    optional(phase.server_cpu_us_per_msg, 2)
                ),
                None => "could not run".to_string(),
            }
        );
        rows.push(EchoRow {
            side,
            report,
            error,
            cpu_ratio_to_rust: None,
            msgs_per_s_ratio_to_rust: None,
        });
    }
    let figure = |row: &EchoRow, pick: fn(&report::PhaseResult) -> Option<f64>| {
        row.report
            .as_ref()
            .and_then(|report| report.phases.first())
            .and_then(pick)
    };
    let cpu = |phase: &report::PhaseResult| phase.server_cpu_us_per_msg;
    let rate = |phase: &report::PhaseResult| Some(phase.msgs_per_s);
    let rust = rows
        .first()
        .map(|row| (figure(row, cpu), figure(row, rate)));
    if let Some((rust_cpu, rust_rate)) = rust {
        for row in &mut rows {
            row.cpu_ratio_to_rust = ratio(figure(row, cpu), rust_cpu);
            row.msgs_per_s_ratio_to_rust = ratio(figure(row, rate), rust_rate);
        }
    }
    rows
}

fn start_part(command: &LanguagesCommand, failures: &mut Vec<String>) -> Vec<StartRow> {
    LANGUAGES
        .iter()
        .map(|&language| {
            let app = language.example(command, "chat");
            let mut row = StartRow {
                language,
                app: app.display().to_string(),
                cold: None,
                warm: None,
                cold_over_warm: None,
                error: None,
            };
            let measured = (|| -> anyhow::Result<()> {
                let cache = TempDir::new("code-cache")?;
                for warm in [false, true] {
                    let which = if warm { "warm" } else { "cold" };
                    eprint!("start chat ({}, {which}) ... ", language.name());
                    let timed = start_chat(command, &app, cache.path())?;
                    eprintln!("{:.2} s", timed.seconds);
                    match &timed.compile {
                        Some(line) if line.from_code_cache != warm => failures.push(format!(
                            "start ({}, {which}): the host {} instead",
                            language.name(),
                            if warm {
                                "compiled the app"
                            } else {
                                "loaded the app from the code cache"
                            }
                        )),
                        Some(_) => {}
                        None => failures.push(format!(
                            "start ({}, {which}): the host logged no compile or code-cache line",
                            language.name()
                        )),
                    }
                    if warm {
                        row.warm = Some(timed);
                    } else {
                        row.cold = Some(timed);
                    }
                }
                Ok(())
            })();
            if let Err(error) = measured {
                eprintln!("could not run");
                failures.push(format!("start ({}): {error:#}", language.name()));
                row.error = Some(format!("{error:#}"));
            }
            row.cold_over_warm = ratio(
                row.cold.as_ref().map(|t| t.seconds),
                row.warm.as_ref().map(|t| t.seconds),
            );
            row
        })
        .collect()
}

/// Serve `app` on `/chat` from a fresh host keeping compiled code in
/// `cache`; the time from spawning it to its first successful upgrade.
fn start_chat(command: &LanguagesCommand, app: &Path, cache: &Path) -> anyhow::Result<Timed> {
    let server = Server::start(&Launch {
        binary: &command.suite.switchboard,
        app: Some(AppSource::Wasm(app)),
        route: "/chat",
        core: subject::server_core(&command.suite.placement)?,
        admin_token: None,
        config: Configured::default(),
        code_cache_dir: Some(cache),
        log_filter: Some(LOG_FILTER),
    })?;
    let url = chat_url(&server, "chat")?;
    let live = first_upgrade(&url)?;
    let seconds = live.duration_since(server.spawned).as_secs_f64();
    let compile = last_compile_line(&server, None).map(|(_, line)| line);
    server.stop()?;
    Ok(Timed { seconds, compile })
}

/// The new versions each language's chat is deployed as, in order.
type Versions = Vec<(Language, Vec<Vec<u8>>)>;

/// Build two new versions of each language's chat (see the module
/// comment), each with a line or stamp no earlier run has used.
fn build_versions(command: &LanguagesCommand) -> anyhow::Result<Versions> {
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos());
    let scratch = TempDir::new("versions")?;
    let mut each = Vec::new();
    for language in LANGUAGES {
        let mut versions = Vec::new();
        for version in 1..=2 {
            let stamp = format!("{run:x} {version}");
            let bytes = match language.chat_edit(&command.sources, &stamp) {
                None => {
                    let path = language.example(command, "chat");
                    let bytes = std::fs::read(&path).with_context(|| {
                        format!(
                            "cannot read {} (build the examples with ./scripts/build-examples)",
                            path.display()
                        )
                    })?;
                    swap::stamped(&bytes, &stamp)
                }
                Some((source, line)) => {
                    eprint!(
                        "building chat ({}, version {version}) ... ",
                        language.name()
                    );
                    let built = Instant::now();
                    let bytes = build_edited(command, &source, &line, scratch.path())?;
                    eprintln!("{:.1} s", built.elapsed().as_secs_f64());
                    bytes
                }
            };
            versions.push(bytes);
        }
        each.push((language, versions));
    }
    Ok(each)
}

/// `source` with `line` appended, built by `switchboard build` in `dir`.
fn build_edited(
    command: &LanguagesCommand,
    source: &Path,
    line: &str,
    dir: &Path,
) -> anyhow::Result<Vec<u8>> {
    let mut text = std::fs::read_to_string(source)
        .with_context(|| format!("cannot read {} (see --sources)", source.display()))?;
    text.push_str(line);
    let name = source.file_name().context("the source has no file name")?;
    let edited = dir.join(name);
    std::fs::write(&edited, text).with_context(|| format!("cannot write {}", edited.display()))?;
    let out = dir.join("app.wasm");
    let output = Command::new(&command.suite.switchboard)
        .arg("build")
        .arg(&edited)
        .arg("-o")
        .arg(&out)
        .env("SWITCHBOARD_CACHE_DIR", &command.toolchains)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {} build", command.suite.switchboard.display()))?;
    if !output.status.success() {
        bail!(
            "`{} build {}` failed: {}",
            command.suite.switchboard.display(),
            edited.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    std::fs::read(&out).with_context(|| format!("cannot read {}", out.display()))
}

fn deploy_part(
    command: &LanguagesCommand,
    versions: &Versions,
    failures: &mut Vec<String>,
) -> Vec<DeployRow> {
    let mut rows: Vec<DeployRow> = versions
        .iter()
        .map(|(language, bytes)| {
            let mut row = DeployRow {
                language: *language,
                first: None,
                second: None,
                first_ratio_to_rust: None,
                second_ratio_to_rust: None,
                error: None,
            };
            match deploy_versions(command, *language, bytes) {
                Ok(mut timed) => {
                    row.second = timed.pop();
                    row.first = timed.pop();
                }
                Err(error) => {
                    eprintln!("could not run");
                    failures.push(format!("deploy ({}): {error:#}", language.name()));
                    row.error = Some(format!("{error:#}"));
                }
            }
            row
        })
        .collect();
    let seconds = |timed: &Option<Timed>| timed.as_ref().map(|timed| timed.seconds);
    if let Some((first, second)) = rows
        .iter()
        .find(|row| row.language == Language::Rust)
        .map(|rust| (seconds(&rust.first), seconds(&rust.second)))
    {
        for row in &mut rows {
            row.first_ratio_to_rust = ratio(seconds(&row.first), first);
            row.second_ratio_to_rust = ratio(seconds(&row.second), second);
        }
    }
    rows
}

/// On a fresh host serving nothing, deploy each version of `language`'s
/// chat in turn; how long each took to go live.
fn deploy_versions(
    command: &LanguagesCommand,
    language: Language,
    versions: &[Vec<u8>],
) -> anyhow::Result<Vec<Timed>> {
    let token = swap::random_token()?;
    let server = Server::start(&Launch {
        binary: &command.suite.switchboard,
        app: None,
        route: "/",
        core: subject::server_core(&command.suite.placement)?,
        admin_token: Some(&token),
        config: Configured::default(),
        code_cache_dir: None,
        log_filter: Some(LOG_FILTER),
    })?;
    let admin = server
        .admin_address
        .clone()
        .context("the server did not announce an admin address")?;
    let name = format!("chat-{}", language.name());
    let agent = swap::admin_agent(DEPLOY_TIMEOUT);
    let authorization = format!("Bearer {token}");
    let url = chat_url(&server, &name)?;
    let mut timed = Vec::new();
    let mut active = None;
    let mut last_line = None;
    for (index, bytes) in versions.iter().enumerate() {
        eprint!(
            "deploy chat ({}, new version {}) ... ",
            language.name(),
            index + 1
        );
        // The first creates the app on its route.
        let put = if index == 0 {
            format!("http://{admin}/apps/{name}?route=/{name}")
        } else {
            format!("http://{admin}/apps/{name}")
        };
        let started = Instant::now();
        let version = swap::upload(&agent, &put, &authorization, bytes)?;
        let seconds = started.elapsed().as_secs_f64();
        eprintln!("{seconds:.2} s");
        if active.as_ref() == Some(&version) {
            bail!("the active version stayed {version}");
        }
        active = Some(version);
        first_upgrade(&url).context("the deployed version does not serve")?;
        let compile = last_compile_line(&server, last_line.as_deref());
        last_line = compile.as_ref().map(|(text, _)| text.clone());
        timed.push(Timed {
            seconds,
            compile: compile.map(|(_, line)| line),
        });
    }
    server.stop()?;
    Ok(timed)
}

/// `ws://ADDR/ROUTE?name=bench`: chat refuses a client without a name.
fn chat_url(server: &Server, route: &str) -> anyhow::Result<url::Url> {
    let text = format!("ws://{}/{route}?name=bench", server.ws_address);
    url::Url::parse(&text).with_context(|| format!("bad URL {text}"))
}

/// Upgrade to `url` until it succeeds (or `UPGRADE_TIMEOUT` passes), then
/// close; when it first succeeded.
fn first_upgrade(url: &url::Url) -> anyhow::Result<Instant> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start a runtime")?;
    runtime.block_on(async {
        let deadline = Instant::now() + UPGRADE_TIMEOUT;
        loop {
            match crate::connection::open(url, ECHO_SIZE).await {
                Ok(mut socket) => {
                    let live = Instant::now();
                    let _ = tokio::time::timeout(
                        Duration::from_secs(1),
                        crate::connection::close(&mut socket),
                    )
                    .await;
                    return Ok(live);
                }
                Err(error) if Instant::now() >= deadline => {
                    return Err(error.context(format!("no upgrade to {url} succeeded")));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
    })
}

/// The host's last compile or code-cache line, once it is not `previous`
/// (the stderr reader may be a moment behind): its text and what it says.
fn last_compile_line(server: &Server, previous: Option<&str>) -> Option<(String, CompileLine)> {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let found = server.stderr_lines().into_iter().rev().find_map(|text| {
            let line = parse_compile_line(&text)?;
            Some((text, line))
        });
        match found {
            Some((text, line)) if Some(text.as_str()) != previous => return Some((text, line)),
            _ if Instant::now() >= deadline => return None,
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// What one log line of the host's says about a compile
/// (host/src/guest.rs): `... compiled module=... milliseconds=N
/// compiled_functions=N reused_functions=N` or `... loaded compiled code
/// from the code cache module=... milliseconds=N`.
fn parse_compile_line(text: &str) -> Option<CompileLine> {
    let from_code_cache = if text.contains("loaded compiled code from the code cache") {
        true
    } else if text.contains(" compiled module=") {
        false
    } else {
        return None;
    };
    let field = |name: &str| {
        text.split_whitespace()
            .find_map(|word| word.strip_prefix(name)?.strip_prefix('='))
            .and_then(|value| value.parse().ok())
    };
    Some(CompileLine {
        from_code_cache,
        milliseconds: field("milliseconds"),
        compiled_functions: field("compiled_functions"),
        reused_functions: field("reused_functions"),
    })
}

/// `compiled 12 / reused 3400 functions`, `code cache`, or the bare time.
fn describe_compile(line: Option<&CompileLine>) -> String {
    match line {
        None => "-".to_string(),
        Some(line) => {
            let ms = line
                .milliseconds
                .map_or(String::new(), |ms| format!("{ms} ms "));
            if line.from_code_cache {
                format!("{ms}from the code cache")
            } else {
                match (line.compiled_functions, line.reused_functions) {
                    (Some(compiled), Some(reused)) => {
                        format!("{ms}compiling {compiled} fns, {reused} reused")
                    }
                    _ => format!("{ms}compiling"),
                }
            }
        }
    }
}

impl LanguagesReport {
    /// The human view, from the same structure the JSON is written from.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let s = &self.settings;
        let _ = writeln!(
            out,
            "switchboard-bench languages: {} on {}, bench on {}; {:.0} s in all",
            s.server,
            report::describe_core(s.server_core),
            report::describe_core(s.client_core),
            self.elapsed_s
        );
        if !self.echo.is_empty() {
            let _ = writeln!(
                out,
                "\necho {} B text, {}, depth 1, {} s after {} s warm-up",
                s.size,
                plural(s.connections as u64, "connection", "connections"),
                s.duration_s,
                s.warmup_s
            );
            let _ = writeln!(
                out,
                "{:<11} {:>9} {:>8} {:>8} {:>14} {:>9} {:>11} {:>7}",
                "side",
                "msgs/s",
                "x rust",
                "p99 µs",
                "server µs/msg",
                "x rust",
                "server cpu",
                "checks"
            );
            for row in &self.echo {
                let phase = row.report.as_ref().and_then(|report| report.phases.first());
                let checks = match (&row.report, &row.error) {
                    (Some(report), _) if report.passed => "pass",
                    (Some(_), _) => "FAIL",
                    (None, _) => "no run",
                };
                let _ = writeln!(
                    out,
                    "{:<11} {:>9} {:>8} {:>8} {:>14} {:>9} {:>11} {:>7}",
                    row.side,
                    optional(phase.map(|p| p.msgs_per_s), 0),
                    times(row.msgs_per_s_ratio_to_rust),
                    optional(phase.map(|p| p.latency_us.p99), 0),
                    optional(phase.and_then(|p| p.server_cpu_us_per_msg), 2),
                    times(row.cpu_ratio_to_rust),
                    optional(phase.and_then(|p| p.server_cpu_share).map(|v| v * 100.0), 0) + "%",
                    checks
                );
            }
        }
        let seconds = |timed: &Option<Timed>| optional(timed.as_ref().map(|t| t.seconds), 2);
        let compile = |timed: &Option<Timed>| {
            describe_compile(timed.as_ref().and_then(|t| t.compile.as_ref()))
        };
        if !self.start.is_empty() {
            let _ = writeln!(
                out,
                "\nstart: chat on a fresh host, process start to first upgrade (s); the host's own compile line"
            );
            let _ = writeln!(
                out,
                "{:<11} {:>7}   {:<42} {:>7}   {:<30} {:>10}",
                "language", "cold s", "(empty code cache)", "warm s", "(cache filled)", "cold/warm"
            );
            for row in &self.start {
                let _ = writeln!(
                    out,
                    "{:<11} {:>7}   {:<42} {:>7}   {:<30} {:>10}",
                    row.language.name(),
                    seconds(&row.cold),
                    compile(&row.cold),
                    seconds(&row.warm),
                    compile(&row.warm),
                    times(row.cold_over_warm)
                );
            }
        }
        if !self.deploy.is_empty() {
            let _ = writeln!(
                out,
                "\ndeploy: PUT /apps/chat-LANG of a new version to live (s), on a fresh host serving nothing"
            );
            let _ = writeln!(
                out,
                "{:<11} {:>8} {:>7}   {:<42} {:>8} {:>7}   {:<30}",
                "language",
                "first s",
                "x rust",
                "(nothing cached)",
                "second s",
                "x rust",
                "(first one's functions cached)"
            );
            for row in &self.deploy {
                let _ = writeln!(
                    out,
                    "{:<11} {:>8} {:>7}   {:<42} {:>8} {:>7}   {:<30}",
                    row.language.name(),
                    seconds(&row.first),
                    times(row.first_ratio_to_rust),
                    compile(&row.first),
                    seconds(&row.second),
                    times(row.second_ratio_to_rust),
                    compile(&row.second)
                );
            }
        }
        let _ = writeln!(out);
        report::write_verdict(&mut out, self.passed, &self.failures);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compile_lines_are_read_from_the_hosts_log() {
        let compiled = "2026-11-30T23:00:01.5Z  INFO switchboard::guest: compiled module=\"chat-javascript\" milliseconds=17250 compiled_functions=12034 reused_functions=7";
        assert_eq!(
            parse_compile_line(compiled),
            Some(CompileLine {
                from_code_cache: false,
                milliseconds: Some(17250),
                compiled_functions: Some(12034),
                reused_functions: Some(7),
            })
        );
        let loaded = "2026-11-30T23:00:01.5Z  INFO switchboard::guest: loaded compiled code from the code cache module=/x/chat.wasm milliseconds=96";
        assert_eq!(
            parse_compile_line(loaded),
            Some(CompileLine {
                from_code_cache: true,
                milliseconds: Some(96),
                compiled_functions: None,
                reused_functions: None,
            })
        );
        assert_eq!(
            parse_compile_line("INFO switchboard: chat: bench joined"),
            None
        );
    }

    #[test]
    fn every_language_but_rust_is_built_from_an_edited_source() {
        let sources = Path::new("examples");
        assert!(Language::Rust.chat_edit(sources, "x").is_none());
        for (language, file) in [
            (Language::Javascript, "examples/chat/js/app.js"),
            (Language::Python, "examples/chat/python/app.py"),
        ] {
            let (source, line) = language.chat_edit(sources, "run 1").unwrap();
            assert_eq!(source, PathBuf::from(file));
            assert!(line.contains("\"run 1\""), "{line}");
        }
    }
}
