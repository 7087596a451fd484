//! The demo's pages in real headless Chromium, served by the host as
//! scripts/demo serves them (examples/web as the static root, each app's
//! page in its folder: /chat/, /rooms/, /lock/, /cursors/, /ticker/,
//! /tail/; the pages' npm packages installed as scripts/build-examples
//! installs them). A browser is
//! stricter than our own test clients about the closing handshake, and the
//! pages are what a user of the demo sees: these stories drive them with
//! two or more browsers at once (each its own Chromium and profile), and
//! check what each one shows.

mod common;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::browser::{Page, js};
use common::{Host, example, scratch_dir, workspace_root};

/// The demo's static root, with the npm packages its pages load (the
/// ticker's chart library) installed as scripts/build-examples installs
/// them: `npm ci`, once per test process, when the lock file is newer than
/// the last install.
fn web_root() -> String {
    static INSTALLED: OnceLock<PathBuf> = OnceLock::new();
    let root = INSTALLED.get_or_init(|| {
        let root = workspace_root().join("examples/web");
        let installed = root.join("node_modules/.package-lock.json");
        let modified = |path: &Path| {
            std::fs::metadata(path)
                .and_then(|meta| meta.modified())
                .ok()
        };
        let fresh = matches!(
            (modified(&installed), modified(&root.join("package-lock.json"))),
            (Some(installed), Some(locked)) if installed > locked
        );
        if !fresh {
            let status = Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--prefix"])
                .arg(&root)
                .status()
                .expect("npm runs (install Node.js and npm; scripts/test does)");
            assert!(status.success(), "npm ci in examples/web failed");
        }
        root
    });
    root.to_str().expect("a UTF-8 path").to_string()
}

/// The host as the demo runs it: the chat app and the pages.
fn demo_host() -> Host {
    let app = format!("/chat={}", example("chat").display());
    Host::serve(&["--app", &app, "--static", &web_root()])
}

/// Open the chat page and join the chat as `name`.
async fn join(host: &Host, test: &str, name: &str) -> Page {
    join_at(host, test, name, "/chat/").await
}

/// Open the chat page at `path` (e.g. `/chat/?app=chat-js`) and join as `name`.
async fn join_at(host: &Host, test: &str, name: &str, path: &str) -> Page {
    let page = Page::open(
        &format!("{test}-{name}"),
        &format!("http://{}{path}", host.address),
    )
    .await;
    page.type_and_enter("#name", name).await;
    page.wait_for_text("#status", &format!("Connected as {name}."))
        .await;
    page
}

/// Wait until the page says how its connection ended, and return that line.
async fn ending(page: &Page) -> String {
    page.wait_until(
        "how the connection ended",
        "/^(Disconnected|Connection lost)/.test(document.getElementById('status').innerText)",
    )
    .await;
    page.text("#status").await
}

/// What Chromium's console said about WebSockets (a protocol error such as
/// "Close received after close" lands here, not in the page's script).
fn websocket_complaints(page: &Page) -> Vec<String> {
    page.console()
        .into_iter()
        .filter(|line| line.contains("WebSocket"))
        .collect()
}

/// The page talks to the JavaScript chat as it does to the Rust one: the
/// same protocol, picked with `?app=chat-js`.
#[tokio::test]
async fn the_page_talks_to_the_javascript_chat_too() {
    let app = format!("/chat-js={}", example("chat-js").display());
    let code_cache = common::code_cache();
    let host = Host::serve_with_env(
        &["--app", &app, "--static", &web_root()],
        &[(
            "SWITCHBOARD_CODE_CACHE_DIR",
            code_cache.to_str().expect("a UTF-8 path"),
        )],
    );
    let alice = join_at(&host, "javascript", "alice", "/chat/?app=chat-js").await;
    let bob = join_at(&host, "javascript", "bob", "/chat/?app=chat-js").await;
    bob.wait_for_text("#log p", "Welcome, bob. Here: alice.")
        .await;
    alice.wait_for_text("#log p", "bob joined.").await;
    bob.type_and_enter("#text", "hello from js").await;
    alice.wait_for_text("#log p", "bob: hello from js").await;
    bob.type_and_enter("#text", "/quit").await;
    assert_eq!(ending(&bob).await, "Disconnected (code 1000: goodbye).");
    alice.wait_for_text("#log p", "bob left.").await;
}

