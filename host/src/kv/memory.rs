//! A key-value store in this process's memory, gone when it ends: what the
//! test harness and `switchboard test` give an app, so a test starts from
//! nothing and leaves nothing behind, with the same rules as on disk.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::{Mutex, PoisonError};

use super::{Change, Decide, Entry, KvError, KvStore, Quota, Usage};

/// Every app's keys in ordered maps, under one lock (which makes each
/// `update` atomic).
#[derive(Debug, Default)]
pub struct MemoryStore {
    apps: Mutex<HashMap<Box<str>, Space>>,
}

/// One app's keys and what they take.
#[derive(Debug, Default)]
struct Space {
    entries: BTreeMap<String, Vec<u8>>,
    usage: Usage,
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }
}

impl KvStore for MemoryStore {
    fn get(&self, app: &str, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        let apps = self.apps.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(apps
            .get(app)
            .and_then(|space| space.entries.get(key))
            .cloned())
    }

    fn list(
        &self,
        app: &str,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Entry>, KvError> {
        let apps = self.apps.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(space) = apps.get(app) else {
            return Ok(Vec::new());
        };
        let start = match start_after {
            Some(after) if after >= prefix => Bound::Excluded(after),
            _ => Bound::Included(prefix),
        };
        Ok(space
            .entries
            .range::<str, _>((start, Bound::Unbounded))
            .take_while(|(key, _)| key.starts_with(prefix))
            .take(limit)
            .map(|(key, value)| Entry {
                key: key.clone(),
                value: value.clone(),
            })
            .collect())
    }

    fn update<'v>(
        &self,
        app: &str,
        key: &str,
        quota: Quota,
        decide: &mut Decide<'_, 'v>,
    ) -> Result<(), KvError> {
        let mut apps = self.apps.lock().unwrap_or_else(PoisonError::into_inner);
        let space = apps.entry(Box::from(app)).or_default();
        let old = space.entries.get(key).map(Vec::as_slice);
        let (change, after) = super::decide(key, old, space.usage, quota, decide)?;
        match change {
            Change::Keep => {}
            Change::Put(value) => {
                space.entries.insert(key.to_string(), value.into_owned());
            }
            Change::Remove => {
                space.entries.remove(key);
            }
        }
        space.usage = after;
        Ok(())
    }

    fn usage(&self, app: &str) -> Result<Usage, KvError> {
        let apps = self.apps.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(apps.get(app).map(|space| space.usage).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::super::conformance;
    use super::*;

    #[test]
    fn passes_every_store_check() {
        for check in conformance::ALL {
            check(&MemoryStore::new());
        }
    }
}
