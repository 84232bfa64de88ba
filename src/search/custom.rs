//! SearchParameters defined through the API: turned into the same `SearchParam` the R4 registry
//! holds, with their reindex state. They live in the database (per server, never in a global), and
//! parsed expressions are cached by their text.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use hms_fhirpath::Expr;
use serde_json::Value;

use crate::error::Error;
use crate::store::custom_params::CustomRow;

use super::registry::{Kind, Registry, SearchParam};

#[derive(Debug, Clone)]
pub struct Custom {
    pub param: Arc<SearchParam>,
    pub bases: Vec<String>,
    /// pending | reindexing | active
    pub status: String,
    pub done: i64,
    pub total: i64,
}

impl Custom {
    pub fn applies_to(&self, resource_type: &str) -> bool {
        self.bases.iter().any(|b| b == resource_type)
    }

    pub fn is_complete(&self) -> bool {
        self.status == "active"
    }
}

fn parse_cached(expr: &str) -> Option<Expr> {
    static CACHE: OnceLock<Mutex<HashMap<String, Expr>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Ok(c) = cache.lock()
        && let Some(e) = c.get(expr)
    {
        return Some(e.clone());
    }
    let parsed = hms_fhirpath::parse(expr).ok()?;
    if let Ok(mut c) = cache.lock() {
        c.insert(expr.to_string(), parsed.clone());
    }
    Some(parsed)
}

pub fn from_rows(rows: Vec<CustomRow>) -> Vec<Custom> {
    rows.into_iter()
        .filter_map(|r| {
            let kind = Kind::parse(&r.kind)?;
            let expression = parse_cached(&r.expression)?;
            Some(Custom {
                param: Arc::new(SearchParam {
                    code: r.code,
                    url: r.url,
                    kind,
                    expression,
                    expression_text: r.expression,
                    targets: Vec::new(),
                    components: Vec::new(),
                }),
                bases: r.bases.split(',').map(str::to_string).collect(),
                status: r.status,
                done: r.done,
                total: r.total,
            })
        })
        .collect()
}

fn invalid(path: &str, msg: impl Into<String>) -> Error {
    Error::invalid(Some(path), msg)
}

/// The registration row for a SearchParameter resource, or None when it should not be searchable
/// (status retired or draft). Refuses definitions we cannot run, naming the element.
pub fn registration(sp: &Value, res_id: &str) -> Result<Option<CustomRow>, Error> {
    let status = sp.get("status").and_then(Value::as_str).unwrap_or("active");
    if status != "active" {
        return Ok(None);
    }
    let s = |k: &str| sp.get(k).and_then(Value::as_str);
    let url = s("url").ok_or_else(|| {
        invalid(
            "SearchParameter.url",
            "a searchable SearchParameter needs a url",
        )
    })?;
    let code = s("code").ok_or_else(|| invalid("SearchParameter.code", "code is required"))?;
    if code.starts_with('_')
        || !code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(invalid(
            "SearchParameter.code",
            format!("code {code:?} must be letters, digits and '-' and not start with '_'"),
        ));
    }
    let kind_text = s("type").unwrap_or_default();
    let kind =
        Kind::parse(kind_text).ok_or_else(|| invalid("SearchParameter.type", "unknown type"))?;
    if matches!(kind, Kind::Composite | Kind::Special) {
        return Err(Error::Unprocessable(vec![crate::error::issue(
            hms_fhir::outcome::Severity::Error,
            "not-supported",
            Some("SearchParameter.type"),
            format!("custom {kind_text} search parameters are not supported"),
        )]));
    }
    let expression = s("expression")
        .ok_or_else(|| invalid("SearchParameter.expression", "an expression is required"))?;
    hms_fhirpath::parse(expression).map_err(|e| {
        invalid(
            "SearchParameter.expression",
            format!("the FHIRPath expression does not parse: {e}"),
        )
    })?;
    let bases: Vec<String> = sp["base"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    if bases.is_empty() {
        return Err(invalid(
            "SearchParameter.base",
            "at least one base resource type is required",
        ));
    }
    for b in &bases {
        if let Some(existing) = Registry::r4().get(b, code)
            && existing.url != url
        {
            return Err(invalid(
                "SearchParameter.code",
                format!(
                    "{b} already has a search parameter {code:?} ({})",
                    existing.url
                ),
            ));
        }
    }
    Ok(Some(CustomRow {
        url: url.to_string(),
        res_id: res_id.to_string(),
        code: code.to_string(),
        bases: bases.join(","),
        kind: kind_text.to_string(),
        expression: expression.to_string(),
        status: "pending".into(),
        done_rid: 0,
        done: 0,
        total: 0,
    }))
}