#[tokio::test]
async fn a_message_typed_in_one_tab_appears_in_the_other() {
    let host = demo_host();
    let alice = join(&host, "two_tabs", "alice").await;
    let bob = join(&host, "two_tabs", "bob").await;
    bob.wait_for_text("#log p", "Welcome, bob. Here: alice.")
        .await;
    alice.wait_for_text("#log p", "bob joined.").await;

    bob.type_and_enter("#text", "hello alice").await;
    alice.wait_for_text("#log p", "bob: hello alice").await;
    bob.wait_for_text("#log p", "you: hello alice").await;

    alice.type_and_enter("#text", "hi bob").await;
    bob.wait_for_text("#log p", "alice: hi bob").await;

    assert_eq!(websocket_complaints(&alice), Vec::<String>::new());
    assert_eq!(websocket_complaints(&bob), Vec::<String>::new());
    // What the two tabs look like, for a person to check by eye.
    alice.screenshot("chat");
    bob.screenshot("chat");
}

#[tokio::test]
async fn quit_closes_the_page_cleanly_with_the_apps_goodbye() {
    let host = demo_host();
    let alice = join(&host, "quit", "alice").await;

    alice.type_and_enter("#text", "/quit").await;

    let ending = ending(&alice).await;
    let console = websocket_complaints(&alice);
    assert_eq!(
        ending,
        "Disconnected (code 1000: goodbye).",
        "chromium's console: {console:#?}\nhost log:\n{}",
        host.log()
    );
    assert_eq!(console, Vec::<String>::new());
}

#[tokio::test]
async fn sigterm_closes_the_page_cleanly_with_1001_and_the_host_exits_0() {
    let mut host = demo_host();
    let alice = join(&host, "sigterm", "alice").await;

    host.terminate();

    let ending = ending(&alice).await;
    let console = websocket_complaints(&alice);
    assert_eq!(
        ending,
        "Disconnected (code 1001: server shutting down).",
        "chromium's console: {console:#?}\nhost log:\n{}",
        host.log()
    );
    assert_eq!(console, Vec::<String>::new());
    let status = host.wait();
    assert_eq!(status.code(), Some(0), "host log:\n{}", host.log());
}

// ---- the realtime apps: rooms, lock, cursors -------------------------------

/// The host with the demo's realtime apps and their pages, configured as
/// examples/demo.toml configures them (the rooms' history included).
fn realtime_host() -> Host {
    let dir = scratch_dir("realtime-demo");
    let module = |name: &str| format!("{:?}", example(name).display().to_string());
    let config = format!(
        r#"static_dir = {web:?}

[deploy]
data_dir = {data:?}

[limits]
max_messages_per_second = 50

[[apps]]
name = "rooms"
route = "/rooms"
module = {rooms}

[[apps.history]]
prefix = "room:"
size = 100
ttl_seconds = 600

[[apps]]
name = "lock"
route = "/lock"
module = {lock}

[[apps]]
name = "cursors"
route = "/cursors"
module = {cursors}

[[apps]]
name = "ticker"
route = "/ticker"
module = {ticker}

[[apps.history]]
prefix = "price:"
size = 300
ttl_seconds = 600
"#,
        web = web_root(),
        data = dir.join("data").display().to_string(),
        rooms = module("rooms"),
        lock = module("lock"),
        cursors = module("cursors"),
        ticker = module("ticker"),
    );
    let path = dir.join("demo.toml");
    std::fs::write(&path, config).expect("writing the test's config");
    Host::serve(&["--config", path.to_str().expect("a UTF-8 path")])
}

/// Open `page` (e.g. `/rooms/`) as `name` in a browser of its own; `before`
/// runs in the page before it joins.
async fn open_as(host: &Host, test: &str, name: &str, page: &str, before: &str) -> Page {
    let page = Page::open(
        &format!("{test}-{name}"),
        &format!("http://{}{page}", host.address),
    )
    .await;
    if !before.is_empty() {
        page.run(before).await;
    }
    page.type_and_enter("#name", name).await;
    page
}

/// A user who types an app's route into the address bar (`/rooms`, the
/// WebSocket endpoint) lands on its page.
#[tokio::test]
async fn an_apps_route_opened_as_a_page_leads_to_the_apps_page() {
    let host = realtime_host();
    let page = Page::open("route-as-page", &format!("http://{}/rooms", host.address)).await;
    page.wait_until("the rooms page", "location.pathname === '/rooms/'")
        .await;
    page.wait_until("its title", "document.title === 'Switchboard rooms'")
        .await;
}

