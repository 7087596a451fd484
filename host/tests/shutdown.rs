//! SIGTERM drains the host: every client gets close 1001, every app hears
//! on-close for every connection, and the process exits 0.

mod common;

use common::{Host, connect, example};

#[tokio::test]
async fn sigterm_closes_every_client_with_1001_and_delivers_on_close() {
    let app = format!("/chat={}", example("chat").display());
    let host = Host::serve_with_env(&["--app", &app], &[("RUST_LOG", "warn,guest=info")]);

    let mut alice = connect(&host.url("/chat?name=alice")).await;
    alice.recv_json().await;
    let mut bob = connect(&host.url("/chat?name=bob")).await;
    bob.recv_json().await;
    alice.recv_json().await; // bob joined

    host.terminate();
    assert_eq!(alice.expect_close().await.0, 1001);
    assert_eq!(bob.expect_close().await.0, 1001);
    // Finish the closing handshake as a browser would.
    let _ = alice.socket.close(None).await;
    let _ = bob.socket.close(None).await;

    let mut host = host;
    let status = host.wait();
    assert_eq!(status.code(), Some(0), "log:\n{}", host.log());
    // The chat app logs every leave from on-close.
    let log = host.log();
    assert!(log.contains("alice left"), "{log}");
    assert!(log.contains("bob left"), "{log}");
}

#[tokio::test]
async fn sigterm_with_idle_clients_that_never_answer_still_exits() {
    let app = format!("/echo={}", example("echo").display());
    let host = Host::serve(&["--app", &app]);
    // A raw TCP client that completes the upgrade and then ignores
    // everything, so the host's close timeout has to end it.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(&host.address).await.unwrap();
    stream
        .write_all(
            b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .await
        .unwrap();
    let mut buffer = [0u8; 512];
    let read = stream.read(&mut buffer).await.unwrap();
    assert!(buffer[..read].starts_with(b"HTTP/1.1 101"));

    host.terminate();
    let mut host = host;
    assert_eq!(host.wait().code(), Some(0), "log:\n{}", host.log());
    drop(stream);
}
