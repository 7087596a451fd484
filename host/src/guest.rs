//! Everything wasmtime: the shared engine, the linker that grants a guest its
//! imports, the bindings generated from `wit/`, and the host side of the
//! imported interfaces (`connections`, `log`, `attachments`, `app-info`).
//!
//! A module is compiled and linked once into an `InstancePre` (wasmtime's
//! pre-instantiated form); making a fresh instance from it is cheap, which is
//! what lets an app recover from a trap, or take over from its previous
//! version, in microseconds.
//!
//! The bindings are generated for the richest world, `stateful-app`; a
//! component targeting the basic `app` world imports less (which links) and
//! lacks the `lifecycle` export, which the host looks for and calls only
//! when it is there.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context as _;
use bytes::Bytes;
use sha2::{Digest as _, Sha256};
use wasmtime::component::{Component, HasSelf, InstancePre, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::close_code;
use crate::native::NativeApp;
use crate::outbox::{CloseRequest, ConnectionId, OutboundMessage, Outbox, PushError};

/// Generated from `wit/`, the single source of truth for the contract. In its
/// own module because the WIT package is also called `switchboard`.
mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "stateful-app",
    });
}

use bindings::exports::switchboard::app::{handler, lifecycle};
use bindings::{StatefulApp, switchboard::app as wit};
pub use wit::attachments::{AttachmentError, ConnectionInfo};
/// The host side of `connections`, for the built-in apps to call.
pub use wit::connections::Host as ConnectionsHost;
pub use wit::types::{Accept, ConnectionError, Message, Reject, Request};

/// The name under which a component exports the optional `lifecycle`
/// interface. Looked up semver-aware, so any 0.1.x export matches.
const LIFECYCLE_EXPORT: &str = "switchboard:app/lifecycle@0.1.1";

mod clock;
mod code_cache;
mod compile_cache;
mod output;
mod packed_request;
mod sandbox;
mod wasi;

pub use code_cache::CodeCache;
pub use sandbox::GuestLimits;

/// Which of wasmtime's compilers turns an app's WebAssembly into machine
/// code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compiler {
    /// Optimising: slow to compile a language runtime (11-18 s for a
    /// JavaScript or Python component), fastest code.
    #[default]
    Cranelift,
    /// Baseline, one pass: compiles about 5 times faster (2-2.5 s for a
    /// JavaScript or Python component); its code runs about 1.5 times
    /// slower. Epoch checks, and so call deadlines, work as under Cranelift.
    Winch,
}

/// The one engine every app shares: compiled code and caches live here.
/// `compile_cache_bytes` bounds the memory kept to compile new versions
/// faster (`compile_cache`); 0 turns that cache off.
pub fn engine(compile_cache_bytes: u64) -> anyhow::Result<Engine> {
    engine_with(compile_cache_bytes, Compiler::Cranelift)
}

/// `engine`, compiling with `compiler` (`[deploy] compiler`).
pub fn engine_with(compile_cache_bytes: u64, compiler: Compiler) -> anyhow::Result<Engine> {
    let mut config = wasmtime::Config::new();
    config.wasm_component_model(true);
    // No async ABI (wasmtime's `component-model-async`): with it, wasmtime
    // 48 keeps a task per guest call and per host call, which doubles the
    // cost of a small event (the Rust echo: 0.6 -> 1.15 us of CPU), and no
    // toolchain we support needs it (componentize-qjs has `--sync`).
    config.strategy(match compiler {
        Compiler::Cranelift => wasmtime::Strategy::Cranelift,
        Compiler::Winch => wasmtime::Strategy::Winch,
    });
    // Call deadlines (see `sandbox`): a guest in an endless loop traps.
    config.epoch_interruption(true);
    // Compile on the calling thread only: a deploy compiles on a thread of
    // lowered priority (see `deploy`), and rayon's pool would not be. The
    // compile cache's counts rely on it too.
    config.parallel_compilation(false);
    // Winch does not use Cranelift's incremental cache.
    if compile_cache_bytes > 0 && compiler == Compiler::Cranelift {
        config
            .enable_incremental_compilation(Arc::new(compile_cache::CompiledFunctions::new(
                compile_cache_bytes,
            )))
            .map_err(anyhow::Error::from)
            .context("cannot set up the compile cache")?;
    }
    let engine = Engine::new(&config)
        .map_err(anyhow::Error::from)
        .context("cannot start the WebAssembly engine")?;
    sandbox::start_epoch_ticker(&engine).context("cannot start the epoch ticker")?;
    Ok(engine)
}

