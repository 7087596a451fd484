//! How the host's own threads ask Linux to schedule them, where the
//! default treatment costs latency or CPU. Each request is best effort: a
//! kernel that refuses it leaves the thread as it was, which is slower but
//! still correct.

/// For an app's actor thread: `SCHED_BATCH`, which is `SCHED_OTHER` minus
/// wake-up preemption. A connection task posting an event wakes the actor;
/// at normal policy the actor then preempts the connection runtime's thread
/// at once (they often share a core), handles that one event, wakes the
/// connection to write the reply, and sleeps again: two context switches
/// per message. In batch, the actor runs when the runtime's thread yields
/// or its slice ends, finds every event posted meanwhile, and handles them
/// in one go. On one core at 100 connections of echo this took the host
/// from 13.4 to 8.7 µs of CPU per message, and p99 from 2.3 to 1.2 ms
/// (docs/benchmarks.md). An idle core still runs the actor at once, so a
/// quiet host answers as fast as before.
pub fn batch_app_thread() {
    let parameters = libc::sched_param { sched_priority: 0 };
    // SAFETY: sched_setscheduler only reads `parameters`; pid 0 means the
    // calling thread alone.
    let result = unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &parameters) };
    if result != 0 {
        tracing::debug!("cannot put the app thread in SCHED_BATCH");
    }
}

/// How much a compiling thread yields to the rest: nice 10 gets about a
/// tenth of a busy core, so a 100 ms compile finishes within a second even
/// on a saturated host.
const COMPILE_NICENESS: i32 = 10;

/// How long the compiling thread may run before the scheduler looks again,
/// in nanoseconds. Linux's default slice (about 3 ms) would hold serving
/// threads back for that long each time the compile runs; 0.1 ms is the
/// smallest slice Linux takes. The slice is only looked at on a wake-up or
/// a scheduler tick, though: on a kernel with a 4 ms tick a serving thread
/// that may not preempt it can still wait up to 4 ms (docs/benchmarks.md,
/// Swap).
const COMPILE_SLICE_NS: u64 = 100_000;

/// For the thread that compiles deploys: a little CPU often, so it never
/// holds serving threads back for long.
pub fn lower_for_compiling() {
    // SAFETY: sched_attr is plain data, zeroed then filled in; the syscall
    // only reads it, and pid 0 means the calling thread alone.
    let sliced = unsafe {
        let mut attributes: libc::sched_attr = std::mem::zeroed();
        attributes.size = std::mem::size_of::<libc::sched_attr>() as u32;
        attributes.sched_policy = libc::SCHED_OTHER as u32;
        attributes.sched_nice = COMPILE_NICENESS;
        attributes.sched_runtime = COMPILE_SLICE_NS;
        libc::syscall(
            libc::SYS_sched_setattr,
            0,
            &attributes as *const libc::sched_attr,
            0,
        ) == 0
    };
    if sliced {
        return;
    }
    // Kernels before custom slices (6.12): the niceness alone.
    // SAFETY: setpriority only reads its arguments; on Linux, PRIO_PROCESS
    // with id 0 applies to the calling thread alone.
    let result = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, COMPILE_NICENESS) };
    if result != 0 {
        tracing::debug!("cannot lower the compile thread's priority");
    }
}
