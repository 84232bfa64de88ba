//! Instants as stored (µs since the epoch) and as FHIR/HTTP show them.

use chrono::{DateTime, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc};

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

/// The zone in which date/dateTime values WITHOUT an offset are read (for the search index and for
/// search values). Configured with `--search-timezone`; the index records the zone it was built in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Zone {
    #[default]
    Utc,
    Offset(FixedOffset),
    Named(chrono_tz::Tz),
}

impl Zone {
    /// `UTC` (or `Z`), a fixed offset `+05:30` / `-03:00`, or an IANA name `Europe/Berlin`.
    pub fn parse(s: &str) -> Result<Zone, String> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("utc") || s == "Z" {
            return Ok(Zone::Utc);
        }
        if let Some(sign) = s.chars().next().filter(|c| *c == '+' || *c == '-') {
            let bad = || format!("invalid offset {s:?}: use +hh:mm or -hh:mm");
            let (h, m) = s[1..].split_once(':').ok_or_else(bad)?;
            if h.len() != 2 || m.len() != 2 {
                return Err(bad());
            }
            let (h, m): (i32, i32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
            if h > 14 || m > 59 {
                return Err(bad());
            }
            let secs = (h * 3600 + m * 60) * if sign == '-' { -1 } else { 1 };
            return FixedOffset::east_opt(secs)
                .map(|o| {
                    if secs == 0 {
                        Zone::Utc
                    } else {
                        Zone::Offset(o)
                    }
                })
                .ok_or_else(bad);
        }
        s.parse::<chrono_tz::Tz>().map(Zone::Named).map_err(|_| {
            format!(
                "unknown time zone {s:?}: use UTC, +hh:mm or an IANA name such as Europe/Berlin"
            )
        })
    }

    /// The canonical name, as recorded in the database and stated in the CapabilityStatement.
    pub fn name(&self) -> String {
        match self {
            Zone::Utc => "UTC".to_string(),
            Zone::Offset(o) => {
                let secs = o.local_minus_utc();
                let sign = if secs < 0 { '-' } else { '+' };
                let secs = secs.abs();
                format!("{sign}{:02}:{:02}", secs / 3600, secs % 3600 / 60)
            }
            Zone::Named(tz) => tz.name().to_string(),
        }
    }

    /// The instants (µs) a local wall-clock time stands for: (earliest, latest). They differ when
    /// the clock is set back (the hour repeats). A time skipped by a DST gap is read with the
    /// offset in force just before the gap, which lands it just after the gap.
    fn instants(&self, t: NaiveDateTime) -> (i64, i64) {
        fn pick<T: TimeZone>(r: LocalResult<DateTime<T>>, z: &T, t: NaiveDateTime) -> (i64, i64) {
            match r {
                LocalResult::Single(a) => (a.timestamp_micros(), a.timestamp_micros()),
                LocalResult::Ambiguous(a, b) => {
                    let (a, b) = (a.timestamp_micros(), b.timestamp_micros());
                    (a.min(b), a.max(b))
                }
                LocalResult::None => {
                    let before = z.offset_from_utc_datetime(&(t - chrono::Duration::days(1)));
                    let off = before.fix().local_minus_utc() as i64;
                    let us = Utc.from_utc_datetime(&t).timestamp_micros() - off * 1_000_000;
                    (us, us)
                }
            }
        }
        match self {
            Zone::Utc => {
                let us = Utc.from_utc_datetime(&t).timestamp_micros();
                (us, us)
            }
            Zone::Offset(o) => pick(o.from_local_datetime(&t), o, t),
            Zone::Named(tz) => pick(tz.from_local_datetime(&t), tz, t),
        }
    }
}

impl std::fmt::Display for Zone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

