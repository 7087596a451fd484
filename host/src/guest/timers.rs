//! The app's timers, held by the host. They live in the app's registry
//! (`Connections`), not in a guest instance, so a hot swap hands them to the
//! new version and a trap does not lose them, as the WIT promises.
//!
//! This file is only the bookkeeping: which timers there are, when each is
//! due, and which fires next. The app actor (`crate::app`) decides when to
//! look: it waits for its next event or the soonest timer, whichever comes
//! first, and fires what is due between two events. The test harness drives
//! the same code on a virtual clock (`use_virtual_clock`), so a test that
//! moves time forward sees timers fire at exactly their due times.
//!
//! Timers are keyed by the app's own string: setting a key again replaces
//! that timer. They fire soonest first, and timers due at the same moment
//! in the order they were set (or last re-armed). A repeating timer keeps
//! its phase: after firing it is due at the first multiple of its interval
//! (from its previous due time) that is still to come, so one that fell
//! behind fires once, not once for every interval it missed.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::Limits;
use crate::guest::bindings::switchboard::app::timers as wit;

/// The longest key, in bytes (the WIT's `invalid-key`).
pub const MAX_KEY_BYTES: usize = 256;

/// Delays and intervals beyond this are held at it: a century is "never"
/// for any host process, and it keeps every due time representable.
const MAX_DELAY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// The bounds on one app's timers (`[limits]` in the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerLimits {
    /// `limits.max_timers_per_app`.
    pub max_timers: usize,
    /// `limits.min_timer_interval_ms`: shorter delays are raised to it,
    /// shorter repeat intervals refused.
    pub min_interval: Duration,
}

impl TimerLimits {
    pub fn from_config(limits: &Limits) -> Self {
        TimerLimits {
            max_timers: limits.max_timers_per_app,
            min_interval: Duration::from_millis(limits.min_timer_interval_ms),
        }
    }
}

impl Default for TimerLimits {
    fn default() -> Self {
        TimerLimits::from_config(&Limits::default())
    }
}

/// One timer, as the registry keeps it.
#[derive(Debug, Clone, Copy)]
struct Timer {
    due: Instant,
    /// Breaks ties between timers due at the same moment: set order.
    order: u64,
    repeat: Option<Duration>,
}

/// A timer that fell due and was taken off the queue (and re-armed, if it
/// repeats).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueTimer {
    pub key: Arc<str>,
    /// When it was due: the time it fires at on a virtual clock.
    pub due: Instant,
}

/// An app's timers.
pub struct Timers {
    limits: TimerLimits,
    by_key: HashMap<Arc<str>, Timer>,
    /// The same timers in firing order: (due, order) to key.
    queue: BTreeMap<(Instant, u64), Arc<str>>,
    next_order: u64,
    /// The virtual clock's reading, for an app the test harness drives;
    /// `None` for the real clock.
    virtual_now: Option<Instant>,
}

impl Default for Timers {
    fn default() -> Self {
        Timers::new(TimerLimits::default())
    }
}

impl Timers {
    pub fn new(limits: TimerLimits) -> Self {
        Timers {
            limits,
            by_key: HashMap::new(),
            queue: BTreeMap::new(),
            next_order: 0,
            virtual_now: None,
        }
    }

    pub fn limits(&self) -> TimerLimits {
        self.limits
    }

    /// Run on a virtual clock that reads `now` until moved on
    /// (`set_virtual_now`), instead of the real one.
    pub fn use_virtual_clock(&mut self, now: Instant) {
        self.virtual_now = Some(now);
    }

    /// Move the virtual clock (never back). No effect on the real clock.
    pub fn set_virtual_now(&mut self, now: Instant) {
        if let Some(current) = &mut self.virtual_now {
            *current = (*current).max(now);
        }
    }

    /// Whether these timers run on a virtual clock.
    pub fn is_virtual(&self) -> bool {
        self.virtual_now.is_some()
    }

