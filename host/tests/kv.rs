//! Key-value storage, as an app's users meet it: what an app stores is
//! there on the next message, after a hot swap, after a trap, after the
//! host restarts, and after the host is killed in the middle of writing;
//! it is the app's alone; and the limits answer with the WIT's errors.
//!
//! Every story drives examples/fragile, whose `kv-*` commands call the
//! host's store and reply with the result (examples/fragile/src/kv.rs).

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Client, Host, PATIENCE, connect, example, scratch_dir, stamp, version_of};
use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

/// A config in a fresh folder serving fragile as each app named in `apps`
/// (on `/NAME`, each with its own extra `[[apps]]` keys), with `extra`
/// before the apps (`[limits]`, `[kv]`). Returns the config's path.
fn config(extra: &str, apps: &[(&str, &str)]) -> PathBuf {
    let dir = scratch_dir("kv");
    let fragile = example("fragile");
    let mut text = format!("[deploy]\ndata_dir = \"data\"\n\n{extra}\n");
    for (name, app_extra) in apps {
        text.push_str(&format!(
            "[[apps]]\nname = \"{name}\"\nroute = \"/{name}\"\nmodule = {fragile:?}\n{app_extra}\n"
        ));
    }
    let path = dir.join("switchboard.toml");
    std::fs::write(&path, text).expect("write the config");
    path
}

fn serve(config: &Path) -> Host {
    Host::serve_config_with_admin(config, &[])
}

/// Send one command, return the reply.
async fn ask(client: &mut Client, command: &str) -> String {
    client.send_text(command).await;
    client.recv_text().await
}

#[tokio::test]
async fn an_app_stores_reads_lists_swaps_and_counts() {
    let host = serve(&config("", &[("fragile", "")]));
    let mut client = connect(&host.url("/fragile")).await;

    assert_eq!(ask(&mut client, "kv-get greeting").await, "none");
    assert_eq!(ask(&mut client, "kv-set greeting hello world").await, "ok");
    assert_eq!(
        ask(&mut client, "kv-get greeting").await,
        "value hello world"
    );
    assert_eq!(ask(&mut client, "kv-set greeting hi").await, "ok");
    assert_eq!(ask(&mut client, "kv-get greeting").await, "value hi");

    // Listing: by prefix, in byte order of the keys, page by page.
    for n in [3, 1, 10, 2] {
        assert_eq!(
            ask(&mut client, &format!("kv-set msg:{n} text {n}")).await,
            "ok"
        );
    }
    assert_eq!(
        ask(&mut client, "kv-list msg:").await,
        "list\nmsg:1=text 1\nmsg:10=text 10\nmsg:2=text 2\nmsg:3=text 3"
    );
    assert_eq!(
        ask(&mut client, "kv-list msg: - 2").await,
        "list\nmsg:1=text 1\nmsg:10=text 10"
    );
    assert_eq!(
        ask(&mut client, "kv-list msg: msg:10 2").await,
        "list\nmsg:2=text 2\nmsg:3=text 3"
    );
    assert_eq!(ask(&mut client, "kv-list msg: msg:3 2").await, "list");
    assert_eq!(ask(&mut client, "kv-list - - 1").await, "list\ngreeting=hi");

    // Compare-and-swap, as a lock: taken once, released by its holder.
    assert_eq!(ask(&mut client, "kv-cas lock - ann").await, "true");
    assert_eq!(ask(&mut client, "kv-cas lock - bob").await, "false");
    assert_eq!(ask(&mut client, "kv-cas lock bob -").await, "false");
    assert_eq!(ask(&mut client, "kv-get lock").await, "value ann");
    assert_eq!(ask(&mut client, "kv-cas lock ann -").await, "true");
    assert_eq!(ask(&mut client, "kv-get lock").await, "none");

    // Counters are decimal text.
    assert_eq!(ask(&mut client, "kv-incr visits 1").await, "1");
    assert_eq!(ask(&mut client, "kv-incr visits 41").await, "42");
    assert_eq!(ask(&mut client, "kv-get visits").await, "value 42");
    assert_eq!(ask(&mut client, "kv-incr visits -50").await, "-8");
    assert_eq!(
        ask(&mut client, "kv-incr greeting 1").await,
        "err not-a-counter"
    );
    assert_eq!(
        ask(&mut client, &format!("kv-set big {}", i64::MAX)).await,
        "ok"
    );
    assert_eq!(ask(&mut client, "kv-incr big 1").await, "err overflow");
    assert_eq!(
        ask(&mut client, "kv-get big").await,
        format!("value {}", i64::MAX)
    );

    assert_eq!(ask(&mut client, "kv-del greeting").await, "true");
    assert_eq!(ask(&mut client, "kv-del greeting").await, "false");
    assert_eq!(ask(&mut client, "kv-get greeting").await, "none");
}

