//! `switchboard build PATH [-o OUT]`: from an app's source to a component
//! the host serves, in any of the languages the project supports, against
//! the WIT this binary was built with.
//!
//! - `app.js` (or `.mjs`, `.ts`): bundled with rolldown (so `import ... from
//!   "switchboard"` finds the JavaScript SDK, and npm packages installed
//!   beside the app are bundled in), then made a component by the backend
//!   [`JS_BACKEND`] names.
//! - `app.py`: componentize-py, with the Python SDK on its path.
//! - a directory with a `Cargo.toml`: `cargo build --release --target
//!   wasm32-wasip2`, the crate depending on `switchboard-guest`.
//!
//! Every app targets the `realtime-app` world. The JavaScript and Python
//! SDKs, like the Rust one, give every optional export a default (hand over
//! nothing, accept any snapshot, ignore joins, leaves, timers and feed
//! lines), so one world fits every app and an app that later wants
//! `snapshot`/`restore`, topics, timers or storage changes no build
//! setting; the imports it adds carry no authority beyond the app's own
//! connections, topics, timers and keys, and the feeds its config grants.
//!
//! The toolchains insist that a module export every interface of the world,
//! so the module they are given is not the app's but an entry of the SDK's
//! (guest-sdk/js/world.js; for Python, [`PYTHON_ENTRY`] naming the app's
//! module) that exports each interface the app's module exports itself and
//! takes the rest from the app it registered (`app({...})`, `export(App)`).
//! An app therefore never lists the world's exports, and one written before
//! an export existed (0.1.2 apps export no `timer-handler`) builds
//! unchanged, its new handlers heard all the same. The SDK refuses, and so
//! fails the build, when an export the module has itself would leave a
//! handler of the registered app unheard.
//!
//! The binary carries what a build needs, so it works outside this
//! repository: the WIT and the SDK sources are embedded (`include_str!`)
//! and written to a cache directory, and the toolchains are pinned in
//! `toolchains/` beside this file: `package.json` with its lockfile for
//! npm, `requirements.txt` for pip. **The first build in a language
//! installs its toolchain into the cache** (`npm ci`; `python3 -m venv` and
//! `pip install`), which takes seconds, and says so; later builds reuse it.
//! We install rather than ask the user to, because the versions must be the
//! pinned ones (a global `componentize-js` of another version would build
//! a different component), and a private copy cannot clash with anything
//! else on the machine. What we do not install is what a package manager
//! owns: a missing `node`/`npm`, `python3` (or its venv module), `cargo` or
//! the `wasm32-wasip2` target is one line naming the command that installs
//! it. The cache is `$SWITCHBOARD_CACHE_DIR`, else
//! `$XDG_CACHE_HOME/switchboard`, else `~/.cache/switchboard`; each
//! toolchain's folder is named after a hash of its pins, so changing a pin
//! installs afresh, and an install is done in a temporary folder renamed
//! into place, so concurrent builds never see half of one.

use std::ffi::OsStr;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use sha2::{Digest as _, Sha256};

/// The world every app is built for (see the module's comment for why one).
const WORLD: &str = "realtime-app";

/// Which engine runs JavaScript apps: the one place to switch it. Both are
/// installed (pinned in toolchains/package.json) and both work with the
/// host; they trade per-call speed and memory against size and build time
/// (StarlingMonkey: a 12 MB component, ~5-10 s to build; QuickJS: 1.6 MB,
/// ~1 s).
/// `SWITCHBOARD_JS_BACKEND=quickjs` (or `starlingmonkey`) overrides it for
/// one build, to measure one against the other without rebuilding.
pub const JS_BACKEND: JsBackend = JsBackend::StarlingMonkey;

