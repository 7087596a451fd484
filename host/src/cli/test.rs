//! `switchboard test APP.wasm SCENARIO...`: the test harness for apps in any
//! language. A scenario file (TOML, or JSON for generated ones; the format
//! is in docs/testing.md) lists steps: clients connect, send and close,
//! the app's clock moves on (its timers fire), and expectations on what
//! the app sends, closes, rejects and logs. Each
//! scenario runs on a fresh instance of the app through the engine in
//! `switchboard::harness`, the same one the `switchboard-test` crate uses;
//! this module only reads the files and prints a test runner's summary.
//!
//! Every file is read and checked before anything runs, so a mistake in one
//! (an unknown key, a client used before it connects) is a one-line error
//! naming the file, the step and the fix, with exit status 2; a scenario
//! whose expectations fail makes the exit status 1.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use serde_json::{Map, Value};
use switchboard::close_code;
use switchboard::config::{HistoryRule, check_history};
use switchboard::guest::{Message, Request};
use switchboard::harness::{self, Expected, Harness, Level, Opened};

/// Run the scenarios against the app; the exit status says how it went.
pub fn run(app: &Path, scenarios: &[PathBuf]) -> ExitCode {
    let mut parsed = Vec::new();
    for path in scenarios {
        match Scenario::read(path) {
            Ok(scenario) => parsed.push(scenario),
            Err(error) => {
                eprintln!("error: {error}");
                return ExitCode::from(crate::EXIT_BAD_INPUT);
            }
        }
    }
    let app_bytes = match std::fs::read(app) {
        Ok(bytes) => bytes,
        Err(error) => {
            eprintln!("error: cannot read {}: {error}", app.display());
            return ExitCode::from(crate::EXIT_BAD_INPUT);
        }
    };

    println!(
        "running {} scenario{} against {}",
        parsed.len(),
        plural(parsed.len()),
        app.display()
    );
    let (mut passed, mut failed) = (0usize, 0usize);
    for scenario in &parsed {
        let mut harness = match Harness::load_with_history(app, &scenario.history) {
            Ok(harness) => harness,
            Err(error) => {
                eprintln!("error: {error}");
                return ExitCode::from(crate::EXIT_BAD_INPUT);
            }
        };
        let title = format!("{}: {}", scenario.path.display(), scenario.name);
        match scenario.run(&mut harness, &app_bytes) {
            Ok(()) => {
                passed += 1;
                println!(
                    "ok      {title} ({} step{})",
                    scenario.steps.len(),
                    plural(scenario.steps.len())
                );
            }
            Err(failure) => {
                failed += 1;
                println!("FAILED  {title}");
                println!("        {failure}");
            }
        }
    }
    println!();
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// A scenario file that cannot be run: which file, which step, what to fix.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {place}{message}")]
pub struct Malformed {
    file: String,
    /// `step N: ` or empty for the file as a whole.
    place: String,
    message: String,
}

struct Scenario {
    path: PathBuf,
    name: String,
    /// Topic history to keep, as a host's `[[apps.history]]` would.
    history: Vec<HistoryRule>,
    steps: Vec<Step>,
}

struct Step {
    number: usize,
    /// How the summary names the step: `expect "bob"`.
    label: String,
    action: Action,
}

enum Action {
    Connect {
        client: String,
        request: Request,
        outcome: Outcome,
    },
    Send {
        client: String,
        message: Message,
    },
    Close {
        client: String,
        code: u16,
        reason: String,
    },
    Expect {
        client: String,
        expected: Expected,
    },
    ExpectBroadcast {
        expected: Expected,
        except: Vec<String>,
    },
    ExpectNothing {
        clients: Vec<String>,
    },
    ExpectLog {
        text: String,
        level: Option<Level>,
    },
    ExpectTrap {
        text: String,
    },
    Swap {
        /// `None`: the app under test again.
        to: Option<PathBuf>,
        /// The swap must be refused, with a reason containing this.
        refused: Option<String>,
    },
    Advance {
        by: Duration,
        /// The keys of the timers that must fire meanwhile, in order.
        fired: Option<Vec<String>>,
    },
}

enum Outcome {
    Accept { subprotocol: Option<String> },
    Reject { status: u16, body: Option<String> },
}

const VERBS: &[&str] = &[
    "connect",
    "send",
    "close",
    "disconnect",
    "expect",
    "expect_close",
    "expect_broadcast",
    "expect_nothing",
    "expect_log",
    "expect_trap",
    "swap",
    "advance_ms",
];

/// The longest `advance_ms`: a year of the app's time.
const MAX_ADVANCE_MS: u64 = 365 * 24 * 3600 * 1000;

/// The keys a message or expectation can be given by.
const PAYLOADS: &[&str] = &["text", "binary", "json", "json_exact"];

impl Scenario {
    fn read(path: &Path) -> Result<Scenario, Malformed> {
        let file = path.display().to_string();
        let whole = |message: String| Malformed {
            file: file.clone(),
            place: String::new(),
            message,
        };
        let text = std::fs::read_to_string(path)
            .map_err(|error| whole(format!("cannot read it: {error}")))?;
        let is_json = path.extension().is_some_and(|ext| ext == "json");
        let document: Value = if is_json {
            serde_json::from_str(&text)
                .map_err(|error| whole(format!("not valid JSON: {error}")))?
        } else {
            let table: toml::Table = toml::from_str(&text).map_err(|error| {
                whole(format!(
                    "not valid TOML: {}",
                    error.to_string().trim().replace('\n', " ")
                ))
            })?;
            serde_json::to_value(table).map_err(|error| whole(error.to_string()))?
        };
        let Value::Object(document) = document else {
            return Err(whole(
                "expected a table with `name` and `[[step]]` entries".into(),
            ));
        };
        for key in document.keys() {
            if !["name", "history", "step", "steps"].contains(&key.as_str()) {
                return Err(whole(format!(
                    "unknown key `{key}`{}: a scenario has `name`, `[[history]]` and `[[step]]` \
                     entries",
                    suggest(key, &["name", "history", "step"])
                )));
            }
        }
        let history: Vec<HistoryRule> = match document.get("history") {
            None => Vec::new(),
            Some(rules) => serde_json::from_value(rules.clone()).map_err(|error| {
                whole(format!(
                    "`history`: {error}; give `[[history]]` tables with `prefix`, `size` and \
                     `ttl_seconds`, as in a host's `[[apps.history]]`"
                ))
            })?,
        };
        check_history(&history).map_err(whole)?;
        let name = match document.get("name") {
            None => path
                .file_stem()
                .map(|stem| stem.to_string_lossy().replace(['_', '-'], " "))
                .unwrap_or_default(),
            Some(Value::String(name)) => name.clone(),
            Some(_) => return Err(whole("`name` must be a string".into())),
        };
        let steps = match (document.get("step"), document.get("steps")) {
            (Some(Value::Array(steps)), None) | (None, Some(Value::Array(steps))) => steps,
            (None, None) => {
                return Err(whole(
                    "it has no steps: add `[[step]]` tables (in JSON, a `step` array)".into(),
                ));
            }
            _ => {
                return Err(whole(
                    "`step` must be an array of tables (`[[step]]` in TOML)".into(),
                ));
            }
        };
        let base = path.parent().unwrap_or(Path::new("."));
        let mut known = HashSet::new();
        let mut parsed = Vec::new();
        for (index, step) in steps.iter().enumerate() {
            let number = index + 1;
            let malformed = |message: String| Malformed {
                file: file.clone(),
                place: format!("step {number}: "),
                message,
            };
            let Value::Object(table) = step else {
                return Err(malformed("a step must be a table".into()));
            };
            let (label, action) = parse_step(table, base, &mut known).map_err(malformed)?;
            parsed.push(Step {
                number,
                label,
                action,
            });
        }
        Ok(Scenario {
            path: path.to_path_buf(),
            name,
            history,
            steps: parsed,
        })
    }
}

/// ` (did you mean `x`?)` when a key is a likely typo of one of `known`.
fn suggest(key: &str, known: &[&str]) -> String {
    known
        .iter()
        .map(|candidate| (strsim::jaro_winkler(key, candidate), candidate))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| format!(" (did you mean `{candidate}`?)"))
        .unwrap_or_default()
}

