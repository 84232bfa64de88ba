//! Bundles written as text around the stored resource bytes, so resources are embedded exactly as
//! stored (no re-parse, no re-serialisation, decimals untouched).

use serde_json::{Map, Value};

pub struct Link {
    pub relation: &'static str,
    pub url: String,
}

#[derive(Default)]
pub struct Entry {
    pub full_url: Option<String>,
    /// Stored resource JSON, embedded verbatim.
    pub resource: Option<Vec<u8>>,
    pub search_mode: Option<&'static str>,
    pub request: Option<Value>,
    pub response: Option<Value>,
}

pub fn render(
    bundle_type: &str,
    total: Option<i64>,
    links: &[Link],
    entries: &[Entry],
    now: &str,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        256 + entries
            .iter()
            .map(|e| e.resource.as_ref().map_or(64, Vec::len) + 128)
            .sum::<usize>(),
    );
    out.extend_from_slice(br#"{"resourceType":"Bundle","id":"#);
    push_json(&mut out, &Value::String(uuid::Uuid::new_v4().to_string()));
    out.extend_from_slice(br#","meta":{"lastUpdated":"#);
    push_json(&mut out, &Value::String(now.to_string()));
    out.extend_from_slice(br#"},"type":"#);
    push_json(&mut out, &Value::String(bundle_type.to_string()));
    if let Some(total) = total {
        out.extend_from_slice(format!(r#","total":{total}"#).as_bytes());
    }
    if !links.is_empty() {
        out.extend_from_slice(br#","link":["#);
        for (i, l) in links.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let mut m = Map::new();
            m.insert("relation".into(), Value::String(l.relation.into()));
            m.insert("url".into(), Value::String(l.url.clone()));
            push_json(&mut out, &Value::Object(m));
        }
        out.push(b']');
    }
    if !entries.is_empty() {
        out.extend_from_slice(br#","entry":["#);
        for (i, e) in entries.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            push_entry(&mut out, e);
        }
        out.push(b']');
    }
    out.push(b'}');
    out
}

fn push_entry(out: &mut Vec<u8>, e: &Entry) {
    out.push(b'{');
    let mut first = true;
    let mut key = |out: &mut Vec<u8>, k: &str| {
        if !first {
            out.push(b',');
        }
        first = false;
        out.extend_from_slice(format!("\"{k}\":").as_bytes());
    };
    if let Some(u) = &e.full_url {
        key(out, "fullUrl");
        push_json(out, &Value::String(u.clone()));
    }
    if let Some(r) = &e.resource {
        key(out, "resource");
        out.extend_from_slice(r);
    }
    if let Some(mode) = e.search_mode {
        key(out, "search");
        out.extend_from_slice(format!(r#"{{"mode":"{mode}"}}"#).as_bytes());
    }
    if let Some(r) = &e.request {
        key(out, "request");
        push_json(out, r);
    }
    if let Some(r) = &e.response {
        key(out, "response");
        push_json(out, r);
    }
    out.push(b'}');
}

fn push_json(out: &mut Vec<u8>, v: &Value) {
    // Serialising a Value into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, v);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_valid_json_with_raw_resources() {
        let entries = vec![Entry {
            full_url: Some("http://x/fhir/Observation/1".into()),
            resource: Some(
                br#"{"resourceType":"Observation","valueQuantity":{"value":0.700}}"#.to_vec(),
            ),
            search_mode: Some("match"),
            ..Entry::default()
        }];
        let links = [Link {
            relation: "self",
            url: "http://x/fhir/Observation".into(),
        }];
        let bytes = render(
            "searchset",
            Some(1),
            &links,
            &entries,
            "2026-01-01T00:00:00.000Z",
        );
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.contains(r#""value":0.700"#), "{text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["total"], 1);
        assert_eq!(v["entry"][0]["search"]["mode"], "match");
        assert_eq!(v["link"][0]["relation"], "self");
    }
}
