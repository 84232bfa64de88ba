//! Function dispatch (FHIRPath §5 plus FHIR's extension(), resolve(), hasValue()).

use std::borrow::Cow;

use rust_decimal::Decimal;
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use serde_json::Value;

use super::{Collection, Env, eval, push_distinct, same, singleton, strings, to_bool};
use crate::ast::{Expr, TypeSpec};
use crate::error::EvalError;
use crate::item::{Item, Node, parse_decimal};
use crate::model;
use crate::temporal::{Temporal, TemporalKind};

pub(super) fn arity(name: &str, args: &[Expr], min: usize, max: usize) -> Result<(), EvalError> {
    if args.len() < min || args.len() > max {
        let expected = if min == max {
            min.to_string()
        } else {
            format!("{min}..{max}")
        };
        return Err(EvalError::Arity {
            name: name.to_string(),
            expected,
            got: args.len(),
        });
    }
    Ok(())
}

/// Evaluates a plain (non-lambda) argument against the current `$this`.
pub(super) fn arg<'a>(
    args: &[Expr],
    i: usize,
    env: &Env<'a, '_>,
) -> Result<Collection<'a>, EvalError> {
    match args.get(i) {
        Some(a) => eval(a, std::slice::from_ref(&env.this), env),
        None => Ok(Vec::new()),
    }
}

/// Evaluates a lambda argument with `$this` = `item`, `$index` = `idx`.
fn lambda<'a>(
    expr: &Expr,
    item: &Item<'a>,
    idx: usize,
    env: &Env<'a, '_>,
) -> Result<Collection<'a>, EvalError> {
    let child = env.with_item(item.clone(), idx);
    eval(expr, std::slice::from_ref(item), &child)
}

fn boolean<'a>(b: bool) -> Result<Collection<'a>, EvalError> {
    Ok(vec![Item::Boolean(b)])
}

fn opt<'a>(i: Option<Item<'a>>) -> Result<Collection<'a>, EvalError> {
    Ok(i.into_iter().collect())
}

/// The type named by a function argument such as `ofType(Quantity)` or `as(FHIR.Period)`.
fn type_arg(name: &str, args: &[Expr]) -> Result<TypeSpec, EvalError> {
    arity(name, args, 1, 1)?;
    let spec = match &args[0] {
        Expr::Member { target: None, name } => Some(TypeSpec {
            namespace: None,
            name: name.clone(),
        }),
        Expr::Member {
            target: Some(t),
            name,
        } => match t.as_ref() {
            Expr::Member {
                target: None,
                name: ns,
            } => Some(TypeSpec {
                namespace: Some(ns.clone()),
                name: name.clone(),
            }),
            _ => None,
        },
        _ => None,
    };
    spec.ok_or_else(|| EvalError::Type(format!("{name}() needs a type name")))
}

/// String form used by toString() and `&`.
pub(crate) fn string_of(item: &Item<'_>) -> Option<String> {
    let p = item.to_primitive()?;
    Some(match p {
        Item::String(s) => s.into_owned(),
        Item::Integer(i) => i.to_string(),
        Item::Decimal(d) => d.to_string(),
        Item::Boolean(b) => b.to_string(),
        Item::Date(t) | Item::DateTime(t) | Item::Time(t) => t.to_string(),
        Item::Quantity { value, unit } => {
            if model::ucum_code(&unit) != Some(unit.as_str()) {
                format!("{value} {unit}")
            } else {
                format!("{value} '{unit}'")
            }
        }
        Item::Node(_) | Item::ResourceStub { .. } => return None,
    })
}

