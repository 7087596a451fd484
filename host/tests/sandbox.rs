//! Untrusted apps are contained: an app that spins, hogs memory, blows its
//! stack, floods its clients or reaches for another app's connections hurts
//! only itself, while a well-behaved app on the same host keeps answering.

mod common;

use std::path::Path;

use common::{ADMIN_TOKEN, Host, connect, example, scratch_dir, stamp, try_connect};

/// A host serving `hostile` and `echo`, from a config file with `extra`
/// settings added to its `[limits]`.
fn hostile_and_echo(limits: &str) -> Host {
    let dir = scratch_dir("sandbox");
    let config = dir.join("switchboard.toml");
    write_config(&config, limits);
    Host::serve_with_env(
        &[
            "--config",
            config.to_str().expect("utf-8"),
            "--admin-listen",
            "127.0.0.1:0",
        ],
        &[("SWITCHBOARD_ADMIN_TOKEN", ADMIN_TOKEN)],
    )
}

fn write_config(path: &Path, limits: &str) {
    let text = format!(
        "[limits]\n{limits}\n\n\
         [[apps]]\nroute = \"/hostile\"\nmodule = \"{}\"\n\n\
         [[apps]]\nroute = \"/echo\"\nmodule = \"{}\"\n",
        example("hostile").display(),
        example("echo").display(),
    );
    std::fs::write(path, text).expect("write the config");
}

/// The echo app answers, i.e. the host and the other app are unharmed.
async fn echo_still_answers(host: &Host) {
    let mut client = connect(&host.url("/echo")).await;
    client.send_text("are you there").await;
    assert_eq!(client.recv_text().await, "are you there");
}

#[tokio::test]
async fn an_endless_loop_is_stopped_and_only_its_connection_is_closed() {
    let host = hostile_and_echo("call_timeout_ms = 100");
    let mut echo = connect(&host.url("/echo")).await;
    let mut bystander = connect(&host.url("/hostile")).await;
    let mut spinner = connect(&host.url("/hostile")).await;

    spinner.send_text("spin").await;
    // While it spins, the other app answers.
    for round in 0..20 {
        let text = format!("round {round}");
        echo.send_text(&text).await;
        assert_eq!(echo.recv_text().await, text);
    }
    assert_eq!(spinner.expect_close().await.0, 1011);

    // The same app serves its other connection from a fresh instance.
    bystander.send_text("still here").await;
    assert_eq!(bystander.recv_text().await, "still here");
    host.wait_for_log("ran past its call timeout (100 ms)");
    echo_still_answers(&host).await;
}