/// Join the rooms page (the lobby) as `name`.
async fn enter_rooms(host: &Host, test: &str, name: &str, before: &str) -> Page {
    let page = open_as(host, test, name, "/rooms/", before).await;
    page.wait_for_text("#status", &format!("Connected as {name}."))
        .await;
    page.wait_for_text("#title", "#lobby").await;
    page
}

/// How many lines of the page's log read exactly `text`.
async fn lines_reading(page: &Page, text: &str) -> u64 {
    let script = format!(
        "return [...document.querySelectorAll('#log p')].filter(p => p.innerText === {}).length;",
        js(text)
    );
    page.run(&script).await.as_u64().expect("a count of lines")
}

/// Lets a test take a page's network away and give it back: every
/// WebSocket the page opens while `window.offline` is true goes to a port
/// where nothing listens, so it fails as an unplugged cable would, and
/// `window.sockets` holds every socket the page opened.
fn network_switch() -> String {
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    format!(
        "window.offline = false;
         window.sockets = [];
         const Real = window.WebSocket;
         window.WebSocket = class extends Real {{
           constructor(url, protocols) {{
             super(window.offline ? 'ws://127.0.0.1:{closed_port}/' : url, protocols);
             window.sockets.push(this);
           }}
         }};"
    )
}

#[tokio::test]
async fn rooms_show_messages_members_typing_and_scrollback_in_the_other_tab() {
    let host = realtime_host();
    let alice = enter_rooms(&host, "rooms", "alice", "").await;
    let bob = enter_rooms(&host, "rooms", "bob", "").await;

    alice.wait_for_text("#log p", "bob joined.").await;
    alice.wait_for_text("#members li", "alice (you)").await;
    alice.wait_for_text("#members li", "bob").await;
    bob.wait_for_text("#members li", "alice").await;
    bob.wait_for_text("#members li", "bob (you)").await;

    bob.type_and_enter("#text", "hello alice").await;
    alice.wait_for_text("#log p", "bob: hello alice").await;
    bob.wait_for_text("#log p", "bob: hello alice").await;

    // Typing without sending: the other tab says so.
    alice.type_text("#text", "hi b").await;
    bob.wait_for_text("#typing", "alice is typing…").await;
    alice.type_and_enter("#text", "ob").await;
    bob.wait_for_text("#log p", "alice: hi bob").await;

    // Someone who comes later is shown what was said (the room's history).
    let carol = enter_rooms(&host, "rooms", "carol", "").await;
    carol.wait_for_text("#log p", "bob: hello alice").await;
    carol.wait_for_text("#log p", "alice: hi bob").await;
    carol.wait_for_text("#members li", "alice").await;
    carol.wait_for_text("#members li", "bob").await;
    alice.wait_for_text("#members li", "carol").await;

    // Another room: only those who join it hear what is said there.
    alice.type_and_enter("#room", "garden").await;
    alice.wait_for_text("#title", "#garden").await;
    alice.wait_for_text("#members li", "alice (you)").await;
    alice.type_and_enter("#text", "anyone here?").await;
    alice.wait_for_text("#log p", "alice: anyone here?").await;
    bob.type_and_enter("#room", "garden").await;
    bob.wait_for_text("#log p", "alice: anyone here?").await;
    alice.wait_for_text("#members li", "bob").await;
    assert_eq!(lines_reading(&carol, "alice: anyone here?").await, 0);

    alice.screenshot("rooms");
    bob.screenshot("rooms");
}

#[tokio::test]
async fn a_rooms_page_that_loses_its_connection_comes_back_with_what_it_missed_once() {
    let host = realtime_host();
    let alice = enter_rooms(&host, "reconnect", "alice", &network_switch()).await;
    let bob = enter_rooms(&host, "reconnect", "bob", "").await;
    alice.wait_for_text("#log p", "bob joined.").await;
    bob.type_and_enter("#text", "before the drop").await;
    alice.wait_for_text("#log p", "bob: before the drop").await;

    // Alice's network goes: her socket closes and reconnecting fails.
    alice
        .run("window.offline = true; window.sockets.at(-1).close(); return true;")
        .await;
    alice
        .wait_until(
            "that it keeps trying to reconnect",
            "document.getElementById('status').innerText.startsWith('Still offline')",
        )
        .await;
    bob.wait_for_text("#log p", "alice left.").await;
    bob.type_and_enter("#text", "while you were away 1").await;
    bob.type_and_enter("#text", "while you were away 2").await;
    bob.wait_for_text("#log p", "bob: while you were away 2")
        .await;

    // It comes back: the page reconnects on its own and catches up.
    alice.run("window.offline = false; return true;").await;
    alice.wait_for_text("#status", "Connected as alice.").await;
    alice
        .wait_for_text("#log p", "bob: while you were away 1")
        .await;
    alice
        .wait_for_text("#log p", "bob: while you were away 2")
        .await;
    // Live again: a message after the catch-up arrives as well.
    bob.type_and_enter("#text", "after the drop").await;
    alice.wait_for_text("#log p", "bob: after the drop").await;
    alice.wait_for_text("#members li", "bob").await;
    alice.wait_for_text("#members li", "alice (you)").await;

    for line in [
        "bob: before the drop",
        "bob: while you were away 1",
        "bob: while you were away 2",
        "bob: after the drop",
    ] {
        assert_eq!(
            lines_reading(&alice, line).await,
            1,
            "{line:?} should show exactly once; host log:\n{}",
            host.log()
        );
    }
    alice.screenshot("reconnected");
}

