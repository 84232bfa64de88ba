//! Deterministic FHIR ids from business keys (no randomness, no clock), so
//! importing the same X12 twice yields the same ids and updates in place.

/// 64-bit FNV-1a with a seed byte, for two independent halves.
fn fnv1a(seed: u8, data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in std::iter::once(seed).chain(data.iter().copied()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// `prefix` + 32 hex digits of a 128-bit hash of the key parts (joined with
/// a unit separator so ("ab","c") and ("a","bc") differ).
pub fn stable_id(prefix: &str, parts: &[&str]) -> String {
    let key = parts.join("\u{1f}");
    format!(
        "{prefix}{:016x}{:016x}",
        fnv1a(1, key.as_bytes()),
        fnv1a(2, key.as_bytes())
    )
}
