//! `switchboard-bench`: the project's load generator. It exists so that
//! claims about the host's cost (CPU per message, latency) come from one
//! repeatable measurement rather than ad-hoc scripts. It starts the server it measures (or targets one by
//! URL), drives echo traffic from one pinned core, checks every reply, and
//! reports.
//!
//! Exit status: 0 when every reply came back intact and in order and no
//! connection was closed; 1 when the run found a failure; 2 when it could not
//! run at all (flags, server, connections).

mod cli;
mod connection;
mod cpu;
mod load;
mod payload;
mod report;
mod server;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Parser as _;

use cli::{Cli, Common, Scenario};
use cpu::CoreSet;
use load::{LoadConfig, LoadResult};
use report::{PhaseResult, Report, Settings};
use server::{Launch, Server};

/// The run found replies lost, mangled, reordered, or connections closed.
const EXIT_FAILED: u8 = 1;
/// The run could not happen.
const EXIT_CANNOT_RUN: u8 = 2;

/// The route the bench serves its app on when it starts the server.
const ROUTE: &str = "/echo";

fn main() -> ExitCode {
    let cli = Cli::parse();
    let common = match cli.scenario {
        Scenario::Echo(command) => command.common,
    };
    match run(&common) {
        Ok(report) => {
            print!("{}", report.table());
            if report.passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_FAILED)
            }
        }
        Err(error) => {
            eprintln!("switchboard-bench: {error:#}");
            ExitCode::from(EXIT_CANNOT_RUN)
        }
    }
}

/// What the load is aimed at.
struct Subject {
    url: url::Url,
    /// The process to charge CPU time to, when known.
    pid: Option<u32>,
    /// Set when the bench started the server; dropping it kills the server.
    server: Option<Server>,
}

fn run(common: &Common) -> anyhow::Result<Report> {
    let pinning = !common.target.no_pin;
    // The server first: its threads must not inherit the bench's pin.
    let subject = subject(common)?;
    if pinning {
        CoreSet::new(common.target.client_core)?.pin_current_thread()?;
    }

    let duration = Duration::from_secs(common.duration);
    let config = LoadConfig {
        url: subject.url.clone(),
        connections: common.connections,
        size: common.size,
        binary: common.binary,
        depth: common.depth,
        warmup: Duration::from_secs(common.warmup),
        phases: vec![("measured", duration)],
        server_pid: subject.pid,
    };
    let result = load::run(&config, |_| {});

    // Stop the server before judging: a server that crashed or failed its
    // shutdown is a failure whatever the replies said.
    let mut stop_failure = None;
    if let Some(server) = subject.server
        && let Err(error) = server.stop()
    {
        stop_failure = Some(format!("{error:#}"));
    }
    let result = result?;

    let settings = Settings {
        url: subject.url.to_string(),
        connections: common.connections,
        size: common.size,
        binary: common.binary,
        depth: common.depth,
        warmup_s: common.warmup,
        duration_s: common.duration,
        server: started_by_us(common).then(|| common.target.switchboard.display().to_string()),
        app: started_by_us(common).then(|| common.target.app.display().to_string()),
        server_pid: subject.pid,
        server_core: (pinning && started_by_us(common)).then_some(common.target.server_core),
        client_core: pinning.then_some(common.target.client_core),
        client: connection::CLIENT_CHOICE,
    };
    let report = judge("echo", settings, &config, result, stop_failure);
    if let Some(path) = &common.json {
        report.write_json(path)?;
    }
    Ok(report)
}

fn started_by_us(common: &Common) -> bool {
    common.target.url.is_none()
}

/// Start the server, or take the one given by URL.
fn subject(common: &Common) -> anyhow::Result<Subject> {
    if let Some(url) = &common.target.url {
        if url.scheme() != "ws" {
            bail!("--url must be a ws:// URL (the bench speaks no TLS), not {url}");
        }
        return Ok(Subject {
            url: url.clone(),
            pid: common.target.server_pid,
            server: None,
        });
    }

    let core = if common.target.no_pin {
        None
    } else {
        Some(CoreSet::new(common.target.server_core)?)
    };
    let server = Server::start(&Launch {
        binary: &common.target.switchboard,
        app: &common.target.app,
        route: ROUTE,
        core,
    })?;
    let url = url::Url::parse(&format!("ws://{}{ROUTE}", server.ws_address))
        .with_context(|| format!("the server announced the address {:?}", server.ws_address))?;
    Ok(Subject {
        url,
        pid: Some(server.pid()),
        server: Some(server),
    })
}

/// Turn measurements into the report, and decide pass or fail.
fn judge(
    scenario: &'static str,
    settings: Settings,
    config: &LoadConfig,
    result: LoadResult,
    stop_failure: Option<String>,
) -> Report {
    let phases: Vec<PhaseResult> = result.phases.iter().map(PhaseResult::from_sample).collect();
    let mut failures = result.checks.failures();
    if phases.len() < config.phases.len() {
        failures.push("every connection was gone before the last phase ended".to_string());
    }
    failures.extend(stop_failure);
    Report {
        scenario,
        settings,
        phases,
        checks: result.checks,
        passed: failures.is_empty(),
        failures,
    }
}