#[tokio::test]
async fn memory_growth_past_the_cap_fails_inside_the_guest() {
    let host = hostile_and_echo("max_memory_bytes = 16777216");
    let mut client = connect(&host.url("/hostile")).await;
    client.send_text("hog").await;
    let answer = client.recv_text().await;
    let mebibytes: usize = answer
        .strip_prefix("got ")
        .and_then(|rest| rest.strip_suffix(" MiB"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected answer {answer:?}"));
    assert!(
        mebibytes < 16,
        "the guest got {mebibytes} MiB past a 16 MiB cap"
    );
    assert!(mebibytes > 4, "the guest got only {mebibytes} MiB");
    // Refused growth is an error the guest saw, not a trap: same connection.
    client.send_text("after").await;
    assert_eq!(client.recv_text().await, "after");
    echo_still_answers(&host).await;
}

#[tokio::test]
async fn a_stack_overflow_traps_and_the_app_recovers() {
    let host = hostile_and_echo("");
    let mut client = connect(&host.url("/hostile")).await;
    client.send_text("recurse").await;
    assert_eq!(client.expect_close().await.0, 1011);
    host.wait_for_log("guest trapped in on-message");
    let mut next = connect(&host.url("/hostile")).await;
    next.send_text("hello").await;
    assert_eq!(next.recv_text().await, "hello");
    echo_still_answers(&host).await;
}

#[tokio::test]
async fn a_send_flood_fills_the_outbox_and_closes_only_that_client() {
    // A generous deadline: this is about the outbox, not the CPU.
    let host = hostile_and_echo("max_outbox_bytes = 4194304\ncall_timeout_ms = 10000");
    let mut flooded = connect(&host.url("/hostile")).await;
    // This client reads nothing until the host has given up on it.
    flooded.send_text("flood").await;
    host.wait_for_log("outbox full, closing the slow connection");
    // What its socket already held arrives, then the close (the backlog
    // still in its outbox was dropped).
    assert_eq!(flooded.expect_close().await.0, 1008);
    echo_still_answers(&host).await;
    let mut next = connect(&host.url("/hostile")).await;
    next.send_text("hello").await;
    assert_eq!(next.recv_text().await, "hello");
}

#[tokio::test]
async fn an_app_cannot_reach_another_apps_connections() {
    let host = hostile_and_echo("");
    // The host's first connection: id 1.
    let mut victim = connect(&host.url("/echo")).await;
    let mut attacker = connect(&host.url("/hostile")).await;
    attacker.send_text("poke 1").await;
    assert_eq!(
        attacker.recv_text().await,
        "cannot poke 1: unknown connection"
    );
    // Nothing reached the victim: its next message is its own echo.
    victim.send_text("mine").await;
    assert_eq!(victim.recv_text().await, "mine");
}

#[tokio::test]
async fn an_app_that_keeps_trapping_is_suspended_until_a_new_version() {
    let host = hostile_and_echo("max_traps = 3");
    let mut bystander = connect(&host.url("/hostile")).await;
    for _ in 0..3 {
        let mut culprit = connect(&host.url("/hostile")).await;
        culprit.send_text("panic").await;
        assert_eq!(culprit.expect_close().await.0, 1011);
    }
    // Suspended: every connection closed, new ones refused, and it shows.
    let (code, reason) = bystander.expect_close().await;
    assert_eq!(
        (code, reason.as_str()),
        (1011, "app suspended after repeated faults")
    );
    let refused = try_connect(&host.url("/hostile")).await;
    assert_eq!(refused.err().map(|refused| refused.status), Some(503));
    let (_, app) = host.admin_request("GET", "/apps/hostile", None).await;
    assert_eq!(app["state"], "suspended", "{app}");
    assert_eq!(app["traps"], 3, "{app}");
    echo_still_answers(&host).await;

    // Deploying a version (the fix) resumes it.
    let next = stamp(&std::fs::read(example("hostile")).expect("hostile.wasm"), 1);
    let (status, app) = host.admin_request("PUT", "/apps/hostile", Some(next)).await;
    assert_eq!(status, 200, "{app}");
    assert_eq!(app["state"], "running", "{app}");
    let mut client = connect(&host.url("/hostile")).await;
    client.send_text("back").await;
    assert_eq!(client.recv_text().await, "back");
}

/// The WASI a toolchain links is granted, and carries nothing: no file, no
/// socket, no environment, no clock to time code with, no way to stall the
/// app by sleeping.
#[tokio::test]
async fn the_wasi_an_app_links_reaches_nothing() {
    let host = hostile_and_echo("call_timeout_ms = 300");
    let mut client = connect(&host.url("/hostile")).await;
    client.send_text("read /etc/hostname").await;
    let answer = client.recv_text().await;
    assert!(answer.starts_with("cannot read /etc/hostname"), "{answer}");
    // A listener the app would reach if it could.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    client.send_text(&format!("connect {address}")).await;
    let answer = client.recv_text().await;
    assert!(answer.starts_with("cannot connect"), "{answer}");
    client.send_text("env").await;
    assert_eq!(client.recv_text().await, "0 variables");
    client.send_text("clock").await;
    assert_eq!(client.recv_text().await, "clock stood still");

    // A sleep ends at the call's deadline, as a trap: only the sleeper's
    // connection goes, and the app serves on.
    let mut bystander = connect(&host.url("/hostile")).await;
    client.send_text("sleep 60000").await;
    let (code, _) = client.expect_close().await;
    assert_eq!(code, 1011);
    host.wait_for_log("ran past its call timeout (300 ms)");
    bystander.send_text("still here").await;
    assert_eq!(bystander.recv_text().await, "still here");
    echo_still_answers(&host).await;
}

#[test]
fn an_app_that_imports_what_the_host_does_not_grant_is_refused_at_load() {
    for (import, function) in [
        ("wasi:http/outgoing-handler@0.2.6", "handle"),
        ("wasi:config/store@0.2.0-draft", "get"),
        ("acme:secrets/vault@1.0.0", "read"),
    ] {
        let component = wat::parse_str(format!(
            r#"(component (import "{import}" (instance (export "{function}" (func (result u64))))))"#
        ))
        .expect("valid WAT");
        let path = scratch_dir("ambient").join("reaches-out.wasm");
        std::fs::write(&path, component).expect("write");
        let (status, stdout, stderr) =
            common::run_switchboard(&["check", path.to_str().expect("utf-8")]);
        assert_eq!(status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(import), "names the import: {stderr}");
        assert!(stderr.contains("does not grant"), "{stderr}");
        assert!(
            stdout.contains(&format!("{import}  REFUSED")),
            "lists it as refused: {stdout}"
        );
    }
}
