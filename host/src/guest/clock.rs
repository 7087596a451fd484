//! The time a guest sees: `wasi:clocks`, frozen for the length of a call.
//!
//! Language runtimes read the clocks whether or not the app asks for the
//! time (JavaScript's `Date.now()`, Python's `time` module at start-up), so
//! a guest without them cannot run. What they read is deliberately coarse:
//!
//! - Both clocks tell the moment the current event began, to the
//!   millisecond, and stand still until the call returns. A guest therefore
//!   cannot time its own code, nor another app's through shared caches (the
//!   timing attacks Cloudflare Workers freeze time against), and an app's
//!   behaviour does not depend on how fast the machine ran it. Between
//!   events time moves on as usual, so timestamps in messages are right.
//! - Waiting for a moment that has not come yet (`subscribe-duration`, a
//!   `sleep`) cannot work in a clock that stands still, and must not block
//!   the app's other connections. Such a wait returns when the call's own
//!   deadline has passed, and the guest then traps as any call that runs
//!   past its deadline does: the log names the call timeout. Apps that need
//!   to act later will get host-owned timers of their own.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use wasmtime::component::{HasData, Linker, Resource, ResourceTable};
use wasmtime_wasi::p2::bindings::clocks::{monotonic_clock, wall_clock};
use wasmtime_wasi_io::poll::{DynPollable, Pollable, subscribe};

/// What both clocks report as their resolution, and round down to.
const RESOLUTION: Duration = Duration::from_millis(1);

/// The moment the current call began, as each clock tells it. Shared
/// between the host (which sets it before each call) and the guest's view
/// of the clocks.
#[derive(Clone)]
pub struct CallClock {
    inner: Arc<Mutex<Frozen>>,
}

struct Frozen {
    /// Since the Unix epoch, rounded down to `RESOLUTION`.
    wall: Duration,
    /// Nanoseconds since `origin`, rounded down to `RESOLUTION`.
    monotonic: u64,
    origin: std::time::Instant,
    /// When the current call must end; waits end here at the latest.
    call_deadline: tokio::time::Instant,
}

impl CallClock {
    pub fn new() -> Self {
        let origin = std::time::Instant::now();
        let mut frozen = Frozen {
            wall: Duration::ZERO,
            monotonic: 0,
            origin,
            call_deadline: tokio::time::Instant::from_std(origin),
        };
        frozen.set(origin, SystemTime::now(), Duration::ZERO);
        CallClock {
            inner: Arc::new(Mutex::new(frozen)),
        }
    }

    /// A call begins now and may run for `budget`: both clocks move to now
    /// and stand there until the next call.
    pub fn begin_call(&self, budget: Duration) {
        self.lock()
            .set(std::time::Instant::now(), SystemTime::now(), budget);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Frozen> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Default for CallClock {
    fn default() -> Self {
        CallClock::new()
    }
}

impl Frozen {
    fn set(&mut self, now: std::time::Instant, wall: SystemTime, budget: Duration) {
        let wall = wall
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        self.wall = round_down(wall);
        let since_origin = round_down(now.saturating_duration_since(self.origin));
        self.monotonic = u64::try_from(since_origin.as_nanos()).unwrap_or(u64::MAX);
        let now = tokio::time::Instant::from_std(now);
        self.call_deadline = now.checked_add(budget).unwrap_or(now);
    }
}

fn round_down(time: Duration) -> Duration {
    let step = RESOLUTION.as_nanos();
    Duration::from_nanos(u64::try_from(time.as_nanos() / step * step).unwrap_or(u64::MAX))
}

/// The guest's view of the clocks during one host call.
pub struct ClockView<'a> {
    pub clock: &'a CallClock,
    pub table: &'a mut ResourceTable,
}

struct Clocks;

impl HasData for Clocks {
    type Data<'a> = ClockView<'a>;
}

/// Grant `wasi:clocks/wall-clock` and `wasi:clocks/monotonic-clock`.
pub fn add_to_linker<T: 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> ClockView<'_>,
) -> wasmtime::Result<()> {
    wall_clock::add_to_linker::<T, Clocks>(linker, view)?;
    monotonic_clock::add_to_linker::<T, Clocks>(linker, view)?;
    Ok(())
}

impl wall_clock::Host for ClockView<'_> {
    fn now(&mut self) -> wasmtime::Result<wall_clock::Datetime> {
        let wall = self.clock.lock().wall;
        Ok(wall_clock::Datetime {
            seconds: wall.as_secs(),
            nanoseconds: wall.subsec_nanos(),
        })
    }

    fn resolution(&mut self) -> wasmtime::Result<wall_clock::Datetime> {
        Ok(wall_clock::Datetime {
            seconds: RESOLUTION.as_secs(),
            nanoseconds: RESOLUTION.subsec_nanos(),
        })
    }
}

impl monotonic_clock::Host for ClockView<'_> {
    fn now(&mut self) -> wasmtime::Result<u64> {
        Ok(self.clock.lock().monotonic)
    }

    fn resolution(&mut self) -> wasmtime::Result<u64> {
        Ok(u64::try_from(RESOLUTION.as_nanos()).unwrap_or(u64::MAX))
    }

    fn subscribe_instant(&mut self, when: u64) -> wasmtime::Result<Resource<DynPollable>> {
        let frozen = self.clock.lock();
        let wait = if when <= frozen.monotonic {
            Wait::Ready
        } else {
            Wait::Until(frozen.call_deadline)
        };
        drop(frozen);
        let wait = self.table.push(wait)?;
        subscribe(self.table, wait)
    }

    fn subscribe_duration(&mut self, duration: u64) -> wasmtime::Result<Resource<DynPollable>> {
        let wait = if duration == 0 {
            Wait::Ready
        } else {
            Wait::Until(self.clock.lock().call_deadline)
        };
        let wait = self.table.push(wait)?;
        subscribe(self.table, wait)
    }
}

/// A wait on a frozen clock: either already over, or over when the call's
/// deadline has passed (see the module's opening comment).
enum Wait {
    Ready,
    Until(tokio::time::Instant),
}

#[wasmtime_wasi::async_trait]
impl Pollable for Wait {
    async fn ready(&mut self) {
        if let Wait::Until(deadline) = self {
            tokio::time::sleep_until(*deadline).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_clocks_stand_still_during_a_call_and_move_between_calls() {
        let clock = CallClock::new();
        let mut table = ResourceTable::new();
        let mut view = ClockView {
            clock: &clock,
            table: &mut table,
        };
        let wall = |view: &mut ClockView<'_>| {
            let now = wall_clock::Host::now(view).unwrap();
            (now.seconds, now.nanoseconds)
        };
        clock.begin_call(Duration::from_secs(1));
        let before = wall(&mut view);
        let monotonic = monotonic_clock::Host::now(&mut view).unwrap();
        std::thread::sleep(Duration::from_millis(3));
        assert_eq!(wall(&mut view), before);
        assert_eq!(monotonic_clock::Host::now(&mut view).unwrap(), monotonic);
        assert_eq!(before.1 % 1_000_000, 0, "rounded to the millisecond");
        clock.begin_call(Duration::from_secs(1));
        assert!(monotonic_clock::Host::now(&mut view).unwrap() > monotonic);
        assert!(wall(&mut view) > before);
    }
}
