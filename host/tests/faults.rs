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
