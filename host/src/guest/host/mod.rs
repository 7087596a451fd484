//! The host side of the interfaces a guest imports: one file per WIT
//! interface, each an `impl wit::<interface>::Host for GuestState`. Adding
//! a capability means a new interface in `wit/`, a new file here, and one
//! line in `add_to_linker`; nothing else in the host changes.

mod app_info;
mod attachments;
mod connections;
mod log;
mod topics;

use super::GuestState;
pub(super) use super::bindings::switchboard::app as wit;

impl wit::types::Host for GuestState {}
