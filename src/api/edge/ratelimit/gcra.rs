//! GCRA (generic cell rate algorithm, a token bucket kept as one timestamp per key): the pure
//! decision and the in-process table of timestamps. The Redis script in `shared.rs` runs the same
//! arithmetic.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Mutex;
use std::time::Instant;

use super::Rate;

/// Whether a request at `now` (µs) passes, given the key's theoretical arrival time `tat`: the new
/// `tat` when it does, otherwise how long (µs, > 0) until it would.
pub fn decide(tat: Option<u64>, now: u64, rate: &Rate) -> Result<u64, u64> {
    let tat = tat.unwrap_or(now).max(now);
    let tolerance = rate.tolerance_us();
    if tat - now > tolerance {
        Err(tat - now - tolerance)
    } else {
        Ok(tat + rate.interval_us)
    }
}

const SHARDS: usize = 16;
/// A shard holding more keys than this drops the idle ones (their bucket is full again anyway).
const PRUNE_AT: usize = 16_384;

/// In-process limiter state: key → theoretical arrival time (µs since `epoch`).
pub struct LocalTable {
    epoch: Instant,
    shards: Vec<Mutex<HashMap<String, u64>>>,
    hasher: std::collections::hash_map::RandomState,
}

impl Default for LocalTable {
    fn default() -> LocalTable {
        LocalTable {
            epoch: Instant::now(),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: Default::default(),
        }
    }
}

impl LocalTable {
    /// Ok(()) when the request passes, else Err(µs to wait).
    pub fn check(&self, key: &str, rate: &Rate) -> Result<(), u64> {
        let now = u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX);
        let shard = &self.shards[(self.hasher.hash_one(key) as usize) % SHARDS];
        // A poisoned lock only means another request panicked mid-update: the map is still usable.
        let mut map = shard.lock().unwrap_or_else(|p| p.into_inner());
        let new = decide(map.get(key).copied(), now, rate)?;
        if map.len() >= PRUNE_AT {
            map.retain(|_, tat| *tat > now);
        }
        map.insert(key.to_string(), new);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_rate() {
        let r = Rate::parse("1/s", Some(3)).unwrap().unwrap();
        let mut tat = None;
        for _ in 0..3 {
            tat = Some(decide(tat, 0, &r).unwrap());
        }
        assert_eq!(decide(tat, 0, &r), Err(1_000_000));
        assert_eq!(decide(tat, 400_000, &r), Err(600_000));
        // After a second one more passes, and then the next one waits a full second again.
        let t = decide(tat, 1_000_000, &r).unwrap();
        assert_eq!(decide(Some(t), 1_000_000, &r), Err(1_000_000));
        // Idle long enough, the whole burst is back.
        let mut tat = Some(t);
        for _ in 0..3 {
            tat = Some(decide(tat, 10_000_000, &r).unwrap());
        }
        assert!(decide(tat, 10_000_000, &r).is_err());
    }

    #[test]
    fn local_table_counts_per_key() {
        let r = Rate::parse("2/m", None).unwrap().unwrap();
        let t = LocalTable::default();
        assert!(t.check("a", &r).is_ok());
        assert!(t.check("a", &r).is_ok());
        let wait = t.check("a", &r).unwrap_err();
        assert!(wait > 29_000_000 && wait <= 30_000_000, "{wait}");
        assert!(t.check("b", &r).is_ok());
    }
}
