//! The `switchboard` command line. Each subcommand is a thin shell over the
//! library; exit status 2 means the input (config, flags, module, or what
//! was asked of the admin API) was wrong, 1 that something failed while
//! running.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use cli::admin::{self as admin_client, AdminClient, ClientError, DEFAULT_ADMIN_URL};
use switchboard::config::{ADMIN_TOKEN_ENV, Config, Overrides};
use switchboard::deploy::Deployer;
use switchboard::{guest, server, shutdown};

mod cli;

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

/// How the admin commands reach a running host.
#[derive(clap::Args)]
struct AdminAccess {
    /// The host's admin API.
    #[arg(long = "admin", env = "SWITCHBOARD_ADMIN_URL", default_value = DEFAULT_ADMIN_URL, value_name = "URL")]
    url: String,
}

impl AdminAccess {
    /// The token comes only from SWITCHBOARD_ADMIN_TOKEN, never a flag, so
    /// it is not shown in `ps` or kept in shell history.
    fn client(&self) -> Result<AdminClient, ClientError> {
        AdminClient::new(&self.url, std::env::var(ADMIN_TOKEN_ENV).ok())
    }
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
        /// is named after its route (`/echo` is `echo`). Repeatable. The file
        /// is watched: writing a new build over it deploys it.
        #[arg(long = "app", value_name = "/ROUTE=FILE")]
        apps: Vec<String>,
        /// Serve a built-in Rust app on a route, e.g. `--native-app
        /// /echo=echo` (built-in apps: echo, broadcast, each doing what its
        /// example component does). It runs through the same actor, host
        /// functions and outboxes as a component, without WebAssembly: the
        /// baseline the benchmark measures the sandbox's cost against.
        #[arg(long = "native-app", value_name = "/ROUTE=NAME")]
        native_apps: Vec<String>,
        /// Serve this directory's files on paths no app claims.
        #[arg(long = "static", value_name = "DIR")]
        static_dir: Option<PathBuf>,
        /// The largest message a client may send (default 16 MiB).
        #[arg(long, value_name = "BYTES")]
        max_message_bytes: Option<usize>,
        /// Where deployed versions are stored (default ./switchboard-data).
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// Where compiled apps are kept between runs, so a restart does not
        /// compile them again (default DATA_DIR/code-cache). Hosts may share
        /// one; it must be writable by this user only.
        #[arg(long, env = "SWITCHBOARD_CODE_CACHE_DIR", value_name = "DIR")]
        code_cache_dir: Option<PathBuf>,
        /// Where the admin API listens (default 127.0.0.1:9090). The admin
        /// API is on only when a token is set in SWITCHBOARD_ADMIN_TOKEN or
        /// the config's [admin] section.
        #[arg(long, value_name = "IP:PORT")]
        admin_listen: Option<String>,
        /// Do not deploy module files when they change on disk.
        #[arg(long)]
        no_watch: bool,
    },
    /// Build an app into a component this host serves: `app.js` (or `.mjs`,
    /// `.ts`) with componentize-js, `app.py` with componentize-py, or a Rust
    /// crate's folder with cargo for wasm32-wasip2; every app targets the
    /// `realtime-app` world of the WIT built into this binary. Prints the
    /// toolchain and version used and where the component is. The first
    /// JavaScript or Python build installs its pinned toolchain into a cache
    /// ($SWITCHBOARD_CACHE_DIR, else ~/.cache/switchboard); node, npm,
    /// python3 and Rust's wasm32-wasip2 target must be there already, and a
    /// missing one is named with the command that installs it.
    Build {
        /// `app.js`, `app.py`, or a Rust crate's folder.
        path: PathBuf,
        /// Where to write the component (default: beside the source, e.g.
        /// `app.wasm`; a Rust crate's stays in its target folder).
        #[arg(long, short)]
        out: Option<PathBuf>,
        /// Instead of building, write the SDK for the app's language, with
        /// what is generated from the WIT, into DIR for an editor to read:
        /// `--sdk node_modules/switchboard` beside an app.js, `--sdk .`
        /// beside an app.py. Builds use their own built-in copy.
        #[arg(long, value_name = "DIR", conflicts_with = "out")]
        sdk: Option<PathBuf>,
    },
    /// Say whether a component fits the switchboard:app world, and list what
    /// it imports and exports.
    Check {
        /// The component (.wasm) to inspect.
        module: PathBuf,
    },
    /// Deploy a component to a running host: a new version of an app, or a
    /// new app when `--route` is given. Returns once it serves.
    Deploy {
        /// The app's name.
        name: String,
        /// The component (.wasm).
        module: PathBuf,
        /// The route of a new app, e.g. `/chat`.
        #[arg(long)]
        route: Option<String>,
        #[command(flatten)]
        admin: AdminAccess,
    },
    /// List a running host's apps, or show one with its versions.
    Apps {
        /// Show only this app.
        name: Option<String>,
        #[command(flatten)]
        admin: AdminAccess,
    },
    /// Go back to an app's previous version (or the one given).
    Rollback {
        name: String,
        /// A version id from `switchboard apps NAME` (a prefix is enough).
        #[arg(long)]
        to: Option<String>,
        #[command(flatten)]
        admin: AdminAccess,
    },
    /// Test an app in-process, without sockets: run scenario files (see
    /// docs/testing.md) against a component and print a summary. Exit
    /// status 1 if a scenario fails, 2 if a file is malformed.
    Test {
        /// The component (.wasm) under test.
        app: PathBuf,
        /// Scenario files (.toml, or .json), each run on a fresh instance.
        #[arg(required = true, value_name = "SCENARIO")]
        scenarios: Vec<PathBuf>,
    },
    /// Remove an app deployed through the admin API: its clients are closed
    /// with 1001 and its stored versions deleted. An app the host's config
    /// names is refused (it would come back on restart): take it out of the
    /// config instead.
    Remove {
        name: String,
        #[command(flatten)]
        admin: AdminAccess,
    },
}

