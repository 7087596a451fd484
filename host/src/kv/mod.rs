//! Key-value storage for apps (`kv` in the WIT): the one small trait every
//! store sits behind, the per-app handle the host functions call, and the
//! rules every store shares (quotas, counters, paging).
//!
//! A store holds every app's keys, each call naming the app, so one app
//! never reaches another's keys whatever it names. Two stores live here:
//! `disk` (fjall, on disk in the data directory: what a host serves from)
//! and `memory` (in this process: the test harness and `switchboard test`).
//! A store that spans hosts (Redis, a later issue) implements the same
//! four calls; nothing above the trait knows which one runs.
//!
//! Every write to a key is one `update`: read what the key holds, decide,
//! and write, atomically for that app, with the app's usage (keys, bytes)
//! checked against its quota and kept current in the same step. `set`,
//! `delete`, `compare_and_swap` and `increment` are that one primitive with
//! four decisions, so every store gives them the same meaning.

pub mod disk;
pub mod memory;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

pub use disk::DiskStore;
pub use memory::MemoryStore;

/// The most entries one `list` returns, whatever the app asks for (the
/// WIT's bound): a page, not a dump.
pub const MAX_LIST: usize = 1_000;

/// Why a call did nothing. The first five are the app's own doing and
/// reach it as the WIT's `kv-error`; `Storage` is the store's, reaches the
/// app as `storage-failed`, and its reason goes to the host's log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KvError {
    #[error("the key is empty or longer than limits.max_kv_key_bytes")]
    InvalidKey,
    #[error("the value is longer than limits.max_kv_value_bytes")]
    ValueTooLarge,
    #[error("the write would take the app past its quota")]
    QuotaExceeded,
    #[error("the value is not a decimal 64-bit integer")]
    NotACounter,
    #[error("the counter would leave the range of a signed 64-bit integer")]
    Overflow,
    #[error("{0}")]
    Storage(String),
}

/// When a write that returned is safe (`[kv] durability`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Every write is fsynced before it returns: it survives a power cut.
    Sync,
    /// Every write reaches the operating system before it returns (it
    /// survives the host crashing or being killed), and everything written
    /// is fsynced every `sync_interval`: a power cut loses at most that.
    Buffered { sync_interval: Duration },
}

/// How much an app stores: keys, and the bytes of its keys and values.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub keys: u64,
    pub bytes: u64,
}

impl Usage {
    /// The usage after `key` goes from holding `old` bytes of value (or
    /// being absent) to holding `new` (or being absent).
    fn after(self, key: &str, old: Option<usize>, new: Option<usize>) -> Usage {
        let size = |value: Option<usize>| value.map_or(0, |len| (key.len() + len) as u64);
        Usage {
            keys: self.keys - u64::from(old.is_some()) + u64::from(new.is_some()),
            bytes: self.bytes - size(old) + size(new),
        }
    }
}

/// What one app may store (`limits.max_kv_keys_per_app`,
/// `limits.max_kv_bytes_per_app`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub max_keys: u64,
    pub max_bytes: u64,
}

impl Quota {
    /// No quota: for tools and benchmarks that measure the store itself.
    pub const UNLIMITED: Quota = Quota {
        max_keys: u64::MAX,
        max_bytes: u64::MAX,
    };

    /// Whether a write that takes usage from `before` to `after` may go
    /// ahead: one that grows a measure past its bound may not. One that
    /// shrinks it may, even above the bound (after the quota was lowered),
    /// so an app over its quota can always make room.
    fn allows(&self, before: Usage, after: Usage) -> bool {
        let keys_ok = after.keys <= before.keys || after.keys <= self.max_keys;
        let bytes_ok = after.bytes <= before.bytes || after.bytes <= self.max_bytes;
        keys_ok && bytes_ok
    }
}

/// One stored key and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub value: Vec<u8>,
}

/// What an `update` does to its key, decided from what the key holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change<'v> {
    /// Leave the key as it is; nothing is written.
    Keep,
    Put(Cow<'v, [u8]>),
    Remove,
}

impl Change<'_> {
    /// The value's length once the change is made, given the old one.
    fn new_len(&self, old: Option<usize>) -> Option<usize> {
        match self {
            Change::Keep => old,
            Change::Put(value) => Some(value.len()),
            Change::Remove => None,
        }
    }
}

/// How `update` decides what to do with a key, from what it holds now.
pub type Decide<'d, 'v> = dyn FnMut(Option<&[u8]>) -> Result<Change<'v>, KvError> + 'd;

