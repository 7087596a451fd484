//! The one wasmtime engine every app shares, and which compiler it uses.
//! Compiled code and the compile cache live in it; the epoch ticker that
//! enforces call deadlines (see `sandbox`) starts with it.

use std::sync::Arc;

use anyhow::Context as _;
use wasmtime::Engine;

use super::{compile_cache, sandbox};

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
