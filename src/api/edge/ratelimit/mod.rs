//! Rate limiting per source IP (middleware, before anything else runs) and per authenticated
//! client (the token's `sub`, checked right after authentication). In-process by default; with
//! Redis configured the buckets live there so the limits hold across nodes, and while Redis is
//! unreachable each process counts on its own (logged), never failing the request.

mod gcra;
mod shared;

use std::sync::Arc;

use actix_web::ResponseError;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;

use crate::api::AppState;
use crate::api::auth::Guard;
use crate::api::error::ApiError;
use crate::error::Error;

use super::EdgeConfig;

/// A limit: one request per `interval_us` on average, up to `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub interval_us: u64,
    pub burst: u64,
}

impl Rate {
    /// `N/s`, `N/m`, `N/h` or `N` (per second); `0` or `off` → None (no limit). The burst
    /// defaults to N (one period's worth at once).
    pub fn parse(s: &str, burst: Option<u64>) -> Result<Option<Rate>, String> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        let (n, unit) = s.split_once('/').unwrap_or((s, "s"));
        let period_us: u64 = match unit.trim() {
            "s" | "sec" | "second" => 1_000_000,
            "m" | "min" | "minute" => 60_000_000,
            "h" | "hour" => 3_600_000_000,
            other => {
                return Err(format!(
                    "rate unit must be s, m or h (e.g. 100/s), got {other:?}"
                ));
            }
        };
        let n: u64 = n
            .trim()
            .parse()
            .map_err(|_| format!("rate must look like 100/s, got {s:?}"))?;
        if n == 0 {
            return Ok(None);
        }
        Ok(Some(Rate {
            interval_us: (period_us / n).max(1),
            burst: burst.unwrap_or(n).max(1),
        }))
    }

    fn tolerance_us(&self) -> u64 {
        self.interval_us.saturating_mul(self.burst - 1)
    }
}

/// The limiter of one server process.
pub struct Limiter {
    per_ip: Option<Rate>,
    per_client: Option<Rate>,
    local: gcra::LocalTable,
    shared: Option<shared::RedisLimiter>,
}

impl Limiter {
    /// `redis`: (URL, per-database namespace) when HMS_REDIS_URL is set.
    pub fn new(config: &EdgeConfig, redis: Option<(&str, &str)>) -> Result<Limiter, String> {
        let on = config.per_ip.is_some() || config.per_client.is_some();
        let shared = match redis {
            Some((url, ns)) if on => Some(shared::RedisLimiter::new(url, ns)?),
            _ => None,
        };
        Ok(Limiter {
            per_ip: config.per_ip,
            per_client: config.per_client,
            local: gcra::LocalTable::default(),
            shared,
        })
    }

    pub fn backend_name(&self) -> &'static str {
        if self.shared.is_some() {
            "redis"
        } else {
            "in-process"
        }
    }

    pub fn is_on(&self) -> bool {
        self.per_ip.is_some() || self.per_client.is_some()
    }

    async fn check(&self, key: &str, rate: &Rate, who: &str) -> Result<(), Error> {
        let verdict = match &self.shared {
            Some(s) => match s.check(key, rate).await {
                Some(v) => v,
                None => self.local.check(key, rate),
            },
            None => self.local.check(key, rate),
        };
        verdict.map_err(|wait_us| Error::TooManyRequests {
            message: format!("too many requests from this {who}; retry later"),
            retry_after_secs: wait_us.div_ceil(1_000_000).max(1),
        })
    }
}

/// Per-client limit of an authenticated /fhir request (no token, no client limit).
pub async fn check_client(st: &AppState, guard: &Guard) -> Result<(), Error> {
    match (&st.limiter.per_client, &guard.0) {
        (Some(rate), Some(p)) => {
            st.limiter
                .check(&format!("client:{}", p.sub), rate, "client")
                .await
        }
        _ => Ok(()),
    }
}

/// The bucket of an address: IPv4 per address, IPv6 per /64 (one subscriber usually holds a whole
/// /64, so per address would let a single client rotate through 2^64 buckets).
fn ip_key(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => format!("ip:{v4}"),
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => format!("ip:{v4}"),
            None => {
                let s = v6.segments();
                format!("ip:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// Per-IP limit of every request but the health probes: 429 with Retry-After and an
/// OperationOutcome `throttled`. The IP is the TCP peer's (X-Forwarded-For is client-controlled).
pub async fn limit_ip(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let limiter: Option<Arc<Limiter>> = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.limiter.clone());
    if let Some(l) = limiter
        && let Some(rate) = l.per_ip
        && !req.path().starts_with("/health/")
        && let Some(peer) = req.peer_addr()
        && let Err(e) = l.check(&ip_key(peer.ip()), &rate, "address").await
    {
        let resp = ApiError(e).error_response();
        return Ok(req.into_response(resp).map_into_right_body());
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_ip_keys() {
        assert_eq!(
            Rate::parse("100/s", None).unwrap(),
            Some(Rate {
                interval_us: 10_000,
                burst: 100
            })
        );
        assert_eq!(
            Rate::parse(" 30 / m ", Some(5)).unwrap(),
            Some(Rate {
                interval_us: 2_000_000,
                burst: 5
            })
        );
        assert_eq!(
            Rate::parse("7", None).unwrap().unwrap().interval_us,
            142_857
        );
        assert_eq!(Rate::parse("0", None).unwrap(), None);
        assert_eq!(Rate::parse("off", None).unwrap(), None);
        assert!(Rate::parse("10/d", None).is_err());
        assert!(Rate::parse("many", None).is_err());
        let ip = |s: &str| ip_key(s.parse().unwrap());
        assert_eq!(ip("192.0.2.7"), "ip:192.0.2.7");
        assert_eq!(ip("::ffff:192.0.2.7"), "ip:192.0.2.7");
        assert_eq!(ip("2001:db8:1:2:aaaa::1"), "ip:2001:db8:1:2::/64");
        assert_eq!(ip("2001:db8:1:2:bbbb::9"), "ip:2001:db8:1:2::/64");
        assert_eq!(ip("::1"), "ip:0:0:0:0::/64");
    }
}
