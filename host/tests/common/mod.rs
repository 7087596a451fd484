//! The shared harness for the end-to-end tests: build the example apps once,
//! start a real `switchboard` process on 127.0.0.1 (port 0, so parallel tests
//! never collide), and talk to it with a real WebSocket client.
//!
//! Nothing here asserts timing: waits are generous upper bounds that only
//! turn a hang into a failure.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long any single wait may take before the test fails as hung.
pub const PATIENCE: Duration = Duration::from_secs(20);

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ sits in the workspace")
        .to_path_buf()
}

/// The example apps, compiled to components once per test process. Cargo's
/// own lock makes concurrent test processes wait for one build.
pub fn example(name: &str) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        let root = workspace_root();
        let status = Command::new(env!("CARGO"))
            .current_dir(&root)
            .args(["build", "--release", "--target", "wasm32-wasip2"])
            .args(["-p", "echo", "-p", "chat", "-p", "fragile"])
            // Its own target dir: the test run holds the lock on ours.
            .env("CARGO_TARGET_DIR", root.join("target/examples"))
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the example apps failed");
        root.join("target/examples/wasm32-wasip2/release")
    });
    let path = dir.join(format!("{name}.wasm"));
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// A running `switchboard serve`.
pub struct Host {
    child: Child,
    pub address: String,
    stderr: Arc<Mutex<String>>,
}

impl Host {
    /// `switchboard serve --listen 127.0.0.1:0` plus `args`.
    pub fn serve(args: &[&str]) -> Host {
        Self::serve_with_env(args, &[])
    }

    pub fn serve_with_env(args: &[&str], env: &[(&str, &str)]) -> Host {
        let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .arg("serve")
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .envs(env.iter().copied())
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
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("switchboard listening on http://") {
                    let _ = address_sender.send(rest.trim().to_string());
                }
            }
        });
        let address = match address.recv_timeout(PATIENCE) {
            Ok(address) => address,
            Err(_) => {
                let _ = child.kill();
                let log = stderr.lock().expect("stderr buffer").clone();
                panic!("switchboard did not report its address; stderr:\n{log}");
            }
        };
        Host {
            child,
            address,
            stderr,
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
    }
}

/// Run `switchboard` to completion, returning exit status and stderr.
pub fn run_switchboard(args: &[&str]) -> (ExitStatus, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
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