/// The storage every app's `kv` calls reach. Each call names the app, and
/// sees and touches only that app's keys. An implementation must make each
/// `update` atomic for its app (no other write to that app's keys between
/// the read and the write) and keep each app's `usage` exact: counted from
/// what it holds when first asked, then kept current by every write.
pub trait KvStore: Send + Sync {
    /// The value under `key`, if any.
    fn get(&self, app: &str, key: &str) -> Result<Option<Vec<u8>>, KvError>;

    /// Up to `limit` entries whose keys start with `prefix`, in byte order
    /// of the keys, only those after `start_after` when given.
    fn list(
        &self,
        app: &str,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Entry>, KvError>;

    /// Read `key`, let `decide` say what to do with it, and do it, as one
    /// step. A change that would take the app past `quota` is not made
    /// (`QuotaExceeded`). `decide` may be called more than once (a store
    /// that retries an optimistic write); only its last answer counts.
    fn update<'v>(
        &self,
        app: &str,
        key: &str,
        quota: Quota,
        decide: &mut Decide<'_, 'v>,
    ) -> Result<(), KvError>;

    /// How much the app stores now.
    fn usage(&self, app: &str) -> Result<Usage, KvError>;

    /// Make every write so far as durable as the store can (an fsync),
    /// whatever its durability: when the host stops. A store with nothing
    /// to make durable does nothing.
    fn persist(&self) -> Result<(), KvError> {
        Ok(())
    }

    /// Store `value` under `key`, replacing what was there.
    fn set(&self, app: &str, key: &str, value: &[u8], quota: Quota) -> Result<(), KvError> {
        self.update(app, key, quota, &mut |_| {
            Ok(Change::Put(Cow::Borrowed(value)))
        })
    }

    /// Remove `key`; whether it was there.
    fn delete(&self, app: &str, key: &str) -> Result<bool, KvError> {
        let mut existed = false;
        self.update(app, key, Quota::UNLIMITED, &mut |old| {
            existed = old.is_some();
            Ok(if existed {
                Change::Remove
            } else {
                Change::Keep
            })
        })?;
        Ok(existed)
    }

    /// Store `new` (remove the key, for `None`) only if the key holds
    /// `expected` now (`None`: absent); whether it did.
    fn compare_and_swap(
        &self,
        app: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        quota: Quota,
    ) -> Result<bool, KvError> {
        let mut swapped = false;
        self.update(app, key, quota, &mut |old| {
            swapped = old == expected;
            Ok(match (swapped, new) {
                (false, _) => Change::Keep,
                (true, Some(new)) => Change::Put(Cow::Borrowed(new)),
                (true, None) => Change::Remove,
            })
        })?;
        Ok(swapped)
    }

    /// Add `delta` to the counter under `key` (absent counts as 0) and
    /// return its new value; a counter is stored as decimal text.
    fn increment(&self, app: &str, key: &str, delta: i64, quota: Quota) -> Result<i64, KvError> {
        let mut counted = 0;
        self.update(app, key, quota, &mut |old| {
            counted = counter(old)?.checked_add(delta).ok_or(KvError::Overflow)?;
            Ok(Change::Put(Cow::Owned(counted.to_string().into_bytes())))
        })?;
        Ok(counted)
    }
}

/// The number a counter's value holds: decimal text of a signed 64-bit
/// integer (an optional sign, then digits), absent counting as 0.
fn counter(value: Option<&[u8]>) -> Result<i64, KvError> {
    let Some(value) = value else {
        return Ok(0);
    };
    std::str::from_utf8(value)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or(KvError::NotACounter)
}

/// Where `update` starts in a store: what the key holds now, the app's
/// usage, the decision, and the usage after it, or why nothing is written.
/// Both stores call this inside their own atomic step.
fn decide<'v>(
    key: &str,
    old: Option<&[u8]>,
    usage: Usage,
    quota: Quota,
    decide: &mut Decide<'_, 'v>,
) -> Result<(Change<'v>, Usage), KvError> {
    let change = decide(old)?;
    let old_len = old.map(<[u8]>::len);
    let after = usage.after(key, old_len, change.new_len(old_len));
    if !quota.allows(usage, after) {
        return Err(KvError::QuotaExceeded);
    }
    Ok((change, after))
}

/// What an app may store and how large each key and value may be
/// (`[limits]`, with the app's own overrides).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KvLimits {
    pub max_key_bytes: usize,
    pub max_value_bytes: usize,
    pub quota: Quota,
}

