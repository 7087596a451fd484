//! What the bench sets on processes apart from CPU placement: its own
//! open-file limit (thousands of client sockets do not fit in the usual
//! soft limit of 1024).

use anyhow::Context as _;

/// Raise this process's soft limit on open files to its hard limit, and
/// return the new soft limit. A server the bench starts afterwards inherits
/// it, which it needs just as much (one socket per connection).
pub fn raise_open_file_limit() -> anyhow::Result<u64> {
    // SAFETY: rlimit is plain data; getrlimit fills it in.
    let mut limit: libc::rlimit = unsafe { std::mem::zeroed() };
    // SAFETY: a valid resource and a valid out pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(std::io::Error::last_os_error()).context("cannot read the open-file limit");
    }
    if limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max;
        // SAFETY: a valid resource and a fully initialised rlimit; raising
        // the soft limit up to the hard one needs no privilege.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
            return Err(std::io::Error::last_os_error()).with_context(|| {
                format!("cannot raise the open-file limit to {}", limit.rlim_max)
            });
        }
    }
    Ok(limit.rlim_cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_open_file_limit_can_be_raised() {
        assert!(raise_open_file_limit().unwrap() > 0);
    }
}
