//! The shared backend: one Redis hash per resource (`v` version, `d` deleted, `lu` lastUpdated,
//! `m` method, `e` encoding, `c` content; `f` marks a version-only floor), written by a script
//! that never lets an older version replace a newer one. Every node and CLI process on the same
//! database uses the same keys (the namespace is a per-database secret), so a write on one node is
//! seen by the next read on any other. While Redis is unreachable the cache is bypassed.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::Entry;
use crate::store::resources::Version;

/// Stores ARGV as the entry of KEYS[1] unless the stored version is newer (or equal and not a
/// floor). ARGV: version, deleted, lastUpdated, method, encoding, has-content, content, floor, ttl.
const OFFER: &str = r"
local cur = redis.call('HGET', KEYS[1], 'v')
if cur then
  local c, n = tonumber(cur), tonumber(ARGV[1])
  if c > n then return 0 end
  if c == n and redis.call('HEXISTS', KEYS[1], 'f') == 0 then return 0 end
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'd', ARGV[2], 'lu', ARGV[3], 'm', ARGV[4], 'e', ARGV[5])
if ARGV[6] == '1' then redis.call('HSET', KEYS[1], 'c', ARGV[7]) end
if ARGV[8] == '1' then redis.call('HSET', KEYS[1], 'f', '1') end
redis.call('EXPIRE', KEYS[1], ARGV[9])
return 1
";

/// Larger contents are stored as floors (the version only).
const MAX_CONTENT: usize = 1024 * 1024;
const TIMEOUT: Duration = Duration::from_millis(500);
/// After a failure, Redis is left alone this long (no per-request connect timeouts).
const PAUSE: Duration = Duration::from_secs(5);

pub struct RedisCache {
    client: redis::Client,
    idle: Mutex<Vec<redis::Connection>>,
    namespace: String,
    ttl_secs: u64,
    paused_until: Mutex<Option<Instant>>,
    warned: AtomicBool,
}

impl RedisCache {
    pub fn new(url: &str, namespace: String, ttl: Duration) -> Result<RedisCache, String> {
        let client = redis::Client::open(url).map_err(|e| e.to_string())?;
        Ok(RedisCache {
            client,
            idle: Mutex::new(Vec::new()),
            namespace,
            ttl_secs: ttl.as_secs().max(1),
            paused_until: Mutex::new(None),
            warned: AtomicBool::new(false),
        })
    }

    fn key(&self, key: &str) -> String {
        format!("hms:rc:{}:{key}", self.namespace)
    }

    /// Runs `f` on a pooled connection; None (and a pause) when Redis fails.
    fn with_conn<T>(
        &self,
        f: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Option<T> {
        {
            let mut p = self.paused_until.lock().unwrap_or_else(|p| p.into_inner());
            match *p {
                Some(t) if Instant::now() < t => return None,
                Some(_) => *p = None,
                None => {}
            }
        }
        let pooled = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match pooled {
            Some(c) => Ok(c),
            None => self
                .client
                .get_connection_with_timeout(TIMEOUT)
                .and_then(|c| {
                    c.set_read_timeout(Some(TIMEOUT))?;
                    c.set_write_timeout(Some(TIMEOUT))?;
                    Ok(c)
                }),
        };
        let result = conn.and_then(|mut c| f(&mut c).map(|v| (v, c)));
        match result {
            Ok((v, c)) => {
                if self.warned.swap(false, Ordering::Relaxed) {
                    tracing::info!("redis is back; the shared read cache is used again");
                }
                self.idle.lock().unwrap_or_else(|p| p.into_inner()).push(c);
                Some(v)
            }
            Err(e) => {
                if !self.warned.swap(true, Ordering::Relaxed) {
                    tracing::warn!(error = %e, "redis read cache failed; reads go to the database until it is back");
                }
                *self.paused_until.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(Instant::now() + PAUSE);
                None
            }
        }
    }

    pub fn get(&self, res_type: &str, res_id: &str, key: &str) -> Option<Entry> {
        let k = self.key(key);
        let fields: HashMap<String, Vec<u8>> =
            self.with_conn(|c| redis::cmd("HGETALL").arg(&k).query(c))?;
        parse(res_type, res_id, &fields)
    }

    fn offer_cmd(&self, key: &str, entry: &Entry) -> redis::Cmd {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(OFFER).arg(1).arg(self.key(key));
        match entry {
            Entry::Known(v) if v.content.as_ref().is_none_or(|c| c.len() <= MAX_CONTENT) => {
                cmd.arg(v.version)
                    .arg(v.deleted)
                    .arg(v.last_updated)
                    .arg(&v.method)
                    .arg(&v.encoding);
                match &v.content {
                    Some(c) => cmd.arg(1).arg(c.as_slice()),
                    None => cmd.arg(0).arg(""),
                };
                cmd.arg(0);
            }
            other => {
                cmd.arg(other.version()).arg(0).arg(0).arg("").arg("");
                cmd.arg(0).arg("").arg(1);
            }
        }
        cmd.arg(self.ttl_secs);
        cmd
    }

    pub fn offer(&self, key: &str, entry: &Entry) {
        let cmd = self.offer_cmd(key, entry);
        let _: Option<i64> = self.with_conn(|c| cmd.query(c));
    }

    /// Several offers in one round trip (the versions one transaction wrote).
    pub fn offer_many(&self, entries: &[(String, Entry)]) {
        if entries.is_empty() {
            return;
        }
        let mut pipe = redis::pipe();
        for (key, entry) in entries {
            pipe.add_command(self.offer_cmd(key, entry)).ignore();
        }
        let _: Option<()> = self.with_conn(|c| pipe.query(c));
    }
}

fn parse(res_type: &str, res_id: &str, f: &HashMap<String, Vec<u8>>) -> Option<Entry> {
    let text = |k: &str| f.get(k).and_then(|b| std::str::from_utf8(b).ok());
    let num = |k: &str| text(k).and_then(|s| s.parse::<i64>().ok());
    let version = num("v")?;
    if f.contains_key("f") {
        return Some(Entry::Floor(version));
    }
    Some(Entry::Known(Version {
        res_type: res_type.to_string(),
        res_id: res_id.to_string(),
        version,
        last_updated: num("lu")?,
        deleted: i16::try_from(num("d")?).ok()?,
        method: text("m")?.to_string(),
        encoding: text("e")?.to_string(),
        content: f.get("c").cloned(),
    }))
}
