//! Topics, presence and history, as users of the rooms example meet them
//! (examples/rooms/rust): rooms are topics, who is in a room is the host's
//! presence, catching up after a lost connection is the host's history, and
//! the scrollback is the room's last 50 messages, which the app keeps in
//! its key-value store so that they outlive a host restart. The app keeps
//! nothing in its own memory, so every story here also holds across a hot
//! swap.

mod common;

use std::path::PathBuf;

use common::raw::{self, RawClient, TEXT};
use common::{Client, Host, connect, example, scratch_dir, stamp, try_connect, version_of};
use serde_json::{Value, json};

/// A config serving the rooms example on /rooms, keeping the last
/// `history` publications of every room, with `extra` appended (more
/// `[limits]`, another app).
fn rooms_config(history: usize, extra: &str) -> PathBuf {
    let dir = scratch_dir("topics");
    let config = dir.join("switchboard.toml");
    let rooms = example("rooms");
    let history = if history > 0 {
        format!("[[apps.history]]\nprefix = \"room:\"\nsize = {history}\nttl_seconds = 600\n")
    } else {
        String::new()
    };
    std::fs::write(
        &config,
        format!(
            "[deploy]\ndata_dir = \"data\"\n\n\
             [[apps]]\nname = \"rooms\"\nroute = \"/rooms\"\nmodule = {rooms:?}\n{history}\n{extra}"
        ),
    )
    .expect("write the config");
    config
}

fn serve(history: usize, extra: &str) -> Host {
    Host::serve_config_with_admin(&rooms_config(history, extra), &[])
}

/// A rooms client that has joined one room, and what it was told.
struct Member {
    client: Client,
    scrollback: Vec<Value>,
    joined: Value,
}

