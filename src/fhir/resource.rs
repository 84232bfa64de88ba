//! What the server does to a client's resource: set id and meta.versionId/lastUpdated, nothing else.

use serde_json::{Map, Value};

/// Returns the resource with `id`, `meta.versionId` and `meta.lastUpdated` set, every other element
/// (and its order) kept as the client sent it. `meta` is placed after `id` when it is new.
pub fn stamp(resource: Value, id: &str, version: i64, last_updated: &str) -> Value {
    let Value::Object(fields) = resource else {
        return resource;
    };
    let mut out = Map::with_capacity(fields.len() + 2);
    let mut meta: Option<Map<String, Value>> = None;
    let mut rest = Vec::with_capacity(fields.len());
    for (k, v) in fields {
        match k.as_str() {
            "id" => {}
            "meta" => {
                meta = Some(if let Value::Object(m) = v {
                    m
                } else {
                    Map::new()
                })
            }
            _ => rest.push((k, v)),
        }
    }
    let mut meta = meta.unwrap_or_default();
    meta.insert("versionId".into(), Value::String(version.to_string()));
    meta.insert(
        "lastUpdated".into(),
        Value::String(last_updated.to_string()),
    );
    let mut rest = rest.into_iter();
    if let Some((k, v)) = rest.next() {
        // resourceType stays first by convention.
        if k == "resourceType" {
            out.insert(k, v);
        } else {
            out.insert("resourceType".into(), Value::Null);
            out.insert(k, v);
        }
    }
    out.insert("id".into(), Value::String(id.to_string()));
    out.insert("meta".into(), Value::Object(meta));
    out.extend(rest);
    if out.get("resourceType").is_some_and(Value::is_null) {
        out.remove("resourceType");
    }
    Value::Object(out)
}

/// The resource without the server-owned fields, for "is this update a no-op?" comparisons.
pub fn without_server_fields(resource: &Value) -> Value {
    let mut v = resource.clone();
    if let Some(obj) = v.as_object_mut() {
        obj.remove("id");
        let empty_meta = match obj.get_mut("meta").and_then(Value::as_object_mut) {
            Some(meta) => {
                meta.remove("versionId");
                meta.remove("lastUpdated");
                meta.is_empty()
            }
            None => false,
        };
        if empty_meta {
            obj.remove("meta");
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stamp_keeps_everything_else() {
        let v: Value = serde_json::from_str(
            r#"{"resourceType":"Observation","id":"old","meta":{"tag":[{"code":"x"}],"versionId":"9"},"valueQuantity":{"value":0.700},"_status":{"extension":[]}}"#,
        )
        .unwrap();
        let s = serde_json::to_string(&stamp(v, "o1", 2, "2026-01-01T00:00:00.000Z")).unwrap();
        assert_eq!(
            s,
            r#"{"resourceType":"Observation","id":"o1","meta":{"tag":[{"code":"x"}],"versionId":"2","lastUpdated":"2026-01-01T00:00:00.000Z"},"valueQuantity":{"value":0.700},"_status":{"extension":[]}}"#
        );
    }

    #[test]
    fn stamp_adds_meta_after_id() {
        let s = serde_json::to_string(&stamp(
            json!({"resourceType":"Patient","active":true}),
            "p",
            1,
            "t",
        ))
        .unwrap();
        assert_eq!(
            s,
            r#"{"resourceType":"Patient","id":"p","meta":{"versionId":"1","lastUpdated":"t"},"active":true}"#
        );
    }

    #[test]
    fn server_fields_removed_for_comparison() {
        let a = json!({"resourceType":"Patient","id":"p","meta":{"versionId":"1","lastUpdated":"t"},"active":true});
        let b = json!({"resourceType":"Patient","active":true});
        assert_eq!(without_server_fields(&a), b);
    }
}