/// A module's identity: the SHA-256 of its bytes. Versions are named by it
/// (the first `SHORT_LEN` hex digits) and stored under it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ModuleHash([u8; 32]);

impl ModuleHash {
    /// Hex digits in a short version id: as in git, enough to be unique
    /// among any app's versions, short enough to read and type.
    pub const SHORT_LEN: usize = 12;

    pub fn of(bytes: &[u8]) -> Self {
        ModuleHash(Sha256::digest(bytes).into())
    }

    pub fn to_hex(&self) -> String {
        self.0.iter().map(|byte| format!("{byte:02x}")).collect()
    }

    pub fn short(&self) -> String {
        let mut hex = self.to_hex();
        hex.truncate(Self::SHORT_LEN);
        hex
    }
}

/// A compiled, linked app module, ready to be instantiated.
#[derive(Clone)]
pub struct Module {
    code: Code,
    engine: Engine,
    /// The short hash guests read from `app-info.version`.
    version: Arc<str>,
}

/// What runs an app's events.
#[derive(Clone)]
enum Code {
    Component {
        pre: InstancePre<GuestState>,
        handler: handler::GuestIndices,
        /// Present when the component exports `lifecycle` (snapshot/restore).
        lifecycle: Option<lifecycle::GuestIndices>,
    },
    /// Built-in Rust logic (see `native`): the same store and host
    /// functions, no WebAssembly.
    Native(NativeApp),
}

/// Why a module cannot be an app. The text is for people: it names what is
/// missing or mismatched, as wasmtime reports it.
#[derive(Debug, thiserror::Error)]
pub enum ModuleError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a WebAssembly file: {hint}")]
    NotWasm { path: String, hint: &'static str },
    #[error(
        "{path} is a core WebAssembly module, not a component: build it for wasm32-wasip2 \
         (or wrap it with `wasm-tools component new`)"
    )]
    CoreModule { path: String },
    #[error("{path} is not a WebAssembly component: {reason}")]
    NotAComponent { path: String, reason: String },
    #[error(
        "{path} uses the component model's async ABI, which this host does not run ({reason}); \
         build JavaScript with `componentize-qjs --sync`"
    )]
    NeedsAsync { path: String, reason: String },
    #[error("{path} does not fit the switchboard:app world: {reason}")]
    WrongWorld { path: String, reason: String },
    #[error("{path} failed while starting: {reason}")]
    WontStart { path: String, reason: String },
}

/// What every WebAssembly binary starts with.
const WASM_MAGIC: &[u8; 4] = b"\0asm";

/// Tell "not WebAssembly at all" and "a core module" apart from a broken
/// component before wasmtime sees the bytes: its own messages for those
/// ("input bytes aren't valid utf-8", a WAT parse error on some line,
/// "attempted to parse a wasm module with a component parser") name neither
/// the problem nor the fix. Text (WAT) is refused too, although wasmtime
/// could assemble it: what is deployed is what a toolchain built, one format
/// everywhere (check, serve, the admin API), and a README or a config file
/// given by mistake gets this message rather than a parser's.
fn check_header(bytes: &[u8], name: &str) -> Result<(), ModuleError> {
    if !bytes.starts_with(WASM_MAGIC) {
        let looks_like_wat =
            std::str::from_utf8(bytes).is_ok_and(|text| text.trim_start().starts_with('('));
        return Err(ModuleError::NotWasm {
            path: name.to_string(),
            hint: if looks_like_wat {
                "it is WAT text; assemble it with `wasm-tools parse` first"
            } else {
                "give the .wasm component that `cargo build --release --target wasm32-wasip2` writes"
            },
        });
    }
    // After the magic: a 16-bit version, then a 16-bit layer, 0 for a core
    // module and 1 for a component.
    if bytes.get(6..8) == Some(&[0, 0]) {
        return Err(ModuleError::CoreModule {
            path: name.to_string(),
        });
    }
    Ok(())
}

