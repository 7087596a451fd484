//! The host side of `timers`: the app sets, cancels and lists its own
//! timers, which the host keeps in the app's registry (`guest::timers`) and
//! fires through the app's `timer-handler` export (`crate::app`). An app
//! reaches only its own timers, within `limits.max_timers_per_app` and
//! `limits.min_timer_interval_ms`.

use super::super::GuestState;
use super::wit;
use crate::guest::wasi::Grant;
use wit::timers::{Timer, TimerError};

/// What importing `timers` hands a guest.
pub(super) const GRANT: Grant = Grant {
    interface: "switchboard:app/timers",
    authority: "set and cancel this app's own timers, within its limits",
};

impl wit::timers::Host for GuestState {
    fn set(
        &mut self,
        key: String,
        delay_ms: u64,
        repeat_ms: Option<u64>,
    ) -> Result<(), TimerError> {
        let set = self.connections.timers.set(&key, delay_ms, repeat_ms);
        if let Err(error) = &set {
            let limits = self.connections.timers.limits();
            tracing::debug!(
                app = &*self.app_name,
                "timers.set({key:?}) refused: {error:?} (max_timers_per_app {}, \
                 min_timer_interval_ms {})",
                limits.max_timers,
                limits.min_interval.as_millis()
            );
        }
        set
    }

    fn cancel(&mut self, key: String) -> bool {
        self.connections.timers.cancel(&key)
    }

    fn pending(&mut self) -> Vec<Timer> {
        self.connections.timers.pending()
    }
}