/// Open the lock page's document as `name`.
async fn open_document(host: &Host, test: &str, name: &str) -> Page {
    let page = open_as(host, test, name, "/lock/", "").await;
    page.wait_for_text("#status", &format!("Connected as {name}."))
        .await;
    page
}

/// Whether the page lets its user type into the document.
async fn can_type(page: &Page) -> bool {
    page.run("return !document.getElementById('text').disabled;")
        .await
        .as_bool()
        .expect("a boolean")
}

#[tokio::test]
async fn a_document_open_in_one_tab_is_locked_in_the_other_until_that_tab_closes() {
    let host = realtime_host();
    let alice = open_document(&host, "lock_close", "alice").await;
    alice
        .wait_for_text("#lock", "You are editing this document.")
        .await;
    assert!(can_type(&alice).await);

    let bob = open_document(&host, "lock_close", "bob").await;
    bob.wait_for_text("#lock", "This document is being edited by alice.")
        .await;
    assert!(!can_type(&bob).await);
    alice.wait_for_text("#line", "Next in line: bob.").await;
    bob.screenshot("locked");

    // Alice closes her browser: the lock is Bob's at once.
    drop(alice);
    bob.wait_for_text("#lock", "You are editing this document.")
        .await;
    assert!(can_type(&bob).await);
}

#[tokio::test]
async fn stopping_editing_hands_the_lock_to_the_next_in_line() {
    let host = realtime_host();
    let alice = open_document(&host, "lock_release", "alice").await;
    alice
        .wait_for_text("#lock", "You are editing this document.")
        .await;
    let bob = open_document(&host, "lock_release", "bob").await;
    bob.wait_for_text("#lock", "This document is being edited by alice.")
        .await;

    alice.click("#stop").await;
    bob.wait_for_text("#lock", "You are editing this document.")
        .await;
    alice
        .wait_for_text("#lock", "This document is being edited by bob.")
        .await;
    alice.wait_for_text("#line", "Viewing: you.").await;

    // Asking again puts Alice in line behind Bob, not before him.
    alice.click("#edit").await;
    alice.wait_for_text("#line", "Next in line: you.").await;
    bob.wait_for_text("#lock", "You are editing this document.")
        .await;
    drop(bob);
    alice
        .wait_for_text("#lock", "You are editing this document.")
        .await;
}

/// Move the page's pointer to (`x`, `y`), as fractions of its board.
async fn point_at(page: &Page, x: f64, y: f64) {
    let rect = page
        .run(
            "const board = document.getElementById('board');
             board.scrollIntoView({block: 'center'});
             const r = board.getBoundingClientRect();
             return [r.left, r.top, r.width, r.height];",
        )
        .await;
    let rect: Vec<f64> = rect
        .as_array()
        .expect("the board's rectangle")
        .iter()
        .map(|v| v.as_f64().expect("a number"))
        .collect();
    page.move_pointer_to(rect[0] + x * rect[2], rect[1] + y * rect[3])
        .await;
}

/// Wait until the page draws a cursor labelled `name` at (`x`, `y`) of
/// its board, give or take 2% of its size.
async fn wait_for_cursor(page: &Page, name: &str, x: f64, y: f64) {
    let expression = format!(
        "[...document.querySelectorAll('#board .cursor')].some(cursor => {{
           const board = document.getElementById('board').getBoundingClientRect();
           const at = cursor.getBoundingClientRect();
           const fx = (at.left - board.left) / board.width;
           const fy = (at.top - board.top) / board.height;
           return cursor.querySelector('.label').innerText === {name}
             && Math.abs(fx - {x}) < 0.02 && Math.abs(fy - {y}) < 0.02;
         }})",
        name = js(name)
    );
    page.wait_until(&format!("{name}'s cursor at ({x}, {y})"), &expression)
        .await;
}

