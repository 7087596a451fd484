//! A broadcast is encoded once and its bytes shared by every recipient
//! (host/src/fanout.rs). These tests check what that must not change: every
//! client, compressed or not, with whatever window it asked for, decodes
//! every message exactly, including a compressed client whose own messages
//! (`send`, compressed with its connection's context) interleave with shared
//! ones; and a subscriber that stops reading is still closed alone.
//!
//! The subscribers are raw clients that inflate as a browser does: one
//! inflater for the whole connection (context takeover), fed every
//! compressed message in order. Each message is inflated twice, by zlib-rs
//! and by the small inflater in common/window.rs, which also reports how far
//! back the server's matches reached, so a window wider than the client
//! asked for shows. A third client is Node's `ws` (tests/reference/
//! client.js), a WebSocket implementation written by others.

mod common;

use std::process::Stdio;

use base64::Engine as _;
use common::raw::{BINARY, RawClient, TEXT};
use common::{Host, PATIENCE, example, scratch_dir};
use flate2::{Decompress, FlushDecompress};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// A host serving `app` on `route` with compression on, and `limits`
/// added to its `[limits]`.
fn host_with(route: &str, app: &str, limits: &str) -> Host {
    let config = scratch_dir("fanout").join("switchboard.toml");
    let text = format!(
        "[limits]\nmax_messages_per_second = 100000\n{limits}\n\n\
         [[apps]]\nroute = \"{route}\"\nmodule = \"{}\"\ncompression = true\n",
        example(app).display()
    );
    std::fs::write(&config, text).expect("write the config");
    Host::serve(&["--config", config.to_str().expect("utf-8")])
}

/// A client reading raw frames and inflating what is compressed.
struct Subscriber {
    name: String,
    client: RawClient,
    /// The server's window the client asked for, when it offered deflate
    /// (8 to 15; 15 when it named none).
    window_bits: Option<u8>,
    /// One inflater for the connection's life, as a browser keeps it.
    inflater: Decompress,
    /// Every compressed payload so far, each with its 00 00 ff ff tail:
    /// the deflate stream as the client's inflater saw it.
    stream: Vec<u8>,
    /// What inflating `stream` gave so far.
    inflated: usize,
    /// Whether to run the measuring inflater, which inflates the whole
    /// stream again for each message: off for long runs.
    measure: bool,
}

impl Subscriber {
    /// Upgrade on `path`, offering `offer` (a `Sec-WebSocket-Extensions`
    /// value) if any; the host must accept it as made.
    async fn join(host: &Host, path: &str, offer: Option<&str>) -> Subscriber {
        let header = offer.map(|offer| format!("Sec-WebSocket-Extensions: {offer}"));
        let headers: Vec<&str> = header.iter().map(String::as_str).collect();
        let client = RawClient::upgrade(&host.address, path, &headers).await;
        let response = client.response.to_lowercase();
        let window_bits = offer.map(|offer| {
            assert!(
                response.contains("sec-websocket-extensions: permessage-deflate"),
                "{offer}: {response}"
            );
            offer
                .split(';')
                .filter_map(|parameter| parameter.trim().strip_prefix("server_max_window_bits="))
                .map(|bits| bits.parse().expect("a window size"))
                .next()
                .unwrap_or(15)
        });
        if offer.is_none() {
            assert!(!response.contains("sec-websocket-extensions"), "{response}");
        }
        Subscriber {
            name: offer.unwrap_or("no compression").to_string(),
            client,
            window_bits,
            inflater: Decompress::new(false),
            stream: Vec::new(),
            inflated: 0,
            measure: true,
        }
    }

