//! Locating result nodes in the input (for FHIRPath Patch, which must edit the
//! element a path selected).

use serde_json::Value;

/// The RFC 6901 JSON Pointer of `target` inside `root`, found by identity
/// (`target` must borrow from `root`, as [`crate::Node::value`] does).
/// Returns None when `target` is not inside `root` (e.g. a literal or the
/// shared null used for extension-only primitives).
pub fn json_pointer(root: &Value, target: &Value) -> Option<String> {
    let mut path = Vec::new();
    if find(root, target, &mut path) {
        Some(path.iter().map(|seg| format!("/{}", escape(seg))).collect())
    } else {
        None
    }
}

fn find(node: &Value, target: &Value, path: &mut Vec<String>) -> bool {
    if std::ptr::eq(node, target) {
        return true;
    }
    // Iterative over siblings, recursive over depth (bounded by serde_json's parse limit).
    match node {
        Value::Object(m) => {
            for (k, v) in m {
                path.push(k.clone());
                if find(v, target, path) {
                    return true;
                }
                path.pop();
            }
        }
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                path.push(i.to_string());
                if find(v, target, path) {
                    return true;
                }
                path.pop();
            }
        }
        _ => {}
    }
    false
}

fn escape(seg: &str) -> String {
    seg.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EvalContext, evaluate, parse};

    #[test]
    fn pointer_of_selected_node() {
        let p = serde_json::json!({"resourceType": "Patient", "name": [{"given": ["a"]}, {"given": ["b", "c"]}]});
        let e = parse("Patient.name.given.where($this = 'c')").unwrap();
        let out = evaluate(&e, &p, &EvalContext::new(&p)).unwrap();
        let node = out[0].as_node().unwrap();
        assert_eq!(
            json_pointer(&p, node.value).as_deref(),
            Some("/name/1/given/1")
        );
        assert_eq!(json_pointer(&p, &p).as_deref(), Some(""));
        assert_eq!(json_pointer(&p, &Value::Null), None);
    }
}
