//! The WASI a guest gets: exactly what language toolchains import, and
//! nothing that reaches outside the sandbox.
//!
//! Toolchains import WASI whether or not the app uses it. Rust's
//! `wasm32-wasip2` std wants stdio, the environment, exit and random seeds;
//! componentize-js (StarlingMonkey) adds the clocks and the filesystem;
//! componentize-py adds every `wasi:sockets` interface. A component that
//! cannot link does not run at all, so each of these is granted, one
//! interface at a time, and each grant is made harmless rather than
//! missing: the filesystem has no directory opened, every socket address is
//! refused, the environment is empty. `WASI_GRANTS` says what each one carries;
//! `switchboard check` prints it for every import of a component.
//!
//! Anything not listed (`wasi:http`, `wasi:config`, another package's
//! interfaces) is refused at load, naming the import, as wasmtime reports
//! an import the linker cannot satisfy.

use wasmtime::component::{HasData, Linker, ResourceTable};
use wasmtime_wasi::WasiView;
use wasmtime_wasi::cli::{WasiCli, WasiCliView as _};
use wasmtime_wasi::filesystem::{WasiFilesystem, WasiFilesystemView as _};
use wasmtime_wasi::p2::bindings::{cli, filesystem, random, sockets, sync};
use wasmtime_wasi::random::{WasiRandom, WasiRandomView as _};
use wasmtime_wasi::sockets::{WasiSockets, WasiSocketsView as _};

use super::GuestState;
use super::clock;

/// Host functions of `wasi:io` see only the resource table.
struct Table;

impl HasData for Table {
    type Data<'a> = &'a mut ResourceTable;
}

pub fn add_to_linker(linker: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    type T = GuestState;
    let l = linker;
    wasmtime_wasi_io::bindings::wasi::io::error::add_to_linker::<T, Table>(l, |t| t.ctx().table)?;
    sync::io::poll::add_to_linker::<T, Table>(l, |t| t.ctx().table)?;
    sync::io::streams::add_to_linker::<T, Table>(l, |t| t.ctx().table)?;
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
    clock::add_to_linker(l, GuestState::clock_view)?;
    // No directory is ever opened (`GuestState::new` preopens nothing), so
    // these can only report that there is nothing to reach.
    filesystem::preopens::add_to_linker::<T, WasiFilesystem>(l, T::filesystem)?;
    sync::filesystem::types::add_to_linker::<T, WasiFilesystem>(l, T::filesystem)?;
    // Every address is refused and TCP, UDP and name lookup are off (the
    // context's defaults, set explicitly in `GuestState::new`): a socket
    // can be made, but never bound, connected or resolved.
    let network = sockets::network::LinkOptions::default();
    sockets::network::add_to_linker::<T, WasiSockets>(l, &network, T::sockets)?;
    sockets::instance_network::add_to_linker::<T, WasiSockets>(l, T::sockets)?;
    sockets::ip_name_lookup::add_to_linker::<T, WasiSockets>(l, T::sockets)?;
    sockets::tcp_create_socket::add_to_linker::<T, WasiSockets>(l, T::sockets)?;
    sync::sockets::tcp::add_to_linker::<T, WasiSockets>(l, T::sockets)?;
    sync::sockets::udp_create_socket::add_to_linker::<T, WasiSockets>(l, T::sockets)?;
    sync::sockets::udp::add_to_linker::<T, WasiSockets>(l, T::sockets)?;
    Ok(())
}

/// One import a guest may have, and what granting it hands over.
pub struct Grant {
    /// The interface, without its version: `wasi:clocks/wall-clock`.
    pub interface: &'static str,
    pub authority: &'static str,
}

/// The WASI interfaces the host grants, with the authority each carries:
/// they are there so that toolchains link, and carry as little as they
/// can. The Switchboard interfaces, the app's purpose, each declare their
/// own grant beside their host side (`host/`).
const WASI_GRANTS: &[Grant] = &[
    Grant {
        interface: "wasi:io/error",
        authority: "none of its own (errors of the streams below)",
    },
    Grant {
        interface: "wasi:io/poll",
        authority: "none of its own (waits on the streams and clocks below)",
    },
    Grant {
        interface: "wasi:io/streams",
        authority: "none of its own (stdin, stdout, stderr below)",
    },
    Grant {
        interface: "wasi:cli/environment",
        authority: "none: no variables, no arguments",
    },
    Grant {
        interface: "wasi:cli/exit",
        authority: "end the current call as a trap; the next event starts a fresh instance",
    },
    Grant {
        interface: "wasi:cli/stdin",
        authority: "none: always empty",
    },
    Grant {
        interface: "wasi:cli/stdout",
        authority: "lines go into the host log (info), tagged with the app",
    },
    Grant {
        interface: "wasi:cli/stderr",
        authority: "lines go into the host log (warn), tagged with the app",
    },
    Grant {
        interface: "wasi:cli/terminal-input",
        authority: "none: there is no terminal",
    },
    Grant {
        interface: "wasi:cli/terminal-output",
        authority: "none: there is no terminal",
    },
    Grant {
        interface: "wasi:cli/terminal-stdin",
        authority: "none: there is no terminal",
    },
    Grant {
        interface: "wasi:cli/terminal-stdout",
        authority: "none: there is no terminal",
    },
    Grant {
        interface: "wasi:cli/terminal-stderr",
        authority: "none: there is no terminal",
    },
    Grant {
        interface: "wasi:clocks/wall-clock",
        authority: "the time the current event began, to the millisecond; it stands still during a call",
    },
    Grant {
        interface: "wasi:clocks/monotonic-clock",
        authority: "the same frozen instant; a wait lasts until the call's deadline at most, then traps",
    },
    Grant {
        interface: "wasi:random/random",
        authority: "random bytes from the host",
    },
    Grant {
        interface: "wasi:random/insecure",
        authority: "random bytes from the host",
    },
    Grant {
        interface: "wasi:random/insecure-seed",
        authority: "a random seed from the host",
    },
    Grant {
        interface: "wasi:filesystem/types",
        authority: "none: no directory is opened, so there is no file to reach",
    },
    Grant {
        interface: "wasi:filesystem/preopens",
        authority: "none: the list of opened directories is empty",
    },
    Grant {
        interface: "wasi:sockets/network",
        authority: "none: every address is refused",
    },
    Grant {
        interface: "wasi:sockets/instance-network",
        authority: "none: every address is refused",
    },
    Grant {
        interface: "wasi:sockets/ip-name-lookup",
        authority: "none: every lookup is refused",
    },
    Grant {
        interface: "wasi:sockets/tcp",
        authority: "none: no socket can bind, listen or connect",
    },
    Grant {
        interface: "wasi:sockets/tcp-create-socket",
        authority: "none: no socket can bind, listen or connect",
    },
    Grant {
        interface: "wasi:sockets/udp",
        authority: "none: no socket can bind or send",
    },
    Grant {
        interface: "wasi:sockets/udp-create-socket",
        authority: "none: no socket can bind or send",
    },
];

/// What the host grants for an import named `package:ns/interface@version`,
/// or `None` when it refuses it. Versions are not compared here: the linker
/// matches any semver-compatible one (a 0.2.12 import links to 0.2.x), and
/// an incompatible version is refused at load with wasmtime's own message.
pub fn grant_for(import: &str) -> Option<&'static Grant> {
    let interface = import.split('@').next().unwrap_or(import);
    super::host::GRANTS
        .iter()
        .chain(WASI_GRANTS)
        .find(|grant| grant.interface == interface)
}
