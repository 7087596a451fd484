//! The echo and swap scenarios: closed-loop echo traffic over a fixed set of
//! connections, measured in one phase (echo) or in two back to back, the
//! second while the app is hot-swapped (swap). They share this code because
//! the swap scenario's question is what a swap does to exactly the traffic
//! echo measures.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, bail};

use crate::cli::{Common, SwapArgs};
use crate::connection;
use crate::load::{self, Edge, LoadConfig, LoadResult};
use crate::report::{PhaseResult, Report, Settings, SwapSummary};
use crate::subject::{self, App, Subject};
use crate::swap::{self, SwapLog, Swapper};

/// The route the bench serves its echo app on when it starts the server.
pub const ROUTE: &str = "/echo";

/// Everything the swapping thread needs, prepared before the load starts so
/// that starting it at the phase boundary is just spawning a thread.
struct SwapPlan {
    target: swap::Target,
    component: Vec<u8>,
    every: Duration,
}

/// Run echo (or, with `swap`, the swap scenario) and write its JSON if
/// asked. `native` serves the host's built-in echo instead of the component
/// (not with swap: only components are swapped).
pub fn run(common: &Common, native: bool, swap: Option<&SwapArgs>) -> anyhow::Result<Report> {
    run_app(common, App::choose(&common.target, native, "echo"), swap)
}

/// Run echo (or swap) against this app, e.g. the floor server.
pub fn run_app(common: &Common, app: App, swap: Option<&SwapArgs>) -> anyhow::Result<Report> {
    // The server first: its threads must not inherit the bench's pin.
    let subject = Subject::open(&common.target, ROUTE, &app, swap)?;
    let client_core = subject::pin_bench(&common.target.placement)?;
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

    let settings = Settings {
        url: subject.url.to_string(),
        connections: common.connections,
        size: common.size,
        binary: common.binary,
        depth: common.depth,
        warmup_s: common.warmup,
        duration_s: common.duration,
        measured: subject.under_test(&app),
        client_core,
        client: connection::CLIENT_CHOICE,
    };
    // Stop the server before judging: a server that crashed or failed its
    // shutdown is a failure whatever the replies said.
    let stop_failure = subject.stop();
    let result = result?;
    let swap_log = swap_log?;

    let scenario = if swap.is_some() { "swap" } else { "echo" };
    let report = judge(scenario, settings, &config, result, swap_log, stop_failure);
    if let Some(path) = &common.json {
        crate::report::write_json(&report, path)?;
    }
    Ok(report)
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
    let served = common.target.app_or_example("echo");
    let path: &Path = args.swap_component.as_deref().unwrap_or(&served);
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
