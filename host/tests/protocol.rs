//! The host's RFC 6455 duties, seen from a client: handshake checks, size
//! limits and UTF-8 validation.

mod common;

use common::{Host, connect, example};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

fn echo_host(extra: &[&str]) -> Host {
    let app = format!("/echo={}", example("echo").display());
    let mut args = vec!["--app", app.as_str()];
    args.extend_from_slice(extra);
    Host::serve(&args)
}

#[tokio::test]
async fn a_message_over_the_limit_is_closed_with_1009() {
    let host = echo_host(&["--max-message-bytes", "1024"]);
    let mut client = connect(&host.url("/echo")).await;

    client.send(Message::binary(vec![7u8; 1024])).await;
    assert_eq!(client.recv().await, Message::binary(vec![7u8; 1024]));

    client.send(Message::binary(vec![7u8; 1025])).await;
    assert_eq!(client.expect_close().await.0, 1009);
}

#[tokio::test]
async fn a_fragmented_message_over_the_limit_is_closed_with_1009() {
    let host = echo_host(&["--max-message-bytes", "1024"]);
    let mut client = connect(&host.url("/echo")).await;
    for index in 0..3 {
        let opcode = if index == 0 {
            OpCode::Data(Data::Binary)
        } else {
            OpCode::Data(Data::Continue)
        };
        client
            .send(Message::Frame(Frame::message(
                vec![1u8; 600],
                opcode,
                index == 2,
            )))
            .await;
    }
    assert_eq!(client.expect_close().await.0, 1009);
}

#[tokio::test]
async fn invalid_utf8_text_is_closed_with_1007() {
    let host = echo_host(&[]);
    let mut client = connect(&host.url("/echo")).await;
    let bad = vec![b'o', b'k', 0xff, 0xfe];
    client
        .send(Message::Frame(Frame::message(
            bad,
            OpCode::Data(Data::Text),
            true,
        )))
        .await;
    assert_eq!(client.expect_close().await.0, 1007);
}

#[tokio::test]
async fn invalid_utf8_across_fragments_is_closed_with_1007() {
    let host = echo_host(&[]);
    let mut client = connect(&host.url("/echo")).await;
    // A lone continuation byte in the second fragment.
    client
        .send(Message::Frame(Frame::message(
            b"fine so far".to_vec(),
            OpCode::Data(Data::Text),
            false,
        )))
        .await;
    client
        .send(Message::Frame(Frame::message(
            vec![0x80],
            OpCode::Data(Data::Continue),
            true,
        )))
        .await;
    assert_eq!(client.expect_close().await.0, 1007);
}

#[tokio::test]
async fn the_client_close_code_is_echoed() {
    let host = echo_host(&[]);
    let mut client = connect(&host.url("/echo")).await;
    client
        .send(Message::Close(Some(
            tokio_tungstenite::tungstenite::protocol::CloseFrame {
                code: 4321.into(),
                reason: "bye for now".into(),
            },
        )))
        .await;
    let (code, reason) = client.expect_close().await;
    assert_eq!((code, reason.as_str()), (4321, "bye for now"));
}

/// Send a raw HTTP request and return the status line and headers.
async fn raw_request(address: &str, request: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = vec![0u8; 4096];
    let read = tokio::time::timeout(common::PATIENCE, stream.read(&mut response))
        .await
        .expect("response in time")
        .expect("read");
    String::from_utf8_lossy(&response[..read]).into_owned()
}

#[tokio::test]
async fn bad_upgrades_get_400_or_426() {
    let host = echo_host(&[]);
    let address = host.address.clone();

    let plain_get = "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n";
    let response = raw_request(&address, plain_get).await;
    assert!(response.starts_with("HTTP/1.1 426"), "{response}");
    assert!(
        response.to_lowercase().contains("upgrade: websocket"),
        "{response}"
    );

    let old_version = "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n";
    let response = raw_request(&address, old_version).await;
    assert!(response.starts_with("HTTP/1.1 426"), "{response}");
    assert!(
        response
            .to_lowercase()
            .contains("sec-websocket-version: 13"),
        "{response}"
    );

    let no_key = "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
        Sec-WebSocket-Version: 13\r\n\r\n";
    let response = raw_request(&address, no_key).await;
    assert!(response.starts_with("HTTP/1.1 400"), "{response}");

    let post = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n";
    let response = raw_request(&address, post).await;
    assert!(response.starts_with("HTTP/1.1 405"), "{response}");

    let good = "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    let response = raw_request(&address, good).await;
    assert!(response.starts_with("HTTP/1.1 101"), "{response}");
    // RFC 6455's own example key and accept value.
    assert!(
        response.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        "{response}"
    );
}

#[tokio::test]
async fn an_http_1_0_upgrade_gets_400_and_the_app_never_hears_of_it() {
    let app = format!("/chat={}", example("chat").display());
    let host = Host::serve_with_env(&["--app", &app], &[("RUST_LOG", "warn,guest=info")]);

    // HTTP/1.0 has no upgrade (RFC 6455 4.1 asks for HTTP/1.1): refused
    // before the app is asked, so no join is logged for it.
    let old_http = "GET /chat?name=old HTTP/1.0\r\nHost: x\r\nUpgrade: websocket\r\n\
        Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Sec-WebSocket-Version: 13\r\n\r\n";
    let response = raw_request(&host.address, old_http).await;
    assert!(response.starts_with("HTTP/1.0 400"), "{response}");
    assert!(response.contains("HTTP/1.1"), "{response}");

    // The app handles opens in order: once this later join is logged, the
    // refused one would have been too.
    let mut client = connect(&host.url("/chat?name=new")).await;
    client.recv_json().await;
    host.wait_for_log("new joined");
    assert!(!host.log().contains("old joined"), "{}", host.log());
}