pub(super) fn call<'a>(
    name: &str,
    focus: Collection<'a>,
    args: &[Expr],
    env: &Env<'a, '_>,
) -> Result<Collection<'a>, EvalError> {
    // Thin dispatcher: each group has its own stack frame, keeping deep
    // lambda nesting (where(where(...))) cheap on the stack in debug builds.
    match name {
        "empty" | "exists" | "all" | "allTrue" | "anyTrue" | "allFalse" | "anyFalse"
        | "subsetOf" | "supersetOf" | "count" | "distinct" | "isDistinct" | "hasValue"
        | "getValue" => existence(name, focus, args, env),
        "where" | "select" | "repeat" | "ofType" | "as" | "is" => filtering(name, focus, args, env),
        "single" | "first" | "last" | "tail" | "skip" | "take" | "intersect" | "exclude"
        | "union" | "combine" => subsetting(name, focus, args, env),
        "iif" | "trace" | "not" | "now" | "today" | "timeOfDay" | "aggregate" => {
            utility(name, focus, args, env)
        }
        "children" | "descendants" => tree(name, focus, args, env),
        "extension" | "resolve" => fhir_specific(name, focus, args, env),
        "toBoolean" | "toInteger" | "toDecimal" | "toString" | "toDate" | "toDateTime"
        | "toTime" | "toQuantity" | "convertsToBoolean" | "convertsToInteger"
        | "convertsToDecimal" | "convertsToString" | "convertsToDate" | "convertsToDateTime"
        | "convertsToTime" | "convertsToQuantity" => conversions(name, focus, args, env),
        "abs" | "ceiling" | "floor" | "truncate" | "round" | "sqrt" | "exp" | "ln" | "log"
        | "power" | "startsWith" | "endsWith" | "contains" | "matches" | "replace"
        | "replaceMatches" | "lower" | "upper" | "length" | "substring" | "indexOf" | "trim"
        | "split" | "join" | "toChars" => math_and_strings(name, focus, args, env),
        _ => Err(EvalError::Unsupported(format!("function {name}"))),
    }
}

#[inline(never)]
fn existence<'a>(
    name: &str,
    focus: Collection<'a>,
    args: &[Expr],
    env: &Env<'a, '_>,
) -> Result<Collection<'a>, EvalError> {
    match name {
        "empty" => {
            arity(name, args, 0, 0)?;
            boolean(focus.is_empty())
        }
        "exists" => {
            arity(name, args, 0, 1)?;
            match args.first() {
                None => boolean(!focus.is_empty()),
                Some(crit) => {
                    for (i, item) in focus.iter().enumerate() {
                        if to_bool(&lambda(crit, item, i, env)?, "exists")? == Some(true) {
                            return boolean(true);
                        }
                    }
                    boolean(false)
                }
            }
        }
        "all" => {
            arity(name, args, 1, 1)?;
            for (i, item) in focus.iter().enumerate() {
                if to_bool(&lambda(&args[0], item, i, env)?, "all")? != Some(true) {
                    return boolean(false);
                }
            }
            boolean(true)
        }
        "allTrue" | "anyTrue" | "allFalse" | "anyFalse" => {
            arity(name, args, 0, 0)?;
            let mut bools = Vec::with_capacity(focus.len());
            for item in &focus {
                bools.push(
                    item.as_bool()
                        .ok_or_else(|| EvalError::Type(format!("{name}() needs Booleans")))?,
                );
            }
            boolean(match name {
                "allTrue" => bools.iter().all(|b| *b),
                "anyTrue" => bools.iter().any(|b| *b),
                "allFalse" => bools.iter().all(|b| !*b),
                _ => bools.iter().any(|b| !*b),
            })
        }
        "subsetOf" | "supersetOf" => {
            arity(name, args, 1, 1)?;
            let other = arg(args, 0, env)?;
            let (small, big) = if name == "subsetOf" {
                (&focus, &other)
            } else {
                (&other, &focus)
            };
            boolean(small.iter().all(|a| big.iter().any(|b| same(a, b))))
        }
        "count" => {
            arity(name, args, 0, 0)?;
            Ok(vec![Item::Integer(
                i64::try_from(focus.len()).unwrap_or(i64::MAX),
            )])
        }
        "distinct" => {
            arity(name, args, 0, 0)?;
            let mut out = Vec::new();
            for item in focus {
                push_distinct(&mut out, item);
            }
            Ok(out)
        }
        "isDistinct" => {
            arity(name, args, 0, 0)?;
            let n = focus.len();
            let mut out = Vec::new();
            for item in focus {
                push_distinct(&mut out, item);
            }
            boolean(out.len() == n)
        }
        "hasValue" => {
            arity(name, args, 0, 0)?;
            boolean(match focus.as_slice() {
                [Item::Node(n)] => !n.value.is_null() && !n.value.is_object(),
                [Item::ResourceStub { .. }] => false,
                [_] => true,
                _ => false,
            })
        }
        "getValue" => {
            arity(name, args, 0, 0)?;
            match focus.as_slice() {
                [item @ Item::Node(n)] if !n.value.is_null() && !n.value.is_object() => {
                    opt(item.to_primitive())
                }
                _ => Ok(Vec::new()),
            }
        }
        _ => Err(EvalError::Unsupported(format!("function {name}"))),
    }
}

