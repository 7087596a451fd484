//! Timers, as an app meets them in a real host: it sets them by key, the
//! host calls its `on-timer` when each is due, and because the host holds
//! them they outlive a hot swap and a trap. Driven through
//! examples/fragile's timer commands (`timer KEY DELAY_MS [REPEAT_MS]`,
//! `cancel KEY`, `pending`; every connection hears `fired KEY`).

mod common;

use std::path::{Path, PathBuf};

use common::{Client, Host, connect, example, scratch_dir, stamp, version_of, workspace_root};

/// A host serving fragile on /f (app `f`), with the admin API on.
fn serve_fragile() -> Host {
    let app = format!("/f={}", example("fragile").display());
    Host::serve_with_admin(&["--app", &app])
}

/// Send `command` and return the reply that starts with `reply`, skipping
/// the `fired` notices that come in between.
async fn ask(client: &mut Client, command: &str, reply: &str) -> String {
    client.send_text(command).await;
    skip_to(client, reply).await
}

/// Read until a message starting with `wanted`, skipping `fired` notices
/// (and only those).
async fn skip_to(client: &mut Client, wanted: &str) -> String {
    loop {
        let text = client.recv_text().await;
        if text.starts_with(wanted) {
            return text;
        }
        assert!(
            text.starts_with("fired "),
            "waiting for {wanted:?}, got {text:?}"
        );
    }
}

/// The keys `pending` lists, soonest first.
async fn pending_keys(client: &mut Client) -> Vec<String> {
    let answer = ask(client, "pending", "pending").await;
    answer
        .split(' ')
        .skip(1)
        .map(|timer| timer.split(':').next().unwrap_or_default().to_string())
        .collect()
}

/// Nothing but `set marker` then `fired marker` comes for 100 ms: proof
/// that no other timer fired meanwhile.
async fn nothing_fires_for_a_while(client: &mut Client) {
    client.send_text("timer marker 100").await;
    assert_eq!(client.recv_text().await, "set marker");
    assert_eq!(client.recv_text().await, "fired marker");
}

/// Deploy `bytes` as app `f` through the admin API and wait until it serves.
async fn deploy(host: &Host, bytes: Vec<u8>) {
    let version = version_of(&bytes);
    let (status, answer) = host.admin_request("PUT", "/apps/f", Some(bytes)).await;
    assert_eq!(status, 200, "{answer}");
    host.wait_for_version("f", &version).await;
}

fn fixture(name: &str) -> PathBuf {
    workspace_root().join("host/tests/fixtures").join(name)
}

#[tokio::test]
async fn a_one_shot_timer_fires_once_and_is_gone() {
    let host = serve_fragile();
    let mut ann = connect(&host.url("/f")).await;
    let mut bob = connect(&host.url("/f")).await;
    assert_eq!(ask(&mut ann, "timer once 30", "set").await, "set once");
    assert_eq!(ann.recv_text().await, "fired once");
    assert_eq!(
        bob.recv_text().await,
        "fired once",
        "every connection hears it"
    );
    assert_eq!(pending_keys(&mut ann).await, Vec::<String>::new());
    nothing_fires_for_a_while(&mut ann).await;
}

#[tokio::test]
async fn a_repeating_timer_keeps_firing_until_it_is_cancelled() {
    let host = serve_fragile();
    let mut ann = connect(&host.url("/f")).await;
    assert_eq!(ask(&mut ann, "timer tick 20 20", "set").await, "set tick");
    for _ in 0..3 {
        assert_eq!(ann.recv_text().await, "fired tick");
    }
    assert_eq!(pending_keys(&mut ann).await, ["tick"]);
    assert_eq!(
        ask(&mut ann, "cancel tick", "cancelled").await,
        "cancelled tick true"
    );
    nothing_fires_for_a_while(&mut ann).await;
    assert_eq!(
        ask(&mut ann, "cancel tick", "cancelled").await,
        "cancelled tick false"
    );
}