    /// The next message, inflated if it came compressed: its opcode and
    /// payload.
    async fn recv(&mut self) -> (u8, Vec<u8>) {
        let frame = self
            .client
            .read_frame()
            .await
            .unwrap_or_else(|| panic!("{}: the connection ended", self.name));
        assert!(frame.fin, "{}: the host sends whole messages", self.name);
        if frame.rsv & 0b100 == 0 {
            return (frame.opcode, frame.payload);
        }
        let Some(bits) = self.window_bits else {
            panic!("{}: a compressed frame without deflate", self.name);
        };
        let mut input = frame.payload;
        input.extend_from_slice(&[0x00, 0x00, 0xff, 0xff]);
        self.stream.extend_from_slice(&input);
        let inflated = inflate(&mut self.inflater, &input)
            .unwrap_or_else(|| panic!("{}: zlib-rs cannot inflate the message", self.name));
        if !self.measure {
            return (frame.opcode, inflated);
        }
        let (whole, farthest) = common::window::inflate_measuring(&self.stream)
            .unwrap_or_else(|| panic!("{}: the deflate stream is malformed", self.name));
        assert_eq!(
            &whole[self.inflated..],
            &inflated[..],
            "{}: the two inflaters disagree",
            self.name
        );
        self.inflated = whole.len();
        assert!(
            farthest <= 1 << bits,
            "{}: a match reaches {farthest} bytes back, past a window of {bits} bits",
            self.name
        );
        (frame.opcode, inflated)
    }

    /// The next message, which must be `opcode` with `payload`; it must
    /// have come compressed if the client negotiated deflate.
    async fn expect(&mut self, opcode: u8, payload: &[u8]) {
        let compressed_before = self.stream.len();
        let (got, bytes) = self.recv().await;
        assert_eq!(got, opcode, "{}: opcode", self.name);
        assert!(
            bytes == payload,
            "{}: a {}-byte message arrived as {} bytes that differ",
            self.name,
            payload.len(),
            bytes.len()
        );
        assert_eq!(
            self.stream.len() > compressed_before,
            self.window_bits.is_some(),
            "{}: compressed exactly when deflate was agreed",
            self.name
        );
    }

    async fn expect_json(&mut self) -> serde_json::Value {
        let (opcode, payload) = self.recv().await;
        assert_eq!(opcode, TEXT, "{}", self.name);
        serde_json::from_slice(&payload).expect("JSON")
    }
}

