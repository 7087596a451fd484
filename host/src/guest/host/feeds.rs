//! The host side of `feeds`. (Skeleton: the feeds helper replaces this.)

use super::super::GuestState;
use super::wit;
use crate::guest::wasi::Grant;
use wit::feeds::FeedError;

/// What importing `feeds` hands a guest.
pub(super) const GRANT: Grant = Grant {
    interface: "switchboard:app/feeds",
    authority: "read the files the config grants this app by name ([[apps.feeds]]), and nothing else",
};

impl wit::feeds::Host for GuestState {
    fn granted(&mut self) -> Vec<String> {
        Vec::new()
    }

    fn tail(&mut self, _feed: String, _lines: u32) -> Result<Vec<String>, FeedError> {
        Err(FeedError::UnknownFeed)
    }
}