/// One step's table, read key by key; keys nobody read are mistakes.
struct Fields<'a> {
    table: &'a Map<String, Value>,
    read: HashSet<&'static str>,
}

impl<'a> Fields<'a> {
    fn get(&mut self, key: &'static str) -> Option<&'a Value> {
        self.read.insert(key);
        self.table.get(key)
    }

    fn string(&mut self, key: &'static str) -> Result<Option<String>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(other) => Err(format!("`{key}` must be a string, not {other}")),
        }
    }

    fn number(&mut self, key: &'static str, max: u64) -> Result<Option<u64>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(number)) => match number.as_u64() {
                Some(n) if n <= max => Ok(Some(n)),
                _ => Err(format!("`{key}` must be a whole number up to {max}")),
            },
            Some(other) => Err(format!("`{key}` must be a number, not {other}")),
        }
    }

    fn strings(&mut self, key: &'static str) -> Result<Vec<String>, String> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::String(one)) => Ok(vec![one.clone()]),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Value::String(text) => Ok(text.clone()),
                    other => Err(format!("`{key}` must list strings, not {other}")),
                })
                .collect(),
            Some(other) => Err(format!("`{key}` must be a list of strings, not {other}")),
        }
    }

    /// Every key was one this step reads.
    fn finish(&self, verb: &str) -> Result<(), String> {
        for key in self.table.keys() {
            if key == verb || key == "note" || self.read.contains(key.as_str()) {
                continue;
            }
            let mut known: Vec<&str> = self.read.iter().copied().collect();
            known.extend(VERBS);
            return Err(format!(
                "unknown key `{key}` in a `{verb}` step{}; see docs/testing.md for what it takes",
                suggest(key, &known)
            ));
        }
        Ok(())
    }

    /// The one payload key (`text`, `binary`, `json`, `json_exact`).
    fn payload(&mut self, verb: &str) -> Result<Option<(&'static str, &'a Value)>, String> {
        let mut found = None;
        for key in PAYLOADS {
            if let Some(value) = self.get(key) {
                if let Some((other, _)) = found {
                    return Err(format!(
                        "a `{verb}` step takes one of `text`, `binary`, `json`, `json_exact`, \
                         not both `{other}` and `{key}`"
                    ));
                }
                found = Some((*key, value));
            }
        }
        Ok(found)
    }
}

