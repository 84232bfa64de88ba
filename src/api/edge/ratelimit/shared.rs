//! The Redis backend of the rate limiter: one GCRA timestamp per key, updated by a script (atomic
//! on the server, clock from Redis `TIME`), so every node sharing the Redis shares the limits.
//! Failures return None and pause Redis use for a while; the caller then counts in-process.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;

use super::Rate;

/// KEYS[1]: the bucket; ARGV: interval µs, tolerance µs. Returns 0 (passes) or the µs to wait.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
if tat - now > tolerance then return tat - now - tolerance end
local new = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', new), 'PX', math.floor((new - now) / 1000) + 1000)
return 0
";

const TIMEOUT: Duration = Duration::from_millis(250);
/// After a failure Redis is left alone this long (no per-request connect timeouts meanwhile).
const PAUSE: Duration = Duration::from_secs(2);

pub struct RedisLimiter {
    client: redis::Client,
    namespace: String,
    /// One multiplexed connection per HTTP worker thread (each runs its own event loop, which
    /// drives the connection it opened).
    conns: Mutex<HashMap<ThreadId, MultiplexedConnection>>,
    paused_until: Mutex<Option<Instant>>,
    warned: AtomicBool,
}

impl RedisLimiter {
    pub fn new(url: &str, namespace: &str) -> Result<RedisLimiter, String> {
        Ok(RedisLimiter {
            client: redis::Client::open(url).map_err(|e| e.to_string())?,
            namespace: namespace.to_string(),
            conns: Mutex::new(HashMap::new()),
            paused_until: Mutex::new(None),
            warned: AtomicBool::new(false),
        })
    }

    /// Some(Ok) passes, Some(Err(µs)) must wait; None: Redis is unavailable.
    pub async fn check(&self, key: &str, rate: &Rate) -> Option<Result<(), u64>> {
        {
            let mut p = self.paused_until.lock().unwrap_or_else(|p| p.into_inner());
            match *p {
                Some(t) if Instant::now() < t => return None,
                Some(_) => *p = None,
                None => {}
            }
        }
        let me = std::thread::current().id();
        match self.run(me, key, rate).await {
            Ok(wait) => {
                if self.warned.swap(false, Ordering::Relaxed) {
                    tracing::info!("redis is back; rate limits are shared across nodes again");
                }
                Some(if wait <= 0 { Ok(()) } else { Err(wait as u64) })
            }
            Err(e) => {
                self.conns
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&me);
                if !self.warned.swap(true, Ordering::Relaxed) {
                    tracing::warn!(error = %e, "redis rate limiter failed; limits are counted per process until it is back");
                }
                *self.paused_until.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(Instant::now() + PAUSE);
                None
            }
        }
    }

    async fn run(&self, me: ThreadId, key: &str, rate: &Rate) -> Result<i64, String> {
        let pooled = self
            .conns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&me)
            .cloned();
        let mut conn = match pooled {
            Some(c) => c,
            None => {
                let c =
                    tokio::time::timeout(TIMEOUT, self.client.get_multiplexed_async_connection())
                        .await
                        .map_err(|_| "connect timed out".to_string())?
                        .map_err(|e| e.to_string())?;
                self.conns
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(me, c.clone());
                c
            }
        };
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(GCRA)
            .arg(1)
            .arg(format!("hms:rl:{}:{key}", self.namespace))
            .arg(rate.interval_us)
            .arg(rate.tolerance_us());
        tokio::time::timeout(TIMEOUT, cmd.query_async::<i64>(&mut conn))
            .await
            .map_err(|_| "command timed out".to_string())?
            .map_err(|e| e.to_string())
    }
}