/// An error and its causes on one line, for messages that must be one line.
pub fn one_line(error: &impl std::fmt::Display) -> String {
    format!("{error:#}").replace('\n', " ")
}

/// A failed guest call on one line, for a user to read: a trap is named by
/// what trapped (`wasm trap: ...`, or the call timeout), without the wasm
/// backtrace wasmtime puts around it (a dozen lines of offsets). What a
/// guest printed before it trapped (a Rust panic message, "memory
/// allocation failed") is in the log already, through its stderr.
pub fn trap_line(error: &anyhow::Error, call_timeout: std::time::Duration) -> String {
    match error.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::Interrupt) => format!(
            "ran past its call timeout ({} ms)",
            call_timeout.as_millis()
        ),
        Some(trap) => trap.to_string(),
        None => one_line(error),
    }
}

/// Compile a component's bytes to machine code, without linking it: the
/// slow part of a deploy (milliseconds to tens of seconds).
pub fn compile_component(
    engine: &Engine,
    bytes: &[u8],
    name: &str,
) -> Result<Component, ModuleError> {
    check_header(bytes, name)?;
    let started = std::time::Instant::now();
    let (component, functions) = compile_cache::counting(|| Component::new(engine, bytes));
    let component = component.map_err(|error| {
        let reason = one_line(&error);
        // wasmtime's words for an intrinsic of the async ABI, which this
        // host does not run (see `engine`).
        if reason.contains("requires the component model async feature") {
            ModuleError::NeedsAsync {
                path: name.to_string(),
                reason,
            }
        } else {
            ModuleError::NotAComponent {
                path: name.to_string(),
                reason,
            }
        }
    })?;
    let milliseconds = started.elapsed().as_millis() as u64;
    if functions == compile_cache::FunctionCounts::default() {
        // No compile cache: there is nothing to count.
        tracing::info!(module = name, milliseconds, "compiled");
    } else {
        tracing::info!(
            module = name,
            milliseconds,
            compiled_functions = functions.compiled,
            reused_functions = functions.reused,
            "compiled"
        );
    }
    Ok(component)
}

/// `compile_component` through the on-disk cache. The header is checked by
/// `compile_component` on a miss; a hit can only be bytes that passed it,
/// since entries are named by the module's hash.
fn compile_through(
    engine: &Engine,
    cache: &CodeCache,
    hash: &ModuleHash,
    bytes: &[u8],
    name: &str,
) -> Result<Component, ModuleError> {
    let started = std::time::Instant::now();
    match cache.load(engine, hash) {
        code_cache::Lookup::Hit(component) => {
            let milliseconds = started.elapsed().as_millis() as u64;
            tracing::info!(
                module = name,
                milliseconds,
                "loaded compiled code from the code cache"
            );
            return Ok(component);
        }
        code_cache::Lookup::Miss(Some(reason)) => {
            tracing::warn!(module = name, "code cache: {reason}; compiling again");
        }
        code_cache::Lookup::Miss(None) => {}
    }
    let component = compile_component(engine, bytes, name)?;
    if let Err(reason) = cache.store(hash, &component) {
        tracing::warn!(module = name, "code cache: {reason}");
    }
    Ok(component)
}

/// One import of a component, and whether the host grants it.
pub struct Import {
    /// As the component names it: `wasi:clocks/wall-clock@0.2.12`.
    pub name: String,
    /// What granting it hands over; `None` when the host refuses it.
    pub authority: Option<&'static str>,
}

