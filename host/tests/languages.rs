//! Any Wasm language, first class: the chat, echo and rooms examples exist
//! in Rust, JavaScript and Python, each built the way an app author builds
//! it (`switchboard build`, through the test helper), and each must behave
//! the same for a real client of a real host: the same wire protocol, the
//! same refusals, the same closes, the same room kept across a hot swap. One
//! story per app, told to every language; a language that differs fails here.

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
    for app in ["chat", "echo", "rooms"] {
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

/// The TypeScript declarations committed in guest-sdk/js/types are what
/// `switchboard build --sdk` generates from the WIT now: a WIT change that
/// forgets them fails here (regenerate with
/// `switchboard build examples/echo/js/app.js --sdk guest-sdk/js`).
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

/// Build `app` (a file) with `switchboard build`, as its author would,
/// into the `.wasm` beside it: the exit status, and what it said.
fn build(app: &std::path::Path) -> (Option<i32>, String) {
    build_to(app, &app.with_extension("wasm"))
}

fn build_to(app: &std::path::Path, out: &std::path::Path) -> (Option<i32>, String) {
    let (status, stdout, stderr) = common::run_switchboard_with_env(
        &[
            "build",
            app.to_str().expect("a UTF-8 path"),
            "-o",
            out.to_str().expect("a UTF-8 path"),
        ],
        &[(
            "SWITCHBOARD_CACHE_DIR",
            common::toolchain_cache().to_str().expect("a UTF-8 path"),
        )],
    );
    (status.code(), format!("{stdout}{stderr}"))
}

/// An app exports what the world had when it was written: one from before
/// topics exports `handler` and `lifecycle`, one from before timers lacks
/// `timer-handler` and `feed-handler` (the chat examples still export
/// `{ handler, lifecycle, presence }`, and build in the stories above). It
/// builds unchanged, and the build takes every export it lacks from the
/// app it made, so a handler it gave `app` is heard even though the module
/// does not export it.
#[tokio::test]
async fn an_app_that_exports_part_of_the_world_builds_and_is_heard_in_full() {
    let dir = common::scratch_dir("part-of-the-world");
    let js = dir.join("app.js");
    std::fs::write(
        &js,
        "import { app, publish, subscribe } from \"switchboard\";\n\
         export const { handler, lifecycle } = app({\n\
           onMessage(connection, message) { subscribe(connection, \"news\", { info: message.val }); },\n\
           onJoin(topic, member) { publish(topic, `${member.infoText()} joined ${topic}`); },\n\
         });\n",
    )
    .expect("write app.js");
    let (status, said) = build(&js);
    assert_eq!(status, Some(0), "{said}");

    let app = format!("/app={}", js.with_extension("wasm").display());
    let code_cache = common::code_cache();
    let host = Host::serve_with_env(
        &["--app", &app],
        &[(
            "SWITCHBOARD_CODE_CACHE_DIR",
            code_cache.to_str().expect("a UTF-8 path"),
        )],
    );
    let mut ann = connect(&host.url("/app")).await;
    ann.send_text("ann").await;
    assert_eq!(ann.recv_text().await, "ann joined news");
}

/// What the build cannot do for an app is one clear failure: leave a
/// handler it was given unheard (the module exports a `presence` of its
/// own while the app has `onJoin`), or unpack the two classes apps from
/// before topics unpacked in Python (the hint names the one-line fix).
#[test]
fn an_app_whose_handlers_would_go_unheard_is_refused_with_the_reason() {
    let dir = common::scratch_dir("unheard");
    let js = dir.join("app.js");
    std::fs::write(
        &js,
        "import { app, send } from \"switchboard\";\n\
         export const presence = { onJoin() {}, onLeave() {} };\n\
         export default app({ onMessage(c, m) { send(c, m); }, onJoin() {} });\n",
    )
    .expect("write app.js");
    let (status, said) = build(&js);
    assert_eq!(status, Some(1), "{said}");
    assert!(
        said.contains("the app exports a `presence` of its own, so the onJoin given to app() would never be called"),
        "{said}"
    );

    let py = dir.join("mine.py");
    std::fs::write(
        &py,
        "from switchboard import App, export, send\n\n\
         class Echo(App):\n    def on_join(self, topic, member):\n        pass\n\n\
         class Presence:\n    def on_join(self, topic, member):\n        pass\n\n    \
         def on_leave(self, topic, member):\n        pass\n\n\
         export(Echo)\n",
    )
    .expect("write mine.py");
    let (status, said) = build(&py);
    assert_eq!(status, Some(1), "{said}");
    assert!(
        said.contains(
            "the app defines a `Presence` of its own, so on_join of Echo would never be called"
        ),
        "{said}"
    );

    let old = dir.join("app.py");
    std::fs::write(
        &old,
        "from switchboard import App, export, send\n\n\
         class Echo(App):\n    def on_message(self, connection, message):\n        \
         send(connection, message)\n\nHandler, Lifecycle = export(Echo)\n",
    )
    .expect("write app.py");
    let (status, said) = build(&old);
    assert_eq!(status, Some(1), "{said}");
    assert!(
        said.contains("hint: `Handler, Lifecycle = export(App)` is from before topics; write `export(App)` alone"),
        "{said}"
    );
}

/// The SDKs' probe in `language` ("js" or "py"): host/tests/fixtures/probe,
/// which drives every timers, kv and feeds call of the SDK by text commands,
/// built once per test run.
fn probe(language: &str) -> std::path::PathBuf {
    static BUILT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut built = BUILT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let dir = common::workspace_root().join("target/test-probe");
    let out = dir.join(format!("probe-{language}.wasm"));
    if !built.iter().any(|done| done == language) {
        let source = common::workspace_root()
            .join("host/tests/fixtures/probe")
            .join(if language == "js" { "app.js" } else { "app.py" });
        let (status, said) = build_to(&source, &out);
        assert_eq!(status, Some(0), "{said}");
        built.push(language.to_string());
    }
    out
}

/// Timers through the JavaScript and Python SDKs pass the scenario
/// examples/fragile ships for its own (Rust) timers: set, replace, cancel
/// and list them, fire on the scenario's clock, keep them across a hot
/// swap, and set one from `onTimer`.
#[test]
fn the_sdks_timers_pass_fragiles_timers_scenario() {
    let scenario = common::workspace_root().join("examples/fragile/tests/timers.toml");
    for language in ["js", "py"] {
        let probe = probe(language);
        let (status, stdout, stderr) = common::run_switchboard(&[
            "test",
            probe.to_str().expect("a UTF-8 path"),
            scenario.to_str().expect("a UTF-8 path"),
        ]);
        assert!(status.success(), "{language}:\n{stdout}\n{stderr}");
        assert!(
            stdout.contains("1 passed, 0 failed"),
            "{language}:\n{stdout}"
        );
    }
}

/// In a real host, each SDK's feeds and key-value store do what the WIT
/// says, and say the same: the feeds the config grants, a feed's last
/// lines, new lines as they are appended, and every kv call with its
/// conveniences (text, JSON, counters, compare-and-swap, listing by prefix),
/// each app in its own namespace.
#[tokio::test]
async fn the_sdks_reach_feeds_and_the_key_value_store() {
    let dir = common::scratch_dir("probe");
    let log = dir.join("app.log");
    std::fs::write(&log, "one\ntwo\nthree\n").expect("write the log");
    let mut config = format!(
        "[deploy]\ndata_dir = \"data\"\ncode_cache_dir = {:?}\n",
        common::code_cache().display().to_string()
    );
    // Each call gets two seconds, not 100 ms: what the probes answer is the
    // story here, and on two busy cores starting a Python instance can take
    // longer than the default deadline.
    for language in ["js", "py"] {
        config += &format!(
            "\n[[apps]]\nname = \"probe-{language}\"\nroute = \"/{language}\"\nmodule = {:?}\n\
             call_timeout_ms = 2000\n\
             [[apps.feeds]]\nname = \"log\"\npath = \"app.log\"\n",
            probe(language).display().to_string()
        );
    }
    let path = dir.join("switchboard.toml");
    std::fs::write(&path, config).expect("write the config");
    let host = Host::serve_config_with_admin(&path, &[]);

    let mut clients = Vec::new();
    for language in ["js", "py"] {
        let mut client = connect(&host.url(&format!("/{language}"))).await;
        let mut ask = async |command: &str| {
            client.send_text(command).await;
            client.recv_text().await
        };
        assert_eq!(ask("feeds").await, r#"{"granted":["log"]}"#, "{language}");
        assert_eq!(
            ask("tail log 2").await,
            r#"{"tail":"log","lines":["two","three"]}"#,
            "{language}"
        );
        assert_eq!(
            ask("tail nope 2").await,
            r#"{"tail":"nope","error":"unknown-feed"}"#,
            "{language}"
        );

        assert_eq!(
            ask("kv get greeting").await,
            "absent greeting",
            "{language}"
        );
        assert_eq!(ask("kv set greeting hello, world").await, "stored greeting");
        assert_eq!(ask("kv get greeting").await, "value greeting hello, world");
        assert_eq!(
            ask("kv json greeting.json").await,
            r#"{"key":"greeting","value":"hello, world"}"#,
            "{language}"
        );
        assert_eq!(ask("kv json nothing").await, "null", "{language}");
        assert_eq!(ask("kv incr visits 1").await, "count visits 1");
        assert_eq!(ask("kv incr visits 41").await, "count visits 42");
        assert_eq!(ask("kv get visits").await, "value visits 42", "{language}");
        assert_eq!(
            ask("kv incr greeting 1").await,
            "kv refused: not-a-counter",
            "{language}"
        );
        assert_eq!(ask("kv cas lock - ann").await, "swapped lock true");
        assert_eq!(ask("kv cas lock - bob").await, "swapped lock false");
        assert_eq!(ask("kv cas lock ann -").await, "swapped lock true");
        assert_eq!(ask("kv get lock").await, "absent lock", "{language}");
        assert_eq!(
            ask("kv list greeting").await,
            r#"[["greeting","hello, world"],["greeting.json","{\"key\":\"greeting\",\"value\":\"hello, world\"}"]]"#,
            "{language}"
        );
        assert_eq!(ask("kv delete greeting").await, "deleted greeting true");
        assert_eq!(ask("kv delete greeting").await, "deleted greeting false");
        assert_eq!(ask("kv set  empty key").await, "kv refused: invalid-key");
        clients.push((language, client));
    }

    // New lines reach each app's `onLines`, which tells its client.
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .expect("the log opens for appending");
    std::io::Write::write_all(&mut file, b"four\nfive\n").expect("append");
    for (language, client) in &mut clients {
        let mut lines = Vec::new();
        while lines.len() < 2 {
            let batch = client.recv_json().await;
            assert_eq!(batch["feed"], "log", "{language}: {batch}");
            lines.extend(batch["lines"].as_array().expect("lines").iter().cloned());
        }
        assert_eq!(lines, [json!("four"), json!("five")], "{language}");
    }
}

/// One host serving the rooms example in every language, on `/rooms`,
/// `/rooms-js`, `/rooms-py`, each keeping its rooms' history as the demo
/// does (examples/demo.toml). The Python app's memory is capped at
/// `ROOMS_PY_MEMORY`, which a message of `TOO_BIG_FOR_PYTHON` overflows.
fn rooms_host() -> (Host, Vec<String>) {
    let (config, names) = rooms_config();
    let host = Host::serve_config_with_admin(&config, &[("RUST_LOG", "warn,guest=info")]);
    (host, names)
}

/// The config of `rooms_host`, with its data directory beside it: the
/// path, and the apps' names. Its clients stay quiet, and do not read (nor
/// answer pings), while a new version compiles, which on two busy cores can
/// take longer than the default idle timeout: they get ten minutes.
fn rooms_config() -> (std::path::PathBuf, Vec<String>) {
    let dir = common::scratch_dir("rooms");
    let mut config = format!(
        "[deploy]\ndata_dir = {:?}\ncode_cache_dir = {:?}\n\n[limits]\nidle_timeout_ms = 600000\n",
        dir.join("data").display().to_string(),
        common::code_cache().display().to_string()
    );
    let mut names = Vec::new();
    for suffix in LANGUAGES {
        let name = format!("rooms{suffix}");
        config += &format!(
            "\n[[apps]]\nname = {name:?}\nroute = \"/{name}\"\nmodule = {:?}\n",
            example(&name).display().to_string()
        );
        if *suffix == "-py" {
            config += &format!("max_memory_bytes = {ROOMS_PY_MEMORY}\n");
        }
        config += "\n[[apps.history]]\nprefix = \"room:\"\nsize = 100\nttl_seconds = 600\n";
        names.push(name);
    }
    let path = dir.join("switchboard.toml");
    std::fs::write(&path, config).expect("write the config");
    (path, names)
}

/// The Python rooms app starts in about 14 MB; taking in a 15 MB message
/// (the host's copy, then Python's string of it, then the parsed text)
/// needs more than twice this cap, so it cannot fit. (On a slow machine the
/// call's time limit may stop it first: a trap as well.)
const ROOMS_PY_MEMORY: usize = 32 << 20;
const TOO_BIG_FOR_PYTHON: usize = 15 << 20;

/// Chat rooms (examples/rooms) in every language: the same story, the same
/// bytes on the wire, and rooms that live in the host (presence, history)
/// so that a client that lost its connection resumes where it was, and a
/// hot swap (for Python, a trap too) loses nothing.
#[tokio::test]
async fn every_language_tells_the_same_rooms_story_and_the_host_keeps_the_rooms() {
    let (host, routes) = rooms_host();
    for route in &routes {
        rooms_story(&host, route).await;
    }
}

/// What the rooms app publishes to a room, as exact text: every language
/// writes its JSON keys sorted, as the Rust one's serde_json does.
fn notice(kind: &str, name: &str) -> String {
    format!(
        r#"{{"name":{},"room":"lobby","type":"{kind}"}}"#,
        json!(name)
    )
}

fn said_in_lobby(from: &str, text: &str) -> String {
    format!(
        r#"{{"from":{},"room":"lobby","text":{},"type":"message"}}"#,
        json!(from),
        json!(text)
    )
}

fn parsed(texts: &[String]) -> serde_json::Value {
    texts
        .iter()
        .map(|text| serde_json::from_str::<serde_json::Value>(text).expect("JSON"))
        .collect()
}

/// Ask to join `room`, resuming from `since` if given.
async fn join(client: &mut Client, room: &str, since: Option<serde_json::Value>) {
    let mut command = json!({"type": "join", "room": room});
    if let Some(since) = since {
        command["since"] = since;
    }
    client.send_text(&command.to_string()).await;
}

async fn rooms_story(host: &Host, route: &str) {
    let url = |query: &str| host.url(&format!("/{route}{query}"));
    let send = |command: serde_json::Value| command.to_string();

    // A name is required: 400 before the upgrade.
    let refused = try_connect(&url("")).await.err().expect("refused");
    assert_eq!(
        (refused.status, refused.body.as_str()),
        (400, "join with ?name=YOUR_NAME"),
        "{route}"
    );

    // Everything published to the lobby, in order: what a late joiner's
    // scrollback shows, and what each client numbers its position by.
    let mut lobby: Vec<String> = Vec::new();

    // Joining gives the scrollback (empty), then `joined` with the
    // position and the members; the app's presence handler then tells the
    // room, the newcomer included.
    let mut alice = connect(&url("?name=alice")).await;
    join(&mut alice, "lobby", None).await;
    assert_eq!(
        alice.recv_json().await,
        json!({"type": "scrollback", "room": "lobby", "messages": []}),
        "{route}"
    );
    let joined = alice.recv_json().await;
    let epoch = joined["position"]["epoch"]
        .as_str()
        .expect("an epoch")
        .to_string();
    assert_eq!(
        joined,
        json!({"type": "joined", "room": "lobby", "position": {"epoch": epoch, "offset": 0},
               "recovered": false, "members": ["alice"]}),
        "{route}"
    );
    lobby.push(notice("join", "alice"));
    assert_eq!(alice.recv_text().await, lobby[0], "{route}");

    let mut bob = connect(&url("?name=bob")).await;
    join(&mut bob, "lobby", None).await;
    assert_eq!(
        bob.recv_json().await,
        json!({"type": "scrollback", "room": "lobby", "messages": parsed(&lobby)}),
        "{route}"
    );
    assert_eq!(
        bob.recv_json().await,
        json!({"type": "joined", "room": "lobby", "position": {"epoch": epoch, "offset": 1},
               "recovered": false, "members": ["alice", "bob"]}),
        "{route}"
    );
    lobby.push(notice("join", "bob"));
    for client in [&mut alice, &mut bob] {
        assert_eq!(client.recv_text().await, lobby[1], "{route}");
    }

    // A second room, with a history and members of its own.
    let mut carol = connect(&url("?name=carol")).await;
    join(&mut carol, "kitchen", None).await;
    assert_eq!(
        carol.recv_json().await,
        json!({"type": "scrollback", "room": "kitchen", "messages": []}),
        "{route}"
    );
    let joined = carol.recv_json().await;
    assert_eq!(joined["members"], json!(["carol"]), "{route}");
    assert_eq!(joined["position"]["offset"], 0, "{route}");
    assert_eq!(
        carol.recv_json().await,
        json!({"type": "join", "room": "kitchen", "name": "carol"}),
        "{route}"
    );

    // A message reaches every member of the room, its sender included;
    // typing notices reach the room too.
    alice
        .send_text(&send(
            json!({"type": "message", "room": "lobby", "text": "hi ✓"}),
        ))
        .await;
    lobby.push(said_in_lobby("alice", "hi ✓"));
    for client in [&mut alice, &mut bob] {
        assert_eq!(client.recv_text().await, lobby[2], "{route}");
    }
    bob.send_text(&send(json!({"type": "typing", "room": "lobby"})))
        .await;
    for client in [&mut alice, &mut bob] {
        assert_eq!(
            client.recv_json().await,
            json!({"type": "typing", "room": "lobby", "name": "bob"}),
            "{route}"
        );
    }

    // Nobody outside the room hears it, nor can speak in it; the kitchen's
    // talk stays in the kitchen.
    carol
        .send_text(&send(
            json!({"type": "message", "room": "lobby", "text": "psst"}),
        ))
        .await;
    assert_eq!(
        carol.recv_json().await,
        json!({"type": "error", "text": "join the room first"}),
        "{route}"
    );
    carol
        .send_text(&send(
            json!({"type": "message", "room": "kitchen", "text": "anyone?"}),
        ))
        .await;
    carol
        .send_text(&send(json!({"type": "typing", "room": "kitchen"})))
        .await;
    assert_eq!(
        carol.recv_json().await,
        json!({"type": "message", "room": "kitchen", "from": "carol", "text": "anyone?"}),
        "{route}"
    );
    assert_eq!(carol.recv_json().await["type"], "typing", "{route}");
    alice
        .send_text(&send(
            json!({"type": "message", "room": "lobby", "text": "just us"}),
        ))
        .await;
    lobby.push(said_in_lobby("alice", "just us"));
    for client in [&mut alice, &mut bob] {
        assert_eq!(client.recv_text().await, lobby[3], "{route}");
    }

    // Bob loses his connection, having seen the lobby up to offset 4. The
    // room hears he left, and talks on.
    drop(bob);
    lobby.push(notice("leave", "bob"));
    assert_eq!(alice.recv_text().await, lobby[4], "{route}");
    for text in ["while you were away", "and again"] {
        alice
            .send_text(&send(
                json!({"type": "message", "room": "lobby", "text": text}),
            ))
            .await;
        lobby.push(said_in_lobby("alice", text));
        assert_eq!(
            alice.recv_text().await,
            *lobby.last().expect("one"),
            "{route}"
        );
    }

    // He comes back with the last position he saw: exactly what he missed,
    // once each and in order, then `joined` (recovered), then live.
    let mut bob = connect(&url("?name=bob")).await;
    join(
        &mut bob,
        "lobby",
        Some(json!({"epoch": epoch, "offset": 4})),
    )
    .await;
    for missed in &lobby[4..7] {
        assert_eq!(bob.recv_text().await, *missed, "{route}");
    }
    assert_eq!(
        bob.recv_json().await,
        json!({"type": "joined", "room": "lobby", "position": {"epoch": epoch, "offset": 7},
               "recovered": true, "members": ["alice", "bob"]}),
        "{route}"
    );
    lobby.push(notice("join", "bob"));
    for client in [&mut alice, &mut bob] {
        assert_eq!(client.recv_text().await, lobby[7], "{route}");
    }
    alice
        .send_text(&send(
            json!({"type": "message", "room": "lobby", "text": "welcome back"}),
        ))
        .await;
    lobby.push(said_in_lobby("alice", "welcome back"));
    for client in [&mut alice, &mut bob] {
        assert_eq!(client.recv_text().await, lobby[8], "{route}");
    }

    // A position of another epoch cannot be resumed: `recovered` is false,
    // and the client starts over from a fresh scrollback.
    let mut dave = connect(&url("?name=dave")).await;
    join(
        &mut dave,
        "lobby",
        Some(json!({"epoch": "another-life", "offset": 3})),
    )
    .await;
    assert_eq!(
        dave.recv_json().await,
        json!({"type": "scrollback", "room": "lobby", "messages": parsed(&lobby)}),
        "{route}"
    );
    assert_eq!(
        dave.recv_json().await,
        json!({"type": "joined", "room": "lobby", "position": {"epoch": epoch, "offset": 9},
               "recovered": false, "members": ["alice", "bob", "dave"]}),
        "{route}"
    );
    lobby.push(notice("join", "dave"));
    for client in [&mut alice, &mut bob, &mut dave] {
        assert_eq!(client.recv_text().await, lobby[9], "{route}");
    }

    // A new version takes over: the rooms are the host's, so the lobby's
    // members and history, and the kitchen, are all still there.
    let module = std::fs::read(example(route)).expect("the example was built");
    let next = stamp(&module, 1);
    let (status, answer) = host
        .admin_request("PUT", &format!("/apps/{route}"), Some(next.clone()))
        .await;
    assert_eq!(status, 200, "{route}: {answer}");
    host.wait_for_version(route, &version_of(&next)).await;

    let mut erin = connect(&url("?name=erin")).await;
    join(&mut erin, "lobby", None).await;
    assert_eq!(
        erin.recv_json().await,
        json!({"type": "scrollback", "room": "lobby", "messages": parsed(&lobby)}),
        "{route}"
    );
    assert_eq!(
        erin.recv_json().await["members"],
        json!(["alice", "bob", "dave", "erin"]),
        "{route}"
    );
    lobby.push(notice("join", "erin"));
    for client in [&mut alice, &mut bob, &mut dave, &mut erin] {
        assert_eq!(client.recv_text().await, lobby[10], "{route}");
    }
    let mut frank = connect(&url("?name=frank")).await;
    join(&mut frank, "kitchen", None).await;
    assert_eq!(
        frank.recv_json().await["messages"],
        json!([
            {"type": "join", "room": "kitchen", "name": "carol"},
            {"type": "message", "room": "kitchen", "from": "carol", "text": "anyone?"},
        ]),
        "{route}"
    );
    assert_eq!(
        frank.recv_json().await["members"],
        json!(["carol", "frank"]),
        "{route}"
    );

    // Leaving is heard by those who stay.
    dave.send_text(&send(json!({"type": "leave", "room": "lobby"})))
        .await;
    lobby.push(notice("leave", "dave"));
    for client in [&mut alice, &mut bob, &mut erin] {
        assert_eq!(client.recv_text().await, lobby[11], "{route}");
    }

    if route.ends_with("-py") {
        // A message too big for the app's memory makes it trap: its sender
        // is closed, a fresh instance serves on, and the room is the
        // host's, so none of it is lost.
        let huge = "x".repeat(TOO_BIG_FOR_PYTHON);
        erin.send_text(&send(
            json!({"type": "message", "room": "lobby", "text": huge}),
        ))
        .await;
        assert_eq!(
            erin.expect_close().await.0,
            switchboard::close_code::INTERNAL_ERROR,
            "{route}"
        );
        lobby.push(notice("leave", "erin"));
        for client in [&mut alice, &mut bob] {
            assert_eq!(client.recv_text().await, lobby[12], "{route}");
        }
        let mut gina = connect(&url("?name=gina")).await;
        join(&mut gina, "lobby", None).await;
        assert_eq!(
            gina.recv_json().await,
            json!({"type": "scrollback", "room": "lobby", "messages": parsed(&lobby)}),
            "{route}"
        );
        assert_eq!(
            gina.recv_json().await["members"],
            json!(["alice", "bob", "gina"]),
            "{route}"
        );
        let (_, app) = host
            .admin_request("GET", &format!("/apps/{route}"), None)
            .await;
        assert_eq!(app["traps"], 1, "{route}: {app}");
    }
}

/// Every language's rooms keep a room's last 50 messages across a host
/// restart: the topics' history was in memory and is gone (a new epoch),
/// but each app kept the messages in its key-value store, on disk, and a
/// newcomer's scrollback shows them, the same in every language.
#[tokio::test]
async fn every_language_keeps_a_rooms_last_50_messages_across_a_host_restart() {
    let (config, routes) = rooms_config();
    let env = [("RUST_LOG", "warn,guest=info")];
    let mut host = Host::serve_config_with_admin(&config, &env);
    let mut kept = Vec::new();
    for route in &routes {
        kept.push(talk_then_leave(&host, route, 55).await);
    }
    host.terminate();
    assert!(host.wait().success(), "{}", host.log());

    let host = Host::serve_config_with_admin(&config, &env);
    for (route, (said, before)) in routes.iter().zip(&kept) {
        let mut bob = connect(&host.url(&format!("/{route}?name=bob"))).await;
        join(&mut bob, "lobby", None).await;
        assert_eq!(
            bob.recv_json().await,
            json!({"type": "scrollback", "room": "lobby", "messages": parsed(&said[said.len() - 50..])}),
            "{route}"
        );
        let joined = bob.recv_json().await;
        assert_eq!(joined["members"], json!(["bob"]), "{route}");
        assert_ne!(joined["position"]["epoch"], before["epoch"], "{route}");
        assert_eq!(joined["position"]["offset"], 0, "{route}");
    }
}

/// The rooms apps keep the same keys and values in their key-value store:
/// a version in another language takes over a room, scrollback and all.
#[tokio::test]
async fn a_rooms_scrollback_is_taken_over_by_a_version_in_another_language() {
    let code_cache = common::code_cache();
    let host = Host::serve_with_env(
        &[
            "--app",
            &format!("/rooms={}", example("rooms").display()),
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
    );
    let mut said = Vec::new();
    for language in ["rooms-js", "rooms-py", "rooms"] {
        let (more, _) = talk_then_leave(&host, "rooms", 3).await;
        said.extend(more);
        let next = std::fs::read(example(language)).expect("the example was built");
        let (status, answer) = host
            .admin_request("PUT", "/apps/rooms", Some(next.clone()))
            .await;
        assert_eq!(status, 200, "{language}: {answer}");
        host.wait_for_version("rooms", &version_of(&next)).await;

        let mut bob = connect(&host.url("/rooms?name=bob")).await;
        join(&mut bob, "lobby", None).await;
        assert_eq!(
            bob.recv_json().await,
            json!({"type": "scrollback", "room": "lobby", "messages": parsed(&said)}),
            "{language}"
        );
        bob.recv_json().await; // joined
        said.push(notice("join", "bob"));
        assert_eq!(
            bob.recv_text().await,
            *said.last().expect("one"),
            "{language}"
        );
        leave_the_lobby(&mut bob, language).await;
        said.push(notice("leave", "bob"));
    }
}

/// Leave the lobby, and close: the next message, refused, shows the leave
/// (and the notice it published) came first.
async fn leave_the_lobby(client: &mut Client, route: &str) {
    client
        .send_text(&json!({"type": "leave", "room": "lobby"}).to_string())
        .await;
    client
        .send_text(&json!({"type": "message", "room": "lobby", "text": "there?"}).to_string())
        .await;
    assert_eq!(
        client.recv_json().await,
        json!({"type": "error", "text": "join the room first"}),
        "{route}"
    );
    client.socket.close(None).await.expect("a clean close");
}

/// ann joins the lobby at `route`, says `messages` things and leaves it
/// (her next message, refused, shows the leave came first). What she made
/// the lobby publish, as text, and the position she joined at.
async fn talk_then_leave(
    host: &Host,
    route: &str,
    messages: usize,
) -> (Vec<String>, serde_json::Value) {
    let mut ann = connect(&host.url(&format!("/{route}?name=ann"))).await;
    join(&mut ann, "lobby", None).await;
    assert_eq!(ann.recv_json().await["type"], "scrollback", "{route}");
    let joined = ann.recv_json().await;
    let mut said = vec![notice("join", "ann")];
    assert_eq!(ann.recv_text().await, said[0], "{route}");
    for n in 1..=messages {
        let text = format!("message {n}");
        ann.send_text(&json!({"type": "message", "room": "lobby", "text": text}).to_string())
            .await;
        said.push(said_in_lobby("ann", &text));
        assert_eq!(ann.recv_text().await, *said.last().expect("one"), "{route}");
    }
    leave_the_lobby(&mut ann, route).await;
    said.push(notice("leave", "ann"));
    (said, joined["position"].clone())
}
