//! Deploying apps: the one code path every new version takes, whether it
//! comes from the config at startup, a watched module file, an upload to the
//! admin API, `switchboard deploy`, or a rollback.
//!
//! A deploy compiles and links the module on a blocking thread while the old
//! version keeps serving, stores it (content-addressed, see `store`), and
//! only then asks the app actor to swap between two events. Anything that
//! fails before the actor says "swapped" leaves the old version running and
//! is reported: in the deploy's answer, in the log, and as the app's
//! `last_error`. Deploys run one at a time, so the stored records never race.
//!
//! `Deployer` is also the live route table the server looks upgrades up in,
//! because deploying a new app or removing one changes which routes exist.

pub mod store;
pub mod watch;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::app::{AppActor, AppHandle};
use crate::close_code;
use crate::config::{self, AppConfig, ClientPolicy, Config, HistoryRule, Limits, NativeAppConfig};
use crate::feeds::{Followers, Grants};
use crate::guest::{
    AppServices, CodeCache, GuestLimits, Module, ModuleError, ModuleHash, TimerLimits, TopicLimits,
    TopicSettings, one_line,
};
use crate::kv::{AppKv, DiskStore, KvStore};
use crate::outbox::CloseRequest;
use store::{AppRecord, FindError, Source, StoreError, VersionRecord, VersionStore};

/// Why a deploy, rollback or removal did nothing. Each maps to one HTTP
/// status in the admin API; the text is what the user reads.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("no app is named {0:?}")]
    UnknownApp(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("the module is {size} bytes, over the limit of {limit} (limits.max_module_bytes)")]
    TooLarge { size: usize, limit: usize },
    #[error("{0}")]
    Rejected(String),
    #[error("route {route:?} is already served by app {app:?}")]
    RouteTaken { route: String, app: String },
    #[error("{0}")]
    NoSuchVersion(String),
    #[error("storage: {0}")]
    Storage(#[from] StoreError),
    #[error("app {0:?} has stopped")]
    Stopped(String),
    #[error(
        "app {name:?} is in the host's config ([[apps]] or --app, module {file}): it would \
         come back on the next start; take it out of the config and restart the host"
    )]
    InConfig { name: String, file: String },
}

/// What a deploy changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// A new app now serves its route.
    Created,
    /// The app runs the new version; its connections stayed open.
    Replaced,
    /// The bytes were those of the active version: nothing to do.
    Unchanged,
}

/// The most recent failed deploy of an app, until one succeeds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LastError {
    pub message: String,
    pub at: String,
}

