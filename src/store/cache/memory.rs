//! The in-process backend: a byte-bounded map of current versions in 16 mutex-guarded shards,
//! evicted in CLOCK order (insertion order with a second chance for entries read since).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::Entry;

const SHARDS: usize = 16;
/// Bytes charged per entry on top of its content (keys, bookkeeping).
const OVERHEAD: usize = 160;

pub struct Memory {
    shards: Vec<Mutex<Shard>>,
    ttl: Duration,
}

struct Slot {
    entry: Entry,
    gen_: u64,
    referenced: bool,
    size: usize,
    expires: Instant,
}

#[derive(Default)]
struct Shard {
    map: HashMap<String, Slot>,
    queue: VecDeque<(String, u64)>,
    bytes: usize,
    budget: usize,
    next_gen: u64,
    /// Entries removed without a newer version taking their place. A read that started before one
    /// of these may not repopulate: the removed entry might have been the newer version.
    removals: u64,
}

impl Memory {
    pub fn new(budget_bytes: usize, ttl: Duration) -> Memory {
        let per_shard = (budget_bytes / SHARDS).max(OVERHEAD);
        Memory {
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        budget: per_shard,
                        ..Default::default()
                    })
                })
                .collect(),
            ttl,
        }
    }

    fn shard(&self, key: &str) -> std::sync::MutexGuard<'_, Shard> {
        use std::hash::{BuildHasher, BuildHasherDefault};
        let h = BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default()
            .hash_one(key);
        let m = &self.shards[(h as usize) % SHARDS];
        // A panic while holding the lock leaves consistent data (no invariant spans the panic).
        m.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, key: &str) -> Option<Entry> {
        let mut s = self.shard(key);
        let now = Instant::now();
        let expired = match s.map.get_mut(key) {
            None => return None,
            Some(slot) if slot.expires <= now => true,
            Some(slot) => {
                slot.referenced = true;
                return Some(slot.entry.clone());
            }
        };
        if expired {
            s.remove(key);
        }
        None
    }

    pub fn ticket(&self, key: &str) -> u64 {
        self.shard(key).removals
    }

    /// Stores `entry` unless a newer one is there (or, with a ticket, something was removed
    /// since the ticket was taken).
    pub fn offer(&self, key: &str, entry: Entry, ticket: Option<u64>) {
        let mut s = self.shard(key);
        if ticket.is_some_and(|t| t != s.removals) {
            return;
        }
        let now = Instant::now();
        if let Some(old) = s.map.get(key)
            && old.expires > now
            && !entry.supersedes(&old.entry)
        {
            return;
        }
        let mut size = OVERHEAD + key.len() + entry.content_len();
        let entry = if size > s.budget / 4 {
            // Too large to keep: remember only the version so that older reads cannot come back.
            size = OVERHEAD + key.len();
            Entry::Floor(entry.version())
        } else {
            entry
        };
        if let Some(old) = s.map.remove(key) {
            s.bytes -= old.size;
        }
        s.next_gen += 1;
        let gen_ = s.next_gen;
        s.map.insert(
            key.to_string(),
            Slot {
                entry,
                gen_,
                referenced: false,
                size,
                expires: now + self.ttl,
            },
        );
        s.bytes += size;
        s.queue.push_back((key.to_string(), gen_));
        s.evict();
    }
}

impl Shard {
    fn remove(&mut self, key: &str) {
        if let Some(old) = self.map.remove(key) {
            self.bytes -= old.size;
            self.removals += 1;
        }
    }

    fn evict(&mut self) {
        while self.bytes > self.budget {
            let Some((key, gen_)) = self.queue.pop_front() else {
                break;
            };
            match self.map.get_mut(&key) {
                Some(slot) if slot.gen_ == gen_ => {
                    if slot.referenced {
                        slot.referenced = false;
                        self.queue.push_back((key, gen_));
                    } else {
                        self.remove(&key);
                    }
                }
                _ => {} // superseded queue item
            }
        }
        // Overwritten keys leave superseded queue items behind; drop them before they pile up.
        if self.queue.len() > 2 * self.map.len() + 64 {
            let map = &self.map;
            self.queue
                .retain(|(k, g)| map.get(k).is_some_and(|s| s.gen_ == *g));
        }
    }
}
