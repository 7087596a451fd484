//! The host side of `app-info`: which app this is, which version runs.

use super::super::GuestState;
use super::wit;

impl wit::app_info::Host for GuestState {
    fn name(&mut self) -> String {
        self.app_name.to_string()
    }

    fn version(&mut self) -> String {
        self.app_version.to_string()
    }
}
