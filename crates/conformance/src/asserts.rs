//! Assert evaluation.

use hms_fhirpath::{EvalContext, Item};
use serde_json::Value;

use crate::http::{self, Exchange};
use crate::model::Assert;
use crate::path;
use crate::runner::{Check, Runner, Source, SourceOwned, source_body};

/// HTTP status for a TestScript `response` code.
fn response_status(code: &str) -> Option<u16> {
    Some(match code {
        "okay" => 200,
        "created" => 201,
        "noContent" => 204,
        "notModified" => 304,
        "bad" => 400,
        "forbidden" => 403,
        "notFound" => 404,
        "methodNotAllowed" => 405,
        "conflict" => 409,
        "gone" => 410,
        "preconditionFailed" => 412,
        "unprocessable" => 422,
        _ => return None,
    })
}

/// Text form of a FHIRPath item (strings unquoted, numbers as written, objects as JSON).
fn item_text(item: &Item<'_>) -> String {
    match item.to_json() {
        Value::String(s) => s,
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => other.to_string(),
    }
}

/// Parses and evaluates `expr` over `body`.
pub(crate) fn eval_items(expr: &str, body: &Value) -> Result<Vec<Value>, String> {
    let parsed = hms_fhirpath::parse(expr).map_err(|e| format!("expression '{expr}': {e}"))?;
    let ctx = EvalContext::new(body);
    let items = hms_fhirpath::evaluate(&parsed, body, &ctx)
        .map_err(|e| format!("expression '{expr}': {e}"))?;
    Ok(items.iter().map(Item::to_json).collect())
}

/// Evaluates `expr` and returns each item's text.
pub(crate) fn eval_texts(expr: &str, body: &Value) -> Result<Vec<String>, String> {
    let parsed = hms_fhirpath::parse(expr).map_err(|e| format!("expression '{expr}': {e}"))?;
    let ctx = EvalContext::new(body);
    let items = hms_fhirpath::evaluate(&parsed, body, &ctx)
        .map_err(|e| format!("expression '{expr}': {e}"))?;
    Ok(items.iter().map(item_text).collect())
}

fn eval_bool(expr: &str, body: &Value) -> Result<Option<bool>, String> {
    let parsed = hms_fhirpath::parse(expr).map_err(|e| format!("expression '{expr}': {e}"))?;
    let ctx = EvalContext::new(body);
    hms_fhirpath::evaluate_to_bool(&parsed, body, &ctx)
        .map_err(|e| format!("expression '{expr}': {e}"))
}

/// Applies `operator` (default equals) to an actual and an expected value.
/// `actual` None means "absent". Err for an unknown operator or a missing value.
pub(crate) fn compare(
    operator: Option<&str>,
    actual: Option<&str>,
    expected: Option<&str>,
) -> Result<bool, String> {
    let op = operator.unwrap_or("equals");
    let need = || expected.ok_or_else(|| format!("operator '{op}' needs assert.value"));
    Ok(match op {
        "empty" => actual.is_none_or(str::is_empty),
        "notEmpty" => actual.is_some_and(|a| !a.is_empty()),
        "equals" => actual == Some(need()?),
        "notEquals" => actual != Some(need()?),
        "in" => {
            let e = need()?;
            actual.is_some_and(|a| e.split(',').any(|x| x.trim() == a))
        }
        "notIn" => {
            let e = need()?;
            !actual.is_some_and(|a| e.split(',').any(|x| x.trim() == a))
        }
        "contains" => actual.is_some_and(|a| need().is_ok_and(|e| a.contains(e))) && need().is_ok(),
        "notContains" => {
            let e = need()?;
            !actual.is_some_and(|a| a.contains(e))
        }
        "greaterThan" | "lessThan" => {
            let e = need()?;
            let Some(a) = actual else { return Ok(false) };
            let ord = match (a.trim().parse::<f64>(), e.trim().parse::<f64>()) {
                (Ok(x), Ok(y)) => x.partial_cmp(&y),
                _ => Some(a.cmp(e)),
            };
            match ord {
                Some(std::cmp::Ordering::Greater) => op == "greaterThan",
                Some(std::cmp::Ordering::Less) => op == "lessThan",
                _ => false,
            }
        }
        other => return Err(format!("assert.operator '{other}' is not supported")),
    })
}

fn describe_op(operator: Option<&str>, expected: Option<&str>) -> String {
    let op = operator.unwrap_or("equals");
    match expected {
        Some(e) if !matches!(op, "empty" | "notEmpty") => format!("{op} '{e}'"),
        _ => op.to_string(),
    }
}

