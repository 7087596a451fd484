//! How the host ends connections, as clients see it.
//!
//! Every close the host starts sends exactly one close frame: a browser
//! fails a connection that gets a second one ("Close received after close",
//! code 1006), so each test answers the host's close as a browser does and
//! expects nothing more. No close waits on a client without a bound: a
//! client that stops reading is dropped within the close timeout, its place
//! freed, while the clients that do read get everything; SIGTERM ends the
//! process in time whatever the clients do; and a client that breaks the
//! protocol still gets the replies to what it sent before.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use tokio_tungstenite::tungstenite::Message;

use common::raw::{self, BINARY, CONTINUATION, PING, RawClient, TEXT};
use common::{Host, PATIENCE, connect, example, scratch_dir};

/// A host serving the example `app` on `/app`, with `limits` in its
/// `[limits]`, the admin API on, and the host's own info lines logged.
fn host_with(app: &str, limits: &str) -> Host {
    let dir = scratch_dir("closing");
    let config = dir.join("switchboard.toml");
    let text = format!(
        "[limits]\n{limits}\n\n[deploy]\ndata_dir = \"{}\"\n\n\
         [[apps]]\nroute = \"/{app}\"\nmodule = \"{}\"\n",
        dir.join("data").display(),
        example(app).display()
    );
    std::fs::write(&config, text).expect("write the config");
    Host::serve_config_with_admin(&config, &[("RUST_LOG", "switchboard=info")])
}

/// Read up to the host's close frame, check its code, answer it as a
/// browser does, and expect nothing after it but the TCP close.
async fn expect_one_close(client: &mut RawClient, code: u16) {
    let (close, _before) = client.expect_close().await;
    assert_eq!(close.close_code(), code, "{close:?}");
    client.answer_close_and_expect_end(&close).await;
}

