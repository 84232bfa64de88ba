//! FHIRPath Patch (R4 fhirpatch.html): a Parameters resource whose `operation` parameters each
//! have a `type` (add, insert, delete, replace, move), a FHIRPath `path`, and `name`, `value`,
//! `index`, `source`, `destination` as the type needs. Paths are evaluated with `hms-fhirpath`;
//! the nodes they select are located in the JSON tree by identity and edited there.

use hms_fhir::model::Model;
use hms_fhir::outcome::Severity;
use serde_json::{Map, Value};

use crate::error::{Error, issue};

/// One step from a container to a child.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

#[derive(Debug)]
struct Operation {
    kind: String,
    path: String,
    name: Option<String>,
    value: Option<Value>,
    index: Option<usize>,
    source: Option<usize>,
    destination: Option<usize>,
}

fn bad(i: usize, msg: impl std::fmt::Display) -> Error {
    Error::invalid(
        Some(&format!("Parameters.parameter[{i}]")),
        format!("FHIRPath Patch operation {i}: {msg}"),
    )
}

fn failed(i: usize, msg: impl std::fmt::Display) -> Error {
    Error::Unprocessable(vec![issue(
        Severity::Error,
        "processing",
        Some(&format!("Parameters.parameter[{i}]")),
        format!("FHIRPath Patch operation {i} cannot be applied: {msg}"),
    )])
}

/// Checks the shape of the Parameters resource.
pub fn check(params: &Value) -> Result<(), Error> {
    operations(params).map(|_| ())
}

fn operations(params: &Value) -> Result<Vec<Operation>, Error> {
    if params.get("resourceType").and_then(Value::as_str) != Some("Parameters") {
        return Err(Error::invalid(
            Some("resourceType"),
            "a FHIRPath Patch must be a Parameters resource",
        ));
    }
    let empty = Vec::new();
    let list = params
        .get("parameter")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    let mut ops = Vec::new();
    for (i, p) in list.iter().enumerate() {
        if p.get("name").and_then(Value::as_str) != Some("operation") {
            return Err(bad(i, "every parameter must be named \"operation\""));
        }
        let parts = p.get("part").and_then(Value::as_array).unwrap_or(&empty);
        let part = |n: &str| {
            parts
                .iter()
                .find(|x| x.get("name").and_then(Value::as_str) == Some(n))
        };
        let string = |n: &str| -> Option<String> {
            part(n).and_then(|x| {
                x.as_object()?
                    .iter()
                    .find(|(k, _)| k.starts_with("value"))
                    .and_then(|(_, v)| v.as_str().map(str::to_string))
            })
        };
        let int = |n: &str| -> Result<Option<usize>, Error> {
            match part(n) {
                None => Ok(None),
                Some(x) => x
                    .get("valueInteger")
                    .and_then(Value::as_u64)
                    .and_then(|v| usize::try_from(v).ok())
                    .map(Some)
                    .ok_or_else(|| bad(i, format!("{n} must be a non-negative valueInteger"))),
            }
        };
        let kind = string("type").ok_or_else(|| bad(i, "the type part is required"))?;
        if !matches!(
            kind.as_str(),
            "add" | "insert" | "delete" | "replace" | "move"
        ) {
            return Err(bad(i, format!("unknown operation type {kind:?}")));
        }
        let path = string("path").ok_or_else(|| bad(i, "the path part is required"))?;
        let value = part("value")
            .map(part_value)
            .transpose()
            .map_err(|m| bad(i, m))?;
        let op = Operation {
            name: string("name"),
            value,
            index: int("index")?,
            source: int("source")?,
            destination: int("destination")?,
            kind,
            path,
        };
        let need = |ok: bool, what: &str| {
            if ok {
                Ok(())
            } else {
                Err(bad(i, format!("{} needs {what}", op.kind)))
            }
        };
        match op.kind.as_str() {
            "add" => need(op.name.is_some() && op.value.is_some(), "name and value")?,
            "insert" => need(op.index.is_some() && op.value.is_some(), "index and value")?,
            "replace" => need(op.value.is_some(), "value")?,
            "move" => need(
                op.source.is_some() && op.destination.is_some(),
                "source and destination",
            )?,
            _ => {}
        }
        hms_fhirpath::parse(&op.path).map_err(|e| bad(i, format!("path {:?}: {e}", op.path)))?;
        ops.push(op);
    }
    Ok(ops)
}

/// The value of a `value` part: `value[x]`, or nested parts for an anonymous (backbone) type.
fn part_value(p: &Value) -> Result<Value, String> {
    let obj = p.as_object().ok_or("a part must be an object")?;
    if let Some((_, v)) = obj.iter().find(|(k, _)| k.starts_with("value")) {
        return Ok(v.clone());
    }
    if let Some(parts) = obj.get("part").and_then(Value::as_array) {
        let mut out = Map::new();
        for sub in parts {
            let name = sub
                .get("name")
                .and_then(Value::as_str)
                .ok_or("a nested part needs a name")?;
            let v = part_value(sub)?;
            match out.get_mut(name) {
                Some(Value::Array(a)) => a.push(v),
                Some(existing) => {
                    let first = existing.take();
                    *existing = Value::Array(vec![first, v]);
                }
                None => {
                    out.insert(name.to_string(), v);
                }
            }
        }
        return Ok(Value::Object(out));
    }
    Err("the value part has neither value[x] nor parts".into())
}

