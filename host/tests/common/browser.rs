//! Real headless Chromium for the end-to-end tests. A tungstenite client
//! forgives what a browser does not (a second Close frame, say), so the
//! promises a user sees in the demo page are checked in the browser itself.
//!
//! One chromedriver per test process (Debian's `chromium-driver`, installed by
//! scripts/test), started on first use on a free 127.0.0.1 port. Every `Page`
//! is a WebDriver session of its own: its own Chromium, its own fresh profile,
//! so several pages (two people in a chat) run side by side without sharing
//! cookies or storage. A page that is dropped while its test panics saves a
//! screenshot under target/browser-screenshots/ and prints its console.
//!
//! The network here is closed, so Chromium runs with every background
//! connection it would otherwise try turned off.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine as _;
use fantoccini::actions::{InputSource as _, MouseActions, PointerAction};
use fantoccini::{Client, ClientBuilder, Locator, key::Key};
use serde_json::{Value, json};

use super::{PATIENCE, scratch_dir, workspace_root};

/// Debian's paths for the `chromium` and `chromium-driver` packages.
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Every switch Chromium gets: headless, no sandbox (tests run as root in
/// CI), and no connection anywhere but the page's own.
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-dev-shm-usage",
    "--window-size=800,900",
];

/// Where pages save their screenshots.
pub fn screenshot_dir() -> PathBuf {
    workspace_root().join("target/browser-screenshots")
}

/// The chromedriver this test process shares between its pages.
struct Driver {
    port: u16,
    pid: libc::pid_t,
}

static DRIVER: OnceLock<Driver> = OnceLock::new();

/// Chromedriver and the browsers it starts share a process group; it is
/// killed when the test process exits, passing or failing.
extern "C" fn stop_driver() {
    if let Some(driver) = DRIVER.get() {
        // SAFETY: signalling the process group we created.
        unsafe {
            libc::kill(-driver.pid, libc::SIGKILL);
        }
    }
}

fn driver() -> &'static Driver {
    DRIVER.get_or_init(|| {
        for binary in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(binary).exists(),
                "{binary} is missing: install Debian's chromium and chromium-driver \
                 (scripts/test does)"
            );
        }
        let logs = workspace_root().join("target/browser-logs");
        std::fs::create_dir_all(&logs).expect("target/browser-logs");
        // chromedriver cannot listen on port 0: take a free port and hand it
        // over; if another process grabs it in between, try another.
        let mut last_error = String::new();
        for _attempt in 0..5 {
            let port = free_port();
            let log = logs.join(format!("chromedriver-{}.log", std::process::id()));
            let mut child = Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .arg(format!("--log-path={}", log.display()))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .process_group(0)
                .spawn()
                .expect("chromedriver starts");
            match wait_until_ready(&mut child, port) {
                Ok(()) => {
                    let driver = Driver {
                        port,
                        pid: child.id() as libc::pid_t,
                    };
                    // SAFETY: registering a plain extern "C" fn.
                    unsafe {
                        libc::atexit(stop_driver);
                    }
                    // The child is reaped by the process group kill at exit.
                    std::mem::forget(child);
                    return driver;
                }
                Err(error) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    last_error = error;
                }
            }
        }
        panic!("chromedriver did not start: {last_error}");
    })
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address").port()
}

