//! `switchboard check`: whether a component can be an app here, what it
//! imports (and what the host grants for each import), and what it exports.

use switchboard::guest::{self, Module, ModuleError};

/// What `switchboard check` found: every import with what the host grants
/// for it, the exports, and whether the component fits.
pub struct CheckReport {
    /// One line per import and export, for people.
    pub listing: String,
    /// Why the component cannot be an app, if it cannot.
    pub verdict: Result<(), ModuleError>,
}

/// `switchboard check`: whether a component fits the world, what it imports
/// (and what each import may do here), and what it exports. An error only
/// when the file is not a component at all.
pub fn check(path: &std::path::Path) -> Result<CheckReport, ModuleError> {
    let name = path.display().to_string();
    // One compile and done: a compile cache would only cost memory.
    let engine = guest::engine(0).map_err(|error| ModuleError::NotAComponent {
        path: name.clone(),
        reason: format!("{error:#}"),
    })?;
    let bytes = std::fs::read(path).map_err(|source| ModuleError::Read {
        path: name.clone(),
        source,
    })?;
    let component = guest::compile_component(&engine, &bytes, &name)?;
    let mut listing = String::from("imports:\n");
    let imports = guest::imports_of(&engine, &component);
    let width = imports
        .iter()
        .map(|import| import.name.len())
        .max()
        .unwrap_or(0);
    for import in &imports {
        let grant = match import.authority {
            Some(authority) => format!("granted: {authority}"),
            None => "REFUSED: this host does not provide it".to_string(),
        };
        listing.push_str(&format!("  {:width$}  {grant}\n", import.name));
    }
    listing.push_str("exports:\n");
    for (export, _) in component.component_type().exports(&engine) {
        listing.push_str(&format!("  {export}\n"));
    }
    let limits = switchboard::config::Limits::default().guest_limits(None);
    let hash = guest::ModuleHash::of(&bytes);
    let verdict = Module::link(&engine, &component, hash, &name, &limits).map(|module| {
        if module.has_lifecycle() {
            listing.push_str("keeps state across hot swaps (exports lifecycle)\n");
        }
        if module.has_presence() {
            listing.push_str("hears who joins and leaves its topics (exports presence)\n");
        }
        if module.has_timer_handler() {
            listing.push_str("hears its timers fire (exports timer-handler)\n");
        }
        if module.has_feed_handler() {
            listing.push_str("hears new lines in its feeds (exports feed-handler)\n");
        }
    });
    Ok(CheckReport { listing, verdict })
}
