//! Parses search parameters (R4 search.html) into a `SearchQuery`. Every value goes through the
//! shared tokenizer, so escaping (`\,` `\|` `\$` `\\`) means the same for every parameter type.

use crate::error::Error;
use crate::fhir::time::{Zone, parse_fhir_range};

use super::custom::Custom;
use super::query::{Filter, Include, Pred, Prefix, SearchQuery, SortKey, SortKind, Summary, Total};
use super::registry::{Kind, Registry, SearchParam};
use super::tokenize::{forbidden_control, split_token, split_unescaped, unescape};

pub const DEFAULT_COUNT: i64 = 20;
pub const MAX_COUNT: i64 = 1000;
/// Values in one OR list; more is refused rather than run slowly.
pub const MAX_OR_VALUES: usize = 1000;
const MAX_CHAIN_DEPTH: usize = 4;
/// Criteria (parameters other than result controls) in one search; each is a subquery.
pub const MAX_CRITERIA: usize = 100;
/// Distinct `_include`/`_revinclude` values in one search; each is a query per page.
pub const MAX_INCLUDES: usize = 32;

/// Result-control parameters and the other names we handle outside the index.
const CONTROL: &[&str] = &[
    "_count",
    "_sort",
    "_include",
    "_revinclude",
    "_total",
    "_summary",
    "_elements",
    "_format",
    "_pretty",
    "_cursor",
    "_type",
];

pub struct Parsed {
    pub query: SearchQuery,
    /// Custom parameters used whose reindex is not complete: (code, done, total).
    pub incomplete: Vec<(String, i64, i64)>,
    /// The parameters applied, in request order (the self link shows exactly these).
    pub applied: Vec<(String, String)>,
    /// Parameters ignored in lenient mode, for a warning.
    pub ignored: Vec<String>,
}

/// `_count`: a non-negative integer, capped at `max` (search, history and $everything alike).
pub fn parse_count(value: &str, max: i64) -> Result<i64, Error> {
    value
        .parse::<i64>()
        .ok()
        .filter(|c| *c >= 0)
        .map(|c| c.min(max))
        .ok_or_else(|| {
            bad(
                "_count",
                format!("_count must be a non-negative integer, got {value:?}"),
            )
        })
}

fn bad(param: &str, msg: impl Into<String>) -> Error {
    Error::invalid(Some(param), msg)
}

/// Refuses a control character in a parameter's name or value (see `forbidden_control`). Every
/// search, conditional criteria and batch entry passes here before anything reaches the database.
pub fn check_controls(name: &str, value: &str) -> Result<(), Error> {
    let shown = name.escape_debug().to_string();
    if let Some(c) = forbidden_control(name) {
        return Err(bad(
            &shown,
            format!("search parameter name {shown:?} contains the control character {c:?}"),
        ));
    }
    if let Some(c) = forbidden_control(value) {
        return Err(bad(
            &shown,
            format!("the value of search parameter {shown:?} contains the control character {c:?}"),
        ));
    }
    Ok(())
}

