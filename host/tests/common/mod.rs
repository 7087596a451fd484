//! The shared harness for the end-to-end tests: build the example apps once,
//! start a real `switchboard` process on 127.0.0.1 (port 0, so parallel tests
//! never collide), and talk to it with a real WebSocket client.
//!
//! Nothing here asserts timing: waits are generous upper bounds that only
//! turn a hang into a failure.

#![allow(dead_code)]

pub mod browser;
pub mod examples;
pub mod raw;
pub mod window;

#[allow(unused_imports)] // each test file uses its own part of this module
pub use examples::{stamp, workspace_root};

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long any single wait may take before the test fails as hung.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// How long a host may take to start serving: it compiles every app first,
/// and a JavaScript or Python component (12-19 MB) takes 20-30 s each to
/// compile on two busy cores.
pub const STARTUP_PATIENCE: Duration = Duration::from_secs(240);

/// The examples that exist in other languages too (chat, echo and rooms):
/// `example("chat-js")` is examples/chat/js/app.js, built to
/// target/examples/js/chat.wasm; `example("rooms-py")` is
/// examples/rooms/python/app.py, built to target/examples/python/rooms.wasm
/// (where scripts/build-examples puts them too, and the benchmarks read
/// them). Suffix, folder, source.
const LANGUAGES: &[(&str, &str, &str)] = &[("js", "js", "app.js"), ("py", "python", "app.py")];

/// The example apps, compiled to components once per test process. A Rust
/// example is built by cargo (its own lock makes concurrent test processes
/// wait for one build); a JavaScript or Python one by `switchboard build`
/// itself, as an app author would, with its toolchains cached under
/// target/toolchains, and only when its sources, the SDK, the WIT or the
/// `switchboard` binary changed since the last build.
pub fn example(name: &str) -> PathBuf {
    if let Some((app, language)) = name.rsplit_once('-')
        && let Some((_, folder, source)) = LANGUAGES.iter().find(|(suffix, ..)| *suffix == language)
    {
        return example_in(app, folder, source);
    }
    examples::rust_example(name)
}

/// Where test hosts serving JavaScript or Python apps keep compiled code
/// (`SWITCHBOARD_CODE_CACHE_DIR`), shared by every test of a run: such a
/// component then compiles once per run, not once per host (20-30 s each).
pub fn code_cache() -> PathBuf {
    workspace_root().join("target/test-code-cache")
}

/// Where the tests keep `switchboard build`'s toolchains (npm and pip
/// installs): under target/, so a clean clone starts empty and reruns reuse them.
pub fn toolchain_cache() -> PathBuf {
    workspace_root().join("target/toolchains")
}

fn example_in(app: &str, language: &str, source: &str) -> PathBuf {
    static BUILT: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let root = workspace_root();
    let source = root.join("examples").join(app).join(language).join(source);
    let out = root
        .join("target/examples")
        .join(language)
        .join(format!("{app}.wasm"));
    // One build at a time in this process: two would race for the toolchain install.
    let mut built = BUILT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let name = format!("{language}/{app}");
    if built.contains(&name) {
        return out;
    }
    let sdk = root.join("guest-sdk").join(language);
    let inputs = [
        source.parent().expect("an app's folder").to_path_buf(),
        sdk,
        root.join("wit"),
        root.join("host/src/cli/toolchains"),
        PathBuf::from(env!("CARGO_BIN_EXE_switchboard")),
    ];
    let up_to_date = modified(&out).is_some_and(|built_at| {
        inputs
            .iter()
            .all(|input| newest(input).is_none_or(|changed| changed < built_at))
    });
    if !up_to_date {
        let output = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .arg("build")
            .arg(&source)
            .arg("-o")
            .arg(&out)
            .env("SWITCHBOARD_CACHE_DIR", toolchain_cache())
            .output()
            .expect("switchboard build runs");
        assert!(
            output.status.success(),
            "switchboard build {} failed:\n{}{}",
            source.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    built.push(name);
    out
}

fn modified(path: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path)
        .and_then(|meta| meta.modified())
        .ok()
}

/// The newest modification time of a file, or of anything under a folder
/// (node_modules and __pycache__ left out: they are not sources).
fn newest(path: &Path) -> Option<std::time::SystemTime> {
    let own = modified(path);
    if !path.is_dir() {
        return own;
    }
    std::fs::read_dir(path)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| entry.file_name() != "node_modules" && entry.file_name() != "__pycache__")
        .filter_map(|entry| newest(&entry.path()))
        .chain(own)
        .max()
}

