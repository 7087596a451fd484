//! The host side of `kv`: the app's key-value namespace, reached through
//! the handle its registry carries (`Connections::kv`), so the store
//! outlives every instance, swap and trap. Limits and quotas are checked
//! by the handle and the store (`crate::kv`); this file turns their
//! answers into the WIT's, and puts the reason for a `storage-failed` in
//! the host's log, since the app only learns that it failed.

use super::super::GuestState;
use super::wit;
use crate::guest::wasi::Grant;
use crate::kv::{self, AppKv};
use std::time::Instant;
use wit::kv::{Entry, KvError};

/// What importing `kv` hands a guest.
pub(super) const GRANT: Grant = Grant {
    interface: "switchboard:app/kv",
    authority: "read and write this app's own key-value namespace, within its quotas",
};

impl GuestState {
    /// Run one call on the app's namespace, counting the time it took as
    /// waiting on storage (an fsync, a read from disk), which the call's
    /// CPU deadline gives back (`sandbox::StorageWait`).
    fn on_kv<R>(&mut self, call: impl FnOnce(&AppKv) -> R) -> R {
        let started = Instant::now();
        let result = call(&self.connections.kv);
        self.storage_wait.add(started.elapsed());
        result
    }

    /// The WIT's error for `error`, logging the store's own reasons.
    fn kv_error(&self, call: &str, error: kv::KvError) -> KvError {
        match error {
            kv::KvError::InvalidKey => KvError::InvalidKey,
            kv::KvError::ValueTooLarge => KvError::ValueTooLarge,
            kv::KvError::QuotaExceeded => KvError::QuotaExceeded,
            kv::KvError::NotACounter => KvError::NotACounter,
            kv::KvError::Overflow => KvError::Overflow,
            kv::KvError::Storage(reason) => {
                tracing::error!(app = &*self.app_name, "kv.{call} failed: {reason}");
                KvError::StorageFailed
            }
        }
    }
}

impl wit::kv::Host for GuestState {
    fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, KvError> {
        self.on_kv(|kv| kv.get(&key))
            .map_err(|error| self.kv_error("get", error))
    }

    fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), KvError> {
        self.on_kv(|kv| kv.set(&key, &value))
            .map_err(|error| self.kv_error("set", error))
    }

    fn delete(&mut self, key: String) -> Result<bool, KvError> {
        self.on_kv(|kv| kv.delete(&key))
            .map_err(|error| self.kv_error("delete", error))
    }

    fn list(
        &mut self,
        prefix: String,
        start_after: Option<String>,
        limit: u32,
    ) -> Result<Vec<Entry>, KvError> {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let entries = self
            .on_kv(|kv| kv.list(&prefix, start_after.as_deref(), limit))
            .map_err(|error| self.kv_error("list", error))?;
        Ok(entries
            .into_iter()
            .map(|entry| Entry {
                key: entry.key,
                value: entry.value,
            })
            .collect())
    }

    fn compare_and_swap(
        &mut self,
        key: String,
        expected: Option<Vec<u8>>,
        new: Option<Vec<u8>>,
    ) -> Result<bool, KvError> {
        self.on_kv(|kv| kv.compare_and_swap(&key, expected.as_deref(), new.as_deref()))
            .map_err(|error| self.kv_error("compare-and-swap", error))
    }

    fn increment(&mut self, key: String, delta: i64) -> Result<i64, KvError> {
        self.on_kv(|kv| kv.increment(&key, delta))
            .map_err(|error| self.kv_error("increment", error))
    }
}
