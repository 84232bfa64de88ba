//! Exponential backoff with jitter.

use std::time::Duration;

/// Delay before attempt `attempts + 1`: base·2^attempts capped at `max`, then scaled by a random
/// factor in [0.5, 1.0] so that failing destinations are not retried in lockstep.
pub fn delay(attempts: i32, base: Duration, max: Duration) -> Duration {
    let exp = attempts.clamp(0, 30) as u32;
    let raw = base.saturating_mul(1u32 << exp.min(30)).min(max);
    let jitter = 0.5 + 0.5 * (uuid::Uuid::new_v4().as_u128() % 1000) as f64 / 1000.0;
    raw.mul_f64(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_and_caps() {
        let b = Duration::from_millis(100);
        let m = Duration::from_millis(1000);
        let d0 = delay(0, b, m);
        assert!(d0 >= Duration::from_millis(50) && d0 <= b);
        let d3 = delay(3, b, m);
        assert!(d3 >= Duration::from_millis(400) && d3 <= Duration::from_millis(800));
        assert!(delay(20, b, m) <= m);
    }
}