#[tokio::test]
async fn what_an_app_stored_outlives_a_hot_swap_a_trap_and_a_restart() {
    let config = config("", &[("fragile", "")]);
    let mut host = serve(&config);
    let mut client = connect(&host.url("/fragile")).await;
    assert_eq!(ask(&mut client, "kv-set motto still here").await, "ok");
    assert_eq!(ask(&mut client, "kv-incr count 1").await, "1");

    // A new version, with fresh memory, reads what the old one stored.
    let next = stamp(&std::fs::read(example("fragile")).expect("fragile.wasm"), 1);
    let (status, answer) = host
        .admin_request("PUT", "/apps/fragile", Some(next.clone()))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["active_version"], version_of(&next).as_str());
    assert_eq!(ask(&mut client, "kv-get motto").await, "value still here");
    assert_eq!(ask(&mut client, "kv-incr count 1").await, "2");

    // A trap throws the instance away; the store is the host's.
    client.send_text("panic").await;
    assert_eq!(client.expect_close().await.0, 1011);
    let mut client = connect(&host.url("/fragile")).await;
    assert_eq!(ask(&mut client, "kv-get motto").await, "value still here");
    assert_eq!(ask(&mut client, "kv-incr count 1").await, "3");
    drop(client);

    // A host stopped and started again on the same data directory.
    host.terminate();
    assert!(host.wait().success(), "{}", host.log());
    let host = serve(&config);
    let mut client = connect(&host.url("/fragile")).await;
    assert_eq!(ask(&mut client, "kv-get motto").await, "value still here");
    assert_eq!(ask(&mut client, "kv-incr count 1").await, "4");
}

#[tokio::test]
async fn two_apps_using_the_same_keys_never_meet() {
    let host = serve(&config("", &[("ann", ""), ("bob", "")]));
    let mut ann = connect(&host.url("/ann")).await;
    let mut bob = connect(&host.url("/bob")).await;

    assert_eq!(ask(&mut ann, "kv-set owner ann").await, "ok");
    assert_eq!(ask(&mut bob, "kv-get owner").await, "none");
    assert_eq!(ask(&mut bob, "kv-set owner bob").await, "ok");
    assert_eq!(ask(&mut ann, "kv-get owner").await, "value ann");
    assert_eq!(ask(&mut bob, "kv-get owner").await, "value bob");
    assert_eq!(ask(&mut ann, "kv-incr n 5").await, "5");
    assert_eq!(ask(&mut bob, "kv-incr n 1").await, "1");
    // Neither can list, swap or delete the other's keys.
    assert_eq!(ask(&mut ann, "kv-list -").await, "list\nn=5\nowner=ann");
    assert_eq!(ask(&mut bob, "kv-cas owner ann mallory").await, "false");
    assert_eq!(ask(&mut bob, "kv-del owner").await, "true");
    assert_eq!(ask(&mut ann, "kv-get owner").await, "value ann");
}