async fn join(host: &Host, name: &str, room: &str) -> Member {
    let mut client = connect(&host.url(&format!("/rooms?name={name}"))).await;
    client
        .send_text(&json!({"type": "join", "room": room}).to_string())
        .await;
    let scrollback = client.recv_json().await;
    assert_eq!(scrollback["type"], "scrollback", "{scrollback}");
    let joined = client.recv_json().await;
    assert_eq!(joined["type"], "joined", "{joined}");
    // Its own arrival, published to the room like anyone's.
    let notice = client.recv_json().await;
    assert_eq!(notice, json!({"type": "join", "room": room, "name": name}));
    Member {
        client,
        scrollback: scrollback["messages"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
        joined,
    }
}

async fn say(client: &mut Client, room: &str, text: &str) {
    client
        .send_text(&json!({"type": "message", "room": room, "text": text}).to_string())
        .await;
}

fn message(room: &str, from: &str, text: &str) -> Value {
    json!({"type": "message", "room": room, "from": from, "text": text})
}

fn names(joined: &Value) -> Vec<String> {
    joined["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|name| name.as_str().expect("a name").to_string())
        .collect()
}

#[tokio::test]
async fn a_room_hears_its_members_and_nobody_else_does() {
    let host = serve(100, "");
    let mut ann = join(&host, "ann", "lobby").await;
    assert_eq!(names(&ann.joined), ["ann"]);
    assert!(ann.scrollback.is_empty());

    let mut bob = join(&host, "bob", "lobby").await;
    assert_eq!(names(&bob.joined), ["ann", "bob"], "in the order they came");
    assert_eq!(
        ann.client.recv_json().await,
        json!({"type": "join", "room": "lobby", "name": "bob"})
    );
    let mut cy = join(&host, "cy", "kitchen").await;

    say(&mut ann.client, "lobby", "hello").await;
    assert_eq!(
        ann.client.recv_json().await,
        message("lobby", "ann", "hello")
    );
    assert_eq!(
        bob.client.recv_json().await,
        message("lobby", "ann", "hello")
    );

    // cy is in another room: the next thing cy hears is its own room.
    say(&mut cy.client, "kitchen", "anyone?").await;
    assert_eq!(
        cy.client.recv_json().await,
        message("kitchen", "cy", "anyone?")
    );

    // Typing notices reach the room, on a topic of their own.
    bob.client
        .send_text(&json!({"type": "typing", "room": "lobby"}).to_string())
        .await;
    let typing = json!({"type": "typing", "room": "lobby", "name": "bob"});
    assert_eq!(ann.client.recv_json().await, typing);

    // Talking in a room one is not in is refused.
    say(&mut cy.client, "lobby", "sneaking in").await;
    assert_eq!(cy.client.recv_json().await["type"], "error");
}

#[tokio::test]
async fn a_connection_that_ends_leaves_its_rooms_and_the_others_are_told() {
    let host = serve(100, "");
    let mut ann = join(&host, "ann", "lobby").await;
    let bob = join(&host, "bob", "lobby").await;
    ann.client.recv_json().await; // bob joined

    drop(bob);
    assert_eq!(
        ann.client.recv_json().await,
        json!({"type": "leave", "room": "lobby", "name": "bob"})
    );
    let cy = join(&host, "cy", "lobby").await;
    assert_eq!(names(&cy.joined), ["ann", "cy"]);
}

/// The scrollback is the room's last 50 messages, however few the topic's
/// history keeps: the app keeps them in its key-value store.
#[tokio::test]
async fn a_newcomer_sees_the_rooms_last_50_messages() {
    let host = serve(3, "");
    let mut ann = join(&host, "ann", "lobby").await;
    let mut said = vec![json!({"type": "join", "room": "lobby", "name": "ann"})];
    for n in 1..=60 {
        let text = format!("message {n}");
        say(&mut ann.client, "lobby", &text).await;
        ann.client.recv_json().await;
        said.push(message("lobby", "ann", &text));
    }
    let bob = join(&host, "bob", "lobby").await;
    // ann's join notice and her first ten messages are gone.
    assert_eq!(bob.scrollback, said[11..]);
    assert_eq!(bob.joined["position"]["offset"], 61);
}

/// The last position a member has seen in `room`: where it joined, plus
/// the room's publications it received since.
fn position_after(joined: &Value, received: u64) -> Value {
    let position = &joined["position"];
    json!({
        "epoch": position["epoch"],
        "offset": position["offset"].as_u64().expect("an offset") + received,
    })
}

#[tokio::test]
async fn a_client_that_comes_back_gets_exactly_what_it_missed_then_live_messages() {
    let host = serve(100, "");
    let mut ann = join(&host, "ann", "lobby").await;
    let mut bob = join(&host, "bob", "lobby").await;
    ann.client.recv_json().await; // bob joined
    say(&mut ann.client, "lobby", "before").await;
    ann.client.recv_json().await;
    assert_eq!(
        bob.client.recv_json().await,
        message("lobby", "ann", "before")
    );

    // bob has seen his own join and "before" since he joined; then his
    // network goes.
    let seen = position_after(&bob.joined, 2);
    drop(bob);
    assert_eq!(ann.client.recv_json().await["type"], "leave");
    for text in ["missed 1", "missed 2", "missed 3"] {
        say(&mut ann.client, "lobby", text).await;
        ann.client.recv_json().await;
    }

    let mut back = connect(&host.url("/rooms?name=bob")).await;
    back.send_text(&json!({"type": "join", "room": "lobby", "since": seen}).to_string())
        .await;
    // What he missed, once each, in order: his own leave, then ann's.
    assert_eq!(
        back.recv_json().await,
        json!({"type": "leave", "room": "lobby", "name": "bob"})
    );
    for text in ["missed 1", "missed 2", "missed 3"] {
        assert_eq!(back.recv_json().await, message("lobby", "ann", text));
    }
    let joined = back.recv_json().await;
    assert_eq!(joined["type"], "joined");
    assert_eq!(joined["recovered"], true);
    assert_eq!(
        joined["position"],
        position_after(&json!({"position": seen}), 4)
    );
    // Then live: his return, and the next message.
    assert_eq!(back.recv_json().await["type"], "join");
    say(&mut ann.client, "lobby", "welcome back").await;
    assert_eq!(
        back.recv_json().await,
        message("lobby", "ann", "welcome back")
    );
}

#[tokio::test]
async fn a_client_too_far_behind_is_told_so_and_starts_over() {
    let host = serve(2, "");
    let mut ann = join(&host, "ann", "lobby").await;
    let seen = position_after(&ann.joined, 1);
    for text in ["a", "b", "c"] {
        say(&mut ann.client, "lobby", text).await;
        ann.client.recv_json().await;
    }
    // History keeps two: "a" is gone, so catching up from before it is
    // impossible. The client starts over from the scrollback, which the
    // app keeps for longer.
    let mut late = connect(&host.url("/rooms?name=late")).await;
    late.send_text(&json!({"type": "join", "room": "lobby", "since": seen}).to_string())
        .await;
    let scrollback = late.recv_json().await;
    assert_eq!(scrollback["type"], "scrollback");
    assert_eq!(
        scrollback["messages"],
        json!([
            {"type": "join", "room": "lobby", "name": "ann"},
            message("lobby", "ann", "a"),
            message("lobby", "ann", "b"),
            message("lobby", "ann", "c"),
        ])
    );
    let joined = late.recv_json().await;
    assert_eq!(joined["recovered"], false);
    assert_eq!(joined["position"]["offset"], 4);

    // A position from another life of the room (a restarted host) is
    // not recoverable either.
    let mut stranger = connect(&host.url("/rooms?name=stranger")).await;
    let elsewhere = json!({"epoch": "another-host-1", "offset": 2});
    stranger
        .send_text(&json!({"type": "join", "room": "lobby", "since": elsewhere}).to_string())
        .await;
    assert_eq!(stranger.recv_json().await["type"], "scrollback");
    assert_eq!(stranger.recv_json().await["recovered"], false);
}

#[tokio::test]
async fn a_hot_swap_keeps_every_room_its_members_and_its_history() {
    let host = serve(100, "");
    let mut ann = join(&host, "ann", "lobby").await;
    let mut bob = join(&host, "bob", "lobby").await;
    ann.client.recv_json().await;
    say(&mut ann.client, "lobby", "before the swap").await;
    ann.client.recv_json().await;
    bob.client.recv_json().await;

    let next = stamp(&std::fs::read(example("rooms")).expect("rooms.wasm"), 1);
    let (status, answer) = host
        .admin_request("PUT", "/apps/rooms", Some(next.clone()))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["active_version"], version_of(&next).as_str());

    // The new version has no memory of its own, and needs none.
    say(&mut bob.client, "lobby", "after the swap").await;
    assert_eq!(
        ann.client.recv_json().await,
        message("lobby", "bob", "after the swap")
    );
    let cy = join(&host, "cy", "lobby").await;
    assert_eq!(names(&cy.joined), ["ann", "bob", "cy"]);
    assert_eq!(
        cy.scrollback[cy.scrollback.len() - 2..],
        [
            message("lobby", "ann", "before the swap"),
            message("lobby", "bob", "after the swap"),
        ]
    );
}

/// A host that restarts has lost every topic's history (it was in
/// memory): the lobby starts a new epoch. Its last 50 messages are still
/// there for the next newcomer, kept on disk by the app; a client that
/// comes back with a position from before the restart starts over from
/// them.
#[tokio::test]
async fn a_room_keeps_its_last_50_messages_across_a_host_restart() {
    let config = rooms_config(100, "");
    let mut host = Host::serve_config_with_admin(&config, &[]);
    let mut ann = join(&host, "ann", "lobby").await;
    let mut said = vec![json!({"type": "join", "room": "lobby", "name": "ann"})];
    for n in 1..=60 {
        let text = format!("message {n}");
        say(&mut ann.client, "lobby", &text).await;
        ann.client.recv_json().await;
        said.push(message("lobby", "ann", &text));
    }
    // ann leaves; her next message being refused shows the leave, and its
    // notice, came first.
    ann.client
        .send_text(&json!({"type": "leave", "room": "lobby"}).to_string())
        .await;
    said.push(json!({"type": "leave", "room": "lobby", "name": "ann"}));
    say(&mut ann.client, "lobby", "still there?").await;
    assert_eq!(
        ann.client.recv_json().await,
        json!({"type": "error", "text": "join the room first"})
    );
    let before = ann.joined["position"].clone();
    drop(ann);
    host.terminate();
    assert!(host.wait().success(), "{}", host.log());

    let host = Host::serve_config_with_admin(&config, &[]);
    let bob = join(&host, "bob", "lobby").await;
    assert_eq!(bob.scrollback, said[said.len() - 50..]);
    assert_eq!(names(&bob.joined), ["bob"]);
    assert_ne!(bob.joined["position"]["epoch"], before["epoch"]);
    assert_eq!(bob.joined["position"]["offset"], 0);
    said.push(json!({"type": "join", "room": "lobby", "name": "bob"}));

    let mut back = connect(&host.url("/rooms?name=ann")).await;
    let seen = position_after(&json!({"position": before}), 62);
    back.send_text(&json!({"type": "join", "room": "lobby", "since": seen}).to_string())
        .await;
    assert_eq!(
        back.recv_json().await,
        json!({"type": "scrollback", "room": "lobby", "messages": said[said.len() - 50..]})
    );
    let joined = back.recv_json().await;
    assert_eq!(joined["recovered"], false);
    assert_eq!(
        joined["position"],
        json!({"epoch": bob.joined["position"]["epoch"], "offset": 1}),
        "after bob's join"
    );
}

#[tokio::test]
async fn two_apps_with_the_same_room_names_never_meet() {
    let rooms = example("rooms");
    let host = serve(
        100,
        &format!("[[apps]]\nname = \"other\"\nroute = \"/other\"\nmodule = {rooms:?}\n"),
    );
    let mut ann = join(&host, "ann", "lobby").await;
    let mut stranger = connect(&host.url("/other?name=mallory")).await;
    stranger
        .send_text(&json!({"type": "join", "room": "lobby"}).to_string())
        .await;
    assert_eq!(stranger.recv_json().await["messages"], json!([]));
    let joined = stranger.recv_json().await;
    assert_eq!(names(&joined), ["mallory"]);
    stranger.recv_json().await; // its own join
    say(&mut stranger, "lobby", "hello?").await;
    assert_eq!(stranger.recv_json().await["text"], "hello?");
    say(&mut ann.client, "lobby", "hi").await;
    // ann hears herself, not mallory.
    assert_eq!(ann.client.recv_json().await, message("lobby", "ann", "hi"));
}

#[tokio::test]
async fn topic_limits_are_clear_errors_to_the_app() {
    let host = serve(
        100,
        "[limits]\nmax_topics_per_connection = 2\nmax_presence_info_bytes = 8\n",
    );
    // One room is two topics (the room and its typing notices).
    let mut ann = join(&host, "ann", "lobby").await;
    ann.client
        .send_text(&json!({"type": "join", "room": "kitchen"}).to_string())
        .await;
    assert_eq!(ann.client.recv_json().await["type"], "scrollback");
    assert_eq!(
        ann.client.recv_json().await,
        json!({"type": "error", "text": "you are in too many rooms; leave one first"})
    );
    let mut long = connect(&host.url("/rooms?name=bartholomew")).await;
    long.send_text(&json!({"type": "join", "room": "lobby"}).to_string())
        .await;
    assert_eq!(long.recv_json().await["type"], "scrollback");
    assert_eq!(
        long.recv_json().await,
        json!({"type": "error", "text": "that name is too long"})
    );
}

#[tokio::test]
async fn a_history_rule_that_makes_no_sense_is_refused_at_startup() {
    let config = rooms_config(0, "[[apps.history]]\nprefix = \"room:\"\nsize = 0\n");
    let (status, _stdout, stderr) =
        common::run_switchboard(&["serve", "--config", config.to_str().expect("utf-8")]);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("apps[0]: history[0] (prefix \"room:\"): size must be from 1 to"),
        "{stderr}"
    );
}

