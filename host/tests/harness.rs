//! `switchboard test` as an app author meets it: the scenario files every
//! example app ships (examples/<app>/tests/*.toml) pass against the real
//! components, and a scenario that fails, a trap nobody expected and a
//! malformed file each tell the author what happened and where.

mod common;

use std::path::{Path, PathBuf};

use common::{example, run_switchboard, scratch_dir, workspace_root};

/// The scenario files an example ships, sorted.
fn scenarios_of(app: &str) -> Vec<PathBuf> {
    let dir = workspace_root().join("examples").join(app).join("tests");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("{} is readable: {error}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| {
            path.extension()
                .is_some_and(|ext| ext == "toml" || ext == "json")
        })
        .collect();
    files.sort();
    files
}

fn fixture(name: &str) -> String {
    path_str(
        &workspace_root()
            .join("host/tests/fixtures/scenarios")
            .join(name),
    )
}

fn path_str(path: &Path) -> String {
    path.to_str().expect("a UTF-8 path").to_string()
}

/// `switchboard test APP SCENARIO...`
fn switchboard_test(app: &Path, scenarios: &[String]) -> (Option<i32>, String, String) {
    let mut args = vec!["test".to_string(), path_str(app)];
    args.extend(scenarios.iter().cloned());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (status, stdout, stderr) = run_switchboard(&args);
    (status.code(), stdout, stderr)
}

#[test]
fn every_example_passes_the_scenarios_it_ships() {
    for app in [
        "chat",
        "rooms",
        "echo",
        "fragile",
        "broadcast",
        "lock",
        "cursors",
        "ticker",
    ] {
        let files: Vec<String> = scenarios_of(app).iter().map(|p| path_str(p)).collect();
        assert!(!files.is_empty(), "examples/{app}/tests has scenarios");
        let (code, stdout, stderr) = switchboard_test(&example(app), &files);
        assert_eq!(code, Some(0), "{app}:\n{stdout}\n{stderr}");
        assert!(
            stdout.contains(&format!("{} passed, 0 failed", files.len())),
            "{app}:\n{stdout}"
        );
        assert_eq!(
            stdout
                .lines()
                .filter(|line| line.starts_with("ok "))
                .count(),
            files.len(),
            "one line per scenario:\n{stdout}"
        );
    }
}

#[test]
fn a_failing_scenario_shows_what_was_expected_and_what_the_app_sent() {
    let passing = path_str(&workspace_root().join("examples/chat/tests/room.toml"));
    let (code, stdout, _) = switchboard_test(
        &example("chat"),
        &[fixture("chat_wrong_expectation.toml"), passing],
    );
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains("FAILED  ")
            && stdout
                .contains("chat_wrong_expectation.toml: a chat message comes back to its sender"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            r#"step 5 (expect "alice"): expected "alice" to receive JSON containing {"text":"hello","type":"message"}, but the app sent text "{\"name\":\"bob\",\"type\":\"join\"}""#
        ),
        "{stdout}"
    );
    assert!(stdout.contains("1 passed, 1 failed"), "{stdout}");
}

#[test]
fn a_trap_nobody_expected_fails_its_step_with_the_trap_and_the_panic() {
    let (code, stdout, _) = switchboard_test(
        &example("fragile"),
        &[fixture("fragile_unexpected_trap.toml")],
    );
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains(r#"step 2 (send "victim"): the app trapped in on-message (connection "victim", closed with 1011): wasm trap"#),
        "{stdout}"
    );
    assert!(stdout.contains("asked to panic"), "{stdout}");
    assert!(stdout.contains("0 passed, 1 failed"), "{stdout}");
}

#[test]
fn a_malformed_scenario_is_one_line_naming_file_step_and_fix_and_nothing_runs() {
    let typo = fixture("typo.toml");
    let (code, stdout, stderr) = switchboard_test(
        &example("chat"),
        &[
            path_str(&workspace_root().join("examples/chat/tests/room.toml")),
            typo.clone(),
        ],
    );
    assert_eq!(code, Some(2), "{stdout}\n{stderr}");
    assert_eq!(stdout, "", "nothing ran");
    assert_eq!(
        stderr.trim(),
        format!(
            "error: {typo}: step 2: unknown key `txt` in a `send` step (did you mean `text`?); \
             see docs/testing.md for what it takes"
        )
    );
}

#[test]
fn a_client_used_before_it_connects_is_a_malformed_scenario() {
    let dir = scratch_dir("scenario");
    let file = dir.join("early.toml");
    std::fs::write(&file, "[[step]]\nsend = \"bob\"\ntext = \"hi\"\n").expect("write");
    let (code, _, stderr) = switchboard_test(&example("echo"), &[path_str(&file)]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(r#"step 1: no client "bob" has connected yet: add a `connect = "bob"` step before this one"#),
        "{stderr}"
    );
}

#[test]
fn scenarios_can_be_json_for_tools_that_generate_them() {
    let dir = scratch_dir("scenario");
    let file = dir.join("echo.json");
    std::fs::write(
        &file,
        r#"{
          "name": "echo from JSON",
          "step": [
            {"connect": "ann", "path": "/echo"},
            {"send": "ann", "json": {"hello": [1, 2]}},
            {"expect": "ann", "json": {"hello": [1, 2]}},
            {"close": "ann", "code": 1000}
          ]
        }"#,
    )
    .expect("write");
    let (code, stdout, stderr) = switchboard_test(&example("echo"), &[path_str(&file)]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("echo from JSON (4 steps)"), "{stdout}");
}

#[test]
fn an_app_that_is_not_a_component_is_bad_input() {
    let passing = path_str(&workspace_root().join("examples/echo/tests/echo.toml"));
    let readme = workspace_root().join("README.md");
    let (code, _, stderr) = switchboard_test(&readme, &[passing]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("README.md is not a WebAssembly file"),
        "{stderr}"
    );
}