#[inline(never)]
fn filtering<'a>(
    name: &str,
    focus: Collection<'a>,
    args: &[Expr],
    env: &Env<'a, '_>,
) -> Result<Collection<'a>, EvalError> {
    match name {
        "where" => {
            arity(name, args, 1, 1)?;
            let mut out = Vec::new();
            for (i, item) in focus.into_iter().enumerate() {
                if to_bool(&lambda(&args[0], &item, i, env)?, "where")? == Some(true) {
                    out.push(item);
                }
            }
            Ok(out)
        }
        "select" => {
            arity(name, args, 1, 1)?;
            let mut out = Vec::new();
            for (i, item) in focus.iter().enumerate() {
                out.extend(lambda(&args[0], item, i, env)?);
            }
            Ok(out)
        }
        "repeat" => {
            arity(name, args, 1, 1)?;
            let mut out: Collection<'a> = Vec::new();
            let mut queue = focus;
            while !queue.is_empty() {
                let mut next = Vec::new();
                for (i, item) in queue.iter().enumerate() {
                    for r in lambda(&args[0], item, i, env)? {
                        if !out.iter().any(|o| same(o, &r)) {
                            out.push(r.clone());
                            next.push(r);
                        }
                    }
                }
                queue = next;
            }
            Ok(out)
        }
        "ofType" => {
            let spec = type_arg(name, args)?;
            Ok(focus
                .into_iter()
                .filter(|i| model::matches_type(i, &spec))
                .collect())
        }
        "as" => {
            let spec = type_arg(name, args)?;
            Ok(focus
                .into_iter()
                .filter(|i| model::matches_type(i, &spec))
                .collect())
        }
        "is" => {
            let spec = type_arg(name, args)?;
            match singleton(&focus, "is()")? {
                None => Ok(Vec::new()),
                Some(i) => boolean(model::matches_type(i, &spec)),
            }
        }
        _ => Err(EvalError::Unsupported(format!("function {name}"))),
    }
}

