//! Instants as stored (µs since the epoch) and as FHIR/HTTP show them.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};

/// FHIR instant with millisecond precision, always UTC: 2026-12-03T17:49:35.123Z.
pub fn fhir_instant(micros: i64) -> String {
    match Utc.timestamp_micros(micros).single() {
        Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        None => "1970-01-01T00:00:00.000Z".to_string(),
    }
}

/// RFC 7231 HTTP-date for Last-Modified.
pub fn http_date(micros: i64) -> String {
    match Utc.timestamp_micros(micros).single() {
        Some(t) => t.format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
        None => "Thu, 01 Jan 1970 00:00:00 GMT".to_string(),
    }
}

/// Parses an HTTP-date (If-Modified-Since) into µs.
pub fn parse_http_date(s: &str) -> Option<i64> {
    DateTime::parse_from_rfc2822(s.trim())
        .ok()
        .map(|t| t.timestamp_micros())
}

/// Parses a FHIR date/dateTime/instant into the [low, high) range of µs it covers at its precision.
/// A dateTime without an offset is read as UTC.
pub fn parse_fhir_range(s: &str) -> Option<(i64, i64)> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        let low = t.timestamp_micros();
        // Precision of the seconds: whole second unless fractional digits were given.
        let frac_digits = s
            .split_once('.')
            .map(|(_, rest)| rest.chars().take_while(char::is_ascii_digit).count());
        let width = match frac_digits {
            None => 1_000_000,
            Some(d) => 10_i64.pow(6_u32.saturating_sub(d.min(6) as u32)),
        };
        return Some((low, low + width));
    }
    let day = |y: i32, m: u32, d: u32| {
        NaiveDate::from_ymd_opt(y, m, d).and_then(|d| d.and_hms_opt(0, 0, 0))
    };
    let micros = |t: NaiveDateTime| Utc.from_utc_datetime(&t).timestamp_micros();
    let parts: Vec<&str> = s.split('-').collect();
    let num = |p: &str, len: usize| {
        if p.len() == len {
            p.parse::<u32>().ok()
        } else {
            None
        }
    };
    match parts.as_slice() {
        [y] => {
            let y = num(y, 4)? as i32;
            Some((micros(day(y, 1, 1)?), micros(day(y + 1, 1, 1)?)))
        }
        [y, m] => {
            let (y, m) = (num(y, 4)? as i32, num(m, 2)?);
            let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            Some((micros(day(y, m, 1)?), micros(day(ny, nm, 1)?)))
        }
        [y, m, d] if d.len() == 2 => {
            let start = day(num(y, 4)? as i32, num(m, 2)?, num(d, 2)?)?;
            Some((micros(start), micros(start) + 86_400_000_000))
        }
        _ => {
            // dateTime without offset (hh:mm or hh:mm:ss): read in UTC.
            let t = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
                .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M"))
                .ok()?;
            let low = micros(t);
            Some((low, low + 1_000_000))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instant_formats_utc_millis() {
        assert_eq!(
            fhir_instant(1_700_000_000_123_456),
            "2023-11-14T22:13:20.123Z"
        );
        assert_eq!(
            http_date(1_700_000_000_123_456),
            "Tue, 14 Nov 2023 22:13:20 GMT"
        );
    }

    #[test]
    fn ranges_follow_precision() {
        let (lo, hi) = parse_fhir_range("2023").unwrap();
        assert_eq!(fhir_instant(lo), "2023-01-01T00:00:00.000Z");
        assert_eq!(fhir_instant(hi), "2024-01-01T00:00:00.000Z");
        let (lo, hi) = parse_fhir_range("2023-12").unwrap();
        assert_eq!(
            (fhir_instant(lo), fhir_instant(hi)),
            (
                "2023-12-01T00:00:00.000Z".into(),
                "2024-01-01T00:00:00.000Z".into()
            )
        );
        let (lo, hi) = parse_fhir_range("2024-02-28").unwrap();
        assert_eq!(hi - lo, 86_400_000_000);
        let (lo, hi) = parse_fhir_range("2023-11-14T23:13:20+01:00").unwrap();
        assert_eq!((lo, hi), (1_700_000_000_000_000, 1_700_000_001_000_000));
        let (lo, hi) = parse_fhir_range("2023-11-14T22:13:20.5Z").unwrap();
        assert_eq!((lo, hi), (1_700_000_000_500_000, 1_700_000_000_600_000));
        assert!(parse_fhir_range("2023-13").is_none());
        assert!(parse_fhir_range("20/02/1987").is_none());
    }
}
