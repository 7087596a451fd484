//! Broadcast and the built-in apps: what one connection sends reaches every
//! other one, and the native baseline the benchmark compares components
//! against behaves exactly like the components it stands in for.

mod common;

use common::{Host, connect, example, run_switchboard};
use tokio_tungstenite::tungstenite::Message;

fn component_host() -> Host {
    let echo = format!("/echo={}", example("echo").display());
    let broadcast = format!("/broadcast={}", example("broadcast").display());
    Host::serve(&["--app", &echo, "--app", &broadcast])
}

fn native_host() -> Host {
    Host::serve(&[
        "--native-app",
        "/echo=echo",
        "--native-app",
        "/broadcast=broadcast",
    ])
}

/// Three subscribers and a publisher: every subscriber gets every message
/// in order, and the publisher never hears its own.
async fn every_other_connection_gets_each_message(host: &Host) {
    let url = host.url("/broadcast");
    let mut publisher = connect(&url).await;
    let mut subscribers = vec![
        connect(&url).await,
        connect(&url).await,
        connect(&url).await,
    ];

    publisher.send_text("tick 1").await;
    publisher.send(Message::binary(vec![2u8, 0, 255])).await;
    for subscriber in &mut subscribers {
        assert_eq!(subscriber.recv().await, Message::text("tick 1"));
        assert_eq!(subscriber.recv().await, Message::binary(vec![2u8, 0, 255]));
    }

    // A subscriber speaks: the publisher's next message is that one, so it
    // never got its own two.
    subscribers[0].send_text("from a subscriber").await;
    assert_eq!(publisher.recv_text().await, "from a subscriber");
    for subscriber in &mut subscribers[1..] {
        assert_eq!(subscriber.recv_text().await, "from a subscriber");
    }
}

/// Through a topic: only its subscribers hear the publisher, and one that
/// left hears nothing more. The benchmark compares this with broadcast.
async fn a_topic_reaches_its_subscribers_only(host: &Host) {
    let mut publisher = connect(&host.url("/broadcast?publish=ticks")).await;
    let mut subscriber = connect(&host.url("/broadcast?topic=ticks")).await;
    let mut other = connect(&host.url("/broadcast?topic=other")).await;
    let mut leaver = connect(&host.url("/broadcast?topic=ticks")).await;
    publisher.send_text("tick 1").await;
    assert_eq!(subscriber.recv_text().await, "tick 1");
    assert_eq!(leaver.recv_text().await, "tick 1");
    drop(leaver);
    publisher.send_text("tick 2").await;
    publisher.send_text("tick 3").await;
    assert_eq!(subscriber.recv_text().await, "tick 2");
    assert_eq!(subscriber.recv_text().await, "tick 3");
    // `other` heard none of it: the first thing it hears is its own topic.
    let mut other_publisher = connect(&host.url("/broadcast?publish=other")).await;
    other_publisher.send_text("elsewhere").await;
    assert_eq!(other.recv_text().await, "elsewhere");

    // A late joiner that asks for its position is told where the topic
    // stands (three ticks published), then hears what comes next; the
    // benchmark's reconnecting client counts from that position.
    let mut late = connect(&host.url("/broadcast?topic=ticks&position=1")).await;
    let position: serde_json::Value =
        serde_json::from_str(&late.recv_text().await).expect("the position is JSON");
    assert_eq!(position["offset"], 3, "{position}");
    let epoch = position["epoch"].as_str().expect("the epoch is a string");
    assert!(!epoch.is_empty(), "{position}");
    publisher.send_text("tick 4").await;
    assert_eq!(late.recv_text().await, "tick 4");
    assert_eq!(subscriber.recv_text().await, "tick 4");
    // Resuming from there with nothing missed: the same epoch, one more
    // publication, and only live messages after it.
    let resume = format!("/broadcast?topic=ticks&epoch={epoch}&offset=4&position=1");
    let mut resumed = connect(&host.url(&resume)).await;
    let position: serde_json::Value =
        serde_json::from_str(&resumed.recv_text().await).expect("the position is JSON");
    assert_eq!(position["epoch"], epoch, "{position}");
    assert_eq!(position["offset"], 4, "{position}");
    publisher.send_text("tick 5").await;
    assert_eq!(resumed.recv_text().await, "tick 5");
}

async fn echo_answers_its_sender_only(host: &Host) {
    let mut client = connect(&host.url("/echo")).await;
    let mut bystander = connect(&host.url("/echo")).await;
    client.send_text("hello").await;
    assert_eq!(client.recv_text().await, "hello");
    client.send(Message::binary(vec![0u8, 1])).await;
    assert_eq!(client.recv().await, Message::binary(vec![0u8, 1]));
    bystander.send_text("mine").await;
    assert_eq!(bystander.recv_text().await, "mine");
}

#[tokio::test]
async fn the_broadcast_component_reaches_every_other_connection() {
    let host = component_host();
    every_other_connection_gets_each_message(&host).await;
    a_topic_reaches_its_subscribers_only(&host).await;
}

#[tokio::test]
async fn native_apps_behave_like_their_components() {
    let host = native_host();
    every_other_connection_gets_each_message(&host).await;
    a_topic_reaches_its_subscribers_only(&host).await;
    echo_answers_its_sender_only(&host).await;
}

#[tokio::test]
async fn native_apps_close_their_clients_on_shutdown_like_any_app() {
    let host = native_host();
    let mut client = connect(&host.url("/echo")).await;
    host.terminate();
    let (code, _) = client.expect_close().await;
    assert_eq!(code, 1001);
}

#[test]
fn an_unknown_native_app_is_refused_with_the_list_of_built_in_ones() {
    let (status, _, stderr) = run_switchboard(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--native-app",
        "/x=chat",
    ]);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("no built-in app is called \"chat\" (there are: echo, broadcast)"),
        "{stderr}"
    );
}

#[test]
fn a_native_app_cannot_share_a_route_with_a_component() {
    let echo = format!("/echo={}", example("echo").display());
    let (status, _, stderr) = run_switchboard(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--app",
        &echo,
        "--native-app",
        "/echo=echo",
    ]);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("two apps"), "{stderr}");
}

#[tokio::test]
async fn nothing_can_be_deployed_over_a_native_app() {
    let host = Host::serve_with_admin(&["--native-app", "/echo=echo"]);
    let component = std::fs::read(example("echo")).expect("echo.wasm was built");
    let (status, body) = host
        .admin_request("PUT", "/apps/echo", Some(component))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("built-in app"), "{body}");
    // And it still serves.
    echo_answers_its_sender_only(&host).await;
}