/// Applies the operations in order to a copy of `resource`.
pub fn apply(resource: &Value, params: &Value) -> Result<Value, Error> {
    let ops = operations(params)?;
    let mut doc = resource.clone();
    for (i, op) in ops.iter().enumerate() {
        apply_one(&mut doc, op).map_err(|m| failed(i, m))?;
    }
    Ok(doc)
}

/// Locations (from the root) of the nodes `path` selects.
fn select(doc: &Value, path: &str) -> Result<Vec<Vec<Seg>>, String> {
    let expr = hms_fhirpath::parse(path).map_err(|e| e.to_string())?;
    let ctx = hms_fhirpath::EvalContext::new(doc);
    let items = hms_fhirpath::evaluate(&expr, doc, &ctx).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for item in items {
        let hms_fhirpath::Item::Node(n) = item else {
            return Err(format!("{path} selects a value that is not an element"));
        };
        let mut trail = Vec::new();
        if !find(doc, n.value, &mut trail) {
            return Err(format!("{path} selects an element that cannot be edited"));
        }
        out.push(trail);
    }
    Ok(out)
}

fn find(cur: &Value, target: &Value, trail: &mut Vec<Seg>) -> bool {
    if std::ptr::eq(cur, target) {
        return true;
    }
    match cur {
        Value::Object(m) => {
            for (k, v) in m {
                trail.push(Seg::Key(k.clone()));
                if find(v, target, trail) {
                    return true;
                }
                trail.pop();
            }
        }
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                trail.push(Seg::Index(i));
                if find(v, target, trail) {
                    return true;
                }
                trail.pop();
            }
        }
        _ => {}
    }
    false
}

fn get_mut<'a>(doc: &'a mut Value, trail: &[Seg]) -> Option<&'a mut Value> {
    let mut cur = doc;
    for s in trail {
        cur = match (s, cur) {
            (Seg::Key(k), Value::Object(m)) => m.get_mut(k)?,
            (Seg::Index(i), Value::Array(a)) => a.get_mut(*i)?,
            _ => return None,
        };
    }
    Some(cur)
}

fn one(found: Vec<Vec<Seg>>, path: &str) -> Result<Vec<Seg>, String> {
    let n = found.len();
    let mut it = found.into_iter();
    match (it.next(), n) {
        (Some(t), 1) => Ok(t),
        (_, 0) => Err(format!("{path} selects nothing")),
        _ => Err(format!(
            "{path} selects {n} elements; exactly one is needed"
        )),
    }
}

/// The array holding the elements a list path selects, and a trail to it.
fn list_of(found: &[Vec<Seg>], path: &str) -> Result<Vec<Seg>, String> {
    let first = found
        .first()
        .ok_or_else(|| format!("{path} selects nothing"))?;
    match first.split_last() {
        Some((Seg::Index(_), parent)) => Ok(parent.to_vec()),
        _ => Err(format!("{path} does not select a list")),
    }
}

fn apply_one(doc: &mut Value, op: &Operation) -> Result<(), String> {
    let found = select(doc, &op.path)?;
    match op.kind.as_str() {
        "add" => {
            let trail = one(found, &op.path)?;
            let name = op.name.clone().unwrap_or_default();
            let value = op.value.clone().unwrap_or(Value::Null);
            let repeating = is_repeating(doc, &trail, &name);
            let target = get_mut(doc, &trail).ok_or("lost the element")?;
            let obj = target
                .as_object_mut()
                .ok_or_else(|| format!("{} is not a complex element", op.path))?;
            match obj.get_mut(&name) {
                Some(Value::Array(a)) => a.push(value),
                Some(_) => return Err(format!("{}.{name} already has a value", op.path)),
                None => {
                    obj.insert(
                        name,
                        if repeating {
                            Value::Array(vec![value])
                        } else {
                            value
                        },
                    );
                }
            }
            Ok(())
        }
        "insert" => {
            let index = op.index.unwrap_or(0);
            let parent = list_of(&found, &op.path)?;
            let arr = get_mut(doc, &parent)
                .and_then(Value::as_array_mut)
                .ok_or("lost the list")?;
            if index > arr.len() {
                return Err(format!(
                    "index {index} is beyond the list (length {})",
                    arr.len()
                ));
            }
            arr.insert(index, op.value.clone().unwrap_or(Value::Null));
            Ok(())
        }
        "delete" => {
            if found.is_empty() {
                return Ok(());
            }
            let trail = one(found, &op.path)?;
            remove_at(doc, &trail)
        }
        "replace" => {
            let trail = one(found, &op.path)?;
            let target = get_mut(doc, &trail).ok_or("lost the element")?;
            *target = op.value.clone().unwrap_or(Value::Null);
            Ok(())
        }
        "move" => {
            let (src, dst) = (op.source.unwrap_or(0), op.destination.unwrap_or(0));
            let parent = list_of(&found, &op.path)?;
            let arr = get_mut(doc, &parent)
                .and_then(Value::as_array_mut)
                .ok_or("lost the list")?;
            if src >= arr.len() || dst >= arr.len() {
                return Err(format!(
                    "source {src} or destination {dst} is outside the list (length {})",
                    arr.len()
                ));
            }
            let v = arr.remove(src);
            arr.insert(dst, v);
            Ok(())
        }
        other => Err(format!("unknown operation {other}")),
    }
}