#[inline(never)]
fn subsetting<'a>(
    name: &str,
    focus: Collection<'a>,
    args: &[Expr],
    env: &Env<'a, '_>,
) -> Result<Collection<'a>, EvalError> {
    match name {
        "single" => {
            arity(name, args, 0, 0)?;
            Ok(singleton(&focus, "single()")?
                .cloned()
                .into_iter()
                .collect())
        }
        "first" => {
            arity(name, args, 0, 0)?;
            Ok(focus.into_iter().take(1).collect())
        }
        "last" => {
            arity(name, args, 0, 0)?;
            Ok(focus.into_iter().last().into_iter().collect())
        }
        "tail" => {
            arity(name, args, 0, 0)?;
            Ok(focus.into_iter().skip(1).collect())
        }
        "skip" | "take" => {
            arity(name, args, 1, 1)?;
            let n = int_arg(name, args, env)?;
            let n = usize::try_from(n.max(0)).unwrap_or(usize::MAX);
            Ok(if name == "skip" {
                focus.into_iter().skip(n).collect()
            } else {
                focus.into_iter().take(n).collect()
            })
        }
        "intersect" => {
            arity(name, args, 1, 1)?;
            let other = arg(args, 0, env)?;
            let mut out = Vec::new();
            for item in focus {
                if other.iter().any(|o| same(o, &item)) {
                    push_distinct(&mut out, item);
                }
            }
            Ok(out)
        }
        "exclude" => {
            arity(name, args, 1, 1)?;
            let other = arg(args, 0, env)?;
            Ok(focus
                .into_iter()
                .filter(|i| !other.iter().any(|o| same(o, i)))
                .collect())
        }
        "union" => {
            arity(name, args, 1, 1)?;
            let mut out = Vec::new();
            for item in focus.into_iter().chain(arg(args, 0, env)?) {
                push_distinct(&mut out, item);
            }
            Ok(out)
        }
        "combine" => {
            arity(name, args, 1, 1)?;
            let mut out = focus;
            out.extend(arg(args, 0, env)?);
            Ok(out)
        }
        _ => Err(EvalError::Unsupported(format!("function {name}"))),
    }
}

#[inline(never)]
fn utility<'a>(
    name: &str,
    focus: Collection<'a>,
    args: &[Expr],
    env: &Env<'a, '_>,
) -> Result<Collection<'a>, EvalError> {
    match name {
        "iif" => {
            arity(name, args, 2, 3)?;
            if focus.len() > 1 {
                return Err(EvalError::NotSingleton("iif()".into(), focus.len()));
            }
            // The criterion sees the (single) input as $this.
            let this = focus.first().cloned().unwrap_or_else(|| env.this.clone());
            let child = env.with_item(this.clone(), 0);
            let c = eval(&args[0], std::slice::from_ref(&this), &child)?;
            if to_bool(&c, "iif")? == Some(true) {
                eval(&args[1], std::slice::from_ref(&this), &child)
            } else if let Some(e) = args.get(2) {
                eval(e, std::slice::from_ref(&this), &child)
            } else {
                Ok(Vec::new())
            }
        }
        "trace" => {
            arity(name, args, 1, 2)?;
            Ok(focus)
        }
        "not" => {
            arity(name, args, 0, 0)?;
            Ok(to_bool(&focus, "not()")?
                .map(|b| Item::Boolean(!b))
                .into_iter()
                .collect())
        }
        "now" => {
            arity(name, args, 0, 0)?;
            Ok(vec![Item::temporal(Temporal::now())])
        }
        "today" => {
            arity(name, args, 0, 0)?;
            Ok(vec![Item::temporal(Temporal::now().date_part())])
        }
        "timeOfDay" => {
            arity(name, args, 0, 0)?;
            Ok(vec![Item::temporal(Temporal::now().time_part())])
        }
        "aggregate" => {
            arity(name, args, 1, 2)?;
            let mut total = arg(args, 1, env)?;
            for (i, item) in focus.iter().enumerate() {
                let child = Env {
                    ctx: env.ctx,
                    input: env.input,
                    this: item.clone(),
                    index: Some(i),
                    total: Some(&total),
                };
                total = eval(&args[0], std::slice::from_ref(item), &child)?;
            }
            Ok(total)
        }
        _ => Err(EvalError::Unsupported(format!("function {name}"))),
    }
}

#[inline(never)]
fn tree<'a>(
    name: &str,
    focus: Collection<'a>,
    args: &[Expr],
    env: &Env<'a, '_>,
) -> Result<Collection<'a>, EvalError> {
    match name {
        "children" => {
            arity(name, args, 0, 0)?;
            let mut out = Vec::new();
            for item in &focus {
                all_children(item, env, &mut out);
            }
            Ok(out)
        }
        "descendants" => {
            arity(name, args, 0, 0)?;
            let mut out = Vec::new();
            let mut queue = focus;
            while !queue.is_empty() {
                let mut next = Vec::new();
                for item in &queue {
                    all_children(item, env, &mut next);
                }
                out.extend(next.iter().cloned());
                queue = next;
            }
            Ok(out)
        }
        _ => Err(EvalError::Unsupported(format!("function {name}"))),
    }
}

