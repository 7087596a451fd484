//! An app module: a component compiled (through the code cache when there
//! is one), checked against the world, linked against the host's imports
//! and started once on the side before anything depends on it.
//!
//! A module is compiled and linked once into an `InstancePre` (wasmtime's
//! pre-instantiated form); making a fresh instance from it is cheap, which
//! is what lets an app recover from a trap, or take over from its previous
//! version, in microseconds.

use std::sync::Arc;

use sha2::{Digest as _, Sha256};
use wasmtime::component::{Component, HasSelf, InstancePre, Linker};
use wasmtime::{Engine, Store};

use super::bindings::RealtimeApp;
use super::bindings::exports::switchboard::app::handler;
use super::exports::OptionalIndices;
use super::instance::{Instance, InstanceCode, InstantiateError};
use super::registry::Connections;
use super::{CodeCache, GuestLimits, GuestState, code_cache, compile_cache, wasi};
use crate::native::NativeApp;

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
        /// The exports it may leave out (`lifecycle`, `presence`, ...).
        optional: OptionalIndices,
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
        let optional = OptionalIndices::find(component, &pre).map_err(wrong_world)?;
        let module = Module {
            code: Code::Component {
                pre,
                handler,
                optional,
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
        store.epoch_deadline_callback(super::sandbox::on_deadline);
        let (pre, handler, optional) = match &self.code {
            Code::Component {
                pre,
                handler,
                optional,
            } => (pre, handler, optional),
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
            let optional = Box::new(optional.load(&mut store, &instance)?);
            Ok((handler, optional))
        })();
        match started {
            Ok((handler, optional)) => Ok(Instance {
                store,
                code: InstanceCode::Component { handler, optional },
            }),
            Err(error) => Err(Box::new(InstantiateError {
                error: anyhow::Error::from(error).context("the guest failed while starting"),
                state: store.into_data(),
            })),
        }
    }
}

impl Module {
    fn optional(&self) -> Option<&OptionalIndices> {
        match &self.code {
            Code::Component { optional, .. } => Some(optional),
            Code::Native(_) => None,
        }
    }

    /// Whether the component exports `lifecycle`, i.e. keeps state across a
    /// hot swap.
    pub fn has_lifecycle(&self) -> bool {
        self.optional().is_some_and(OptionalIndices::has_lifecycle)
    }

    /// Whether the component exports `presence`, i.e. hears who joins and
    /// leaves its topics.
    pub fn has_presence(&self) -> bool {
        self.optional().is_some_and(OptionalIndices::has_presence)
    }

    /// Whether the component exports `timer-handler`, i.e. hears its timers.
    pub fn has_timer_handler(&self) -> bool {
        self.optional()
            .is_some_and(OptionalIndices::has_timer_handler)
    }

    /// Whether the component exports `feed-handler`, i.e. hears its feeds.
    pub fn has_feed_handler(&self) -> bool {
        self.optional()
            .is_some_and(OptionalIndices::has_feed_handler)
    }
}

/// The imports a guest is granted: our interfaces, plus the WASI pieces
/// that language toolchains link by default (see `wasi`), against an empty
/// context; stderr goes to the host log so a guest's panic message is not
/// lost.
fn linker(engine: &Engine) -> wasmtime::Result<Linker<GuestState>> {
    let mut linker = Linker::new(engine);
    wasi::add_to_linker(&mut linker)?;
    RealtimeApp::add_to_linker::<GuestState, HasSelf<GuestState>>(&mut linker, |state| state)?;
    Ok(linker)
}
