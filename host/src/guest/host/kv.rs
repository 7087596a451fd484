//! The host side of `kv`. (Skeleton: the kv helper replaces this.)

use super::super::GuestState;
use super::wit;
use crate::guest::wasi::Grant;
use wit::kv::{Entry, KvError};

/// What importing `kv` hands a guest.
pub(super) const GRANT: Grant = Grant {
    interface: "switchboard:app/kv",
    authority: "read and write this app's own key-value namespace, within its quotas",
};

impl wit::kv::Host for GuestState {
    fn get(&mut self, _key: String) -> Result<Option<Vec<u8>>, KvError> {
        Err(KvError::StorageFailed)
    }

    fn set(&mut self, _key: String, _value: Vec<u8>) -> Result<(), KvError> {
        Err(KvError::StorageFailed)
    }

    fn delete(&mut self, _key: String) -> Result<bool, KvError> {
        Err(KvError::StorageFailed)
    }

    fn list(
        &mut self,
        _prefix: String,
        _start_after: Option<String>,
        _limit: u32,
    ) -> Result<Vec<Entry>, KvError> {
        Err(KvError::StorageFailed)
    }

    fn compare_and_swap(
        &mut self,
        _key: String,
        _expected: Option<Vec<u8>>,
        _new: Option<Vec<u8>>,
    ) -> Result<bool, KvError> {
        Err(KvError::StorageFailed)
    }

    fn increment(&mut self, _key: String, _delta: i64) -> Result<i64, KvError> {
        Err(KvError::StorageFailed)
    }
}