fn js_backend() -> Result<JsBackend, BuildError> {
    match std::env::var("SWITCHBOARD_JS_BACKEND").as_deref() {
        Err(_) | Ok("") => Ok(JS_BACKEND),
        Ok("starlingmonkey") => Ok(JsBackend::StarlingMonkey),
        Ok("quickjs") => Ok(JsBackend::QuickJs),
        Ok(other) => Err(BuildError::Input(format!(
            "SWITCHBOARD_JS_BACKEND is {other:?}: use starlingmonkey or quickjs, or unset it"
        ))),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsBackend {
    /// `@bytecodealliance/componentize-js`: SpiderMonkey, via StarlingMonkey.
    StarlingMonkey,
    /// `componentize-qjs`: QuickJS, pre-initialised with Wizer.
    QuickJs,
}

impl JsBackend {
    fn name(self) -> &'static str {
        match self {
            JsBackend::StarlingMonkey => "starlingmonkey",
            JsBackend::QuickJs => "quickjs",
        }
    }

    fn engine(self) -> &'static str {
        match self {
            JsBackend::StarlingMonkey => "StarlingMonkey",
            JsBackend::QuickJs => "QuickJS",
        }
    }
}

const WIT: &str = include_str!("../../../wit/switchboard.wit");
const JS_SDK: &str = include_str!("../../../guest-sdk/js/index.js");
const JS_SDK_ENTRY: &str = include_str!("../../../guest-sdk/js/world.js");
const PYTHON_SDK: &str = include_str!("../../../guest-sdk/python/switchboard/__init__.py");
const RUST_SDK_MANIFEST: &str = include_str!("../../../guest-sdk/rust/Cargo.toml");
const RUST_SDK: &str = include_str!("../../../guest-sdk/rust/src/lib.rs");
const JS_SDK_DECLARATIONS: &str = include_str!("../../../guest-sdk/js/index.d.ts");
const JS_SDK_PACKAGE: &str = include_str!("../../../guest-sdk/js/package.json");
const JS_PACKAGE: &str = include_str!("toolchains/package.json");
const JS_LOCK: &str = include_str!("toolchains/package-lock.json");
const JS_SCRIPT: &str = include_str!("toolchains/componentize.mjs");
const PYTHON_REQUIREMENTS: &str = include_str!("toolchains/requirements.txt");

/// The environment variable that moves the cache (the tests point it into
/// target/, so a clean clone works and reruns reuse the toolchains).
pub use switchboard::config::CACHE_DIR_ENV;

/// The Rust target every component is built for.
const RUST_TARGET: &str = "wasm32-wasip2";

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The path is not something `build` knows how to build.
    #[error("{0}")]
    Input(String),
    /// A tool the build needs is missing; the message names the fix.
    #[error("{0}")]
    Missing(String),
    /// The toolchain ran and failed (the app's own error, usually).
    #[error("{0}")]
    Failed(String),
}

impl BuildError {
    pub fn is_bad_input(&self) -> bool {
        matches!(self, BuildError::Input(_))
    }
}

/// What a build made.
#[derive(Debug)]
pub struct Built {
    pub output: PathBuf,
    pub bytes: u64,
    /// e.g. "JavaScript, componentize-js 0.23.0 (StarlingMonkey)".
    pub toolchain: String,
    pub seconds: f64,
}

impl std::fmt::Display for Built {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "built {} ({:.1} MB, world {WORLD}) with {} in {:.1} s",
            self.output.display(),
            self.bytes as f64 / 1_000_000.0,
            self.toolchain,
            self.seconds
        )
    }
}

enum Language {
    JavaScript(PathBuf),
    Python(PathBuf),
    Rust(PathBuf),
}

