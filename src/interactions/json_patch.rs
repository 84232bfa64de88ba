//! JSON Patch (RFC 6902) with JSON Pointers (RFC 6901): add, remove, replace, move, copy, test.
//! A malformed document is a 400; an operation that cannot apply (missing path, failed test) a 422.

use serde_json::Value;

use crate::error::{Error, issue};
use hms_fhir::outcome::Severity;

#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Add { path: String, value: Value },
    Remove { path: String },
    Replace { path: String, value: Value },
    Move { from: String, path: String },
    Copy { from: String, path: String },
    Test { path: String, value: Value },
}

impl Op {
    /// The value an add/replace/test carries.
    pub fn value(&self) -> Option<&Value> {
        match self {
            Op::Add { value, .. } | Op::Replace { value, .. } | Op::Test { value, .. } => {
                Some(value)
            }
            _ => None,
        }
    }
}

fn bad(i: usize, msg: impl std::fmt::Display) -> Error {
    Error::invalid(
        Some(&format!("[{i}]")),
        format!("JSON Patch operation {i}: {msg}"),
    )
}

fn failed(i: usize, msg: impl std::fmt::Display) -> Error {
    Error::Unprocessable(vec![issue(
        Severity::Error,
        "processing",
        Some(&format!("[{i}]")),
        format!("JSON Patch operation {i} cannot be applied: {msg}"),
    )])
}

/// Parses the patch document (a JSON array of operation objects).
pub fn parse(doc: &Value) -> Result<Vec<Op>, Error> {
    let Value::Array(items) = doc else {
        return Err(Error::invalid(
            None,
            "a JSON Patch document must be a JSON array of operations",
        ));
    };
    let mut ops = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let field = |name: &str| -> Result<String, Error> {
            let s = item
                .get(name)
                .and_then(Value::as_str)
                .ok_or_else(|| bad(i, format!("{name:?} (a string) is required")))?;
            if !s.is_empty() && !s.starts_with('/') {
                return Err(bad(i, format!("{name} {s:?} is not a JSON Pointer")));
            }
            Ok(s.to_string())
        };
        let value = || {
            item.get("value")
                .cloned()
                .ok_or_else(|| bad(i, "\"value\" is required"))
        };
        let op = match item.get("op").and_then(Value::as_str) {
            Some("add") => Op::Add {
                path: field("path")?,
                value: value()?,
            },
            Some("remove") => Op::Remove {
                path: field("path")?,
            },
            Some("replace") => Op::Replace {
                path: field("path")?,
                value: value()?,
            },
            Some("move") => Op::Move {
                from: field("from")?,
                path: field("path")?,
            },
            Some("copy") => Op::Copy {
                from: field("from")?,
                path: field("path")?,
            },
            Some("test") => Op::Test {
                path: field("path")?,
                value: value()?,
            },
            Some(other) => return Err(bad(i, format!("unknown op {other:?}"))),
            None => return Err(bad(i, "\"op\" is required")),
        };
        ops.push(op);
    }
    Ok(ops)
}

/// Applies every operation in order to a copy of `doc`; all or nothing.
pub fn apply(doc: &Value, ops: &[Op]) -> Result<Value, Error> {
    let mut out = doc.clone();
    for (i, op) in ops.iter().enumerate() {
        apply_one(&mut out, op).map_err(|m| failed(i, m))?;
    }
    Ok(out)
}

fn apply_one(doc: &mut Value, op: &Op) -> Result<(), String> {
    match op {
        Op::Add { path, value } => add(doc, path, value.clone()),
        Op::Remove { path } => remove(doc, path).map(|_| ()),
        Op::Replace { path, value } => {
            let target = get_mut(doc, path)?;
            *target = value.clone();
            Ok(())
        }
        Op::Move { from, path } => {
            if path.starts_with(&format!("{from}/")) {
                return Err(format!("cannot move {from} into its own child {path}"));
            }
            let v = remove(doc, from)?;
            add(doc, path, v)
        }
        Op::Copy { from, path } => {
            let v = get_mut(doc, from)?.clone();
            add(doc, path, v)
        }
        Op::Test { path, value } => {
            let actual = get_mut(doc, path)?;
            if actual == value {
                Ok(())
            } else {
                Err(format!("test failed: {path} is {actual}, not {value}"))
            }
        }
    }
}

fn tokens(path: &str) -> Vec<String> {
    path.split('/')
        .skip(1)
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect()
}

