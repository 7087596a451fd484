//! What a test expects a connection to receive, how that is matched against
//! what the app sent, and how a mismatch reads. Shared by both front ends
//! (the `switchboard-test` crate and `switchboard test`), so a failure says
//! the same thing whichever one an author uses.

use std::fmt;

/// Something a connection received from the app, in the order it would
/// reach a real client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    Text(String),
    Binary(Vec<u8>),
    /// The app (or the host on its behalf: a trap, a suspension, a full
    /// outbox) closed the connection. Nothing follows it.
    Close {
        code: u16,
        reason: String,
    },
}

/// What a test expects to receive next.
#[derive(Debug, Clone, PartialEq)]
pub enum Expected {
    /// A text message, exactly.
    Text(String),
    /// A binary message, exactly.
    Binary(Vec<u8>),
    /// A text message holding JSON that contains this value: every key of
    /// an expected object must be there with a matching value (other keys
    /// may be too); arrays match element by element and must be as long;
    /// anything else must be equal. With `exact`, the whole value must be
    /// equal.
    Json {
        value: serde_json::Value,
        exact: bool,
    },
    /// The close of the connection; `None` matches any code or reason.
    Close {
        code: Option<u16>,
        reason: Option<String>,
    },
}

impl Expected {
    /// A JSON subset (see `Expected::Json`).
    pub fn json(value: serde_json::Value) -> Expected {
        Expected::Json {
            value,
            exact: false,
        }
    }

    pub fn matches(&self, received: &Received) -> bool {
        match (self, received) {
            (Expected::Text(expected), Received::Text(text)) => expected == text,
            (Expected::Binary(expected), Received::Binary(bytes)) => expected == bytes,
            (Expected::Json { value, exact }, Received::Text(text)) => {
                match serde_json::from_str::<serde_json::Value>(text) {
                    Ok(actual) if *exact => json_equal(value, &actual),
                    Ok(actual) => json_contains(&actual, value),
                    Err(_) => false,
                }
            }
            (Expected::Close { code, reason }, Received::Close { code: c, reason: r }) => {
                code.is_none_or(|code| code == *c)
                    && reason.as_ref().is_none_or(|reason| reason == r)
            }
            _ => false,
        }
    }
}

/// Whether `actual` contains everything `expected` says.
pub fn json_contains(actual: &serde_json::Value, expected: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (expected, actual) {
        (Value::Object(expected), Value::Object(actual)) => {
            expected.iter().all(|(key, expected)| {
                actual
                    .get(key)
                    .is_some_and(|actual| json_contains(actual, expected))
            })
        }
        (Value::Array(expected), Value::Array(actual)) => {
            expected.len() == actual.len()
                && expected
                    .iter()
                    .zip(actual)
                    .all(|(expected, actual)| json_contains(actual, expected))
        }
        (expected, actual) => json_equal(expected, actual),
    }
}

/// Equality, except that numbers compare by value (`1` equals `1.0`): a
/// scenario file's integers and an app's floats should not differ by type.
fn json_equal(expected: &serde_json::Value, actual: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (expected, actual) {
        (Value::Number(a), Value::Number(b)) => a == b || a.as_f64() == b.as_f64(),
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| json_equal(a, b))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(key, a)| b.get(key).is_some_and(|b| json_equal(a, b)))
        }
        (a, b) => a == b,
    }
}

/// Longer payloads are cut in failure messages, so one huge message does
/// not bury the rest.
const SHOWN_CHARS: usize = 300;

fn shown(text: &str) -> String {
    if text.chars().count() <= SHOWN_CHARS {
        return format!("{text:?}");
    }
    let cut: String = text.chars().take(SHOWN_CHARS).collect();
    format!("{cut:?}... ({} bytes in all)", text.len())
}

fn shown_bytes(bytes: &[u8]) -> String {
    let hex: String = bytes
        .iter()
        .take(SHOWN_CHARS / 2)
        .map(|byte| format!("{byte:02x}"))
        .collect();
    if bytes.len() * 2 > SHOWN_CHARS {
        format!("{hex}... ({} bytes in all)", bytes.len())
    } else {
        format!("[{hex}] ({} bytes)", bytes.len())
    }
}

impl fmt::Display for Received {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Received::Text(text) => write!(f, "text {}", shown(text)),
            Received::Binary(bytes) => write!(f, "binary {}", shown_bytes(bytes)),
            Received::Close { code, reason } if reason.is_empty() => write!(f, "close {code}"),
            Received::Close { code, reason } => write!(f, "close {code} {reason:?}"),
        }
    }
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expected::Text(text) => write!(f, "text {}", shown(text)),
            Expected::Binary(bytes) => write!(f, "binary {}", shown_bytes(bytes)),
            Expected::Json { value, exact } => write!(
                f,
                "{} {}",
                if *exact { "JSON" } else { "JSON containing" },
                value
            ),
            Expected::Close { code, reason } => {
                write!(f, "close")?;
                match code {
                    Some(code) => write!(f, " {code}")?,
                    None => write!(f, " (any code)")?,
                }
                if let Some(reason) = reason {
                    write!(f, " {reason:?}")?;
                }
                Ok(())
            }
        }
    }
}

/// An expectation that did not hold: what was expected and what happened,
/// each on one line, for a test runner or a panic message to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub expected: String,
    pub actual: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "expected {}\n     but {}", self.expected, self.actual)
    }
}

impl std::error::Error for Mismatch {}

/// A string is expected as exactly that text.
impl From<&str> for Expected {
    fn from(text: &str) -> Self {
        Expected::Text(text.to_string())
    }
}

impl From<String> for Expected {
    fn from(text: String) -> Self {
        Expected::Text(text)
    }
}

/// Bytes are expected as exactly that binary message.
impl From<Vec<u8>> for Expected {
    fn from(bytes: Vec<u8>) -> Self {
        Expected::Binary(bytes)
    }
}

impl From<&[u8]> for Expected {
    fn from(bytes: &[u8]) -> Self {
        Expected::Binary(bytes.to_vec())
    }
}

/// A JSON value is expected as a subset of a JSON text message.
impl From<serde_json::Value> for Expected {
    fn from(value: serde_json::Value) -> Self {
        Expected::json(value)
    }
}