fn show(actual: Option<&str>) -> String {
    match actual {
        Some(a) => format!("'{a}'"),
        None => "nothing".into(),
    }
}

/// Returns the first path where `min` is not contained in `actual`.
fn missing(min: &Value, actual: &Value, at: &str) -> Option<String> {
    match (min, actual) {
        (Value::Object(m), Value::Object(a)) => {
            for (k, v) in m {
                if at.is_empty() && (k == "id" || k == "meta" || k == "text") {
                    continue;
                }
                let here = if at.is_empty() {
                    k.clone()
                } else {
                    format!("{at}.{k}")
                };
                match a.get(k) {
                    None => return Some(here),
                    Some(x) => {
                        if let Some(p) = missing(v, x, &here) {
                            return Some(p);
                        }
                    }
                }
            }
            None
        }
        (Value::Array(m), Value::Array(a)) => {
            for (i, v) in m.iter().enumerate() {
                if !a.iter().any(|x| missing(v, x, "").is_none()) {
                    return Some(format!("{at}[{i}]"));
                }
            }
            None
        }
        (Value::Array(m), x) if m.len() == 1 => missing(&m[0], x, at),
        (Value::Number(x), Value::Number(y)) => {
            (x.to_string() != y.to_string()).then(|| at.to_string())
        }
        (m, a) => (m != a).then(|| at.to_string()),
    }
}

