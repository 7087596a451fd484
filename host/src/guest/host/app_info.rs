//! The host side of `app-info`: which app this is, which version runs.

use super::super::GuestState;
use super::wit;
use crate::guest::wasi::Grant;

/// What importing `app-info` hands a guest.
pub(super) const GRANT: Grant = Grant {
    interface: "switchboard:app/app-info",
    authority: "read this app's name and running version",
};

impl wit::app_info::Host for GuestState {
    fn name(&mut self) -> String {
        self.app_name.to_string()
    }

    fn version(&mut self) -> String {
        self.app_version.to_string()
    }
}