/// A component built for contract 0.1.1 (attachments and lifecycle, before
/// topics) still links and keeps its room across a hot swap.
#[tokio::test]
async fn an_app_built_for_contract_0_1_1_still_runs() {
    let fixture = common::workspace_root().join("host/tests/fixtures/chat-0.1.1.wasm");
    let app = format!("/chat={}", fixture.display());
    let host = Host::serve(&["--app", &app]);
    let mut ann = connect(&host.url("/chat?name=ann")).await;
    assert_eq!(ann.recv_json().await["type"], "welcome");
    let mut bob = connect(&host.url("/chat?name=bob")).await;
    bob.recv_json().await;
    assert_eq!(ann.recv_json().await["name"], "bob");
    bob.send_text("from 0.1.1").await;
    assert_eq!(ann.recv_json().await["text"], "from 0.1.1");
    assert!(try_connect(&host.url("/chat")).await.is_err());
}

/// A component built for contract 0.1.2 (topics, before timers, kv and
/// feeds) still links: it imports less and lacks the newer exports.
#[tokio::test]
async fn an_app_built_for_contract_0_1_2_still_runs() {
    let fixture = common::workspace_root().join("host/tests/fixtures/rooms-0.1.2.wasm");
    let app = format!("/rooms={}", fixture.display());
    let host = Host::serve(&["--app", &app]);
    let mut ann = join(&host, "ann", "lobby").await;
    let mut bob = join(&host, "bob", "lobby").await;
    assert_eq!(ann.client.recv_json().await["name"], "bob");
    say(&mut bob.client, "lobby", "from 0.1.2").await;
    assert_eq!(
        ann.client.recv_json().await,
        message("lobby", "bob", "from 0.1.2")
    );
}

