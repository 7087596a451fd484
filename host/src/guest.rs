//! Everything wasmtime, one idea a file:
//!
//! - `runtime`: the one engine every app shares, and its compiler;
//! - `module`: compiling, checking and linking a component into an app
//!   module (through the on-disk `code_cache` and the in-memory
//!   `compile_cache`);
//! - `instance`: one live instance and the calls into it;
//! - `state`: what an instance's `Store` carries, handed from instance to
//!   instance; `registry`: the app's connections within it, and `timers`
//!   the app's timers;
//! - `host/`: the host side of each imported WIT interface, a file each;
//! - `wasi`, `clock`, `output`: the WASI a guest is granted, deliberately;
//! - `sandbox`: CPU deadlines and memory caps.
//!
//! The bindings are generated for the richest world, `realtime-app`; a
//! component targeting a smaller world (`app`, `stateful-app`) imports less
//! (which links) and may lack the `lifecycle` and `presence` exports, which
//! the host looks for and calls only when they are there.

/// Generated from `wit/`, the single source of truth for the contract. In its
/// own module because the WIT package is also called `switchboard`.
mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "realtime-app",
    });
}

/// The host side of `connections`, `attachments` and `topics`, for the
/// built-in apps to call.
pub use bindings::switchboard::app::attachments::Host as AttachmentsHost;
pub use bindings::switchboard::app::attachments::{AttachmentError, ConnectionInfo};
pub use bindings::switchboard::app::connections::Host as ConnectionsHost;
pub use bindings::switchboard::app::topics::Host as TopicsHost;
pub use bindings::switchboard::app::topics::{Position, SubscribeOptions};
pub use bindings::switchboard::app::types::{Accept, ConnectionError, Message, Reject, Request};

mod clock;
mod code_cache;
mod compile_cache;
mod exports;
mod host;
mod hub;
mod instance;
mod module;
mod output;
mod packed_request;
mod registry;
mod runtime;
mod sandbox;
mod state;
mod timers;
mod wasi;

pub use code_cache::CodeCache;
pub use hub::{PresenceEvent, TopicLimits, TopicSettings};
pub use instance::{Instance, InstantiateError, SnapshotError};
pub use module::{
    Import, Module, ModuleError, ModuleHash, compile_component, imports_of, one_line, trap_line,
};
pub use registry::{AppServices, Connections};
pub use runtime::{Compiler, engine, engine_with};
pub use sandbox::GuestLimits;
pub use state::GuestState;
pub use timers::{DueTimer, TimerLimits, Timers};