/// Every import of a component, each with what the host grants for it.
pub fn imports_of(engine: &Engine, component: &Component) -> Vec<Import> {
    component
        .component_type()
        .imports(engine)
        .map(|(name, _)| Import {
            name: name.to_string(),
            authority: wasi::grant_for(name).map(|grant| grant.authority),
        })
        .collect()
}

/// Why a version could not hand its state on in a hot swap.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error(
        "its snapshot is {bytes} bytes, over limits.max_snapshot_bytes ({limit}): \
         hand less state across swaps or raise the limit"
    )]
    TooLarge { bytes: usize, limit: usize },
    /// The guest trapped (ran out of memory, panicked, ran too long).
    #[error("{0:#}")]
    Trapped(anyhow::Error),
}

impl Module {
    /// Compile and link a component, and start it once on the side, so that
    /// a module that does not fit the world or traps while starting is
    /// refused here, before any app depends on it. `name` says where the
    /// module came from in errors. This is the slow part of a deploy
    /// (milliseconds to seconds): run it off the app actor. The trial start
    /// runs within `limits`, so a module that spins while starting is
    /// refused rather than hanging the deploy.
    pub fn compile(
        engine: &Engine,
        bytes: &[u8],
        name: &str,
        limits: &GuestLimits,
    ) -> Result<Module, ModuleError> {
        Module::compile_cached(engine, None, bytes, name, limits)
    }

    /// `compile`, taking the compiled code from `cache` when it holds it,
    /// and putting it there when it did not.
    pub fn compile_cached(
        engine: &Engine,
        cache: Option<&CodeCache>,
        bytes: &[u8],
        name: &str,
        limits: &GuestLimits,
    ) -> Result<Module, ModuleError> {
        let hash = ModuleHash::of(bytes);
        let component = match cache {
            Some(cache) => compile_through(engine, cache, &hash, bytes, name)?,
            None => compile_component(engine, bytes, name)?,
        };
        Module::link(engine, &component, hash, name, limits)
    }

    /// Link a compiled component into an app module and start it once on
    /// the side (see `compile`).
    pub fn link(
        engine: &Engine,
        component: &Component,
        hash: ModuleHash,
        name: &str,
        limits: &GuestLimits,
    ) -> Result<Module, ModuleError> {
        let wrong_world = |error: wasmtime::Error| ModuleError::WrongWorld {
            path: name.to_string(),
            reason: one_line(&error),
        };
        let refused: Vec<String> = imports_of(engine, component)
            .into_iter()
            .filter(|import| import.authority.is_none())
            .map(|import| import.name)
            .collect();
        if !refused.is_empty() {
            return Err(ModuleError::WrongWorld {
                path: name.to_string(),
                reason: format!(
                    "it imports {}, which this host does not grant (`switchboard check` lists \
                     every import and what the host grants for it)",
                    refused.join(", ")
                ),
            });
        }
        let linker = linker(engine).map_err(wrong_world)?;
        let pre = linker.instantiate_pre(component).map_err(wrong_world)?;
        let handler = handler::GuestIndices::new(&pre).map_err(wrong_world)?;
        let lifecycle = match component.get_export_index(None, LIFECYCLE_EXPORT) {
            Some(_) => Some(lifecycle::GuestIndices::new(&pre).map_err(wrong_world)?),
            None => None,
        };
        let module = Module {
            code: Code::Component {
                pre,
                handler,
                lifecycle,
            },
            engine: engine.clone(),
            version: Arc::from(hash.short()),
        };
        let trial = GuestState::new(Arc::from(name), Connections::new(), *limits);
        module
            .instantiate(trial)
            .map_err(|failed| ModuleError::WontStart {
                path: name.to_string(),
                reason: one_line(&failed.error),
            })?;
        Ok(module)
    }

