//! CPU placement and CPU accounting.
//!
//! On a 2-core machine a load generator and a server that float between cores
//! measure the scheduler, not the server. Pinning each to its own core keeps
//! them from stealing each other's time, and CPU time (not wall time) per
//! message is what stays comparable between runs when the machine is noisy.

use std::io;
use std::time::Duration;

use anyhow::{Context as _, bail};

/// A set of one CPU core, ready to apply to the calling thread or, between
/// fork and exec, to a child process.
#[derive(Clone, Copy)]
pub struct CoreSet {
    set: libc::cpu_set_t,
    core: usize,
}

impl CoreSet {
    pub fn new(core: usize) -> anyhow::Result<CoreSet> {
        // CPU_SET writes past the set for cores beyond its capacity.
        let capacity = 8 * std::mem::size_of::<libc::cpu_set_t>();
        if core >= capacity {
            bail!("core {core} is beyond the {capacity} cores sched_setaffinity can address");
        }
        // SAFETY: cpu_set_t is a plain bit array; all zeroes is the empty set.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        // SAFETY: `core` is within the set's capacity (checked above).
        unsafe { libc::CPU_SET(core, &mut set) };
        Ok(CoreSet { set, core })
    }

    /// Pin the calling thread; threads it starts afterwards inherit the pin.
    pub fn pin_current_thread(&self) -> anyhow::Result<()> {
        self.apply()
            .with_context(|| format!("cannot pin the bench to core {}", self.core))
    }

    /// The raw call, async-signal-safe so a child can make it between fork
    /// and exec (`CommandExt::pre_exec`).
    pub fn apply(&self) -> io::Result<()> {
        // SAFETY: pid 0 is the calling thread and the set is a valid, fully
        // initialised cpu_set_t of the size passed.
        let result = unsafe {
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &self.set)
        };
        if result == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
}

/// Let the calling thread run only when its core has nothing else to do
/// (SCHED_IDLE). For helper threads that share the bench's core: they must
/// not delay the thread that sends and times messages, or the bench would
/// measure itself.
pub fn run_only_when_idle() -> io::Result<()> {
    // SAFETY: sched_param is plain data; SCHED_IDLE requires priority 0,
    // which the zeroed value is.
    let param: libc::sched_param = unsafe { std::mem::zeroed() };
    // SAFETY: pid 0 is the calling thread; the pointer is valid for the call.
    let result = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// CPU time (user + system) the calling thread has used. The measuring
/// runtime is one thread, so this is exactly the load generator's cost.
pub fn thread_cpu_time() -> Duration {
    // SAFETY: rusage is plain data; getrusage fills it in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_THREAD with a valid out pointer cannot fail on Linux.
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) };
    timeval(usage.ru_utime) + timeval(usage.ru_stime)
}

fn timeval(time: libc::timeval) -> Duration {
    Duration::from_secs(time.tv_sec.max(0) as u64)
        + Duration::from_micros(time.tv_usec.max(0) as u64)
}

/// CPU time (user + system, all threads) process `pid` has used, from
/// `/proc/PID/stat`.
pub fn process_cpu_time(pid: u32) -> anyhow::Result<Duration> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    parse_stat(&stat, clock_ticks_per_second()).with_context(|| format!("cannot parse {path}"))
}

fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    // 100 is what Linux has reported on every architecture for decades.
    if ticks > 0 { ticks as u64 } else { 100 }
}

/// utime and stime are fields 14 and 15. The command name (field 2) is in
/// parentheses and may itself contain spaces and parentheses, so fields are
/// counted from the last `)`.
fn parse_stat(stat: &str, ticks_per_second: u64) -> anyhow::Result<Duration> {
    let after_name = stat
        .rfind(')')
        .map(|end| &stat[end + 1..])
        .context("no command name")?;
    let mut fields = after_name.split_whitespace().skip(11); // fields 3..=13
    let mut next_ticks = |name: &str| -> anyhow::Result<u64> {
        fields
            .next()
            .with_context(|| format!("no {name} field"))?
            .parse::<u64>()
            .with_context(|| format!("{name} is not a number"))
    };
    let ticks = next_ticks("utime")? + next_ticks("stime")?;
    Ok(Duration::from_nanos(
        ticks.saturating_mul(1_000_000_000) / ticks_per_second,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utime_and_stime_are_read_past_an_awkward_command_name() {
        let stat =
            "4242 (swi) tch (x)) S 1 4242 4242 0 -1 4194560 500 0 0 0 250 150 0 0 20 0 9 0 100 0 0";
        assert_eq!(parse_stat(stat, 100).unwrap(), Duration::from_secs(4));
    }

    #[test]
    fn a_truncated_stat_is_an_error() {
        assert!(parse_stat("4242 (x) S 1 2 3", 100).is_err());
    }

    #[test]
    fn this_process_has_used_some_cpu() {
        let spent = process_cpu_time(std::process::id()).unwrap();
        assert!(spent < Duration::from_secs(3600));
        assert!(thread_cpu_time() < Duration::from_secs(3600));
    }
}
