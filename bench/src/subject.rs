//! The server a scenario measures: one the bench starts (the usual case: a
//! known binary on a known core serving a known app), or one already running
//! at a URL. Every scenario goes through here, so they all start, label and
//! stop their server the same way.

use anyhow::{Context as _, bail};

use crate::cli::{Placement, SwapArgs, Target};
use crate::cpu::CoreSet;
use crate::server::{AppSource, Configured, Launch, Server};

/// Which app a scenario serves, when the bench starts the server.
pub enum App {
    /// The component at this path.
    Wasm(std::path::PathBuf),
    /// The host's built-in app of this name (the native baseline).
    Native(&'static str),
    /// No host at all: `bare-echo` at this path (bench/src/bin/bare-echo.rs),
    /// the floor under the host's echo figures.
    Floor(std::path::PathBuf),
}

impl App {
    /// The scenario's component (`--app`, or the named example), or with
    /// `native` the host's built-in app of the same name.
    pub fn choose(target: &Target, native: bool, name: &'static str) -> App {
        if native {
            App::Native(name)
        } else {
            App::Wasm(target.app_or_example(name))
        }
    }

    /// How reports name the app.
    pub fn label(&self) -> String {
        match self {
            App::Wasm(path) => path.display().to_string(),
            App::Native(name) => format!("native {name} (built into the host)"),
            App::Floor(path) => format!("no host: the floor server {}", path.display()),
        }
    }

    pub fn is_native(&self) -> bool {
        matches!(self, App::Native(_))
    }
}

/// What the load is aimed at.
pub struct Subject {
    pub url: url::Url,
    /// The process to charge CPU time and memory to, when known.
    pub pid: Option<u32>,
    /// Set when the bench started the server; dropping it kills the server.
    pub server: Option<Server>,
    /// `http://IP:PORT` of the admin API and its token, for swaps.
    pub admin: Option<(String, String)>,
    /// The app, for reports; `None` when measuring a server given by URL.
    pub app: Option<String>,
    /// The server binary, for reports, when the bench started it.
    pub binary: Option<String>,
    /// The core the server was pinned to, if the bench pinned it.
    pub server_core: Option<usize>,
}

impl Subject {
    /// What the reports say of this server and the app it serves.
    pub fn under_test(&self, app: &App) -> crate::report::ServerUnderTest {
        crate::report::ServerUnderTest {
            server: self.binary.clone(),
            app: self.app.clone(),
            // Only a server the bench started is known to serve it.
            native: app.is_native() && self.server.is_some(),
            server_pid: self.pid,
            server_core: self.server_core,
        }
    }

    /// Start the server on `route` (pinned as `target` says), or take the
    /// one given by `--url`. With `swap`, also its admin API.
    pub fn open(
        target: &Target,
        route: &str,
        app: &App,
        swap: Option<&SwapArgs>,
    ) -> anyhow::Result<Subject> {
        Self::open_with(target, route, app, swap, &Configured::default())
    }

    /// `open`, with what `configured` adds to the started server's config
    /// (`[limits]` entries, compression, history, feeds, the store's
    /// durability); a server given by `--url` keeps its own.
    pub fn open_with(
        target: &Target,
        route: &str,
        app: &App,
        swap: Option<&SwapArgs>,
        configured: &Configured<'_>,
    ) -> anyhow::Result<Subject> {
        if let Some(url) = &target.url {
            return Self::given(target, url, swap);
        }

        let token = swap.map(|_| crate::swap::random_token()).transpose()?;
        let core = server_core(&target.placement)?;
        let start_host = |source| {
            Server::start(&Launch {
                binary: &target.switchboard,
                app: Some(source),
                route,
                core,
                admin_token: token.as_deref(),
                config: *configured,
                code_cache_dir: None,
                log_filter: None,
            })
        };
        let (server, binary) = match app {
            App::Wasm(path) => (start_host(AppSource::Wasm(path))?, &target.switchboard),
            App::Native(name) => (start_host(AppSource::Native(name))?, &target.switchboard),
            App::Floor(path) => {
                if swap.is_some() {
                    bail!("the floor server has no app to swap");
                }
                (Server::start_floor(path, core)?, path)
            }
        };
        let url = url::Url::parse(&format!("ws://{}{route}", server.ws_address))
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
            app: Some(app.label()),
            binary: Some(binary.display().to_string()),
            server_core: core.map(|_| target.placement.server_core),
        })
    }

    fn given(target: &Target, url: &url::Url, swap: Option<&SwapArgs>) -> anyhow::Result<Subject> {
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
        Ok(Subject {
            url: url.clone(),
            pid: target.server_pid,
            server: None,
            admin,
            app: None,
            binary: None,
            server_core: None,
        })
    }

    /// Stop the server if the bench started it. A server that crashed or
    /// failed its shutdown is a failure whatever the traffic said, so the
    /// caller gets that as text to add to the run's failures.
    pub fn stop(self) -> Option<String> {
        let server = self.server?;
        server.stop().err().map(|error| format!("{error:#}"))
    }
}

/// The core to pin a started server to, unless pinning is off.
pub fn server_core(placement: &Placement) -> anyhow::Result<Option<CoreSet>> {
    if placement.no_pin {
        Ok(None)
    } else {
        CoreSet::new(placement.server_core).map(Some)
    }
}

/// Pin the bench's measuring thread to its core, unless pinning is off.
/// Called after the server has started, so nothing of the server's could
/// inherit this pin.
pub fn pin_bench(placement: &Placement) -> anyhow::Result<Option<usize>> {
    if placement.no_pin {
        return Ok(None);
    }
    CoreSet::new(placement.client_core)?.pin_current_thread()?;
    Ok(Some(placement.client_core))
}
