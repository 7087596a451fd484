//! The command line as a new user meets it: config files, mistakes in them,
//! modules that do not fit, and `switchboard check`.

mod common;

use std::path::Path;

use common::{Host, connect, example, run_switchboard, workspace_root};

fn scratch_dir(name: &str) -> std::path::PathBuf {
    let dir = workspace_root()
        .join("target/test-scratch")
        .join(format!("{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn write(path: &Path, contents: impl AsRef<[u8]>) {
    std::fs::write(path, contents).expect("write scratch file");
}

#[tokio::test]
async fn serve_from_a_config_file() {
    let dir = scratch_dir("config");
    let web = dir.join("web");
    std::fs::create_dir_all(&web).unwrap();
    write(&web.join("index.html"), "<h1>hello from static</h1>");
    let config = dir.join("switchboard.toml");
    write(
        &config,
        format!(
            r#"
listen = "127.0.0.1:9"        # overridden by --listen in the harness
static_dir = "web"            # relative to this file

[limits]
max_message_bytes = 2048

[[apps]]
name = "loud-echo"
route = "/echo"
module = "{}"
"#,
            example("echo").display()
        ),
    );
    let host = Host::serve(&["--config", config.to_str().unwrap()]);

    let mut client = connect(&host.url("/echo")).await;
    client.send_text("from a config file").await;
    assert_eq!(client.recv_text().await, "from a config file");

    // The limit from the file applies.
    client
        .send(tokio_tungstenite::tungstenite::Message::binary(vec![
            0u8;
            4096
        ]))
        .await;
    assert_eq!(client.expect_close().await.0, 1009);

    // Static files are served on paths no app claims.
    let page = http_get(&host.address, "/").await;
    assert!(page.contains("hello from static"), "{page}");
}

async fn http_get(address: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    tokio::time::timeout(common::PATIENCE, stream.read_to_string(&mut response))
        .await
        .expect("response in time")
        .expect("read");
    response
}

#[test]
fn a_config_mistake_is_one_line_naming_the_file_and_exit_code_2() {
    let dir = scratch_dir("bad-config");
    let config = dir.join("typo.toml");
    write(&config, "lisen = \"127.0.0.1:8080\"\n");
    let (status, _, stderr) = run_switchboard(&["serve", "--config", config.to_str().unwrap()]);
    assert_eq!(status.code(), Some(2));
    let line = stderr.trim();
    assert_eq!(line.lines().count(), 1, "one line: {stderr}");
    assert!(line.contains("typo.toml:1:1"), "{line}");
    assert!(
        line.contains("unknown key `lisen`: did you mean `listen`?"),
        "{line}"
    );
    assert!(!line.contains("static_dir"), "not every key: {line}");

    // The same in a table with twenty keys.
    let config = dir.join("limits.toml");
    write(&config, "[limits]\nmax_mesage_bytes = 10\n");
    let (status, _, stderr) = run_switchboard(&["serve", "--config", config.to_str().unwrap()]);
    assert_eq!(status.code(), Some(2));
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains("limits.toml:2:1"), "{stderr}");
    assert!(
        stderr.contains("did you mean `max_message_bytes`?"),
        "{stderr}"
    );

    let config = dir.join("bad-route.toml");
    write(
        &config,
        "[[apps]]\nroute = \"echo\"\nmodule = \"echo.wasm\"\n",
    );
    let (status, _, stderr) = run_switchboard(&["serve", "--config", config.to_str().unwrap()]);
    assert_eq!(status.code(), Some(2));
    assert!(stderr.contains("bad-route.toml"), "{stderr}");
    assert!(stderr.contains("must start with '/'"), "{stderr}");

    // A limit out of its range names the field and the range.
    let config = dir.join("tiny-head.toml");
    write(&config, "[limits]\nmax_request_head_bytes = 100\n");
    let (status, _, stderr) = run_switchboard(&["serve", "--config", config.to_str().unwrap()]);
    assert_eq!(status.code(), Some(2));
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains("limits.max_request_head_bytes must be between 1024"),
        "{stderr}"
    );

    let (status, _, stderr) = run_switchboard(&["serve", "--config", "does-not-exist.toml"]);
    assert_eq!(status.code(), Some(2));
    assert!(
        stderr.contains("does-not-exist.toml: cannot read"),
        "{stderr}"
    );
}

