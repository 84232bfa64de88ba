//! RFC 6902 JSON Patch, the subset FHIR PATCH needs here: add, replace, remove, test.
//! Pure: a document and operations in, the patched document or the failing operation out.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("JSON Patch operation {index}: {reason}")]
pub struct PatchError {
    pub index: usize,
    pub reason: String,
}

/// Applies `ops` (a JSON array of operations) to `doc`, all or nothing.
pub fn apply(doc: &Value, ops: &Value) -> Result<Value, PatchError> {
    let list = ops.as_array().ok_or_else(|| PatchError {
        index: 0,
        reason: "a JSON Patch document must be an array".into(),
    })?;
    let mut out = doc.clone();
    for (index, op) in list.iter().enumerate() {
        let err = |reason: String| PatchError { index, reason };
        let name = op.get("op").and_then(Value::as_str).unwrap_or("");
        let path = op
            .get("path")
            .and_then(Value::as_str)
            .ok_or_else(|| err("path is missing".into()))?;
        let tokens = pointer_tokens(path).map_err(&err)?;
        match name {
            "add" | "replace" => {
                let value = op
                    .get("value")
                    .cloned()
                    .ok_or_else(|| err("value is missing".into()))?;
                set(&mut out, &tokens, value, name == "replace").map_err(&err)?;
            }
            "remove" => remove(&mut out, &tokens).map_err(&err)?,
            "test" => {
                let expected = op
                    .get("value")
                    .ok_or_else(|| err("value is missing".into()))?;
                if out.pointer(path) != Some(expected) {
                    return Err(err(format!("test failed at {path}")));
                }
            }
            other => return Err(err(format!("unsupported op {other:?}"))),
        }
    }
    Ok(out)
}

fn pointer_tokens(path: &str) -> Result<Vec<String>, String> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let rest = path
        .strip_prefix('/')
        .ok_or_else(|| format!("path {path:?} must start with /"))?;
    Ok(rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect())
}

fn parent<'a>(doc: &'a mut Value, tokens: &[String]) -> Result<&'a mut Value, String> {
    let mut cur = doc;
    for t in tokens {
        cur = match cur {
            Value::Object(m) => m.get_mut(t).ok_or_else(|| format!("no member {t:?}"))?,
            Value::Array(a) => {
                let i: usize = t.parse().map_err(|_| format!("bad array index {t:?}"))?;
                a.get_mut(i)
                    .ok_or_else(|| format!("index {i} out of range"))?
            }
            _ => return Err(format!("cannot descend into a scalar at {t:?}")),
        };
    }
    Ok(cur)
}

fn set(doc: &mut Value, tokens: &[String], value: Value, replace: bool) -> Result<(), String> {
    let Some((last, head)) = tokens.split_last() else {
        *doc = value;
        return Ok(());
    };
    match parent(doc, head)? {
        Value::Object(m) => {
            if replace && !m.contains_key(last) {
                return Err(format!("replace: no member {last:?}"));
            }
            m.insert(last.clone(), value);
            Ok(())
        }
        Value::Array(a) => {
            if last == "-" && !replace {
                a.push(value);
                return Ok(());
            }
            let i: usize = last
                .parse()
                .map_err(|_| format!("bad array index {last:?}"))?;
            if replace {
                let slot = a
                    .get_mut(i)
                    .ok_or_else(|| format!("index {i} out of range"))?;
                *slot = value;
            } else if i <= a.len() {
                a.insert(i, value);
            } else {
                return Err(format!("index {i} out of range"));
            }
            Ok(())
        }
        _ => Err("the parent of the target is a scalar".into()),
    }
}

fn remove(doc: &mut Value, tokens: &[String]) -> Result<(), String> {
    let Some((last, head)) = tokens.split_last() else {
        return Err("cannot remove the whole document".into());
    };
    match parent(doc, head)? {
        Value::Object(m) => m
            .shift_remove(last)
            .map(|_| ())
            .ok_or_else(|| format!("no member {last:?}")),
        Value::Array(a) => {
            let i: usize = last
                .parse()
                .map_err(|_| format!("bad array index {last:?}"))?;
            if i < a.len() {
                a.remove(i);
                Ok(())
            } else {
                Err(format!("index {i} out of range"))
            }
        }
        _ => Err("the parent of the target is a scalar".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn add_replace_remove_test() {
        let doc = json!({"a": 1, "l": [1, 2]});
        let out = apply(
            &doc,
            &json!([
                {"op": "add", "path": "/b", "value": {"x": 1}},
                {"op": "replace", "path": "/a", "value": 2},
                {"op": "add", "path": "/l/-", "value": 3},
                {"op": "remove", "path": "/l/0"},
                {"op": "test", "path": "/b/x", "value": 1}
            ]),
        )
        .unwrap();
        assert_eq!(out, json!({"a": 2, "l": [2, 3], "b": {"x": 1}}));
        let e = apply(&doc, &json!([{"op": "replace", "path": "/zz", "value": 1}])).unwrap_err();
        assert_eq!(e.index, 0);
        assert!(apply(&doc, &json!([{"op": "move", "path": "/a", "from": "/b"}])).is_err());
        assert!(apply(&doc, &json!({"op": "add"})).is_err());
    }
}
