//! The exports an app may leave out: `lifecycle` (state across a hot swap),
//! `presence` (joins and leaves), `timer-handler` (its timers firing) and
//! `feed-handler` (new lines in its feeds). Each is looked up by name,
//! semver-aware, so a component built for any 0.1.x release that has the
//! interface matches; one without it simply never hears those events.

use wasmtime::Store;
use wasmtime::component::{Component, Instance as Wasm, InstancePre};

use super::GuestState;
use super::bindings::exports::switchboard::app::{
    feed_handler, lifecycle, presence, timer_handler,
};

/// The export names, as the first release that has each spells them.
const LIFECYCLE: &str = "switchboard:app/lifecycle@0.1.1";
const PRESENCE: &str = "switchboard:app/presence@0.1.2";
const TIMER_HANDLER: &str = "switchboard:app/timer-handler@0.1.3";
const FEED_HANDLER: &str = "switchboard:app/feed-handler@0.1.3";

/// Where a module's optional exports are, found once when it is linked.
#[derive(Clone)]
pub(super) struct OptionalIndices {
    lifecycle: Option<lifecycle::GuestIndices>,
    presence: Option<presence::GuestIndices>,
    timer_handler: Option<timer_handler::GuestIndices>,
    feed_handler: Option<feed_handler::GuestIndices>,
}

/// An instance's optional exports, loaded.
pub(super) struct OptionalExports {
    pub(super) lifecycle: Option<lifecycle::Guest>,
    pub(super) presence: Option<presence::Guest>,
    pub(super) timer_handler: Option<timer_handler::Guest>,
    pub(super) feed_handler: Option<feed_handler::Guest>,
}

impl OptionalIndices {
    /// Find the optional exports `component` has. One it has under an
    /// expected name but with the wrong shape is an error.
    pub(super) fn find(
        component: &Component,
        pre: &InstancePre<GuestState>,
    ) -> wasmtime::Result<Self> {
        let has = |name: &str| component.get_export_index(None, name).is_some();
        Ok(OptionalIndices {
            lifecycle: match has(LIFECYCLE) {
                true => Some(lifecycle::GuestIndices::new(pre)?),
                false => None,
            },
            presence: match has(PRESENCE) {
                true => Some(presence::GuestIndices::new(pre)?),
                false => None,
            },
            timer_handler: match has(TIMER_HANDLER) {
                true => Some(timer_handler::GuestIndices::new(pre)?),
                false => None,
            },
            feed_handler: match has(FEED_HANDLER) {
                true => Some(feed_handler::GuestIndices::new(pre)?),
                false => None,
            },
        })
    }

    pub(super) fn load(
        &self,
        store: &mut Store<GuestState>,
        instance: &Wasm,
    ) -> wasmtime::Result<OptionalExports> {
        Ok(OptionalExports {
            lifecycle: match &self.lifecycle {
                Some(indices) => Some(indices.load(&mut *store, instance)?),
                None => None,
            },
            presence: match &self.presence {
                Some(indices) => Some(indices.load(&mut *store, instance)?),
                None => None,
            },
            timer_handler: match &self.timer_handler {
                Some(indices) => Some(indices.load(&mut *store, instance)?),
                None => None,
            },
            feed_handler: match &self.feed_handler {
                Some(indices) => Some(indices.load(&mut *store, instance)?),
                None => None,
            },
        })
    }

    pub(super) fn has_lifecycle(&self) -> bool {
        self.lifecycle.is_some()
    }

    pub(super) fn has_presence(&self) -> bool {
        self.presence.is_some()
    }

    pub(super) fn has_timer_handler(&self) -> bool {
        self.timer_handler.is_some()
    }

    pub(super) fn has_feed_handler(&self) -> bool {
        self.feed_handler.is_some()
    }
}
