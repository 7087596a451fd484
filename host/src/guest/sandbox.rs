//! The walls around a guest: how long one call may run and how much memory
//! an instance may hold.
//!
//! CPU: wasmtime's epoch interruption. One thread advances the engine's
//! epoch every `TICK`; before each call into a guest the store's deadline
//! is set that many ticks ahead, and compiled code checks it at function
//! entries and loop back-edges, so a guest stuck in a loop traps within a
//! tick of its deadline. That costs a load and a compare per check, far less
//! than fuel metering, which counts every instruction. Time a call spends
//! in the host waiting on storage (a `kv` write's fsync) is not the
//! guest's CPU: when the deadline comes, that much is given back
//! (`StorageWait`), up to `MAX_STORAGE_WAIT` a call, so a slow disk does
//! not make a well-behaved app trap.
//!
//! Memory: a `ResourceLimiter` that counts every linear memory of the
//! instance together (a component may have several), so `memory.grow`
//! past the cap returns -1 inside the guest (Rust's allocator then reports
//! out of memory, and `try_reserve` can even recover) and never grows the
//! host.

use std::time::Duration;

use wasmtime::{Engine, ResourceLimiter};

/// How often the epoch advances: the granularity of call deadlines.
const TICK: Duration = Duration::from_millis(5);

/// The most waiting on storage one call is given back: a disk slower than
/// this is a fault the call may trap on, like any call past its deadline.
pub const MAX_STORAGE_WAIT: Duration = Duration::from_secs(2);

/// What one call waited on the host's storage, to be given back to its
/// deadline.
#[derive(Debug, Default, Clone, Copy)]
pub struct StorageWait {
    /// Waited and not given back yet.
    owed: Duration,
    /// Given back during this call.
    given: Duration,
}

impl StorageWait {
    /// A call begins: it has waited for nothing yet.
    pub fn begin_call(&mut self) {
        *self = StorageWait::default();
    }

    /// The call waited `waited` on storage.
    pub fn add(&mut self, waited: Duration) {
        self.owed = self.owed.saturating_add(waited);
    }

    /// What to give back now, within what is left of `MAX_STORAGE_WAIT`.
    fn take(&mut self) -> Duration {
        let grant = self.owed.min(MAX_STORAGE_WAIT.saturating_sub(self.given));
        self.owed = Duration::ZERO;
        self.given += grant;
        grant
    }
}

/// What a call that reached its deadline gets: the ticks it spent waiting
/// on storage since the last time, or the trap (`Trap::Interrupt`, "ran
/// past its call timeout") when it owes nothing to storage.
pub fn on_deadline(
    mut store: wasmtime::StoreContextMut<'_, super::GuestState>,
) -> wasmtime::Result<wasmtime::UpdateDeadline> {
    let grant = store.data_mut().storage_wait.take();
    let ticks = grant.as_micros().div_ceil(TICK.as_micros().max(1));
    Ok(match u64::try_from(ticks).unwrap_or(u64::MAX) {
        0 => wasmtime::UpdateDeadline::Interrupt,
        ticks => wasmtime::UpdateDeadline::Continue(ticks),
    })
}

/// Table elements an instance may have. Tables hold function references;
/// real components need a few thousand, so this only stops a guest growing
/// one without bound.
const MAX_TABLE_ELEMENTS: usize = 100_000;

/// Start the thread that advances `engine`'s epoch. It ends with the engine.
pub fn start_epoch_ticker(engine: &Engine) -> std::io::Result<()> {
    let engine = engine.weak();
    std::thread::Builder::new()
        .name("epoch-ticker".into())
        .spawn(move || {
            while let Some(engine) = engine.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(TICK);
            }
        })
        .map(|_| ())
}

/// The limits of one app's instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuestLimits {
    /// The longest one guest call (an event, a snapshot, a restore, or
    /// starting an instance) may run.
    pub call_timeout: Duration,
    /// Linear memory, all memories of an instance together.
    pub max_memory_bytes: usize,
    /// The most the app may attach to one connection.
    pub max_attachment_bytes: usize,
    /// The largest snapshot a version may hand to the next in a hot swap.
    pub max_snapshot_bytes: usize,
    /// The share of `max_memory_bytes` past which an instance is replaced
    /// between events (`recycle_memory_bytes`); 0 never.
    pub recycle_memory_percent: u8,
}

impl GuestLimits {
    /// The deadline for one call, in epoch ticks from now. Rounded up, and
    /// one more, because the current tick may be nearly over.
    pub fn deadline_ticks(&self) -> u64 {
        let tick = TICK.as_micros().max(1);
        let ticks = self.call_timeout.as_micros().div_ceil(tick);
        // wasmtime adds this to the current epoch unchecked; a century is
        // far beyond any sensible deadline and cannot overflow.
        const CENTURY_OF_TICKS: u64 = 100 * 365 * 24 * 3600 * 200;
        u64::try_from(ticks)
            .unwrap_or(u64::MAX)
            .saturating_add(1)
            .min(CENTURY_OF_TICKS)
    }

