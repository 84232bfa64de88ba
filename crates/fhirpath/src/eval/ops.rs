//! Equality, equivalence, ordering and arithmetic on single items.

use std::cmp::Ordering;

use rust_decimal::Decimal;
use serde_json::Value;

use crate::error::EvalError;
use crate::item::{Item, parse_decimal};
use crate::temporal::{Temporal, TemporalKind};

/// Canonical unit for comparing quantities: calendar words that have an exact
/// UCUM equivalent (week and smaller) compare equal to it; year/month do not.
fn norm_unit(u: &str) -> &str {
    match u {
        "week" | "weeks" => "wk",
        "day" | "days" => "d",
        "hour" | "hours" => "h",
        "minute" | "minutes" => "min",
        "second" | "seconds" => "s",
        "millisecond" | "milliseconds" => "ms",
        "years" => "year",
        "months" => "month",
        other => other,
    }
}

/// A quantity view of a literal or of a FHIR Quantity-like object node.
pub(crate) fn as_quantity(item: &Item<'_>) -> Option<(Decimal, String)> {
    match item {
        Item::Quantity { value, unit } => Some((*value, unit.clone())),
        Item::Node(n) => {
            let obj = n.value.as_object()?;
            let value = match obj.get("value")? {
                Value::Number(num) => parse_decimal(&num.to_string())?,
                _ => return None,
            };
            let unit = obj
                .get("code")
                .or_else(|| obj.get("unit"))
                .and_then(Value::as_str)
                .unwrap_or("1");
            Some((value, unit.to_string()))
        }
        _ => None,
    }
}

fn is_quantity_literal(item: &Item<'_>) -> bool {
    matches!(item, Item::Quantity { .. })
}

fn as_decimal(item: &Item<'_>) -> Option<Decimal> {
    match item {
        Item::Integer(i) => Some(Decimal::from(*i)),
        Item::Decimal(d) => Some(*d),
        _ => None,
    }
}

fn temporal_of<'t>(item: &'t Item<'_>) -> Option<&'t Temporal> {
    match item {
        Item::Date(t) | Item::DateTime(t) | Item::Time(t) => Some(t),
        _ => None,
    }
}

/// Parses a string as the same kind of temporal as `like` (implicit conversion).
fn string_as_temporal(s: &str, like: &Temporal) -> Option<Temporal> {
    match like.kind {
        TemporalKind::Time => Temporal::parse_time(s),
        TemporalKind::Date if !s.contains('T') => Temporal::parse_date(s),
        _ => Temporal::parse_datetime(s),
    }
}

/// Both sides as temporals, converting a string side when the other is temporal.
fn temporal_pair(a: &Item<'_>, b: &Item<'_>) -> Option<(Temporal, Temporal)> {
    match (temporal_of(a), temporal_of(b)) {
        (Some(x), Some(y)) => Some((x.clone(), y.clone())),
        (Some(x), None) => Some((x.clone(), string_as_temporal(b.as_str()?, x)?)),
        (None, Some(y)) => Some((string_as_temporal(a.as_str()?, y)?, y.clone())),
        _ => None,
    }
}

/// `=`: Some(bool), or None (empty) when precision/units make it undecidable.
pub(crate) fn equal(a: &Item<'_>, b: &Item<'_>) -> Option<bool> {
    if is_quantity_literal(a) || is_quantity_literal(b) {
        return match (as_quantity(a), as_quantity(b)) {
            (Some((va, ua)), Some((vb, ub))) => {
                if norm_unit(&ua) == norm_unit(&ub) {
                    Some(va == vb)
                } else {
                    None
                }
            }
            _ => Some(false),
        };
    }
    match (a.to_primitive(), b.to_primitive()) {
        (None, None) => match (a, b) {
            (Item::Node(x), Item::Node(y)) => Some(json_equal(x.value, y.value, false)),
            _ => Some(a == b),
        },
        (Some(x), Some(y)) => prim_equal(&x, &y),
        _ => Some(false),
    }
}

