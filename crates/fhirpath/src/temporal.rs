//! Partial-precision Date, DateTime and Time values (FHIRPath §2.1.20 semantics).

use std::cmp::Ordering;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemporalKind {
    Date,
    DateTime,
    Time,
}

/// A date, dateTime or time with only the components that were given.
/// `year` is unused (0) for `Time`. `millis` is only set when seconds are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Temporal {
    pub kind: TemporalKind,
    pub year: i32,
    pub month: Option<u8>,
    pub day: Option<u8>,
    pub hour: Option<u8>,
    pub minute: Option<u8>,
    pub second: Option<u8>,
    pub millis: Option<u16>,
    /// Timezone offset in minutes (Z = 0); None when no timezone was given.
    pub tz_minutes: Option<i32>,
}

fn num<T: std::str::FromStr>(s: &str, len: usize) -> Option<T> {
    if s.len() == len && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

impl Temporal {
    fn empty(kind: TemporalKind) -> Self {
        Self {
            kind,
            year: 0,
            month: None,
            day: None,
            hour: None,
            minute: None,
            second: None,
            millis: None,
            tz_minutes: None,
        }
    }

    /// Parses `YYYY`, `YYYY-MM` or `YYYY-MM-DD`.
    pub fn parse_date(s: &str) -> Option<Self> {
        let mut t = Self::empty(TemporalKind::Date);
        t.parse_date_part(s)?;
        Some(t)
    }

    /// Parses a dateTime: date part, optional `T`, optional time and timezone.
    /// Also accepts a bare date (then kind is still DateTime with date precision).
    pub fn parse_datetime(s: &str) -> Option<Self> {
        let mut t = Self::empty(TemporalKind::DateTime);
        let (date, rest) = match s.find('T') {
            Some(i) => (&s[..i], Some(&s[i + 1..])),
            None => (s, None),
        };
        t.parse_date_part(date)?;
        if let Some(rest) = rest
            && !rest.is_empty()
        {
            // A time needs a full date.
            t.day?;
            let (time, tz) = split_tz(rest);
            t.parse_time_part(time)?;
            t.tz_minutes = match tz {
                Some(z) => Some(parse_tz(z)?),
                None => None,
            };
        }
        Some(t)
    }

    /// Parses `hh`, `hh:mm`, `hh:mm:ss(.fff)` (no timezone, per FHIR time).
    pub fn parse_time(s: &str) -> Option<Self> {
        let mut t = Self::empty(TemporalKind::Time);
        t.parse_time_part(s)?;
        Some(t)
    }

    fn parse_date_part(&mut self, s: &str) -> Option<()> {
        let mut parts = s.split('-');
        self.year = num(parts.next()?, 4)?;
        if let Some(m) = parts.next() {
            let m: u8 = num(m, 2)?;
            if !(1..=12).contains(&m) {
                return None;
            }
            self.month = Some(m);
        }
        if let Some(d) = parts.next() {
            let d: u8 = num(d, 2)?;
            if d < 1 || d > days_in_month(self.year, self.month.unwrap_or(1)) {
                return None;
            }
            self.day = Some(d);
        }
        if parts.next().is_some() {
            return None;
        }
        Some(())
    }

    fn parse_time_part(&mut self, s: &str) -> Option<()> {
        let mut parts = s.split(':');
        let h: u8 = num(parts.next()?, 2)?;
        if h > 23 {
            return None;
        }
        self.hour = Some(h);
        if let Some(m) = parts.next() {
            let m: u8 = num(m, 2)?;
            if m > 59 {
                return None;
            }
            self.minute = Some(m);
        }
        if let Some(sec) = parts.next() {
            let (whole, frac) = match sec.split_once('.') {
                Some((w, f)) => (w, Some(f)),
                None => (sec, None),
            };
            let sv: u8 = num(whole, 2)?;
            if sv > 60 {
                return None;
            }
            self.second = Some(sv);
            if let Some(f) = frac {
                if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                let mut ms = String::from(&f[..f.len().min(3)]);
                while ms.len() < 3 {
                    ms.push('0');
                }
                self.millis = Some(ms.parse().ok()?);
            }
        }
        if parts.next().is_some() {
            return None;
        }
        Some(())
    }

    pub fn has_time(&self) -> bool {
        self.hour.is_some()
    }

    /// The fields in comparison order; None marks missing precision.
    fn fields(&self) -> [Option<i64>; 6] {
        let year = match self.kind {
            TemporalKind::Time => None,
            _ => Some(i64::from(self.year)),
        };
        let ms = self
            .second
            .map(|s| i64::from(s) * 1000 + i64::from(self.millis.unwrap_or(0)));
        [
            year,
            self.month.map(i64::from),
            self.day.map(i64::from),
            self.hour.map(i64::from),
            self.minute.map(i64::from),
            ms,
        ]
    }

    /// Shifts a value with a timezone and minute precision to UTC so that
    /// values with different offsets compare correctly.
    fn to_utc(&self) -> Self {
        let (Some(tz), Some(day), Some(month), Some(hour), Some(minute)) = (
            self.tz_minutes,
            self.day,
            self.month,
            self.hour,
            self.minute,
        ) else {
            return self.clone();
        };
        if tz == 0 || self.kind == TemporalKind::Time {
            return self.clone();
        }
        let days = days_from_civil(self.year, month, day);
        let total = days * 1440 + i64::from(hour) * 60 + i64::from(minute) - i64::from(tz);
        let mut t = self.clone();
        let (y, m, d) = civil_from_days(total.div_euclid(1440));
        let mins = total.rem_euclid(1440);
        t.year = y;
        t.month = Some(m);
        t.day = Some(d);
        t.hour = Some((mins / 60) as u8);
        t.minute = Some((mins % 60) as u8);
        t.tz_minutes = Some(0);
        t
    }

    /// Ordering per FHIRPath: None when precisions differ where it matters,
    /// or when a Time is compared with a date.
    pub fn compare(&self, other: &Self) -> Option<Ordering> {
        if (self.kind == TemporalKind::Time) != (other.kind == TemporalKind::Time) {
            return None;
        }
        let (a, b) = (self.to_utc().fields(), other.to_utc().fields());
        // Times have no date fields; start comparing at the hour.
        let start = if self.kind == TemporalKind::Time {
            3
        } else {
            0
        };
        for (x, y) in a[start..].iter().zip(b[start..].iter()) {
            match (x, y) {
                (Some(x), Some(y)) => {
                    if x != y {
                        return Some(x.cmp(y));
                    }
                }
                (None, None) => return Some(Ordering::Equal),
                _ => return None,
            }
        }
        Some(Ordering::Equal)
    }

    /// Equivalence (`~`): equal with the same precision; different precision is false.
    pub fn equivalent(&self, other: &Self) -> bool {
        self.compare(other) == Some(Ordering::Equal)
    }

    /// Adds (or with negative `amount` subtracts) a calendar duration.
    /// Units: year, month, week, day, hour, minute, second, millisecond (UCUM codes too).
    pub fn add(&self, amount: i64, unit: &str) -> Option<Self> {
        let mut t = self.clone();
        match unit {
            "year" | "years" | "a" => {
                t.year = i32::try_from(i64::from(t.year) + amount).ok()?;
                t.clamp_day();
            }
            "month" | "months" | "mo" => {
                let m0 = i64::from(t.year) * 12 + i64::from(t.month.unwrap_or(1)) - 1 + amount;
                t.year = i32::try_from(m0.div_euclid(12)).ok()?;
                if t.month.is_some() {
                    t.month = Some((m0.rem_euclid(12) + 1) as u8);
                }
                t.clamp_day();
            }
            "week" | "weeks" | "wk" => return self.add(amount.checked_mul(7)?, "day"),
            "day" | "days" | "d" => return self.add_seconds(amount.checked_mul(86_400)?, 0),
            "hour" | "hours" | "h" => return self.add_seconds(amount.checked_mul(3600)?, 0),
            "minute" | "minutes" | "min" => return self.add_seconds(amount.checked_mul(60)?, 0),
            "second" | "seconds" | "s" => return self.add_seconds(amount, 0),
            "millisecond" | "milliseconds" | "ms" => {
                return self.add_seconds(amount.div_euclid(1000), amount.rem_euclid(1000));
            }
            _ => return None,
        }
        Some(t)
    }

    fn clamp_day(&mut self) {
        if let (Some(m), Some(d)) = (self.month, self.day) {
            self.day = Some(d.min(days_in_month(self.year, m)));
        }
    }

    fn add_seconds(&self, secs: i64, ms: i64) -> Option<Self> {
        let mut t = self.clone();
        let day_based = t.kind != TemporalKind::Time;
        let days = if day_based {
            days_from_civil(t.year, t.month.unwrap_or(1), t.day.unwrap_or(1))
        } else {
            0
        };
        let cur_ms = i64::from(t.millis.unwrap_or(0));
        let total_ms = cur_ms + ms;
        let total = days * 86_400
            + i64::from(t.hour.unwrap_or(0)) * 3600
            + i64::from(t.minute.unwrap_or(0)) * 60
            + i64::from(t.second.unwrap_or(0))
            + secs.checked_add(total_ms.div_euclid(1000))?;
        let rem = total.rem_euclid(86_400);
        if day_based {
            let (y, m, d) = civil_from_days(total.div_euclid(86_400));
            t.year = y;
            if t.month.is_some() {
                t.month = Some(m);
            }
            if t.day.is_some() {
                t.day = Some(d);
            }
        }
        if t.hour.is_some() {
            t.hour = Some((rem / 3600) as u8);
        }
        if t.minute.is_some() {
            t.minute = Some((rem % 3600 / 60) as u8);
        }
        if t.second.is_some() {
            t.second = Some((rem % 60) as u8);
        }
        if t.millis.is_some() {
            t.millis = Some(total_ms.rem_euclid(1000) as u16);
        }
        Some(t)
    }

    /// The current instant in UTC (for `now()`, `today()`, `timeOfDay()`).
    pub fn now() -> Self {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let secs = i64::try_from(d.as_secs()).unwrap_or(0);
        let (y, m, day) = civil_from_days(secs.div_euclid(86_400));
        let rem = secs.rem_euclid(86_400);
        Self {
            kind: TemporalKind::DateTime,
            year: y,
            month: Some(m),
            day: Some(day),
            hour: Some((rem / 3600) as u8),
            minute: Some((rem % 3600 / 60) as u8),
            second: Some((rem % 60) as u8),
            millis: Some(d.subsec_millis() as u16),
            tz_minutes: Some(0),
        }
    }

    /// Keeps only the date part (kind Date).
    pub fn date_part(&self) -> Self {
        let mut t = Self::empty(TemporalKind::Date);
        t.year = self.year;
        t.month = self.month;
        t.day = self.day;
        t
    }

    /// Keeps only the time part (kind Time).
    pub fn time_part(&self) -> Self {
        let mut t = Self::empty(TemporalKind::Time);
        t.hour = self.hour;
        t.minute = self.minute;
        t.second = self.second;
        t.millis = self.millis;
        t
    }

    /// Converts to the given kind (Date→DateTime keeps precision).
    pub fn with_kind(&self, kind: TemporalKind) -> Self {
        let mut t = self.clone();
        t.kind = kind;
        t
    }
}

impl fmt::Display for Temporal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.kind != TemporalKind::Time {
            write!(f, "{:04}", self.year)?;
            if let Some(m) = self.month {
                write!(f, "-{m:02}")?;
            }
            if let Some(d) = self.day {
                write!(f, "-{d:02}")?;
            }
            if self.kind == TemporalKind::DateTime && self.hour.is_some() {
                f.write_str("T")?;
            }
        }
        if let Some(h) = self.hour {
            write!(f, "{h:02}")?;
            if let Some(m) = self.minute {
                write!(f, ":{m:02}")?;
            }
            if let Some(s) = self.second {
                write!(f, ":{s:02}")?;
            }
            if let Some(ms) = self.millis {
                write!(f, ".{ms:03}")?;
            }
            if let Some(tz) = self.tz_minutes {
                if tz == 0 {
                    f.write_str("Z")?;
                } else {
                    let sign = if tz < 0 { '-' } else { '+' };
                    write!(f, "{sign}{:02}:{:02}", tz.abs() / 60, tz.abs() % 60)?;
                }
            }
        }
        Ok(())
    }
}

