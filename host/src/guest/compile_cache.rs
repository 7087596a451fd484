//! Machine code of functions compiled before, kept so a deploy compiles only
//! what changed. A new version of an app is mostly the code of the old one:
//! the standard library, the SDK's glue, the allocator, every function the
//! edit did not touch. Cranelift's incremental cache keys each function by
//! its meaningful IR (not by its index, so functions that merely moved still
//! match) and hands back the code it made last time. Redeploying echo with a
//! one-line change took 34 ms instead of about 110 ms; re-uploading the same
//! code, 20–30 ms (docs/benchmarks.md, Swap). Apps built with the same
//! toolchain share most of their code, so a new app gains too.
//!
//! The cache lives in memory, bounded by bytes, and starts empty with the
//! process: a restart compiles everything once, as before.

use std::borrow::Cow;
use std::cell::Cell;

use quick_cache::Weighter;

/// A bounded store for Cranelift's compiled functions, shared by every
/// compile through the engine.
pub struct CompiledFunctions {
    entries: quick_cache::sync::Cache<Vec<u8>, Vec<u8>, ByteWeight>,
}

/// An entry weighs what it holds, so the bound is in bytes.
#[derive(Clone)]
struct ByteWeight;

impl Weighter<Vec<u8>, Vec<u8>> for ByteWeight {
    fn weight(&self, key: &Vec<u8>, code: &Vec<u8>) -> u64 {
        (key.len() + code.len()) as u64
    }
}

/// A compiled function's entry is about 1.2 KiB on average (echo and chat:
/// 650 functions in 0.8 MB); the cache estimates its entry count from it.
const TYPICAL_ENTRY_BYTES: u64 = 1200;

impl CompiledFunctions {
    /// A store holding at most `bytes` of keys and code; the entries least
    /// likely to be asked for again go first when it is full.
    pub fn new(bytes: u64) -> Self {
        // Only a hint: quick_cache starts its tables empty and grows them.
        let estimated_entries = usize::try_from(bytes / TYPICAL_ENTRY_BYTES)
            .unwrap_or(usize::MAX)
            .max(1);
        CompiledFunctions {
            entries: quick_cache::sync::Cache::with_weighter(estimated_entries, bytes, ByteWeight),
        }
    }

    /// Bytes held now.
    pub fn bytes(&self) -> u64 {
        self.entries.weight()
    }
}

impl std::fmt::Debug for CompiledFunctions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledFunctions")
            .field("entries", &self.entries.len())
            .field("bytes", &self.bytes())
            .field("capacity", &self.entries.capacity())
            .finish()
    }
}

impl wasmtime::CacheStore for CompiledFunctions {
    fn get(&self, key: &[u8]) -> Option<Cow<'_, [u8]>> {
        let found = self.entries.get(key);
        COUNTS.with(|counts| {
            let mut now = counts.get();
            match found {
                Some(_) => now.reused += 1,
                None => now.compiled += 1,
            }
            counts.set(now);
        });
        found.map(Cow::Owned)
    }

    fn insert(&self, key: &[u8], code: Vec<u8>) -> bool {
        self.entries.insert(key.to_vec(), code);
        true
    }
}

/// How one compile used the cache.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FunctionCounts {
    /// Functions whose code came from the cache.
    pub reused: u64,
    /// Functions Cranelift compiled afresh.
    pub compiled: u64,
}

thread_local! {
    /// Counted per thread: the engine compiles on the calling thread alone
    /// (`parallel_compilation(false)`, see `guest::engine`), so what one
    /// thread counts during a compile is that compile's.
    static COUNTS: Cell<FunctionCounts> = const {
        Cell::new(FunctionCounts { reused: 0, compiled: 0 })
    };
}

/// Runs `compile` on this thread and says how it used the cache.
pub fn counting<T>(compile: impl FnOnce() -> T) -> (T, FunctionCounts) {
    COUNTS.with(|counts| counts.set(FunctionCounts::default()));
    let result = compile();
    (result, COUNTS.with(Cell::get))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::CacheStore as _;

    #[test]
    fn gives_back_what_was_stored() {
        let cache = CompiledFunctions::new(1 << 20);
        assert!(cache.insert(b"key", vec![1, 2, 3]));
        assert_eq!(cache.get(b"key").as_deref(), Some(&[1u8, 2, 3][..]));
        assert_eq!(cache.get(b"other"), None);
    }

    #[test]
    fn a_huge_bound_is_only_a_bound() {
        let cache = CompiledFunctions::new(u64::MAX);
        assert!(cache.insert(b"key", vec![1]));
        assert_eq!(cache.get(b"key").as_deref(), Some(&[1u8][..]));
    }

    #[test]
    fn holds_no_more_than_its_bound() {
        let cache = CompiledFunctions::new(10_000);
        for index in 0u32..100 {
            cache.insert(&index.to_le_bytes(), vec![0; 1000]);
        }
        assert!(cache.bytes() <= 10_000, "{cache:?}");
        assert!(cache.bytes() > 0, "{cache:?}");
    }

    #[test]
    fn counts_what_each_compile_reused() {
        let cache = CompiledFunctions::new(1 << 20);
        cache.insert(b"old", vec![0; 10]);
        let ((), counts) = counting(|| {
            assert!(cache.get(b"old").is_some());
            assert!(cache.get(b"new").is_none());
            cache.insert(b"new", vec![0; 10]);
        });
        assert_eq!(
            counts,
            FunctionCounts {
                reused: 1,
                compiled: 1
            }
        );
        let ((), counts) = counting(|| ());
        assert_eq!(counts, FunctionCounts::default());
    }
}
