//! `switchboard-bench`: the project's load generator. It exists so that
//! claims about the host's cost (CPU per message, latency, what a hot swap
//! does to open connections) come from one repeatable measurement rather
//! than ad-hoc scripts. It starts the server it measures (or targets one by
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
mod swap;

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Parser as _;

use cli::{Cli, Common, Scenario, SwapArgs};
use cpu::CoreSet;
use load::{Edge, LoadConfig, LoadResult};
use report::{PhaseResult, Report, Settings, SwapSummary};
use server::{Launch, Server};
use swap::{SwapLog, Swapper};

/// The run found replies lost, mangled, reordered, or connections closed.
const EXIT_FAILED: u8 = 1;
/// The run could not happen.
const EXIT_CANNOT_RUN: u8 = 2;

/// The route the bench serves its app on when it starts the server.
const ROUTE: &str = "/echo";

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (common, swap) = match cli.scenario {
        Scenario::Echo(command) => (command.common, None),
        Scenario::Swap(command) => (command.common, Some(command.swap)),
    };
    match run(&common, swap.as_ref()) {
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
    /// `http://IP:PORT` of the admin API and its token, for swaps.
    admin: Option<(String, String)>,
}

/// Everything the swapping thread needs, prepared before the load starts so
/// that starting it at the phase boundary is just spawning a thread.
struct SwapPlan {
    target: swap::Target,
    component: Vec<u8>,
    every: Duration,
}

fn run(common: &Common, swap: Option<&SwapArgs>) -> anyhow::Result<Report> {
    let pinning = !common.target.no_pin;
    // The server first: its threads must not inherit the bench's pin.
    let subject = subject(common, swap)?;
    if pinning {
        CoreSet::new(common.target.client_core)?.pin_current_thread()?;
    }
    let plan = match swap {
        Some(args) => Some(swap_plan(common, args, &subject)?),
        None => None,
    };

    let duration = Duration::from_secs(common.duration);
    let config = LoadConfig {
        url: subject.url.clone(),
        connections: common.connections,
        size: common.size,
        binary: common.binary,
        depth: common.depth,
        warmup: Duration::from_secs(common.warmup),
        phases: if swap.is_some() {
            vec![("no swaps", duration), ("swapping", duration)]
        } else {
            vec![("measured", duration)]
        },
        server_pid: subject.pid,
    };
    let (result, swap_log) = load_with_swaps(&config, plan);

    // Stop the server before judging: a server that crashed or failed its
    // shutdown is a failure whatever the replies said.
    let mut stop_failure = None;
    if let Some(server) = subject.server
        && let Err(error) = server.stop()
    {
        stop_failure = Some(format!("{error:#}"));
    }
    let result = result?;
    let swap_log = swap_log?;

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
    let scenario = if swap.is_some() { "swap" } else { "echo" };
    let report = judge(scenario, settings, &config, result, swap_log, stop_failure);
    if let Some(path) = &common.json {
        report.write_json(path)?;
    }
    Ok(report)
}

fn started_by_us(common: &Common) -> bool {
    common.target.url.is_none()
}

/// Start the server, or take the one given by URL.
fn subject(common: &Common, swap: Option<&SwapArgs>) -> anyhow::Result<Subject> {
    if let Some(url) = &common.target.url {
        if url.scheme() != "ws" {
            bail!("--url must be a ws:// URL (the bench speaks no TLS), not {url}");
        }
        let admin = match swap {
            None => None,
            Some(args) => {
                let base = args
                    .admin_url
                    .clone()
                    .context("swap against --url needs --admin-url")?;
                let token = args
                    .admin_token
                    .clone()
                    .context("swap against --url needs SWITCHBOARD_ADMIN_TOKEN")?;
                Some((base.trim_end_matches('/').to_string(), token))
            }
        };
        return Ok(Subject {
            url: url.clone(),
            pid: common.target.server_pid,
            server: None,
            admin,
        });
    }

    let token = swap.map(|_| swap::random_token()).transpose()?;
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
        admin_token: token.as_deref(),
    })?;
    let url = url::Url::parse(&format!("ws://{}{ROUTE}", server.ws_address))
        .with_context(|| format!("the server announced the address {:?}", server.ws_address))?;
    let admin = match (&server.admin_address, token) {
        (Some(address), Some(token)) => Some((format!("http://{address}"), token)),
        _ => None,
    };
    Ok(Subject {
        url,
        pid: Some(server.pid()),
        server: Some(server),
        admin,
    })
}

fn swap_plan(common: &Common, args: &SwapArgs, subject: &Subject) -> anyhow::Result<SwapPlan> {
    let (admin_base, token) = subject
        .admin
        .clone()
        .context("the server did not announce an admin address")?;
    let app = match &args.app_name {
        Some(name) => name.clone(),
        None => app_name(&subject.url)?,
    };
    let path: &Path = args.swap_component.as_deref().unwrap_or(&common.target.app);
    let component = std::fs::read(path)
        .with_context(|| format!("cannot read the component {}", path.display()))?;
    Ok(SwapPlan {
        target: swap::Target {
            admin_base,
            token,
            app,
        },
        component,
        every: Duration::from_millis(args.swap_every_ms),
    })
}

/// Run the load; with a plan, swap during the second phase only.
fn load_with_swaps(
    config: &LoadConfig,
    mut plan: Option<SwapPlan>,
) -> (anyhow::Result<LoadResult>, anyhow::Result<Option<SwapLog>>) {
    let mut swapper: Option<Swapper> = None;
    let mut start_error = None;
    let result = load::run(config, |edge| match edge {
        Edge::Start(1) => {
            if let Some(plan) = plan.take() {
                match Swapper::start(plan.target, plan.component, plan.every) {
                    Ok(started) => swapper = Some(started),
                    Err(error) => start_error = Some(error),
                }
            }
        }
        Edge::End(1) => {
            if let Some(swapper) = &swapper {
                swapper.request_stop();
            }
        }
        _ => {}
    });
    let log = match start_error {
        Some(error) => Err(error),
        None => swapper.map(Swapper::finish).transpose(),
    };
    (result, log)
}

/// Turn measurements into the report, and decide pass or fail.
fn judge(
    scenario: &'static str,
    settings: Settings,
    config: &LoadConfig,
    result: LoadResult,
    swap_log: Option<SwapLog>,
    stop_failure: Option<String>,
) -> Report {
    let phases: Vec<PhaseResult> = result.phases.iter().map(PhaseResult::from_sample).collect();
    let mut failures = result.checks.failures();
    if phases.len() < config.phases.len() {
        failures.push("every connection was gone before the last phase ended".to_string());
    }
    failures.extend(stop_failure);
    let swap = match (swap_log, phases.as_slice()) {
        (Some(log), [quiet, swapping]) => {
            if log.failed > 0 {
                failures.push(format!("{} of the swaps failed", log.failed));
            }
            if log.swaps == 0 {
                failures.push("no swap was done".to_string());
            }
            Some(SwapSummary::new(log, quiet, swapping))
        }
        _ => None,
    };
    Report {
        scenario,
        settings,
        phases,
        checks: result.checks,
        swap,
        passed: failures.is_empty(),
        failures,
    }
}

/// The app behind a URL, named as the host names apps given with
/// `--app /ROUTE=FILE`: `/echo` is `echo`.
fn app_name(url: &url::Url) -> anyhow::Result<String> {
    let name = url.path().trim_matches('/').replace('/', "-");
    if name.is_empty() {
        bail!("cannot name the app after the route of {url}: pass --app-name");
    }
    Ok(name)
}
