//! Any Wasm language, first class: the chat and echo examples exist in Rust,
//! JavaScript and Python, each built the way an app author builds it
//! (`switchboard build`, through the test helper), and each must behave the
//! same for a real client of a real host: the same wire protocol, the same
//! refusals, the same closes, the same room kept across a hot swap. One story
//! per app, told to every language; a language that differs fails here.

mod common;

use common::{ADMIN_TOKEN, Client, Host, connect, example, stamp, try_connect, version_of};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

/// Every language an example exists in, by the suffix its name takes.
const LANGUAGES: &[&str] = &["", "-js", "-py"];

/// One host serving `app` in every language, on `/app`, `/app-js`, `/app-py`.
fn host_of_every(app: &str, admin: bool) -> (Host, Vec<String>) {
    let names: Vec<String> = LANGUAGES
        .iter()
        .map(|suffix| format!("{app}{suffix}"))
        .collect();
    let mut args = Vec::new();
    for name in &names {
        args.push("--app".to_string());
        args.push(format!("/{name}={}", example(name).display()));
    }
    let code_cache = common::code_cache();
    let mut env = vec![
        ("RUST_LOG", "warn,guest=info"),
        // Each JavaScript or Python component compiles once per test run.
        (
            "SWITCHBOARD_CODE_CACHE_DIR",
            code_cache.to_str().expect("a UTF-8 path"),
        ),
    ];
    if admin {
        args.extend(["--admin-listen".to_string(), "127.0.0.1:0".to_string()]);
        env.push(("SWITCHBOARD_ADMIN_TOKEN", ADMIN_TOKEN));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    (Host::serve_with_env(&args, &env), names)
}

/// The scenarios each example ships for `switchboard test`
/// (examples/APP/tests/*.toml, written against the Rust app) pass against
/// its JavaScript and Python twins unchanged.
#[test]
fn every_language_passes_the_scenarios_its_example_ships() {
    let root = common::workspace_root();
    for app in ["chat", "echo"] {
        let dir = root.join("examples").join(app).join("tests");
        let mut scenarios: Vec<String> = std::fs::read_dir(&dir)
            .expect("the example's tests folder")
            .map(|entry| entry.expect("an entry").path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
            .map(|path| path.to_str().expect("a UTF-8 path").to_string())
            .collect();
        scenarios.sort();
        for suffix in ["-js", "-py"] {
            let component = example(&format!("{app}{suffix}"));
            let mut args = vec!["test", component.to_str().expect("a UTF-8 path")];
            args.extend(scenarios.iter().map(String::as_str));
            let (status, stdout, stderr) = common::run_switchboard(&args);
            assert!(status.success(), "{app}{suffix}:\n{stdout}\n{stderr}");
            assert!(
                stdout.contains(&format!("{} passed, 0 failed", scenarios.len())),
                "{app}{suffix}:\n{stdout}"
            );
        }
    }
}

#[tokio::test]
async fn every_language_echoes_text_as_text_and_binary_as_binary() {
    let (host, routes) = host_of_every("echo", false);
    for route in &routes {
        let mut client = connect(&host.url(&format!("/{route}"))).await;
        client.send_text("héllo").await;
        assert_eq!(client.recv().await, Message::text("héllo"), "{route}");
        let bytes = vec![0u8, 1, 2, 254, 255];
        client.send(Message::binary(bytes.clone())).await;
        assert_eq!(client.recv().await, Message::binary(bytes), "{route}");
        client.send_text("").await;
        assert_eq!(client.recv().await, Message::text(""), "{route}");
    }
}

/// One host for the whole story, swap included: each JavaScript or Python
/// component takes tens of seconds to compile on a busy machine.
#[tokio::test]
async fn every_language_tells_the_same_chat_story_and_keeps_its_room_across_a_hot_swap() {
    let (host, routes) = host_of_every("chat", true);
    for route in &routes {
        let (alice, dave) = chat_story(&host, route).await;
        room_survives_a_swap(&host, route, alice, dave).await;
    }
    let took_over = host.log().matches("took over a room of 2").count();
    assert_eq!(took_over, routes.len(), "{}", host.log());
}

/// Returns the two clients still in the room at the end.
async fn chat_story(host: &Host, route: &str) -> (Client, Client) {
    let url = |query: &str| host.url(&format!("/{route}{query}"));

    // Without a name, or with a blank or too long one: 400 before the upgrade.
    let refused = try_connect(&url("")).await.err().expect("refused");
    assert_eq!(
        (refused.status, refused.body.as_str()),
        (400, "join with ?name=YOUR_NAME"),
        "{route}"
    );
    let refused = try_connect(&url("?name=%20%20"))
        .await
        .err()
        .expect("refused");
    assert_eq!(refused.status, 400, "{route}");
    let long = "é".repeat(65);
    let refused = try_connect(&url(&format!("?name={long}")))
        .await
        .err()
        .expect("refused");
    assert_eq!(
        (refused.status, refused.body.as_str()),
        (400, "that name is too long"),
        "{route}"
    );
    let mut alice = connect(&url("?name=alice")).await;
    assert_eq!(
        alice.recv_json().await,
        json!({"type": "welcome", "name": "alice", "members": []}),
        "{route}"
    );

    // 64 characters is fine (the cap counts characters, not bytes). Its
    // leave notice is how alice knows it is gone from the room: a client
    // sees the connection end before the app hears of it.
    let longest_name = "é".repeat(64);
    let mut longest = connect(&url(&format!("?name={longest_name}"))).await;
    assert_eq!(longest.recv_json().await["name"], longest_name, "{route}");
    assert_eq!(
        alice.recv_json().await,
        json!({"type": "join", "name": longest_name}),
        "{route}"
    );
    longest.send_text("/quit").await;
    assert_eq!(
        longest.expect_close().await,
        (1000, "goodbye".to_string()),
        "{route}"
    );
    assert_eq!(
        alice.recv_json().await,
        json!({"type": "leave", "name": longest_name}),
        "{route}"
    );

    let mut bob = connect(&url("?name=bob%20b")).await;
    assert_eq!(
        bob.recv_json().await,
        json!({"type": "welcome", "name": "bob b", "members": ["alice"]}),
        "{route}"
    );
    assert_eq!(
        alice.recv_json().await,
        json!({"type": "join", "name": "bob b"}),
        "{route}"
    );

    // A message goes to everyone else, not back to its sender.
    bob.send_text("hi ✓").await;
    assert_eq!(
        alice.recv_json().await,
        json!({"type": "message", "from": "bob b", "text": "hi ✓"}),
        "{route}"
    );
    alice.send_text("hello").await;
    assert_eq!(
        bob.recv_json().await,
        json!({"type": "message", "from": "alice", "text": "hello"}),
        "{route}"
    );

    // Binary is answered with an error, to the sender only.
    alice.send(Message::binary(vec![1, 2, 3])).await;
    assert_eq!(
        alice.recv_json().await,
        json!({"type": "error", "text": "chat messages are text"}),
        "{route}"
    );

    // `/quit` closes with 1000 "goodbye", and the room hears the leave.
    bob.send_text(" /quit ").await;
    assert_eq!(
        bob.expect_close().await,
        (1000, "goodbye".to_string()),
        "{route}"
    );
    assert_eq!(
        alice.recv_json().await,
        json!({"type": "leave", "name": "bob b"}),
        "{route}"
    );

    // A client that offers chat.v1 gets it confirmed; one that does not, none.
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = url("?name=carol").into_client_request().expect("a request");
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "chat.v2, chat.v1".parse().expect("a header value"),
    );
    let (carol, response) = tokio_tungstenite::connect_async(request)
        .await
        .expect("connects");
    assert_eq!(
        response.headers()["sec-websocket-protocol"],
        "chat.v1",
        "{route}"
    );
    assert_eq!(
        alice.recv_json().await,
        json!({"type": "join", "name": "carol"}),
        "{route}"
    );
    let (dave, response) = tokio_tungstenite::connect_async(url("?name=dave"))
        .await
        .expect("connects");
    assert!(
        response.headers().get("sec-websocket-protocol").is_none(),
        "{route}"
    );
    assert_eq!(
        alice.recv_json().await,
        json!({"type": "join", "name": "dave"}),
        "{route}"
    );
    let mut dave = Client { socket: dave };
    assert_eq!(dave.recv_json().await["type"], "welcome", "{route}");

    // A client that vanishes without a close frame leaves too.
    drop(carol);
    assert_eq!(
        alice.recv_json().await,
        json!({"type": "leave", "name": "carol"}),
        "{route}"
    );
    assert_eq!(
        dave.recv_json().await,
        json!({"type": "leave", "name": "carol"}),
        "{route}"
    );
    (alice, dave)
}

/// The room as the story left it (alice and dave) is still there after a
/// new version (the same code, another hash) takes over.
async fn room_survives_a_swap(host: &Host, route: &str, mut alice: Client, mut dave: Client) {
    let module = std::fs::read(example(route)).expect("the example was built");
    let next = stamp(&module, 1);
    let (status, answer) = host
        .admin_request("PUT", &format!("/apps/{route}"), Some(next.clone()))
        .await;
    assert_eq!(status, 200, "{route}: {answer}");
    assert_eq!(
        answer["active_version"],
        version_of(&next).as_str(),
        "{route}"
    );

    // The new version knows who is in the room...
    let mut erin = connect(&host.url(&format!("/{route}?name=erin"))).await;
    let welcome = erin.recv_json().await;
    let mut members: Vec<String> =
        serde_json::from_value(welcome["members"].clone()).expect("a list of names");
    members.sort();
    assert_eq!(members, ["alice", "dave"], "{route}");
    assert_eq!(
        alice.recv_json().await,
        json!({"type": "join", "name": "erin"}),
        "{route}"
    );
    assert_eq!(
        dave.recv_json().await,
        json!({"type": "join", "name": "erin"}),
        "{route}"
    );

    // ...and the old members chat on and leave under their names.
    alice.send_text("still here").await;
    let expected = json!({"type": "message", "from": "alice", "text": "still here"});
    assert_eq!(dave.recv_json().await, expected, "{route}");
    assert_eq!(erin.recv_json().await, expected, "{route}");
    dave.socket.close(None).await.expect("close");
    assert_eq!(
        alice.recv_json().await,
        json!({"type": "leave", "name": "dave"}),
        "{route}"
    );
    assert_eq!(
        erin.recv_json().await,
        json!({"type": "leave", "name": "dave"}),
        "{route}"
    );
}

/// The TypeScript declarations committed in guest-sdk/js/types are what
/// `switchboard build --sdk` generates from the WIT now: a WIT change that
/// forgets them fails here (regenerate with
/// `switchboard build examples/echo/js/app.js --sdk guest-sdk/js`).
/// A JavaScript app swaps under load with every guarantee of a Rust one:
/// fifty clients keep sending numbered messages while two new versions go
/// live, and every client gets every echo, once, in order, on the
/// connection it opened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_javascript_app_swaps_under_load_and_no_client_loses_a_message() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    const CLIENTS: usize = 50;
    const SWAPS: u32 = 2;
    let original = std::fs::read(example("echo-js")).expect("echo-js is built");
    let code_cache = common::code_cache();
    let host = Arc::new(Host::serve_with_env(
        &[
            "--app",
            &format!("/echo-js={}", example("echo-js").display()),
            "--admin-listen",
            "127.0.0.1:0",
        ],
        &[
            ("SWITCHBOARD_ADMIN_TOKEN", ADMIN_TOKEN),
            (
                "SWITCHBOARD_CODE_CACHE_DIR",
                code_cache.to_str().expect("a UTF-8 path"),
            ),
        ],
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU64::new(0));
    let mut clients = Vec::new();
    for client in 0..CLIENTS {
        let url = host.url("/echo-js");
        let stop = stop.clone();
        let answered = answered.clone();
        clients.push(tokio::spawn(async move {
            let mut socket = connect(&url).await;
            let mut number = 0u64;
            let mut after_stop = 0;
            while after_stop < 3 {
                if stop.load(Ordering::Relaxed) {
                    after_stop += 1;
                }
                let text = format!("c{client} n{number}");
                socket.send_text(&text).await;
                // The next thing on the wire is this message's echo: nothing
                // lost, duplicated or reordered, and no close.
                assert_eq!(socket.recv_text().await, text, "client {client}");
                answered.fetch_add(1, Ordering::Relaxed);
                number += 1;
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            socket.socket.close(None).await.expect("a clean close");
            number
        }));
    }

    for swap in 1..=SWAPS {
        let before = answered.load(Ordering::Relaxed);
        let bytes = stamp(&original, swap);
        let (status, app) = host
            .admin_request("PUT", "/apps/echo-js", Some(bytes.clone()))
            .await;
        assert_eq!(status, 200, "{app}");
        assert_eq!(app["active_version"], version_of(&bytes).as_str());
        // Traffic flowed while the new version compiled and after it went live.
        let start = std::time::Instant::now();
        while answered.load(Ordering::Relaxed) < before + CLIENTS as u64 * 4 {
            assert!(
                start.elapsed() < common::PATIENCE,
                "echoes stopped after swap {swap}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        let sent = client.await.expect("a client failed");
        assert!(sent > 3, "every client was served throughout");
    }
    let (_, app) = host.admin_request("GET", "/apps/echo-js", None).await;
    assert_eq!(app["traps"], 0, "{app}");
}

#[test]
fn the_javascript_sdk_declarations_are_generated_from_the_wit() {
    let dir = common::scratch_dir("sdk-js");
    let root = common::workspace_root();
    let app = root.join("examples/echo/js/app.js");
    let (status, stdout, stderr) = common::run_switchboard_with_env(
        &[
            "build",
            app.to_str().expect("a UTF-8 path"),
            "--sdk",
            dir.to_str().expect("a UTF-8 path"),
        ],
        &[(
            "SWITCHBOARD_CACHE_DIR",
            common::toolchain_cache().to_str().expect("a UTF-8 path"),
        )],
    );
    assert!(status.success(), "{stdout}{stderr}");
    let committed = files_under(&root.join("guest-sdk/js/types"));
    let generated = files_under(&dir.join("types"));
    assert_eq!(
        committed.keys().collect::<Vec<_>>(),
        generated.keys().collect::<Vec<_>>(),
        "guest-sdk/js/types is stale: regenerate it with `switchboard build examples/echo/js/app.js --sdk guest-sdk/js`"
    );
    for (name, text) in &committed {
        assert!(
            generated[name] == *text,
            "guest-sdk/js/types/{name} is stale: regenerate it with `switchboard build examples/echo/js/app.js --sdk guest-sdk/js`"
        );
    }
}

/// Every file under `dir`, by its path inside it.
fn files_under(dir: &std::path::Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut files = std::collections::BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next)
            .expect("a readable folder")
            .flatten()
        {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let name = path
                    .strip_prefix(dir)
                    .expect("inside")
                    .display()
                    .to_string();
                files.insert(name, std::fs::read(&path).expect("a readable file"));
            }
        }
    }
    files
}

/// Without its toolchain on PATH, a build is one line that names the
/// command installing it (and exit status 1); a file no toolchain builds is
/// one line naming what `build` takes (exit status 2).
#[test]
fn a_missing_toolchain_is_one_line_naming_the_command_that_installs_it() {
    let nothing = common::scratch_dir("empty-path");
    let root = common::workspace_root();
    for (app, fix) in [
        ("examples/echo/js/app.js", "`apt-get install nodejs npm`"),
        (
            "examples/echo/python/app.py",
            "`apt-get install python3 python3-venv`",
        ),
        ("examples/echo/rust", "`rustup target add wasm32-wasip2`"),
    ] {
        let app = root.join(app);
        let (status, stdout, stderr) = common::run_switchboard_with_env(
            &["build", app.to_str().expect("a UTF-8 path")],
            &[("PATH", nothing.to_str().expect("a UTF-8 path"))],
        );
        assert_eq!(status.code(), Some(1), "{stdout}{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with("error: building "), "{stderr}");
        assert!(stderr.contains(fix), "{stderr}");
    }

    let readme = root.join("README.md");
    let (status, _, stderr) =
        common::run_switchboard(&["build", readme.to_str().expect("a UTF-8 path")]);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("give an app.js (or .mjs, .ts), an app.py, or a Rust crate's folder"),
        "{stderr}"
    );
}