fn index_of(token: &str, len: usize, allow_end: bool) -> Result<usize, String> {
    if token == "-" && allow_end {
        return Ok(len);
    }
    if token.is_empty() || (token.len() > 1 && token.starts_with('0')) {
        return Err(format!("{token:?} is not an array index"));
    }
    let i: usize = token
        .parse()
        .map_err(|_| format!("{token:?} is not an array index"))?;
    let max = if allow_end {
        len
    } else {
        len.saturating_sub(1)
    };
    if i > max || (!allow_end && len == 0) {
        return Err(format!("index {i} is out of bounds (length {len})"));
    }
    Ok(i)
}

fn get_mut<'a>(doc: &'a mut Value, path: &str) -> Result<&'a mut Value, String> {
    let mut cur = doc;
    for t in tokens(path) {
        cur = match cur {
            Value::Object(m) => m
                .get_mut(&t)
                .ok_or_else(|| format!("{path}: no member {t:?}"))?,
            Value::Array(a) => {
                let i = index_of(&t, a.len(), false).map_err(|e| format!("{path}: {e}"))?;
                &mut a[i]
            }
            _ => return Err(format!("{path}: {t:?} is below a primitive value")),
        };
    }
    Ok(cur)
}

/// The parent container of `path` and the last token.
fn parent<'a>(doc: &'a mut Value, path: &str) -> Result<(&'a mut Value, String), String> {
    let (parent_path, last) = path
        .rsplit_once('/')
        .ok_or_else(|| "the whole document cannot be the target".to_string())?;
    let last = last.replace("~1", "/").replace("~0", "~");
    Ok((get_mut(doc, parent_path)?, last))
}

fn add(doc: &mut Value, path: &str, value: Value) -> Result<(), String> {
    if path.is_empty() {
        *doc = value;
        return Ok(());
    }
    let (p, last) = parent(doc, path)?;
    match p {
        Value::Object(m) => {
            m.insert(last, value);
            Ok(())
        }
        Value::Array(a) => {
            let i = index_of(&last, a.len(), true).map_err(|e| format!("{path}: {e}"))?;
            a.insert(i, value);
            Ok(())
        }
        _ => Err(format!("{path}: the parent is a primitive value")),
    }
}

fn remove(doc: &mut Value, path: &str) -> Result<Value, String> {
    let (p, last) = parent(doc, path)?;
    match p {
        Value::Object(m) => m
            .shift_remove(&last)
            .ok_or_else(|| format!("{path}: no member {last:?}")),
        Value::Array(a) => {
            let i = index_of(&last, a.len(), false).map_err(|e| format!("{path}: {e}"))?;
            Ok(a.remove(i))
        }
        _ => Err(format!("{path}: the parent is a primitive value")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(doc: Value, patch: Value) -> Result<Value, Error> {
        apply(&doc, &parse(&patch)?)
    }

    #[test]
    fn rfc6902_operations() {
        let doc = json!({"a": {"b": [1, 2]}, "c/d": 1, "e~f": 2});
        let out = run(
            doc.clone(),
            json!([
                {"op": "add", "path": "/a/b/1", "value": 9},
                {"op": "add", "path": "/a/b/-", "value": 10},
                {"op": "replace", "path": "/c~1d", "value": 3},
                {"op": "remove", "path": "/e~0f"},
                {"op": "copy", "from": "/a/b/0", "path": "/x"},
                {"op": "move", "from": "/x", "path": "/y"},
                {"op": "test", "path": "/y", "value": 1}
            ]),
        )
        .unwrap();
        assert_eq!(out, json!({"a": {"b": [1, 9, 2, 10]}, "c/d": 3, "y": 1}));
        assert!(matches!(
            run(
                doc.clone(),
                json!([{"op": "test", "path": "/c~1d", "value": 2}])
            ),
            Err(Error::Unprocessable(_))
        ));
        assert!(matches!(
            run(doc.clone(), json!([{"op": "remove", "path": "/nope"}])),
            Err(Error::Unprocessable(_))
        ));
        assert!(matches!(
            run(
                doc.clone(),
                json!([{"op": "add", "path": "/a/b/5", "value": 0}])
            ),
            Err(Error::Unprocessable(_))
        ));
        assert!(matches!(
            run(
                doc.clone(),
                json!([{"op": "move", "from": "/a", "path": "/a/z"}])
            ),
            Err(Error::Unprocessable(_))
        ));
        assert!(matches!(
            run(doc.clone(), json!({"op": "add"})),
            Err(Error::Invalid(_))
        ));
        assert!(matches!(
            run(doc, json!([{"op": "frob", "path": "/a"}])),
            Err(Error::Invalid(_))
        ));
    }
}
