//! What a guest's `Store` carries: the host's state for one app (its
//! connections, limits, clock and WASI context), handed from instance to
//! instance across traps and swaps.

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::registry::Connections;
use super::{GuestLimits, clock, output, sandbox};

/// The data a guest's `Store` carries.
pub struct GuestState {
    pub(in crate::guest) app_name: Arc<str>,
    /// Set by `Module::instantiate` to the module's short hash.
    pub(in crate::guest) app_version: Arc<str>,
    pub connections: Connections,
    pub(in crate::guest) limits: GuestLimits,
    pub(in crate::guest) limiter: sandbox::GuestLimiter,
    /// What `wasi:clocks` tells: the moment the current call began.
    pub(in crate::guest) clock: clock::CallClock,
    /// What the current call waited on storage, owed to its deadline.
    pub(in crate::guest) storage_wait: sandbox::StorageWait,
    pub(in crate::guest) wasi: WasiCtx,
    pub(in crate::guest) table: ResourceTable,
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
            storage_wait: sandbox::StorageWait::default(),
            wasi,
            table: ResourceTable::new(),
        }
    }

    pub(in crate::guest) fn clock_view(&mut self) -> clock::ClockView<'_> {
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
