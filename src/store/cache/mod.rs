//! Read-through cache of current resource versions (read by id, vread of the cached version).
//!
//! Correctness rests on versions, not on timing:
//! * every write path appends a history row through `resources::insert_history`, which queues the
//!   new version here (thread-local, per transaction); `Store::write` hands the queue to the cache
//!   only after COMMIT (dropped on rollback, trimmed on a rolled-back savepoint);
//! * an entry is only ever replaced by a newer version, so a read that fetched version n before a
//!   concurrent write committed n+1 cannot put n back; a deletion is a tombstone version;
//! * in memory, a read may only populate if nothing was evicted from its shard since it started
//!   (the evicted entry could have been the newer version).
//!
//! Backends: in-process memory (default), or Redis shared by every process on the database when
//! a Redis URL is configured. Entries expire after a TTL, which bounds staleness from writers that
//! cannot reach this cache (another process without Redis, a Redis outage during a write).

mod memory;
mod shared;

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::resources::Version;

/// Counter `hms_cache_requests_total{backend, result="hit"|"miss"}`.
pub const REQUESTS: &str = "hms_cache_requests_total";

/// What the cache knows about one resource.
#[derive(Debug, Clone)]
pub enum Entry {
    /// A current version with its content (content None: a deletion).
    Known(Version),
    /// Only that the current version is at least this one (content too large to keep).
    Floor(i64),
}

impl Entry {
    pub fn version(&self) -> i64 {
        match self {
            Entry::Known(v) => v.version,
            Entry::Floor(n) => *n,
        }
    }

    fn content_len(&self) -> usize {
        match self {
            Entry::Known(v) => v.content.as_ref().map_or(0, Vec::len),
            Entry::Floor(_) => 0,
        }
    }

    /// Whether `self` may replace `old`: a newer version, or the content for a floor.
    fn supersedes(&self, old: &Entry) -> bool {
        self.version() > old.version()
            || (self.version() == old.version()
                && matches!(old, Entry::Floor(_))
                && matches!(self, Entry::Known(_)))
    }
}

/// Cache settings (from `Config`).
#[derive(Debug, Clone)]
pub struct CacheSettings {
    /// In-process budget in MiB; 0 turns the cache off (both backends).
    pub size_mib: u64,
    pub ttl: Duration,
    /// Confirm each hit with a version-only query (several processes without Redis).
    pub validate: bool,
    /// Shared backend instead of memory.
    pub redis_url: Option<String>,
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings {
            size_mib: 64,
            ttl: Duration::from_secs(300),
            validate: false,
            redis_url: None,
        }
    }
}

// One per process: the size difference of the variants does not matter.
#[allow(clippy::large_enum_variant)]
enum Backend {
    Memory(memory::Memory),
    Redis(shared::RedisCache),
}

pub struct ResourceCache {
    backend: Backend,
    validate: bool,
}

/// Set once any cache exists: writes queue their versions only then.
static ENABLED: AtomicBool = AtomicBool::new(false);

impl ResourceCache {
    /// None when the settings turn the cache off. `namespace` separates databases sharing a Redis.
    pub fn new(settings: &CacheSettings, namespace: &str) -> Result<Option<ResourceCache>, String> {
        if settings.size_mib == 0 {
            return Ok(None);
        }
        let backend = match &settings.redis_url {
            Some(url) => Backend::Redis(shared::RedisCache::new(
                url,
                namespace.to_string(),
                settings.ttl,
            )?),
            None => Backend::Memory(memory::Memory::new(
                usize::try_from(settings.size_mib.saturating_mul(1024 * 1024))
                    .unwrap_or(usize::MAX),
                settings.ttl,
            )),
        };
        ENABLED.store(true, Ordering::Relaxed);
        Ok(Some(ResourceCache {
            backend,
            validate: settings.validate,
        }))
    }

    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Memory(_) => "memory",
            Backend::Redis(_) => "redis",
        }
    }

    /// Hits must be confirmed by the caller with a version-only query.
    pub fn validates(&self) -> bool {
        self.validate
    }

    /// The cached current version with content, if known.
    pub fn get(&self, res_type: &str, res_id: &str) -> Option<Version> {
        let key = key(res_type, res_id);
        let entry = match &self.backend {
            Backend::Memory(m) => m.get(&key),
            Backend::Redis(r) => r.get(res_type, res_id, &key),
        };
        match entry {
            Some(Entry::Known(v)) => Some(v),
            _ => None,
        }
    }

    /// Taken before a database read whose result will be offered.
    pub fn ticket(&self, res_type: &str, res_id: &str) -> u64 {
        match &self.backend {
            Backend::Memory(m) => m.ticket(&key(res_type, res_id)),
            Backend::Redis(_) => 0,
        }
    }

    /// A current version just read from the primary (committed data).
    pub fn offer_read(&self, ticket: u64, v: &Version) {
        let key = key(&v.res_type, &v.res_id);
        match &self.backend {
            Backend::Memory(m) => m.offer(&key, Entry::Known(v.clone()), Some(ticket)),
            Backend::Redis(r) => r.offer(&key, &Entry::Known(v.clone())),
        }
    }

    /// Versions a committed transaction wrote.
    pub fn written(&self, versions: Vec<Version>) {
        match &self.backend {
            Backend::Memory(m) => {
                for v in versions {
                    let key = key(&v.res_type, &v.res_id);
                    m.offer(&key, Entry::Known(v), None);
                }
            }
            Backend::Redis(r) => {
                let entries: Vec<(String, Entry)> = versions
                    .into_iter()
                    .map(|v| (key(&v.res_type, &v.res_id), Entry::Known(v)))
                    .collect();
                r.offer_many(&entries);
            }
        }
    }

    pub fn count(&self, hit: bool) {
        metrics::counter!(REQUESTS, "backend" => self.backend_name(), "result" => if hit { "hit" } else { "miss" })
            .increment(1);
    }
}

