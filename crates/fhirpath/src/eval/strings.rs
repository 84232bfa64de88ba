//! String functions (FHIRPath §5.6).

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;

use regex::Regex;

use super::functions::{arg, arity, int_arg, str_arg};
use super::{Collection, Env, singleton};
use crate::ast::Expr;
use crate::error::EvalError;
use crate::item::Item;

const REGEX_CACHE_MAX: usize = 64;

thread_local! {
    /// Small per-thread cache: SearchParameter/TestScript patterns repeat a lot.
    static REGEX_CACHE: RefCell<HashMap<String, Regex>> = RefCell::new(HashMap::new());
}

fn regex(pattern: &str) -> Result<Regex, EvalError> {
    if let Some(r) = REGEX_CACHE.with(|c| c.borrow().get(pattern).cloned()) {
        return Ok(r);
    }
    // FHIRPath regexes are single-line (`.` matches newlines).
    let r = regex::RegexBuilder::new(pattern)
        .dot_matches_new_line(true)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| EvalError::Regex(e.to_string()))?;
    REGEX_CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= REGEX_CACHE_MAX {
            c.clear();
        }
        c.insert(pattern.to_string(), r.clone());
    });
    Ok(r)
}

fn s<'a>(v: String) -> Collection<'a> {
    vec![Item::String(Cow::Owned(v))]
}

pub(super) fn call<'a>(
    name: &str,
    focus: &[Item<'a>],
    args: &[Expr],
    env: &Env<'a, '_>,
) -> Result<Collection<'a>, EvalError> {
    if name == "join" {
        arity(name, args, 0, 1)?;
        let sep = if args.is_empty() {
            String::new()
        } else {
            str_arg(name, args, env)?
        };
        let parts: Option<Vec<&str>> = focus.iter().map(Item::as_str).collect();
        let parts = parts.ok_or_else(|| EvalError::Type("join() needs strings".into()))?;
        return Ok(s(parts.join(&sep)));
    }
    let Some(item) = singleton(focus, name)? else {
        return Ok(Vec::new());
    };
    let text = item
        .as_str()
        .ok_or_else(|| EvalError::Type(format!("{name}() needs a string input")))?;
    // Functions whose argument is empty return empty.
    let sarg = |i: usize| -> Result<Option<String>, EvalError> {
        let v = arg(&args[i..], 0, env)?;
        match singleton(&v, name)? {
            None => Ok(None),
            Some(x) => x
                .as_str()
                .map(|t| Some(t.to_string()))
                .ok_or_else(|| EvalError::Type(format!("{name}() needs string arguments"))),
        }
    };
    let b = |v: bool| Ok(vec![Item::Boolean(v)]);
    match name {
        "startsWith" | "endsWith" | "contains" | "matches" | "indexOf" | "split" => {
            arity(name, args, 1, 1)?;
            let Some(a) = sarg(0)? else {
                return Ok(Vec::new());
            };
            match name {
                "startsWith" => b(text.starts_with(a.as_str())),
                "endsWith" => b(text.ends_with(a.as_str())),
                "contains" => b(text.contains(a.as_str())),
                "matches" => b(regex(&a)?.is_match(text)),
                "indexOf" => Ok(vec![Item::Integer(match text.find(a.as_str()) {
                    Some(byte) => i64::try_from(text[..byte].chars().count()).unwrap_or(-1),
                    None => -1,
                })]),
                _ => Ok(text
                    .split(a.as_str())
                    .map(|p| Item::String(Cow::Owned(p.to_string())))
                    .collect()),
            }
        }
        "replace" | "replaceMatches" => {
            arity(name, args, 2, 2)?;
            let (Some(pat), Some(rep)) = (sarg(0)?, sarg(1)?) else {
                return Ok(Vec::new());
            };
            if name == "replace" {
                Ok(s(text.replace(pat.as_str(), &rep)))
            } else {
                Ok(s(regex(&pat)?.replace_all(text, rep.as_str()).into_owned()))
            }
        }
        "lower" | "upper" | "length" | "trim" | "toChars" => {
            arity(name, args, 0, 0)?;
            Ok(match name {
                "lower" => s(text.to_lowercase()),
                "upper" => s(text.to_uppercase()),
                "trim" => s(text.trim().to_string()),
                "length" => vec![Item::Integer(
                    i64::try_from(text.chars().count()).unwrap_or(i64::MAX),
                )],
                _ => text
                    .chars()
                    .map(|c| Item::String(Cow::Owned(c.to_string())))
                    .collect(),
            })
        }
        "substring" => {
            arity(name, args, 1, 2)?;
            let start = int_arg(name, args, env)?;
            let len = if args.len() == 2 {
                Some(int_arg(name, &args[1..], env)?)
            } else {
                None
            };
            let count = text.chars().count();
            let Ok(start) = usize::try_from(start) else {
                return Ok(Vec::new());
            };
            if start >= count {
                return Ok(Vec::new());
            }
            let take = len.map_or(usize::MAX, |l| usize::try_from(l.max(0)).unwrap_or(0));
            Ok(s(text.chars().skip(start).take(take).collect()))
        }
        _ => Err(EvalError::Unsupported(format!("function {name}"))),
    }
}
