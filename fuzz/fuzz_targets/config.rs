//! Any config file must load or be refused with one line of text, never a
//! panic: arbitrary bytes as the TOML file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard::config::{Config, Overrides};

fuzz_target!(|data: &[u8]| {
    // One file per fuzzing process, rewritten for every input.
    let path = std::env::temp_dir().join(format!("switchboard-fuzz-{}.toml", std::process::id()));
    if std::fs::write(&path, data).is_err() {
        return;
    }
    if let Err(error) = Config::load(Some(&path), Overrides::default()) {
        assert!(!error.to_string().contains('\n'), "{error}");
    }
});