/// One app's view of the store: its name fixed, its limits checked before
/// the store is asked. The host functions hold one (in the app's
/// registry, so it outlives instances, swaps and traps); cloning it is
/// cheap.
#[derive(Clone)]
pub struct AppKv {
    app: Arc<str>,
    store: Arc<dyn KvStore>,
    limits: KvLimits,
}

impl std::fmt::Debug for AppKv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppKv")
            .field("app", &self.app)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl AppKv {
    pub fn new(app: Arc<str>, store: Arc<dyn KvStore>, limits: KvLimits) -> AppKv {
        AppKv { app, store, limits }
    }

    /// A namespace in a store of its own, in memory, that nothing else
    /// sees: for an instance that must not touch the app's real data (a
    /// module started once on the side to check it).
    pub fn detached(limits: KvLimits) -> AppKv {
        AppKv::new(Arc::from(""), Arc::new(MemoryStore::new()), limits)
    }

    pub fn app(&self) -> &str {
        &self.app
    }

    pub fn limits(&self) -> KvLimits {
        self.limits
    }

    fn check_key(&self, key: &str) -> Result<(), KvError> {
        if key.is_empty() || key.len() > self.limits.max_key_bytes {
            return Err(KvError::InvalidKey);
        }
        Ok(())
    }

    fn check_value(&self, value: &[u8]) -> Result<(), KvError> {
        if value.len() > self.limits.max_value_bytes {
            return Err(KvError::ValueTooLarge);
        }
        Ok(())
    }

    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.check_key(key)?;
        self.store.get(&self.app, key)
    }

    pub fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        self.check_key(key)?;
        self.check_value(value)?;
        self.store.set(&self.app, key, value, self.limits.quota)
    }

    pub fn delete(&self, key: &str) -> Result<bool, KvError> {
        self.check_key(key)?;
        self.store.delete(&self.app, key)
    }

    /// At most `MAX_LIST` entries, whatever `limit` asks.
    pub fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Entry>, KvError> {
        let limit = limit.min(MAX_LIST);
        // No key is longer than the limit, so neither is a prefix of one.
        if limit == 0 || prefix.len() > self.limits.max_key_bytes {
            return Ok(Vec::new());
        }
        self.store.list(&self.app, prefix, start_after, limit)
    }

    pub fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool, KvError> {
        self.check_key(key)?;
        if let Some(new) = new {
            self.check_value(new)?;
        }
        self.store
            .compare_and_swap(&self.app, key, expected, new, self.limits.quota)
    }

    pub fn increment(&self, key: &str, delta: i64) -> Result<i64, KvError> {
        self.check_key(key)?;
        self.store
            .increment(&self.app, key, delta, self.limits.quota)
    }

    pub fn usage(&self) -> Result<Usage, KvError> {
        self.store.usage(&self.app)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app_kv(max_key_bytes: usize, max_value_bytes: usize) -> AppKv {
        AppKv::detached(KvLimits {
            max_key_bytes,
            max_value_bytes,
            quota: Quota::UNLIMITED,
        })
    }

    #[test]
    fn keys_and_values_are_checked_before_the_store_is_asked() {
        let kv = app_kv(4, 3);
        assert_eq!(kv.set("", b"x"), Err(KvError::InvalidKey));
        assert_eq!(kv.get("12345"), Err(KvError::InvalidKey));
        assert_eq!(kv.delete("12345"), Err(KvError::InvalidKey));
        assert_eq!(kv.increment("", 1), Err(KvError::InvalidKey));
        assert_eq!(kv.set("1234", b"1234"), Err(KvError::ValueTooLarge));
        assert_eq!(
            kv.compare_and_swap("k", None, Some(b"1234")),
            Err(KvError::ValueTooLarge)
        );
        kv.set("1234", b"123").expect("at both limits");
        // Expected values are compared, not stored: any length will do.
        assert_eq!(kv.compare_and_swap("k", Some(b"1234"), None), Ok(false));
        assert_eq!(kv.usage(), Ok(Usage { keys: 1, bytes: 7 }));
    }

    #[test]
    fn a_list_is_at_most_a_thousand_entries() {
        let kv = app_kv(16, 16);
        for n in 0..1_005 {
            kv.set(&format!("k{n:04}"), b"").expect("stored");
        }
        assert_eq!(
            kv.list("", None, u32::MAX as usize).unwrap().len(),
            MAX_LIST
        );
        assert_eq!(kv.list("k", None, 0).unwrap().len(), 0);
        assert_eq!(kv.list("k", Some("k1000"), 10).unwrap().len(), 4);
        // A prefix longer than any key can be matches nothing.
        assert!(kv.list("k0000000000000000", None, 10).unwrap().is_empty());
    }

    #[test]
    fn counters_read_only_decimal_integers() {
        assert_eq!(counter(None), Ok(0));
        assert_eq!(counter(Some(b"-12")), Ok(-12));
        assert_eq!(counter(Some(b"+7")), Ok(7));
        for bad in [
            &b""[..],
            b" 1",
            b"1.5",
            b"0x10",
            b"99999999999999999999",
            b"\xff",
        ] {
            assert_eq!(counter(Some(bad)), Err(KvError::NotACounter), "{bad:?}");
        }
    }
}

