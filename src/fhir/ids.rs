//! Resource types and logical ids, validated once at the edge.

use hms_fhir::model::Model;

use crate::error::Error;

/// A concrete R4 resource type name (e.g. `Patient`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResourceType(String);

impl ResourceType {
    pub fn parse(name: &str) -> Result<ResourceType, Error> {
        if Model::r4().is_resource_type(name) {
            Ok(ResourceType(name.to_string()))
        } else {
            Err(Error::NotFound(format!("unknown resource type {name:?}")))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ResourceType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A logical id: 1 to 64 of `A-Z a-z 0-9 - .` (R4 `id` datatype).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LogicalId(String);

impl LogicalId {
    pub fn parse(id: &str) -> Result<LogicalId, Error> {
        if is_valid_id(id) {
            Ok(LogicalId(id.to_string()))
        } else {
            Err(Error::invalid(
                None,
                format!(
                    "invalid resource id {:?}: 1-64 characters of A-Z, a-z, 0-9, '-' and '.'",
                    truncate(id, 80)
                ),
            ))
        }
    }

    pub fn generate() -> LogicalId {
        LogicalId(uuid::Uuid::new_v4().to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for LogicalId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// Parses a version id as in `_history/3` or an ETag `W/"3"`.
pub fn parse_version(s: &str) -> Option<i64> {
    let s = s.trim();
    let s = s.strip_prefix("W/").unwrap_or(s);
    let s = s.trim_matches('"');
    s.parse::<i64>().ok().filter(|v| *v > 0)
}

pub fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(is_valid_id("example"));
        assert!(is_valid_id("a.b-C9"));
        assert!(!is_valid_id(""));
        assert!(!is_valid_id("a b"));
        assert!(!is_valid_id("a_b"));
        assert!(!is_valid_id(&"x".repeat(65)));
        assert!(is_valid_id(&"x".repeat(64)));
    }

    #[test]
    fn versions() {
        assert_eq!(parse_version("W/\"3\""), Some(3));
        assert_eq!(parse_version("\"12\""), Some(12));
        assert_eq!(parse_version("7"), Some(7));
        assert_eq!(parse_version("W/\"0\""), None);
        assert_eq!(parse_version("abc"), None);
    }
}
