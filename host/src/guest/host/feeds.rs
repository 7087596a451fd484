//! The host side of `feeds`: the app's granted feeds by name, and the last
//! lines of one. The grants come from the config (`[[apps.feeds]]`) and
//! travel in the registry, so every instance of the app, after a swap or a
//! trap, sees the same ones; a name the config did not grant reads nothing.
//! New lines reach the app through `feed-handler.on-lines`, posted by the
//! host's followers (`crate::feeds`), not through this interface.

use super::super::GuestState;
use super::wit;
use crate::feeds::TailError;
use crate::guest::wasi::Grant;
use wit::feeds::FeedError;

/// What importing `feeds` hands a guest.
pub(super) const GRANT: Grant = Grant {
    interface: "switchboard:app/feeds",
    authority: "read the files the config grants this app by name ([[apps.feeds]]), and nothing else",
};

impl wit::feeds::Host for GuestState {
    fn granted(&mut self) -> Vec<String> {
        self.connections.feeds.names().map(String::from).collect()
    }

    fn tail(&mut self, feed: String, lines: u32) -> Result<Vec<String>, FeedError> {
        self.connections
            .feeds
            .tail(&feed, lines)
            .map_err(|error| match error {
                TailError::UnknownFeed => FeedError::UnknownFeed,
                unreadable @ TailError::Unreadable { .. } => {
                    tracing::warn!("{}: feed {feed}: {unreadable}", self.app_name);
                    FeedError::Unreadable
                }
            })
    }
}
