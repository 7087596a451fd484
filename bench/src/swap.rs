//! Hot swaps through the host's admin API, on a thread of their own.
//!
//! The swap scenario asks what replacing an app costs the clients that stay
//! connected. The uploads are blocking HTTP calls on a separate OS thread so
//! a slow upload never stalls the runtime that sends and times messages;
//! only the server should be able to make replies late.
//!
//! The host treats an upload identical to the active version as a no-op, so
//! every swap uploads the same component with a different custom section
//! appended: the same behaviour, different bytes, a real swap.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use wasm_encoder::{ComponentSection as _, CustomSection};

/// The custom section that makes each upload's bytes unique.
const STAMP_SECTION: &str = "switchboard-bench-stamp";
/// One upload (it compiles a component on the server) should take well under
/// a second; this only keeps a hung server from hanging the bench.
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(30);

/// `component` with a custom section appended that carries `stamp`. Custom
/// sections may appear at the end of a component and do not change what it
/// does.
pub fn stamped(component: &[u8], stamp: &str) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(component.len() + 64);
    bytes.extend_from_slice(component);
    CustomSection {
        name: STAMP_SECTION.into(),
        data: stamp.as_bytes().into(),
    }
    .append_to_component(&mut bytes);
    bytes
}

/// Where and how to upload.
#[derive(Clone)]
pub struct Target {
    /// `http://IP:PORT` of the admin API.
    pub admin_base: String,
    pub token: String,
    /// App name, as in `PUT /apps/{name}`.
    pub app: String,
}

/// What the swapping thread did.
#[derive(Debug, Default, Clone)]
pub struct SwapLog {
    /// Uploads that the server confirmed live with a new active version.
    pub swaps: u64,
    /// Uploads that failed, with why (the first few).
    pub errors: Vec<String>,
    pub failed: u64,
    /// How long each confirmed upload took, request to response, ms.
    pub upload_ms: Vec<f64>,
}

/// A thread swapping the app every `every` until told to stop.
pub struct Swapper {
    stop: mpsc::Sender<()>,
    thread: std::thread::JoinHandle<SwapLog>,
}

impl Swapper {
    /// Start swapping: the first upload goes out half an interval from now,
    /// so swaps sit in the middle of the measured window rather than on its
    /// edges.
    pub fn start(target: Target, component: Vec<u8>, every: Duration) -> anyhow::Result<Swapper> {
        let (stop, stopped) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("swapper".into())
            .spawn(move || swap_until_stopped(&target, &component, every, &stopped))
            .context("cannot start the swapping thread")?;
        Ok(Swapper { stop, thread })
    }

    /// Ask the thread to stop, without waiting for it (the caller may be the
    /// measuring runtime, which must not block).
    pub fn request_stop(&self) {
        let _ = self.stop.send(());
    }

    /// Wait for the thread (after [`Swapper::request_stop`]) and take its log.
    pub fn finish(self) -> anyhow::Result<SwapLog> {
        let _ = self.stop.send(());
        self.thread
            .join()
            .map_err(|_| anyhow::anyhow!("the swapping thread panicked"))
    }
}

fn swap_until_stopped(
    target: &Target,
    component: &[u8],
    every: Duration,
    stopped: &mpsc::Receiver<()>,
) -> SwapLog {
    // Uploading megabytes over loopback costs this core real CPU time; it
    // must come out of the bench's idle time, not out of the measuring
    // thread's, or swaps would look slower than they are. Best effort: if
    // the kernel refuses, swaps still happen, with that caveat.
    let _ = crate::cpu::run_only_when_idle();
    let agent = admin_agent(UPLOAD_TIMEOUT);
    let url = format!("{}/apps/{}", target.admin_base, target.app);
    let authorization = format!("Bearer {}", target.token);
    let mut log = SwapLog::default();
    let mut active: Option<String> = None;
    // When the run started, in every stamp: a later run against the same
    // server must not upload bytes an earlier run left active.
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos());
    let mut next = Instant::now() + every / 2;
    for swap in 1.. {
        // Sleep until the next tick, waking early if told to stop.
        match stopped.recv_timeout(next.saturating_duration_since(Instant::now())) {
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        next += every;
        let body = stamped(component, &format!("{run:x} {swap}"));
        let started = Instant::now();
        match upload(&agent, &url, &authorization, &body) {
            Ok(version) if active.as_ref() == Some(&version) => {
                record_error(
                    &mut log,
                    format!("swap {swap}: active version stayed {version}"),
                );
            }
            Ok(version) => {
                log.swaps += 1;
                log.upload_ms.push(started.elapsed().as_secs_f64() * 1000.0);
                active = Some(version);
            }
            Err(error) => record_error(&mut log, format!("swap {swap}: {error:#}")),
        }
        // An upload slower than the interval must not be followed by a burst
        // of catch-up swaps.
        next = next.max(Instant::now());
    }
    log
}