fn wait_until_ready(child: &mut Child, port: u16) -> Result<(), String> {
    let start = Instant::now();
    let url = format!("http://127.0.0.1:{port}/status");
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let mut stderr = String::new();
            if let Some(mut pipe) = child.stderr.take() {
                let _ = pipe.read_to_string(&mut stderr);
            }
            return Err(format!("it exited ({status}): {stderr}"));
        }
        if let Ok(status) = request("GET", &url, None)
            && status["value"]["ready"] == true
        {
            return Ok(());
        }
        if start.elapsed() > PATIENCE {
            return Err(format!("{url} never said ready"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A blocking request to chromedriver, for what must work outside the
/// async runtime (a page's `Drop`) or what fantoccini does not cover.
fn request(method: &str, url: &str, body: Option<&Value>) -> Result<Value, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(PATIENCE))
        .build()
        .into();
    let body = body.map(Value::to_string).unwrap_or_default();
    let request = http::Request::builder()
        .method(method)
        .uri(url)
        .header("Content-Type", "application/json")
        .body(body.into_bytes())
        .map_err(|error| error.to_string())?;
    let mut response = agent.run(request).map_err(|error| error.to_string())?;
    let text = response
        .body_mut()
        .read_to_string()
        .map_err(|error| error.to_string())?;
    serde_json::from_str(&text).map_err(|error| format!("{error}: {text}"))
}

/// One browser tab in a Chromium of its own.
pub struct Page {
    name: String,
    client: Client,
    session: String,
    profile: PathBuf,
    /// Console messages read so far (chromedriver hands each out once).
    console: Mutex<Vec<String>>,
}

impl Page {
    /// A new Chromium with a fresh profile, showing `url`. `name` names its
    /// screenshots.
    pub async fn open(name: &str, url: &str) -> Page {
        let driver = driver();
        let profile = scratch_dir("chromium-profile");
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|flag| flag.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
            "goog:loggingPrefs": { "browser": "ALL" },
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("a JSON object literal")
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = tokio::time::timeout(
            PATIENCE * 2,
            ClientBuilder::new(connector)
                .capabilities(capabilities)
                .connect(&format!("http://127.0.0.1:{}", driver.port)),
        )
        .await
        .expect("chromium did not start in time")
        .unwrap_or_else(|error| panic!("chromium did not start: {error}"));
        let session = match client.session_id().await {
            Ok(Some(session)) => session,
            other => panic!("chromedriver gave no session id: {other:?}"),
        };
        let page = Page {
            name: name.to_string(),
            client,
            session,
            profile,
            console: Mutex::new(Vec::new()),
        };
        page.client
            .goto(url)
            .await
            .unwrap_or_else(|error| panic!("{}: opening {url} failed: {error}", page.name));
        page
    }

    /// Run `script` (a function body: `return` gives the result).
    pub async fn run(&self, script: &str) -> Value {
        self.client
            .execute(script, Vec::new())
            .await
            .unwrap_or_else(|error| panic!("{}: the script failed: {error}\n{script}", self.name))
    }

    /// Wait until the JavaScript `expression` is truthy; `what` says in
    /// words what the page should show.
    pub async fn wait_until(&self, what: &str, expression: &str) {
        let script = format!("return !!({expression});");
        let start = Instant::now();
        while self.run(&script).await != Value::Bool(true) {
            assert!(
                start.elapsed() < PATIENCE,
                "{}: the page never showed {what} ({expression})",
                self.name
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The text of the first element `css` matches, as the user sees it.
    pub async fn text(&self, css: &str) -> String {
        let element = self.find(css).await;
        element
            .text()
            .await
            .unwrap_or_else(|error| panic!("{}: reading {css} failed: {error}", self.name))
    }

    /// Wait until some element `css` matches reads exactly `text`.
    pub async fn wait_for_text(&self, css: &str, text: &str) {
        let expression = format!(
            "[...document.querySelectorAll({})].some(e => e.innerText === {})",
            js(css),
            js(text)
        );
        self.wait_until(&format!("{text:?} in {css}"), &expression)
            .await;
    }

    /// Click into the field `css`, type `text` and press Enter.
    pub async fn type_and_enter(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        let keys = format!("{text}{}", char::from(Key::Enter));
        field
            .send_keys(&keys)
            .await
            .unwrap_or_else(|error| panic!("{}: typing into {css} failed: {error}", self.name));
    }

    /// Click into the field `css` and type `text`, without pressing Enter.
    pub async fn type_text(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field
            .send_keys(text)
            .await
            .unwrap_or_else(|error| panic!("{}: typing into {css} failed: {error}", self.name));
    }

    /// Click the element `css`, as a user would with the mouse.
    pub async fn click(&self, css: &str) {
        let element = self.find(css).await;
        element
            .click()
            .await
            .unwrap_or_else(|error| panic!("{}: clicking {css} failed: {error}", self.name));
    }

    /// Move the mouse pointer to (`x`, `y`), in CSS pixels from the
    /// viewport's top left corner, over a fifth of a second (the page sees
    /// the moves in between, as from a hand).
    pub async fn move_pointer_to(&self, x: f64, y: f64) {
        let mouse = MouseActions::new("mouse".to_string()).then(PointerAction::MoveTo {
            duration: Some(Duration::from_millis(200)),
            x: x.round(),
            y: y.round(),
        });
        self.client
            .perform_actions(mouse)
            .await
            .unwrap_or_else(|error| panic!("{}: moving the pointer failed: {error}", self.name));
    }

    async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|error| panic!("{}: the page has no {css}: {error}", self.name))
    }

    /// Every console message so far (warnings and errors Chromium itself
    /// reports, such as a failed WebSocket, included).
    pub fn console(&self) -> Vec<String> {
        let url = self.session_url("/se/log");
        let mut console = match self.console.lock() {
            Ok(console) => console,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Ok(answer) = request("POST", &url, Some(&json!({"type": "browser"})))
            && let Some(entries) = answer["value"].as_array()
        {
            for entry in entries {
                let level = entry["level"].as_str().unwrap_or("?");
                let message = entry["message"].as_str().unwrap_or("?");
                console.push(format!("{level}: {message}"));
            }
        }
        console.clone()
    }

    /// Save what the page shows now as target/browser-screenshots/NAME-LABEL.png.
    pub fn screenshot(&self, label: &str) -> PathBuf {
        let answer = request("GET", &self.session_url("/screenshot"), None)
            .unwrap_or_else(|error| panic!("{}: no screenshot: {error}", self.name));
        let encoded = answer["value"].as_str().unwrap_or_default();
        let png = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap_or_else(|error| {
                panic!("{}: a screenshot that is not base64: {error}", self.name)
            });
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("the screenshot folder");
        let path = dir.join(format!("{}-{label}.png", self.name));
        std::fs::write(&path, png).expect("writing the screenshot");
        path
    }

    fn session_url(&self, rest: &str) -> String {
        format!(
            "http://127.0.0.1:{}/session/{}{rest}",
            driver().port,
            self.session
        )
    }
}

impl Drop for Page {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // Only what cannot fail a second time: this runs during a panic.
            if let Ok(answer) = request("GET", &self.session_url("/screenshot"), None)
                && let Some(encoded) = answer["value"].as_str()
                && let Ok(png) = base64::engine::general_purpose::STANDARD.decode(encoded)
            {
                let dir = screenshot_dir();
                let path = dir.join(format!("{}-failure.png", self.name));
                if std::fs::create_dir_all(&dir).is_ok() && std::fs::write(&path, png).is_ok() {
                    eprintln!("{}: screenshot saved to {}", self.name, path.display());
                }
            }
            eprintln!("{}: console: {:#?}", self.name, self.console());
        }
        let _ = request("DELETE", &self.session_url(""), None);
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// `text` as a JavaScript string literal.
pub fn js(text: &str) -> String {
    Value::String(text.to_string()).to_string()
}