#[inline(never)]
fn fhir_specific<'a>(
    name: &str,
    focus: Collection<'a>,
    args: &[Expr],
    env: &Env<'a, '_>,
) -> Result<Collection<'a>, EvalError> {
    match name {
        "extension" => {
            arity(name, args, 1, 1)?;
            let url = arg(args, 0, env)?;
            let url = singleton(&url, "extension(url)")?
                .and_then(|u| u.as_str().map(str::to_string))
                .ok_or_else(|| EvalError::Type("extension() needs a url string".into()))?;
            let mut exts = Vec::new();
            for item in &focus {
                model::children(item, "extension", env.ctx.types, &mut exts);
            }
            Ok(exts
                .into_iter()
                .filter(|e| {
                    e.as_node()
                        .and_then(|n| n.value.get("url"))
                        .and_then(Value::as_str)
                        == Some(url.as_str())
                })
                .collect())
        }
        "resolve" => {
            arity(name, args, 0, 0)?;
            let mut out = Vec::new();
            for item in &focus {
                if let Some(r) = resolve(item, env) {
                    out.push(r);
                }
            }
            Ok(out)
        }
        _ => Err(EvalError::Unsupported(format!("function {name}"))),
    }
}

#[inline(never)]
fn conversions<'a>(
    name: &str,
    focus: Collection<'a>,
    args: &[Expr],
    env: &Env<'a, '_>,
) -> Result<Collection<'a>, EvalError> {
    match name {
        "toBoolean" | "toInteger" | "toDecimal" | "toString" | "toDate" | "toDateTime"
        | "toTime" | "toQuantity" => {
            arity(name, args, 0, usize::from(name == "toQuantity"))?;
            let Some(item) = singleton(&focus, name)? else {
                return Ok(Vec::new());
            };
            let unit = if args.is_empty() {
                None
            } else {
                Some(str_arg(name, args, env)?)
            };
            opt(convert(name, item, unit.as_deref()))
        }
        "convertsToBoolean" | "convertsToInteger" | "convertsToDecimal" | "convertsToString"
        | "convertsToDate" | "convertsToDateTime" | "convertsToTime" | "convertsToQuantity" => {
            arity(name, args, 0, usize::from(name == "convertsToQuantity"))?;
            let Some(item) = singleton(&focus, name)? else {
                return Ok(Vec::new());
            };
            let unit = if args.is_empty() {
                None
            } else {
                Some(str_arg(name, args, env)?)
            };
            let target = name.replacen("convertsTo", "to", 1);
            boolean(convert(&target, item, unit.as_deref()).is_some())
        }
        _ => Err(EvalError::Unsupported(format!("function {name}"))),
    }
}

#[inline(never)]
fn math_and_strings<'a>(
    name: &str,
    focus: Collection<'a>,
    args: &[Expr],
    env: &Env<'a, '_>,
) -> Result<Collection<'a>, EvalError> {
    match name {
        "abs" | "ceiling" | "floor" | "truncate" | "round" | "sqrt" | "exp" | "ln" | "log"
        | "power" => math(name, &focus, args, env),
        "startsWith" | "endsWith" | "contains" | "matches" | "replace" | "replaceMatches"
        | "lower" | "upper" | "length" | "substring" | "indexOf" | "trim" | "split" | "join"
        | "toChars" => strings::call(name, &focus, args, env),
        _ => Err(EvalError::Unsupported(format!("function {name}"))),
    }
}