fn bytes(value: &Value) -> Result<Vec<u8>, String> {
    let Value::Array(items) = value else {
        return Err("`binary` must be a list of byte values, e.g. [0, 255]".into());
    };
    items
        .iter()
        .map(|item| {
            item.as_u64()
                .and_then(|byte| u8::try_from(byte).ok())
                .ok_or_else(|| format!("`binary` must hold numbers 0 to 255, not {item}"))
        })
        .collect()
}

fn message(key: &str, value: &Value) -> Result<Message, String> {
    match (key, value) {
        ("text", Value::String(text)) => Ok(Message::Text(text.clone())),
        ("text", other) => Err(format!("`text` must be a string, not {other}")),
        ("binary", value) => Ok(Message::Binary(bytes(value)?)),
        ("json", value) => Ok(Message::Text(value.to_string())),
        _ => Err("a `send` step sends `text`, `binary` or `json`".into()),
    }
}

fn expected(key: &str, value: &Value) -> Result<Expected, String> {
    match (key, value) {
        ("text", Value::String(text)) => Ok(Expected::Text(text.clone())),
        ("text", other) => Err(format!("`text` must be a string, not {other}")),
        ("binary", value) => Ok(Expected::Binary(bytes(value)?)),
        ("json", value) => Ok(Expected::json(value.clone())),
        (_, value) => Ok(Expected::Json {
            value: value.clone(),
            exact: true,
        }),
    }
}