fn remove_at(doc: &mut Value, trail: &[Seg]) -> Result<(), String> {
    let (last, parent) = trail
        .split_last()
        .ok_or("cannot delete the resource itself")?;
    let container = get_mut(doc, parent).ok_or("lost the element")?;
    match (last, container) {
        (Seg::Key(k), Value::Object(m)) => {
            m.shift_remove(k);
            m.shift_remove(&format!("_{k}"));
        }
        (Seg::Index(i), Value::Array(a)) => {
            a.remove(*i);
            if a.is_empty()
                && let Some((Seg::Key(k), grand)) = parent.split_last()
                && let Some(Value::Object(m)) = get_mut(doc, grand)
            {
                m.shift_remove(k);
            }
        }
        _ => return Err("the element's container has an unexpected shape".into()),
    }
    Ok(())
}

/// Whether `name` under the element at `trail` repeats (R4 definitions; unknown → single).
fn is_repeating(doc: &Value, trail: &[Seg], name: &str) -> bool {
    let Some(rt) = doc.get("resourceType").and_then(Value::as_str) else {
        return false;
    };
    let mut path: Vec<&str> = trail
        .iter()
        .filter_map(|s| match s {
            Seg::Key(k) => Some(k.as_str()),
            Seg::Index(_) => None,
        })
        .collect();
    path.push(name);
    Model::r4()
        .element(rt, &path.join("."))
        .is_some_and(|e| e.max_many)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn op(parts: Value) -> Value {
        json!({"name": "operation", "part": parts})
    }

    #[test]
    fn operations_apply() {
        let p = json!({"resourceType": "Patient", "birthDate": "1970-01-01",
            "name": [{"family": "A"}, {"family": "B"}, {"family": "C"}], "active": true});
        let params = json!({"resourceType": "Parameters", "parameter": [
            op(json!([{"name": "type", "valueCode": "replace"}, {"name": "path", "valueString": "Patient.birthDate"}, {"name": "value", "valueDate": "1980-02-02"}])),
            op(json!([{"name": "type", "valueCode": "delete"}, {"name": "path", "valueString": "Patient.active"}])),
            op(json!([{"name": "type", "valueCode": "add"}, {"name": "path", "valueString": "Patient"}, {"name": "name", "valueString": "identifier"},
                {"name": "value", "part": [{"name": "system", "valueUri": "urn:s"}, {"name": "value", "valueString": "1"}]}])),
            op(json!([{"name": "type", "valueCode": "insert"}, {"name": "path", "valueString": "Patient.name"}, {"name": "index", "valueInteger": 0},
                {"name": "value", "valueHumanName": {"family": "Z"}}])),
            op(json!([{"name": "type", "valueCode": "move"}, {"name": "path", "valueString": "Patient.name"}, {"name": "source", "valueInteger": 3}, {"name": "destination", "valueInteger": 1}])),
            op(json!([{"name": "type", "valueCode": "delete"}, {"name": "path", "valueString": "Patient.name.where(family = 'B')"}])),
        ]});
        let out = apply(&p, &params).unwrap();
        assert_eq!(
            out,
            json!({"resourceType": "Patient", "birthDate": "1980-02-02",
                "name": [{"family": "Z"}, {"family": "C"}, {"family": "A"}],
                "identifier": [{"system": "urn:s", "value": "1"}]})
        );
        let bad_replace = json!({"resourceType": "Parameters", "parameter": [
            op(json!([{"name": "type", "valueCode": "replace"}, {"name": "path", "valueString": "Patient.name"}, {"name": "value", "valueString": "x"}]))]});
        assert!(matches!(
            apply(&p, &bad_replace),
            Err(Error::Unprocessable(_))
        ));
        let bad_type = json!({"resourceType": "Parameters", "parameter": [
            op(json!([{"name": "type", "valueCode": "frob"}, {"name": "path", "valueString": "Patient"}]))]});
        assert!(matches!(check(&bad_type), Err(Error::Invalid(_))));
    }
}