/// Build the app at `path` into `out` (by default beside the source: `app.js`
/// makes `app.wasm`; a Rust crate's component stays in its target folder).
pub fn build(path: &Path, out: Option<&Path>) -> Result<Built, BuildError> {
    let started = Instant::now();
    let (output, toolchain) = match language(path)? {
        Language::JavaScript(source) => {
            let out = default_output(&source, out);
            (out.clone(), build_js(&source, &out)?)
        }
        Language::Python(source) => {
            let out = default_output(&source, out);
            (out.clone(), build_python(&source, &out)?)
        }
        Language::Rust(crate_dir) => build_rust(&crate_dir, out)?,
    };
    let bytes = std::fs::metadata(&output)
        .map_err(|error| BuildError::Failed(format!("cannot read {}: {error}", output.display())))?
        .len();
    Ok(Built {
        output,
        bytes,
        toolchain,
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn language(path: &Path) -> Result<Language, BuildError> {
    let not_buildable = || {
        BuildError::Input(format!(
            "cannot build {}: give an app.js (or .mjs, .ts), an app.py, or a Rust crate's folder",
            path.display()
        ))
    };
    if path.is_dir() {
        if path.join("Cargo.toml").is_file() {
            return Ok(Language::Rust(path.to_path_buf()));
        }
        for (file, make) in [
            ("app.js", Language::JavaScript as fn(PathBuf) -> Language),
            ("app.ts", Language::JavaScript),
            ("app.py", Language::Python),
        ] {
            if path.join(file).is_file() {
                return Ok(make(path.join(file)));
            }
        }
        return Err(not_buildable());
    }
    if !path.exists() {
        return Err(BuildError::Input(format!(
            "cannot build {}: no such file or folder",
            path.display()
        )));
    }
    match path.extension().and_then(OsStr::to_str) {
        Some("js" | "mjs" | "ts") => Ok(Language::JavaScript(path.to_path_buf())),
        Some("py") => Ok(Language::Python(path.to_path_buf())),
        _ if path.file_name() == Some(OsStr::new("Cargo.toml")) => Ok(Language::Rust(
            path.parent().unwrap_or(Path::new(".")).to_path_buf(),
        )),
        _ => Err(not_buildable()),
    }
}

fn default_output(source: &Path, out: Option<&Path>) -> PathBuf {
    out.map(Path::to_path_buf)
        .unwrap_or_else(|| source.with_extension("wasm"))
}

/// Our script (toolchains/componentize.mjs) inside the JavaScript
/// toolchain's folder, which is installed if need be. The script is named
/// after its own hash: a new script is a new file, not a new install.
fn js_toolchain(what: &str) -> Result<PathBuf, BuildError> {
    let node = require_tool(
        "node",
        what,
        "Node.js 20.19 or newer",
        "install it, e.g. `apt-get install nodejs npm`",
    )?;
    if !node_is_recent(&node) {
        return Err(BuildError::Missing(format!(
            "{what} needs Node.js 20.19 or newer (rolldown, which bundles the app, does), and `node` is {node}: install a newer one, e.g. from nodejs.org"
        )));
    }
    let key = short_hash(&[JS_PACKAGE, JS_LOCK]);
    let toolchain = provision(
        &format!("js-{key}"),
        "componentize-js, componentize-qjs, jco and rolldown (npm ci)",
        |dir| {
            require_tool("npm", what, "npm", "install it, e.g. `apt-get install npm`")?;
            write(&dir.join("package.json"), JS_PACKAGE)?;
            write(&dir.join("package-lock.json"), JS_LOCK)?;
            run_quietly(
                Command::new("npm")
                    .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                    .current_dir(dir),
                "npm ci",
            )?;
            Ok(())
        },
    )?;
    let script = toolchain.join(format!("componentize-{}.mjs", short_hash(&[JS_SCRIPT])));
    if !script.is_file() {
        let partial = script.with_extension(format!("partial-{}", std::process::id()));
        write(&partial, JS_SCRIPT)?;
        std::fs::rename(&partial, &script).map_err(|error| {
            BuildError::Failed(format!("cannot write {}: {error}", script.display()))
        })?;
    }
    Ok(script)
}

/// Whether `node --version` (e.g. `v20.20.2`) says 20.19 or newer, as
/// rolldown requires. An unreadable answer counts as recent: better a
/// build that fails with rolldown's own message than a false refusal.
fn node_is_recent(version: &str) -> bool {
    let mut parts = version
        .trim_start_matches('v')
        .split('.')
        .map(str::parse::<u32>);
    match (parts.next(), parts.next()) {
        (Some(Ok(major)), Some(Ok(minor))) => (major, minor) >= (20, 19),
        _ => true,
    }
}

fn build_js(source: &Path, out: &Path) -> Result<String, BuildError> {
    let what = format!("building {}", source.display());
    let backend = js_backend()?;
    let script = js_toolchain(&what)?;
    let sdk = sdk_dir()?;
    let source = absolute(source)?;
    let staged = Staged::new(out)?;
    let output = run_quietly(
        Command::new("node")
            .arg(&script)
            .arg("component")
            .arg(backend.name())
            .arg(&source)
            .arg(sdk.join("guest-sdk/js"))
            .arg(sdk.join("wit"))
            .arg(WORLD)
            .arg(staged.path()),
        &format!("the JavaScript build of {}", source.display()),
    )?;
    staged.commit()?;
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
    let package = report["backend"]
        .as_str()
        .unwrap_or("the JavaScript backend");
    let version = report["version"].as_str().unwrap_or("(unknown version)");
    Ok(format!(
        "JavaScript: {} {version} ({})",
        package.trim_start_matches("@bytecodealliance/"),
        backend.engine()
    ))
}

fn build_python(source: &Path, out: &Path) -> Result<String, BuildError> {
    let what = format!("building {}", source.display());
    let python = require_python(&what)?;
    let module = source
        .file_stem()
        .and_then(OsStr::to_str)
        .filter(|stem| {
            !stem.is_empty()
                && !stem.starts_with(|c: char| c.is_ascii_digit())
                && stem.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
        .ok_or_else(|| {
            BuildError::Input(format!(
                "cannot build {}: a Python app's file name must be a module name, e.g. app.py",
                source.display()
            ))
        })?;
    if module == PYTHON_ENTRY_MODULE {
        return Err(BuildError::Input(format!(
            "cannot build {}: {PYTHON_ENTRY_MODULE} is the name of the module the build writes; rename the app, e.g. app.py",
            source.display()
        )));
    }
    let (python, version) = python_toolchain(&what, &python)?;
    let sdk = sdk_dir()?;
    let entry = python_entry(module)?;
    let source = absolute(source)?;
    let app_dir = source.parent().unwrap_or(Path::new("/")).to_path_buf();
    let staged = Staged::new(out)?;
    run_quietly(
        componentize_py(&python, &sdk)
            .args(["componentize", PYTHON_ENTRY_MODULE])
            // The SDK first: a copy `--sdk` wrote beside the app for an
            // editor must not shadow the one this binary carries.
            .arg("-p")
            .arg(sdk.join("guest-sdk/python"))
            .arg("-p")
            .arg(&app_dir)
            .arg("-p")
            .arg(&entry)
            .arg("-o")
            .arg(staged.path()),
        &format!("componentize-py, building {}", source.display()),
    )
    .map_err(with_export_hint)?;
    staged.commit()?;
    Ok(format!("Python: componentize-py {version}"))
}

/// The module componentize-py makes the component from: the world's export
/// classes, from the app's module (see the module's comment).
const PYTHON_ENTRY_MODULE: &str = "switchboard_world";

/// What that module says, for an app module named `{module}`.
const PYTHON_ENTRY: &str = r#""""The component's entry, written by `switchboard build`: every export
class of the world, those the app's module `{module}` does not define
itself taken from the app it gave `export` (see the SDK's _world_exports)."""

import {module}
from switchboard import _world_exports

globals().update(_world_exports({module}))
"#;

/// The folder holding the entry module for an app module named `module`,
/// written once (into the cache) per name.
fn python_entry(module: &str) -> Result<PathBuf, BuildError> {
    let entry = PYTHON_ENTRY.replace("{module}", module);
    provision(&format!("py-entry-{}", short_hash(&[&entry])), "", |dir| {
        write(&dir.join(format!("{PYTHON_ENTRY_MODULE}.py")), &entry)
    })
}

fn require_python(what: &str) -> Result<String, BuildError> {
    require_tool(
        "python3",
        what,
        "Python 3.10 or newer",
        "install it, e.g. `apt-get install python3 python3-venv`",
    )
}

/// The venv's python, and the componentize-py version in it.
fn python_toolchain(what: &str, python: &str) -> Result<(PathBuf, String), BuildError> {
    let key = short_hash(&[PYTHON_REQUIREMENTS, python]);
    let toolchain = provision(
        &format!("py-{key}"),
        "componentize-py (python3 -m venv, pip)",
        |dir| {
            let venv = Command::new("python3")
                .args(["-m", "venv"])
                .arg(dir.join("venv"))
                .output();
            match venv {
                Ok(output) if output.status.success() => {}
                _ => {
                    return Err(BuildError::Missing(format!(
                        "{what} needs Python's venv module, which `python3 -m venv` cannot find: install it, e.g. `apt-get install python3-venv`"
                    )));
                }
            }
            write(&dir.join("requirements.txt"), PYTHON_REQUIREMENTS)?;
            run_quietly(
                Command::new(dir.join("venv/bin/python"))
                    .args([
                        "-m",
                        "pip",
                        "install",
                        "--quiet",
                        "--disable-pip-version-check",
                        "-r",
                    ])
                    .arg(dir.join("requirements.txt")),
                "pip install componentize-py",
            )?;
            Ok(())
        },
    )?;
    let python = toolchain.join("venv/bin/python");
    let version = run_quietly(
        Command::new(&python).args([
            "-c",
            "import importlib.metadata as m; print(m.version('componentize-py'))",
        ]),
        "componentize-py --version",
    )?;
    let version = String::from_utf8_lossy(&version.stdout).trim().to_string();
    Ok((python, version))
}

/// componentize-py's command line, run by the venv's python. (The venv's
/// scripts carry the absolute path of the folder they were installed in,
/// which the install renamed; calling the module does not.)
fn componentize_py(python: &Path, sdk: &Path) -> Command {
    let mut command = Command::new(python);
    command
        // componentize-py is Rust: a backtrace of it says nothing about the app.
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .args([
            "-c",
            "import sys; from componentize_py import script; sys.exit(script())",
        ])
        .arg("-d")
        .arg(sdk.join("wit"))
        .args(["-w", WORLD]);
    command
}

/// Write the SDK for `path`'s language into `dir`, with what is generated
/// from the WIT, for an editor to see: for JavaScript the package (point
/// `dir` at node_modules/switchboard), for Python the `switchboard` package
/// and the `wit_world` bindings componentize-py generates. A build does not
/// read it: it uses the copy built into this binary.
pub fn write_sdk(path: &Path, dir: &Path) -> Result<String, BuildError> {
    let sdk = sdk_dir()?;
    let dir = absolute(dir)?;
    match language(path)? {
        Language::JavaScript(_) => {
            let what = format!("writing the JavaScript SDK into {}", dir.display());
            let script = js_toolchain(&what)?;
            write(&dir.join("index.js"), JS_SDK)?;
            write(&dir.join("world.js"), JS_SDK_ENTRY)?;
            write(&dir.join("index.d.ts"), JS_SDK_DECLARATIONS)?;
            write(&dir.join("package.json"), JS_SDK_PACKAGE)?;
            let _ = std::fs::remove_dir_all(dir.join("types"));
            run_quietly(
                Command::new("node")
                    .arg(&script)
                    .arg("types")
                    .arg(sdk.join("wit"))
                    .arg(WORLD)
                    .arg(dir.join("types")),
                "generating the TypeScript declarations",
            )?;
            Ok(format!(
                "wrote the JavaScript SDK for world {WORLD} into {}",
                dir.display()
            ))
        }
        Language::Python(_) => {
            let what = format!("writing the Python SDK into {}", dir.display());
            let python = require_python(&what)?;
            let (python, _) = python_toolchain(&what, &python)?;
            write(&dir.join("switchboard/__init__.py"), PYTHON_SDK)?;
            run_quietly(
                componentize_py(&python, &sdk).arg("bindings").arg(&dir),
                "componentize-py bindings",
            )?;
            Ok(format!(
                "wrote the Python SDK and the bindings of world {WORLD} into {}",
                dir.display()
            ))
        }
        Language::Rust(_) => Err(BuildError::Input(
            "a Rust app's SDK is the switchboard-guest crate: depend on it in Cargo.toml"
                .to_string(),
        )),
    }
}

fn build_rust(crate_dir: &Path, out: Option<&Path>) -> Result<(PathBuf, String), BuildError> {
    let what = format!("building {}", crate_dir.display());
    let fix =
        format!("install Rust with rustup (rustup.rs), then `rustup target add {RUST_TARGET}`");
    require_tool("cargo", &what, "Rust's cargo", &fix)?;
    let rustc = require_tool("rustc", &what, "Rust's rustc", &fix)?;
    // Asked in the crate's folder, so a rust-toolchain.toml there counts.
    let sysroot = run_quietly(
        Command::new("rustc")
            .args(["--print", "sysroot"])
            .current_dir(crate_dir),
        "rustc --print sysroot",
    )?;
    let sysroot = PathBuf::from(String::from_utf8_lossy(&sysroot.stdout).trim());
    if !sysroot.join("lib/rustlib").join(RUST_TARGET).is_dir() {
        return Err(BuildError::Missing(format!(
            "{what} needs the Rust target {RUST_TARGET}: install it with `rustup target add {RUST_TARGET}`"
        )));
    }
    let manifest = absolute(&crate_dir.join("Cargo.toml"))?;
    let mut cargo = Command::new("cargo");
    cargo.args(["build", "--release", "--target", RUST_TARGET]);
    if depends_on_published_sdk(&manifest)? {
        // `switchboard-guest = "0.1"` names the SDK as if published; this
        // binary carries it, and cargo takes it from there.
        let sdk = sdk_dir()?.join("guest-sdk/rust");
        let sdk = serde_json::to_string(&sdk.display().to_string()).unwrap_or_default();
        cargo
            .arg("--config")
            .arg(format!("patch.crates-io.switchboard-guest.path={sdk}"));
    }
    cargo
        .args([
            "--message-format",
            "json-render-diagnostics",
            "--manifest-path",
        ])
        .arg(&manifest)
        .current_dir(crate_dir)
        // cargo's progress and the compiler's errors go to the user as they come.
        .stderr(Stdio::inherit());
    let output = cargo
        .output()
        .map_err(|error| BuildError::Failed(format!("cannot run cargo: {error}")))?;
    if !output.status.success() {
        return Err(BuildError::Failed(format!(
            "cargo could not build {} (its errors are above)",
            crate_dir.display()
        )));
    }
    let artifact = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| {
            message["reason"] == "compiler-artifact"
                && message["manifest_path"].as_str().map(Path::new) == Some(manifest.as_path())
                && message["target"]["kind"]
                    .as_array()
                    .is_some_and(|kinds| kinds.iter().any(|kind| kind == "cdylib"))
        })
        .flat_map(|message| {
            message["filenames"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter_map(|name| name.as_str().map(PathBuf::from))
        })
        .find(|file| file.extension() == Some(OsStr::new("wasm")))
        .ok_or_else(|| {
            BuildError::Input(format!(
                "{} builds no component: an app crate has `crate-type = [\"cdylib\"]` under [lib]",
                crate_dir.display()
            ))
        })?;
    let output = match out {
        Some(out) => {
            let bytes = std::fs::read(&artifact).map_err(|error| {
                BuildError::Failed(format!("cannot read {}: {error}", artifact.display()))
            })?;
            let staged = Staged::new(out)?;
            write_bytes(staged.path(), &bytes)?;
            staged.commit()?;
            out.to_path_buf()
        }
        None => artifact,
    };
    Ok((output, format!("Rust: {rustc}, cargo, {RUST_TARGET}")))
}

/// Whether the crate depends on `switchboard-guest` by version alone (not by
/// path or git): then the SDK comes from this binary.
fn depends_on_published_sdk(manifest: &Path) -> Result<bool, BuildError> {
    let text = std::fs::read_to_string(manifest).map_err(|error| {
        BuildError::Input(format!("cannot read {}: {error}", manifest.display()))
    })?;
    let parsed: toml::Table = toml::from_str(&text).map_err(|error| {
        BuildError::Input(format!("{} is not valid TOML: {error}", manifest.display()))
    })?;
    let dependency = parsed
        .get("dependencies")
        .and_then(|dependencies| dependencies.get("switchboard-guest"));
    Ok(match dependency {
        Some(toml::Value::String(_)) => true,
        Some(toml::Value::Table(table)) => !["path", "git", "workspace", "registry"]
            .iter()
            .any(|key| table.contains_key(*key)),
        _ => false,
    })
}

/// Run `program --version`; a program that is not there is one line saying
/// `fix` (how to install it). Returns the version line.
fn require_tool(program: &str, what: &str, needs: &str, fix: &str) -> Result<String, BuildError> {
    match Command::new(program).arg("--version").output() {
        Ok(output) => Ok(String::from_utf8_lossy(&output.stdout)
            .lines()
            .next()
            .unwrap_or(program)
            .trim()
            .to_string()),
        Err(error) if error.kind() == ErrorKind::NotFound => Err(BuildError::Missing(format!(
            "{what} needs {needs}, and `{program}` is not on PATH: {fix}"
        ))),
        Err(error) => Err(BuildError::Missing(format!(
            "{what} needs {needs}, and `{program} --version` failed: {error}"
        ))),
    }
}

/// A Python app written before topics (contract 0.1.1) unpacks two export
/// classes, `Handler, Lifecycle = export(App)`, where `export` returns
/// three; Python's words name neither the line nor the fix.
fn with_export_hint(error: BuildError) -> BuildError {
    match error {
        BuildError::Failed(said) if said.contains("too many values to unpack (expected 2") => {
            BuildError::Failed(format!(
                "{said}\nhint: `Handler, Lifecycle = export(App)` is from before topics; write \
                 `export(App)` alone: the build exports every interface of the world from it"
            ))
        }
        other => other,
    }
}

/// Run a command with its output captured; on failure, the error carries
/// what it printed (a syntax error in the app, say).
fn run_quietly(command: &mut Command, what: &str) -> Result<Output, BuildError> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|error| BuildError::Failed(format!("cannot run {what}: {error}")))?;
    if output.status.success() {
        return Ok(output);
    }
    let said = [&output.stderr[..], &output.stdout[..]]
        .map(|bytes| String::from_utf8_lossy(bytes).trim().to_string())
        .into_iter()
        .filter(|text| !text.is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    Err(BuildError::Failed(format!("{what} failed:\n{said}")))
}

fn cache_root() -> Result<PathBuf, BuildError> {
    let root = switchboard::config::user_cache_dir().ok_or_else(|| {
        BuildError::Missing(format!(
            "no cache folder for the build toolchains: set {CACHE_DIR_ENV} to one"
        ))
    })?;
    absolute(&root)
}

/// The embedded WIT and SDK sources, written once per version of them, laid
/// out as in the repository (the Rust SDK finds the WIT at `../../wit`).
fn sdk_dir() -> Result<PathBuf, BuildError> {
    provision(
        &format!(
            "sdk-{}",
            short_hash(&[
                WIT,
                JS_SDK,
                JS_SDK_ENTRY,
                PYTHON_SDK,
                RUST_SDK_MANIFEST,
                RUST_SDK
            ])
        ),
        "",
        |dir| {
            write(&dir.join("wit/switchboard.wit"), WIT)?;
            write(&dir.join("guest-sdk/js/index.js"), JS_SDK)?;
            write(&dir.join("guest-sdk/js/world.js"), JS_SDK_ENTRY)?;
            write(
                &dir.join("guest-sdk/python/switchboard/__init__.py"),
                PYTHON_SDK,
            )?;
            write(&dir.join("guest-sdk/rust/Cargo.toml"), RUST_SDK_MANIFEST)?;
            write(&dir.join("guest-sdk/rust/src/lib.rs"), RUST_SDK)
        },
    )
}

/// The cache folder `name`, made by `fill` in a temporary folder and
/// renamed into place unless it is already there. `announce`, if not empty,
/// is said on stderr while it is made: installs take a while once.
fn provision(
    name: &str,
    announce: &str,
    fill: impl FnOnce(&Path) -> Result<(), BuildError>,
) -> Result<PathBuf, BuildError> {
    let root = cache_root()?;
    let done = root.join(name);
    if done.is_dir() {
        return Ok(done);
    }
    if !announce.is_empty() {
        eprintln!("installing {announce} into {} (once)", done.display());
    }
    let partial = root.join(format!("{name}.partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&partial);
    std::fs::create_dir_all(&partial).map_err(|error| {
        BuildError::Failed(format!("cannot create {}: {error}", partial.display()))
    })?;
    if let Err(error) = fill(&partial) {
        let _ = std::fs::remove_dir_all(&partial);
        return Err(error);
    }
    if let Err(error) = std::fs::rename(&partial, &done) {
        let _ = std::fs::remove_dir_all(&partial);
        // Another build finished the same install first: use theirs.
        if !done.is_dir() {
            return Err(BuildError::Failed(format!(
                "cannot move {} into place: {error}",
                done.display()
            )));
        }
    }
    Ok(done)
}

/// An output file written beside its final path and renamed over it once
/// complete, so a host watching that path (`serve --app`) never loads half
/// a component, and a failed build leaves the old one in place.
struct Staged {
    path: PathBuf,
    out: PathBuf,
}

impl Staged {
    fn new(out: &Path) -> Result<Staged, BuildError> {
        let out = absolute(out)?;
        if let Some(parent) = out.parent() {
            std::fs::create_dir_all(parent).map_err(|error| {
                BuildError::Failed(format!("cannot create {}: {error}", parent.display()))
            })?;
        }
        let mut name = out
            .file_name()
            .unwrap_or(OsStr::new("app.wasm"))
            .to_os_string();
        name.push(format!(".partial-{}", std::process::id()));
        Ok(Staged {
            path: out.with_file_name(name),
            out,
        })
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn commit(self) -> Result<(), BuildError> {
        std::fs::rename(&self.path, &self.out).map_err(|error| {
            BuildError::Failed(format!("cannot write {}: {error}", self.out.display()))
        })
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn write(path: &Path, text: &str) -> Result<(), BuildError> {
    write_bytes(path, text.as_bytes())
}

fn write_bytes(path: &Path, bytes: &[u8]) -> Result<(), BuildError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|error| {
            BuildError::Failed(format!("cannot create {}: {error}", parent.display()))
        })?;
    }
    std::fs::write(path, bytes)
        .map_err(|error| BuildError::Failed(format!("cannot write {}: {error}", path.display())))
}

fn absolute(path: &Path) -> Result<PathBuf, BuildError> {
    std::path::absolute(path)
        .map_err(|error| BuildError::Input(format!("cannot use {}: {error}", path.display())))
}

fn short_hash(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .take(6)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_20_19_and_later_are_recent_enough() {
        assert!(node_is_recent("v20.19.0"));
        assert!(node_is_recent("v22.1.0"));
        assert!(!node_is_recent("v20.18.3"));
        assert!(!node_is_recent("v18.19.0"));
        assert!(node_is_recent("something else"));
    }
}