fn client_name(value: &Value, verb: &str) -> Result<String, String> {
    match value {
        Value::String(name) if !name.is_empty() => Ok(name.clone()),
        _ => Err(format!(
            "`{verb}` names a client, e.g. `{verb} = \"alice\"`"
        )),
    }
}

fn known_client(name: &str, known: &HashSet<String>) -> Result<(), String> {
    if known.contains(name) {
        Ok(())
    } else {
        Err(format!(
            "no client {name:?} has connected yet: add a `connect = {name:?}` step before this one"
        ))
    }
}

fn level(name: &str) -> Result<Level, String> {
    match name {
        "trace" => Ok(Level::TRACE),
        "debug" => Ok(Level::DEBUG),
        "info" => Ok(Level::INFO),
        "warn" => Ok(Level::WARN),
        "error" => Ok(Level::ERROR),
        other => Err(format!(
            "`level` is one of trace, debug, info, warn, error, not {other:?}"
        )),
    }
}

fn parse_step(
    table: &Map<String, Value>,
    base: &Path,
    known: &mut HashSet<String>,
) -> Result<(String, Action), String> {
    let verbs: Vec<&str> = VERBS
        .iter()
        .copied()
        .filter(|verb| table.contains_key(*verb))
        .collect();
    let verb = match verbs.as_slice() {
        [verb] => *verb,
        [] => {
            let hint = table
                .keys()
                .map(|key| suggest(key, VERBS))
                .find(|hint| !hint.is_empty())
                .unwrap_or_default();
            return Err(format!("a step needs one of {}{hint}", VERBS.join(", ")));
        }
        many => {
            return Err(format!(
                "a step does one thing, but this one has {}: split it into steps",
                many.join(" and ")
            ));
        }
    };
    let value = &table[verb];
    let mut fields = Fields {
        table,
        read: HashSet::new(),
    };
    let (label, action) = match verb {
        "connect" => {
            let client = client_name(value, verb)?;
            if !known.insert(client.clone()) {
                return Err(format!(
                    "a client named {client:?} already connected: give each connection its own name"
                ));
            }
            let path = fields.string("path")?.unwrap_or_else(|| "/".into());
            let mut request = harness::request(&path);
            if let Some(query) = fields.string("query")? {
                request.query = Some(query);
            }
            request.headers = match fields.get("headers") {
                None => Vec::new(),
                Some(Value::Object(headers)) => headers
                    .iter()
                    .map(|(name, value)| match value {
                        Value::String(value) => Ok((name.to_ascii_lowercase(), value.clone())),
                        other => Err(format!("header `{name}` must be a string, not {other}")),
                    })
                    .collect::<Result<_, _>>()?,
                Some(_) => {
                    return Err(
                        "`headers` is a table of name = value, e.g. `headers = { origin = \"https://example.com\" }`"
                            .into(),
                    );
                }
            };
            request.subprotocols = fields.strings("subprotocols")?;
            if let Some(address) = fields.string("remote_address")? {
                request.remote_address = address;
            }
            let status = fields.number("reject", 599)?;
            let body = fields.string("body")?;
            let subprotocol = fields.string("subprotocol")?;
            let outcome = match (status, body, subprotocol) {
                (Some(status), body, None) => Outcome::Reject {
                    status: status as u16,
                    body,
                },
                (None, None, subprotocol) => Outcome::Accept { subprotocol },
                (None, Some(_), _) => {
                    return Err("`body` goes with `reject = STATUS`".into());
                }
                (Some(_), _, Some(_)) => {
                    return Err("a rejected connection has no `subprotocol`".into());
                }
            };
            (
                format!("connect {client:?}"),
                Action::Connect {
                    client,
                    request,
                    outcome,
                },
            )
        }
        "send" => {
            let client = client_name(value, verb)?;
            known_client(&client, known)?;
            let Some((key, payload)) = fields.payload(verb)? else {
                // A misspelt payload key is the likelier mistake: name it.
                fields.finish(verb)?;
                return Err("a `send` step needs `text`, `binary` or `json`".into());
            };
            let message = message(key, payload)?;
            (format!("send {client:?}"), Action::Send { client, message })
        }
        "close" | "disconnect" => {
            let client = client_name(value, verb)?;
            known_client(&client, known)?;
            let (code, reason) = if verb == "close" {
                let code = fields
                    .number("code", u16::MAX.into())?
                    .unwrap_or(close_code::NORMAL.into()) as u16;
                (code, fields.string("reason")?.unwrap_or_default())
            } else {
                (close_code::ABNORMAL_CLOSURE, String::new())
            };
            (
                format!("{verb} {client:?}"),
                Action::Close {
                    client,
                    code,
                    reason,
                },
            )
        }
        "expect" => {
            let client = client_name(value, verb)?;
            known_client(&client, known)?;
            let Some((key, payload)) = fields.payload(verb)? else {
                // A misspelt payload key is the likelier mistake: name it.
                fields.finish(verb)?;
                return Err(
                    "an `expect` step needs `text`, `binary`, `json` or `json_exact` \
                     (or use `expect_close`)"
                        .into(),
                );
            };
            let expected = expected(key, payload)?;
            (
                format!("expect {client:?}"),
                Action::Expect { client, expected },
            )
        }
        "expect_close" => {
            let client = client_name(value, verb)?;
            known_client(&client, known)?;
            let code = fields
                .number("code", u16::MAX.into())?
                .map(|code| code as u16);
            let reason = fields.string("reason")?;
            (
                format!("expect_close {client:?}"),
                Action::Expect {
                    client,
                    expected: Expected::Close { code, reason },
                },
            )
        }
        "expect_broadcast" => {
            let Value::Object(options) = value else {
                return Err(
                    "`expect_broadcast` is a table: `{}` for every open client, or \
                     `{ except = [\"alice\"] }`"
                        .into(),
                );
            };
            let mut except = Vec::new();
            for (key, value) in options {
                if key != "except" {
                    return Err(format!(
                        "`expect_broadcast` takes only `except`, not `{key}`"
                    ));
                }
                except = match value {
                    Value::Array(names) => names
                        .iter()
                        .map(|name| client_name(name, "except"))
                        .collect::<Result<_, _>>()?,
                    name => vec![client_name(name, "except")?],
                };
            }
            for name in &except {
                known_client(name, known)?;
            }
            let Some((key, payload)) = fields.payload(verb)? else {
                // A misspelt payload key is the likelier mistake: name it.
                fields.finish(verb)?;
                return Err(
                    "an `expect_broadcast` step needs `text`, `binary`, `json` or `json_exact`"
                        .into(),
                );
            };
            (
                "expect_broadcast".into(),
                Action::ExpectBroadcast {
                    expected: expected(key, payload)?,
                    except,
                },
            )
        }
        "expect_nothing" => {
            let clients = match value {
                Value::Array(names) => names
                    .iter()
                    .map(|name| client_name(name, verb))
                    .collect::<Result<Vec<_>, _>>()?,
                name => vec![client_name(name, verb)?],
            };
            for name in &clients {
                known_client(name, known)?;
            }
            (
                format!("expect_nothing {}", clients.join(", ")),
                Action::ExpectNothing { clients },
            )
        }
        "expect_log" => {
            let Value::String(text) = value else {
                return Err("`expect_log` is the text a log line contains".into());
            };
            let level = fields
                .string("level")?
                .map(|name| level(&name))
                .transpose()?;
            (
                format!("expect_log {text:?}"),
                Action::ExpectLog {
                    text: text.clone(),
                    level,
                },
            )
        }
        "expect_trap" => {
            let Value::String(text) = value else {
                return Err(
                    "`expect_trap` is text the trap or the app's stderr contains (\"\" for any)"
                        .into(),
                );
            };
            (
                format!("expect_trap {text:?}"),
                Action::ExpectTrap { text: text.clone() },
            )
        }
        "swap" => {
            let to = match value {
                Value::Bool(true) => None,
                Value::String(path) => Some(base.join(path)),
                _ => {
                    return Err(
                        "`swap` is `true` (a new instance of the app under test) or the path \
                         of a component, relative to the scenario file"
                            .into(),
                    );
                }
            };
            let refused = fields.string("refused")?;
            let label = match &to {
                None => "swap".to_string(),
                Some(path) => format!("swap to {}", path.display()),
            };
            (label, Action::Swap { to, refused })
        }
        "advance_ms" => {
            let by = match value.as_u64() {
                Some(ms) if ms <= MAX_ADVANCE_MS => Duration::from_millis(ms),
                _ => {
                    return Err(format!(
                        "`advance_ms` is how many milliseconds the app's clock moves on, a \
                         whole number up to {MAX_ADVANCE_MS} (a year), not {value}"
                    ));
                }
            };
            let fired = match fields.table.contains_key("fired") {
                true => Some(fields.strings("fired")?),
                false => None,
            };
            (
                format!("advance_ms {}", by.as_millis()),
                Action::Advance { by, fired },
            )
        }
        _ => return Err(format!("`{verb}` is not a step")),
    };
    fields.finish(verb)?;
    Ok((label, action))
}