/// Parses `pairs` for a search over `types`. `base` is our own FHIR base, so absolute references
/// to this server match local ids.
pub fn parse(
    types: &[String],
    pairs: &[(String, String)],
    base: &str,
    strict: bool,
    custom: &[Custom],
    zone: &Zone,
) -> Result<Parsed, Error> {
    let ctx = Ctx { custom, base, zone };
    let mut q = SearchQuery {
        types: types.to_vec(),
        count: DEFAULT_COUNT,
        ..SearchQuery::default()
    };
    let mut applied = Vec::new();
    let mut ignored = Vec::new();
    for (name, value) in pairs {
        check_controls(name, value)?;
        let name = name.as_str();
        match name {
            "_count" => {
                q.count = parse_count(value, MAX_COUNT)?;
                applied.push((name.to_string(), q.count.to_string()));
            }
            "_total" => {
                q.total = match value.as_str() {
                    "none" => Total::None,
                    "estimate" => Total::Estimate,
                    "accurate" => Total::Accurate,
                    other => {
                        return Err(bad(
                            "_total",
                            format!("_total must be none, estimate or accurate, got {other:?}"),
                        ));
                    }
                };
                applied.push((name.to_string(), value.clone()));
            }
            "_summary" => {
                q.summary = match value.as_str() {
                    "true" => Summary::True,
                    "false" => Summary::False,
                    "text" => Summary::Text,
                    "data" => Summary::Data,
                    "count" => Summary::Count,
                    other => {
                        return Err(bad(
                            "_summary",
                            format!(
                                "_summary must be true, false, text, data or count, got {other:?}"
                            ),
                        ));
                    }
                };
                applied.push((name.to_string(), value.clone()));
            }
            "_elements" => {
                let els: Vec<String> = value
                    .split(',')
                    .map(|e| e.trim().to_string())
                    .filter(|e| !e.is_empty())
                    .collect();
                q.elements = Some(els);
                applied.push((name.to_string(), value.clone()));
            }
            "_sort" => {
                q.sort = parse_sort(&ctx, types, value)?;
                applied.push((name.to_string(), value.clone()));
            }
            n if n == "_include"
                || n.starts_with("_include:")
                || n == "_revinclude"
                || n.starts_with("_revinclude:") =>
            {
                let rev = n.starts_with("_revinclude");
                let iterate = match n.split_once(':').map(|(_, m)| m) {
                    None => false,
                    Some("iterate") | Some("recurse") => true,
                    Some(m) => return Err(bad(n, format!("unknown modifier :{m} on {n}"))),
                };
                let inc = parse_include(n, value, iterate)?;
                let list = if rev {
                    &mut q.revincludes
                } else {
                    &mut q.includes
                };
                // A repeat adds nothing but work (each is a query per page): kept once.
                if !list.contains(&inc) {
                    list.push(inc);
                }
                if q.includes.len() + q.revincludes.len() > MAX_INCLUDES {
                    return Err(bad(
                        n,
                        format!(
                            "at most {MAX_INCLUDES} distinct _include/_revinclude values per search"
                        ),
                    ));
                }
                applied.push((name.to_string(), value.clone()));
            }
            n if CONTROL.contains(&n) => {}
            // R4 search.html: a parameter without a value is ignored.
            _ if value.is_empty() => {}
            _ => match parse_filter(&ctx, types, name, value, 0)? {
                Some(_) if q.filters.len() >= MAX_CRITERIA => {
                    return Err(bad(
                        name,
                        format!("at most {MAX_CRITERIA} search criteria per search"),
                    ));
                }
                Some(f) => {
                    q.filters.push(f);
                    applied.push((name.to_string(), value.clone()));
                }
                None if strict => {
                    return Err(bad(
                        name,
                        format!(
                            "unknown or unsupported search parameter {name:?} (Prefer: handling=strict)"
                        ),
                    ));
                }
                None => ignored.push(name.to_string()),
            },
        }
    }
    let incomplete = custom
        .iter()
        .filter(|c| {
            !c.is_complete()
                && q.filters.iter().any(|f| uses(f, &c.param.code))
                && types.iter().any(|t| c.applies_to(t))
        })
        .map(|c| (c.param.code.clone(), c.done, c.total))
        .collect();
    Ok(Parsed {
        query: q,
        applied,
        ignored,
        incomplete,
    })
}

/// What parsing needs besides the request: custom parameters and our own base URL.
pub struct Ctx<'a> {
    pub custom: &'a [Custom],
    pub base: &'a str,
    /// Where search dates without an offset are read (the zone the index was built in).
    pub zone: &'a Zone,
}

/// Whether a filter reads index rows of `code` (directly or through a chain or _has).
fn uses(f: &Filter, code: &str) -> bool {
    match f {
        Filter::Index { param, .. }
        | Filter::Missing { param, .. }
        | Filter::Composite { param, .. } => param == code,
        Filter::Chain { param, inner, .. } => param == code || uses(inner, code),
        Filter::Has {
            ref_param, inner, ..
        } => ref_param == code || uses(inner, code),
        _ => false,
    }
}

