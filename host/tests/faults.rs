//! A guest that traps hurts only the connection whose event made it trap.

mod common;

use common::{Host, connect, example};

#[tokio::test]
async fn a_trap_closes_only_its_own_connection_with_1011_and_the_app_keeps_serving() {
    let app = format!("/fragile={}", example("fragile").display());
    let host = Host::serve(&["--app", &app]);

    let mut bystander = connect(&host.url("/fragile")).await;
    let mut culprit = connect(&host.url("/fragile")).await;

    bystander.send_text("one").await;
    assert_eq!(bystander.recv_text().await, "one");
    bystander.send_text("count").await;
    assert_eq!(bystander.recv_text().await, "2");

    culprit.send_text("panic").await;
    let (code, _reason) = culprit.expect_close().await;
    assert_eq!(code, 1011);

    // The bystander's connection is still open and served, by a fresh
    // instance whose in-memory counter started over.
    bystander.send_text("still here?").await;
    assert_eq!(bystander.recv_text().await, "still here?");
    bystander.send_text("count").await;
    assert_eq!(bystander.recv_text().await, "2");

    // New clients are served too.
    let mut newcomer = connect(&host.url("/fragile")).await;
    newcomer.send_text("hello").await;
    assert_eq!(newcomer.recv_text().await, "hello");

    // The trap, and the guest's own panic message, are in the log.
    host.wait_for_log("guest trapped in on-message");
    host.wait_for_log("asked to panic");
}

/// Subscriptions are the host's: the fresh instance after a trap serves
/// the same topics to the same connections.
#[tokio::test]
async fn a_trap_leaves_every_subscription_in_place() {
    let app = format!("/fragile={}", example("fragile").display());
    let host = Host::serve(&["--app", &app]);

    let mut reader = connect(&host.url("/fragile")).await;
    reader.send_text("subscribe news").await;
    assert_eq!(reader.recv_text().await, "subscribe news");
    let mut culprit = connect(&host.url("/fragile")).await;
    culprit.send_text("subscribe news").await;
    assert_eq!(culprit.recv_text().await, "subscribe news");

    culprit.send_text("panic").await;
    let (code, _reason) = culprit.expect_close().await;
    assert_eq!(code, 1011);

    let mut writer = connect(&host.url("/fragile")).await;
    writer.send_text("publish news after the trap").await;
    assert_eq!(reader.recv_text().await, "after the trap");
}

#[tokio::test]
async fn a_trap_in_one_app_does_not_touch_another_app() {
    let fragile = format!("/fragile={}", example("fragile").display());
    let echo = format!("/echo={}", example("echo").display());
    let host = Host::serve(&["--app", &fragile, "--app", &echo]);

    let mut echo_client = connect(&host.url("/echo")).await;
    let mut culprit = connect(&host.url("/fragile")).await;
    culprit.send_text("panic").await;
    assert_eq!(culprit.expect_close().await.0, 1011);

    echo_client.send_text("unaffected").await;
    assert_eq!(echo_client.recv_text().await, "unaffected");
}

/// A runtime that leaks a little on every call would reach its memory cap
/// and start failing. Past `recycle_memory_percent` of the cap the host
/// replaces the instance between two events, handing its state over as in
/// a hot swap: the client notices nothing.
#[tokio::test]
async fn an_instance_that_grows_past_the_bound_is_recycled_and_keeps_its_state() {
    let app = format!("/fragile={}", example("fragile").display());
    let host = Host::serve_with_env(
        &["--app", &app, "--admin-listen", "127.0.0.1:0"],
        &[
            ("SWITCHBOARD_ADMIN_TOKEN", common::ADMIN_TOKEN),
            ("RUST_LOG", "warn,switchboard::app=info"),
        ],
    );
    let mut client = connect(&host.url("/fragile")).await;
    client.send_text("one").await;
    assert_eq!(client.recv_text().await, "one");

    // 64 MiB is the default cap and 75% its default bound.
    client.send_text("grow 50").await;
    assert_eq!(client.recv_text().await, "grow 50");
    host.wait_for_log("recycled its instance");
    host.wait_for_log("its state went across by snapshot and restore");

    // Same connection, same count: the snapshot carried it over.
    client.send_text("count").await;
    assert_eq!(client.recv_text().await, "3");
    let (_, app) = host.admin_request("GET", "/apps/fragile", None).await;
    assert_eq!(app["recycles"], 1, "{app}");
    assert_eq!(app["traps"], 0, "{app}");
    let memory = app["memory_bytes"].as_u64().expect("memory_bytes");
    assert!(
        memory < 16 << 20,
        "the fresh instance is small again: {app}"
    );
}
