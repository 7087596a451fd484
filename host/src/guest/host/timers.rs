//! The host side of `timers`. (Skeleton: the timers helper replaces this.)

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
        _key: String,
        _delay_ms: u64,
        _repeat_ms: Option<u64>,
    ) -> Result<(), TimerError> {
        Err(TimerError::TooManyTimers)
    }

    fn cancel(&mut self, _key: String) -> bool {
        false
    }

    fn pending(&mut self) -> Vec<Timer> {
        Vec::new()
    }
}
