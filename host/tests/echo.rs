//! The echo app, end to end: what a client sends comes back unchanged.

mod common;

use common::{Host, connect, example};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

fn echo_host() -> Host {
    let app = format!("/echo={}", example("echo").display());
    Host::serve(&["--app", &app])
}

#[tokio::test]
async fn text_comes_back_as_text_and_binary_as_binary() {
    let host = echo_host();
    let mut client = connect(&host.url("/echo")).await;

    client.send_text("hello, switchboard").await;
    assert_eq!(client.recv().await, Message::text("hello, switchboard"));

    client.send(Message::binary(vec![0u8, 1, 2, 255])).await;
    assert_eq!(client.recv().await, Message::binary(vec![0u8, 1, 2, 255]));

    client.send_text("").await;
    assert_eq!(client.recv().await, Message::text(""));
}

#[tokio::test]
async fn one_mebibyte_messages_come_back_whole() {
    let host = echo_host();
    let mut client = connect(&host.url("/echo")).await;

    let binary: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
    client.send(Message::binary(binary.clone())).await;
    assert_eq!(client.recv().await, Message::binary(binary));

    let text = "ü".repeat(1 << 19); // 1 MiB of two-byte characters
    client.send_text(&text).await;
    assert_eq!(client.recv_text().await, text);
}

#[tokio::test]
async fn fragmented_messages_are_reassembled_before_the_app_sees_them() {
    let host = echo_host();
    let mut client = connect(&host.url("/echo")).await;

    // "héllo wörld" split inside a multi-byte character: UTF-8 is checked
    // on the whole message, not per fragment.
    let whole = "héllo wörld".as_bytes().to_vec();
    let (first, rest) = whole.split_at(2);
    let (middle, last) = rest.split_at(5);
    client
        .send(Message::Frame(Frame::message(
            first.to_vec(),
            OpCode::Data(Data::Text),
            false,
        )))
        .await;
    client
        .send(Message::Frame(Frame::message(
            middle.to_vec(),
            OpCode::Data(Data::Continue),
            false,
        )))
        .await;
    // A ping between fragments is allowed (RFC 6455 5.4) and answered.
    client.send(Message::Ping(b"between".to_vec().into())).await;
    client
        .send(Message::Frame(Frame::message(
            last.to_vec(),
            OpCode::Data(Data::Continue),
            true,
        )))
        .await;
    assert_eq!(client.recv().await, Message::text("héllo wörld"));

    let chunks: Vec<Vec<u8>> = (0..64u8).map(|i| vec![i; 1000]).collect();
    for (index, chunk) in chunks.iter().enumerate() {
        let opcode = if index == 0 {
            OpCode::Data(Data::Binary)
        } else {
            OpCode::Data(Data::Continue)
        };
        let last = index == chunks.len() - 1;
        client
            .send(Message::Frame(Frame::message(chunk.clone(), opcode, last)))
            .await;
    }
    assert_eq!(client.recv().await, Message::binary(chunks.concat()));
}

#[tokio::test]
async fn the_host_answers_pings_itself() {
    let host = echo_host();
    let mut client = connect(&host.url("/echo")).await;
    client
        .send(Message::Ping(b"are you there".to_vec().into()))
        .await;
    client.send_text("after the ping").await;

    let mut saw_pong = false;
    loop {
        use futures::StreamExt;
        let next = tokio::time::timeout(common::PATIENCE, client.socket.next())
            .await
            .expect("reply in time")
            .expect("connection open")
            .expect("valid frame");
        match next {
            Message::Pong(payload) => {
                assert_eq!(&payload[..], b"are you there");
                saw_pong = true;
            }
            Message::Text(text) => {
                assert_eq!(text.as_str(), "after the ping");
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(saw_pong, "the ping was not answered before the echo");
}

#[tokio::test]
async fn many_clients_each_get_only_their_own_replies() {
    let host = echo_host();
    let mut tasks = Vec::new();
    for client_number in 0..20 {
        let url = host.url("/echo");
        tasks.push(tokio::spawn(async move {
            let mut client = connect(&url).await;
            for message_number in 0..50 {
                let text = format!("client {client_number} message {message_number}");
                client.send_text(&text).await;
                assert_eq!(client.recv_text().await, text);
            }
        }));
    }
    for task in tasks {
        task.await.expect("client task");
    }
}

/// A component built against the first release of the contract (0.1.0,
/// before attachments and lifecycle) keeps working: wasmtime matches the
/// host's 0.1.1 interfaces to its 0.1.0 imports.
#[tokio::test]
async fn an_app_built_for_contract_0_1_0_still_runs() {
    let fixture = common::workspace_root().join("host/tests/fixtures/echo-0.1.0.wasm");
    let app = format!("/old={}", fixture.display());
    let host = Host::serve(&["--app", &app]);
    let mut client = connect(&host.url("/old")).await;
    client.send_text("from the past").await;
    assert_eq!(client.recv_text().await, "from the past");
}