    /// A built-in app, served like a module of its own.
    pub fn native(engine: &Engine, app: NativeApp) -> Module {
        Module {
            code: Code::Native(app),
            engine: engine.clone(),
            version: Arc::from(format!("native-{}", app.name())),
        }
    }

    /// A fresh instance with its own memory, serving `state`'s connections.
    /// On failure the state comes back, so no connection is forgotten.
    pub fn instantiate(&self, mut state: GuestState) -> Result<Instance, Box<InstantiateError>> {
        state.app_version = self.version.clone();
        let deadline = state.limits.deadline_ticks();
        state.clock.begin_call(state.limits.call_timeout);
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limiter);
        store.set_epoch_deadline(deadline);
        let (pre, handler, lifecycle) = match &self.code {
            Code::Component {
                pre,
                handler,
                lifecycle,
            } => (pre, handler, lifecycle),
            Code::Native(app) => {
                return Ok(Instance {
                    store,
                    code: InstanceCode::Native(*app),
                });
            }
        };
        let started = (|| -> wasmtime::Result<_> {
            let instance = pre.instantiate(&mut store)?;
            let handler = handler.load(&mut store, &instance)?;
            let lifecycle = match lifecycle {
                Some(indices) => Some(indices.load(&mut store, &instance)?),
                None => None,
            };
            Ok((handler, lifecycle))
        })();
        match started {
            Ok((handler, lifecycle)) => Ok(Instance {
                store,
                code: InstanceCode::Component { handler, lifecycle },
            }),
            Err(error) => Err(Box::new(InstantiateError {
                error: anyhow::Error::from(error).context("the guest failed while starting"),
                state: store.into_data(),
            })),
        }
    }
}

/// A guest that could not start, and the host state it was given.
pub struct InstantiateError {
    pub error: anyhow::Error,
    pub state: GuestState,
}

impl Module {
    /// Whether the component exports `lifecycle`, i.e. keeps state across a
    /// hot swap.
    pub fn has_lifecycle(&self) -> bool {
        matches!(
            &self.code,
            Code::Component {
                lifecycle: Some(_),
                ..
            }
        )
    }
}

/// The imports a guest is granted: our interfaces, plus the WASI pieces
/// that language toolchains link by default (see `wasi`), against an empty
/// context; stderr goes to the host log so a guest's panic message is not
/// lost.
fn linker(engine: &Engine) -> wasmtime::Result<Linker<GuestState>> {
    let mut linker = Linker::new(engine);
    wasi::add_to_linker(&mut linker)?;
    StatefulApp::add_to_linker::<GuestState, HasSelf<GuestState>>(&mut linker, |state| state)?;
    Ok(linker)
}

/// One live instance of an app.
pub struct Instance {
    store: Store<GuestState>,
    code: InstanceCode,
}

enum InstanceCode {
    Component {
        handler: handler::Guest,
        lifecycle: Option<lifecycle::Guest>,
    },
    /// Accepts every connection and keeps no state of its own, so it has
    /// nothing to snapshot.
    Native(NativeApp),
}

impl InstanceCode {
    fn lifecycle(&self) -> Option<&lifecycle::Guest> {
        match self {
            InstanceCode::Component { lifecycle, .. } => lifecycle.as_ref(),
            InstanceCode::Native(_) => None,
        }
    }
}

impl Instance {
    pub fn state(&mut self) -> &mut GuestState {
        self.store.data_mut()
    }

    /// Tear the instance down and keep what the host owns, to hand it on.
    pub fn into_state(self) -> GuestState {
        self.store.into_data()
    }

    pub fn has_lifecycle(&self) -> bool {
        matches!(
            self.code,
            InstanceCode::Component {
                lifecycle: Some(_),
                ..
            }
        )
    }