fn prim_equal(a: &Item<'_>, b: &Item<'_>) -> Option<bool> {
    if let (Some(x), Some(y)) = (as_decimal(a), as_decimal(b)) {
        return Some(x == y);
    }
    match (a, b) {
        (Item::String(x), Item::String(y)) => Some(x == y),
        (Item::Boolean(x), Item::Boolean(y)) => Some(x == y),
        _ => {
            if temporal_of(a).is_some() || temporal_of(b).is_some() {
                return match temporal_pair(a, b) {
                    Some((x, y)) => x.compare(&y).map(|o| o == Ordering::Equal),
                    None => Some(false),
                };
            }
            Some(a == b)
        }
    }
}

/// `~`: never empty; case/whitespace-insensitive strings, decimals at the
/// lesser precision, temporals of different precision are not equivalent.
pub(crate) fn equivalent(a: &Item<'_>, b: &Item<'_>) -> bool {
    if is_quantity_literal(a) || is_quantity_literal(b) {
        return match (as_quantity(a), as_quantity(b)) {
            (Some((va, ua)), Some((vb, ub))) => {
                norm_unit(&ua) == norm_unit(&ub) && decimal_equiv(va, vb)
            }
            _ => false,
        };
    }
    match (a.to_primitive(), b.to_primitive()) {
        (None, None) => match (a, b) {
            (Item::Node(x), Item::Node(y)) => json_equal(x.value, y.value, true),
            _ => a == b,
        },
        (Some(x), Some(y)) => {
            if let (Some(p), Some(q)) = (as_decimal(&x), as_decimal(&y)) {
                return decimal_equiv(p, q);
            }
            match (&x, &y) {
                (Item::String(s), Item::String(t)) => norm_str(s) == norm_str(t),
                _ => {
                    if temporal_of(&x).is_some() || temporal_of(&y).is_some() {
                        return temporal_pair(&x, &y).is_some_and(|(p, q)| p.equivalent(&q));
                    }
                    prim_equal(&x, &y).unwrap_or(false)
                }
            }
        }
        _ => false,
    }
}

fn norm_str(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

fn decimal_equiv(a: Decimal, b: Decimal) -> bool {
    let scale = a.normalize().scale().min(b.normalize().scale());
    a.round_dp(scale) == b.round_dp(scale)
}

/// Deep JSON equality with numbers compared as exact decimals.
fn json_equal(a: &Value, b: &Value, equiv: bool) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            match (parse_decimal(&x.to_string()), parse_decimal(&y.to_string())) {
                (Some(p), Some(q)) => p == q,
                _ => x == y,
            }
        }
        (Value::String(x), Value::String(y)) if equiv => norm_str(x) == norm_str(y),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_equal(p, q, equiv))
        }
        (Value::Object(x), Value::Object(y)) => {
            // `id` is ignored by equivalence, per FHIRPath on complex types.
            let keys = |m: &serde_json::Map<String, Value>| {
                m.keys().filter(|k| !(equiv && k.as_str() == "id")).count()
            };
            keys(x) == keys(y)
                && x.iter()
                    .filter(|(k, _)| !(equiv && k.as_str() == "id"))
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w, equiv)))
        }
        _ => a == b,
    }
}

/// Ordering for `<`, `>`, `<=`, `>=`. Ok(None) = empty result.
pub(crate) fn compare(a: &Item<'_>, b: &Item<'_>) -> Result<Option<Ordering>, EvalError> {
    if is_quantity_literal(a) || is_quantity_literal(b) {
        return match (as_quantity(a), as_quantity(b)) {
            (Some((va, ua)), Some((vb, ub))) => {
                if norm_unit(&ua) == norm_unit(&ub) {
                    Ok(Some(va.cmp(&vb)))
                } else {
                    Ok(None)
                }
            }
            _ => Err(type_err("compare", a, b)),
        };
    }
    let (Some(x), Some(y)) = (a.to_primitive(), b.to_primitive()) else {
        return Err(type_err("compare", a, b));
    };
    if let (Some(p), Some(q)) = (as_decimal(&x), as_decimal(&y)) {
        return Ok(Some(p.cmp(&q)));
    }
    match (&x, &y) {
        (Item::String(s), Item::String(t)) => Ok(Some(s.cmp(t))),
        _ => match temporal_pair(&x, &y) {
            Some((p, q)) => Ok(p.compare(&q)),
            None => Err(type_err("compare", &x, &y)),
        },
    }
}