impl Runner<'_> {
    /// Evaluates one assert.
    pub(crate) fn assert(&self, a: &Assert) -> Check {
        if let Some(k) = a.unknown.first() {
            return Check::Error(format!("assert.{k} is not a TestScript assert element"));
        }
        if let Some(p) = &a.validate_profile_id {
            return Check::Error(format!(
                "assert.validateProfileId ('{p}') is not supported (no profile validation)"
            ));
        }
        let direction = a.direction.as_deref().unwrap_or("response");
        if direction != "response" && direction != "request" {
            return Check::Error(format!("assert.direction '{direction}' is not valid"));
        }
        let value = match a.value.as_deref().map(|v| self.sub_assert(v)).transpose() {
            Ok(v) => v,
            Err(e) => return Check::Error(format!("assert.value: {e}")),
        };
        let value = value.as_deref();
        let mut checks: Vec<Check> = Vec::new();
        if let Some(r) = &a.response {
            checks.push(self.with_exchange(a, |x| match response_status(r) {
                None => Check::Error(format!(
                    "assert.response '{r}' is not a known response code"
                )),
                Some(s) if s == x.response.status => Check::Pass(format!("response {r} ({s})")),
                Some(s) => Check::Fail(format!(
                    "expected response {r} ({s}) but got HTTP {}",
                    x.response.status
                )),
            }));
        }
        if let Some(code) = &a.response_code {
            let op = a.operator.as_deref();
            checks.push(self.with_exchange(a, |x| {
                let got = x.response.status.to_string();
                match compare(op, Some(&got), Some(code)) {
                    Ok(true) => Check::Pass(format!(
                        "responseCode {got} {}",
                        describe_op(op, Some(code))
                    )),
                    Ok(false) => Check::Fail(format!(
                        "expected responseCode {} but got {got}",
                        describe_op(op, Some(code))
                    )),
                    Err(e) => Check::Error(e),
                }
            }));
        }
        if let Some(ct) = &a.content_type {
            checks.push(self.with_exchange(a, |x| {
                let headers = if direction == "request" {
                    &x.request.headers
                } else {
                    &x.response.headers
                };
                let got = http::header(headers, "content-type");
                let mime =
                    got.map(|g| g.split(';').next().unwrap_or(g).trim().to_ascii_lowercase());
                let ok = match (ct.as_str(), &mime) {
                    (_, None) => false,
                    ("json", Some(m)) => m.contains("json"),
                    ("xml", Some(m)) => m.contains("xml"),
                    (other, Some(m)) => http::mime_for(other).eq_ignore_ascii_case(m),
                };
                if ok {
                    Check::Pass(format!("Content-Type {}", show(got)))
                } else {
                    Check::Fail(format!(
                        "expected {direction} Content-Type '{ct}' but got {}",
                        show(got)
                    ))
                }
            }));
        }
        if let Some(h) = &a.header_field {
            let op = a.operator.as_deref().or(if value.is_none() {
                Some("notEmpty")
            } else {
                None
            });
            checks.push(self.with_exchange(a, |x| {
                let headers = if direction == "request" {
                    &x.request.headers
                } else {
                    &x.response.headers
                };
                let got = http::header(headers, h);
                match compare(op, got, value) {
                    Ok(true) => Check::Pass(format!("{direction} header {h} {}", show(got))),
                    Ok(false) if got.is_none() => Check::Fail(format!(
                        "{direction} header '{h}' is absent (expected {})",
                        describe_op(op, value)
                    )),
                    Ok(false) => Check::Fail(format!(
                        "{direction} header '{h}' is {} (expected {})",
                        show(got),
                        describe_op(op, value)
                    )),
                    Err(e) => Check::Error(e),
                }
            }));
        }
        if let Some(rt) = &a.resource {
            checks.push(self.with_body(a, |body| {
                let got = body.get("resourceType").and_then(Value::as_str);
                if got == Some(rt.as_str()) {
                    Check::Pass(format!("resource is {rt}"))
                } else {
                    Check::Fail(format!("expected resource {rt} but got {}", show(got)))
                }
            }));
        }
        if let Some(min) = &a.minimum_id {
            let min_body = match self.source(min) {
                Ok(s) => match source_body(&s.as_source()) {
                    Ok(b) => Ok(b.clone()),
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            };
            checks.push(match min_body {
                Err(e) => Check::Error(format!("assert.minimumId: {e}")),
                Ok(mb) => self.with_body(a, |body| match missing(&mb, body, "") {
                    None => Check::Pass(format!("contains all elements of '{min}'")),
                    Some(p) => Check::Fail(format!(
                        "minimumId '{min}': element '{p}' of the fixture is missing or different"
                    )),
                }),
            });
        }
        if let Some(want) = a.navigation_links {
            checks.push(if want {
                self.with_body(a, |body| {
                    let rels: Vec<&str> = body
                        .get("link")
                        .and_then(Value::as_array)
                        .map(|l| {
                            l.iter()
                                .filter_map(|x| x.get("relation").and_then(Value::as_str))
                                .collect()
                        })
                        .unwrap_or_default();
                    if body.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
                        return Check::Fail("navigationLinks: response is not a Bundle".into());
                    }
                    let lacking: Vec<&str> = ["first", "last"]
                        .into_iter()
                        .filter(|r| !rels.contains(r))
                        .collect();
                    if lacking.is_empty() {
                        Check::Pass(format!("Bundle links: {}", rels.join(", ")))
                    } else {
                        Check::Fail(format!(
                            "navigationLinks: Bundle lacks link(s) {} (has: {})",
                            lacking.join(", "),
                            rels.join(", ")
                        ))
                    }
                })
            } else {
                Check::Pass("navigationLinks=false: links not validated".into())
            });
        }
        if let Some(m) = &a.request_method {
            checks.push(self.with_exchange(a, |x| {
                if x.request.method.eq_ignore_ascii_case(m) {
                    Check::Pass(format!("request method {}", x.request.method))
                } else {
                    Check::Fail(format!(
                        "expected request method {m} but was {}",
                        x.request.method
                    ))
                }
            }));
        }
        if let Some(u) = &a.request_url {
            let expected = match self.sub_assert(u) {
                Ok(v) => v,
                Err(e) => return Check::Error(format!("assert.requestURL: {e}")),
            };
            let op = a.operator.as_deref();
            checks.push(self.with_exchange(a, |x| {
                let got = x.request.url.as_str();
                // Relative expectations are compared against the URL without the base.
                let rel = got.strip_prefix(self.base.as_str()).unwrap_or(got);
                let ok = compare(op, Some(got), Some(&expected))
                    .and_then(|g| Ok(g || compare(op, Some(rel), Some(&expected))?));
                match ok {
                    Ok(true) => Check::Pass(format!("request URL {got}")),
                    Ok(false) => Check::Fail(format!(
                        "request URL '{got}' does not satisfy {}",
                        describe_op(op, Some(&expected))
                    )),
                    Err(e) => Check::Error(e),
                }
            }));
        }
        let has_value_check = a.expression.is_some()
            || a.path.is_some()
            || a.compare_to_source_id.is_some()
            || a.compare_to_source_expression.is_some()
            || a.compare_to_source_path.is_some();
        if has_value_check {
            checks.push(self.value_check(a, value));
        } else if checks.is_empty() {
            if a.value.is_some() || a.operator.is_some() {
                return Check::Error(
                    "assert has value/operator but nothing to compare (no expression, path, headerField, ...)".into(),
                );
            }
            if !a.extension_urls.is_empty() {
                return Check::Error(format!(
                    "assert has no check element; its extension(s) {} are not supported",
                    a.extension_urls.join(", ")
                ));
            }
            return Check::Error("assert has no check element".into());
        }
        combine(checks)
    }

    fn sub_assert(&self, s: &str) -> Result<String, String> {
        crate::vars::substitute(s, &mut |n| self.var(n, 0))
    }

    /// Runs `f` on the exchange the assert targets (sourceId response, else the last).
    fn with_exchange(&self, a: &Assert, f: impl FnOnce(&Exchange) -> Check) -> Check {
        match &a.source_id {
            Some(id) => match self.exchanges.get(id) {
                Some(x) => f(x),
                None => Check::Error(format!(
                    "assert.sourceId '{id}' is not a responseId/requestId of an earlier operation"
                )),
            },
            None => match &self.last {
                Some(x) => f(x),
                None => Check::Error("no operation has been executed yet".into()),
            },
        }
    }

    /// The assert's source: sourceId (fixture or response) or the last exchange.
    fn assert_source(&self, a: &Assert) -> Result<SourceOwned<'_>, String> {
        match &a.source_id {
            Some(id) => self.source(id),
            None => match &self.last {
                Some(x) => Ok(SourceOwned::Borrowed(Source::Exchange(x))),
                None => Err("no operation has been executed yet".into()),
            },
        }
    }

    /// The JSON the assert looks at (request body for direction=request).
    fn with_body(&self, a: &Assert, f: impl FnOnce(&Value) -> Check) -> Check {
        let src = match self.assert_source(a) {
            Ok(s) => s,
            Err(e) => return Check::Error(e),
        };
        let src = src.as_source();
        if a.direction.as_deref() == Some("request") {
            return match &src {
                Source::Exchange(x) => match &x.request.body {
                    Some(b) => f(b),
                    None => Check::Error("the request had no body".into()),
                },
                Source::Fixture(b) => f(b),
            };
        }
        match source_body(&src) {
            Ok(b) => f(b),
            Err(e) => Check::Error(e),
        }
    }

    /// expression / path, optionally compared with compareToSource*.
    fn value_check(&self, a: &Assert, value: Option<&str>) -> Check {
        let sub = |s: &str| self.sub_assert(s);
        let own = match (&a.expression, &a.path) {
            (Some(e), _) => Some(sub(e).map_err(|e| format!("assert.expression: {e}"))),
            (None, Some(p)) => Some(
                sub(p)
                    .and_then(|p| path::to_fhirpath(&p))
                    .map_err(|e| format!("assert.path: {e}")),
            ),
            (None, None) => None,
        };
        let own = match own.transpose() {
            Ok(o) => o,
            Err(e) => return Check::Error(e),
        };
        let cmp_expr = match (&a.compare_to_source_expression, &a.compare_to_source_path) {
            (Some(e), _) => {
                Some(sub(e).map_err(|e| format!("assert.compareToSourceExpression: {e}")))
            }
            (None, Some(p)) => Some(
                sub(p)
                    .and_then(|p| path::to_fhirpath(&p))
                    .map_err(|e| format!("assert.compareToSourcePath: {e}")),
            ),
            (None, None) => None,
        };
        let cmp_expr = match cmp_expr.transpose() {
            Ok(c) => c,
            Err(e) => return Check::Error(e),
        };
        if let Some(cid) = &a.compare_to_source_id {
            let Some(cexpr) = cmp_expr.clone().or_else(|| own.clone()) else {
                return Check::Error(
                    "assert.compareToSourceId needs compareToSourceExpression or compareToSourcePath".into(),
                );
            };
            let lexpr = own.clone().unwrap_or_else(|| cexpr.clone());
            let other = match self.source(cid) {
                Ok(s) => match source_body(&s.as_source()) {
                    Ok(b) => eval_items(&cexpr, b),
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            };
            let expected = match other {
                Ok(v) => v,
                Err(e) => return Check::Error(format!("compareToSourceId '{cid}': {e}")),
            };
            return self.with_body(a, |body| {
                let actual = match eval_items(&lexpr, body) {
                    Ok(v) => v,
                    Err(e) => return Check::Error(e),
                };
                let op = a.operator.as_deref().unwrap_or("equals");
                let text = |v: &[Value]| Value::Array(v.to_vec()).to_string();
                let ok = match op {
                    "equals" => actual == expected,
                    "notEquals" => actual != expected,
                    "contains" => expected.iter().all(|e| actual.contains(e)),
                    "notContains" => !expected.iter().all(|e| actual.contains(e)),
                    "empty" => actual.is_empty(),
                    "notEmpty" => !actual.is_empty(),
                    other => {
                        let first = |v: &[Value]| {
                            v.first().map(|x| match x {
                                Value::String(s) => s.clone(),
                                o => o.to_string(),
                            })
                        };
                        match compare(
                            Some(other),
                            first(&actual).as_deref(),
                            first(&expected).as_deref(),
                        ) {
                            Ok(b) => b,
                            Err(e) => return Check::Error(e),
                        }
                    }
                };
                if ok {
                    Check::Pass(format!("{lexpr} {op} {cid}:{cexpr} ({})", text(&actual)))
                } else {
                    Check::Fail(format!(
                        "{lexpr} = {} does not satisfy {op} {cid}:{cexpr} = {}",
                        text(&actual),
                        text(&expected)
                    ))
                }
            });
        }
        if cmp_expr.is_some() {
            return Check::Error(
                "assert.compareToSourceExpression/compareToSourcePath need compareToSourceId"
                    .into(),
            );
        }
        let Some(expr) = own else {
            return Check::Error("assert has no expression or path".into());
        };
        let op = a.operator.as_deref();
        let is_path = a.expression.is_none();
        self.with_body(a, |body| {
            // Plain boolean expression (no value, no operator, or operator eval).
            if !is_path && (op == Some("eval") || (op.is_none() && value.is_none())) {
                return match eval_bool(&expr, body) {
                    Ok(Some(true)) => Check::Pass(format!("{expr} is true")),
                    Ok(Some(false)) => Check::Fail(format!("{expr} is false")),
                    Ok(None) => Check::Fail(format!("{expr} returned an empty collection")),
                    Err(e) => Check::Error(e),
                };
            }
            if op == Some("eval") {
                return Check::Error("assert.operator 'eval' needs an expression".into());
            }
            let texts = match eval_texts(&expr, body) {
                Ok(t) => t,
                Err(e) => return Check::Error(e),
            };
            // path without value/operator asserts presence.
            let op = op.or(if value.is_none() {
                Some("notEmpty")
            } else {
                None
            });
            let actual = texts.first().map(String::as_str);
            let shown = if texts.len() > 1 {
                format!(
                    "{} (first of {}: {})",
                    show(actual),
                    texts.len(),
                    texts.join(", ")
                )
            } else {
                show(actual)
            };
            match compare(op, actual, value) {
                Ok(true) => Check::Pass(format!("{expr} = {shown}")),
                Ok(false) => Check::Fail(format!(
                    "{expr} = {shown}, expected {}",
                    describe_op(op, value)
                )),
                Err(e) => Check::Error(e),
            }
        })
    }
}