fn key(res_type: &str, res_id: &str) -> String {
    format!("{res_type}/{res_id}")
}

thread_local! {
    /// Versions written by the open transaction(s) of this thread, applied after COMMIT.
    static PENDING: RefCell<Vec<Version>> = const { RefCell::new(Vec::new()) };
    static DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// Called for every history row written.
pub(crate) fn note_written(v: Version) {
    if ENABLED.load(Ordering::Relaxed) {
        PENDING.with(|p| p.borrow_mut().push(v));
    }
}

/// One `Store::write` on this thread: tracks nesting so only its own versions are handed over.
pub(crate) struct TxScope {
    mark: usize,
}

impl TxScope {
    pub(crate) fn enter() -> TxScope {
        let outermost = DEPTH.with(|d| {
            d.set(d.get() + 1);
            d.get() == 1
        });
        if outermost {
            // Leftovers of a write outside `Store::write` never committed through us: drop them.
            PENDING.with(|p| p.borrow_mut().clear());
        }
        TxScope { mark: mark() }
    }

    /// A new attempt (retry) or a rollback: forget this scope's versions.
    pub(crate) fn discard(&self) {
        truncate(self.mark);
    }

    /// After COMMIT: this scope's versions.
    pub(crate) fn committed(&self) -> Vec<Version> {
        PENDING.with(|p| {
            let mut p = p.borrow_mut();
            let at = self.mark.min(p.len());
            p.split_off(at)
        })
    }
}

impl Drop for TxScope {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

/// Position in the queue (savepoints trim back to it when they roll back).
pub(crate) fn mark() -> usize {
    PENDING.with(|p| p.borrow().len())
}

pub(crate) fn truncate(mark: usize) {
    PENDING.with(|p| p.borrow_mut().truncate(mark));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(version: i64, body: Option<&str>) -> Version {
        Version {
            res_type: "Patient".into(),
            res_id: "p1".into(),
            version,
            last_updated: version * 10,
            deleted: i16::from(body.is_none()),
            method: "PUT".into(),
            encoding: "json".into(),
            content: body.map(|b| b.as_bytes().to_vec()),
        }
    }

    fn memory(mib: u64) -> ResourceCache {
        ResourceCache::new(
            &CacheSettings {
                size_mib: mib,
                ..Default::default()
            },
            "t",
        )
        .unwrap()
        .unwrap()
    }

    #[test]
    fn older_versions_never_replace_newer_ones() {
        let c = memory(1);
        let t = c.ticket("Patient", "p1");
        c.written(vec![v(2, Some("{\"b\":2}"))]);
        // A read that fetched version 1 before the write committed comes back late.
        c.offer_read(t, &v(1, Some("{\"a\":1}")));
        assert_eq!(c.get("Patient", "p1").unwrap().version, 2);
        c.written(vec![v(3, None)]);
        let got = c.get("Patient", "p1").unwrap();
        assert_eq!((got.version, got.deleted), (3, 1));
        c.offer_read(c.ticket("Patient", "p1"), &v(2, Some("{}")));
        assert_eq!(c.get("Patient", "p1").unwrap().version, 3);
    }

    #[test]
    fn size_zero_is_off_and_budget_is_bounded() {
        assert!(
            ResourceCache::new(
                &CacheSettings {
                    size_mib: 0,
                    ..Default::default()
                },
                "t"
            )
            .unwrap()
            .is_none()
        );
        let c = memory(1);
        let body = "x".repeat(4000);
        for i in 0..2000 {
            let mut x = v(1, Some(&body));
            x.res_id = format!("p{i}");
            c.offer_read(c.ticket("Patient", &x.res_id), &x);
        }
        let kept = (0..2000)
            .filter(|i| c.get("Patient", &format!("p{i}")).is_some())
            .count();
        // 1 MiB over ~4.2 KB entries: a few hundred stay, never all.
        assert!(kept > 100 && kept < 260, "kept {kept}");
    }

    #[test]
    fn pending_versions_follow_commit_and_rollback() {
        ENABLED.store(true, Ordering::Relaxed);
        let outer = TxScope::enter();
        note_written(v(1, Some("{}")));
        let sp = mark();
        note_written(v(2, Some("{}")));
        truncate(sp);
        {
            let inner = TxScope::enter();
            note_written(v(5, Some("{}")));
            assert_eq!(
                inner
                    .committed()
                    .iter()
                    .map(|v| v.version)
                    .collect::<Vec<_>>(),
                vec![5]
            );
        }
        let got: Vec<i64> = outer.committed().iter().map(|v| v.version).collect();
        assert_eq!(got, vec![1]);
        note_written(v(7, Some("{}")));
        outer.discard();
        assert!(outer.committed().is_empty());
    }
}
