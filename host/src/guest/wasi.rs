//! The WASI a guest gets: exactly what language toolchains need to run, and
//! nothing that reaches outside the sandbox.
//!
//! Rust's `wasm32-wasip2` std (and other toolchains) import a handful of
//! WASI interfaces whether or not the app uses them: streams for stdio, the
//! environment, exit, and random seeds for hash maps. Those are granted here,
//! one by one, against an empty context: no arguments, no environment
//! variables, stdin empty, stdout discarded, stderr into the host log.
//!
//! Not granted: filesystem, sockets, clocks. A component that imports one
//! of them (e.g. an app that reads the time) is refused at load with the
//! import's name, as wasmtime reports an import the linker cannot satisfy.
//! Time, when apps need it, comes as a capability of our own WIT world.

use wasmtime::component::{HasData, Linker, ResourceTable};
use wasmtime_wasi::WasiView;
use wasmtime_wasi::cli::{WasiCli, WasiCliView as _};
use wasmtime_wasi::p2::bindings::{cli, random, sync::io};
use wasmtime_wasi::random::{WasiRandom, WasiRandomView as _};

/// Host functions of `wasi:io` see only the resource table.
struct Table;

impl HasData for Table {
    type Data<'a> = &'a mut ResourceTable;
}

pub fn add_to_linker<T: WasiView>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    let l = linker;
    wasmtime_wasi_io::bindings::wasi::io::error::add_to_linker::<T, Table>(l, |t| t.ctx().table)?;
    io::poll::add_to_linker::<T, Table>(l, |t| t.ctx().table)?;
    io::streams::add_to_linker::<T, Table>(l, |t| t.ctx().table)?;
    random::random::add_to_linker::<T, WasiRandom>(l, T::random)?;
    random::insecure::add_to_linker::<T, WasiRandom>(l, T::random)?;
    random::insecure_seed::add_to_linker::<T, WasiRandom>(l, T::random)?;
    cli::exit::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::environment::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::stdin::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::stdout::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::stderr::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_input::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_output::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_stdin::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_stdout::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_stderr::add_to_linker::<T, WasiCli>(l, T::cli)?;
    Ok(())
}