#[tokio::test]
async fn a_cursor_moved_in_one_tab_moves_on_the_other_tabs_board() {
    let host = realtime_host();
    let alice = open_as(&host, "cursors", "alice", "/cursors/", "").await;
    alice
        .wait_for_text(
            "#status",
            "Connected as alice. Move your pointer over the board.",
        )
        .await;
    let bob = open_as(&host, "cursors", "bob", "/cursors/", "").await;
    bob.wait_for_text("#people", "Also here: alice.").await;
    alice.wait_for_text("#people", "Also here: bob.").await;

    point_at(&alice, 0.25, 0.75).await;
    wait_for_cursor(&bob, "alice", 0.25, 0.75).await;
    point_at(&alice, 0.8, 0.2).await;
    wait_for_cursor(&bob, "alice", 0.8, 0.2).await;
    bob.screenshot("cursors");

    // Alice leaves: her cursor is gone from Bob's board.
    drop(alice);
    bob.wait_for_text("#people", "Nobody else is here yet.")
        .await;
    bob.wait_until(
        "no cursor left on the board",
        "document.querySelectorAll('#board .cursor').length === 0",
    )
    .await;
}

// ---- timers, key-value storage and feeds: ticker, lock expiry, tail -------

/// How many points the ticker page's chart of `symbol` holds.
async fn points_charted(page: &Page, symbol: &str) -> u64 {
    let script = format!(
        "const chart = window.charts && window.charts[{}];
         return chart ? chart.data[0].length : 0;",
        js(symbol)
    );
    page.run(&script).await.as_u64().expect("a count of points")
}

/// The time of the oldest point the chart of `symbol` holds.
async fn oldest_point(page: &Page, symbol: &str) -> f64 {
    let script = format!("return window.charts[{}].data[0][0];", js(symbol));
    page.run(&script).await.as_f64().expect("a point's time")
}

#[tokio::test]
async fn the_ticker_chart_draws_each_new_point_and_a_later_page_opens_with_the_recent_past() {
    let host = realtime_host();
    let first = Page::open("ticker-first", &format!("http://{}/ticker/", host.address)).await;
    first
        .wait_for_text("#status", "Live: 3 symbols, a point every 1 s.")
        .await;
    // Points arrive: the chart's own data grows, one point a tick.
    first
        .wait_until(
            "a first point on the chart",
            "window.charts.ACME.data[0].length >= 1",
        )
        .await;
    let seen = points_charted(&first, "ACME").await;
    first
        .wait_until(
            "two more points on the chart",
            &format!("window.charts.ACME.data[0].length >= {}", seen + 2),
        )
        .await;
    for symbol in ["GLOBEX", "INITECH"] {
        assert!(points_charted(&first, symbol).await >= seen + 2, "{symbol}");
    }
    first
        .wait_until(
            "a price in the quotes table",
            "/^\\d+\\.\\d\\d$/.test(document.querySelector('#quotes td.price').innerText)",
        )
        .await;

    // A page that opens later starts with what was published before it
    // came (the topics' history), oldest point first, then draws live ones.
    let oldest = oldest_point(&first, "ACME").await;
    let later = Page::open("ticker-later", &format!("http://{}/ticker/", host.address)).await;
    later
        .wait_for_text("#status", "Live: 3 symbols, a point every 1 s.")
        .await;
    let opened_with = points_charted(&later, "ACME").await;
    assert!(
        opened_with >= seen + 2,
        "the later page opened with {opened_with} points; the first had {} by then",
        seen + 2
    );
    assert_eq!(oldest_point(&later, "ACME").await, oldest);
    later
        .wait_until(
            "a live point after the recent past",
            &format!("window.charts.ACME.data[0].length > {opened_with}"),
        )
        .await;
    later.screenshot("chart");
}