#[test]
fn a_module_that_does_not_fit_is_refused_with_exit_code_2() {
    let dir = scratch_dir("bad-module");

    // A real component, but one that exports nothing.
    let empty = dir.join("empty.wasm");
    write(&empty, wat::parse_str("(component)").expect("valid WAT"));
    let app = format!("/empty={}", empty.display());
    let (status, _, stderr) = run_switchboard(&["serve", "--listen", "127.0.0.1:0", "--app", &app]);
    assert_eq!(status.code(), Some(2));
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains("empty.wasm does not fit the switchboard:app world"),
        "{stderr}"
    );
    assert!(
        stderr.contains("switchboard:app/handler"),
        "names the missing export: {stderr}"
    );

    // Not WebAssembly at all.
    let junk = dir.join("junk.wasm");
    write(&junk, b"\0asm\x0d\0\x01\0 this is not a component");
    let app = format!("/junk={}", junk.display());
    let (status, _, stderr) = run_switchboard(&["serve", "--listen", "127.0.0.1:0", "--app", &app]);
    assert_eq!(status.code(), Some(2));
    assert!(
        stderr.contains("junk.wasm is not a WebAssembly component"),
        "{stderr}"
    );

    // Missing file.
    let (status, _, stderr) = run_switchboard(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--app",
        "/x=/no/such/app.wasm",
    ]);
    assert_eq!(status.code(), Some(2));
    assert!(stderr.contains("cannot read /no/such/app.wasm"), "{stderr}");
}