/// The checks every store must pass, run on each of them by its own tests.
#[cfg(test)]
pub(crate) mod conformance {
    use super::*;

    const ROOMY: Quota = Quota::UNLIMITED;

    /// Every check, for each store's tests to run on a fresh store.
    pub const ALL: [fn(&dyn KvStore); 6] = [
        set_get_delete,
        apps_never_meet,
        list_pages_in_key_order,
        compare_and_swap_only_on_a_match,
        counters_are_decimal_text,
        quotas_refuse_growth_and_write_nothing,
    ];

    fn keys(entries: &[Entry]) -> Vec<&str> {
        entries.iter().map(|entry| entry.key.as_str()).collect()
    }

    pub fn set_get_delete(store: &dyn KvStore) {
        assert_eq!(store.get("a", "greeting").unwrap(), None);
        store.set("a", "greeting", b"hello", ROOMY).unwrap();
        assert_eq!(store.get("a", "greeting").unwrap(), Some(b"hello".to_vec()));
        store.set("a", "greeting", b"hi", ROOMY).unwrap();
        assert_eq!(store.get("a", "greeting").unwrap(), Some(b"hi".to_vec()));
        store.set("a", "empty", b"", ROOMY).unwrap();
        assert_eq!(store.get("a", "empty").unwrap(), Some(Vec::new()));
        assert!(store.delete("a", "greeting").unwrap());
        assert!(!store.delete("a", "greeting").unwrap());
        assert_eq!(store.get("a", "greeting").unwrap(), None);
    }

    pub fn apps_never_meet(store: &dyn KvStore) {
        store.set("app", "key", b"mine", ROOMY).unwrap();
        store.set("app2", "key", b"theirs", ROOMY).unwrap();
        // A name that is another's with a suffix, and keys that would
        // collide if namespaces were joined naively.
        store.set("ap", "p\0key", b"sneaky", ROOMY).unwrap();
        assert_eq!(store.get("app", "key").unwrap(), Some(b"mine".to_vec()));
        assert_eq!(store.get("app2", "key").unwrap(), Some(b"theirs".to_vec()));
        assert_eq!(keys(&store.list("app", "", None, 100).unwrap()), ["key"]);
        assert_eq!(keys(&store.list("ap", "", None, 100).unwrap()), ["p\0key"]);
        assert!(store.delete("app2", "key").unwrap());
        assert_eq!(store.get("app", "key").unwrap(), Some(b"mine".to_vec()));
        assert_eq!(store.usage("app").unwrap(), Usage { keys: 1, bytes: 7 });
        assert_eq!(store.usage("app2").unwrap(), Usage::default());
    }

