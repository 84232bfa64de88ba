//! Exact decimals for money and quantities (never f64).

use std::cmp::Ordering;
use std::fmt;

/// An exact decimal: `mantissa / 10^scale`.
#[derive(Debug, Clone, Copy)]
pub struct Decimal {
    mantissa: i128,
    scale: u32,
}

/// Largest scale we accept; keeps rescaling inside i128.
const MAX_SCALE: u32 = 18;
/// Largest number of significant digits we accept.
const MAX_DIGITS: usize = 18;

impl Decimal {
    pub const ZERO: Decimal = Decimal {
        mantissa: 0,
        scale: 0,
    };

    pub fn from_int(v: i64) -> Self {
        Decimal {
            mantissa: i128::from(v),
            scale: 0,
        }
    }

    /// Parse the X12 `R` (decimal) type: optional minus, digits, optional point.
    /// No exponent, no plus sign, at least one digit.
    pub fn parse_x12(s: &str) -> Option<Self> {
        let (neg, body) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let (int, frac) = match body.split_once('.') {
            Some((i, f)) => (i, f),
            None => (body, ""),
        };
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let digits = int.trim_start_matches('0').len() + frac.len();
        if digits > MAX_DIGITS || frac.len() > MAX_SCALE as usize {
            return None;
        }
        let mut mantissa: i128 = 0;
        for b in int.bytes().chain(frac.bytes()) {
            mantissa = mantissa * 10 + i128::from(b - b'0');
        }
        let scale = u32::try_from(frac.len()).ok()?;
        Some(Decimal {
            mantissa: if neg { -mantissa } else { mantissa },
            scale,
        })
    }

    /// Parse a JSON number's exact text (arbitrary_precision keeps it),
    /// accepting an exponent such as `1.2E+2`.
    pub fn parse_json(s: &str) -> Option<Self> {
        let (base, exp) = match s.find(['e', 'E']) {
            Some(i) => (&s[..i], s[i + 1..].parse::<i32>().ok()?),
            None => (s, 0),
        };
        let base = base.strip_prefix('+').unwrap_or(base);
        let mut d = Decimal::parse_x12(base)?;
        if exp >= 0 {
            for _ in 0..exp {
                if d.scale > 0 {
                    d.scale -= 1;
                } else {
                    d.mantissa = d.mantissa.checked_mul(10)?;
                }
            }
        } else {
            d.scale = d.scale.checked_add(exp.unsigned_abs())?;
            if d.scale > MAX_SCALE * 2 {
                return None;
            }
        }
        Some(d)
    }

    /// Read a serde_json number value exactly.
    pub fn from_json(v: &serde_json::Value) -> Option<Self> {
        match v {
            serde_json::Value::Number(n) => Decimal::parse_json(&n.to_string()),
            _ => None,
        }
    }

    fn rescaled(&self, scale: u32) -> Option<i128> {
        let diff = scale.checked_sub(self.scale)?;
        self.mantissa.checked_mul(10i128.checked_pow(diff)?)
    }

    pub fn checked_add(self, other: Decimal) -> Option<Decimal> {
        let scale = self.scale.max(other.scale);
        Some(Decimal {
            mantissa: self.rescaled(scale)?.checked_add(other.rescaled(scale)?)?,
            scale,
        })
    }

    pub fn checked_sub(self, other: Decimal) -> Option<Decimal> {
        self.checked_add(Decimal {
            mantissa: other.mantissa.checked_neg()?,
            scale: other.scale,
        })
    }

    pub fn checked_mul(self, other: Decimal) -> Option<Decimal> {
        Some(
            Decimal {
                mantissa: self.mantissa.checked_mul(other.mantissa)?,
                scale: self.scale.checked_add(other.scale)?,
            }
            .normalized(),
        )
    }

    /// Drop trailing fractional zeros.
    pub fn normalized(self) -> Decimal {
        let mut d = self;
        while d.scale > 0 && d.mantissa % 10 == 0 {
            d.mantissa /= 10;
            d.scale -= 1;
        }
        d
    }

    pub fn is_zero(&self) -> bool {
        self.mantissa == 0
    }

    pub fn is_negative(&self) -> bool {
        self.mantissa < 0
    }

    pub fn is_positive(&self) -> bool {
        self.mantissa > 0
    }

    /// Whether the value has no more than `places` significant fractional digits.
    pub fn fits_scale(&self, places: u32) -> bool {
        self.normalized().scale <= places
    }

    /// Format with exactly `places` fractional digits if that is exact,
    /// otherwise with the natural scale. Used for FHIR money (`135.57`, `800.00`).
    pub fn to_fixed(&self, places: u32) -> String {
        let n = self.normalized();
        if n.scale <= places
            && let Some(m) = n.rescaled(places)
        {
            {
                return Decimal {
                    mantissa: m,
                    scale: places,
                }
                .to_string();
            }
        }
        n.to_string()
    }

    /// X12 `R` form: no trailing fractional zeros, no point for integers.
    pub fn to_x12(&self) -> String {
        self.normalized().to_string()
    }

    /// A serde_json number with this exact text.
    pub fn to_json(&self, places: u32) -> serde_json::Value {
        let text = self.to_fixed(places);
        serde_json::from_str::<serde_json::Number>(&text)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::String(text))
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let neg = self.mantissa < 0;
        let digits = self.mantissa.unsigned_abs().to_string();
        let scale = self.scale as usize;
        let (int, frac) = if digits.len() > scale {
            let (i, fr) = digits.split_at(digits.len() - scale);
            (i.to_string(), fr.to_string())
        } else {
            (
                "0".to_string(),
                format!("{}{}", "0".repeat(scale - digits.len()), digits),
            )
        };
        if neg {
            f.write_str("-")?;
        }
        f.write_str(&int)?;
        if !frac.is_empty() {
            f.write_str(".")?;
            f.write_str(&frac)?;
        }
        Ok(())
    }
}

impl PartialEq for Decimal {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Decimal {}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Decimal {
    fn cmp(&self, other: &Self) -> Ordering {
        let a = self.normalized();
        let b = other.normalized();
        let scale = a.scale.max(b.scale);
        match (a.rescaled(scale), b.rescaled(scale)) {
            (Some(x), Some(y)) => x.cmp(&y),
            // Unreachable for parsed values (scale and digits are bounded).
            _ => a.mantissa.signum().cmp(&b.mantissa.signum()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats_exactly() {
        let d = Decimal::parse_x12("135.57").unwrap();
        assert_eq!(d.to_string(), "135.57");
        assert_eq!(Decimal::parse_x12("605.0000").unwrap().to_x12(), "605");
        assert_eq!(Decimal::parse_x12("-1.27").unwrap().to_fixed(2), "-1.27");
        assert_eq!(Decimal::parse_x12(".5").unwrap().to_fixed(2), "0.50");
        assert!(Decimal::parse_x12("1e5").is_none());
        assert!(Decimal::parse_x12("").is_none());
        assert!(Decimal::parse_x12("-").is_none());
        assert!(Decimal::parse_x12("1.2.3").is_none());
        assert_eq!(Decimal::parse_json("1.2E+2").unwrap().to_x12(), "120");
        assert_eq!(Decimal::parse_json("125E-2").unwrap().to_x12(), "1.25");
        let sum = Decimal::parse_x12("0.1")
            .unwrap()
            .checked_add(Decimal::parse_x12("0.2").unwrap())
            .unwrap();
        assert_eq!(sum, Decimal::parse_x12("0.3").unwrap());
    }
}
