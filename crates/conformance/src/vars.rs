//! `${name}` substitution in strings and in fixture bodies.

use serde_json::Value;

/// Replaces every `${name}` in `s` using `lookup`. Text without `${` is returned as is;
/// an unterminated `${` is kept literally.
pub fn substitute(
    s: &str,
    lookup: &mut dyn FnMut(&str) -> Result<String, String>,
) -> Result<String, String> {
    if !s.contains("${") {
        return Ok(s.to_string());
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) => {
                let name = &after[..end];
                out.push_str(&lookup(name)?);
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Substitutes inside every string of a JSON tree (object keys are left alone).
pub fn substitute_json(
    v: &Value,
    lookup: &mut dyn FnMut(&str) -> Result<String, String>,
) -> Result<Value, String> {
    Ok(match v {
        Value::String(s) => Value::String(substitute(s, lookup)?),
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| substitute_json(x, lookup))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(m) => {
            let mut out = serde_json::Map::new();
            for (k, x) in m {
                out.insert(k.clone(), substitute_json(x, lookup)?);
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutes() {
        let mut f = |n: &str| match n {
            "a" => Ok("1".to_string()),
            other => Err(format!("undefined {other}")),
        };
        assert_eq!(
            substitute("/x/${a}?q=${a}", &mut f).as_deref(),
            Ok("/x/1?q=1")
        );
        assert_eq!(substitute("no vars", &mut f).as_deref(), Ok("no vars"));
        assert_eq!(substitute("open ${a", &mut f).as_deref(), Ok("open ${a"));
        assert!(substitute("${b}", &mut f).is_err());
    }
}
