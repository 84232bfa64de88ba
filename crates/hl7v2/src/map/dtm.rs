//! HL7 DTM/DT → FHIR date, dateTime, instant.

/// A validated HL7 timestamp `YYYY[MM[DD[HH[MM[SS[.S+]]]]]][+/-ZZZZ]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dtm {
    pub year: i64,
    pub month: Option<u32>,
    pub day: Option<u32>,
    pub hour: Option<u32>,
    pub minute: Option<u32>,
    pub second: Option<u32>,
    pub fraction: Option<String>,
    /// Offset already formatted `+HH:MM`.
    pub offset: Option<String>,
}

fn leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn two(s: &str, i: usize) -> Option<u32> {
    s.get(i..i + 2)?.parse().ok()
}

/// Parses and validates an HL7 DTM (or DT). Errors describe the problem.
pub fn parse_dtm(input: &str) -> Result<Dtm, String> {
    let s = input.trim();
    let (main, offset) = match s
        .char_indices()
        .skip(1)
        .find(|(_, c)| *c == '+' || *c == '-')
    {
        Some((i, _)) => (&s[..i], Some(&s[i..])),
        None => (s, None),
    };
    let (digits, fraction) = match main.split_once('.') {
        Some((d, f)) => (d, Some(f)),
        None => (main, None),
    };
    let bad = || format!("{input:?} is not a valid HL7 date/time");
    if !digits.bytes().all(|b| b.is_ascii_digit()) || ![4, 6, 8, 10, 12, 14].contains(&digits.len())
    {
        return Err(bad());
    }
    if let Some(f) = fraction
        && (digits.len() != 14
            || f.is_empty()
            || f.len() > 4
            || !f.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(bad());
    }
    let year: i64 = digits
        .get(..4)
        .and_then(|y| y.parse().ok())
        .ok_or_else(bad)?;
    let month = two(digits, 4);
    let day = two(digits, 6);
    let hour = two(digits, 8);
    let minute = two(digits, 10);
    let second = two(digits, 12);
    if month.is_some_and(|m| !(1..=12).contains(&m))
        || day.is_some_and(|d| d < 1 || d > days_in_month(year, month.unwrap_or(1)))
        || hour.is_some_and(|h| h > 23)
        || minute.is_some_and(|m| m > 59)
        || second.is_some_and(|s| s > 59)
    {
        return Err(bad());
    }
    let offset = match offset {
        None => None,
        Some(o) => {
            let (sign, hm) = o.split_at(1);
            if hm.len() != 4 || !hm.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            let (h, m) = (two(hm, 0).ok_or_else(bad)?, two(hm, 2).ok_or_else(bad)?);
            if h > 14 || m > 59 {
                return Err(bad());
            }
            Some(format!("{sign}{h:02}:{m:02}"))
        }
    };
    Ok(Dtm {
        year,
        month,
        day,
        hour,
        minute,
        second,
        fraction: fraction.map(str::to_owned),
        offset,
    })
}

impl Dtm {
    /// FHIR `date` keeping the sent precision (`1970`, `1970-01`, `1970-01-01`);
    /// any time part is dropped.
    pub fn fhir_date(&self) -> String {
        let mut s = format!("{:04}", self.year);
        if let Some(m) = self.month {
            s.push_str(&format!("-{m:02}"));
            if let Some(d) = self.day {
                s.push_str(&format!("-{d:02}"));
            }
        }
        s
    }

    /// True when a time of day was sent.
    pub fn has_time(&self) -> bool {
        self.hour.is_some()
    }

    /// FHIR `dateTime`: date-only values keep their precision; values with a time
    /// get seconds filled with 00 and the sent offset, or `default_offset` (FHIR
    /// requires an offset once a time is present).
    pub fn fhir_datetime(&self, default_offset: &str) -> String {
        if !self.has_time() {
            return self.fhir_date();
        }
        let mut s = format!(
            "{}T{:02}:{:02}:{:02}",
            self.fhir_date(),
            self.hour.unwrap_or(0),
            self.minute.unwrap_or(0),
            self.second.unwrap_or(0)
        );
        if let Some(f) = &self.fraction {
            s.push('.');
            s.push_str(f);
        }
        s.push_str(self.offset.as_deref().unwrap_or(default_offset));
        s
    }

    /// FHIR `instant`: missing parts are filled (month/day 01, time 00).
    pub fn fhir_instant(&self, default_offset: &str) -> String {
        let full = Dtm {
            month: Some(self.month.unwrap_or(1)),
            day: Some(self.day.unwrap_or(1)),
            hour: Some(self.hour.unwrap_or(0)),
            ..self.clone()
        };
        full.fhir_datetime(default_offset)
    }

    /// Adds minutes (used for start + duration); the offset is kept.
    pub fn add_minutes(&self, minutes: i64) -> Dtm {
        let days = days_from_civil(self.year, self.month.unwrap_or(1), self.day.unwrap_or(1));
        let mins =
            i64::from(self.hour.unwrap_or(0)) * 60 + i64::from(self.minute.unwrap_or(0)) + minutes;
        let day_shift = mins.div_euclid(1440);
        let rem = mins.rem_euclid(1440);
        let (y, m, d) = civil_from_days(days + day_shift);
        Dtm {
            year: y,
            month: Some(m),
            day: Some(d),
            hour: Some(u32::try_from(rem / 60).unwrap_or(0)),
            minute: Some(u32::try_from(rem % 60).unwrap_or(0)),
            second: Some(self.second.unwrap_or(0)),
            fraction: self.fraction.clone(),
            offset: self.offset.clone(),
        }
    }
}

// Proleptic Gregorian day arithmetic (days since 1970-01-01).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        let d = parse_dtm("20240102153000+0215").unwrap();
        assert_eq!(d.fhir_datetime("+00:00"), "2024-01-02T15:30:00+02:15");
        assert_eq!(parse_dtm("1970").unwrap().fhir_date(), "1970");
        assert_eq!(parse_dtm("197001").unwrap().fhir_date(), "1970-01");
        assert_eq!(parse_dtm("19700101").unwrap().fhir_date(), "1970-01-01");
        assert_eq!(
            parse_dtm("197001011230").unwrap().fhir_datetime("+01:00"),
            "1970-01-01T12:30:00+01:00"
        );
        assert_eq!(
            parse_dtm("20210817151943.4+0200")
                .unwrap()
                .fhir_datetime("Z"),
            "2021-08-17T15:19:43.4+02:00"
        );
        assert_eq!(
            parse_dtm("2023").unwrap().fhir_instant("+00:00"),
            "2023-01-01T00:00:00+00:00"
        );
        assert_eq!(
            parse_dtm("20230101010000-0000").unwrap().offset.as_deref(),
            Some("-00:00")
        );
        for bad in [
            "19XX0101",
            "",
            "2024013",
            "20240230",
            "20241301",
            "202401012460",
            "20240101+02",
            "2024.5",
        ] {
            assert!(parse_dtm(bad).is_err(), "{bad}");
        }
        let s = parse_dtm("202012312350+0100").unwrap().add_minutes(50);
        assert_eq!(s.fhir_datetime("Z"), "2021-01-01T00:40:00+01:00");
        assert_eq!(
            parse_dtm("20240228233000")
                .unwrap()
                .add_minutes(60)
                .fhir_date(),
            "2024-02-29"
        );
    }
}
