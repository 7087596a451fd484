//! Close codes (RFC 6455 7.4), by name: the ones the host sends, the ones
//! it reports to apps in `on-close` without sending them, and the rule for
//! which codes an app may send. One vocabulary, so that a code means the
//! same thing in every file and docs/config.md can list them all.

/// The app (or the client) finished normally.
pub const NORMAL: u16 = 1000;
/// The host is shutting down, the app was removed or stopped, or the
/// client was silent past the idle timeout.
pub const GOING_AWAY: u16 = 1001;
/// The client broke the framing rules: reserved bits or opcodes, bad
/// fragmentation, a bad control frame.
pub const PROTOCOL_ERROR: u16 = 1002;
/// Reported, never sent: the client's close frame carried no code.
pub const NO_STATUS_RECEIVED: u16 = 1005;
/// Reported, never sent: the connection ended without a closing handshake
/// (the client vanished, or our close frame could not be written in time).
pub const ABNORMAL_CLOSURE: u16 = 1006;
/// A text message that is not UTF-8.
pub const INVALID_PAYLOAD: u16 = 1007;
/// The client broke a host policy: too slow to read, or over the message
/// rate.
pub const POLICY_VIOLATION: u16 = 1008;
/// The client sent a message or frame over the size limit.
pub const MESSAGE_TOO_BIG: u16 = 1009;
/// The app failed (a trap) or is unavailable.
pub const INTERNAL_ERROR: u16 = 1011;

/// Close codes an endpoint may send (RFC 6455 7.4.1 and 7.4.2): 1004-1006
/// and 1015 are reserved for reporting, never for the wire.
pub fn is_sendable(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// A close frame's payload is at most 125 bytes, two of them the code.
pub const MAX_REASON_BYTES: usize = 123;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reporting_codes_are_never_sendable() {
        for code in [NO_STATUS_RECEIVED, ABNORMAL_CLOSURE, 1004, 1015, 999, 5000] {
            assert!(!is_sendable(code), "{code}");
        }
        for code in [NORMAL, GOING_AWAY, PROTOCOL_ERROR, POLICY_VIOLATION, 4000] {
            assert!(is_sendable(code), "{code}");
        }
    }
}