fn type_err(what: &str, a: &Item<'_>, b: &Item<'_>) -> EvalError {
    EvalError::Type(format!(
        "cannot {what} {} and {}",
        a.type_name().unwrap_or("object"),
        b.type_name().unwrap_or("object")
    ))
}

fn overflow() -> EvalError {
    EvalError::Arithmetic("overflow".into())
}

/// Arithmetic for `+ - * / div mod`. Ok(None) = empty (e.g. division by zero).
pub(crate) fn arithmetic<'a>(
    op: crate::ast::BinaryOp,
    a: &Item<'a>,
    b: &Item<'a>,
) -> Result<Option<Item<'a>>, EvalError> {
    use crate::ast::BinaryOp as B;
    let x = a.to_primitive().unwrap_or_else(|| a.clone());
    let y = b.to_primitive().unwrap_or_else(|| b.clone());
    // Date/time ± quantity.
    if let (Some(t), Some((v, unit))) = (temporal_of(&x), as_quantity(&y))
        && matches!(op, B::Add | B::Sub)
    {
        let amount: i64 = v.trunc().try_into().map_err(|_| overflow())?;
        let amount: i64 = if op == B::Sub { -amount } else { amount };
        return Ok(t.add(amount, &unit).map(Item::temporal));
    }
    if let (Item::Integer(p), Item::Integer(q)) = (&x, &y) {
        let (p, q) = (*p, *q);
        let r = match op {
            B::Add => p.checked_add(q),
            B::Sub => p.checked_sub(q),
            B::Mul => p.checked_mul(q),
            B::Div => {
                return Ok(decimal_div(Decimal::from(p), Decimal::from(q)).map(Item::Decimal));
            }
            B::IntDiv => {
                if q == 0 {
                    return Ok(None);
                }
                p.checked_div(q)
            }
            B::Mod => {
                if q == 0 {
                    return Ok(None);
                }
                p.checked_rem(q)
            }
            _ => None,
        };
        return r.map(|v| Some(Item::Integer(v))).ok_or_else(overflow);
    }
    if let (Some(p), Some(q)) = (as_decimal(&x), as_decimal(&y)) {
        let r = match op {
            B::Add => p.checked_add(q),
            B::Sub => p.checked_sub(q),
            B::Mul => p.checked_mul(q),
            B::Div => return Ok(decimal_div(p, q).map(Item::Decimal)),
            B::IntDiv => {
                if q.is_zero() {
                    return Ok(None);
                }
                let d = p.checked_div(q).ok_or_else(overflow)?.trunc();
                return Ok(Some(Item::Integer(d.try_into().map_err(|_| overflow())?)));
            }
            B::Mod => {
                if q.is_zero() {
                    return Ok(None);
                }
                p.checked_rem(q)
            }
            _ => None,
        };
        return r.map(|v| Some(Item::Decimal(v))).ok_or_else(overflow);
    }
    if let (Item::String(s), Item::String(t), B::Add) = (&x, &y, op) {
        return Ok(Some(Item::String(format!("{s}{t}").into())));
    }
    // Quantity arithmetic: same-unit add/sub, scaling by a number.
    if let Some((va, ua)) = as_quantity(&x) {
        if let Some((vb, ub)) = as_quantity(&y)
            && matches!(op, B::Add | B::Sub)
        {
            if norm_unit(&ua) != norm_unit(&ub) {
                return Ok(None);
            }
            let v = if op == B::Add {
                va.checked_add(vb)
            } else {
                va.checked_sub(vb)
            };
            let value = v.ok_or_else(overflow)?;
            return Ok(Some(Item::Quantity { value, unit: ua }));
        }
        if let Some(n) = as_decimal(&y) {
            let v = match op {
                B::Mul => va.checked_mul(n),
                B::Div if !n.is_zero() => va.checked_div(n),
                B::Div => return Ok(None),
                _ => None,
            };
            if let Some(value) = v {
                return Ok(Some(Item::Quantity { value, unit: ua }));
            }
        }
    }
    Err(type_err("do arithmetic on", &x, &y))
}

fn decimal_div(p: Decimal, q: Decimal) -> Option<Decimal> {
    if q.is_zero() {
        return None;
    }
    p.checked_div(q).map(|d| d.normalize())
}