/// The parameter definition shared by every searched type (a multi-type search only accepts
/// parameters that mean the same on each type).
fn lookup<'a>(ctx: &Ctx<'a>, types: &[String], code: &str) -> Option<&'a SearchParam> {
    let reg = Registry::r4();
    let mut found: Option<&'a SearchParam> = None;
    for t in types {
        let custom = ctx
            .custom
            .iter()
            .find(|c| c.param.code == code && c.applies_to(t))
            .map(|c| c.param.as_ref());
        let p = custom.or_else(|| reg.get(t, code).map(|p| p.as_ref()))?;
        match found {
            Some(f) if f.kind != p.kind => return None,
            _ => found = Some(p),
        }
    }
    found
}

/// One `name=value` criterion; Ok(None) when the parameter is unknown (caller decides lenient/strict).
pub fn parse_filter(
    ctx: &Ctx<'_>,
    types: &[String],
    name: &str,
    value: &str,
    depth: usize,
) -> Result<Option<Filter>, Error> {
    let base = ctx.base;
    if depth > MAX_CHAIN_DEPTH {
        return Err(bad(
            name,
            format!("chains and _has may nest at most {MAX_CHAIN_DEPTH} levels"),
        ));
    }
    if name == "_has" || name.starts_with("_has.") {
        return Err(bad(name, "_has takes _has:Type:reference:parameter=value"));
    }
    if let Some(rest) = name.strip_prefix("_has:") {
        return parse_has(ctx, types, name, rest, value, depth).map(Some);
    }
    if let Some((head, rest)) = name.split_once('.') {
        return parse_chain(ctx, types, name, head, rest, value, depth).map(Some);
    }
    let (code, modifier) = match name.split_once(':') {
        Some((c, m)) => (c, Some(m)),
        None => (name, None),
    };
    let values: Vec<&str> = split_unescaped(value, ',');
    if values.len() > MAX_OR_VALUES {
        return Err(bad(
            name,
            format!("at most {MAX_OR_VALUES} values may be OR-ed in one parameter"),
        ));
    }
    if code == "_id" {
        if modifier.is_some() {
            return Err(bad(name, "_id takes no modifier"));
        }
        return Ok(Some(Filter::Id(values.into_iter().map(unescape).collect())));
    }
    if code == "_lastUpdated" {
        if modifier.is_some() {
            return Err(bad(name, "_lastUpdated takes no modifier"));
        }
        let preds = values
            .iter()
            .map(|v| date_pred(name, v, ctx.zone))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(Some(Filter::LastUpdated(preds)));
    }
    let Some(sp) = lookup(ctx, types, code) else {
        return Ok(None);
    };
    if modifier == Some("missing") {
        let missing = match value {
            "true" => true,
            "false" => false,
            other => {
                return Err(bad(
                    name,
                    format!(":missing takes true or false, got {other:?}"),
                ));
            }
        };
        return Ok(Some(Filter::Missing {
            param: code.to_string(),
            missing,
        }));
    }
    if sp.kind == Kind::Composite {
        if let Some(m) = modifier {
            return Err(bad(
                name,
                format!("unknown modifier :{m} for a composite parameter"),
            ));
        }
        let mut any = Vec::new();
        for v in &values {
            let parts = split_unescaped(v, '$');
            if parts.len() != sp.components.len() {
                return Err(bad(
                    name,
                    format!(
                        "{code} needs {} components separated by $",
                        sp.components.len()
                    ),
                ));
            }
            let preds = parts
                .iter()
                .zip(&sp.components)
                .map(|(part, c)| value_pred(name, c.kind, None, part, base, ctx.zone))
                .collect::<Result<Vec<_>, _>>()?;
            any.push(preds);
        }
        return Ok(Some(Filter::Composite {
            param: code.to_string(),
            any,
        }));
    }
    let negate = modifier == Some("not");
    if negate && sp.kind != Kind::Token {
        return Err(bad(name, ":not is supported on token parameters"));
    }
    if modifier == Some("identifier") {
        if sp.kind != Kind::Reference {
            return Err(bad(
                name,
                ":identifier is supported on reference parameters",
            ));
        }
        let any = values.iter().map(|v| token_pred(v)).collect();
        return Ok(Some(Filter::Index {
            param: format!("{code}:identifier"),
            any,
            negate: false,
        }));
    }
    if modifier == Some("of-type") {
        if sp.kind != Kind::Token {
            return Err(bad(
                name,
                ":of-type is supported on token (Identifier) parameters",
            ));
        }
        let any = values
            .iter()
            .map(|v| {
                let parts: Vec<String> =
                    split_unescaped(v, '|').into_iter().map(unescape).collect();
                match parts.as_slice() {
                    [system, code, value] if !code.is_empty() && !value.is_empty() => {
                        Ok(Pred::OfType {
                            system: if system.is_empty() {
                                None
                            } else {
                                Some(system.clone())
                            },
                            code: code.clone(),
                            value: value.clone(),
                        })
                    }
                    _ => Err(bad(name, ":of-type takes system|code|value")),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(Some(Filter::Index {
            param: format!("{code}:of-type"),
            any,
            negate: false,
        }));
    }
    let modifier = if negate { None } else { modifier };
    let any = values
        .iter()
        .map(|v| value_pred(name, sp.kind, modifier, v, base, ctx.zone))
        .collect::<Result<Vec<_>, _>>()?;
    if any.is_empty() {
        return Err(bad(name, "a search parameter needs a value"));
    }
    Ok(Some(Filter::Index {
        param: code.to_string(),
        any,
        negate,
    }))
}

fn parse_chain(
    ctx: &Ctx<'_>,
    types: &[String],
    name: &str,
    head: &str,
    rest: &str,
    value: &str,
    depth: usize,
) -> Result<Filter, Error> {
    let (code, target_type) = match head.split_once(':') {
        Some((c, t)) => (c, Some(t.to_string())),
        None => (head, None),
    };
    let sp = lookup(ctx, types, code).ok_or_else(|| {
        bad(
            name,
            format!("unknown reference parameter {code:?} in chain"),
        )
    })?;
    if sp.kind != Kind::Reference {
        return Err(bad(
            name,
            format!("{code} is not a reference parameter, so it cannot be chained"),
        ));
    }
    let targets: Vec<String> = match &target_type {
        Some(t) if sp.targets.contains(t) => vec![t.clone()],
        Some(t) => return Err(bad(name, format!("{code} cannot refer to {t}"))),
        None => sp.targets.clone(),
    };
    // The chained parameter must exist on the target type(s) it can mean.
    let usable: Vec<String> = targets
        .into_iter()
        .filter(|t| {
            let param = rest.split([':', '.']).next().unwrap_or(rest);
            param == "_id"
                || param == "_lastUpdated"
                || param.starts_with("_has")
                || lookup(ctx, std::slice::from_ref(t), param).is_some()
        })
        .collect();
    if usable.is_empty() {
        return Err(bad(
            name,
            format!("no target type of {code} has a search parameter {rest:?}"),
        ));
    }
    let inner = usable
        .iter()
        .find_map(|t| {
            parse_filter(ctx, std::slice::from_ref(t), rest, value, depth + 1).transpose()
        })
        .ok_or_else(|| bad(name, format!("unknown chained parameter {rest:?}")))??;
    Ok(Filter::Chain {
        param: code.to_string(),
        target_type: target_type.or_else(|| (usable.len() == 1).then(|| usable[0].clone())),
        inner: Box::new(inner),
    })
}

fn parse_has(
    ctx: &Ctx<'_>,
    types: &[String],
    name: &str,
    rest: &str,
    value: &str,
    depth: usize,
) -> Result<Filter, Error> {
    let mut parts = rest.splitn(3, ':');
    let (Some(source), Some(ref_param), Some(param)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(bad(name, "_has takes _has:Type:reference:parameter=value"));
    };
    if !hms_fhir::model::Model::r4().is_resource_type(source) {
        return Err(bad(
            name,
            format!("unknown resource type {source:?} in _has"),
        ));
    }
    let rp = Registry::r4()
        .get(source, ref_param)
        .filter(|p| p.kind == Kind::Reference)
        .ok_or_else(|| {
            bad(
                name,
                format!("{source} has no reference parameter {ref_param:?}"),
            )
        })?;
    if !types.iter().all(|t| rp.targets.contains(t)) {
        return Err(bad(
            name,
            format!("{source}.{ref_param} cannot refer to {}", types.join(",")),
        ));
    }
    let src = vec![source.to_string()];
    let inner = parse_filter(ctx, &src, param, value, depth + 1)?
        .ok_or_else(|| bad(name, format!("{source} has no search parameter {param:?}")))?;
    Ok(Filter::Has {
        source_type: source.to_string(),
        ref_param: ref_param.to_string(),
        inner: Box::new(inner),
    })
}

fn token_pred(v: &str) -> Pred {
    let (system, code) = split_token(v);
    let code = unescape(code);
    Pred::Token {
        system: system.map(|s| {
            if s.is_empty() {
                None
            } else {
                Some(unescape(s))
            }
        }),
        code: if code.is_empty() { None } else { Some(code) },
    }
}

fn date_pred(name: &str, v: &str, zone: &Zone) -> Result<Pred, Error> {
    let (prefix, rest) = Prefix::split(v);
    let (lo, hi) = parse_fhir_range(&unescape(rest), zone).ok_or_else(|| {
        bad(
            name,
            format!("{v:?} is not a valid date, dateTime or instant"),
        )
    })?;
    Ok(Pred::Date { prefix, lo, hi })
}

/// A number with the range its precision implies: 100 → [99.5, 100.5), 1.50 → [1.495, 1.505).
fn number_range(name: &str, text: &str) -> Result<(f64, f64, f64), Error> {
    let valid = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'))
        && text.chars().any(|c| c.is_ascii_digit());
    let value: f64 = text
        .parse()
        .ok()
        .filter(|v: &f64| valid && v.is_finite())
        .ok_or_else(|| bad(name, format!("{text:?} is not a number")))?;
    let (mantissa, exp) = match text.split_once(['e', 'E']) {
        Some((m, e)) => (
            m,
            e.parse::<i32>()
                .map_err(|_| bad(name, format!("{text:?} is not a number")))?,
        ),
        None => (text, 0),
    };
    let decimals = mantissa
        .split_once('.')
        .map(|(_, f)| f.len() as i32)
        .unwrap_or(0);
    let half = 0.5 * 10f64.powi(exp - decimals);
    Ok((value, value - half, value + half))
}

fn value_pred(
    name: &str,
    kind: Kind,
    modifier: Option<&str>,
    v: &str,
    base: &str,
    zone: &Zone,
) -> Result<Pred, Error> {
    let unknown = |m: &str| {
        bad(
            name,
            format!(
                "unknown or unsupported modifier :{m} for a {} parameter",
                kind.as_str()
            ),
        )
    };
    match kind {
        Kind::String => {
            let s = crate::search::normalize::normalize(&unescape(v));
            match modifier {
                None => Ok(Pred::StrPrefix(s)),
                Some("exact") => Ok(Pred::StrExact(unescape(v))),
                Some("contains") => Ok(Pred::StrContains(s)),
                Some(m) => Err(unknown(m)),
            }
        }
        Kind::Token => match modifier {
            None => Ok(token_pred(v)),
            Some("text") => Ok(Pred::TokenText(crate::search::normalize::normalize(
                &unescape(v),
            ))),
            Some(m) => Err(unknown(m)),
        },
        Kind::Date => match modifier {
            None => date_pred(name, v, zone),
            Some(m) => Err(unknown(m)),
        },
        Kind::Number => match modifier {
            None => {
                let (prefix, rest) = Prefix::split(v);
                let (value, lo, hi) = number_range(name, rest)?;
                Ok(Pred::Number {
                    prefix,
                    value,
                    lo,
                    hi,
                })
            }
            Some(m) => Err(unknown(m)),
        },
        Kind::Quantity => match modifier {
            None => {
                let (prefix, rest) = Prefix::split(v);
                let parts: Vec<String> = split_unescaped(rest, '|')
                    .into_iter()
                    .map(unescape)
                    .collect();
                let (num, system, code) = match parts.as_slice() {
                    [n] => (n.clone(), None, None),
                    [n, s, c] => (
                        n.clone(),
                        Some(s.clone()).filter(|s| !s.is_empty()),
                        Some(c.clone()).filter(|c| !c.is_empty()),
                    ),
                    _ => return Err(bad(name, "a quantity is number or number|system|code")),
                };
                let (value, lo, hi) = number_range(name, &num)?;
                Ok(Pred::Quantity {
                    prefix,
                    value,
                    lo,
                    hi,
                    system,
                    code,
                })
            }
            Some(m) => Err(unknown(m)),
        },
        Kind::Reference => {
            let v = unescape(v);
            let type_mod = match modifier {
                None => None,
                Some(m) if hms_fhir::model::Model::r4().is_resource_type(m) => Some(m.to_string()),
                Some(m) => return Err(unknown(m)),
            };
            let local = v
                .strip_prefix(base)
                .map(|r| r.trim_start_matches('/'))
                .unwrap_or(&v);
            if let Some((t, id)) =
                crate::search::extract::split_reference(local).filter(|_| !local.contains("://"))
            {
                if type_mod.as_ref().is_some_and(|m| *m != t) {
                    return Err(bad(
                        name,
                        format!(
                            "reference {v:?} contradicts the :{} modifier",
                            type_mod.unwrap_or_default()
                        ),
                    ));
                }
                return Ok(Pred::Reference {
                    ref_type: Some(t),
                    ref_id: id,
                });
            }
            if v.contains("://") || v.starts_with("urn:") {
                return Ok(Pred::ReferenceUrl(v));
            }
            if !crate::fhir::ids::is_valid_id(&v) {
                return Err(bad(
                    name,
                    format!("{v:?} is not a reference (id, Type/id or URL)"),
                ));
            }
            Ok(Pred::Reference {
                ref_type: type_mod,
                ref_id: v,
            })
        }
        Kind::Uri => {
            let v = unescape(v);
            match modifier {
                None => Ok(Pred::Uri(v)),
                Some("below") => Ok(Pred::UriBelow(v)),
                Some("above") => Ok(Pred::UriAbove(v)),
                Some(m) => Err(unknown(m)),
            }
        }
        Kind::Composite | Kind::Special => {
            Err(bad(name, "this parameter type cannot be used here"))
        }
    }
}

fn parse_sort(ctx: &Ctx<'_>, types: &[String], value: &str) -> Result<Vec<SortKey>, Error> {
    let mut keys = Vec::new();
    for raw in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (desc, code) = match raw.strip_prefix('-') {
            Some(c) => (true, c),
            None => (false, raw),
        };
        let kind = match code {
            "_id" => SortKind::Id,
            "_lastUpdated" => SortKind::LastUpdated,
            _ => match lookup(ctx, types, code).map(|p| p.kind) {
                Some(Kind::String | Kind::Token | Kind::Reference | Kind::Uri) => SortKind::Text,
                Some(Kind::Date) => SortKind::Date,
                Some(Kind::Number | Kind::Quantity) => SortKind::Number,
                Some(_) => return Err(bad("_sort", format!("cannot sort on {code}"))),
                None => {
                    return Err(bad(
                        "_sort",
                        format!("unknown search parameter {code:?} in _sort"),
                    ));
                }
            },
        };
        keys.push(SortKey {
            param: code.to_string(),
            kind,
            desc,
        });
    }
    if keys.len() > 3 {
        return Err(bad("_sort", "at most 3 sort keys are supported"));
    }
    Ok(keys)
}

fn parse_include(name: &str, value: &str, iterate: bool) -> Result<Include, Error> {
    let parts: Vec<&str> = value.split(':').collect();
    let model = hms_fhir::model::Model::r4();
    let (source, param, target) = match parts.as_slice() {
        [s, "*"] => (*s, None, None),
        [s, p] => (*s, Some(*p), None),
        [s, p, t] => (*s, Some(*p), Some(*t)),
        ["*"] => return Err(bad(name, "use Type:* to include every reference of a type")),
        _ => {
            return Err(bad(
                name,
                format!("{name} takes Type:parameter[:targetType], got {value:?}"),
            ));
        }
    };
    if !model.is_resource_type(source) {
        return Err(bad(
            name,
            format!("unknown resource type {source:?} in {name}"),
        ));
    }
    if let Some(p) = param {
        let sp = Registry::r4()
            .get(source, p)
            .ok_or_else(|| bad(name, format!("{source} has no search parameter {p:?}")))?;
        if sp.kind != Kind::Reference {
            return Err(bad(
                name,
                format!("{source}:{p} is not a reference parameter"),
            ));
        }
    }
    if let Some(t) = target
        && !model.is_resource_type(t)
    {
        return Err(bad(name, format!("unknown target type {t:?} in {name}")));
    }
    Ok(Include {
        source_type: source.to_string(),
        param: param.map(str::to_string),
        target_type: target.map(str::to_string),
        iterate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(t: &str, q: &[(&str, &str)]) -> Result<Parsed, Error> {
        let pairs: Vec<(String, String)> = q
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        parse(
            &[t.to_string()],
            &pairs,
            "http://h/fhir",
            false,
            &[],
            &Zone::Utc,
        )
    }

    #[test]
    fn numbers_carry_their_precision() {
        assert_eq!(number_range("x", "100").unwrap(), (100.0, 99.5, 100.5));
        let (v, lo, hi) = number_range("x", "1.50").unwrap();
        assert_eq!(v, 1.5);
        assert!((lo - 1.495).abs() < 1e-12 && (hi - 1.505).abs() < 1e-12);
        let (_, lo, hi) = number_range("x", "1e2").unwrap();
        assert_eq!((lo, hi), (50.0, 150.0));
        assert!(number_range("x", "abc").is_err());
        assert!(number_range("x", "1e99999").is_err());
        assert!(number_range("x", "NaN").is_err());
    }

    #[test]
    fn parses_common_shapes() {
        let r = p(
            "Patient",
            &[
                ("name", "peter,Müller"),
                ("birthdate", "ge1970-01"),
                ("identifier", "urn:s|1"),
                ("foo", "x"),
            ],
        )
        .unwrap();
        assert_eq!(r.ignored, vec!["foo".to_string()]);
        assert_eq!(r.query.filters.len(), 3);
        assert_eq!(
            r.query.filters[0],
            Filter::Index {
                param: "name".into(),
                any: vec![
                    Pred::StrPrefix("peter".into()),
                    Pred::StrPrefix("muller".into())
                ],
                negate: false
            }
        );
        assert!(
            matches!(r.query.filters[1], Filter::Index { ref any, .. } if matches!(any[0], Pred::Date { prefix: Prefix::Ge, .. }))
        );
        let r = p(
            "Observation",
            &[
                ("subject:Patient.name", "x"),
                ("_has:Provenance:target:agent", "Practitioner/1"),
            ],
        )
        .unwrap();
        assert!(
            matches!(&r.query.filters[0], Filter::Chain { param, target_type: Some(t), .. } if param == "subject" && t == "Patient")
        );
        assert!(
            matches!(&r.query.filters[1], Filter::Has { source_type, ref_param, .. } if source_type == "Provenance" && ref_param == "target")
        );
    }

    #[test]
    fn rejects_bad_input() {
        for (k, v) in [
            ("birthdate", "1970-13"),
            ("birthdate", "xx2000"),
            ("name:foo", "x"),
            ("_count", "-1"),
            ("gender:missing", "maybe"),
            ("general-practitioner.bogus", "x"),
            ("_sort", "bogus"),
            ("_include", "Patient:name"),
            ("_has:Observation", "x"),
            ("_lastUpdated:missing", "false"),
            ("_id:not", "x"),
            ("_has", "x"),
            ("name", "a\0b"),
            ("name", "\u{1b}"),
            ("na\0me", "x"),
        ] {
            assert!(
                p("Patient", &[(k, v)]).is_err(),
                "{k}={v} should be rejected"
            );
        }
        let many = vec!["a"; 1001].join(",");
        assert!(p("Patient", &[("name", &many)]).is_err());
    }

    #[test]
    fn empty_values_are_ignored() {
        let r = p("Patient", &[("name", ""), ("gender", "male")]).unwrap();
        assert_eq!(r.query.filters.len(), 1);
        assert_eq!(r.applied, vec![("gender".to_string(), "male".to_string())]);
        assert!(r.ignored.is_empty());
    }

    #[test]
    fn escaped_commas_are_one_value() {
        let r = p("Patient", &[("family", r"a\,b,c")]).unwrap();
        assert_eq!(
            r.query.filters[0],
            Filter::Index {
                param: "family".into(),
                any: vec![Pred::StrPrefix("a,b".into()), Pred::StrPrefix("c".into())],
                negate: false
            }
        );
    }
}
