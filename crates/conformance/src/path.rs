//! `path` / `compareToSourcePath` / `variable.path`: a small, explicit subset of XPath
//! and JSONPath translated to FHIRPath. Anything else is an error naming the path.
//!
//! Supported:
//! - XPath steps over the FHIR namespace: `fhir:Patient/fhir:name/fhir:family/@value`,
//!   optional leading `/`, positional predicates `[1]` (1-based), final `@value`;
//!   also without prefixes: `Patient/id`.
//! - JSONPath: `$.name[0].family`, `$['name'][0]`, `[*]` (all items).
//! - Plain dotted paths (`Patient.name.family`) are passed through as FHIRPath.

/// Translates a path to a FHIRPath expression.
pub fn to_fhirpath(path: &str) -> Result<String, String> {
    let p = path.trim();
    if p.is_empty() {
        return Err("empty path".into());
    }
    if let Some(rest) = p.strip_prefix('$') {
        return jsonpath(rest, path);
    }
    if p.contains('/') || p.contains("fhir:") || p.contains('@') {
        return xpath(p, path);
    }
    // Dotted names with optional [n] indexes.
    let mut steps = Vec::new();
    for seg in p.split('.') {
        steps.push(step_with_index(seg, path, 0, "path")?);
    }
    Ok(steps.join("."))
}

fn unsupported(kind: &str, path: &str) -> String {
    format!(
        "{kind} '{path}' is not supported (only simple element steps with numeric \
         indexes are translated; use an expression instead)"
    )
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `name` or `name[n]`; `offset` is subtracted from n (1 for XPath).
fn step_with_index(seg: &str, path: &str, offset: i64, kind: &str) -> Result<String, String> {
    let (name, index) = match seg.find('[') {
        None => (seg, None),
        Some(i) => {
            let idx = seg[i..]
                .strip_prefix('[')
                .and_then(|s| s.strip_suffix(']'))
                .ok_or_else(|| unsupported(kind, path))?;
            if idx == "*" {
                (&seg[..i], None)
            } else {
                let n: i64 = idx.trim().parse().map_err(|_| unsupported(kind, path))?;
                if n - offset < 0 {
                    return Err(unsupported(kind, path));
                }
                (&seg[..i], Some(n - offset))
            }
        }
    };
    if !is_name(name) {
        return Err(unsupported(kind, path));
    }
    Ok(match index {
        Some(n) => format!("{name}[{n}]"),
        None => name.to_string(),
    })
}

fn xpath(p: &str, path: &str) -> Result<String, String> {
    if p.contains("//") || p.contains("::") || p.contains('(') {
        return Err(unsupported("XPath", path));
    }
    let body = p.strip_prefix('/').unwrap_or(p);
    let segs: Vec<&str> = body.split('/').collect();
    let mut steps = Vec::new();
    for (i, seg) in segs.iter().enumerate() {
        if *seg == "@value" && i + 1 == segs.len() && i > 0 {
            continue;
        }
        let s = seg.strip_prefix("fhir:").unwrap_or(seg);
        steps.push(step_with_index(s, path, 1, "XPath")?);
    }
    if steps.is_empty() {
        return Err(unsupported("XPath", path));
    }
    Ok(steps.join("."))
}

fn jsonpath(rest: &str, path: &str) -> Result<String, String> {
    // Normalise ['name'] to .name
    let mut norm = String::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '[' && matches!(chars.peek(), Some('\'') | Some('"')) {
            let quote = chars.next().unwrap_or('\'');
            let mut name = String::new();
            for d in chars.by_ref() {
                if d == quote {
                    break;
                }
                name.push(d);
            }
            if chars.next() != Some(']') {
                return Err(unsupported("JSONPath", path));
            }
            norm.push('.');
            norm.push_str(&name);
        } else {
            norm.push(c);
        }
    }
    if norm.contains("..") || norm.contains('?') || norm.contains('(') || norm.contains(':') {
        return Err(unsupported("JSONPath", path));
    }
    let body = norm.strip_prefix('.').unwrap_or(&norm);
    if body.is_empty() {
        return Ok("$this".into());
    }
    let mut steps = Vec::new();
    for seg in body.split('.') {
        steps.push(step_with_index(seg, path, 0, "JSONPath")?);
    }
    Ok(steps.join("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xpath_subset() {
        assert_eq!(
            to_fhirpath("fhir:Patient/fhir:name/fhir:family/@value").as_deref(),
            Ok("Patient.name.family")
        );
        assert_eq!(to_fhirpath("Patient/id").as_deref(), Ok("Patient.id"));
        assert_eq!(
            to_fhirpath("/fhir:Bundle/fhir:entry[1]/fhir:resource").as_deref(),
            Ok("Bundle.entry[0].resource")
        );
        assert!(to_fhirpath("//fhir:name[@use='official']").is_err());
        assert!(to_fhirpath("fhir:Patient/fhir:name[fhir:use/@value='x']").is_err());
        assert!(to_fhirpath("count(fhir:Bundle/fhir:entry)").is_err());
    }

    #[test]
    fn jsonpath_subset() {
        assert_eq!(
            to_fhirpath("$.name[0].family").as_deref(),
            Ok("name[0].family")
        );
        assert_eq!(
            to_fhirpath("$['name'][*].given").as_deref(),
            Ok("name.given")
        );
        assert!(to_fhirpath("$..family").is_err());
        assert!(to_fhirpath("$.name[?(@.use=='official')]").is_err());
        assert_eq!(to_fhirpath("name.family").as_deref(), Ok("name.family"));
    }
}
