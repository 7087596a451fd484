//! Feeds: files the config grants an app to follow, as someone tailing a
//! log through an app meets them. The app here is examples/fragile, which
//! broadcasts every batch of new lines to every client as
//! `{"feed": NAME, "lines": [...]}` and answers `feeds` and `tail NAME N`.
//! The host follows the files the way logs are written and rotated: lines
//! appended in pieces, a file rotated by renaming it and starting a new
//! one, or copied and truncated in place, a file that is not there yet.

mod common;

use std::io::Write as _;
use std::path::{Path, PathBuf};

use common::{Client, Host, connect, example, scratch_dir, stamp, version_of};
use serde_json::{Value, json};

/// A folder for one story's files, and a config serving fragile on
/// /fragile with `feeds` granted (name, path relative to the folder).
/// `extra` is appended (another app).
fn config(dir: &Path, feeds: &[(&str, &str)], extra: &str) -> PathBuf {
    let fragile = example("fragile");
    let grants: String = feeds
        .iter()
        .map(|(name, path)| format!("[[apps.feeds]]\nname = {name:?}\npath = {path:?}\n"))
        .collect();
    let config = dir.join("switchboard.toml");
    std::fs::write(
        &config,
        format!(
            "[deploy]\ndata_dir = \"data\"\n\n\
             [[apps]]\nname = \"fragile\"\nroute = \"/fragile\"\nmodule = {fragile:?}\n\
             {grants}\n{extra}"
        ),
    )
    .expect("write the config");
    config
}

/// Append `text` to the file, as a program writing its log does.
fn append(path: &Path, text: &str) {
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .expect("the log opens for appending");
    file.write_all(text.as_bytes())
        .expect("the log is appended");
}

/// Read what the app broadcasts until `expected` lines of `feed` have come
/// (in however many batches), and return them.
async fn lines_of(client: &mut Client, feed: &str, expected: usize) -> Vec<String> {
    let mut lines = Vec::new();
    while lines.len() < expected {
        let batch = client.recv_json().await;
        assert_eq!(batch["feed"], feed, "expected lines of {feed}, got {batch}");
        let batch = batch["lines"].as_array().expect("a list of lines");
        assert!(!batch.is_empty(), "a batch is never empty");
        lines.extend(
            batch
                .iter()
                .map(|line| line.as_str().expect("a line is text").to_string()),
        );
    }
    lines
}

async fn ask(client: &mut Client, command: &str) -> Value {
    client.send_text(command).await;
    client.recv_json().await
}

#[tokio::test]
async fn lines_appended_to_a_granted_file_reach_every_client() {
    let dir = scratch_dir("feeds");
    let log = dir.join("app.log");
    std::fs::write(&log, "written before the host started\n").expect("an old log");
    let host = Host::serve_config_with_admin(&config(&dir, &[("app", "app.log")], ""), &[]);
    let mut alice = connect(&host.url("/fragile")).await;
    let mut bob = connect(&host.url("/fragile")).await;

    append(&log, "GET /index.html 200\nGET /missing 404\n");
    append(&log, "GET /\u{e9}t\u{e9} 200\r\n");
    let expected = [
        "GET /index.html 200",
        "GET /missing 404",
        "GET /\u{e9}t\u{e9} 200",
    ];
    // Following starts at the end, as tail -f does: the old line is not told.
    assert_eq!(lines_of(&mut alice, "app", 3).await, expected);
    assert_eq!(lines_of(&mut bob, "app", 3).await, expected);

    // Many lines at once arrive in batches, in order, none lost.
    let many: String = (0..5000).map(|n| format!("request {n}\n")).collect();
    append(&log, &many);
    let lines = lines_of(&mut alice, "app", 5000).await;
    assert_eq!(lines.first().map(String::as_str), Some("request 0"));
    assert_eq!(lines.last().map(String::as_str), Some("request 4999"));
    assert!(
        lines
            .iter()
            .enumerate()
            .all(|(n, line)| *line == format!("request {n}"))
    );
}