fn split_tz(s: &str) -> (&str, Option<&str>) {
    if let Some(stripped) = s.strip_suffix('Z') {
        return (stripped, Some("Z"));
    }
    match s.find(['+', '-']) {
        Some(i) => (&s[..i], Some(&s[i..])),
        None => (s, None),
    }
}

fn parse_tz(z: &str) -> Option<i32> {
    if z == "Z" {
        return Some(0);
    }
    let sign = if z.starts_with('-') { -1 } else { 1 };
    let (h, m) = z.get(1..)?.split_once(':')?;
    let h: i32 = num(h, 2)?;
    let m: i32 = num(m, 2)?;
    if h > 14 || m > 59 {
        return None;
    }
    Some(sign * (h * 60 + m))
}

fn is_leap(y: i32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i32, m: u8) -> u8 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 for a proleptic Gregorian date (Hinnant's algorithm).
fn days_from_civil(y: i32, m: u8, d: u8) -> i64 {
    let y = i64::from(y) - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i32, u8, u8) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (i32::try_from(y).unwrap_or(i32::MAX), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display() {
        let t = Temporal::parse_datetime("2013-04-02T09:30:10.5+01:00").unwrap();
        assert_eq!(t.to_string(), "2013-04-02T09:30:10.500+01:00");
        assert_eq!(
            Temporal::parse_date("1974-12-25").unwrap().to_string(),
            "1974-12-25"
        );
        assert!(Temporal::parse_date("1974-13-25").is_none());
        assert_eq!(Temporal::parse_time("10:00").unwrap().to_string(), "10:00");
    }

    #[test]
    fn compare_precision_and_tz() {
        let a = Temporal::parse_datetime("2020-01-01T10:00:00+01:00").unwrap();
        let b = Temporal::parse_datetime("2020-01-01T09:00:00Z").unwrap();
        assert_eq!(a.compare(&b), Some(Ordering::Equal));
        let c = Temporal::parse_date("2020-01").unwrap();
        let d = Temporal::parse_date("2020-01-05").unwrap();
        assert_eq!(c.compare(&d), None);
        let e = Temporal::parse_date("2019").unwrap();
        assert_eq!(e.compare(&d), Some(Ordering::Less));
    }

    #[test]
    fn arithmetic() {
        let d = Temporal::parse_date("2020-01-31").unwrap();
        assert_eq!(d.add(1, "month").unwrap().to_string(), "2020-02-29");
        assert_eq!(d.add(1, "day").unwrap().to_string(), "2020-02-01");
        assert_eq!(d.add(-1, "year").unwrap().to_string(), "2019-01-31");
        let t = Temporal::parse_datetime("2020-12-31T23:30:00Z").unwrap();
        assert_eq!(
            t.add(1, "hour").unwrap().to_string(),
            "2021-01-01T00:30:00Z"
        );
    }
}
