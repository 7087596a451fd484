//! The demo's chat page in real headless Chromium, served by the host as
//! scripts/demo serves it (`--static examples/chat/web`, chat on `/chat`).
//! A browser is stricter than our own test clients about the closing
//! handshake, and the page's status line is what a user sees when the server
//! ends a connection: these stories check both from the browser's side.

mod common;

use common::browser::Page;
use common::{Host, example, workspace_root};

/// The host as the demo runs it: the chat app and its page.
fn demo_host() -> Host {
    let app = format!("/chat={}", example("chat").display());
    let page = workspace_root().join("examples/chat/web");
    let page = page.to_str().expect("a UTF-8 path");
    Host::serve(&["--app", &app, "--static", page])
}

/// Open the page and join the chat as `name`.
async fn join(host: &Host, test: &str, name: &str) -> Page {
    join_at(host, test, name, "/").await
}

/// Open the page at `path` (e.g. `/?app=chat-js`) and join as `name`.
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
    let page = workspace_root().join("examples/chat/web");
    let code_cache = common::code_cache();
    let host = Host::serve_with_env(
        &[
            "--app",
            &app,
            "--static",
            page.to_str().expect("a UTF-8 path"),
        ],
        &[(
            "SWITCHBOARD_CODE_CACHE_DIR",
            code_cache.to_str().expect("a UTF-8 path"),
        )],
    );
    let alice = join_at(&host, "javascript", "alice", "/?app=chat-js").await;
    let bob = join_at(&host, "javascript", "bob", "/?app=chat-js").await;
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