/// Wrong input: a config, a flag or a module.
pub(crate) const EXIT_BAD_INPUT: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    match cli.command {
        Command::Serve {
            config,
            listen,
            apps,
            native_apps,
            static_dir,
            max_message_bytes,
            data_dir,
            code_cache_dir,
            admin_listen,
            no_watch,
        } => serve(
            config,
            Overrides {
                listen,
                static_dir,
                apps,
                native_apps,
                max_message_bytes,
                data_dir,
                code_cache_dir,
                admin_listen,
                admin_token: std::env::var(ADMIN_TOKEN_ENV).ok(),
                no_watch,
            },
        ),
        Command::Build { path, out, sdk } => match match &sdk {
            Some(dir) => cli::build::write_sdk(&path, dir),
            None => cli::build::build(&path, out.as_deref()).map(|built| built.to_string()),
        } {
            Ok(done) => {
                println!("{done}");
                ExitCode::SUCCESS
            }
            Err(error) => failed(&error, error.is_bad_input()),
        },
        Command::Check { module } => match cli::check::check(&module) {
            Ok(report) => match report.verdict {
                Ok(()) => {
                    println!("{} fits the switchboard:app world", module.display());
                    print!("{}", report.listing);
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    print!("{}", report.listing);
                    eprintln!("error: {error}");
                    ExitCode::from(EXIT_BAD_INPUT)
                }
            },
            Err(error) => {
                eprintln!("error: {error}");
                ExitCode::from(EXIT_BAD_INPUT)
            }
        },
        Command::Deploy {
            name,
            module,
            route,
            admin,
        } => run_admin(|| {
            let bytes = std::fs::read(&module).map_err(|error| {
                ClientError::BadInput(format!("cannot read {}: {error}", module.display()))
            })?;
            let answer = admin.client()?.deploy(&name, bytes, route.as_deref())?;
            println!(
                "{name}: {} version {}",
                match answer.outcome {
                    switchboard::deploy::Outcome::Created => "created with",
                    switchboard::deploy::Outcome::Replaced => "now serves",
                    switchboard::deploy::Outcome::Unchanged => "already serves",
                },
                answer.status.active_version
            );
            Ok(())
        }),
        Command::Apps { name, admin } => run_admin(|| {
            let client = admin.client()?;
            let apps = match name {
                Some(name) => vec![client.app(&name)?],
                None => client.apps()?,
            };
            if apps.is_empty() {
                println!("no apps");
            }
            for app in apps {
                print!("{}", admin_client::describe(&app));
            }
            Ok(())
        }),
        Command::Rollback { name, to, admin } => run_admin(|| {
            let status = admin.client()?.rollback(&name, to.as_deref())?;
            println!("{name}: now serves version {}", status.active_version);
            Ok(())
        }),
        Command::Test { app, scenarios } => cli::test::run(&app, &scenarios),
        Command::Remove { name, admin } => run_admin(|| {
            admin.client()?.remove(&name)?;
            println!("{name}: removed");
            Ok(())
        }),
    }
}