fn combine(checks: Vec<Check>) -> Check {
    let mut pass = Vec::new();
    let mut fail = Vec::new();
    for c in checks {
        match c {
            Check::Error(e) => return Check::Error(e),
            Check::Fail(m) => fail.push(m),
            Check::Pass(m) => pass.push(m),
        }
    }
    if fail.is_empty() {
        Check::Pass(pass.join("; "))
    } else {
        Check::Fail(fail.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn operators() {
        assert_eq!(compare(None, Some("a"), Some("a")), Ok(true));
        assert_eq!(compare(Some("in"), Some("204"), Some("200,204")), Ok(true));
        assert_eq!(
            compare(Some("notIn"), Some("204"), Some("200,204")),
            Ok(false)
        );
        assert_eq!(
            compare(Some("greaterThan"), Some("10"), Some("9")),
            Ok(true)
        );
        assert_eq!(compare(Some("lessThan"), Some("10"), Some("9")), Ok(false));
        assert_eq!(compare(Some("empty"), None, None), Ok(true));
        assert_eq!(compare(Some("notEmpty"), None, None), Ok(false));
        assert_eq!(compare(Some("contains"), Some("abc"), Some("b")), Ok(true));
        assert_eq!(
            compare(Some("notContains"), Some("abc"), Some("b")),
            Ok(false)
        );
        assert!(compare(Some("like"), Some("a"), Some("a")).is_err());
        assert!(compare(Some("equals"), Some("a"), None).is_err());
    }

    #[test]
    fn minimum_contains() {
        let min = json!({"resourceType": "Patient", "id": "x", "name": [{"family": "A"}]});
        let full = json!({"resourceType": "Patient", "id": "y", "name": [{"use": "o"}, {"family": "A", "given": ["B"]}]});
        assert_eq!(missing(&min, &full, ""), None);
        assert_eq!(missing(&full, &min, "").as_deref(), Some("name[0]"));
    }
}