    /// The state this version hands to the next, if it exports `lifecycle`
    /// and has something to hand over. A snapshot over
    /// `max_snapshot_bytes` is refused: the guest built it within its
    /// memory cap, but the host would hold it and the next version take it
    /// in on top of its own memory.
    pub fn snapshot(&mut self) -> Result<Option<Vec<u8>>, SnapshotError> {
        arm_deadline(&mut self.store);
        let snapshot = match self.code.lifecycle() {
            Some(lifecycle) => lifecycle
                .call_snapshot(&mut self.store)
                .map_err(|trap| SnapshotError::Trapped(anyhow::Error::from(trap)))?,
            None => None,
        };
        let limit = self.store.data().limits.max_snapshot_bytes;
        match snapshot {
            Some(bytes) if bytes.len() > limit => Err(SnapshotError::TooLarge {
                bytes: bytes.len(),
                limit,
            }),
            snapshot => Ok(snapshot),
        }
    }

    /// Give this (new) version the previous version's snapshot. The outer
    /// error is a trap, the inner one the guest's own refusal.
    pub fn restore(&mut self, snapshot: &[u8]) -> anyhow::Result<Result<(), String>> {
        arm_deadline(&mut self.store);
        match self.code.lifecycle() {
            Some(lifecycle) => lifecycle
                .call_restore(&mut self.store, snapshot)
                .map_err(anyhow::Error::from),
            None => Ok(Ok(())),
        }
    }

    pub fn on_open(
        &mut self,
        connection: ConnectionId,
        request: &Request,
    ) -> anyhow::Result<Result<Accept, Reject>> {
        match &self.code {
            InstanceCode::Component { handler, .. } => {
                arm_deadline(&mut self.store);
                handler
                    .call_on_open(&mut self.store, connection.0, request)
                    .map_err(anyhow::Error::from)
            }
            InstanceCode::Native(_) => Ok(Ok(Accept { subprotocol: None })),
        }
    }

    pub fn on_message(
        &mut self,
        connection: ConnectionId,
        message: &Message,
    ) -> anyhow::Result<()> {
        match &self.code {
            InstanceCode::Component { handler, .. } => {
                arm_deadline(&mut self.store);
                handler
                    .call_on_message(&mut self.store, connection.0, message)
                    .map_err(anyhow::Error::from)
            }
            InstanceCode::Native(app) => {
                app.on_message(self.store.data_mut(), connection, message);
                Ok(())
            }
        }
    }

    pub fn on_close(
        &mut self,
        connection: ConnectionId,
        code: u16,
        reason: &str,
    ) -> anyhow::Result<()> {
        match &self.code {
            InstanceCode::Component { handler, .. } => {
                arm_deadline(&mut self.store);
                handler
                    .call_on_close(&mut self.store, connection.0, code, reason)
                    .map_err(anyhow::Error::from)
            }
            InstanceCode::Native(_) => Ok(()),
        }
    }
}

/// Give the next guest call its CPU deadline. A free function, so that a
/// call can arm it while the instance's export is borrowed.
fn arm_deadline(store: &mut Store<GuestState>) {
    let state = store.data();
    state.clock.begin_call(state.limits.call_timeout);
    let ticks = state.limits.deadline_ticks();
    store.set_epoch_deadline(ticks);
}

/// A connection as its app sees it.
struct Registered {
    outbox: Outbox,
    /// Set once a close was requested: the connection is no longer listed or
    /// addressable, though its `on-close` is still to come.
    closing: bool,
    /// How it was opened, for `attachments.info`.
    request: packed_request::PackedRequest,
    /// The subprotocol the app confirmed in `on-open`.
    subprotocol: Option<Box<str>>,
    /// What the app attached (`attachments.set`); empty when nothing is.
    attachment: Vec<u8>,
}

/// What the host keeps per app across instances: the connection registry
/// outlives any one guest instance, so a trap or a hot swap loses no
/// connection, and neither what the app attached to each.
#[derive(Default)]
pub struct Connections {
    /// Ordered by id, which is the order connections opened in.
    open: BTreeMap<ConnectionId, Registered>,
}

