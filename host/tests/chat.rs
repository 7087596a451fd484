//! The chat app, end to end: a room of real clients.

mod common;

use common::{Host, connect, example, try_connect};
use serde_json::json;

fn chat_host() -> Host {
    let app = format!("/chat={}", example("chat").display());
    Host::serve(&["--app", &app])
}

#[tokio::test]
async fn three_clients_chat() {
    let host = chat_host();

    let mut alice = connect(&host.url("/chat?name=alice")).await;
    assert_eq!(
        alice.recv_json().await,
        json!({"type": "welcome", "name": "alice", "members": []})
    );

    let mut bob = connect(&host.url("/chat?name=bob")).await;
    assert_eq!(
        bob.recv_json().await,
        json!({"type": "welcome", "name": "bob", "members": ["alice"]})
    );
    assert_eq!(
        alice.recv_json().await,
        json!({"type": "join", "name": "bob"})
    );

    let mut carol = connect(&host.url("/chat?name=carol%20c")).await;
    let welcome = carol.recv_json().await;
    assert_eq!(welcome["name"], "carol c");
    let mut members: Vec<String> = serde_json::from_value(welcome["members"].clone()).unwrap();
    members.sort();
    assert_eq!(members, ["alice", "bob"]);
    assert_eq!(
        alice.recv_json().await,
        json!({"type": "join", "name": "carol c"})
    );
    assert_eq!(
        bob.recv_json().await,
        json!({"type": "join", "name": "carol c"})
    );

    bob.send_text("hi all").await;
    let expected = json!({"type": "message", "from": "bob", "text": "hi all"});
    assert_eq!(alice.recv_json().await, expected);
    assert_eq!(carol.recv_json().await, expected);

    // Bob does not hear himself: the next thing he gets is carol's message.
    carol.send_text("hello bob").await;
    assert_eq!(
        bob.recv_json().await,
        json!({"type": "message", "from": "carol c", "text": "hello bob"})
    );
    assert_eq!(
        alice.recv_json().await,
        json!({"type": "message", "from": "carol c", "text": "hello bob"})
    );
}

#[tokio::test]
async fn a_client_without_a_name_is_refused_with_400() {
    let host = chat_host();
    let refused = try_connect(&host.url("/chat"))
        .await
        .err()
        .expect("refused");
    assert_eq!(refused.status, 400);
    assert!(refused.body.contains("name"), "body: {}", refused.body);

    let refused = try_connect(&host.url("/chat?name=%20%20"))
        .await
        .err()
        .expect("refused");
    assert_eq!(refused.status, 400);
}

#[tokio::test]
async fn on_close_runs_when_a_client_vanishes_without_a_close_frame() {
    let host = chat_host();
    let mut alice = connect(&host.url("/chat?name=alice")).await;
    alice.recv_json().await; // welcome
    let bob = connect(&host.url("/chat?name=bob")).await;
    assert_eq!(
        alice.recv_json().await,
        json!({"type": "join", "name": "bob"})
    );

    // Dropping the socket closes TCP with no WebSocket close frame.
    drop(bob);
    assert_eq!(
        alice.recv_json().await,
        json!({"type": "leave", "name": "bob"})
    );
}

#[tokio::test]
async fn on_close_runs_after_a_clean_close() {
    let host = chat_host();
    let mut alice = connect(&host.url("/chat?name=alice")).await;
    alice.recv_json().await;
    let mut bob = connect(&host.url("/chat?name=bob")).await;
    bob.recv_json().await;
    alice.recv_json().await; // bob joined

    bob.socket.close(None).await.expect("close");
    assert_eq!(
        alice.recv_json().await,
        json!({"type": "leave", "name": "bob"})
    );
}

#[tokio::test]
async fn the_app_can_close_a_connection_and_still_hears_on_close() {
    let host = chat_host();
    let mut alice = connect(&host.url("/chat?name=alice")).await;
    alice.recv_json().await;
    let mut bob = connect(&host.url("/chat?name=bob")).await;
    bob.recv_json().await;
    alice.recv_json().await; // bob joined

    bob.send_text("/quit").await;
    assert_eq!(bob.expect_close().await, (1000, "goodbye".to_string()));
    assert_eq!(
        alice.recv_json().await,
        json!({"type": "leave", "name": "bob"})
    );
}

#[tokio::test]
async fn the_app_confirms_a_subprotocol_it_speaks() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let host = chat_host();

    let mut request = host.url("/chat?name=alice").into_client_request().unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "chat.v2, chat.v1".parse().unwrap(),
    );
    let (_socket, response) = tokio_tungstenite::connect_async(request)
        .await
        .expect("connects");
    assert_eq!(response.headers()["sec-websocket-protocol"], "chat.v1");

    // Without an offer, none is confirmed.
    let (_socket, response) = tokio_tungstenite::connect_async(host.url("/chat?name=bob"))
        .await
        .expect("connects");
    assert!(response.headers().get("sec-websocket-protocol").is_none());
}