#[tokio::test]
async fn limits_and_quotas_answer_with_the_wit_errors_and_write_nothing() {
    let limits = "[limits]\nmax_kv_keys_per_app = 3\nmax_kv_bytes_per_app = 50\n\
                  max_kv_key_bytes = 8\nmax_kv_value_bytes = 16\n";
    let config = config(
        limits,
        &[
            ("small", ""),
            ("roomy", "max_kv_keys = 10\nmax_kv_bytes = 1000\n"),
        ],
    );
    let mut host = serve(&config);
    let mut small = connect(&host.url("/small")).await;

    // Keys: not empty, at most max_kv_key_bytes.
    assert_eq!(ask(&mut small, "kv-set  empty").await, "err invalid-key");
    assert_eq!(ask(&mut small, "kv-get 123456789").await, "err invalid-key");
    assert_eq!(ask(&mut small, "kv-set 12345678 ok").await, "ok");
    // Values: at most max_kv_value_bytes.
    assert_eq!(
        ask(&mut small, "kv-set k 12345678901234567").await,
        "err value-too-large"
    );
    assert_eq!(ask(&mut small, "kv-get k").await, "none");

    // Three keys at most: the fourth is refused and nothing is written.
    assert_eq!(ask(&mut small, "kv-set a 1").await, "ok");
    assert_eq!(ask(&mut small, "kv-set b 1").await, "ok");
    assert_eq!(ask(&mut small, "kv-set c 1").await, "err quota-exceeded");
    assert_eq!(ask(&mut small, "kv-incr c 1").await, "err quota-exceeded");
    assert_eq!(ask(&mut small, "kv-cas c - 1").await, "err quota-exceeded");
    assert_eq!(ask(&mut small, "kv-get c").await, "none");
    // Replacing a key adds none.
    assert_eq!(ask(&mut small, "kv-set a 1234567890123456").await, "ok");
    // 50 bytes at most, keys and values together: 10 + 17 + 17 = 44 now.
    assert_eq!(ask(&mut small, "kv-set b 1234567890123456").await, "ok");
    assert_eq!(
        ask(&mut small, "kv-set 12345678 123456789012345").await,
        "err quota-exceeded"
    );
    assert_eq!(ask(&mut small, "kv-get 12345678").await, "value ok");
    // Deleting makes room.
    assert_eq!(ask(&mut small, "kv-del b").await, "true");
    assert_eq!(ask(&mut small, "kv-set c 1").await, "ok");

    // An app's own quota in [[apps]] wins over [limits].
    let mut roomy = connect(&host.url("/roomy")).await;
    for key in ["a", "b", "c", "d", "e"] {
        assert_eq!(ask(&mut roomy, &format!("kv-set {key} 1")).await, "ok");
    }
    drop((small, roomy));

    // Usage is counted from the store when the host starts again.
    host.terminate();
    assert!(host.wait().success(), "{}", host.log());
    let host = serve(&config);
    let mut small = connect(&host.url("/small")).await;
    assert_eq!(ask(&mut small, "kv-set d 1").await, "err quota-exceeded");
    assert_eq!(ask(&mut small, "kv-del c").await, "true");
    assert_eq!(ask(&mut small, "kv-set d 1").await, "ok");
}

#[test]
fn a_second_host_on_the_same_store_is_refused_with_a_clear_error() {
    let config = config("", &[("fragile", "")]);
    let _first = serve(&config);
    let config = config.to_str().expect("a UTF-8 path");
    let (status, _, stderr) =
        common::run_switchboard(&["serve", "--config", config, "--listen", "127.0.0.1:0"]);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("kv dir") && stderr.contains("another process"),
        "{stderr}"
    );
}

#[test]
fn a_start_that_fails_leaves_no_store_behind() {
    let dir = scratch_dir("kv-failed-start");
    let config = dir.join("switchboard.toml");
    std::fs::write(
        &config,
        "[deploy]\ndata_dir = \"data\"\n[kv]\ndir = \"elsewhere/kv\"\n\n\
         [[apps]]\nroute = \"/gone\"\nmodule = \"no-such.wasm\"\n",
    )
    .expect("write the config");
    let config_arg = config.to_str().expect("a UTF-8 path");
    let (status, _, stderr) =
        common::run_switchboard(&["serve", "--config", config_arg, "--listen", "127.0.0.1:0"]);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(!dir.join("data").exists(), "the data directory was left");
    assert!(!dir.join("elsewhere").exists(), "the kv dir was left");
}

/// The value written under `key` in the crash test: its length, then the
/// key repeated to that length. A value cut short, or mixed with another,
/// fails `intact`.
fn checked_value(key: &str, n: usize) -> String {
    // From a few bytes to 48 KiB, so some writes take a while.
    let len = [5, 700, 48 << 10, 9_000, 60][n % 5];
    let pattern: String = key.chars().cycle().take(len).collect();
    format!("{len}:{pattern}")
}

