//! Calendar checks without a clock: all "today" values are passed in.

/// Days in a month of a year (proleptic Gregorian).
fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        2 => 28,
        _ => 0,
    }
}

fn valid_ymd(y: u32, m: u32, d: u32) -> bool {
    (1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m)
}

/// `CCYYMMDD` -> `YYYY-MM-DD` if it is a real calendar date.
pub fn x12_to_fhir_date(s: &str) -> Option<String> {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let y: u32 = s.get(0..4)?.parse().ok()?;
    let m: u32 = s.get(4..6)?.parse().ok()?;
    let d: u32 = s.get(6..8)?.parse().ok()?;
    valid_ymd(y, m, d).then(|| format!("{:04}-{:02}-{:02}", y, m, d))
}

/// The date part of a FHIR date/dateTime (`YYYY-MM-DD[Thh:mm...]`) as `CCYYMMDD`,
/// only if it is a full, real calendar date.
pub fn fhir_to_x12_date(s: &str) -> Option<String> {
    let date = s.get(0..10)?;
    let b = date.as_bytes();
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    if s.len() > 10 && s.as_bytes().get(10) != Some(&b'T') {
        return None;
    }
    let compact: String = date.chars().filter(|c| *c != '-').collect();
    x12_to_fhir_date(&compact).map(|_| compact)
}