impl Connections {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, id: ConnectionId, outbox: Outbox, request: &Request) {
        self.open.insert(
            id,
            Registered {
                outbox,
                closing: false,
                request: packed_request::PackedRequest::pack(request),
                subprotocol: None,
                attachment: Vec::new(),
            },
        );
    }

    /// Record the subprotocol the app confirmed in `on-open`.
    pub fn set_subprotocol(&mut self, id: ConnectionId, subprotocol: Option<String>) {
        if let Some(entry) = self.open.get_mut(&id) {
            entry.subprotocol = subprotocol.map(String::into_boxed_str);
        }
    }

    /// The connection is gone: stop listing it, but keep what is attached to
    /// it readable until its `on-close` has run.
    pub fn mark_gone(&mut self, id: ConnectionId) {
        if let Some(entry) = self.open.get_mut(&id) {
            entry.closing = true;
        }
    }

    /// Ask every connection to close (the app is being removed).
    pub fn close_all(&mut self, request: &CloseRequest) {
        let ids: Vec<ConnectionId> = self.open.keys().copied().collect();
        for id in ids {
            self.close(id, request.clone());
        }
    }

    pub fn remove(&mut self, id: ConnectionId) {
        self.open.remove(&id);
    }

    pub fn len(&self) -> usize {
        self.open.len()
    }

    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    /// Ask a connection to close and stop addressing it.
    pub fn close(&mut self, id: ConnectionId, request: CloseRequest) {
        if let Some(entry) = self.open.get_mut(&id) {
            entry.closing = true;
            entry.outbox.close(request);
        }
    }

    fn addressable(&self, id: ConnectionId) -> Option<&Outbox> {
        self.open
            .get(&id)
            .filter(|entry| !entry.closing)
            .map(|entry| &entry.outbox)
    }

    /// Push to one connection; a full outbox closes it (1008), because the
    /// client is not keeping up and the app must not wait for it.
    fn push(&mut self, id: ConnectionId, message: OutboundMessage) -> Result<(), ConnectionError> {
        let outbox = self
            .addressable(id)
            .ok_or(ConnectionError::UnknownConnection)?;
        match outbox.push(message) {
            Ok(()) => Ok(()),
            Err(PushError::OutboxFull) => {
                tracing::warn!(connection = %id, "outbox full, closing the slow connection");
                if let Some(entry) = self.open.get_mut(&id) {
                    entry.closing = true;
                    entry.outbox.abandon(CloseRequest {
                        code: close_code::POLICY_VIOLATION,
                        reason: "outbox full: client too slow".into(),
                    });
                }
                Err(ConnectionError::OutboxFull)
            }
            Err(PushError::Closed) => Err(ConnectionError::UnknownConnection),
        }
    }
}

/// The data a guest's `Store` carries.
pub struct GuestState {
    app_name: Arc<str>,
    /// Set by `Module::instantiate` to the module's short hash.
    app_version: Arc<str>,
    pub connections: Connections,
    limits: GuestLimits,
    limiter: sandbox::GuestLimiter,
    /// What `wasi:clocks` tells: the moment the current call began.
    clock: clock::CallClock,
    wasi: WasiCtx,
    table: ResourceTable,
}

impl GuestState {
    pub fn new(app_name: Arc<str>, connections: Connections, limits: GuestLimits) -> Self {
        // Nothing but output: no arguments, no environment variables, no
        // directory opened, every socket address refused (see `wasi`).
        let wasi = WasiCtx::builder()
            .stdout(output::GuestOutput::new(
                app_name.clone(),
                output::Stream::Stdout,
            ))
            .stderr(output::GuestOutput::new(
                app_name.clone(),
                output::Stream::Stderr,
            ))
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        GuestState {
            app_name,
            app_version: Arc::from(""),
            connections,
            limits,
            limiter: limits.limiter(),
            clock: clock::CallClock::new(),
            wasi,
            table: ResourceTable::new(),
        }
    }