impl Scenario {
    /// Run every step; the first failure ends the scenario.
    fn run(&self, harness: &mut Harness, app: &[u8]) -> Result<(), String> {
        for (index, step) in self.steps.iter().enumerate() {
            let failed = |why: String| format!("step {} ({}): {why}", step.number, step.label);
            step.run(harness, app).map_err(failed)?;
            // A trap fails the step that caused it, unless the next step
            // expects it.
            let next_expects_trap = matches!(
                self.steps.get(index + 1).map(|next| &next.action),
                Some(Action::ExpectTrap { .. })
            );
            if !next_expects_trap && !matches!(step.action, Action::ExpectTrap { .. }) {
                let traps = harness.take_traps();
                if let Some(trap) = traps.first() {
                    return Err(failed(trap.to_string()));
                }
            }
        }
        Ok(())
    }
}

fn mismatch(mismatch: harness::Mismatch) -> String {
    format!("expected {}, but {}", mismatch.expected, mismatch.actual)
}

impl Step {
    fn run(&self, harness: &mut Harness, app: &[u8]) -> Result<(), String> {
        let client =
            |harness: &Harness, name: &str| harness.client(name).map_err(|e| e.to_string());
        match &self.action {
            Action::Connect {
                client: name,
                request,
                outcome,
            } => {
                let (_, opened) = harness
                    .connect(name, request.clone())
                    .map_err(|error| error.to_string())?;
                match (outcome, opened) {
                    (Outcome::Accept { subprotocol: None }, Opened::Accepted { .. }) => Ok(()),
                    (
                        Outcome::Accept {
                            subprotocol: Some(want),
                        },
                        Opened::Accepted { subprotocol },
                    ) => {
                        if subprotocol.as_deref() == Some(want.as_str()) {
                            Ok(())
                        } else {
                            Err(format!(
                                "expected the app to confirm subprotocol {want:?}, but it confirmed {}",
                                subprotocol.map_or("none".to_string(), |s| format!("{s:?}"))
                            ))
                        }
                    }
                    (Outcome::Accept { .. }, Opened::Rejected { status, body }) => Err(format!(
                        "expected {name:?} to be accepted, but the app rejected it: {status} {body:?}"
                    )),
                    (
                        Outcome::Reject { status, body },
                        Opened::Rejected {
                            status: got,
                            body: got_body,
                        },
                    ) => {
                        if *status == got && body.as_ref().is_none_or(|body| *body == got_body) {
                            Ok(())
                        } else {
                            Err(format!(
                                "expected {name:?} to be rejected with {status}{}, but the app rejected it with {got} {got_body:?}",
                                body.as_ref()
                                    .map(|body| format!(" {body:?}"))
                                    .unwrap_or_default()
                            ))
                        }
                    }
                    (Outcome::Reject { status, .. }, Opened::Accepted { .. }) => Err(format!(
                        "expected {name:?} to be rejected with {status}, but the app accepted it"
                    )),
                }
            }
            Action::Send {
                client: name,
                message,
            } => {
                let id = client(harness, name)?;
                harness
                    .send(id, message.clone())
                    .map_err(|error| error.to_string())
            }
            Action::Close {
                client: name,
                code,
                reason,
            } => {
                let id = client(harness, name)?;
                harness
                    .close(id, *code, reason)
                    .map_err(|error| error.to_string())
            }
            Action::Expect {
                client: name,
                expected,
            } => {
                let id = client(harness, name)?;
                harness.expect(id, expected).map(drop).map_err(mismatch)
            }
            Action::ExpectBroadcast { expected, except } => {
                let except = except
                    .iter()
                    .map(|name| client(harness, name))
                    .collect::<Result<Vec<_>, _>>()?;
                harness
                    .expect_broadcast(expected, &except)
                    .map_err(mismatch)
            }
            Action::ExpectNothing { clients } => {
                for name in clients {
                    let id = client(harness, name)?;
                    harness.expect_nothing(id).map_err(mismatch)?;
                }
                Ok(())
            }
            Action::ExpectLog { text, level } => {
                harness.expect_log(text, *level).map(drop).map_err(mismatch)
            }
            Action::ExpectTrap { text } => {
                let traps = harness.take_traps();
                let matching = traps.iter().any(|trap| {
                    trap.line.contains(text.as_str())
                        || trap.stderr.iter().any(|line| line.contains(text.as_str()))
                });
                match traps.first() {
                    None => Err("expected the app to trap, but it did not".into()),
                    Some(_) if matching => Ok(()),
                    Some(trap) => Err(format!("expected a trap mentioning {text:?}, but {trap}")),
                }
            }
            Action::Swap { to, refused } => {
                let swapped = match to {
                    None => harness.swap_to(app),
                    Some(path) => harness.swap_to_file(path),
                }
                .map_err(|error| error.to_string())?;
                match (swapped, refused) {
                    (Ok(()), None) => Ok(()),
                    (Err(error), None) => Err(format!("expected the swap to succeed, but {error}")),
                    (Ok(()), Some(text)) => Err(format!(
                        "expected the swap to be refused ({text:?}), but it succeeded"
                    )),
                    (Err(error), Some(text)) if error.to_string().contains(text.as_str()) => Ok(()),
                    (Err(error), Some(text)) => Err(format!(
                        "expected the swap to be refused with {text:?}, but {error}"
                    )),
                }
            }
            Action::Advance { by, fired } => {
                let went = harness.advance(*by).map_err(|error| error.to_string())?;
                let keys: Vec<&str> = went.iter().map(|timer| timer.key.as_str()).collect();
                match fired {
                    Some(expected) if *expected != keys => Err(format!(
                        "expected the timers {expected:?} to fire, but {}",
                        match went.as_slice() {
                            [] => "none did".to_string(),
                            went =>
                                went.iter()
                                    .map(|timer| format!(
                                        "{:?} at {} ms",
                                        timer.key,
                                        timer.at.as_millis()
                                    ))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                                    + " did",
                        }
                    )),
                    _ => Ok(()),
                }
            }
        }
    }
}