/// An app as the admin API and `switchboard apps` show it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AppStatus {
    pub name: String,
    pub route: String,
    /// Short id of the active version (12 hex digits of its SHA-256), the
    /// same string the guest gets from `app-info.version`.
    pub active_version: String,
    /// Oldest first.
    pub versions: Vec<VersionStatus>,
    /// Open connections.
    pub connections: usize,
    /// `running`, or `suspended` after repeated traps (until a deploy).
    pub state: AppState,
    /// Traps since the host started.
    pub traps: u64,
    /// Instances replaced since the host started because their memory grew
    /// past `limits.recycle_memory_percent`.
    pub recycles: u64,
    /// The running instance's linear memory, as of its last event.
    pub memory_bytes: usize,
    /// The file this app is deployed from and watched at, if any.
    pub module_file: Option<String>,
    pub last_error: Option<LastError>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AppState {
    Running,
    Suspended,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VersionStatus {
    pub version: String,
    pub sha256: String,
    pub size: u64,
    pub deployed_at: String,
    pub source: Source,
    pub active: bool,
}

/// One app the deployer runs.
struct Deployed {
    record: AppRecord,
    limits: GuestLimits,
    handle: AppHandle,
    actor: Option<AppActor>,
    module_file: Option<PathBuf>,
    last_error: Option<LastError>,
}

impl Deployed {
    fn status(&self) -> AppStatus {
        let record = &self.record;
        AppStatus {
            name: record.name.clone(),
            route: record.route.clone(),
            active_version: short(&record.active),
            versions: record
                .versions
                .iter()
                .map(|v| VersionStatus {
                    version: short(&v.sha256),
                    sha256: v.sha256.clone(),
                    size: v.size,
                    deployed_at: rfc3339(v.deployed_at),
                    source: v.source,
                    active: v.sha256 == record.active,
                })
                .collect(),
            connections: self.handle.live_connections(),
            state: if self.handle.is_suspended() {
                AppState::Suspended
            } else {
                AppState::Running
            },
            traps: self.handle.traps(),
            recycles: self.handle.recycles(),
            memory_bytes: self.handle.memory_bytes(),
            module_file: self.module_file.as_ref().map(|p| p.display().to_string()),
            last_error: self.last_error.clone(),
        }
    }
}

/// Seconds since the epoch as an RFC 3339 time. The number comes from a
/// file on disk, so one too large for a date is shown as is.
fn rfc3339(seconds: u64) -> String {
    /// The first second of the year 10000, which RFC 3339 cannot write
    /// (and humantime would fail on).
    const YEAR_10000: u64 = 253_402_300_800;
    if seconds >= YEAR_10000 {
        return format!("{seconds} s after 1970");
    }
    humantime::format_rfc3339_seconds(
        SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(seconds),
    )
    .to_string()
}

fn short(sha256: &str) -> String {
    sha256.chars().take(ModuleHash::SHORT_LEN).collect()
}

/// What serves a route: the app, and the rules the host checks for it
/// before the app is asked.
#[derive(Clone)]
pub struct Route {
    pub app: AppHandle,
    pub policy: Arc<ClientPolicy>,
}

/// Runs every app: starts them, swaps their versions, removes them, and
/// answers which app serves a route.
pub struct Deployer {
    engine: wasmtime::Engine,
    /// Where every app's topics keep what they share (see `crate::engine`).
    topic_engine: Arc<dyn crate::engine::Engine>,
    /// Where every app's key-value data lives (see `crate::kv`).
    kv_store: Arc<dyn KvStore>,
    /// Compiled components kept between runs; `None` when turned off.
    code_cache: Option<CodeCache>,
    store: VersionStore,
    limits: Limits,
    versions_kept: usize,
    apps: Mutex<BTreeMap<String, Deployed>>,
    /// Built-in apps (`--native-app`): routed and stopped like the others,
    /// but never deployed to, so they have no versions and no record.
    native_apps: Mutex<BTreeMap<String, (AppHandle, AppActor)>>,
    routes: RwLock<HashMap<String, Route>>,
    /// The feeds followed for each app the config grants some
    /// (`[[apps.feeds]]`); dropping an entry stops them.
    feeds: Mutex<BTreeMap<String, Followers>>,
    /// Held for the whole of a deploy, rollback or removal.
    one_at_a_time: tokio::sync::Mutex<()>,
}

/// A startup failure: which file, and why. Shown as one line, exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Module(#[from] ModuleError),
    #[error("data_dir: {0}")]
    Storage(#[from] StoreError),
    #[error("code_cache_dir {path}: {source}; give a directory this user can create and write")]
    CodeCache {
        path: String,
        source: std::io::Error,
    },
    #[error("built-in app: {0:#}")]
    Native(anyhow::Error),
    #[error("kv dir {path}: {source}")]
    Kv {
        path: String,
        source: crate::kv::disk::OpenError,
    },
}

impl Deployer {
    /// Open the data directory and start every app: those in the config,
    /// then those uploaded earlier that the config does not name.
    ///
    /// For a config app, the module file wins if it changed since it was
    /// last deployed; otherwise the version that was active when the host
    /// stopped (perhaps an upload or a rollback) comes back.
    pub fn start(config: &Config, engine: &wasmtime::Engine) -> Result<Deployer, StartupError> {
        let store = VersionStore::open(&config.deploy.data_dir)?;
        let code_cache = match config.deploy.code_cache_bytes {
            0 => None,
            bytes => Some(
                CodeCache::open(&config.deploy.code_cache_dir, engine, bytes).map_err(
                    |source| StartupError::CodeCache {
                        path: config.deploy.code_cache_dir.display().to_string(),
                        source,
                    },
                )?,
            ),
        };
        let kv_store = DiskStore::open(&config.kv.dir, config.kv.durability).map_err(|source| {
            StartupError::Kv {
                path: config.kv.dir.display().to_string(),
                source,
            }
        })?;
        let deployer = Deployer {
            engine: engine.clone(),
            topic_engine: Arc::new(crate::engine::LocalEngine::new()),
            kv_store: Arc::new(kv_store),
            code_cache,
            store,
            limits: config.limits.clone(),
            versions_kept: config.deploy.versions_kept,
            apps: Mutex::new(BTreeMap::new()),
            native_apps: Mutex::new(BTreeMap::new()),
            routes: RwLock::new(HashMap::new()),
            feeds: Mutex::new(BTreeMap::new()),
            one_at_a_time: tokio::sync::Mutex::new(()),
        };
        let (stored, unreadable) = deployer.store.load_apps();
        for error in unreadable {
            tracing::error!("ignoring an unreadable app record: {error}");
        }
        let mut stored: BTreeMap<String, AppRecord> = stored
            .into_iter()
            .map(|record| (record.name.clone(), record))
            .collect();
        for app in &config.apps {
            let record = stored.remove(&app.name);
            deployer.start_config_app(app, record)?;
        }
        for app in &config.native_apps {
            deployer.start_native_app(app)?;
        }
        for (name, record) in stored {
            if let Err(error) = deployer.restore_stored_app(record) {
                tracing::error!(app = %name, "cannot restore the stored app: {error}");
            }
        }
        if let Err(error) = deployer.store.collect_garbage() {
            tracing::warn!("cannot clean the data directory: {error}");
        }
        Ok(deployer)
    }

    fn start_config_app(
        &self,
        app: &AppConfig,
        stored: Option<AppRecord>,
    ) -> Result<(), StartupError> {
        let shown = app.module.display().to_string();
        let limits = self.limits.guest_limits(Some(app));
        let file_bytes = std::fs::read(&app.module).map_err(|source| ModuleError::Read {
            path: shown.clone(),
            source,
        })?;
        let file_hash = ModuleHash::of(&file_bytes);
        let file_version = VersionRecord::new(&file_hash, file_bytes.len(), Source::File);

        // The stored active version, if the file has not changed since.
        let resumed = stored.as_ref().and_then(|record| {
            if record.file_sha256.as_deref() != Some(file_hash.to_hex().as_str()) {
                return None;
            }
            let bytes = self
                .store
                .read_module(&record.active)
                .inspect_err(|error| {
                    tracing::warn!(app = %app.name, "falling back to {shown}: {error}");
                })
                .ok()?;
            let module = Module::compile_cached(
                &self.engine,
                self.code_cache.as_ref(),
                &bytes,
                &app.name,
                &limits,
            )
            .inspect_err(|error| {
                tracing::warn!(app = %app.name, "falling back to {shown}: {error}");
            })
            .ok()?;
            Some((module, record.clone()))
        });
        let resuming = resumed.is_some();
        let (module, mut record) = match resumed {
            Some(resumed) => resumed,
            None => {
                let module = Module::compile_cached(
                    &self.engine,
                    self.code_cache.as_ref(),
                    &file_bytes,
                    &shown,
                    &limits,
                )?;
                self.store.put_module(&file_hash, &file_bytes)?;
                let mut record = stored.unwrap_or_else(|| AppRecord {
                    name: app.name.clone(),
                    route: app.route.clone(),
                    active: file_version.sha256.clone(),
                    versions: Vec::new(),
                    file_sha256: None,
                });
                record.activate(file_version, self.versions_kept);
                record.file_sha256 = Some(file_hash.to_hex());
                (module, record)
            }
        };
        record.route = app.route.clone();
        let services = self.services(&app.name, Some(app));
        let feeds = services.feeds.clone();
        let (handle, actor) = AppActor::start(&app.name, module, &self.limits, limits, services)
            .map_err(|error| ModuleError::WrongWorld {
                path: shown.clone(),
                reason: one_line(&error),
            })?;
        self.store.save_app(&record)?;
        if resuming {
            tracing::info!(
                "{}: now serves version {} again, as when the host stopped \
                 ({shown} has not changed since it was last deployed)",
                app.name,
                short(&record.active)
            );
        } else {
            tracing::info!(
                "{}: now serves version {} from {shown}",
                app.name,
                short(&record.active)
            );
        }
        if !feeds.is_empty() {
            let followers = Followers::start(&handle, &feeds);
            lock(&self.feeds).insert(app.name.clone(), followers);
        }
        let policy = Arc::new(app.policy.clone());
        self.insert(
            record,
            limits,
            policy,
            handle,
            actor,
            Some(app.module.clone()),
        );
        Ok(())
    }

    fn start_native_app(&self, app: &NativeAppConfig) -> Result<(), StartupError> {
        let module = Module::native(&self.engine, app.app);
        let limits = self.limits.guest_limits(None);
        let services = self.services(&app.name, None);
        let (handle, actor) = AppActor::start(&app.name, module, &self.limits, limits, services)
            .map_err(StartupError::Native)?;
        let route = Route {
            app: handle.clone(),
            policy: Arc::default(),
        };
        write(&self.routes).insert(app.route.clone(), route);
        lock(&self.native_apps).insert(app.name.clone(), (handle, actor));
        Ok(())
    }

    /// Whether any app serves at all, built-in ones included.
    pub fn is_empty(&self) -> bool {
        read(&self.routes).is_empty()
    }

    fn restore_stored_app(&self, record: AppRecord) -> anyhow::Result<()> {
        if self.route(&record.route).is_some() {
            anyhow::bail!(
                "route {} is taken by an app in the config; remove one of them",
                record.route
            );
        }
        let bytes = self.store.read_module(&record.active)?;
        let limits = self.limits.guest_limits(None);
        let module = Module::compile_cached(
            &self.engine,
            self.code_cache.as_ref(),
            &bytes,
            &record.name,
            &limits,
        )?;
        let services = self.services(&record.name, None);
        let (handle, actor) =
            AppActor::start(&record.name, module, &self.limits, limits, services)?;
        tracing::info!(
            "{}: now serves version {} on {} again, as when the host stopped",
            record.name,
            short(&record.active),
            record.route
        );
        self.insert(record, limits, Arc::default(), handle, actor, None);
        Ok(())
    }

    fn insert(
        &self,
        record: AppRecord,
        limits: GuestLimits,
        policy: Arc<ClientPolicy>,
        handle: AppHandle,
        actor: AppActor,
        module_file: Option<PathBuf>,
    ) {
        let route = Route {
            app: handle.clone(),
            policy,
        };
        write(&self.routes).insert(record.route.clone(), route);
        lock(&self.apps).insert(
            record.name.clone(),
            Deployed {
                record,
                limits,
                handle,
                actor: Some(actor),
                module_file,
                last_error: None,
            },
        );
    }

    /// The app serving `route`, if any.
    pub fn route(&self, route: &str) -> Option<Route> {
        read(&self.routes).get(route).cloned()
    }

    /// Every app, in name order.
    pub fn list(&self) -> Vec<AppStatus> {
        lock(&self.apps).values().map(Deployed::status).collect()
    }

    pub fn status(&self, name: &str) -> Option<AppStatus> {
        lock(&self.apps).get(name).map(Deployed::status)
    }

    /// Apps deployed from files, for the watcher.
    pub fn watched_files(&self) -> Vec<(String, PathBuf)> {
        lock(&self.apps)
            .values()
            .filter_map(|app| Some((app.record.name.clone(), app.module_file.clone()?)))
            .collect()
    }

    /// Deploy `bytes` as the new version of app `name`, creating the app if
    /// it does not exist (then `route` is required). Returns once the new
    /// version serves, or with the reason it does not.
    pub async fn deploy(
        &self,
        name: &str,
        bytes: Vec<u8>,
        source: Source,
        route: Option<&str>,
    ) -> Result<(Outcome, AppStatus), DeployError> {
        let _turn = self.one_at_a_time.lock().await;
        let result = self.deploy_now(name, bytes, source, route).await;
        if let Err(error) = &result {
            tracing::warn!(
                app = name,
                "deploy failed, the old version keeps serving: {error}"
            );
            self.remember_error(name, error).await;
        }
        result
    }

    async fn deploy_now(
        &self,
        name: &str,
        bytes: Vec<u8>,
        source: Source,
        route: Option<&str>,
    ) -> Result<(Outcome, AppStatus), DeployError> {
        config::check_app_name(name).map_err(DeployError::BadRequest)?;
        if lock(&self.native_apps).contains_key(name) {
            return Err(DeployError::BadRequest(format!(
                "{name:?} is a built-in app (--native-app): it has no versions to deploy"
            )));
        }
        if bytes.len() > self.limits.max_module_bytes {
            return Err(DeployError::TooLarge {
                size: bytes.len(),
                limit: self.limits.max_module_bytes,
            });
        }
        let hash = ModuleHash::of(&bytes);
        let existing = lock(&self.apps)
            .get(name)
            .map(|app| (app.handle.clone(), app.record.clone()));
        if let (Some((_, record)), Some(route)) = (&existing, route)
            && record.route != route
        {
            return Err(DeployError::BadRequest(format!(
                "app {name:?} already serves route {:?}; remove it to move it",
                record.route
            )));
        }
        // A new app: its route must be valid and free, checked before the
        // (slow) compile.
        let new_route = match (&existing, route) {
            (Some(_), _) => None,
            (None, None) => {
                return Err(DeployError::BadRequest(format!(
                    "no app is named {name:?}: to create it, give its route (?route=/PATH)"
                )));
            }
            (None, Some(route)) => {
                config::check_route(route).map_err(DeployError::BadRequest)?;
                if let Some(owner) = self.route(route) {
                    return Err(DeployError::RouteTaken {
                        route: route.to_string(),
                        app: owner.app.name().to_string(),
                    });
                }
                Some(route)
            }
        };
        if let Some((_, record)) = &existing
            && record.active == hash.to_hex()
        {
            if source == Source::File {
                self.update_record(name, |record| record.file_sha256 = Some(hash.to_hex()))
                    .await?;
            }
            return Ok((Outcome::Unchanged, self.status_of(name)?));
        }

        let module = self.compile(bytes.clone(), name).await?;
        let stored = bytes.clone();
        self.on_disk(move |store| store.put_module(&hash, &stored))
            .await?;
        let version = VersionRecord::new(&hash, bytes.len(), source);

        let Some((handle, _)) = existing else {
            // Always set for a new app: checked above.
            let route = new_route.unwrap_or_default();
            return self.create(name, route, module, version).await;
        };
        handle
            .swap(module)
            .await
            .map_err(|error| DeployError::Rejected(error.to_string()))?;
        self.update_record(name, |record| {
            record.activate(version, self.versions_kept);
            if source == Source::File {
                record.file_sha256 = Some(hash.to_hex());
            }
        })
        .await?;
        let how = match source {
            Source::Upload => "uploaded".to_string(),
            Source::File => match lock(&self.apps)
                .get(name)
                .and_then(|app| app.module_file.clone())
            {
                Some(file) => format!("{} changed", file.display()),
                None => "its module file changed".to_string(),
            },
        };
        tracing::info!("{name}: now serves version {} ({how})", hash.short());
        Ok((Outcome::Replaced, self.status_of(name)?))
    }

    async fn create(
        &self,
        name: &str,
        route: &str,
        module: Module,
        version: VersionRecord,
    ) -> Result<(Outcome, AppStatus), DeployError> {
        let limits = self.limits_of(name);
        let services = self.services(name, None);
        let (handle, actor) = AppActor::start(name, module, &self.limits, limits, services)
            .map_err(|error| DeployError::Rejected(one_line(&error)))?;
        let mut record = AppRecord {
            name: name.to_string(),
            route: route.to_string(),
            active: version.sha256.clone(),
            versions: Vec::new(),
            file_sha256: None,
        };
        record.activate(version, self.versions_kept);
        let saved = record.clone();
        if let Err(error) = self.on_disk(move |store| store.save_app(&saved)).await {
            stop_actor(handle, actor, going_away("app could not be stored")).await;
            return Err(error.into());
        }
        tracing::info!(
            "{name}: created on {route}, now serves version {}",
            short(&record.active)
        );
        self.insert(record, limits, Arc::default(), handle, actor, None);
        Ok((Outcome::Created, self.status_of(name)?))
    }

    /// Go back to an earlier stored version: the one before the active
    /// version, or the one whose hash starts with `to`.
    pub async fn rollback(&self, name: &str, to: Option<&str>) -> Result<AppStatus, DeployError> {
        let _turn = self.one_at_a_time.lock().await;
        let result = self.rollback_now(name, to).await;
        if let Err(error) = &result {
            tracing::warn!(app = name, "rollback failed: {error}");
            self.remember_error(name, error).await;
        }
        result
    }

    async fn rollback_now(&self, name: &str, to: Option<&str>) -> Result<AppStatus, DeployError> {
        let (handle, record) = lock(&self.apps)
            .get(name)
            .map(|app| (app.handle.clone(), app.record.clone()))
            .ok_or_else(|| DeployError::UnknownApp(name.to_string()))?;
        let target = match to {
            None => record.previous().ok_or_else(|| {
                DeployError::NoSuchVersion(format!(
                    "app {name:?} has no version older than the active one"
                ))
            })?,
            Some(prefix) => record.find(prefix).map_err(|error| {
                DeployError::NoSuchVersion(match error {
                    FindError::NotFound => format!("app {name:?} has no stored version {prefix:?}"),
                    FindError::Ambiguous => {
                        format!("{prefix:?} names more than one version of {name:?}")
                    }
                })
            })?,
        }
        .clone();
        if target.sha256 == record.active {
            return self.status_of(name);
        }
        let sha256 = target.sha256.clone();
        let bytes = self
            .on_disk(move |store| store.read_module(&sha256))
            .await?;
        let module = self.compile(bytes, name).await?;
        handle
            .swap(module)
            .await
            .map_err(|error| DeployError::Rejected(error.to_string()))?;
        self.update_record(name, |record| record.active = target.sha256.clone())
            .await?;
        tracing::info!(
            "{name}: now serves version {} (rolled back)",
            short(&target.sha256)
        );
        self.status_of(name)
    }

    /// Remove an app: its route stops accepting, every connection is closed
    /// with 1001 after the app has heard its `on-close`, and its stored
    /// versions are deleted.
    ///
    /// An app the config names (`[[apps]]` or `--app`) is refused: the
    /// config is what the host is told to serve, so it would start the app
    /// again on the next start, and a removal that quietly undoes itself is
    /// worse than none. (Remembering the removal instead would make the
    /// config lie.) Its versions can still be replaced and rolled back.
    pub async fn remove(&self, name: &str) -> Result<(), DeployError> {
        let _turn = self.one_at_a_time.lock().await;
        let removed = {
            let mut apps = lock(&self.apps);
            let app = apps
                .get(name)
                .ok_or_else(|| DeployError::UnknownApp(name.to_string()))?;
            if let Some(file) = &app.module_file {
                return Err(DeployError::InConfig {
                    name: name.to_string(),
                    file: file.display().to_string(),
                });
            }
            apps.remove(name)
                .ok_or_else(|| DeployError::UnknownApp(name.to_string()))?
        };
        write(&self.routes).remove(&removed.record.route);
        lock(&self.feeds).remove(name);
        if let Some(actor) = removed.actor {
            stop_actor(removed.handle, actor, going_away("app removed")).await;
        }
        let removed_name = name.to_string();
        self.on_disk(move |store| store.remove_app(&removed_name))
            .await?;
        self.collect_garbage().await;
        tracing::info!("{name}: removed");
        Ok(())
    }

    /// Stop every app once their connections are gone (host shutdown).
    pub async fn shutdown(&self) {
        let _turn = self.one_at_a_time.lock().await;
        write(&self.routes).clear();
        lock(&self.feeds).clear();
        let apps = std::mem::take(&mut *lock(&self.apps));
        for (_, app) in apps {
            if let Some(actor) = app.actor {
                stop_actor(app.handle, actor, going_away("server shutting down")).await;
            }
        }
        let native_apps = std::mem::take(&mut *lock(&self.native_apps));
        for (_, (handle, actor)) in native_apps {
            stop_actor(handle, actor, going_away("server shutting down")).await;
        }
        // Every app has stopped writing: whatever `buffered` durability
        // had not fsynced yet goes to disk now.
        if let Err(error) = self.kv_store.persist() {
            tracing::error!("cannot fsync the key-value store: {error}");
        }
    }

    /// What an app's topics run under: the host's engine, the app's
    /// history rules (an app the config does not name keeps no history).
    /// What an app is served with. Only the config grants feeds and keeps
    /// history, so an app the config does not name (created by a deploy,
    /// or restored from the data directory) has neither.
    fn services(&self, name: &str, app: Option<&AppConfig>) -> AppServices {
        AppServices {
            topics: self.topics(name, app.map_or(&[][..], |app| &app.history)),
            feeds: app.map_or_else(Grants::default, |app| {
                Grants::new(&app.feeds, self.limits.max_feed_line_bytes)
            }),
            timers: TimerLimits::from_config(&self.limits),
            kv: self.kv(name, app),
        }
    }

    fn topics(&self, name: &str, history: &[HistoryRule]) -> TopicSettings {
        TopicSettings::new(
            Arc::from(name),
            self.topic_engine.clone(),
            history,
            TopicLimits::from_config(&self.limits),
        )
    }

    /// An app's key-value namespace in the host's store, under the app's
    /// quota (`app`: its config, if it has one). Its usage is counted now,
    /// as the app starts, so the first write pays nothing for it.
    fn kv(&self, name: &str, app: Option<&AppConfig>) -> AppKv {
        let kv = AppKv::new(
            Arc::from(name),
            self.kv_store.clone(),
            self.limits.kv_limits(app),
        );
        match kv.usage() {
            Ok(usage) if usage.keys > 0 => tracing::info!(
                "{name}: its key-value namespace holds {} keys, {} bytes",
                usage.keys,
                usage.bytes
            ),
            Ok(_) => {}
            Err(error) => tracing::error!("{name}: cannot read its key-value usage: {error}"),
        }
        kv
    }

    /// The app's limits: its own if it runs, the defaults for a new one.
    fn limits_of(&self, name: &str) -> GuestLimits {
        lock(&self.apps)
            .get(name)
            .map_or_else(|| self.limits.guest_limits(None), |app| app.limits)
    }

    /// Compile on a thread of its own at lowered priority: a deploy may
    /// take a little longer, while the connections and apps serving meanwhile
    /// should not notice it (the swap benchmark measures that).
    async fn compile(&self, bytes: Vec<u8>, name: &str) -> Result<Module, DeployError> {
        let engine = self.engine.clone();
        let code_cache = self.code_cache.clone();
        let label = format!("the new version of {name}");
        let limits = self.limits_of(name);
        let (done, compiled) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("deploy-compile".into())
            .spawn(move || {
                crate::scheduling::lower_for_compiling();
                let _ = done.send(Module::compile_cached(
                    &engine,
                    code_cache.as_ref(),
                    &bytes,
                    &label,
                    &limits,
                ));
            })
            .map_err(|error| DeployError::Rejected(format!("cannot start compiling: {error}")))?;
        compiled
            .await
            .map_err(|_| DeployError::Rejected("compiling stopped unexpectedly".into()))?
            .map_err(|error| DeployError::Rejected(error.to_string()))
    }

    /// Change an app's record on disk, then in memory, and clear its last
    /// error (this is how a deploy succeeds).
    async fn update_record(
        &self,
        name: &str,
        change: impl FnOnce(&mut AppRecord),
    ) -> Result<(), DeployError> {
        let mut record = lock(&self.apps)
            .get(name)
            .map(|app| app.record.clone())
            .ok_or_else(|| DeployError::UnknownApp(name.to_string()))?;
        change(&mut record);
        let saved = record.clone();
        self.on_disk(move |store| store.save_app(&saved)).await?;
        if let Some(app) = lock(&self.apps).get_mut(name) {
            app.record = record;
            app.last_error = None;
        }
        self.collect_garbage().await;
        Ok(())
    }

    async fn remember_error(&self, name: &str, error: &DeployError) {
        if let Some(app) = lock(&self.apps).get_mut(name) {
            let now = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |since| since.as_secs());
            app.last_error = Some(LastError {
                message: error.to_string(),
                at: rfc3339(now),
            });
        }
        // A module stored for a deploy that then failed is named by no record.
        self.collect_garbage().await;
    }

    /// Delete stored modules no record names; a failure only costs disk.
    async fn collect_garbage(&self) {
        if let Err(error) = self.on_disk(|store| store.collect_garbage()).await {
            tracing::warn!("cannot clean the data directory: {error}");
        }
    }

    /// Run file work on a blocking thread: an fsync can take milliseconds,
    /// and a tokio worker waiting on it would stall every connection it
    /// serves.
    async fn on_disk<T: Send + 'static>(
        &self,
        work: impl FnOnce(&VersionStore) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || work(&store))
            .await
            .map_err(|error| StoreError::Io {
                path: "data directory".into(),
                source: std::io::Error::other(error.to_string()),
            })?
    }

    fn status_of(&self, name: &str) -> Result<AppStatus, DeployError> {
        self.status(name)
            .ok_or_else(|| DeployError::UnknownApp(name.to_string()))
    }

    /// Deploy a watched module file whose content changed since it was last
    /// deployed. Comparing with the file's last deployed content, not with
    /// the active version, keeps an upload or a rollback in place until the
    /// file really changes.
    pub async fn deploy_file(&self, name: &str, path: &Path) {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            // Mid-rename or deleted: the event for the new file follows.
            Err(error) => {
                tracing::debug!(app = name, "cannot read {}: {error}", path.display());
                return;
            }
        };
        let last_deployed = match lock(&self.apps).get(name) {
            Some(app) => app.record.file_sha256.clone(),
            // Removed through the admin API: its file no longer deploys.
            None => return,
        };
        if last_deployed.as_deref() == Some(ModuleHash::of(&bytes).to_hex().as_str()) {
            return;
        }
        // Going live and failing are both logged by `deploy`.
        let _ = self.deploy(name, bytes, Source::File, None).await;
    }
}

fn going_away(reason: &str) -> CloseRequest {
    CloseRequest {
        code: close_code::GOING_AWAY,
        reason: reason.to_string(),
    }
}

/// How long an app may take to close its connections and stop: each
/// connection's closing handshake is bounded by the close timeout, and
/// `on-close` calls are quick, so this is generous. Past it the thread is
/// left behind rather than hanging a removal or the shutdown.
const STOP_PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);

/// Ask an actor to close its connections and stop, and wait until it has.
async fn stop_actor(handle: AppHandle, actor: AppActor, close: CloseRequest) {
    let name = handle.name().clone();
    if tokio::time::timeout(STOP_PATIENCE, handle.stop(close))
        .await
        .is_err()
    {
        tracing::error!(
            app = &*name,
            "the app did not stop in time; leaving it behind"
        );
        return;
    }
    drop(handle);
    if tokio::task::spawn_blocking(move || actor.join())
        .await
        .is_err()
    {
        tracing::error!(app = &*name, "cannot wait for the app thread to end");
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn times_from_disk_never_panic() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(u64::MAX), format!("{} s after 1970", u64::MAX));
    }
}
