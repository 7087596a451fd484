//! Hot swap, the reason Switchboard exists: new app logic goes live under
//! open connections, through a watched file, the admin API or the CLI, and
//! no client notices anything but the new behaviour.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{
    ADMIN_TOKEN, Host, PATIENCE, connect, example, run_switchboard_with_env, scratch_dir, stamp,
    version_of,
};

/// An example's module bytes, and a private copy of them that the test may
/// write over (the host watches it) without touching the shared build.
fn own_copy(name: &str) -> (Vec<u8>, std::path::PathBuf) {
    let bytes = std::fs::read(example(name)).expect("the example is built");
    let path = scratch_dir(name).join(format!("{name}.wasm"));
    std::fs::write(&path, &bytes).expect("copy the module");
    (bytes, path)
}

/// Write `bytes` over `path` the way a linker does: a new file renamed over
/// the old one.
fn replace_by_rename(path: &std::path::Path, bytes: &[u8]) {
    let temporary = path.with_extension("wasm.partial");
    std::fs::write(&temporary, bytes).expect("write the new build");
    std::fs::rename(&temporary, path).expect("rename it over the old one");
}

/// Upload `bytes` and expect a 422 whose reason mentions `because`.
async fn expect_refused(host: &Host, path: &str, bytes: Vec<u8>, because: &str) {
    let (status, answer) = host.admin_request("PUT", path, Some(bytes)).await;
    assert_eq!(status, 422, "{answer}");
    let reason = answer["error"].as_str().unwrap_or_default();
    assert!(reason.contains(because), "{answer}");
}