const ERRORS_KEPT: usize = 5;

fn record_error(log: &mut SwapLog, error: String) {
    log.failed += 1;
    if log.errors.len() < ERRORS_KEPT {
        log.errors.push(error);
    }
}

/// An HTTP client for the admin API whose calls give up after `timeout`.
pub fn admin_agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        // Statuses are judged by `upload`, with the body in the message.
        .http_status_as_error(false)
        .build()
        .into()
}

/// One `PUT` of a component to `url` (`BASE/apps/{name}`, with `?route=`
/// to create the app); the new active version on success.
pub fn upload(
    agent: &ureq::Agent,
    url: &str,
    authorization: &str,
    body: &[u8],
) -> anyhow::Result<String> {
    let mut response = agent
        .put(url)
        .header("Authorization", authorization)
        .header("Content-Type", "application/wasm")
        .send(body)
        .with_context(|| format!("PUT {url}"))?;
    let status = response.status().as_u16();
    let text = response
        .body_mut()
        .read_to_string()
        .with_context(|| format!("reading the response to PUT {url}"))?;
    if status != 200 && status != 201 {
        bail!("PUT {url}: {status}: {}", excerpt(&text));
    }
    let reply: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("PUT {url}: the response is not JSON: {}", excerpt(&text)))?;
    match reply
        .get("active_version")
        .and_then(serde_json::Value::as_str)
    {
        Some(version) => Ok(version.to_string()),
        None => bail!("PUT {url}: no active_version in {}", excerpt(&text)),
    }
}

/// Enough of a response body to explain an error without flooding the
/// report.
fn excerpt(text: &str) -> String {
    const LIMIT: usize = 300;
    let text = text.trim();
    match text.char_indices().nth(LIMIT) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_string(),
    }
}

/// A random bearer token, so no other local process can drive the admin API
/// of the server the bench started.
pub fn random_token() -> anyhow::Result<String> {
    use std::io::Read as _;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut random| random.read_exact(&mut bytes))
        .context("cannot read /dev/urandom for the admin token")?;
    Ok(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest component: the preamble alone (magic, version 0xd,
    /// layer 1).
    const EMPTY_COMPONENT: &[u8] = &[0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];

    #[test]
    fn a_stamp_is_a_valid_custom_section_at_the_end() {
        let stamped = stamped(EMPTY_COMPONENT, "run 7");
        assert!(stamped.starts_with(EMPTY_COMPONENT));
        let mut found = Vec::new();
        for payload in wasmparser::Parser::new(0).parse_all(&stamped) {
            if let wasmparser::Payload::CustomSection(reader) = payload.unwrap() {
                found.push((reader.name().to_string(), reader.data().to_vec()));
            }
        }
        assert_eq!(found, vec![(STAMP_SECTION.to_string(), b"run 7".to_vec())]);
        wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
            .validate_all(&stamped)
            .unwrap();
    }

    #[test]
    fn different_stamps_give_different_bytes() {
        assert_ne!(
            stamped(EMPTY_COMPONENT, "a 1"),
            stamped(EMPTY_COMPONENT, "a 2")
        );
    }

    #[test]
    fn long_bodies_are_cut_on_a_character_boundary() {
        assert_eq!(excerpt(" short "), "short");
        let long = "é".repeat(400);
        assert_eq!(excerpt(&long), format!("{}...", "é".repeat(300)));
    }

    #[test]
    fn tokens_are_random_hex() {
        let (a, b) = (random_token().unwrap(), random_token().unwrap());
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|byte| byte.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