/// Parses a FHIR date/dateTime/instant into the [low, high) range of µs it covers at its precision.
/// A value without an offset (a date, a partial date, a dateTime without zone) is read in `zone`:
/// a day there may last 23 or 25 hours.
pub fn parse_fhir_range(s: &str, zone: &Zone) -> Option<(i64, i64)> {
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
    // [start, end) of a local calendar span: both ends read in the zone.
    let span = |a: NaiveDateTime, b: NaiveDateTime| Some((zone.instants(a).0, zone.instants(b).0));
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
            span(day(y, 1, 1)?, day(y + 1, 1, 1)?)
        }
        [y, m] => {
            let (y, m) = (num(y, 4)? as i32, num(m, 2)?);
            let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            span(day(y, m, 1)?, day(ny, nm, 1)?)
        }
        [y, m, d] if d.len() == 2 => {
            let start = day(num(y, 4)? as i32, num(m, 2)?, num(d, 2)?)?;
            span(start, start + chrono::Duration::days(1))
        }
        _ => {
            // dateTime without offset (hh:mm or hh:mm:ss[.f]): read in the zone; a repeated
            // wall-clock second covers both of its instants.
            let t = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
                .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M"))
                .ok()?;
            let (lo, hi) = zone.instants(t);
            Some((lo, hi + 1_000_000))
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
        let (lo, hi) = parse_fhir_range("2023", &Zone::Utc).unwrap();
        assert_eq!(fhir_instant(lo), "2023-01-01T00:00:00.000Z");
        assert_eq!(fhir_instant(hi), "2024-01-01T00:00:00.000Z");
        let (lo, hi) = parse_fhir_range("2023-12", &Zone::Utc).unwrap();
        assert_eq!(
            (fhir_instant(lo), fhir_instant(hi)),
            (
                "2023-12-01T00:00:00.000Z".into(),
                "2024-01-01T00:00:00.000Z".into()
            )
        );
        let (lo, hi) = parse_fhir_range("2024-02-28", &Zone::Utc).unwrap();
        assert_eq!(hi - lo, 86_400_000_000);
        let (lo, hi) = parse_fhir_range("2023-11-14T23:13:20+01:00", &Zone::Utc).unwrap();
        assert_eq!((lo, hi), (1_700_000_000_000_000, 1_700_000_001_000_000));
        let (lo, hi) = parse_fhir_range("2023-11-14T22:13:20.5Z", &Zone::Utc).unwrap();
        assert_eq!((lo, hi), (1_700_000_000_500_000, 1_700_000_000_600_000));
        assert!(parse_fhir_range("2023-13", &Zone::Utc).is_none());
        assert!(parse_fhir_range("20/02/1987", &Zone::Utc).is_none());
    }

    #[test]
    fn offsetless_values_read_in_the_zone() {
        let berlin = Zone::parse("Europe/Berlin").unwrap();
        let show = |r: Option<(i64, i64)>| {
            let (lo, hi) = r.unwrap();
            (fhir_instant(lo), fhir_instant(hi))
        };
        // Spring forward: 23 hours; fall back: 25 hours.
        assert_eq!(
            show(parse_fhir_range("2021-03-28", &berlin)),
            (
                "2021-03-27T23:00:00.000Z".into(),
                "2021-03-28T22:00:00.000Z".into()
            )
        );
        assert_eq!(
            show(parse_fhir_range("2021-10-31", &berlin)),
            (
                "2021-10-30T22:00:00.000Z".into(),
                "2021-10-31T23:00:00.000Z".into()
            )
        );
        // 02:30 happens twice on 2021-10-31: the value covers both.
        assert_eq!(
            show(parse_fhir_range("2021-10-31T02:30:00", &berlin)),
            (
                "2021-10-31T00:30:00.000Z".into(),
                "2021-10-31T01:30:01.000Z".into()
            )
        );
        // 02:30 does not exist on 2021-03-28: read with the winter offset.
        assert_eq!(
            show(parse_fhir_range("2021-03-28T02:30:00", &berlin)),
            (
                "2021-03-28T01:30:00.000Z".into(),
                "2021-03-28T01:30:01.000Z".into()
            )
        );
        let kolkata = Zone::parse("+05:30").unwrap();
        assert_eq!(kolkata.name(), "+05:30");
        assert_eq!(
            show(parse_fhir_range("2021-03", &kolkata)),
            (
                "2021-02-28T18:30:00.000Z".into(),
                "2021-03-31T18:30:00.000Z".into()
            )
        );
        // An explicit offset wins over the zone.
        assert_eq!(
            parse_fhir_range("2023-11-14T23:13:20+01:00", &berlin),
            Some((1_700_000_000_000_000, 1_700_000_001_000_000))
        );
        assert_eq!(Zone::parse("utc"), Ok(Zone::Utc));
        assert_eq!(Zone::parse("+00:00"), Ok(Zone::Utc));
        assert_eq!(Zone::parse("-03:00").unwrap().name(), "-03:00");
        assert!(Zone::parse("Mars/Olympus").is_err());
        assert!(Zone::parse("+5:30").is_err());
        assert!(Zone::parse("+15:00").is_err());
    }
}