#[tokio::test]
async fn a_lock_left_idle_passes_to_the_next_in_line_and_both_are_told() {
    let host = realtime_host();
    // Carol holds the document; Alice, who may hold it for 2 s without
    // typing, is next in line, then Bob (both others keep the default
    // minute). The line is formed before Alice's 2 s can start.
    let carol = open_document(&host, "lock_idle", "carol").await;
    carol
        .wait_for_text("#lock", "You are editing this document.")
        .await;
    let alice = open_as(&host, "lock_idle", "alice", "/lock/?idle=2", "").await;
    alice
        .wait_for_text("#lock", "This document is being edited by carol.")
        .await;
    let bob = open_document(&host, "lock_idle", "bob").await;
    bob.wait_for_text("#line", "Next in line: alice, you.")
        .await;

    // Carol leaves: the lock is Alice's, and she types nothing. Her time
    // runs out and Bob holds it; both are told why.
    drop(carol);
    bob.wait_for_text("#lock", "You are editing this document.")
        .await;
    assert!(can_type(&bob).await);
    bob.wait_for_text("#notice", "alice's lock expired after 2 s without typing.")
        .await;
    alice
        .wait_for_text("#notice", "Your lock expired after 2 s without typing.")
        .await;
    alice
        .wait_for_text("#lock", "This document is being edited by bob.")
        .await;
    alice.wait_for_text("#line", "Viewing: you.").await;
    assert!(!can_type(&alice).await);
    alice.screenshot("expired");

    // She asks again and is next in line; closing the tab still frees it.
    alice.click("#edit").await;
    alice.wait_for_text("#line", "Next in line: you.").await;
    drop(bob);
    alice
        .wait_for_text("#lock", "You are editing this document.")
        .await;
    alice.wait_for_text("#notice", "").await;
}

/// A host serving the tail app with one granted file, `access.log` in a
/// folder of the test's own, holding `lines` to begin with.
fn tail_host(lines: &[&str]) -> (Host, PathBuf) {
    let dir = scratch_dir("tail-demo");
    let log = dir.join("access.log");
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(&log, text).expect("writing the log");
    let config = format!(
        r#"static_dir = {web:?}

[deploy]
data_dir = {data:?}

[[apps]]
name = "tail"
route = "/tail"
module = {tail:?}

[[apps.feeds]]
name = "access.log"
path = {log:?}
"#,
        web = web_root(),
        data = dir.join("data").display().to_string(),
        tail = example("tail").display().to_string(),
        log = log.display().to_string(),
    );
    let path = dir.join("demo.toml");
    std::fs::write(&path, config).expect("writing the test's config");
    let host = Host::serve(&["--config", path.to_str().expect("a UTF-8 path")]);
    (host, log)
}

/// Append `lines` to the file, as a program writing its log would.
fn append(log: &Path, lines: &[&str]) {
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(log)
        .expect("the log opens for appending");
    for line in lines {
        writeln!(file, "{line}").expect("appending to the log");
    }
}

/// The lines the tail page shows now, top to bottom (hidden ones left out).
async fn shown_lines(page: &Page) -> Vec<String> {
    let lines = page
        .run("return [...document.querySelectorAll('#lines .line')].filter(l => !l.hidden).map(l => l.textContent);")
        .await;
    serde_json::from_value(lines).expect("a list of lines")
}

#[tokio::test]
async fn a_line_appended_to_the_log_appears_on_every_tail_page_and_the_filter_hides_the_rest() {
    let (host, log) = tail_host(&["GET /index.html 200", "", "POST /login 401"]);
    let url = format!("http://{}/tail/", host.address);
    let alice = Page::open("tail-alice", &url).await;
    let bob = Page::open("tail-bob", &url).await;
    for page in [&alice, &bob] {
        page.wait_for_text("#status", "Following access.log.").await;
        // The file's last lines, the blank one dropped by the app.
        assert_eq!(
            shown_lines(page).await,
            ["GET /index.html 200", "POST /login 401"]
        );
    }

    append(&log, &["GET /missing 404"]);
    alice
        .wait_for_text("#lines .line", "GET /missing 404")
        .await;
    bob.wait_for_text("#lines .line", "GET /missing 404").await;

    // Alice shows only the 404s: past lines and new ones alike. Bob's page
    // is his own: it still shows everything.
    alice.type_text("#filter", "404").await;
    alice.wait_for_text("#count", "1 of 3 lines").await;
    assert_eq!(shown_lines(&alice).await, ["GET /missing 404"]);
    append(&log, &["GET /fine 200", "POST /gone 404"]);
    alice.wait_for_text("#count", "2 of 5 lines").await;
    assert_eq!(
        shown_lines(&alice).await,
        ["GET /missing 404", "POST /gone 404"]
    );
    bob.wait_for_text("#count", "5 lines").await;
    alice.screenshot("filtered");
}