    fn clock_view(&mut self) -> clock::ClockView<'_> {
        clock::ClockView {
            clock: &self.clock,
            table: &mut self.table,
        }
    }

    /// Linear memory the instance holds now. Wasm memory never shrinks, so
    /// this is the most it has needed.
    pub fn memory_bytes(&self) -> usize {
        self.limiter.memory_bytes()
    }

    /// A fresh state for a new instance, keeping the connections.
    pub fn renew(self) -> Self {
        GuestState::new(self.app_name, self.connections, self.limits)
    }
}

impl WasiView for GuestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

fn outbound(message: Message) -> OutboundMessage {
    match message {
        Message::Text(text) => OutboundMessage::Text(Bytes::from(text.into_bytes())),
        Message::Binary(bytes) => OutboundMessage::Binary(Bytes::from(bytes)),
    }
}

impl wit::types::Host for GuestState {}

impl wit::connections::Host for GuestState {
    fn send(&mut self, connection: u64, message: Message) -> Result<(), ConnectionError> {
        self.connections
            .push(ConnectionId(connection), outbound(message))
    }

    fn close(&mut self, connection: u64, code: u16, reason: String) -> Result<(), ConnectionError> {
        if !close_code::is_sendable(code) || reason.len() > close_code::MAX_REASON_BYTES {
            return Err(ConnectionError::InvalidClose);
        }
        let id = ConnectionId(connection);
        self.connections
            .addressable(id)
            .ok_or(ConnectionError::UnknownConnection)?;
        self.connections.close(id, CloseRequest { code, reason });
        Ok(())
    }

    fn broadcast(&mut self, message: Message, except: Vec<u64>) -> u32 {
        // Encoded once for every recipient, not once per connection.
        let message = outbound(message).into_shared();
        let targets: Vec<ConnectionId> = self
            .connections
            .open
            .iter()
            .filter(|(id, entry)| !entry.closing && !except.contains(&id.0))
            .map(|(id, _)| *id)
            .collect();
        let mut queued = 0u32;
        for id in targets {
            if self.connections.push(id, message.clone()).is_ok() {
                queued = queued.saturating_add(1);
            }
        }
        queued
    }

    fn connections(&mut self) -> Vec<u64> {
        self.connections
            .open
            .iter()
            .filter(|(_, entry)| !entry.closing)
            .map(|(id, _)| id.0)
            .collect()
    }
}

impl wit::attachments::Host for GuestState {
    fn info(&mut self, connection: u64) -> Option<ConnectionInfo> {
        let entry = self.connections.open.get(&ConnectionId(connection))?;
        Some(ConnectionInfo {
            request: entry.request.unpack(),
            subprotocol: entry.subprotocol.as_deref().map(str::to_string),
        })
    }

    fn set(&mut self, connection: u64, data: Vec<u8>) -> Result<(), AttachmentError> {
        if data.len() > self.limits.max_attachment_bytes {
            return Err(AttachmentError::TooLarge);
        }
        let entry = self
            .connections
            .open
            .get_mut(&ConnectionId(connection))
            .ok_or(AttachmentError::UnknownConnection)?;
        entry.attachment = data;
        Ok(())
    }

    fn get(&mut self, connection: u64) -> Vec<u8> {
        self.connections
            .open
            .get(&ConnectionId(connection))
            .map(|entry| entry.attachment.clone())
            .unwrap_or_default()
    }
}

impl wit::app_info::Host for GuestState {
    fn name(&mut self) -> String {
        self.app_name.to_string()
    }

    fn version(&mut self) -> String {
        self.app_version.to_string()
    }
}

impl wit::log::Host for GuestState {
    fn log(&mut self, level: wit::log::Level, text: String) {
        use wit::log::Level;
        let app = &*self.app_name;
        match level {
            Level::Trace => tracing::trace!(target: "guest", app, "{text}"),
            Level::Debug => tracing::debug!(target: "guest", app, "{text}"),
            Level::Info => tracing::info!(target: "guest", app, "{text}"),
            Level::Warn => tracing::warn!(target: "guest", app, "{text}"),
            Level::Error => tracing::error!(target: "guest", app, "{text}"),
        }
    }
}