/// What every client saw.
#[derive(Default)]
struct Seen {
    versions: HashSet<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_clients_see_twenty_swaps_through_file_api_and_cli_and_lose_nothing() {
    const CLIENTS: usize = 200;
    const SWAPS: u32 = 20;

    let (original, watched) = own_copy("versioned");
    let dir = watched.parent().expect("a folder").to_path_buf();
    let app = format!("/v={}", watched.display());
    let host = Arc::new(Host::serve_with_admin(&["--app", &app]));

    // Every version in deploy order: replies must follow this order.
    let mut order = vec![version_of(&original)];
    let seen = Arc::new(Mutex::new(Seen::default()));
    let stop = Arc::new(AtomicBool::new(false));

    let mut clients = Vec::new();
    for client in 0..CLIENTS {
        let url = host.url("/v");
        let seen = seen.clone();
        let stop = stop.clone();
        clients.push(tokio::spawn(async move {
            let mut socket = connect(&url).await;
            let mut replies: Vec<String> = Vec::new();
            let mut number = 0u64;
            // Keep sending until the swaps are done, then a few more, so the
            // last version is seen too.
            let mut after_stop = 0;
            while after_stop < 3 {
                if stop.load(Ordering::Relaxed) {
                    after_stop += 1;
                }
                let text = format!("c{client} n{number}");
                socket.send_text(&text).await;
                let reply = socket.recv_text().await;
                let (version, echoed) = reply
                    .split_once(' ')
                    .unwrap_or_else(|| panic!("client {client}: malformed reply {reply:?}"));
                // Exactly one reply per message, in order: the reply to
                // message n arrives before anything else.
                assert_eq!(echoed, text, "client {client}: reply out of order");
                seen.lock().unwrap().versions.insert(version.to_string());
                replies.push(version.to_string());
                number += 1;
                // Pace the stream: 200 clients, a message every few ms each.
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            socket.socket.close(None).await.expect("a clean close");
            replies
        }));
    }

    // Let traffic flow, then swap twenty times through the three ways.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let admin_url = format!("http://{}", host.admin.clone().expect("admin on"));
    for swap in 1..=SWAPS {
        let bytes = stamp(&original, swap);
        let version = version_of(&bytes);
        match swap % 3 {
            0 => {
                // Write in place half the time, rename over the rest.
                if swap % 2 == 0 {
                    std::fs::write(&watched, &bytes).expect("write in place");
                } else {
                    replace_by_rename(&watched, &bytes);
                }
            }
            1 => {
                let (status, answer) = host.admin_request("PUT", "/apps/v", Some(bytes)).await;
                assert_eq!(status, 200, "{answer}");
                assert_eq!(answer["outcome"], "replaced");
                assert_eq!(answer["active_version"], version.as_str());
            }
            _ => {
                let upload = dir.join(format!("upload-{swap}.wasm"));
                std::fs::write(&upload, &bytes).expect("write the upload");
                let admin_url = admin_url.clone();
                let (status, stdout, stderr) = tokio::task::spawn_blocking(move || {
                    run_switchboard_with_env(
                        &[
                            "deploy",
                            "v",
                            upload.to_str().expect("utf-8 path"),
                            "--admin",
                            &admin_url,
                        ],
                        &[("SWITCHBOARD_ADMIN_TOKEN", ADMIN_TOKEN)],
                    )
                })
                .await
                .expect("the CLI ran");
                assert!(status.success(), "deploy failed: {stderr}");
                assert!(stdout.contains(&version), "{stdout}");
            }
        }
        host.wait_for_version("v", &version).await;
        order.push(version.clone());
        // Some client must be answered by the new version before the next
        // swap, so every version really served.
        let start = Instant::now();
        while !seen.lock().unwrap().versions.contains(&version) {
            assert!(start.elapsed() < PATIENCE, "nobody was served by {version}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    stop.store(true, Ordering::Relaxed);

    for client in clients {
        let replies = client.await.expect("a client failed");
        // Versions only ever move forward for each client.
        let positions: Vec<usize> = replies
            .iter()
            .map(|version| {
                order
                    .iter()
                    .position(|known| known == version)
                    .unwrap_or_else(|| panic!("a reply from unknown version {version}"))
            })
            .collect();
        assert!(
            positions.windows(2).all(|pair| pair[0] <= pair[1]),
            "a client saw versions go backwards: {replies:?}"
        );
    }
    let served = seen.lock().unwrap().versions.len();
    assert_eq!(served, order.len(), "every version served");

    let (_, app) = host.admin_request("GET", "/apps/v", None).await;
    assert_eq!(app["active_version"], order.last().unwrap().as_str());
    // Five versions are kept by default.
    assert_eq!(app["versions"].as_array().map(Vec::len), Some(5), "{app}");
    assert!(app["last_error"].is_null(), "{app}");
}

#[tokio::test]
async fn the_chat_room_survives_a_swap_through_snapshot_and_restore() {
    let (chat, module) = own_copy("chat");
    let app = format!("/chat={}", module.display());
    let host = Host::serve_with_env(
        &["--app", &app, "--admin-listen", "127.0.0.1:0"],
        &[
            ("SWITCHBOARD_ADMIN_TOKEN", ADMIN_TOKEN),
            ("RUST_LOG", "warn,guest=info"),
        ],
    );

    let mut alice = connect(&host.url("/chat?name=alice")).await;
    alice.recv_json().await; // welcome
    let mut bob = connect(&host.url("/chat?name=bob")).await;
    bob.recv_json().await;
    alice.recv_json().await; // bob joined

    let next = stamp(&chat, 1);
    let (status, answer) = host
        .admin_request("PUT", "/apps/chat", Some(next.clone()))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["active_version"], version_of(&next).as_str());
    host.wait_for_log("took over a room of 2");

    // The new version knows who is in the room...
    let mut carol = connect(&host.url("/chat?name=carol")).await;
    let welcome = carol.recv_json().await;
    let mut members: Vec<String> = welcome["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|name| name.as_str().expect("a name").to_string())
        .collect();
    members.sort();
    assert_eq!(members, ["alice", "bob"]);
    assert_eq!(alice.recv_json().await["name"], "carol");
    assert_eq!(bob.recv_json().await["name"], "carol");

    // ...and the old members still chat and leave under their names.
    alice.send_text("still here").await;
    let heard = bob.recv_json().await;
    assert_eq!(
        (heard["from"].as_str(), heard["text"].as_str()),
        (Some("alice"), Some("still here"))
    );
    carol.recv_json().await;
    bob.socket.close(None).await.expect("close");
    let left = alice.recv_json().await;
    assert_eq!(
        (left["type"].as_str(), left["name"].as_str()),
        (Some("leave"), Some("bob"))
    );
}

#[tokio::test]
async fn attachments_and_connection_info_outlive_swaps() {
    let (original, module) = own_copy("versioned");
    let app = format!("/v={}", module.display());
    let host = Host::serve_with_admin(&["--app", &app]);

    let mut client = connect(&host.url("/v?user=ann")).await;
    let first = version_of(&original);
    client.send_text("/note remember me").await;
    assert_eq!(client.recv_text().await, format!("{first} noted"));

    for swap in 1..=2 {
        let bytes = stamp(&original, swap);
        let (status, _) = host
            .admin_request("PUT", "/apps/v", Some(bytes.clone()))
            .await;
        assert_eq!(status, 200);
        let version = version_of(&bytes);
        client.send_text("/note").await;
        assert_eq!(
            client.recv_text().await,
            format!("{version} note: remember me")
        );
        client.send_text("/info").await;
        assert_eq!(
            client.recv_text().await,
            format!("{version} path /v query user=ann")
        );
    }

    // Attachments are capped (16 KiB by default).
    client
        .send_text(&format!("/note {}", "x".repeat(20_000)))
        .await;
    let refused = client.recv_text().await;
    assert!(
        refused.ends_with("cannot note that: too large"),
        "{refused}"
    );
}

/// Functions compiled afresh and functions reused from the compile cache,
/// as the host's `compiled` log line for `module` says them.
fn compile_counts(log: &str, module: &str) -> Option<(u64, u64)> {
    let line = log
        .lines()
        .find(|line| line.contains(" compiled ") && line.contains(&format!("module={module:?}")))?;
    let field = |name: &str| -> Option<u64> {
        let (_, rest) = line.split_once(&format!(" {name}="))?;
        rest.split(' ').next()?.parse().ok()
    };
    Some((field("compiled_functions")?, field("reused_functions")?))
}

#[tokio::test]
async fn a_redeploy_compiles_only_what_changed_and_serves_it() {
    let (original, module) = own_copy("echo");
    let app = format!("/echo={}", module.display());
    let host = Host::serve_with_env(
        &["--app", &app, "--admin-listen", "127.0.0.1:0"],
        &[
            ("SWITCHBOARD_ADMIN_TOKEN", ADMIN_TOKEN),
            ("RUST_LOG", "switchboard=info"),
        ],
    );
    let mut client = connect(&host.url("/echo")).await;

    // The same code under a new version: what a rebuild with a small edit
    // mostly is, and what a rollback to a recent version is.
    let (status, answer) = host
        .admin_request("PUT", "/apps/echo", Some(stamp(&original, 1)))
        .await;
    assert_eq!(status, 200, "{answer}");
    host.wait_for_log("module=\"the new version of echo\"");

    let log = host.log();
    let (first_compiled, _) =
        compile_counts(&log, &module.display().to_string()).expect("the first compile is logged");
    let (compiled, reused) =
        compile_counts(&log, "the new version of echo").expect("the redeploy is logged");
    assert!(
        compiled * 4 < first_compiled && reused > first_compiled / 2,
        "the first compile compiled {first_compiled} functions; the redeploy compiled \
         {compiled} and reused {reused}\n{log}"
    );

    // The cached code is the real thing: the new version answers.
    client.send_text("after the redeploy").await;
    assert_eq!(client.recv_text().await, "after the redeploy");
}

/// A restart serves what was compiled before from the on-disk code cache,
/// without compiling it again; an entry that is damaged, or was not made by
/// this build, is thrown away and compiled afresh.
#[tokio::test]
async fn a_restart_takes_compiled_code_from_the_code_cache_and_rebuilds_a_bad_entry() {
    let data = scratch_dir("code-cache");
    let cache = data.join("code-cache");
    let start = |expect: &str| {
        let host = Host::serve_with_env(
            &[
                "--app",
                &format!("/echo={}", example("echo").display()),
                "--data-dir",
                data.to_str().expect("utf-8"),
            ],
            &[("RUST_LOG", "switchboard=info")],
        );
        host.wait_for_log(expect);
        host
    };
    let echo_answers = |host: Host| async move {
        let mut client = connect(&host.url("/echo")).await;
        client.send_text("served").await;
        assert_eq!(client.recv_text().await, "served");
        host.log()
    };
    let entries = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(&cache)
            .expect("the cache directory exists")
            .map(|entry| entry.expect("entry").path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "code"))
            .collect()
    };

    let log = echo_answers(start(" compiled ")).await;
    assert!(!log.contains("code cache"), "{log}");
    assert_eq!(entries().len(), 1);

    let log = echo_answers(start("loaded compiled code from the code cache")).await;
    assert!(!log.contains(" compiled module"), "nothing compiled: {log}");

    // A damaged entry: cut short.
    let entry = entries().remove(0);
    let bytes = std::fs::read(&entry).expect("read the entry");
    std::fs::write(&entry, &bytes[..bytes.len() / 2]).expect("damage the entry");
    let log = echo_answers(start(" compiled module")).await;
    assert!(
        log.contains("is damaged; it was removed; compiling again"),
        "{log}"
    );

    // An entry whose checksum holds but whose code no wasmtime made.
    let entry = entries().remove(0);
    let bytes = std::fs::read(&entry).expect("read the entry");
    let foreign = b"compiled by something else".to_vec();
    let mut forged = bytes[..8].to_vec();
    forged.extend_from_slice(&sha256(&foreign));
    forged.extend_from_slice(&foreign);
    std::fs::write(&entry, forged).expect("forge the entry");
    let log = echo_answers(start(" compiled module")).await;
    assert!(
        log.contains("was made by another build or configuration"),
        "{log}"
    );

    // And the rewritten entry serves the next start.
    echo_answers(start("loaded compiled code from the code cache")).await;
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).into()
}

#[tokio::test]
async fn with_the_compile_cache_off_every_deploy_compiles_everything() {
    let (original, module) = own_copy("echo");
    let config = module.with_file_name("switchboard.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\n\
             [deploy]\ncompile_cache_bytes = 0\n\
             [[apps]]\nroute = \"/echo\"\nmodule = {:?}\n",
            module.display().to_string()
        ),
    )
    .expect("write the config");
    let host = Host::serve_config_with_admin(&config, &[("RUST_LOG", "switchboard=info")]);
    let (status, answer) = host
        .admin_request("PUT", "/apps/echo", Some(stamp(&original, 1)))
        .await;
    assert_eq!(status, 200, "{answer}");
    host.wait_for_log("module=\"the new version of echo\"");
    // Nothing is counted when there is no cache to count.
    assert_eq!(compile_counts(&host.log(), "the new version of echo"), None);
    let mut client = connect(&host.url("/echo")).await;
    client.send_text("compiled afresh").await;
    assert_eq!(client.recv_text().await, "compiled afresh");
}

#[tokio::test]
async fn bad_deploys_are_refused_and_the_old_version_keeps_serving() {
    let (echo, module) = own_copy("echo");
    let app = format!("/echo={}", module.display());
    let host = Host::serve_with_admin(&["--app", &app]);
    let mut client = connect(&host.url("/echo")).await;

    // No token, a wrong token: 401, and nothing changes.
    let (status, _) = host
        .admin_request_with_token("PUT", "/apps/echo", Some(stamp(&echo, 1)), None)
        .await;
    assert_eq!(status, 401);
    let (status, answer) = host
        .admin_request_with_token("GET", "/apps", None, Some("not-the-token-at-all"))
        .await;
    assert_eq!(status, 401, "{answer}");

    // Not WebAssembly, not fitting the world (the reason names what is
    // missing), trapping while starting: 422 each.
    let not_wasm = b"not a component".to_vec();
    expect_refused(&host, "/apps/echo", not_wasm, "not a WebAssembly file").await;
    let empty = wat::parse_str("(component)").expect("WAT");
    expect_refused(&host, "/apps/echo", empty, "switchboard:app/handler").await;
    let trap = common::traps_while_starting();
    expect_refused(&host, "/apps/echo", trap, "failed while starting").await;

    // Over the size limit (64 MiB by default): 413.
    let huge = vec![0u8; (64 << 20) + 1];
    let (status, answer) = host.admin_request("PUT", "/apps/echo", Some(huge)).await;
    assert_eq!(status, 413, "{answer}");

    // Through all of that, the old version served without a break.
    client.send_text("still the first version").await;
    assert_eq!(client.recv_text().await, "still the first version");
    let (status, app) = host.admin_request("GET", "/apps/echo", None).await;
    assert_eq!(status, 200);
    assert_eq!(app["active_version"], version_of(&echo).as_str());
    assert_eq!(app["versions"].as_array().map(Vec::len), Some(1));
    assert_eq!(app["connections"], 1);
    assert!(
        app["last_error"]["message"]
            .as_str()
            .unwrap()
            .contains("failed while starting"),
        "{app}"
    );

    // A half-written module file is not loaded either.
    std::fs::write(&module, &echo[..echo.len() / 2]).expect("truncate");
    let start = Instant::now();
    loop {
        let (_, app) = host.admin_request("GET", "/apps/echo", None).await;
        if app["last_error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("not a WebAssembly component"))
        {
            break;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "the broken file was never tried: {app}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    client.send_text("and still").await;
    assert_eq!(client.recv_text().await, "and still");

    // Finishing the write deploys it, and clears the error.
    let fixed = stamp(&echo, 2);
    std::fs::write(&module, &fixed).expect("finish the write");
    host.wait_for_version("echo", &version_of(&fixed)).await;
    let (_, app) = host.admin_request("GET", "/apps/echo", None).await;
    assert!(app["last_error"].is_null(), "{app}");
}

#[tokio::test]
async fn a_failed_snapshot_or_restore_leaves_the_old_version_and_its_memory() {
    let (fragile, module) = own_copy("fragile");
    let app = format!("/f={}", module.display());
    let host = Host::serve_with_admin(&["--app", &app]);
    let mut client = connect(&host.url("/f")).await;

    client.send_text("refuse-next-restore").await;
    client.recv_text().await;
    expect_refused(&host, "/apps/f", stamp(&fragile, 1), "refused the snapshot").await;
    // The old instance kept its memory: two messages so far, this is the third.
    client.send_text("count").await;
    assert_eq!(client.recv_text().await, "2");

    client.send_text("trap-in-snapshot").await;
    client.recv_text().await;
    expect_refused(&host, "/apps/f", stamp(&fragile, 2), "trapped in snapshot").await;
    // A trap in the old version costs its memory (the instance is made
    // afresh), never its connections.
    client.send_text("count").await;
    assert_eq!(client.recv_text().await, "1");
    let (_, app) = host.admin_request("GET", "/apps/f", None).await;
    assert_eq!(app["active_version"], version_of(&fragile).as_str());

    // A good swap carries the count over through snapshot and restore.
    let next = stamp(&fragile, 3);
    let (status, _) = host.admin_request("PUT", "/apps/f", Some(next)).await;
    assert_eq!(status, 200);
    client.send_text("count").await;
    assert_eq!(client.recv_text().await, "2");
}

#[tokio::test]
async fn an_oversize_snapshot_fails_the_deploy_on_one_line_and_the_old_version_serves_on() {
    let (fragile, module) = own_copy("fragile");
    let config = module.with_file_name("switchboard.toml");
    std::fs::write(
        &config,
        format!(
            "[limits]\nmax_snapshot_bytes = 65536\n\n\
             [[apps]]\nroute = \"/f\"\nmodule = {:?}\n",
            module.display().to_string()
        ),
    )
    .expect("write the config");
    let host = Host::serve_config_with_admin(&config, &[]);
    let mut client = connect(&host.url("/f")).await;

    // The app keeps 100 KB for its next version: over the 64 KiB limit.
    client.send_text("bloat-snapshot 100000").await;
    client.recv_text().await;
    let (status, answer) = host
        .admin_request("PUT", "/apps/f", Some(stamp(&fragile, 1)))
        .await;
    assert_eq!(status, 422, "{answer}");
    let reason = answer["error"].as_str().unwrap_or_default();
    assert!(
        reason.contains("limits.max_snapshot_bytes (65536)") && !reason.contains('\n'),
        "{answer}"
    );
    host.wait_for_log("deploy failed");
    let log = host.log();
    let line = log
        .lines()
        .find(|line| line.contains("deploy failed"))
        .unwrap_or_default();
    assert!(line.contains("limits.max_snapshot_bytes"), "{log}");

    // Not a fault: the old version serves the same connection, its memory
    // intact (this is the third message it handled).
    client.send_text("count").await;
    assert_eq!(client.recv_text().await, "2");
    let (_, app) = host.admin_request("GET", "/apps/f", None).await;
    assert_eq!(app["active_version"], version_of(&fragile).as_str());
    assert_eq!(app["traps"], 0, "{app}");

    // Past the memory cap (64 MiB), building the snapshot runs the guest
    // out of memory: a trap, reported on one line without its backtrace.
    client.send_text("bloat-snapshot 100000000").await;
    client.recv_text().await;
    let (status, answer) = host
        .admin_request("PUT", "/apps/f", Some(stamp(&fragile, 2)))
        .await;
    assert_eq!(status, 422, "{answer}");
    let reason = answer["error"].as_str().unwrap_or_default();
    assert!(
        reason.contains("trapped in snapshot: wasm trap") && !reason.contains('\n'),
        "{answer}"
    );
    client.send_text("still here").await;
    assert_eq!(client.recv_text().await, "still here");
}

#[tokio::test]
async fn uploaded_apps_and_versions_survive_a_restart_and_rollback_works_after_it() {
    let echo = std::fs::read(example("echo")).expect("echo.wasm");
    let versioned = std::fs::read(example("versioned")).expect("versioned.wasm");
    let data = scratch_dir("restart-data");
    let data_arg = data.to_str().expect("utf-8");

    let host = Host::serve_with_admin(&["--data-dir", data_arg]);
    // Created through the API, with no config and no --app at all.
    let (status, answer) = host
        .admin_request("PUT", "/apps/tagged?route=/tagged", Some(versioned.clone()))
        .await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["outcome"], "created");
    let second = stamp(&versioned, 1);
    let (status, _) = host
        .admin_request("PUT", "/apps/tagged", Some(second.clone()))
        .await;
    assert_eq!(status, 200);
    // Another app may not take the same route; a new app needs a route.
    let (status, _) = host
        .admin_request("PUT", "/apps/other?route=/tagged", Some(echo.clone()))
        .await;
    assert_eq!(status, 409);
    let (status, answer) = host.admin_request("PUT", "/apps/other", Some(echo)).await;
    assert_eq!(status, 400, "{answer}");
    drop(host);

    let host = Host::serve_with_admin(&["--data-dir", data_arg]);
    let mut client = connect(&host.url("/tagged")).await;
    client.send_text("after restart").await;
    assert_eq!(
        client.recv_text().await,
        format!("{} after restart", version_of(&second))
    );

    // Roll back: the previous version serves the same open connection.
    let (status, app) = host
        .admin_request("POST", "/apps/tagged/rollback", None)
        .await;
    assert_eq!(status, 200, "{app}");
    assert_eq!(app["active_version"], version_of(&versioned).as_str());
    client.send_text("rolled back").await;
    assert_eq!(
        client.recv_text().await,
        format!("{} rolled back", version_of(&versioned))
    );
    // Nothing older to go back to.
    let (status, _) = host
        .admin_request("POST", "/apps/tagged/rollback", None)
        .await;
    assert_eq!(status, 409);
    // Forward again, by version id.
    let target = version_of(&second);
    let (status, app) = host
        .admin_request(
            "POST",
            &format!("/apps/tagged/rollback?version={}", &target[..6]),
            None,
        )
        .await;
    assert_eq!(status, 200, "{app}");
    assert_eq!(app["active_version"], target.as_str());
    let (status, _) = host
        .admin_request("POST", "/apps/nope/rollback", None)
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn removing_an_app_closes_its_clients_with_1001_after_on_close() {
    let host = Host::serve_with_env(
        &["--admin-listen", "127.0.0.1:0"],
        &[
            ("SWITCHBOARD_ADMIN_TOKEN", ADMIN_TOKEN),
            ("RUST_LOG", "warn,guest=info"),
        ],
    );
    let chat = std::fs::read(example("chat")).expect("the example is built");
    let (status, answer) = host
        .admin_request("PUT", "/apps/chat?route=/chat", Some(chat))
        .await;
    assert_eq!(status, 201, "{answer}");
    let mut alice = connect(&host.url("/chat?name=alice")).await;
    alice.recv_json().await;

    let (status, _) = host.admin_request("DELETE", "/apps/chat", None).await;
    assert_eq!(status, 204);
    assert_eq!(alice.expect_close().await.0, 1001);
    assert!(host.log().contains("alice left"), "{}", host.log());

    let refused = common::try_connect(&host.url("/chat?name=bob")).await;
    assert_eq!(refused.err().map(|r| r.status), Some(404));
    let (status, _) = host.admin_request("GET", "/apps/chat", None).await;
    assert_eq!(status, 404);
    let (status, apps) = host.admin_request("GET", "/apps", None).await;
    assert_eq!((status, apps), (200, serde_json::json!([])));
}

#[test]
fn the_cli_lists_and_rolls_back_and_says_what_went_wrong() {
    let echo = example("echo");
    let app = format!("/echo={}", echo.display());
    let host = Host::serve_with_admin(&["--app", &app]);
    let admin = format!("http://{}", host.admin.clone().expect("admin on"));
    let token = [("SWITCHBOARD_ADMIN_TOKEN", ADMIN_TOKEN)];

    let (status, stdout, stderr) = run_switchboard_with_env(&["apps", "--admin", &admin], &token);
    assert!(status.success(), "{stderr}");
    assert!(stdout.contains("echo  route /echo"), "{stdout}");

    let (status, _, stderr) =
        run_switchboard_with_env(&["rollback", "echo", "--admin", &admin], &token);
    assert_eq!(status.code(), Some(2), "nothing to roll back to: {stderr}");
    assert!(stderr.contains("no version older"), "{stderr}");

    let (status, _, stderr) = run_switchboard_with_env(&["apps", "--admin", &admin], &[]);
    assert_eq!(status.code(), Some(2));
    assert!(stderr.contains("SWITCHBOARD_ADMIN_TOKEN"), "{stderr}");

    let (status, _, stderr) = run_switchboard_with_env(
        &["apps", "--admin", &admin],
        &[("SWITCHBOARD_ADMIN_TOKEN", "wrong-token-0123456789")],
    );
    assert_eq!(status.code(), Some(2));
    assert!(stderr.contains("401"), "{stderr}");

    let (status, _, stderr) =
        run_switchboard_with_env(&["apps", "--admin", "http://127.0.0.1:1"], &token);
    assert_eq!(status.code(), Some(1));
    assert!(stderr.contains("cannot reach the admin API"), "{stderr}");
}

/// What a new client of /tagged gets back for `text`.
async fn reply(host: &Host, text: &str) -> String {
    let mut client = connect(&host.url("/tagged")).await;
    client.send_text(text).await;
    client.recv_text().await
}

/// The rules a config-named app lives by across restarts, as a user meets
/// them: an upload outlives a restart until the module file changes, each
/// version going live says so in the log at the default level, and the
/// admin API refuses to remove the app (it would come back on the next
/// start) while an app created through the API stays removed.
#[tokio::test]
async fn a_config_app_keeps_its_upload_until_its_file_changes_and_is_not_removed_by_the_api() {
    let (built, file) = own_copy("versioned");
    let data = scratch_dir("config-app-data");
    let app = format!("/tagged={}", file.display());
    let args = ["--app", app.as_str(), "--data-dir", data.to_str().unwrap()];

    let host = Host::serve_with_admin(&args);
    let first = version_of(&built);
    host.wait_for_log(&format!("tagged: now serves version {first} from"));
    let upload = stamp(&built, 1);
    let (status, answer) = host
        .admin_request("PUT", "/apps/tagged", Some(upload.clone()))
        .await;
    assert_eq!(status, 200, "{answer}");
    host.wait_for_log(&format!(
        "tagged: now serves version {} (uploaded)",
        version_of(&upload)
    ));

    // Removing it is refused, with the reason and the way out.
    let (status, answer) = host.admin_request("DELETE", "/apps/tagged", None).await;
    assert_eq!(status, 409, "{answer}");
    let error = answer["error"].as_str().unwrap_or_default();
    assert!(error.contains("take it out of the config"), "{error}");
    assert_eq!(
        reply(&host, "still here").await,
        format!("{} still here", version_of(&upload))
    );
    // An app created through the API is removed for good.
    let echo = std::fs::read(example("echo")).expect("the example is built");
    let (status, _) = host
        .admin_request("PUT", "/apps/extra?route=/extra", Some(echo))
        .await;
    assert_eq!(status, 201);
    let (status, _) = host.admin_request("DELETE", "/apps/extra", None).await;
    assert_eq!(status, 204);
    drop(host);

    // Restarted with the file unchanged: the upload serves again.
    let host = Host::serve_with_admin(&args);
    host.wait_for_log(&format!(
        "tagged: now serves version {} again",
        version_of(&upload)
    ));
    assert_eq!(
        reply(&host, "after restart").await,
        format!("{} after restart", version_of(&upload))
    );
    let (status, _) = host.admin_request("GET", "/apps/extra", None).await;
    assert_eq!(status, 404, "a removed app stays removed");
    drop(host);

    // A new build written while the host was down wins over the upload.
    let rebuilt = stamp(&built, 2);
    replace_by_rename(&file, &rebuilt);
    let host = Host::serve_with_admin(&args);
    host.wait_for_log(&format!(
        "tagged: now serves version {} from",
        version_of(&rebuilt)
    ));
    assert_eq!(
        reply(&host, "rebuilt").await,
        format!("{} rebuilt", version_of(&rebuilt))
    );
    // And a build written while it runs says so too.
    let again = stamp(&built, 3);
    replace_by_rename(&file, &again);
    host.wait_for_log(&format!(
        "tagged: now serves version {} ({} changed)",
        version_of(&again),
        file.display()
    ));
}