/// Print `error` on one line and pick the exit status: 2 when the input
/// was wrong, 1 when something failed while running.
fn failed(error: &impl std::fmt::Display, bad_input: bool) -> ExitCode {
    eprintln!("error: {error}");
    if bad_input {
        ExitCode::from(EXIT_BAD_INPUT)
    } else {
        ExitCode::FAILURE
    }
}

fn run_admin(command: impl FnOnce() -> Result<(), ClientError>) -> ExitCode {
    match command() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => failed(&error, error.is_bad_input()),
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
    let engine = match guest::engine_with(config.deploy.compile_cache_bytes, config.deploy.compiler)
    {
        Ok(engine) => engine,
        Err(error) => {
            eprintln!("error: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    // Bind first: a port already taken is the likeliest failure, and it
    // should not leave a data directory behind.
    let listeners = match runtime.block_on(server::bind(&config)) {
        Ok(listeners) => listeners,
        Err(error) => {
            eprintln!("error: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    let new_data_dir = NewDataDir::note(&config.deploy.data_dir);
    // `[kv] dir` may be outside the data directory.
    let new_kv_dir = NewDataDir::note(&config.kv.dir);
    // Inside the runtime: the apps' feed followers are its tasks.
    let started = {
        let _runtime = runtime.enter();
        Deployer::start(&config, &engine)
    };
    let deployer = match started {
        Ok(deployer) => Arc::new(deployer),
        Err(error) => {
            eprintln!("error: {error}");
            new_kv_dir.remove();
            new_data_dir.remove();
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    if deployer.is_empty() && config.admin.is_none() {
        eprintln!(
            "error: no apps to serve: add [[apps]] to the config, pass --app /ROUTE=FILE, \
             or set {ADMIN_TOKEN_ENV} to deploy apps through the admin API"
        );
        drop(deployer);
        new_kv_dir.remove();
        new_data_dir.remove();
        return ExitCode::from(EXIT_BAD_INPUT);
    }
    let result = runtime.block_on(async {
        let shutdown_token = CancellationToken::new();
        shutdown::cancel_on_signal(shutdown_token.clone());
        server::run(config, listeners, deployer, shutdown_token).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The part of the data directory's path that did not exist before this
/// run, so that a run that fails while starting can take back what it
/// created, and a user who got the config wrong does not find an empty
/// `switchboard-data/` beside it. A directory that was there is never
/// touched.
struct NewDataDir(Option<PathBuf>);

impl NewDataDir {
    fn note(data_dir: &std::path::Path) -> NewDataDir {
        let absolute = std::path::absolute(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
        let outermost_missing = absolute
            .ancestors()
            .take_while(|dir| !dir.exists())
            .last()
            .map(PathBuf::from);
        NewDataDir(outermost_missing)
    }

    fn remove(self) {
        if let Some(dir) = self.0
            && let Err(error) = std::fs::remove_dir_all(&dir)
            && error.kind() != std::io::ErrorKind::NotFound
        {
            eprintln!("warning: cannot remove {}: {error}", dir.display());
        }
    }
}

/// What the log shows unless `RUST_LOG` says otherwise: warnings and errors
/// (guest traps among them), and one line each time a version of an app
/// goes live or an app is created or removed ("chat: now serves version
/// ..."), because after a hot swap that line is how a user knows it
/// happened; likewise what happens to a file an app follows (`feeds`:
/// followed, rotated, truncated, readable again). Per-connection and
/// per-compile lines stay at info, off.
const DEFAULT_LOG_FILTER: &str = "warn,switchboard::deploy=info,switchboard::feeds=info";

/// `RUST_LOG=info` or finer to see more. Colours only on a terminal: a log
/// file or a collector would get the escape codes as text.
fn init_logging() {
    use std::io::IsTerminal as _;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG_FILTER));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