#[tokio::test]
async fn a_partial_line_waits_for_its_newline() {
    let dir = scratch_dir("feeds");
    let log = dir.join("app.log");
    std::fs::write(&log, "").expect("an empty log");
    let host = Host::serve_config_with_admin(&config(&dir, &[("app", "app.log")], ""), &[]);
    let mut client = connect(&host.url("/fragile")).await;

    append(&log, "complete\nhalf a li");
    assert_eq!(lines_of(&mut client, "app", 1).await, ["complete"]);
    append(&log, "ne, then the rest");
    append(&log, "\n");
    assert_eq!(
        lines_of(&mut client, "app", 1).await,
        ["half a line, then the rest"]
    );
}

#[tokio::test]
async fn a_log_rotated_by_renaming_is_finished_then_the_new_one_followed() {
    let dir = scratch_dir("feeds");
    let log = dir.join("access.log");
    std::fs::write(&log, "").expect("an empty log");
    let host = Host::serve_config_with_admin(&config(&dir, &[("access", "access.log")], ""), &[]);
    let mut client = connect(&host.url("/fragile")).await;

    append(&log, "before rotation\n");
    assert_eq!(
        lines_of(&mut client, "access", 1).await,
        ["before rotation"]
    );
    // logrotate's default: rename, and the server, still holding the old
    // file, writes a last line to it before it opens a new one.
    let rotated = dir.join("access.log.1");
    std::fs::rename(&log, &rotated).expect("the log is rotated");
    append(&rotated, "last line of the old file\n");
    append(&log, "first line of the new file\n");
    assert_eq!(
        lines_of(&mut client, "access", 2).await,
        ["last line of the old file", "first line of the new file"]
    );
    append(&log, "and on\n");
    assert_eq!(lines_of(&mut client, "access", 1).await, ["and on"]);

    // Rotated again, the same way.
    std::fs::rename(&log, dir.join("access.log.2")).expect("rotated again");
    append(&log, "third file\n");
    assert_eq!(lines_of(&mut client, "access", 1).await, ["third file"]);
}

#[tokio::test]
async fn a_log_copied_and_truncated_in_place_is_read_again_from_its_start() {
    let dir = scratch_dir("feeds");
    let log = dir.join("app.log");
    std::fs::write(&log, "old line\n".repeat(100)).expect("a log with history");
    let host = Host::serve_config_with_admin(&config(&dir, &[("app", "app.log")], ""), &[]);
    let mut client = connect(&host.url("/fragile")).await;

    append(&log, "before the copy\n");
    assert_eq!(lines_of(&mut client, "app", 1).await, ["before the copy"]);
    // logrotate's copytruncate: copy, then truncate the file the server
    // keeps writing to.
    std::fs::copy(&log, dir.join("app.log.1")).expect("the log is copied");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .and_then(|file| file.set_len(0))
        .expect("the log is truncated");
    append(&log, "after the truncation\n");
    assert_eq!(
        lines_of(&mut client, "app", 1).await,
        ["after the truncation"]
    );
    append(&log, "and on\n");
    assert_eq!(lines_of(&mut client, "app", 1).await, ["and on"]);
}

#[tokio::test]
async fn a_file_missing_at_startup_is_an_error_in_the_log_then_followed_once_it_appears() {
    let dir = scratch_dir("feeds");
    let host = Host::serve_config_with_admin(&config(&dir, &[("later", "later.log")], ""), &[]);
    let log = dir.join("later.log");
    host.wait_for_log(&format!(
        "fragile: feed later: cannot read {}: No such file or directory",
        log.display()
    ));
    assert!(
        host.log().contains("waiting for it to appear"),
        "{}",
        host.log()
    );
    let mut client = connect(&host.url("/fragile")).await;
    // The app serves meanwhile, and knows its feed.
    assert_eq!(
        ask(&mut client, "feeds").await,
        json!({"granted": ["later"]})
    );

    // A file that appears is new: followed from its start.
    append(&log, "first\nsecond\n");
    assert_eq!(lines_of(&mut client, "later", 2).await, ["first", "second"]);
    host.wait_for_log(&format!(
        "fragile: feed later: {} can be read again",
        log.display()
    ));

    // Deleted, then written again: the new file from its start too.
    std::fs::remove_file(&log).expect("the log is deleted");
    append(&log, "back\n");
    assert_eq!(lines_of(&mut client, "later", 1).await, ["back"]);
}