#[tokio::test]
async fn a_subscriber_that_never_reads_is_closed_and_the_room_gets_everything() {
    let host = serve(
        0,
        "[limits]\nmax_outbox_bytes = 1048576\nclose_timeout_ms = 1000\n",
    );
    let mut reader = join(&host, "reader", "lobby").await;
    let mut stalled = RawClient::upgrade(&host.address, "/rooms?name=stalled", &[]).await;
    let join_lobby = json!({"type": "join", "room": "lobby"}).to_string();
    stalled
        .send_bytes(&raw::encode(true, 0, TEXT, join_lobby.as_bytes(), true))
        .await;
    assert_eq!(reader.client.recv_json().await["name"], "stalled");
    let mut writer = join(&host, "writer", "lobby").await;
    assert_eq!(reader.client.recv_json().await["name"], "writer");

    // 600 x 32 KiB: far more than the stalled client's socket buffers and
    // outbox hold. The writer hears its own messages too, so it reads as
    // it goes, eight at a time.
    let padding = "x".repeat(32 * 1024);
    let mut heard = Vec::new();
    let mut notices = Vec::new();
    for batch in 0..75 {
        for n in batch * 8..batch * 8 + 8 {
            say(&mut writer.client, "lobby", &format!("{n} {padding}")).await;
        }
        for (is_reader, client) in [(false, &mut writer.client), (true, &mut reader.client)] {
            let mut got = 0;
            while got < 8 {
                let next = client.recv_json().await;
                if next["type"] != "message" {
                    notices.push(next);
                    continue;
                }
                got += 1;
                if is_reader {
                    let text = next["text"].as_str().expect("text");
                    heard.push(text.split(' ').next().map(str::to_string));
                }
            }
        }
    }
    let in_order: Vec<Option<String>> = (0..600).map(|n| Some(n.to_string())).collect();
    assert_eq!(heard, in_order, "the reader got every message, in order");
    host.wait_for_log("outbox full, closing the slow connection");
    // Once it is gone, its leave is a notice like any other.
    while !notices
        .iter()
        .any(|notice| *notice == json!({"type": "leave", "room": "lobby", "name": "stalled"}))
    {
        notices.push(reader.client.recv_json().await);
    }
}