/// Node's `ws` as a client that offers permessage-deflate, as browsers do
/// (tests/reference/client.js; scripts/test installs it).
struct NodeClient {
    _child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl NodeClient {
    /// Connect to `url`; the extension the host agreed to must be deflate.
    async fn connect(url: &str) -> NodeClient {
        let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference");
        assert!(
            folder.join("node_modules/ws").exists(),
            "the reference client is not installed: run `npm ci` in {}",
            folder.display()
        );
        let mut child = Command::new("node")
            .arg(folder.join("client.js"))
            .arg(url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node starts (scripts/test installs it)");
        let stdin = child.stdin.take().expect("stdin is piped");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut client = NodeClient {
            _child: child,
            stdin,
            lines: BufReader::new(stdout).lines(),
        };
        let open = client.line().await;
        assert!(
            open.starts_with("open ") && open.contains("permessage-deflate"),
            "{open}"
        );
        client
    }

    async fn line(&mut self) -> String {
        tokio::time::timeout(PATIENCE, self.lines.next_line())
            .await
            .expect("the node client answers in time")
            .expect("its stdout reads")
            .expect("it is still running")
    }

    async fn send_binary(&mut self, data: &[u8]) {
        let line = serde_json::json!({
            "binary": true,
            "data": base64::engine::general_purpose::STANDARD.encode(data),
        });
        self.stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .expect("write to node");
    }

    /// The next message: its opcode and payload.
    async fn recv(&mut self) -> (u8, Vec<u8>) {
        let line: serde_json::Value =
            serde_json::from_str(&self.line().await).expect("a JSON line");
        let data = line["data"]
            .as_str()
            .unwrap_or_else(|| panic!("not a message: {line}"));
        if line["binary"] == true {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(data)
                .expect("base64");
            (BINARY, bytes)
        } else {
            (TEXT, data.as_bytes().to_vec())
        }
    }

    async fn expect_json(&mut self) -> serde_json::Value {
        let (opcode, payload) = self.recv().await;
        assert_eq!(opcode, TEXT);
        serde_json::from_slice(&payload).expect("JSON")
    }
}

/// Inflate one message's deflate data (its tail included) with `inflater`.
fn inflate(inflater: &mut Decompress, input: &[u8]) -> Option<Vec<u8>> {
    let start = inflater.total_in();
    let mut output = Vec::with_capacity(input.len() * 4 + 1024);
    loop {
        let consumed = usize::try_from(inflater.total_in() - start).ok()?;
        inflater
            .decompress_vec(&input[consumed..], &mut output, FlushDecompress::Sync)
            .ok()?;
        let consumed = usize::try_from(inflater.total_in() - start).ok()?;
        if consumed == input.len() && output.len() < output.capacity() {
            return Some(output);
        }
        output.reserve(output.capacity());
    }
}

/// Text that compresses, with a little variety so matches are not all one
/// byte back.
fn text_of(len: usize, seed: u32) -> Vec<u8> {
    let mut text = Vec::with_capacity(len + 64);
    let mut n = seed;
    while text.len() < len {
        n = n.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        text.extend_from_slice(
            format!("item {} is {}; ", (n >> 16) % 500, (n >> 8) % 7).as_bytes(),
        );
    }
    text.truncate(len);
    text
}

/// Bytes that barely compress.
fn noise_of(len: usize, seed: u32) -> Vec<u8> {
    let mut n = seed;
    (0..len)
        .map(|_| {
            n = n.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (n >> 16) as u8
        })
        .collect()
}

/// Every offer the host accepts, in the forms clients send them.
fn offers() -> Vec<Option<String>> {
    let mut offers = vec![
        None,
        // What browsers send.
        Some("permessage-deflate; client_max_window_bits".to_string()),
        Some("permessage-deflate; server_no_context_takeover".to_string()),
    ];
    offers.extend(
        (8..=15).map(|bits| Some(format!("permessage-deflate; server_max_window_bits={bits}"))),
    );
    offers
}

#[tokio::test]
async fn a_broadcast_reaches_plain_and_compressed_clients_with_every_window() {
    let host = host_with("/broadcast", "broadcast", "");
    let mut subscribers = Vec::new();
    for offer in offers() {
        subscribers.push(Subscriber::join(&host, "/broadcast", offer.as_deref()).await);
    }
    let mut node = NodeClient::connect(&host.url("/broadcast")).await;
    let mut publisher = RawClient::upgrade(&host.address, "/broadcast", &[]).await;

    let big_text = text_of(20 << 10, 1);
    let messages: Vec<(u8, Vec<u8>)> = vec![
        (TEXT, b"hello, everyone".to_vec()),
        // 16 KiB and more: the 16-bit length form.
        (TEXT, big_text.clone()),
        // Over 64 KiB: the 64-bit length form.
        (
            BINARY,
            [text_of(40 << 10, 2), noise_of(40 << 10, 3)].concat(),
        ),
        (BINARY, Vec::new()),
        // The same text again: a compressor that kept context would refer
        // back to the first one; each shared frame must stand alone.
        (TEXT, big_text),
        (BINARY, vec![0u8, 1, 2, 255]),
    ];
    for (opcode, payload) in &messages {
        publisher.send(true, 0, *opcode, payload, true).await;
    }
    for subscriber in &mut subscribers {
        for (opcode, payload) in &messages {
            subscriber.expect(*opcode, payload).await;
        }
    }
    for (opcode, payload) in &messages {
        let (got, bytes) = node.recv().await;
        assert!(
            got == *opcode && bytes == *payload,
            "node's ws: a {}-byte message arrived as {} other bytes",
            payload.len(),
            bytes.len()
        );
    }
}

/// The chat app answers a binary message with an error to its sender
/// alone (`send`) and broadcasts text to everyone else: a compressed
/// client gets both kinds on one connection, its own ones compressed with
/// its connection's context and the shared ones not.
#[tokio::test]
async fn own_and_shared_messages_interleave_on_one_compressed_connection() {
    for offer in [
        "permessage-deflate; client_max_window_bits",
        "permessage-deflate; server_max_window_bits=9",
    ] {
        // A room of its own: nobody else's join or leave arrives.
        let host = host_with("/chat", "chat", "");
        let mut alice = Subscriber::join(&host, "/chat?name=alice", Some(offer)).await;
        assert_eq!(alice.expect_json().await["type"], "welcome");
        let error = serde_json::json!({"type": "error", "text": "chat messages are text"});
        alice.client.send(true, 0, BINARY, b"?", true).await;
        assert_eq!(alice.expect_json().await, error);

        let mut bob = RawClient::upgrade(&host.address, "/chat?name=bob", &[]).await;
        assert_eq!(
            alice.expect_json().await,
            serde_json::json!({"type": "join", "name": "bob"})
        );
        let long = String::from_utf8(text_of(18 << 10, 4)).expect("ASCII");
        for round in 0..3 {
            // Alice's own message, whose text her connection's compressor
            // has seen before: with context takeover it refers back to it,
            // so the shared messages in between must not have left the
            // client's window and that compressor out of step.
            alice.client.send(true, 0, BINARY, b"?", true).await;
            assert_eq!(alice.expect_json().await, error, "{offer}: round {round}");
            bob.send_frame(TEXT, long.as_bytes()).await;
            assert_eq!(
                alice.expect_json().await,
                serde_json::json!({"type": "message", "from": "bob", "text": long}),
                "{offer}: round {round}"
            );
            bob.send_frame(TEXT, b"short").await;
            assert_eq!(
                alice.expect_json().await,
                serde_json::json!({"type": "message", "from": "bob", "text": "short"}),
                "{offer}: round {round}"
            );
        }
        alice.client.send(true, 0, BINARY, b"?", true).await;
        assert_eq!(alice.expect_json().await, error);
    }
}

/// The same, with Node's `ws` as the compressed client.
#[tokio::test]
async fn another_implementation_inflates_own_and_shared_messages_alike() {
    let host = host_with("/chat", "chat", "");
    let mut alice = NodeClient::connect(&host.url("/chat?name=alice")).await;
    assert_eq!(alice.expect_json().await["type"], "welcome");
    let error = serde_json::json!({"type": "error", "text": "chat messages are text"});
    alice.send_binary(b"?").await;
    assert_eq!(alice.expect_json().await, error);
    let mut bob = RawClient::upgrade(&host.address, "/chat?name=bob", &[]).await;
    assert_eq!(
        alice.expect_json().await,
        serde_json::json!({"type": "join", "name": "bob"})
    );
    let long = String::from_utf8(text_of(18 << 10, 5)).expect("ASCII");
    for round in 0..3 {
        alice.send_binary(b"?").await;
        assert_eq!(alice.expect_json().await, error, "round {round}");
        bob.send_frame(TEXT, long.as_bytes()).await;
        assert_eq!(
            alice.expect_json().await,
            serde_json::json!({"type": "message", "from": "bob", "text": long}),
            "round {round}"
        );
    }
    alice.send_binary(b"?").await;
    assert_eq!(alice.expect_json().await, error);
}

#[tokio::test]
async fn a_subscriber_that_stops_reading_is_closed_and_the_others_get_everything() {
    let host = host_with("/broadcast", "broadcast", "max_outbox_bytes = 1048576");
    let mut stalled = Subscriber::join(&host, "/broadcast", None).await;
    let mut readers = vec![
        Subscriber::join(&host, "/broadcast", None).await,
        Subscriber::join(&host, "/broadcast", Some("permessage-deflate")).await,
    ];
    for reader in &mut readers {
        reader.measure = false;
    }
    let mut publisher = RawClient::upgrade(&host.address, "/broadcast", &[]).await;

    // 16 MiB of barely compressible messages: more than the stalled
    // client's socket buffers and its 1 MiB outbox can hold. Each goes out
    // once the readers have the one before, so they are never behind.
    let messages = 256;
    for n in 0..messages {
        let message = noise_of(64 << 10, n);
        publisher.send(true, 0, BINARY, &message, true).await;
        for reader in &mut readers {
            reader.expect(BINARY, &message).await;
        }
    }
    host.wait_for_log("outbox full, closing the slow connection");
    // What its socket held arrives, then the close; its backlog was dropped.
    let (close, before) = stalled.client.expect_close().await;
    assert_eq!(close.close_code(), 1008);
    assert!(before.len() < messages as usize);
    assert_eq!(
        host.log()
            .matches("outbox full, closing the slow connection")
            .count(),
        1,
        "only the stalled subscriber was closed"
    );
}