#[test]
fn check_lists_what_a_component_imports_and_exports() {
    let chat = example("chat");
    let (status, stdout, stderr) = run_switchboard(&["check", chat.to_str().unwrap()]);
    assert!(status.success(), "{stderr}");
    assert!(
        stdout.contains("fits the switchboard:app world"),
        "{stdout}"
    );
    assert!(
        stdout.contains("switchboard:app/connections@0.1.3"),
        "{stdout}"
    );
    assert!(stdout.contains("switchboard:app/handler@0.1.3"), "{stdout}");
    assert!(stdout.contains("keeps state across hot swaps"), "{stdout}");
    // Each import says what granting it hands over.
    let line_of = |name: &str| {
        stdout
            .lines()
            .find(|line| line.trim_start().starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in {stdout}"))
            .to_string()
    };
    assert!(
        line_of("switchboard:app/connections@").contains("granted: send to"),
        "{stdout}"
    );
    assert!(
        line_of("wasi:cli/environment@").contains("granted: none: no variables"),
        "{stdout}"
    );

    // An app on topics imports them, and hears presence.
    let rooms = example("rooms");
    let (status, stdout, stderr) = run_switchboard(&["check", rooms.to_str().unwrap()]);
    assert!(status.success(), "{stderr}");
    assert!(
        stdout
            .lines()
            .any(|line| line.contains("switchboard:app/topics@0.1.3")
                && line.contains("granted: publish to")),
        "{stdout}"
    );
    assert!(
        stdout.contains("hears who joins and leaves its topics (exports presence)"),
        "{stdout}"
    );
    // It keeps each room's scrollback in its key-value store.
    assert!(
        stdout
            .lines()
            .any(|line| line.contains("switchboard:app/kv@0.1.3") && line.contains("granted:")),
        "{stdout}"
    );

    let dir = scratch_dir("check");
    let empty = dir.join("empty.wasm");
    write(&empty, wat::parse_str("(component)").expect("valid WAT"));
    let (status, _, stderr) = run_switchboard(&["check", empty.to_str().unwrap()]);
    assert_eq!(status.code(), Some(2));
    assert!(stderr.contains("does not fit"), "{stderr}");
}

/// What a new user gives `check`, `serve` or the admin API by mistake: a
/// README, a native binary, a core module from `wasm32-unknown-unknown`, WAT
/// text. Each is named for what it is, with the fix, on one line.
#[tokio::test]
async fn a_file_that_is_not_a_component_is_named_for_what_it_is() {
    let dir = scratch_dir("not-a-component");
    let readme = common::workspace_root().join("README.md");
    let elf = std::path::PathBuf::from(env!("CARGO_BIN_EXE_switchboard"));
    let core = dir.join("core.wasm");
    write(&core, wat::parse_str("(module)").expect("valid WAT"));
    let text = dir.join("text.wat");
    write(&text, "(component)\n");

    let cases = [
        (&readme, "is not a WebAssembly file"),
        (&elf, "is not a WebAssembly file"),
        (&text, "it is WAT text"),
        (
            &core,
            "is a core WebAssembly module, not a component: build it for wasm32-wasip2",
        ),
    ];
    for (file, says) in cases {
        let (status, _, stderr) = run_switchboard(&["check", file.to_str().unwrap()]);
        assert_eq!(status.code(), Some(2), "{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains(says), "{}: {stderr}", file.display());

        let app = format!("/x={}", file.display());
        let (status, _, stderr) =
            run_switchboard(&["serve", "--listen", "127.0.0.1:0", "--app", &app]);
        assert_eq!(status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(says), "serve {}: {stderr}", file.display());
    }

    // The admin API says the same, and the app keeps serving.
    let app = format!("/echo={}", example("echo").display());
    let host = Host::serve_with_admin(&["--app", &app]);
    for (file, says) in [(&readme, "is not a WebAssembly file"), (&core, "core")] {
        let bytes = std::fs::read(file).unwrap();
        let (status, answer) = host.admin_request("PUT", "/apps/echo", Some(bytes)).await;
        assert_eq!(status, 422, "{answer}");
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(error.contains(says), "{error}");
    }
    let mut client = connect(&host.url("/echo")).await;
    client.send_text("still here").await;
    assert_eq!(client.recv_text().await, "still here");
}

/// `switchboard` run in `dir`, as a user runs it in their project folder.
fn run_in(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .current_dir(dir)
        .env_remove("SWITCHBOARD_ADMIN_TOKEN")
        .output()
        .expect("the switchboard binary runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_serve_that_fails_to_start_leaves_no_data_directory_behind() {
    let dir = scratch_dir("no-leftovers");
    write(&dir.join("notes.txt"), "not a component");

    // A module that is not a component, with the default data directory.
    let (code, stderr) = run_in(
        &dir,
        &["serve", "--listen", "127.0.0.1:0", "--app", "/x=notes.txt"],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(!dir.join("switchboard-data").exists(), "{stderr}");

    // A port already taken, with a data directory two levels deep.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = taken.local_addr().expect("address").to_string();
    let echo = format!("/echo={}", example("echo").display());
    let (code, stderr) = run_in(
        &dir,
        &[
            "serve",
            "--listen",
            &address,
            "--app",
            &echo,
            "--data-dir",
            "state/versions",
        ],
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("cannot listen on"), "{stderr}");
    assert!(!dir.join("state").exists(), "{stderr}");

    // A second app that fails after the first was stored.
    let (code, stderr) = run_in(
        &dir,
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--app",
            &echo,
            "--app",
            "/x=notes.txt",
        ],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(!dir.join("switchboard-data").exists(), "{stderr}");

    // A data directory that was there before is left alone, contents and all.
    std::fs::create_dir_all(dir.join("switchboard-data")).expect("mkdir");
    write(&dir.join("switchboard-data/keep.txt"), "mine");
    let (code, stderr) = run_in(
        &dir,
        &["serve", "--listen", "127.0.0.1:0", "--app", "/x=notes.txt"],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(dir.join("switchboard-data/keep.txt").exists(), "{stderr}");
}
