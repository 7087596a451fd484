//! Who may open a connection, decided before any app is asked: the
//! host-wide connection cap, the cap per client IP address, and each app's
//! own rules (allowed origins, its own cap, its subprotocols).
//!
//! Refusals are plain HTTP answers to the upgrade request, so a client
//! learns why: 403 for an origin the app does not allow, 429 for too many
//! connections from one address, 503 when the host or the app is full.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use http::{HeaderMap, StatusCode, header};

use crate::config::{ClientPolicy, Limits};

/// Connections the host holds, in all and per address.
#[derive(Default)]
pub struct Admissions {
    total: AtomicUsize,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
}

/// A refused upgrade: the status and the reason the client reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub reason: &'static str,
}

/// One admitted connection's place in the counts; given back on drop, so
/// every way a connection ends (or never starts) frees it.
pub struct Admission {
    admissions: Arc<Admissions>,
    ip: IpAddr,
}

impl Admissions {
    /// Count a new connection from `ip`, if the host-wide and per-address
    /// caps allow it.
    pub fn admit(self: &Arc<Self>, ip: IpAddr, limits: &Limits) -> Result<Admission, Refusal> {
        let mut per_ip = self
            .per_ip
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if self.total.load(Ordering::Relaxed) >= limits.max_connections {
            return Err(Refusal {
                status: StatusCode::SERVICE_UNAVAILABLE,
                reason: "the server is at its connection limit",
            });
        }
        let from_ip = per_ip.entry(ip).or_insert(0);
        if *from_ip >= limits.max_connections_per_ip {
            return Err(Refusal {
                status: StatusCode::TOO_MANY_REQUESTS,
                reason: "too many connections from your address",
            });
        }
        *from_ip += 1;
        self.total.fetch_add(1, Ordering::Relaxed);
        Ok(Admission {
            admissions: self.clone(),
            ip,
        })
    }

    /// Connections held right now.
    pub fn total(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut per_ip = self
            .admissions
            .per_ip
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(count) = per_ip.get_mut(&self.ip) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                per_ip.remove(&self.ip);
            }
        }
        self.admissions.total.fetch_sub(1, Ordering::Relaxed);
    }
}

impl ClientPolicy {
    /// Check the app's own rules; `live` is how many connections it has.
    pub fn check(&self, headers: &HeaderMap, live: usize) -> Result<(), Refusal> {
        if let Some(allowed) = &self.allowed_origins {
            let origin = headers
                .get(header::ORIGIN)
                .and_then(|value| value.to_str().ok());
            let allowed = origin.is_some_and(|origin| {
                allowed
                    .iter()
                    .any(|candidate| candidate.eq_ignore_ascii_case(origin))
            });
            if !allowed {
                return Err(Refusal {
                    status: StatusCode::FORBIDDEN,
                    reason: "this origin may not connect to this app",
                });
            }
        }
        if self.max_connections.is_some_and(|max| live >= max) {
            return Err(Refusal {
                status: StatusCode::SERVICE_UNAVAILABLE,
                reason: "the app is at its connection limit",
            });
        }
        Ok(())
    }

    /// Keep only the offered subprotocols this app may confirm.
    pub fn filter_subprotocols(&self, offered: &mut Vec<String>) {
        if let Some(allowed) = &self.subprotocols {
            offered.retain(|protocol| allowed.contains(protocol));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(total: usize, per_ip: usize) -> Limits {
        Limits {
            max_connections: total,
            max_connections_per_ip: per_ip,
            ..Limits::default()
        }
    }

    #[test]
    fn caps_are_counted_and_given_back() {
        let admissions = Arc::new(Admissions::default());
        let one: IpAddr = [10, 0, 0, 1].into();
        let two: IpAddr = [10, 0, 0, 2].into();
        let first = admissions.admit(one, &limits(3, 2)).expect("first");
        let _second = admissions.admit(one, &limits(3, 2)).expect("second");
        let refused = admissions.admit(one, &limits(3, 2)).err();
        assert_eq!(
            refused.map(|r| r.status),
            Some(StatusCode::TOO_MANY_REQUESTS)
        );
        let _third = admissions
            .admit(two, &limits(3, 2))
            .expect("another address");
        let refused = admissions.admit(two, &limits(3, 2)).err();
        assert_eq!(
            refused.map(|r| r.status),
            Some(StatusCode::SERVICE_UNAVAILABLE)
        );
        drop(first);
        assert_eq!(admissions.total(), 2);
        assert!(admissions.admit(one, &limits(3, 2)).is_ok());
    }
}