/// Open connections of `app`, as the admin API counts them.
async fn open_connections(host: &Host, app: &str) -> u64 {
    let (status, body) = host
        .admin_request("GET", &format!("/apps/{app}"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    body["connections"].as_u64().expect("a connection count")
}

async fn wait_for_connections(host: &Host, app: &str, count: u64) {
    let start = Instant::now();
    while open_connections(host, app).await != count {
        assert!(
            start.elapsed() < PATIENCE,
            "{app} never had {count} open connections; log:\n{}",
            host.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_app_closing_a_client_sends_one_close_frame() {
    let host = host_with("chat", "");
    let mut alice = RawClient::upgrade(&host.address, "/chat?name=alice", &[]).await;
    alice.send_frame(TEXT, b"/quit").await;
    expect_one_close(&mut alice, 1000).await;
}

#[tokio::test]
async fn an_idle_timeout_sends_one_close_frame() {
    let host = host_with("echo", "idle_timeout_ms = 600");
    // This client answers no ping: the host gives up on it.
    let mut silent = RawClient::upgrade(&host.address, "/echo", &[]).await;
    expect_one_close(&mut silent, 1001).await;
}

#[tokio::test]
async fn removing_the_app_sends_one_close_frame() {
    let host = host_with("chat", "");
    // An app deployed through the API (one the config names cannot be
    // removed while the config names it).
    let echo = std::fs::read(example("echo")).expect("the echo component");
    let (status, answer) = host
        .admin_request("PUT", "/apps/echo?route=/echo", Some(echo))
        .await;
    assert_eq!(status, 201, "{answer}");
    let mut client = RawClient::upgrade(&host.address, "/echo", &[]).await;
    // Removal returns once the app has heard every on-close, which takes
    // the client's answer to the close: both at once.
    let remove = host.admin_request("DELETE", "/apps/echo", None);
    let ((status, _), ()) = tokio::join!(remove, expect_one_close(&mut client, 1001));
    assert_eq!(status, 204);
}

#[tokio::test]
async fn shutdown_sends_one_close_frame_and_exits_0() {
    let mut host = host_with("echo", "");
    let mut client = RawClient::upgrade(&host.address, "/echo", &[]).await;
    host.terminate();
    expect_one_close(&mut client, 1001).await;
    assert_eq!(host.wait().code(), Some(0), "log:\n{}", host.log());
}

#[tokio::test]
async fn a_valid_message_then_a_bad_frame_gets_its_echo_then_1002() {
    let host = host_with("echo", "");
    let bad_frames = [
        ("RSV2 set", raw::encode(true, 0b010, TEXT, b"x", true)),
        ("reserved data opcode", raw::encode(true, 0, 0x3, b"", true)),
        (
            "reserved control opcode",
            raw::encode(true, 0, 0xb, b"", true),
        ),
        (
            "a continuation with nothing to continue",
            raw::encode(true, 0, CONTINUATION, b"x", true),
        ),
        ("an unmasked frame", raw::encode(true, 0, TEXT, b"x", false)),
    ];
    for (what, bad) in bad_frames {
        let mut client = RawClient::upgrade(&host.address, "/echo", &[]).await;
        // All in one write: the host reads the bad frame before the app has
        // answered the first message.
        let mut bytes = raw::encode(true, 0, TEXT, b"before", true);
        bytes.extend(bad);
        bytes.extend(raw::encode(true, 0, TEXT, b"after", true));
        client.send_bytes(&bytes).await;
        let (close, before) = client.expect_close().await;
        let echoed: Vec<&[u8]> = before.iter().map(|frame| &frame.payload[..]).collect();
        assert_eq!(echoed, [b"before"], "{what}: what came before the close");
        assert_eq!(close.close_code(), 1002, "{what}: {close:?}");
        client.expect_end().await;
    }
}

/// A client of the broadcast app that reads `count` messages in the
/// background, checking each arrives whole, in order; `delivered` says how
/// many have.
struct Reader {
    delivered: Arc<AtomicUsize>,
    reading: tokio::task::JoinHandle<()>,
}

impl Reader {
    async fn start(host: &Host, count: usize) -> Reader {
        let mut client = connect(&host.url("/broadcast")).await;
        let delivered = Arc::new(AtomicUsize::new(0));
        let counter = delivered.clone();
        let reading = tokio::spawn(async move {
            for n in 0..count {
                let message = tokio::time::timeout(PATIENCE, client.socket.next())
                    .await
                    .expect("the next message in time");
                match message {
                    Some(Ok(Message::Binary(payload))) => {
                        let mut number = [0u8; 8];
                        number.copy_from_slice(&payload[..8]);
                        assert_eq!(u64::from_be_bytes(number), n as u64, "in order, none lost");
                    }
                    other => panic!("message {n}: {other:?}"),
                }
                counter.store(n + 1, Ordering::Relaxed);
            }
        });
        Reader { delivered, reading }
    }

    /// Wait until every message has arrived.
    async fn finish(self) {
        self.reading.await.expect("the reader got every message");
    }
}

/// Send `count` binary messages of `size` bytes, numbered, from a new
/// publisher on the broadcast app; each waits until `reader` is within
/// `window` messages, so that the reading client never falls behind.
async fn publish(host: &Host, count: usize, size: usize, reader: &Reader, window: usize) {
    let mut publisher = connect(&host.url("/broadcast")).await;
    for n in 0..count {
        let mut payload = vec![0u8; size];
        payload[..8].copy_from_slice(&(n as u64).to_be_bytes());
        publisher.send(Message::binary(payload)).await;
        let start = Instant::now();
        while n >= window && reader.delivered.load(Ordering::Relaxed) < n - window {
            assert!(start.elapsed() < PATIENCE, "the reading client fell behind");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

#[tokio::test]
async fn a_client_that_stops_reading_gets_one_close_frame_when_it_reads_again() {
    let host = host_with(
        "broadcast",
        "max_outbox_bytes = 262144\nclose_timeout_ms = 60000",
    );
    let mut late = RawClient::upgrade(&host.address, "/broadcast", &[]).await;
    // 64 KiB messages until the host gives up on the client: its socket
    // buffers fill, then its outbox.
    let mut publisher = connect(&host.url("/broadcast")).await;
    let start = Instant::now();
    while !host.log().contains("outbox full") {
        assert!(start.elapsed() < PATIENCE, "the outbox never filled");
        publisher.send(Message::binary(vec![7u8; 65536])).await;
    }
    // It reads again: what the socket held, then the close, and only one.
    let (close, before) = late.expect_close().await;
    assert_eq!(close.close_code(), 1008, "{close:?}");
    assert!(before.iter().all(|frame| frame.opcode == BINARY));
    late.answer_close_and_expect_end(&close).await;
}

#[tokio::test]
async fn a_client_that_never_reads_is_dropped_while_the_others_get_everything() {
    let host = host_with(
        "broadcast",
        "max_outbox_bytes = 1048576\nclose_timeout_ms = 1000",
    );
    let mut stalled = RawClient::upgrade(&host.address, "/broadcast", &[]).await;
    // 600 x 32 KiB: far more than the stalled client's socket buffers and
    // outbox hold.
    let reader = Reader::start(&host, 600).await;
    publish(&host, 600, 32 * 1024, &reader, 8).await;
    reader.finish().await;
    host.wait_for_log("outbox full, closing the slow connection");
    host.wait_for_log("dropped: the close frame could not be written within 1000 ms");
    // Its place is free: the reader and the publisher have left too, and
    // the admin API counts no connection.
    wait_for_connections(&host, "broadcast", 0).await;
    // And its socket is closed (after whatever the kernel still held).
    stalled.expect_tcp_close().await;
}

#[tokio::test]
async fn a_client_that_pings_but_never_reads_is_closed_for_not_reading() {
    let host = host_with("echo", "idle_timeout_ms = 1000\nclose_timeout_ms = 500");
    let mut flooder = RawClient::upgrade(&host.address, "/echo", &[]).await;
    // Pings keep it from looking idle; the pongs they ask for fill its
    // socket, since it reads none of them. Whole frames only: once the host
    // stops reading from it, these writes wait, until the host closes it.
    let pings = raw::encode(true, 0, PING, &[b'p'; 125], true).repeat(512);
    let flood = tokio::spawn(async move {
        for _ in 0..1000 {
            flooder.send_bytes(&pings).await;
        }
    });
    let start = Instant::now();
    while !host.log().contains("closed: the client does not read") {
        assert!(
            start.elapsed() < PATIENCE,
            "the flooder was never closed; log:\n{}",
            host.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    flood.abort();
    // The app serves everyone else as before.
    let mut other = connect(&host.url("/echo")).await;
    other.send_text("still here").await;
    assert_eq!(other.recv_text().await, "still here");
}

#[tokio::test]
async fn sigterm_with_a_client_that_never_reads_exits_0_in_time() {
    let mut host = host_with("broadcast", "close_timeout_ms = 1000");
    let _stalled = RawClient::upgrade(&host.address, "/broadcast", &[]).await;
    // 16 MiB for a client that reads none of it: its socket is full and the
    // rest waits in its outbox (32 MiB by default), so its close frame
    // cannot be written. Once the reader has it all, so has the host.
    let reader = Reader::start(&host, 256).await;
    publish(&host, 256, 64 * 1024, &reader, 8).await;
    reader.finish().await;
    host.terminate();
    // `wait` gives up after PATIENCE (20 s); the host must exit long
    // before, bounded by close_timeout_ms plus a small margin.
    assert_eq!(host.wait().code(), Some(0), "log:\n{}", host.log());
    assert!(
        host.log()
            .contains("dropped: the close frame could not be written within 1000 ms"),
        "{}",
        host.log()
    );
}