/// The admin token test hosts are started with (`Host::serve_with_admin`).
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

/// The version id the host gives `bytes`: 12 hex digits of their SHA-256.
pub fn version_of(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(bytes);
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// A fresh folder under target/ for one test's files.
pub fn scratch_dir(name: &str) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = workspace_root()
        .join("target/test-scratch")
        .join(format!("{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// A running `switchboard serve`.
pub struct Host {
    child: Child,
    pub address: String,
    /// The admin API's address, when it was turned on.
    pub admin: Option<String>,
    stderr: Arc<Mutex<String>>,
}

impl Host {
    /// `switchboard serve --listen 127.0.0.1:0` plus `args`, with a data
    /// directory of its own unless `args` name one.
    pub fn serve(args: &[&str]) -> Host {
        Self::serve_with_env(args, &[])
    }

    /// The same, with the admin API on (127.0.0.1:0, token `ADMIN_TOKEN`).
    pub fn serve_with_admin(args: &[&str]) -> Host {
        let mut args = args.to_vec();
        args.extend(["--admin-listen", "127.0.0.1:0"]);
        Self::serve_with_env(&args, &[("SWITCHBOARD_ADMIN_TOKEN", ADMIN_TOKEN)])
    }

    /// A host from the config file `config`, with the admin API on and
    /// `env` set as well.
    pub fn serve_config_with_admin(config: &Path, env: &[(&str, &str)]) -> Host {
        let mut all = vec![("SWITCHBOARD_ADMIN_TOKEN", ADMIN_TOKEN)];
        all.extend_from_slice(env);
        let config = config.to_str().expect("a UTF-8 path");
        Self::serve_with_env(&["--config", config, "--admin-listen", "127.0.0.1:0"], &all)
    }

    pub fn serve_with_env(args: &[&str], env: &[(&str, &str)]) -> Host {
        let mut command = Command::new(env!("CARGO_BIN_EXE_switchboard"));
        command
            .arg("serve")
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .env_remove("SWITCHBOARD_ADMIN_TOKEN")
            // The default log filter, unless a test asks for another.
            .env_remove("RUST_LOG")
            .envs(env.iter().copied());
        if !args.contains(&"--data-dir") && !args.contains(&"--config") {
            command.arg("--data-dir").arg(scratch_dir("data"));
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the switchboard binary starts");
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        let mut pipe = child.stderr.take().expect("stderr is piped");
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                let text = String::from_utf8_lossy(&buffer[..n]).into_owned();
                sink.lock().expect("stderr buffer").push_str(&text);
            }
        });
        let stdout = child.stdout.take().expect("stdout is piped");
        let (address_sender, address) = std::sync::mpsc::channel();
        let admin_wanted = args.contains(&"--admin-listen");
        let (admin_sender, admin_address) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("switchboard listening on http://") {
                    let _ = address_sender.send(rest.trim().to_string());
                }
                if let Some(rest) = line.strip_prefix("switchboard admin on http://") {
                    let _ = admin_sender.send(rest.trim().to_string());
                }
            }
        });
        let address = match address.recv_timeout(STARTUP_PATIENCE) {
            Ok(address) => address,
            Err(_) => {
                let _ = child.kill();
                let log = stderr.lock().expect("stderr buffer").clone();
                panic!("switchboard did not report its address; stderr:\n{log}");
            }
        };
        let admin = admin_wanted.then(|| {
            admin_address
                .recv_timeout(PATIENCE)
                .expect("switchboard did not report its admin address")
        });
        Host {
            child,
            address,
            admin,
            stderr,
        }
    }

    /// A request to the admin API with the test token (or `token`), on a
    /// blocking thread so clients on the test's runtime keep running.
    /// Returns the status and the JSON body (null when there is none).
    pub async fn admin_request(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> (u16, serde_json::Value) {
        self.admin_request_with_token(method, path, body, Some(ADMIN_TOKEN))
            .await
    }

    pub async fn admin_request_with_token(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
        token: Option<&str>,
    ) -> (u16, serde_json::Value) {
        let admin = self.admin.clone().expect("the admin API is on");
        let url = format!("http://{admin}{path}");
        let method = method.to_string();
        let token = token.map(str::to_string);
        tokio::task::spawn_blocking(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build()
                .into();
            let mut request = http::Request::builder().method(method.as_str()).uri(&url);
            if let Some(token) = token {
                request = request.header("Authorization", format!("Bearer {token}"));
            }
            let request = request
                .body(body.unwrap_or_default())
                .expect("a valid request");
            let mut response = agent.run(request).expect("the admin API answers");
            let status = response.status().as_u16();
            let text = response
                .body_mut()
                .read_to_string()
                .expect("a readable body");
            let json = if text.is_empty() {
                serde_json::Value::Null
            } else {
                serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
            };
            (status, json)
        })
        .await
        .expect("the admin request task")
    }

    /// Wait until app `name`'s active version is `version`.
    pub async fn wait_for_version(&self, name: &str, version: &str) {
        let start = Instant::now();
        loop {
            let (status, app) = self
                .admin_request("GET", &format!("/apps/{name}"), None)
                .await;
            if status == 200 && app["active_version"] == version {
                return;
            }
            assert!(
                start.elapsed() < PATIENCE,
                "{name} never became version {version}; it is: {app}\nlog:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("ws://{}{}", self.address, path)
    }

    /// Everything the host wrote to stderr so far (its log).
    pub fn log(&self) -> String {
        self.stderr.lock().expect("stderr buffer").clone()
    }

    /// Wait until the log contains `needle`.
    pub fn wait_for_log(&self, needle: &str) {
        let start = Instant::now();
        while !self.log().contains(needle) {
            assert!(
                start.elapsed() < PATIENCE,
                "the log never said {needle:?}; it says:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn terminate(&self) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: sending a signal to our own child process.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
    }

    /// Wait for the process to exit on its own.
    pub fn wait(&mut self) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait on child") {
                return status;
            }
            assert!(start.elapsed() < PATIENCE, "switchboard did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // A failing test shows what the host said, so that a failure seen
        // once (in CI, say) can be understood without running it again.
        if std::thread::panicking() {
            eprintln!("--- the switchboard log ---\n{}", self.log());
        }
    }
}

/// Run `switchboard` to completion, returning exit status, stdout and stderr.
pub fn run_switchboard(args: &[&str]) -> (ExitStatus, String, String) {
    run_switchboard_with_env(args, &[])
}

pub fn run_switchboard_with_env(
    args: &[&str],
    env: &[(&str, &str)],
) -> (ExitStatus, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        // A folder of its own, so that a `serve` without `--data-dir` (the
        // default ./switchboard-data, and the kv store inside it, which one
        // host at a time may hold) never meets another test's.
        .current_dir(scratch_dir("run"))
        .env_remove("SWITCHBOARD_ADMIN_TOKEN")
        // `switchboard test` compiles in-process: share the run's compiled
        // code rather than filling the user's own cache.
        .env("SWITCHBOARD_CODE_CACHE_DIR", code_cache())
        .envs(env.iter().copied())
        .output()
        .expect("the switchboard binary runs");
    (
        output.status,
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A WebSocket client connected to the host.
pub struct Client {
    pub socket: Socket,
}

/// How a connection attempt ended when it was refused before the upgrade.
#[derive(Debug)]
pub struct Refused {
    pub status: u16,
    pub body: String,
}

pub async fn try_connect(url: &str) -> Result<Client, Refused> {
    match tokio::time::timeout(PATIENCE, tokio_tungstenite::connect_async(url)).await {
        Ok(Ok((socket, _response))) => Ok(Client { socket }),
        Ok(Err(tungstenite::Error::Http(response))) => Err(Refused {
            status: response.status().as_u16(),
            body: response
                .body()
                .as_ref()
                .map(|body| String::from_utf8_lossy(body).into_owned())
                .unwrap_or_default(),
        }),
        Ok(Err(error)) => panic!("connecting to {url} failed: {error}"),
        Err(_) => panic!("connecting to {url} hung"),
    }
}

pub async fn connect(url: &str) -> Client {
    match try_connect(url).await {
        Ok(client) => client,
        Err(refused) => panic!("{url} refused the connection: {refused:?}"),
    }
}

impl Client {
    pub async fn send(&mut self, message: Message) {
        self.socket.send(message).await.expect("send");
    }

    pub async fn send_text(&mut self, text: &str) {
        self.send(Message::text(text)).await;
    }

    /// The next data message (pings and pongs are skipped).
    pub async fn recv(&mut self) -> Message {
        loop {
            let next = tokio::time::timeout(PATIENCE, self.socket.next())
                .await
                .expect("no message arrived in time");
            match next {
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(message)) => return message,
                Some(Err(error)) => panic!("reading failed: {error}"),
                None => panic!("the connection ended"),
            }
        }
    }

    pub async fn recv_text(&mut self) -> String {
        match self.recv().await {
            Message::Text(text) => text.to_string(),
            other => panic!("expected text, got {other:?}"),
        }
    }

    pub async fn recv_json(&mut self) -> serde_json::Value {
        let text = self.recv_text().await;
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
    }

    /// Read until the server's close frame arrives; returns its code and
    /// reason. Data messages before it are skipped. Like a browser, the
    /// client then answers the close and reads until the server hangs up.
    pub async fn expect_close(&mut self) -> (u16, String) {
        let ending = self.read_close_frame().await;
        let _ = tokio::time::timeout(PATIENCE, async {
            while let Some(Ok(_)) = self.socket.next().await {}
        })
        .await;
        ending
    }

    async fn read_close_frame(&mut self) -> (u16, String) {
        loop {
            let next = tokio::time::timeout(PATIENCE, self.socket.next())
                .await
                .expect("no close frame arrived in time");
            match next {
                Some(Ok(Message::Close(Some(CloseFrame { code, reason })))) => {
                    return (u16::from(code), reason.to_string());
                }
                Some(Ok(Message::Close(None))) => return (1005, String::new()),
                Some(Ok(_)) => continue,
                Some(Err(error)) => panic!("the connection failed before a close frame: {error}"),
                None => panic!("the connection ended without a close frame"),
            }
        }
    }
}

/// A component with the handler export whose core module traps in its start
/// function, i.e. while the component is being instantiated (as a
/// JavaScript app whose top-level code throws would).
pub fn traps_while_starting() -> Vec<u8> {
    wat::parse_str(
        r#"(component
            (core module $m
                (func $start unreachable)
                (start $start)
                (func (export "nothing")))
            (core instance $i (instantiate $m))
            (func $nothing (canon lift (core func $i "nothing")))
            (instance $handler
                (export "on-open" (func $nothing))
                (export "on-message" (func $nothing))
                (export "on-close" (func $nothing)))
            (export "switchboard:app/handler@0.1.1" (instance $handler)))"#,
    )
    .expect("valid WAT")
}

/// The reference WebSocket server (Node's `ws`, host/tests/reference/), an
/// echo server the conformance suite also runs against. Its packages are
/// installed by scripts/test (`npm ci` in that folder).
pub struct Reference {
    child: Child,
    pub address: String,
}

impl Reference {
    pub fn start() -> Reference {
        let folder = workspace_root().join("host/tests/reference");
        assert!(
            folder.join("node_modules/ws").exists(),
            "the reference server is not installed: run `npm ci` in {}",
            folder.display()
        );
        let mut child = Command::new("node")
            .arg(folder.join("server.js"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node starts (scripts/test installs it)");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the reference server says where it listens");
        let port = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected output from the reference server: {line}"));
        Reference {
            child,
            address: format!("127.0.0.1:{port}"),
        }
    }
}

impl Drop for Reference {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
