//! The host side of `log`: a guest's structured log lines, into the
//! host's log under the `guest` target, tagged with the app's name.

use super::super::GuestState;
use super::wit;
use crate::guest::wasi::Grant;

/// What importing `log` hands a guest.
pub(super) const GRANT: Grant = Grant {
    interface: "switchboard:app/log",
    authority: "write lines into the host log, tagged with the app",
};

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
