//! A bounded cache of compiled campaign versions.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use jiff::Timestamp;

use super::CompiledCampaign;
use crate::domain::{CampaignId, CampaignVersion, Finding};

struct Entry {
    /// The version's `updated_at` when it was compiled: a draft edited in place has a newer
    /// one and is compiled again.
    updated_at: Timestamp,
    compiled: Arc<CompiledCampaign>,
    last_used: u64,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<(CampaignId, u32), Entry>,
    clock: u64,
}

/// Compiled campaigns by `(campaign id, version)`; a version is compiled at most once while
/// cached (two threads missing at the same time may both compile; the last one wins).
/// Bounded: past `capacity` entries the least recently used one is dropped. Thread safe.
pub struct TemplateCache {
    capacity: usize,
    inner: Mutex<Inner>,
}

impl TemplateCache {
    /// A cache holding at most `capacity` compiled versions (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The map stays consistent even if a holder panicked: keep using it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The compiled version, compiling it (outside the lock) when it is not cached or when
    /// the cached copy is older than the version's `updated_at`. Compile errors are not cached.
    pub fn get_or_compile(
        &self,
        version: &CampaignVersion,
    ) -> Result<Arc<CompiledCampaign>, Vec<Finding>> {
        let key = (version.campaign_id, version.version);
        {
            let mut inner = self.lock();
            inner.clock += 1;
            let now = inner.clock;
            if let Some(e) = inner.entries.get_mut(&key)
                && e.updated_at == version.updated_at
            {
                e.last_used = now;
                return Ok(Arc::clone(&e.compiled));
            }
        }
        let compiled = Arc::new(CompiledCampaign::compile(&version.spec)?);
        let mut inner = self.lock();
        inner.clock += 1;
        let now = inner.clock;
        if !inner.entries.contains_key(&key)
            && inner.entries.len() >= self.capacity
            && let Some(oldest) = inner
                .entries
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| *k)
        {
            inner.entries.remove(&oldest);
        }
        inner.entries.insert(
            key,
            Entry {
                updated_at: version.updated_at,
                compiled: Arc::clone(&compiled),
                last_used: now,
            },
        );
        Ok(compiled)
    }

    /// How many compiled versions are cached.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
