//! Limits on clients, as a client meets them: every one is a named config
//! field, and tripping it gives a clear HTTP status or close code.

mod common;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use common::{Host, PATIENCE, connect, example, scratch_dir, try_connect};

/// A host serving `echo` on /echo with `limits` in its `[limits]` and
/// `app` lines in the echo app's `[[apps]]` table.
fn echo_host(limits: &str, app: &str) -> Host {
    let config = scratch_dir("limits").join("switchboard.toml");
    let text = format!(
        "[limits]\n{limits}\n\n[[apps]]\nroute = \"/echo\"\nmodule = \"{}\"\n{app}\n",
        example("echo").display()
    );
    std::fs::write(&config, text).expect("write the config");
    Host::serve(&["--config", config.to_str().expect("utf-8")])
}

/// Connect with an `Origin` header, as a browser would.
async fn connect_from(url: &str, origin: &str) -> Result<(), u16> {
    let mut request = url.into_client_request().expect("a valid URL");
    request
        .headers_mut()
        .insert("origin", origin.parse().expect("a valid header"));
    match tokio_tungstenite::connect_async(request).await {
        Ok(_) => Ok(()),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Err(response.status().as_u16())
        }
        Err(error) => panic!("connecting failed: {error}"),
    }
}

#[tokio::test]
async fn an_origin_the_app_does_not_allow_gets_403() {
    let host = echo_host("", "allowed_origins = [\"https://chat.example\"]");
    let url = host.url("/echo");
    assert_eq!(connect_from(&url, "https://chat.example").await, Ok(()));
    assert_eq!(connect_from(&url, "https://evil.example").await, Err(403));
    // No Origin at all (not a browser) is refused too when a list is set.
    assert_eq!(try_connect(&url).await.err().map(|r| r.status), Some(403));
}