    /// Memory past which an instance is replaced between two events, or
    /// `None` when instances are never recycled.
    pub fn recycle_memory_bytes(&self) -> Option<usize> {
        match self.recycle_memory_percent {
            0 => None,
            percent => Some(self.max_memory_bytes / 100 * usize::from(percent.min(100))),
        }
    }

    pub fn limiter(&self) -> GuestLimiter {
        GuestLimiter {
            max_memory_bytes: self.max_memory_bytes,
            memory_in_use: 0,
        }
    }
}

/// Counts an instance's memory against its cap.
pub struct GuestLimiter {
    max_memory_bytes: usize,
    memory_in_use: usize,
}

impl GuestLimiter {
    /// Linear memory the instance holds now, all memories together.
    pub fn memory_bytes(&self) -> usize {
        self.memory_in_use
    }
}

impl ResourceLimiter for GuestLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let growth = desired.saturating_sub(current);
        let total = self.memory_in_use.saturating_add(growth);
        if total > self.max_memory_bytes {
            return Ok(false);
        }
        self.memory_in_use = total;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_counted_across_memories_of_one_instance() {
        let sandbox = GuestLimits {
            call_timeout: Duration::from_millis(100),
            max_memory_bytes: 100,
            max_attachment_bytes: 0,
            max_snapshot_bytes: 0,
            recycle_memory_percent: 0,
        };
        let mut limiter = sandbox.limiter();
        assert!(limiter.memory_growing(0, 60, None).unwrap_or(false));
        // A second memory may not take the instance past the cap.
        assert!(!limiter.memory_growing(0, 60, None).unwrap_or(true));
        assert!(limiter.memory_growing(60, 100, None).unwrap_or(false));
        assert!(!limiter.memory_growing(100, 101, None).unwrap_or(true));
    }

    /// The CPU deadline rests on epoch checks the compiler puts into the
    /// code; both compilers must, or a guest loop would run forever.
    #[test]
    fn an_endless_loop_traps_at_its_deadline_under_either_compiler() {
        use crate::guest::{Compiler, engine_with};
        for compiler in [Compiler::Cranelift, Compiler::Winch] {
            let engine = engine_with(0, compiler).unwrap();
            let module = wasmtime::Module::new(
                &engine,
                r#"(module (func (export "spin") (loop $again (br $again))))"#,
            )
            .unwrap();
            let mut store = wasmtime::Store::new(&engine, ());
            store.set_epoch_deadline(2);
            let instance = wasmtime::Instance::new(&mut store, &module, &[]).unwrap();
            let spin = instance
                .get_typed_func::<(), ()>(&mut store, "spin")
                .unwrap();
            let error = spin.call(&mut store, ()).unwrap_err();
            assert_eq!(
                error.downcast_ref::<wasmtime::Trap>(),
                Some(&wasmtime::Trap::Interrupt),
                "{compiler:?}: {error:#}"
            );
        }
    }

    /// The on-disk code cache names entries by the engine's settings; code
    /// from one compiler must never be loaded by an engine of the other.
    #[test]
    fn the_two_compilers_make_code_for_different_engines() {
        use crate::guest::{Compiler, engine_with};
        use std::hash::{DefaultHasher, Hash as _, Hasher as _};
        let key = |compiler| {
            let engine = engine_with(0, compiler).unwrap();
            let mut hasher = DefaultHasher::new();
            engine.precompile_compatibility_hash().hash(&mut hasher);
            hasher.finish()
        };
        assert_ne!(key(Compiler::Cranelift), key(Compiler::Winch));
    }

    #[test]
    fn waiting_on_storage_is_given_back_up_to_a_bound_per_call() {
        let mut wait = StorageWait::default();
        assert_eq!(wait.take(), Duration::ZERO, "owing nothing, the call traps");
        wait.add(Duration::from_millis(300));
        assert_eq!(wait.take(), Duration::from_millis(300));
        assert_eq!(wait.take(), Duration::ZERO, "given back once");
        wait.add(MAX_STORAGE_WAIT);
        assert_eq!(wait.take(), MAX_STORAGE_WAIT - Duration::from_millis(300));
        wait.add(Duration::from_millis(1));
        assert_eq!(wait.take(), Duration::ZERO, "the call's bound is spent");
        wait.begin_call();
        wait.add(Duration::from_millis(1));
        assert_eq!(
            wait.take(),
            Duration::from_millis(1),
            "the next call's is not"
        );
    }

    #[test]
    fn deadlines_round_up_to_whole_ticks() {
        let sandbox = GuestLimits {
            call_timeout: Duration::from_millis(100),
            max_memory_bytes: 1,
            max_attachment_bytes: 0,
            max_snapshot_bytes: 0,
            recycle_memory_percent: 0,
        };
        assert_eq!(sandbox.deadline_ticks(), 21);
    }
}