pub(super) fn int_arg(name: &str, args: &[Expr], env: &Env<'_, '_>) -> Result<i64, EvalError> {
    let v = arg(args, 0, env)?;
    match singleton(&v, name)?.and_then(Item::to_primitive) {
        Some(Item::Integer(i)) => Ok(i),
        _ => Err(EvalError::Type(format!(
            "{name}() needs an integer argument"
        ))),
    }
}

pub(super) fn str_arg(name: &str, args: &[Expr], env: &Env<'_, '_>) -> Result<String, EvalError> {
    let v = arg(args, 0, env)?;
    singleton(&v, name)?
        .and_then(|i| i.as_str().map(str::to_string))
        .ok_or_else(|| EvalError::Type(format!("{name}() needs a string argument")))
}

/// Every child element of a node (for children()/descendants()).
fn all_children<'a>(item: &Item<'a>, env: &Env<'a, '_>, out: &mut Collection<'a>) {
    let Item::Node(node) = item else { return };
    let mut keys: Vec<&str> = Vec::new();
    for m in [node.value, node.extension.unwrap_or(&Value::Null)] {
        if let Value::Object(map) = m {
            for k in map.keys() {
                let base = k.strip_prefix('_').unwrap_or(k);
                if base != "resourceType" && !keys.contains(&base) {
                    keys.push(base);
                }
            }
        }
    }
    for k in keys {
        model::children(item, k, env.ctx.types, out);
    }
}

/// resolve(): contained (`#id`), Bundle entries by fullUrl or Type/id, else a stub
/// carrying the type parsed from the reference (so `resolve() is Patient` works).
fn resolve<'a>(item: &Item<'a>, env: &Env<'a, '_>) -> Option<Item<'a>> {
    let (reference, declared_type) = match item {
        Item::Node(Node { value, .. }) if value.is_object() => (
            value.get("reference").and_then(Value::as_str),
            value.get("type").and_then(Value::as_str),
        ),
        other => (other.as_str(), None),
    };
    let reference = reference?;
    if let Some(id) = reference.strip_prefix('#') {
        for host in [env.ctx.resource, env.input] {
            if id.is_empty() {
                return Some(Item::node(host));
            }
            let found = host
                .get("contained")
                .and_then(Value::as_array)
                .and_then(|c| {
                    c.iter()
                        .find(|r| r.get("id").and_then(Value::as_str) == Some(id))
                });
            if let Some(r) = found {
                return Some(Item::node(r));
            }
        }
        return None;
    }
    let plain = reference.split("/_history/").next().unwrap_or(reference);
    let segs: Vec<&str> = plain.rsplit('/').take(2).collect();
    let (id, rtype) = match segs.as_slice() {
        [id, t] if t.starts_with(|c: char| c.is_ascii_uppercase()) => (Some(*id), Some(*t)),
        _ => (None, None),
    };
    for bundle in [env.ctx.root_resource, Some(env.ctx.resource)]
        .into_iter()
        .flatten()
    {
        if bundle.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
            continue;
        }
        let entries = bundle.get("entry").and_then(Value::as_array);
        for e in entries.into_iter().flatten() {
            let Some(res) = e.get("resource") else {
                continue;
            };
            let full = e.get("fullUrl").and_then(Value::as_str);
            let by_full = full == Some(reference);
            let by_id = match (rtype, id) {
                (Some(t), Some(i)) => {
                    res.get("resourceType").and_then(Value::as_str) == Some(t)
                        && res.get("id").and_then(Value::as_str) == Some(i)
                        && full.is_none_or(|f| f.ends_with(plain) || !reference.contains("://"))
                }
                _ => false,
            };
            if by_full || by_id {
                return Some(Item::node(res));
            }
        }
    }
    let resource_type = rtype.or(declared_type)?;
    Some(Item::ResourceStub {
        resource_type: resource_type.to_string(),
        id: id.map(str::to_string),
    })
}