#[tokio::test]
async fn tail_gives_the_last_lines_of_a_granted_feed_and_nothing_else() {
    let dir = scratch_dir("feeds");
    std::fs::write(dir.join("app.log"), "one\ntwo\nthree\nfour\nunfinished").expect("a log");
    std::fs::write(dir.join("secret.txt"), "not granted\n").expect("another file");
    let host = Host::serve_config_with_admin(
        &config(&dir, &[("app", "app.log"), ("gone", "gone.log")], ""),
        &[],
    );
    let mut client = connect(&host.url("/fragile")).await;

    assert_eq!(
        ask(&mut client, "feeds").await,
        json!({"granted": ["app", "gone"]})
    );
    // The last complete lines, oldest first; the line still being written
    // is not one yet.
    assert_eq!(
        ask(&mut client, "tail app 2").await,
        json!({"tail": "app", "lines": ["three", "four"]})
    );
    assert_eq!(
        ask(&mut client, "tail app 100").await,
        json!({"tail": "app", "lines": ["one", "two", "three", "four"]})
    );
    // A name the config did not grant reads nothing, whatever it looks like.
    for name in ["secret", "secret.txt", "../secret.txt", "App"] {
        assert_eq!(
            ask(&mut client, &format!("tail {name} 5")).await,
            json!({"tail": name, "error": "unknown-feed"})
        );
    }
    // A granted file that is not there is unreadable, and the log says why.
    assert_eq!(
        ask(&mut client, "tail gone 5").await,
        json!({"tail": "gone", "error": "unreadable"})
    );
    host.wait_for_log("fragile: feed gone: cannot read");

    // The grants are the host's: an instance made afresh after a trap
    // sees the same.
    let mut victim = connect(&host.url("/fragile")).await;
    victim.send_text("panic").await;
    assert_eq!(victim.expect_close().await.0, 1011);
    assert_eq!(
        ask(&mut client, "tail app 1").await,
        json!({"tail": "app", "lines": ["four"]})
    );
}

#[tokio::test]
async fn a_feed_granted_to_one_app_is_not_told_to_another() {
    let dir = scratch_dir("feeds");
    let log = dir.join("app.log");
    std::fs::write(&log, "").expect("an empty log");
    let fragile = example("fragile");
    let other_app =
        format!("[[apps]]\nname = \"other\"\nroute = \"/other\"\nmodule = {fragile:?}\n");
    let host = Host::serve_config_with_admin(&config(&dir, &[("app", "app.log")], &other_app), &[]);
    let mut granted = connect(&host.url("/fragile")).await;
    let mut other = connect(&host.url("/other")).await;

    assert_eq!(ask(&mut other, "feeds").await, json!({"granted": []}));
    assert_eq!(
        ask(&mut other, "tail app 5").await,
        json!({"tail": "app", "error": "unknown-feed"})
    );
    append(&log, "for fragile only\n");
    assert_eq!(lines_of(&mut granted, "app", 1).await, ["for fragile only"]);
    // Had the lines gone to the other app too, they would come before this
    // answer.
    assert_eq!(ask(&mut other, "feeds").await, json!({"granted": []}));
}

#[tokio::test]
async fn a_hot_swap_keeps_the_feed_flowing() {
    let dir = scratch_dir("feeds");
    let log = dir.join("app.log");
    std::fs::write(&log, "").expect("an empty log");
    let host = Host::serve_config_with_admin(&config(&dir, &[("app", "app.log")], ""), &[]);
    let mut client = connect(&host.url("/fragile")).await;
    append(&log, "before the swap\n");
    assert_eq!(lines_of(&mut client, "app", 1).await, ["before the swap"]);

    let next = stamp(&std::fs::read(example("fragile")).expect("fragile"), 1);
    let (status, answer) = host
        .admin_request("PUT", "/apps/fragile", Some(next.clone()))
        .await;
    assert_eq!(status, 200, "{answer}");
    host.wait_for_version("fragile", &version_of(&next)).await;

    append(&log, "after the swap\n");
    assert_eq!(lines_of(&mut client, "app", 1).await, ["after the swap"]);
    assert_eq!(ask(&mut client, "feeds").await, json!({"granted": ["app"]}));
}
