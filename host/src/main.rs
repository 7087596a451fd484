//! The `switchboard` command line. Each subcommand is a thin shell over the
//! library; exit status 2 means the input (config, flags, module) was wrong,
//! 1 that something failed while running.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use switchboard::config::{Config, Overrides};
use switchboard::{guest, server, shutdown};

#[derive(Parser)]
#[command(
    name = "switchboard",
    version,
    about = "A WebSocket host for WebAssembly component apps"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve apps over WebSocket until SIGINT or SIGTERM.
    Serve {
        /// A TOML config file (see docs/config.md). Flags below override it.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Address to listen on. Port 0 picks a free port; the bound address
        /// is printed on stdout.
        #[arg(long, value_name = "IP:PORT")]
        listen: Option<String>,
        /// Serve a component on a route, e.g. `--app /echo=echo.wasm`. The app
        /// is named after its route (`/echo` is `echo`). Repeatable.
        #[arg(long = "app", value_name = "/ROUTE=FILE")]
        apps: Vec<String>,
        /// Serve this directory's files on paths no app claims.
        #[arg(long = "static", value_name = "DIR")]
        static_dir: Option<PathBuf>,
        /// The largest message a client may send (default 16 MiB).
        #[arg(long, value_name = "BYTES")]
        max_message_bytes: Option<usize>,
    },
    /// Say whether a component fits the switchboard:app world, and list what
    /// it imports and exports.
    Check {
        /// The component (.wasm) to inspect.
        module: PathBuf,
    },
}

/// Wrong input: a config, a flag or a module.
const EXIT_BAD_INPUT: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    match cli.command {
        Command::Serve {
            config,
            listen,
            apps,
            static_dir,
            max_message_bytes,
        } => serve(
            config,
            Overrides {
                listen,
                static_dir,
                apps,
                max_message_bytes,
            },
        ),
        Command::Check { module } => match server::check(&module) {
            Ok(report) => {
                println!("{} fits the switchboard:app world", module.display());
                print!("{report}");
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("error: {error}");
                ExitCode::from(EXIT_BAD_INPUT)
            }
        },
    }
}

fn serve(file: Option<PathBuf>, overrides: Overrides) -> ExitCode {
    let config = match Config::load(file.as_deref(), overrides) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let engine = match guest::engine() {
        Ok(engine) => engine,
        Err(error) => {
            eprintln!("error: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    let apps = match server::start_apps(&config, &engine) {
        Ok(apps) => apps,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let shutdown_token = CancellationToken::new();
        shutdown::cancel_on_signal(shutdown_token.clone());
        server::run(config, apps, shutdown_token).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Quiet by default (warnings and errors, which include guest traps);
/// `RUST_LOG=info` or finer to see more.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
