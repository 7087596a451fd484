//! `switchboard-bench`: the project's load generator. It exists so that
//! claims about the host's cost (CPU per message, latency, memory per
//! connection, what the Wasm sandbox adds over native code, what a hot swap
//! does to open connections) come from one repeatable measurement rather
//! than ad-hoc scripts. It starts the server it measures (or targets one by
//! URL), drives traffic from one pinned core, checks every reply and
//! delivery, and reports.
//!
//! Exit status: 0 when every check passed; 1 when the run found a failure
//! (a reply or delivery lost, mangled, reordered or doubled, a connection
//! closed or refused); 2 when it could not run at all (flags, server,
//! connections).

mod broadcast;
mod cli;
mod connect;
mod connection;
mod cpu;
mod echo;
mod generators;
mod languages;
mod load;
mod payload;
mod process;
mod report;
mod server;
mod stalled;
mod standard;
mod state;
mod subject;
mod swap;
mod topics;

use std::process::ExitCode;

use clap::Parser as _;

use cli::{Cli, Scenario};

/// Every check passed.
const EXIT_PASSED: u8 = 0;
/// The run found replies lost, mangled, reordered, or connections closed.
const EXIT_FAILED: u8 = 1;
/// The run could not happen.
const EXIT_CANNOT_RUN: u8 = 2;

/// A finished run: what to print and how to exit.
struct Finished {
    table: String,
    status: u8,
}

impl Finished {
    fn new(table: String, passed: bool) -> Finished {
        Finished {
            table,
            status: if passed { EXIT_PASSED } else { EXIT_FAILED },
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // 10 000 connections need 10 000 sockets here and as many in the server
    // (which inherits the limit). Best effort: scenarios that need fewer
    // files run anyway, and one that runs out says so.
    if let Err(error) = process::raise_open_file_limit() {
        eprintln!("switchboard-bench: warning: {error:#}");
    }
    match run(cli.scenario) {
        Ok(finished) => {
            print!("{}", finished.table);
            ExitCode::from(finished.status)
        }
        Err(error) => {
            eprintln!("switchboard-bench: {error:#}");
            ExitCode::from(EXIT_CANNOT_RUN)
        }
    }
}

fn run(scenario: Scenario) -> anyhow::Result<Finished> {
    Ok(match scenario {
        Scenario::Echo(command) => {
            let report = echo::run(&command.common, command.native.native, None)?;
            Finished::new(report.table(), report.passed)
        }
        Scenario::Swap(command) => {
            let report = echo::run(&command.common, false, Some(&command.swap))?;
            Finished::new(report.table(), report.passed)
        }
        Scenario::Broadcast(command) if command.stalled > 0 => {
            let report = stalled::run(&command)?;
            Finished::new(report.table(), report.passed)
        }
        Scenario::Broadcast(command) => {
            let report = broadcast::run(&command)?;
            Finished::new(report.table(), report.passed)
        }
        Scenario::Connect(command) => {
            let report = connect::run(&command)?;
            Finished::new(report.table(), report.passed)
        }
        Scenario::Standard(command) => {
            let report = standard::run(&command)?;
            Finished {
                table: report.table(),
                status: report.status(),
            }
        }
        Scenario::Generators(command) => {
            let report = generators::run(&command)?;
            Finished::new(report.table(), report.passed)
        }
        Scenario::Languages(command) => {
            let report = languages::run(&command)?;
            Finished::new(report.table(), report.passed)
        }
        Scenario::Topics(command) => {
            let report = topics::run(&command)?;
            Finished::new(report.table(), report.passed)
        }
        Scenario::State(command) => {
            let report = state::run(&command)?;
            Finished::new(report.table(), report.passed)
        }
    })
}
