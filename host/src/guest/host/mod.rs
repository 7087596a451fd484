//! The host side of the interfaces a guest imports: one file per WIT
//! interface, each an `impl wit::<interface>::Host for GuestState` and the
//! `GRANT` that says what importing it hands a guest. Adding a capability
//! means a new interface in `wit/`, a new file here and its line in
//! `GRANTS`; the linker takes every interface of the world from the
//! bindings, and nothing else in the host changes.

mod app_info;
mod attachments;
mod connections;
mod feeds;
mod kv;
mod log;
mod timers;
mod topics;

use super::GuestState;
pub(super) use super::bindings::switchboard::app as wit;
use super::wasi::Grant;

impl wit::types::Host for GuestState {}

/// Every Switchboard interface the host grants, with the authority each
/// carries (`switchboard check` prints it).
pub(super) const GRANTS: &[Grant] = &[
    Grant {
        interface: "switchboard:app/types",
        authority: "types only",
    },
    connections::GRANT,
    log::GRANT,
    attachments::GRANT,
    app_info::GRANT,
    topics::GRANT,
    timers::GRANT,
    kv::GRANT,
    feeds::GRANT,
];