fn intact(key: &str, value: &str) -> bool {
    let Some((len, pattern)) = value.split_once(':') else {
        return false;
    };
    let Ok(len) = len.parse::<usize>() else {
        return false;
    };
    pattern.len() == len && pattern.chars().eq(key.chars().cycle().take(len))
}

/// One writer of the crash test: sets keys one after another, each
/// counted as acknowledged only once its `ok` came back, until the host
/// is gone. Returns the acknowledged keys, or what went wrong before the
/// host was killed.
async fn write_until_killed(
    host_url: String,
    writer: usize,
    acked: Arc<AtomicUsize>,
) -> Result<Vec<String>, String> {
    let mut client = connect(&host_url).await;
    let mut acknowledged = Vec::new();
    for n in 0.. {
        let key = format!("w{writer}-{n}");
        let command = format!("kv-set {key} {}", checked_value(&key, n));
        if client.socket.send(Message::text(command)).await.is_err() {
            break;
        }
        match tokio::time::timeout(PATIENCE, client.socket.next()).await {
            Ok(Some(Ok(Message::Text(reply)))) if reply.as_str() == "ok" => {
                acknowledged.push(key);
                acked.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Some(Ok(other))) => return Err(format!("unexpected reply to set {key}: {other:?}")),
            // The host was killed: what it had not acknowledged may or may
            // not be there.
            Ok(Some(Err(_)) | None) => break,
            Err(_) => return Err(format!("set {key} was never answered")),
        }
    }
    Ok(acknowledged)
}

/// Kill the host (SIGKILL) while four clients keep it writing, start it
/// again on the same store, and check that every acknowledged write is
/// there and every value that is there is whole.
async fn killed_mid_write_loses_nothing_acknowledged(kv: &str) {
    let config = config(kv, &[("fragile", "")]);
    let host = serve(&config);
    let url = host.url("/fragile");
    let acked = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..4)
        .map(|writer| tokio::spawn(write_until_killed(url.clone(), writer, acked.clone())))
        .collect();
    let start = Instant::now();
    while acked.load(Ordering::Relaxed) < 400 {
        if start.elapsed() > PATIENCE * 3 || writers.iter().any(|writer| writer.is_finished()) {
            break; // the writers stalled or failed: they say why below
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let log = host.log();
    drop(host); // SIGKILL, in the middle of the writers' next sets
    let mut acknowledged = Vec::new();
    for writer in writers {
        match writer.await.expect("a writer") {
            Ok(keys) => acknowledged.extend(keys),
            Err(problem) => panic!("{problem}; the host's log:\n{log}"),
        }
    }

    let host = serve(&config);
    let mut client = connect(&host.url("/fragile")).await;
    for key in &acknowledged {
        let reply = ask(&mut client, &format!("kv-get {key}")).await;
        let value = reply
            .strip_prefix("value ")
            .unwrap_or_else(|| panic!("acknowledged {key} is gone: {reply}"));
        assert!(intact(key, value), "{key} holds a damaged value");
    }
    // And what is there beyond them (a set in flight when the host died)
    // is whole too.
    let mut after = String::from("-");
    let mut seen = 0;
    loop {
        let page = ask(&mut client, &format!("kv-list w {after} 20")).await;
        let entries: Vec<&str> = page.lines().skip(1).collect();
        let Some(last) = entries.last() else { break };
        for entry in &entries {
            let (key, value) = entry.split_once('=').expect("KEY=VALUE");
            assert!(intact(key, value), "{key} holds a damaged value");
            seen += 1;
        }
        after = last.split_once('=').expect("KEY=VALUE").0.to_string();
    }
    assert!(
        seen >= acknowledged.len(),
        "{seen} keys listed, {} acknowledged",
        acknowledged.len()
    );
}

#[tokio::test]
async fn a_host_killed_mid_write_loses_no_acknowledged_set_when_durability_is_sync() {
    killed_mid_write_loses_nothing_acknowledged("[kv]\ndir = \"store\"\ndurability = \"sync\"\n")
        .await;
}

#[tokio::test]
async fn a_host_killed_mid_write_loses_no_acknowledged_set_when_durability_is_buffered() {
    killed_mid_write_loses_nothing_acknowledged(
        "[kv]\ndurability = \"buffered\"\nsync_interval_ms = 5000\n",
    )
    .await;
}