    pub fn list_pages_in_key_order(store: &dyn KvStore) {
        for key in ["b:2", "a:1", "b:10", "b:1", "c", "b:3", "b"] {
            store.set("app", key, key.as_bytes(), ROOMY).unwrap();
        }
        let all = store.list("app", "", None, 100).unwrap();
        assert_eq!(keys(&all), ["a:1", "b", "b:1", "b:10", "b:2", "b:3", "c"]);
        assert_eq!(all[3].value, b"b:10");
        assert_eq!(
            keys(&store.list("app", "b:", None, 100).unwrap()),
            ["b:1", "b:10", "b:2", "b:3"]
        );
        // Page by page, each starting after the last key seen.
        let mut pages = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = store.list("app", "b:", after.as_deref(), 2).unwrap();
            if page.is_empty() {
                break;
            }
            after = page.last().map(|entry| entry.key.clone());
            pages.push(keys(&page).join(" "));
        }
        assert_eq!(pages, ["b:1 b:10", "b:2 b:3"]);
        // A start before the prefix starts at the prefix; one past it
        // finds nothing; one that is not a key starts after where it
        // would be.
        assert_eq!(
            keys(&store.list("app", "b:", Some("a"), 1).unwrap()),
            ["b:1"]
        );
        assert!(store.list("app", "b:", Some("c"), 10).unwrap().is_empty());
        assert_eq!(
            keys(&store.list("app", "b:", Some("b:11"), 10).unwrap()),
            ["b:2", "b:3"]
        );
        assert!(store.list("app", "zz", None, 10).unwrap().is_empty());
    }

    pub fn compare_and_swap_only_on_a_match(store: &dyn KvStore) {
        // Absent expected absent: a lock taken.
        assert!(
            store
                .compare_and_swap("app", "lock", None, Some(b"alice"), ROOMY)
                .unwrap()
        );
        assert!(
            !store
                .compare_and_swap("app", "lock", None, Some(b"bob"), ROOMY)
                .unwrap()
        );
        assert!(
            !store
                .compare_and_swap("app", "lock", Some(b"bob"), None, ROOMY)
                .unwrap()
        );
        assert_eq!(store.get("app", "lock").unwrap(), Some(b"alice".to_vec()));
        assert!(
            store
                .compare_and_swap("app", "lock", Some(b"alice"), Some(b"bob"), ROOMY)
                .unwrap()
        );
        assert!(
            store
                .compare_and_swap("app", "lock", Some(b"bob"), None, ROOMY)
                .unwrap()
        );
        assert_eq!(store.get("app", "lock").unwrap(), None);
        assert_eq!(store.usage("app").unwrap(), Usage::default());
    }

    pub fn counters_are_decimal_text(store: &dyn KvStore) {
        assert_eq!(store.increment("app", "n", 5, ROOMY).unwrap(), 5);
        assert_eq!(store.increment("app", "n", -7, ROOMY).unwrap(), -2);
        assert_eq!(store.get("app", "n").unwrap(), Some(b"-2".to_vec()));
        store.set("app", "n", b"41", ROOMY).unwrap();
        assert_eq!(store.increment("app", "n", 1, ROOMY).unwrap(), 42);
        store.set("app", "word", b"forty", ROOMY).unwrap();
        assert_eq!(
            store.increment("app", "word", 1, ROOMY),
            Err(KvError::NotACounter)
        );
        assert_eq!(store.get("app", "word").unwrap(), Some(b"forty".to_vec()));
        store
            .set("app", "big", i64::MAX.to_string().as_bytes(), ROOMY)
            .unwrap();
        assert_eq!(
            store.increment("app", "big", 1, ROOMY),
            Err(KvError::Overflow)
        );
        assert_eq!(
            store.get("app", "big").unwrap(),
            Some(i64::MAX.to_string().into_bytes())
        );
    }

    pub fn quotas_refuse_growth_and_write_nothing(store: &dyn KvStore) {
        let quota = Quota {
            max_keys: 2,
            max_bytes: 20,
        };
        store.set("app", "k1", b"12345678", quota).unwrap(); // 10 bytes
        store.set("app", "k2", b"1234", quota).unwrap(); // 6 bytes
        assert_eq!(store.usage("app").unwrap(), Usage { keys: 2, bytes: 16 });
        assert_eq!(
            store.set("app", "k3", b"", quota),
            Err(KvError::QuotaExceeded)
        );
        assert_eq!(store.get("app", "k3").unwrap(), None);
        assert_eq!(
            store.set("app", "k2", b"123456789", quota),
            Err(KvError::QuotaExceeded)
        );
        assert_eq!(store.get("app", "k2").unwrap(), Some(b"1234".to_vec()));
        // Replacing within the bytes left is fine, and so is shrinking.
        store.set("app", "k2", b"12345678", quota).unwrap();
        assert_eq!(store.usage("app").unwrap(), Usage { keys: 2, bytes: 20 });
        assert_eq!(
            store.compare_and_swap("app", "k3", None, Some(b"x"), quota),
            Err(KvError::QuotaExceeded)
        );
        assert_eq!(
            store.increment("app", "k3", 1, quota),
            Err(KvError::QuotaExceeded)
        );
        // Under a lowered quota an app can still make room.
        let lowered = Quota {
            max_keys: 1,
            max_bytes: 5,
        };
        store.set("app", "k1", b"1", lowered).unwrap();
        assert!(store.delete("app", "k2").unwrap());
        assert_eq!(store.usage("app").unwrap(), Usage { keys: 1, bytes: 3 });
    }
}
