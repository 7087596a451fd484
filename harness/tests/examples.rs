//! The test crate, used as an app author would: against the real example
//! components, each test a story about the app, plus the failures an author
//! would see when the app does not do what the test says.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};

use common::{example, panic_message, stamp};
use switchboard_test::{Connect, HistoryRule, Received, TestApp, json};

#[test]
fn echo_sends_text_and_binary_back_to_their_sender_only() {
    let mut app = TestApp::load(example("echo"));
    let ann = app.connect("/echo");
    let bob = app.connect("/echo");
    app.push(&ann, "hello");
    app.push(&ann, vec![0u8, 159, 146, 150]);
    app.assert_push(&ann, "hello");
    app.assert_push(&ann, vec![0u8, 159, 146, 150]);
    app.refute_push(&ann);
    app.refute_push(&bob);
}

#[test]
fn chat_refuses_a_client_without_a_name_before_the_upgrade() {
    let mut app = TestApp::load(example("chat"));
    app.assert_reject("/chat", 400, "join with ?name=YOUR_NAME");
    app.assert_reject("/chat?name=%20%20", 400, "join with ?name=YOUR_NAME");
}

#[test]
fn a_chat_message_reaches_everyone_but_its_sender() {
    let mut app = TestApp::load(example("chat"));
    let alice = app.connect("/chat?name=alice");
    app.assert_push(
        &alice,
        json!({"type": "welcome", "name": "alice", "members": []}),
    );
    app.assert_log("alice joined");
    let bob = app.connect("/chat?name=bob");
    app.assert_push(&bob, json!({"type": "welcome", "members": ["alice"]}));
    app.assert_push(&alice, json!({"type": "join", "name": "bob"}));
    let carol = app.connect("/chat?name=carol");
    app.assert_push(&carol, json!({"type": "welcome"}));
    app.assert_broadcast(json!({"type": "join", "name": "carol"}), &[&carol]);

    app.push(&alice, "hi all");
    app.assert_broadcast(
        json!({"type": "message", "from": "alice", "text": "hi all"}),
        &[&alice],
    );
    app.refute_push(&alice);
}

#[test]
fn chat_confirms_its_subprotocol_when_offered() {
    let mut app = TestApp::load(example("chat"));
    let plain = app.connect("/chat?name=plain");
    assert_eq!(plain.subprotocol, None);
    let modern = app.connect(
        Connect::to("/chat?name=modern")
            .subprotocol("chat.v2")
            .subprotocol("chat.v1")
            .header("Origin", "https://example.com"),
    );
    assert_eq!(modern.subprotocol.as_deref(), Some("chat.v1"));
}

#[test]
fn quitting_closes_with_goodbye_and_the_room_hears_who_left() {
    let mut app = TestApp::load(example("chat"));
    let alice = app.connect("/chat?name=alice");
    let bob = app.connect("/chat?name=bob");
    app.assert_push(&alice, json!({"type": "welcome"}));
    app.assert_push(&alice, json!({"type": "join"}));
    app.assert_push(&bob, json!({"type": "welcome"}));

    app.push(&bob, "/quit");
    assert_eq!(app.assert_close(&bob, 1000), "goodbye");
    app.assert_push(&alice, json!({"type": "leave", "name": "bob"}));
    app.assert_log("bob left");

    // A client-side close is heard too.
    let carol = app.connect("/chat?name=carol");
    app.assert_push(&alice, json!({"type": "join", "name": "carol"}));
    app.close(&carol, 1001, "tab closed");
    app.assert_push(&alice, json!({"type": "leave", "name": "carol"}));
}

#[test]
fn the_chat_room_survives_a_hot_swap() {
    let chat = std::fs::read(example("chat")).expect("chat was built");
    let mut app = TestApp::load(example("chat"));
    let alice = app.connect("/chat?name=alice");
    app.assert_push(&alice, json!({"type": "welcome"}));

    app.try_swap_to_bytes(&stamp(&chat, 1))
        .expect("the new version takes over");
    app.assert_log("took over a room of 1");
    let bob = app.connect("/chat?name=bob");
    app.assert_push(&bob, json!({"type": "welcome", "members": ["alice"]}));
    app.assert_push(&alice, json!({"type": "join", "name": "bob"}));
    app.push(&alice, "still here");
    app.assert_push(&bob, json!({"type": "message", "from": "alice"}));
}

#[test]
fn versioned_shows_the_swap_under_an_open_connection() {
    let versioned = std::fs::read(example("versioned")).expect("versioned was built");
    let mut app = TestApp::load(example("versioned"));
    let client = app.connect("/v?room=1");
    let before = app.version().to_string();
    app.push(&client, "/note remember me");
    app.assert_push(&client, format!("{before} noted"));

    app.try_swap_to_bytes(&stamp(&versioned, 7))
        .expect("the new version takes over");
    let after = app.version().to_string();
    assert_ne!(before, after);
    app.push(&client, "/note");
    app.assert_push(&client, format!("{after} note: remember me"));
    app.push(&client, "/info");
    app.assert_push(&client, format!("{after} path /v query room=1"));
}

#[test]
fn a_trap_closes_only_its_connection_with_1011() {
    let mut app = TestApp::load(example("fragile"));
    let victim = app.connect("/f");
    let bystander = app.connect("/f");
    let trap = app.expect_trap(|app| app.push(&victim, "panic"));
    assert_eq!(trap.export, "on-message");
    assert!(
        trap.stderr
            .iter()
            .any(|line| line.contains("asked to panic")),
        "the guest's panic message is kept: {trap}"
    );
    assert_eq!(app.assert_close(&victim, 1011), "app error");
    app.push(&bystander, "still served");
    app.assert_push(&bystander, "still served");
}

