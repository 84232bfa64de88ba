//! Reference strings inside resources: finding every `reference` element (extensions, contained,
//! nested backbone elements included) and classifying / rewriting them.

use serde_json::Value;

/// Calls `f` on every `reference` string anywhere in `v`, letting it replace the text.
pub fn rewrite(v: &mut Value, f: &mut dyn FnMut(&str) -> Option<String>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                if k == "reference"
                    && let Value::String(s) = child
                {
                    if let Some(new) = f(s) {
                        *s = new;
                    }
                    continue;
                }
                rewrite(child, f);
            }
        }
        Value::Array(items) => {
            for child in items {
                rewrite(child, f);
            }
        }
        _ => {}
    }
}

/// Every `reference` string anywhere in `v` (in document order, duplicates kept).
pub fn collect(v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    visit(v, &mut |s| out.push(s.to_string()));
    out
}

/// Calls `f` on every `reference` string anywhere in `v`.
pub fn visit(v: &Value, f: &mut dyn FnMut(&str)) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                if k == "reference"
                    && let Value::String(s) = child
                {
                    f(s);
                    continue;
                }
                visit(child, f);
            }
        }
        Value::Array(items) => {
            for child in items {
                visit(child, f);
            }
        }
        _ => {}
    }
}

/// What a reference string points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target<'a> {
    /// `#id`: a contained resource (never rewritten).
    Contained,
    /// `urn:uuid:...` or `urn:oid:...`: only meaningful as a Bundle entry fullUrl.
    Urn,
    /// `Type?criteria`: a conditional reference.
    Conditional { res_type: &'a str, query: &'a str },
    /// `Type/id` (optionally `/_history/v`), relative to the server base.
    Relative { res_type: &'a str, id: &'a str },
    /// Any other absolute URL (another server, a canonical).
    External,
}

pub fn classify(reference: &str) -> Target<'_> {
    if reference.starts_with('#') {
        return Target::Contained;
    }
    if reference.starts_with("urn:uuid:") || reference.starts_with("urn:oid:") {
        return Target::Urn;
    }
    if let Some((t, q)) = reference.split_once('?')
        && is_type_name(t)
    {
        return Target::Conditional {
            res_type: t,
            query: q,
        };
    }
    let mut parts = reference.split('/');
    if let (Some(t), Some(id)) = (parts.next(), parts.next())
        && is_type_name(t)
        && crate::fhir::ids::is_valid_id(id)
    {
        let rest: Vec<&str> = parts.collect();
        if rest.is_empty() || (rest.len() == 2 && rest[0] == "_history") {
            return Target::Relative { res_type: t, id };
        }
    }
    Target::External
}

fn is_type_name(t: &str) -> bool {
    t.starts_with(|c: char| c.is_ascii_uppercase()) && t.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// For an absolute RESTful URL `{base}/Type/id[/_history/v]`, the `Type/id` part and the base.
pub fn split_absolute(url: &str) -> Option<(&str, &str, &str)> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return None;
    }
    let trimmed = url.split("/_history/").next().unwrap_or(url);
    let (rest, id) = trimmed.rsplit_once('/')?;
    let (base, t) = rest.rsplit_once('/')?;
    if is_type_name(t) && crate::fhir::ids::is_valid_id(id) {
        Some((base, t, id))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn walks_everything() {
        let mut v = json!({
            "resourceType": "Observation",
            "subject": {"reference": "urn:uuid:1"},
            "extension": [{"url": "x", "valueReference": {"reference": "urn:uuid:2"}}],
            "contained": [{"resourceType": "Patient", "generalPractitioner": [{"reference": "urn:uuid:3"}]}],
            "component": [{"valueString": "reference"}],
            "note": [{"text": "#c"}],
            "focus": [{"reference": "#c"}]
        });
        assert_eq!(
            collect(&v),
            vec!["urn:uuid:1", "urn:uuid:2", "urn:uuid:3", "#c"]
        );
        rewrite(&mut v, &mut |s| {
            s.strip_prefix("urn:uuid:").map(|n| format!("Patient/{n}"))
        });
        assert_eq!(v["subject"]["reference"], "Patient/1");
        assert_eq!(
            v["extension"][0]["valueReference"]["reference"],
            "Patient/2"
        );
        assert_eq!(
            v["contained"][0]["generalPractitioner"][0]["reference"],
            "Patient/3"
        );
        assert_eq!(v["focus"][0]["reference"], "#c");
    }

    #[test]
    fn classifies() {
        assert_eq!(classify("#x"), Target::Contained);
        assert_eq!(classify("urn:oid:1.2.3"), Target::Urn);
        assert_eq!(
            classify("Practitioner?identifier=a|b"),
            Target::Conditional {
                res_type: "Practitioner",
                query: "identifier=a|b"
            }
        );
        assert_eq!(
            classify("Patient/p1/_history/2"),
            Target::Relative {
                res_type: "Patient",
                id: "p1"
            }
        );
        assert_eq!(classify("http://other/fhir/Patient/1"), Target::External);
        assert_eq!(
            split_absolute("http://h/fhir/Patient/1/_history/3"),
            Some(("http://h/fhir", "Patient", "1"))
        );
    }
}