fn convert<'a>(name: &str, item: &Item<'a>, unit: Option<&str>) -> Option<Item<'a>> {
    if name == "toQuantity" {
        return to_quantity(item, unit);
    }
    let p = item.to_primitive()?;
    match name {
        "toString" => string_of(&p).map(|s| Item::String(Cow::Owned(s))),
        "toBoolean" => match &p {
            Item::Boolean(b) => Some(Item::Boolean(*b)),
            Item::Integer(1) => Some(Item::Boolean(true)),
            Item::Integer(0) => Some(Item::Boolean(false)),
            Item::Decimal(d) if *d == Decimal::ONE => Some(Item::Boolean(true)),
            Item::Decimal(d) if d.is_zero() => Some(Item::Boolean(false)),
            Item::String(s) => match s.to_lowercase().as_str() {
                "true" | "t" | "yes" | "y" | "1" | "1.0" => Some(Item::Boolean(true)),
                "false" | "f" | "no" | "n" | "0" | "0.0" => Some(Item::Boolean(false)),
                _ => None,
            },
            _ => None,
        },
        "toInteger" => match &p {
            Item::Integer(i) => Some(Item::Integer(*i)),
            Item::Boolean(b) => Some(Item::Integer(i64::from(*b))),
            Item::String(s) if is_integer_text(s) => s.parse().ok().map(Item::Integer),
            _ => None,
        },
        "toDecimal" => match &p {
            Item::Integer(i) => Some(Item::Decimal(Decimal::from(*i))),
            Item::Decimal(d) => Some(Item::Decimal(*d)),
            Item::Boolean(b) => Some(Item::Decimal(Decimal::from(u8::from(*b)))),
            Item::String(s) if is_decimal_text(s) => parse_decimal(s).map(Item::Decimal),
            _ => None,
        },
        "toDate" => match &p {
            Item::Date(t) | Item::DateTime(t) => Some(Item::temporal(t.date_part())),
            Item::String(s) => Temporal::parse_date(s)
                .or_else(|| Temporal::parse_datetime(s).map(|t| t.date_part()))
                .map(Item::temporal),
            _ => None,
        },
        "toDateTime" => match &p {
            Item::Date(t) | Item::DateTime(t) => {
                Some(Item::temporal(t.with_kind(TemporalKind::DateTime)))
            }
            Item::String(s) => Temporal::parse_datetime(s).map(Item::temporal),
            _ => None,
        },
        "toTime" => match &p {
            Item::Time(t) => Some(Item::temporal(t.clone())),
            Item::String(s) => {
                Temporal::parse_time(s.strip_prefix('T').unwrap_or(s)).map(Item::temporal)
            }
            _ => None,
        },
        _ => None,
    }
}

fn is_integer_text(s: &str) -> bool {
    let d = s.strip_prefix(['+', '-']).unwrap_or(s);
    !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())
}

fn is_decimal_text(s: &str) -> bool {
    let d = s.strip_prefix(['+', '-']).unwrap_or(s);
    match d.split_once('.') {
        Some((a, b)) => is_integer_text(a) && is_integer_text(b) && !b.starts_with(['+', '-']),
        None => is_integer_text(d),
    }
}

fn to_quantity<'a>(item: &Item<'a>, unit: Option<&str>) -> Option<Item<'a>> {
    let q = match item.to_primitive() {
        Some(Item::Quantity { value, unit }) => Some((value, unit)),
        Some(Item::Integer(i)) => Some((Decimal::from(i), "1".to_string())),
        Some(Item::Decimal(d)) => Some((d, "1".to_string())),
        Some(Item::String(s)) => parse_quantity_text(&s),
        Some(_) => None,
        None => super::ops::as_quantity(item),
    }?;
    match unit {
        Some(u) if u != q.1 => None,
        _ => Some(Item::Quantity {
            value: q.0,
            unit: q.1,
        }),
    }
}