#[test]
fn a_refused_swap_leaves_the_old_version_serving() {
    let fragile = std::fs::read(example("fragile")).expect("fragile was built");
    let mut app = TestApp::load(example("fragile"));
    let client = app.connect("/f");
    app.push(&client, "refuse-next-restore");
    app.assert_push(&client, "refuse-next-restore");
    let refused = app.try_swap_to_bytes(&stamp(&fragile, 2));
    assert!(
        refused
            .as_ref()
            .is_err_and(|why| why.contains("refused the snapshot")),
        "{refused:?}"
    );
    app.push(&client, "count");
    app.assert_push(&client, "2");
}

// What an author sees when a test fails.

fn failure(test: impl FnOnce()) -> String {
    let failed = catch_unwind(AssertUnwindSafe(test)).expect_err("the assertion fails");
    panic_message(failed)
}

#[test]
fn a_wrong_expectation_shows_what_the_app_sent_instead() {
    let message = failure(|| {
        let mut app = TestApp::load(example("chat"));
        let alice = app.connect(Connect::to("/chat?name=alice").named("alice"));
        app.assert_push(&alice, json!({"type": "welcome", "name": "bob"}));
    });
    assert!(
        message.contains(
            r#"expected "alice" to receive JSON containing {"name":"bob","type":"welcome"}"#
        ),
        "{message}"
    );
    assert!(
        message.contains(
            r#"but the app sent text "{\"members\":[],\"name\":\"alice\",\"type\":\"welcome\"}""#
        ),
        "{message}"
    );
}

#[test]
fn an_unexpected_trap_fails_the_test_with_the_trap_line() {
    let message = failure(|| {
        let mut app = TestApp::load(example("fragile"));
        let client = app.connect("/f");
        app.push(&client, "panic");
    });
    assert!(
        message.contains("the app trapped in on-message"),
        "{message}"
    );
    assert!(message.contains("wasm trap"), "{message}");
    assert!(message.contains("asked to panic"), "{message}");
}

#[test]
fn a_message_that_comes_later_is_pointed_out() {
    let message = failure(|| {
        let mut app = TestApp::load(example("echo"));
        let client = app.connect("/echo");
        app.push(&client, "one");
        app.push(&client, "two");
        app.assert_push(&client, "two");
    });
    assert!(
        message.contains("a match came later, after 1 other message"),
        "{message}"
    );
}

#[test]
fn what_the_app_received_is_returned() {
    let mut app = TestApp::load(example("echo"));
    let client = app.connect("/echo");
    app.push(&client, json!({"n": 1}));
    assert_eq!(
        app.assert_push(&client, json!({"n": 1.0})),
        Received::Text(r#"{"n":1}"#.into())
    );
}

// The example in docs/testing.md, kept true.
#[test]
fn the_example_in_docs_testing_md_holds() {
    let mut app = TestApp::load(example("chat"));
    app.assert_reject("/chat", 400, "join with ?name=YOUR_NAME");

    let alice = app.connect("/chat?name=alice");
    app.assert_push(&alice, json!({"type": "welcome", "members": []}));
    let bob = app.connect(Connect::to("/chat?name=bob").subprotocol("chat.v1"));
    assert_eq!(bob.subprotocol.as_deref(), Some("chat.v1"));
    app.assert_push(&bob, json!({"type": "welcome", "members": ["alice"]}));
    app.assert_push(&alice, json!({"type": "join", "name": "bob"}));

    app.push(&bob, "hi");
    app.assert_broadcast(json!({"type": "message", "from": "bob"}), &[&bob]);
    app.refute_push(&bob);

    app.push(&bob, "/quit");
    assert_eq!(app.assert_close(&bob, 1000), "goodbye");

    app.swap_to(example("chat"));
    app.assert_log("took over a room of 1");
}

#[test]
fn a_rooms_client_that_comes_back_is_sent_what_it_missed() {
    let rooms = HistoryRule {
        prefix: "room:".into(),
        size: 10,
        ttl_seconds: 600,
    };
    let mut app = TestApp::load_with_history(example("rooms"), &[rooms]);
    let ann = app.connect("/rooms?name=ann");
    app.push(&ann, json!({"type": "join", "room": "lobby"}));
    app.assert_push(
        &ann,
        json!({"type": "scrollback", "room": "lobby", "messages": []}),
    );
    app.assert_push(
        &ann,
        json!({"type": "joined", "position": {"epoch": "harness-1", "offset": 0}}),
    );
    app.assert_push(&ann, json!({"type": "join", "name": "ann"}));
    let bob = app.connect("/rooms?name=bob");
    app.push(&bob, json!({"type": "join", "room": "lobby"}));
    app.assert_push(&bob, json!({"type": "scrollback"}));
    app.assert_push(&bob, json!({"type": "joined", "members": ["ann", "bob"]}));
    app.assert_push(&bob, json!({"type": "join", "name": "bob"}));
    app.assert_push(&ann, json!({"type": "join", "name": "bob"}));

    // bob has seen offsets 1 to 2 when his connection drops.
    app.disconnect(&bob);
    app.assert_push(&ann, json!({"type": "leave", "name": "bob"}));
    app.push(
        &ann,
        json!({"type": "message", "room": "lobby", "text": "missed"}),
    );
    app.assert_push(&ann, json!({"type": "message", "text": "missed"}));

    let back = app.connect("/rooms?name=bob");
    app.push(
        &back,
        json!({"type": "join", "room": "lobby", "since": {"epoch": "harness-1", "offset": 2}}),
    );
    app.assert_push(&back, json!({"type": "leave", "name": "bob"}));
    app.assert_push(
        &back,
        json!({"type": "message", "from": "ann", "text": "missed"}),
    );
    app.assert_push(&back, json!({"type": "joined", "recovered": true}));
}
