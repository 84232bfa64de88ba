//! Index values taken from a resource when it is written.

use serde_json::Value;

use crate::store::index::TokenRow;

/// Token rows for `identifier` (system|value of every Identifier at the top level).
pub fn tokens(resource: &Value) -> Vec<TokenRow> {
    let mut rows = Vec::new();
    let idents = match resource.get("identifier") {
        Some(Value::Array(a)) => a.iter().collect::<Vec<_>>(),
        Some(v @ Value::Object(_)) => vec![v],
        _ => Vec::new(),
    };
    for ident in idents {
        if let Some(value) = ident.get("value").and_then(Value::as_str) {
            let row = TokenRow {
                param: "identifier".into(),
                system: ident
                    .get("system")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                code: value.to_string(),
            };
            if !rows.contains(&row) {
                rows.push(row);
            }
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn identifiers_become_tokens() {
        let p = json!({"resourceType":"Patient","identifier":[{"system":"urn:s","value":"1"},{"value":"2"},{"system":"urn:s","value":"1"}]});
        assert_eq!(
            tokens(&p),
            vec![
                TokenRow {
                    param: "identifier".into(),
                    system: Some("urn:s".into()),
                    code: "1".into()
                },
                TokenRow {
                    param: "identifier".into(),
                    system: None,
                    code: "2".into()
                },
            ]
        );
    }
}