#[tokio::test]
async fn connection_caps_per_address_per_app_and_host_wide() {
    let host = echo_host("max_connections_per_ip = 2", "");
    let first = connect(&host.url("/echo")).await;
    let _second = connect(&host.url("/echo")).await;
    let refused = try_connect(&host.url("/echo")).await.err();
    assert_eq!(refused.map(|r| r.status), Some(429));
    // A closed connection gives its place back.
    drop(first);
    let start = std::time::Instant::now();
    while try_connect(&host.url("/echo")).await.is_err() {
        assert!(start.elapsed() < PATIENCE, "the place was never given back");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    let host = echo_host("max_connections = 1", "");
    let _only = connect(&host.url("/echo")).await;
    let refused = try_connect(&host.url("/echo")).await.err();
    assert_eq!(refused.map(|r| r.status), Some(503));

    let host = echo_host("", "max_connections = 1");
    let _only = connect(&host.url("/echo")).await;
    let refused = try_connect(&host.url("/echo")).await.err();
    assert_eq!(
        refused.map(|r| (r.status, r.body)),
        Some((503, "the app is at its connection limit".to_string()))
    );
}

#[tokio::test]
async fn a_client_over_the_message_rate_is_closed_with_1008() {
    let host = echo_host("max_messages_per_second = 20", "");
    let mut client = connect(&host.url("/echo")).await;
    for number in 0..100 {
        client.send_text(&format!("message {number}")).await;
    }
    let (code, reason) = client.expect_close().await;
    assert_eq!((code, reason.as_str()), (1008, "message rate limit"));
}

#[tokio::test]
async fn an_apps_own_message_rate_wins_over_the_hosts() {
    let host = echo_host(
        "max_messages_per_second = 100000",
        "max_messages_per_second = 20",
    );
    let mut client = connect(&host.url("/echo")).await;
    for number in 0..100 {
        client.send_text(&format!("message {number}")).await;
    }
    let (code, reason) = client.expect_close().await;
    assert_eq!((code, reason.as_str()), (1008, "message rate limit"));
}

#[tokio::test]
async fn a_silent_client_is_pinged_then_closed_with_1001() {
    // A short close timeout: this client will not answer the close either.
    let host = echo_host("idle_timeout_ms = 600\nclose_timeout_ms = 300", "");
    // A raw client that upgrades and then never answers anything.
    let mut stream = tokio::net::TcpStream::connect(&host.address)
        .await
        .expect("connect");
    stream
        .write_all(
            b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .await
        .expect("write");
    let mut received = Vec::new();
    let mut buffer = [0u8; 1024];
    // Read until the server hangs up: the 101, a ping, then a close frame.
    loop {
        let read = tokio::time::timeout(PATIENCE, stream.read(&mut buffer))
            .await
            .expect("the server ends a silent connection")
            .expect("read");
        if read == 0 {
            break;
        }
        received.extend_from_slice(&buffer[..read]);
    }
    let head_end = received
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .expect("a response head")
        + 4;
    let frames = &received[head_end..];
    assert_eq!(frames[0], 0x89, "first a ping: {frames:?}");
    let close_at = 2 + usize::from(frames[1] & 0x7f);
    assert_eq!(frames[close_at], 0x88, "then a close: {frames:?}");
    let code = u16::from_be_bytes([frames[close_at + 2], frames[close_at + 3]]);
    assert_eq!(code, 1001);
}

#[tokio::test]
async fn a_quiet_client_that_answers_pings_stays_connected() {
    let host = echo_host("idle_timeout_ms = 600", "");
    let mut client = connect(&host.url("/echo")).await;
    // Reading answers the host's pings (as browsers do); nothing else comes.
    let quiet = tokio::time::timeout(std::time::Duration::from_millis(1500), client.recv()).await;
    assert!(quiet.is_err(), "nothing but pings should arrive");
    client.send_text("still here").await;
    assert_eq!(client.recv_text().await, "still here");
}

#[tokio::test]
async fn a_client_that_sends_its_request_too_slowly_is_dropped() {
    let host = echo_host("handshake_timeout_ms = 500", "");
    let mut slow = tokio::net::TcpStream::connect(&host.address)
        .await
        .expect("connect");
    // Half a request head, then nothing: the host must not wait forever.
    slow.write_all(b"GET /echo HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    // Read until the host hangs up (hyper may answer 408 first).
    let mut buffer = [0u8; 512];
    tokio::time::timeout(PATIENCE, async {
        while let Ok(read) = slow.read(&mut buffer).await {
            if read == 0 {
                break;
            }
        }
    })
    .await
    .expect("the host dropped the slow client");
    // Others are served meanwhile and after.
    let mut client = connect(&host.url("/echo")).await;
    client.send_text("fine").await;
    assert_eq!(client.recv_text().await, "fine");
}

#[tokio::test]
async fn a_frame_over_max_frame_bytes_gets_1009_while_fragments_pass() {
    use common::raw::{BINARY, CONTINUATION, RawClient};
    let host = echo_host("max_frame_bytes = 1000\nmax_message_bytes = 4000", "");
    let mut client = RawClient::upgrade(&host.address, "/echo", &[]).await;
    // Three fragments of 900 bytes: each under the frame cap, 2700 in all.
    client.send(false, 0, BINARY, &[1u8; 900], true).await;
    client.send(false, 0, CONTINUATION, &[2u8; 900], true).await;
    client.send(true, 0, CONTINUATION, &[3u8; 900], true).await;
    let echo = client.read_frame().await.expect("the message back");
    assert_eq!(echo.payload.len(), 2700);
    // One frame of 1500: over the frame cap, under the message cap.
    client.send(true, 0, BINARY, &[4u8; 1500], true).await;
    let (close, _) = client.expect_close().await;
    assert_eq!(close.close_code(), 1009);
}

#[tokio::test]
async fn an_app_can_only_confirm_subprotocols_on_its_allowlist() {
    use common::raw::RawClient;
    let config = scratch_dir("subprotocols").join("switchboard.toml");
    let text = format!(
        "[[apps]]\nroute = \"/chat\"\nmodule = \"{}\"\nsubprotocols = [\"chat.v2\"]\n",
        example("chat").display()
    );
    std::fs::write(&config, text).expect("write the config");
    let host = Host::serve(&["--config", config.to_str().expect("utf-8")]);
    // chat confirms chat.v1 whenever it is offered; here it never sees it.
    let client = RawClient::upgrade(
        &host.address,
        "/chat?name=ann",
        &["Sec-WebSocket-Protocol: chat.v1"],
    )
    .await;
    assert!(
        !client
            .response
            .to_lowercase()
            .contains("sec-websocket-protocol"),
        "{}",
        client.response
    );
}

/// Send `head` and collect what the host answers until it hangs up.
async fn answer_to(address: &str, head: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    // The host may answer and close before it has read it all.
    let _ = stream.write_all(head.as_bytes()).await;
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    // A host that kept the connection open (an upgrade) is shown by what
    // it answered, once patience runs out.
    let _ = tokio::time::timeout(PATIENCE, async {
        while let Ok(read) = stream.read(&mut buffer).await {
            if read == 0 {
                break;
            }
            answer.extend_from_slice(&buffer[..read]);
        }
    })
    .await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_request_head_over_16_kib_gets_431_on_both_listeners() {
    let app = format!("/echo={}", example("echo").display());
    let host = Host::serve_with_admin(&["--app", &app]);
    let padding = "x".repeat(32 << 10);
    let huge = format!(
        "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Cookie: padding={padding}\r\n\r\n"
    );
    let answer = answer_to(&host.address, &huge).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer:.200}");
    let admin = host.admin.clone().expect("admin on");
    let huge = format!("GET /apps HTTP/1.1\r\nHost: x\r\nX-Padding: {padding}\r\n\r\n");
    let answer = answer_to(&admin, &huge).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer:.200}");

    // A browser with a few KiB of cookies still connects.
    let cookie = format!("Cookie: session={}", "c".repeat(4 << 10));
    let mut client = common::raw::RawClient::upgrade(&host.address, "/echo", &[&cookie]).await;
    client.send_frame(common::raw::TEXT, b"with cookies").await;
    let reply = client.read_frame().await.expect("an echo");
    assert_eq!(reply.payload, b"with cookies");
}