#[tokio::test]
async fn setting_a_key_again_replaces_its_timer() {
    let host = serve_fragile();
    let mut ann = connect(&host.url("/f")).await;
    // An hour away, then brought forward: it fires once, soon.
    ask(&mut ann, "timer t 3600000", "set t").await;
    ask(&mut ann, "timer t 30", "set t").await;
    assert_eq!(ann.recv_text().await, "fired t");
    assert_eq!(pending_keys(&mut ann).await, Vec::<String>::new());

    // A repeating timer replaced by a one-shot fires once more, no more.
    ask(&mut ann, "timer r 20 20", "set r").await;
    assert_eq!(ann.recv_text().await, "fired r");
    ask(&mut ann, "timer r 30", "set r").await;
    assert_eq!(ann.recv_text().await, "fired r");
    assert_eq!(pending_keys(&mut ann).await, Vec::<String>::new());
    nothing_fires_for_a_while(&mut ann).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timers_are_handed_to_the_new_version_in_a_hot_swap() {
    let host = serve_fragile();
    let mut ann = connect(&host.url("/f")).await;
    ask(&mut ann, "timer tick 50 50", "set tick").await;
    ask(&mut ann, "timer later 3600000", "set later").await;
    assert_eq!(ann.recv_text().await, "fired tick");

    let fragile = std::fs::read(example("fragile")).expect("fragile is built");
    deploy(&host, stamp(&fragile, 1)).await;

    // The new version hears the old one's timer, and lists both.
    assert_eq!(pending_keys(&mut ann).await, ["tick", "later"]);
    assert_eq!(skip_to(&mut ann, "fired tick").await, "fired tick");
    assert_eq!(ann.recv_text().await, "fired tick");
}

#[tokio::test]
async fn timers_survive_a_trap() {
    let host = serve_fragile();
    let mut ann = connect(&host.url("/f")).await;
    let mut victim = connect(&host.url("/f")).await;
    ask(&mut ann, "timer tick 50 50", "set tick").await;
    ask(&mut ann, "timer later 3600000", "set later").await;

    // A trap in on-message: a fresh instance, the same timers.
    victim.send_text("panic").await;
    assert_eq!(victim.expect_close().await.0, 1011);
    assert_eq!(pending_keys(&mut ann).await, ["tick", "later"]);
    assert_eq!(skip_to(&mut ann, "fired tick").await, "fired tick");
    assert_eq!(ann.recv_text().await, "fired tick");
}

#[tokio::test]
async fn a_trap_in_on_timer_closes_nobody_and_spends_only_a_one_shot() {
    let host = serve_fragile();
    let mut ann = connect(&host.url("/f")).await;
    ask(&mut ann, "timer later 3600000", "set later").await;

    // Each of these traps right after its `fired` went out.
    ask(&mut ann, "timer panic-once 20", "set panic-once").await;
    assert_eq!(ann.recv_text().await, "fired panic-once");
    host.wait_for_log("guest trapped in on-timer");
    assert_eq!(pending_keys(&mut ann).await, ["later"]);

    // Far enough apart that it cannot trap often enough to suspend the app.
    ask(&mut ann, "timer panic-tick 250 250", "set panic-tick").await;
    assert_eq!(ann.recv_text().await, "fired panic-tick");
    assert_eq!(ann.recv_text().await, "fired panic-tick");
    assert_eq!(pending_keys(&mut ann).await, ["panic-tick", "later"]);
    ask(&mut ann, "cancel panic-tick", "cancelled panic-tick true").await;
    assert_eq!(ask(&mut ann, "still here", "still").await, "still here");
}

/// A config serving fragile on /f with tight timer limits.
fn limited_config(dir: &Path) -> PathBuf {
    let config = dir.join("switchboard.toml");
    std::fs::write(
        &config,
        format!(
            "[deploy]\ndata_dir = \"data\"\n\n\
             [limits]\nmax_timers_per_app = 2\nmin_timer_interval_ms = 60000\n\n\
             [[apps]]\nname = \"f\"\nroute = \"/f\"\nmodule = {:?}\n",
            example("fragile")
        ),
    )
    .expect("write the config");
    config
}

#[tokio::test]
async fn the_limits_refuse_with_the_wit_errors_and_raise_short_delays() {
    let host = Host::serve_config_with_admin(&limited_config(&scratch_dir("timers")), &[]);
    let mut ann = connect(&host.url("/f")).await;
    ask(&mut ann, "timer a 0", "set a").await;
    ask(&mut ann, "timer b 10", "set b").await;
    assert_eq!(
        ask(&mut ann, "timer c 10", "refused").await,
        "refused c: too-many-timers"
    );
    // Replacing one is not one more.
    ask(&mut ann, "timer a 120000", "set a").await;

    // A delay under min_timer_interval_ms (a minute) was raised to it.
    let pending = ask(&mut ann, "pending", "pending").await;
    let due_in_b: u64 = pending
        .split(' ')
        .find_map(|timer| timer.strip_prefix("b:"))
        .and_then(|due| due.parse().ok())
        .unwrap_or_else(|| panic!("b is pending: {pending}"));
    assert!(due_in_b > 50_000, "{pending}");

    ask(&mut ann, "cancel a", "cancelled a true").await;
    assert_eq!(
        ask(&mut ann, "timer fast 60000 59999", "refused").await,
        "refused fast: interval-too-short"
    );
    let long_key = "k".repeat(257);
    assert_eq!(
        ask(&mut ann, &format!("timer {long_key} 60000"), "refused").await,
        format!("refused {long_key}: invalid-key")
    );
    assert_eq!(
        ask(&mut ann, &format!("timer {} 60000", &long_key[1..]), "set").await,
        format!("set {}", &long_key[1..])
    );
}

#[tokio::test]
async fn a_config_with_a_timer_limit_out_of_range_is_one_line_and_exit_2() {
    let dir = scratch_dir("timers-config");
    let config = dir.join("switchboard.toml");
    std::fs::write(&config, "[limits]\nmin_timer_interval_ms = 0\n").expect("write");
    let (status, _, stderr) =
        common::run_switchboard(&["serve", "--config", config.to_str().expect("UTF-8")]);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("limits.min_timer_interval_ms is 0: give from 1 to 3600000"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_without_on_timer_lets_its_timers_go_by_and_serves_on() {
    let app = format!("/f={}", example("fragile").display());
    let host = Host::serve_with_env(
        &["--app", &app, "--admin-listen", "127.0.0.1:0"],
        &[
            ("SWITCHBOARD_ADMIN_TOKEN", common::ADMIN_TOKEN),
            ("RUST_LOG", "warn,switchboard::app=debug"),
        ],
    );
    let mut ann = connect(&host.url("/f")).await;
    ask(&mut ann, "timer tick 50 50", "set tick").await;

    // Echo from the 0.1.0 world: no timers import, no timer-handler.
    let old_echo = std::fs::read(fixture("echo-0.1.0.wasm")).expect("the fixture");
    deploy(&host, old_echo).await;
    host.wait_for_log("this version exports no timer-handler: the timer went by untold");
    assert_eq!(ask(&mut ann, "hello", "hello").await, "hello");

    // A version with the handler hears the same timer again.
    let fragile = std::fs::read(example("fragile")).expect("fragile is built");
    deploy(&host, stamp(&fragile, 1)).await;
    assert_eq!(skip_to(&mut ann, "fired tick").await, "fired tick");
    assert_eq!(pending_keys(&mut ann).await, ["tick"]);
}

#[test]
fn a_scenario_expecting_other_timers_says_which_fired_and_when() {
    let scenario = scratch_dir("timers-scenario").join("wrong.toml");
    std::fs::write(
        &scenario,
        "[[step]]\nconnect = \"ann\"\n\n\
         [[step]]\nsend = \"ann\"\ntext = \"timer tick 100 100\"\n\n\
         [[step]]\nadvance_ms = 250\nfired = [\"tick\"]\n",
    )
    .expect("write the scenario");
    let fragile = example("fragile");
    let (status, stdout, stderr) = common::run_switchboard(&[
        "test",
        fragile.to_str().expect("UTF-8"),
        scenario.to_str().expect("UTF-8"),
    ]);
    assert_eq!(status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(
            "step 3 (advance_ms 250): expected the timers [\"tick\"] to fire, \
             but \"tick\" at 100 ms, \"tick\" at 200 ms did"
        ),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_an_app_drops_its_timers() {
    let host = Host::serve_with_admin(&[]);
    let fragile = std::fs::read(example("fragile")).expect("fragile is built");
    let create = || host.admin_request("PUT", "/apps/timed?route=/timed", Some(fragile.clone()));
    let (status, answer) = create().await;
    assert_eq!(status, 201, "{answer}");
    let mut ann = connect(&host.url("/timed")).await;
    ask(&mut ann, "timer tick 50 50", "set tick").await;
    ask(&mut ann, "timer later 3600000", "set later").await;
    assert_eq!(ann.recv_text().await, "fired tick");

    let (status, _) = host.admin_request("DELETE", "/apps/timed", None).await;
    assert_eq!(status, 204);
    assert_eq!(ann.expect_close().await.0, 1001);

    // Created again under the same name, it starts with no timers.
    let (status, answer) = create().await;
    assert_eq!(status, 201, "{answer}");
    let mut bob = connect(&host.url("/timed")).await;
    assert_eq!(pending_keys(&mut bob).await, Vec::<String>::new());
    nothing_fires_for_a_while(&mut bob).await;
}