    /// What "now" is for these timers.
    pub fn now(&self) -> Instant {
        self.virtual_now.unwrap_or_else(Instant::now)
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Set the timer `key`, replacing any of that name: due after
    /// `delay_ms` (at least the minimum interval), then every `repeat_ms`.
    pub fn set(
        &mut self,
        key: &str,
        delay_ms: u64,
        repeat_ms: Option<u64>,
    ) -> Result<(), wit::TimerError> {
        if key.is_empty() || key.len() > MAX_KEY_BYTES {
            return Err(wit::TimerError::InvalidKey);
        }
        let repeat = match repeat_ms.map(Duration::from_millis) {
            Some(interval) if interval < self.limits.min_interval => {
                return Err(wit::TimerError::IntervalTooShort);
            }
            repeat => repeat.map(|interval| interval.min(MAX_DELAY)),
        };
        let replaced = self.remove(key);
        if replaced.is_none() && self.by_key.len() >= self.limits.max_timers {
            return Err(wit::TimerError::TooManyTimers);
        }
        let delay = Duration::from_millis(delay_ms).clamp(self.limits.min_interval, MAX_DELAY);
        let now = self.now();
        let due = now.checked_add(delay).unwrap_or(now);
        self.insert(Arc::from(key), due, repeat);
        Ok(())
    }

    /// Cancel the timer `key`; whether there was one.
    pub fn cancel(&mut self, key: &str) -> bool {
        self.remove(key).is_some()
    }

    /// Drop every timer (the app is stopping).
    pub fn clear(&mut self) {
        self.by_key.clear();
        self.queue.clear();
    }

    /// The app's timers, soonest first, as `timers.pending` lists them.
    pub fn pending(&self) -> Vec<wit::Timer> {
        let now = self.now();
        self.queue
            .values()
            .filter_map(|key| {
                let timer = self.by_key.get(key)?;
                Some(wit::Timer {
                    key: key.to_string(),
                    due_in_ms: millis(timer.due.saturating_duration_since(now)),
                    repeat_ms: timer.repeat.map(millis),
                })
            })
            .collect()
    }

    /// When the soonest timer is due, if there is one.
    pub fn next_due(&self) -> Option<Instant> {
        self.queue.first_key_value().map(|((due, _), _)| *due)
    }

    /// Take the soonest timer if it is due by `now`: a one-shot timer is
    /// gone, a repeating one is re-armed for its next tick after `now`.
    pub fn take_due(&mut self, now: Instant) -> Option<DueTimer> {
        let (&(due, _), _) = self.queue.first_key_value()?;
        if due > now {
            return None;
        }
        let (_, key) = self.queue.pop_first()?;
        let timer = self.by_key.remove(&key)?;
        if let Some(interval) = timer.repeat {
            self.insert(key.clone(), next_tick(due, interval, now), timer.repeat);
        }
        Some(DueTimer { key, due })
    }

    fn insert(&mut self, key: Arc<str>, due: Instant, repeat: Option<Duration>) {
        let order = self.next_order;
        self.next_order += 1;
        self.queue.insert((due, order), key.clone());
        self.by_key.insert(key, Timer { due, order, repeat });
    }

    fn remove(&mut self, key: &str) -> Option<Timer> {
        let timer = self.by_key.remove(key)?;
        self.queue.remove(&(timer.due, timer.order));
        Some(timer)
    }
}

/// The first tick of a timer due at `due` every `interval` that is later
/// than `now`: the ticks it missed meanwhile are skipped, and its phase
/// is kept.
fn next_tick(due: Instant, interval: Duration, now: Instant) -> Instant {
    let behind = now.saturating_duration_since(due).as_nanos();
    let step = interval.as_nanos().max(1);
    let ahead = step.saturating_mul(behind / step + 1);
    let ahead = Duration::from_nanos(u64::try_from(ahead).unwrap_or(u64::MAX));
    due.checked_add(ahead)
        .or_else(|| now.checked_add(interval))
        .unwrap_or(now)
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn timers() -> (Timers, Instant) {
        let start = Instant::now();
        let mut timers = Timers::new(TimerLimits {
            max_timers: 3,
            min_interval: 10 * MS,
        });
        timers.use_virtual_clock(start);
        (timers, start)
    }

    /// Every timer due by `until`, as (key, ms after start), in firing order.
    fn fire_until(timers: &mut Timers, start: Instant, until: Duration) -> Vec<(String, u128)> {
        let mut fired = Vec::new();
        while let Some(due) = timers.take_due(start + until) {
            fired.push((due.key.to_string(), (due.due - start).as_millis()));
        }
        fired
    }

    #[test]
    fn timers_fire_soonest_first_and_ties_in_the_order_they_were_set() {
        let (mut timers, start) = timers();
        timers.set("late", 50, None).unwrap();
        timers.set("b", 20, None).unwrap();
        timers.set("a", 20, None).unwrap();
        assert_eq!(timers.next_due(), Some(start + 20 * MS));
        assert_eq!(timers.take_due(start + 19 * MS), None, "nothing due yet");
        assert_eq!(
            fire_until(&mut timers, start, 100 * MS),
            [("b".into(), 20), ("a".into(), 20), ("late".into(), 50)]
        );
        assert!(timers.is_empty(), "one-shot timers are consumed");
    }

    #[test]
    fn a_repeating_timer_that_fell_behind_fires_once_and_keeps_its_phase() {
        let (mut timers, start) = timers();
        timers.set("tick", 10, Some(10)).unwrap();
        // Taken 35 ms late: it fires once for the ticks at 10, 20, 30 and 40.
        let due = timers.take_due(start + 45 * MS).unwrap();
        assert_eq!((&*due.key, due.due), ("tick", start + 10 * MS));
        assert_eq!(timers.take_due(start + 45 * MS), None);
        assert_eq!(timers.next_due(), Some(start + 50 * MS), "back on its grid");
        // Exactly on a tick, the next is one interval on.
        timers.take_due(start + 50 * MS).unwrap();
        assert_eq!(timers.next_due(), Some(start + 60 * MS));
        assert_eq!(timers.len(), 1);
    }

    #[test]
    fn setting_a_key_again_replaces_its_timer_and_cancel_removes_it() {
        let (mut timers, start) = timers();
        timers.set("t", 100, Some(100)).unwrap();
        timers.set("t", 30, None).unwrap();
        assert_eq!(timers.len(), 1);
        let pending = timers.pending();
        assert_eq!(pending.len(), 1);
        assert_eq!((pending[0].due_in_ms, pending[0].repeat_ms), (30, None));
        assert!(timers.cancel("t"));
        assert!(!timers.cancel("t"));
        assert_eq!(fire_until(&mut timers, start, 1000 * MS), []);
    }

    #[test]
    fn the_bounds_give_the_wit_errors_and_a_short_delay_is_raised() {
        let (mut timers, start) = timers();
        assert_eq!(timers.set("", 10, None), Err(wit::TimerError::InvalidKey));
        let long = "k".repeat(MAX_KEY_BYTES + 1);
        assert_eq!(
            timers.set(&long, 10, None),
            Err(wit::TimerError::InvalidKey)
        );
        timers.set(&long[1..], 10, None).unwrap();
        assert_eq!(
            timers.set("fast", 10, Some(9)),
            Err(wit::TimerError::IntervalTooShort)
        );
        timers.set("soon", 0, None).unwrap();
        assert_eq!(timers.next_due(), Some(start + 10 * MS), "raised to 10 ms");
        timers.set("third", 10, None).unwrap();
        assert_eq!(
            timers.set("fourth", 10, None),
            Err(wit::TimerError::TooManyTimers)
        );
        // Replacing one is not one more.
        timers.set("third", 20, Some(10)).unwrap();
        assert_eq!(timers.len(), 3);
    }

    #[test]
    fn pending_lists_soonest_first_with_time_left_on_the_clock() {
        let (mut timers, start) = timers();
        timers.set("later", 300, Some(1000)).unwrap();
        timers.set("sooner", 100, None).unwrap();
        timers.set_virtual_now(start + 40 * MS);
        let pending: Vec<(String, u64, Option<u64>)> = timers
            .pending()
            .into_iter()
            .map(|timer| (timer.key, timer.due_in_ms, timer.repeat_ms))
            .collect();
        assert_eq!(
            pending,
            [
                ("sooner".into(), 60, None),
                ("later".into(), 260, Some(1000))
            ]
        );
    }

    #[test]
    fn huge_delays_and_intervals_are_held_at_a_century_without_overflow() {
        let (mut timers, start) = timers();
        timers.set("never", u64::MAX, Some(u64::MAX)).unwrap();
        assert_eq!(timers.next_due(), Some(start + MAX_DELAY));
        let due = timers.take_due(start + MAX_DELAY).unwrap();
        assert_eq!(due.due, start + MAX_DELAY);
        assert_eq!(timers.next_due(), Some(start + MAX_DELAY * 2));
    }
}