/// Parses `5`, `5 'mg'` or `4 days`.
fn parse_quantity_text(s: &str) -> Option<(Decimal, String)> {
    let s = s.trim();
    let (num, rest) = match s.find(' ') {
        Some(i) => (&s[..i], s[i..].trim()),
        None => (s, ""),
    };
    if !is_decimal_text(num) {
        return None;
    }
    let value = parse_decimal(num)?;
    let unit = if rest.is_empty() {
        "1".to_string()
    } else if let Some(u) = rest.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
        u.to_string()
    } else if model::ucum_code(rest) != Some(rest) {
        rest.to_string()
    } else {
        return None;
    };
    Some((value, unit))
}

fn math<'a>(
    name: &str,
    focus: &[Item<'a>],
    args: &[Expr],
    env: &Env<'a, '_>,
) -> Result<Collection<'a>, EvalError> {
    let max_args = usize::from(matches!(name, "round" | "log" | "power"));
    arity(
        name,
        args,
        usize::from(matches!(name, "log" | "power")),
        max_args,
    )?;
    let Some(item) = singleton(focus, name)? else {
        return Ok(Vec::new());
    };
    let p = item.to_primitive().or_else(|| {
        super::ops::as_quantity(item).map(|(value, unit)| Item::Quantity { value, unit })
    });
    let bad = || EvalError::Type(format!("{name}() needs a number"));
    let d = match &p {
        Some(Item::Integer(i)) => Decimal::from(*i),
        Some(Item::Decimal(d)) => *d,
        Some(Item::Quantity { value, unit }) if name == "abs" => {
            return Ok(vec![Item::Quantity {
                value: value.abs(),
                unit: unit.clone(),
            }]);
        }
        _ => return Err(bad()),
    };
    let is_int = matches!(p, Some(Item::Integer(_)));
    let to_int = |v: Decimal| -> Result<Collection<'a>, EvalError> {
        v.to_i64()
            .map(|i| vec![Item::Integer(i)])
            .ok_or_else(|| EvalError::Arithmetic("overflow".into()))
    };
    let from_f64 = |f: f64| -> Result<Collection<'a>, EvalError> {
        // NaN/inf (e.g. sqrt(-1)) give an empty result, per spec.
        Ok(Decimal::from_f64(f)
            .map(Item::Decimal)
            .into_iter()
            .collect())
    };
    let f = d.to_f64().unwrap_or(f64::NAN);
    match name {
        "abs" if is_int => to_int(d.abs()),
        "abs" => Ok(vec![Item::Decimal(d.abs())]),
        "ceiling" => to_int(d.ceil()),
        "floor" => to_int(d.floor()),
        "truncate" => to_int(d.trunc()),
        "round" => {
            let prec = if args.is_empty() {
                0
            } else {
                int_arg(name, args, env)?
            };
            let prec = u32::try_from(prec)
                .map_err(|_| EvalError::Type("round() precision must be >= 0".into()))?;
            Ok(vec![Item::Decimal(d.round_dp_with_strategy(
                prec,
                rust_decimal::RoundingStrategy::MidpointAwayFromZero,
            ))])
        }
        "sqrt" => from_f64(f.sqrt()),
        "exp" => from_f64(f.exp()),
        "ln" => from_f64(f.ln()),
        "log" | "power" => {
            let v = arg(args, 0, env)?;
            let other = match singleton(&v, name)?.and_then(Item::to_primitive) {
                Some(Item::Integer(i)) => i as f64,
                Some(Item::Decimal(x)) => x.to_f64().unwrap_or(f64::NAN),
                None => return Ok(Vec::new()),
                _ => return Err(bad()),
            };
            if name == "log" {
                from_f64(f.ln() / other.ln())
            } else {
                let r = f.powf(other);
                if is_int && other.fract() == 0.0 && other >= 0.0 && r.abs() < 9.0e15 {
                    Ok(vec![Item::Integer(r as i64)])
                } else {
                    from_f64(r)
                }
            }
        }
        _ => Err(EvalError::Unsupported(format!("function {name}"))),
    }
}
