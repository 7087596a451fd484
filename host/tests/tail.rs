//! The tail example (examples/tail/rust) in a real host: a log file the
//! config grants the app, by name, streamed to every open page. Its page
//! is tested in a browser (browser.rs); these are the stories of its wire
//! protocol: which feed a client gets, what it is sent first, and how a
//! burst of lines arrives.

mod common;

use std::io::Write as _;
use std::path::{Path, PathBuf};

use common::{Client, Host, connect, example, scratch_dir, try_connect};
use serde_json::{Value, json};

/// A host serving the tail app on /tail, granted `feeds` (name, file).
fn serve(dir: &Path, feeds: &[(&str, &Path)]) -> Host {
    let grants: String = feeds
        .iter()
        .map(|(name, path)| format!("\n[[apps.feeds]]\nname = {name:?}\npath = {path:?}\n"))
        .collect();
    let config = dir.join("switchboard.toml");
    std::fs::write(
        &config,
        format!(
            "[deploy]\ndata_dir = \"data\"\n\n\
             [[apps]]\nname = \"tail\"\nroute = \"/tail\"\nmodule = {:?}\n{grants}",
            example("tail")
        ),
    )
    .expect("write the config");
    Host::serve(&["--config", config.to_str().expect("a UTF-8 path")])
}

fn log_file(dir: &Path, name: &str, lines: &[&str]) -> PathBuf {
    let path = dir.join(name);
    let text: String = lines.iter().map(|line| format!("{line}\n")).collect();
    std::fs::write(&path, text).expect("write the log");
    path
}

fn append(path: &Path, text: &str) {
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .expect("the log opens for appending");
    file.write_all(text.as_bytes()).expect("append to the log");
}

fn lines_of(message: &Value) -> Vec<String> {
    serde_json::from_value(message["lines"].clone()).expect("a list of lines")
}

/// Read `lines` messages until `count` lines have come; each one's lines.
async fn receive_lines(client: &mut Client, count: usize) -> Vec<Vec<String>> {
    let mut messages = Vec::new();
    while messages.iter().map(Vec::len).sum::<usize>() < count {
        let message = client.recv_json().await;
        assert_eq!(message["type"], "lines", "{message}");
        messages.push(lines_of(&message));
    }
    messages
}

#[tokio::test]
async fn a_client_gets_the_feed_it_names_or_the_first_and_nothing_the_config_did_not_grant() {
    let dir = scratch_dir("tail");
    let access = log_file(&dir, "access.log", &["GET / 200", "", "   ", "GET /a 404"]);
    let errors = log_file(&dir, "error.log", &["disk full"]);
    let host = serve(&dir, &[("access", &access), ("errors", &errors)]);

    // No feed named: the first one granted, its last lines (blank ones
    // dropped), and the names of them all.
    let mut ann = connect(&host.url("/tail")).await;
    assert_eq!(
        ann.recv_json().await,
        json!({"type": "tail", "feed": "access", "feeds": ["access", "errors"],
               "lines": ["GET / 200", "GET /a 404"]})
    );
    let mut bob = connect(&host.url("/tail?feed=errors")).await;
    assert_eq!(lines_of(&bob.recv_json().await), ["disk full"]);

    // A name the config does not grant reads nothing, whatever it is.
    for feed in ["secrets", "..%2Fswitchboard.toml", "%2Fetc%2Fpasswd"] {
        let refused = try_connect(&host.url(&format!("/tail?feed={feed}")))
            .await
            .err()
            .unwrap_or_else(|| panic!("feed {feed} was accepted"));
        assert_eq!(refused.status, 404, "{feed}: {refused:?}");
        assert!(
            refused.body.contains("granted: access, errors"),
            "{refused:?}"
        );
    }

    // Each client hears its own feed grow, and only its own.
    append(&errors, "disk still full\n");
    assert_eq!(receive_lines(&mut bob, 1).await, [["disk still full"]]);
    append(&access, "\nGET /b 200\n");
    assert_eq!(receive_lines(&mut ann, 1).await, [["GET /b 200"]]);
}

#[tokio::test]
async fn an_app_granted_no_file_refuses_clients_saying_what_to_configure() {
    let dir = scratch_dir("tail-none");
    let host = serve(&dir, &[]);
    let refused = try_connect(&host.url("/tail"))
        .await
        .err()
        .expect("refused");
    assert_eq!(refused.status, 503);
    assert_eq!(
        refused.body,
        "this app is granted no file to follow: add [[apps.feeds]] to its config"
    );
}

#[tokio::test]
async fn a_burst_of_lines_arrives_whole_and_in_order_in_messages_of_bounded_size() {
    let dir = scratch_dir("tail-burst");
    let log = log_file(&dir, "big.log", &[]);
    let host = serve(&dir, &[("big", &log)]);
    let mut ann = connect(&host.url("/tail")).await;
    assert_eq!(lines_of(&ann.recv_json().await), Vec::<String>::new());

    // 5 000 lines of 100 bytes in one write: half a megabyte.
    let written: Vec<String> = (0..5_000)
        .map(|n| format!("{n:06} {}", "x".repeat(93)))
        .collect();
    append(
        &log,
        &written
            .iter()
            .map(|line| format!("{line}\n"))
            .collect::<String>(),
    );
    let messages = receive_lines(&mut ann, written.len()).await;
    assert!(messages.len() > 1, "one message for half a megabyte");
    for message in &messages {
        let bytes: usize = message.iter().map(String::len).sum();
        assert!(bytes <= 64 * 1024, "a message of {bytes} bytes of lines");
    }
    assert_eq!(messages.concat(), written);
}
