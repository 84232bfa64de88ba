//! Executes a loaded TestScript against a server: fixtures, variables, setup,
//! tests, teardown.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;

use crate::http::{self, Exchange};
use crate::load::{FixtureContent, LoadedScript};
use crate::model::{Action, Operation};
use crate::path;
use crate::report::{
    self, ActionKind, ActionReport, ActionResult, ReportResult, TestCaseReport, TestReport,
};
use crate::vars;

/// How to run scripts.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Base URL of the FHIR server under test (e.g. `http://localhost:8080/fhir`).
    pub server: String,
    /// Values for script variables (`--var k=v`); they override every other source.
    pub variables: Vec<(String, String)>,
    /// Timeout of each HTTP request.
    pub timeout: Duration,
}

impl RunOptions {
    pub fn new(server: impl Into<String>) -> Self {
        Self {
            server: server.into(),
            variables: Vec::new(),
            timeout: Duration::from_secs(30),
        }
    }
}

/// Result of a check: pass/fail/error with a message.
#[derive(Debug, Clone)]
pub(crate) enum Check {
    Pass(String),
    Fail(String),
    Error(String),
}

/// A body an assert or variable can look at.
pub(crate) enum Source<'a> {
    Fixture(&'a Value),
    Exchange(&'a Exchange),
}

pub(crate) struct Runner<'s> {
    pub(crate) script: &'s LoadedScript,
    pub(crate) opts: &'s RunOptions,
    pub(crate) base: String,
    client: awc::Client,
    /// responseId / requestId → exchange.
    pub(crate) exchanges: HashMap<String, Exchange>,
    pub(crate) last: Option<Exchange>,
    /// Fixture id → (resource type, id) on the server, after create/update from it.
    server_ids: HashMap<String, (String, String)>,
}

const NAMED_OPERATIONS: &[&str] = &[
    "apply",
    "closure",
    "find-matches",
    "conforms",
    "data-requirements",
    "document",
    "evaluate",
    "evaluate-measure",
    "everything",
    "expand",
    "find",
    "graphql",
    "implements",
    "lastn",
    "lookup",
    "match",
    "meta",
    "meta-add",
    "meta-delete",
    "populate",
    "populatehtml",
    "populatelink",
    "process-message",
    "questionnaire",
    "stats",
    "subset",
    "subsumes",
    "transform",
    "translate",
    "validate",
    "validate-code",
];

/// Runs one script. Never panics; problems become error results in the report.
pub async fn run_script(script: &LoadedScript, opts: &RunOptions) -> TestReport {
    let mut runner = Runner {
        script,
        opts,
        base: opts.server.trim_end_matches('/').to_string(),
        client: http::client(opts.timeout),
        exchanges: HashMap::new(),
        last: None,
        server_ids: HashMap::new(),
    };
    runner.run().await
}

fn action_report(
    kind: ActionKind,
    name: String,
    label: Option<String>,
    description: Option<String>,
    check: Check,
    warning_only: bool,
) -> ActionReport {
    let (result, message) = match check {
        Check::Pass(m) => (ActionResult::Pass, m),
        Check::Fail(m) if warning_only => (ActionResult::Warning, m),
        Check::Fail(m) => (ActionResult::Fail, m),
        Check::Error(m) => (ActionResult::Error, m),
    };
    ActionReport {
        kind,
        name,
        label,
        description,
        result,
        message,
    }
}

fn skipped(action: &Action, index: usize, why: &str) -> ActionReport {
    let (kind, name, label, description) = describe(action, index);
    ActionReport {
        kind,
        name,
        label,
        description,
        result: ActionResult::Skip,
        message: why.to_string(),
    }
}

fn describe(action: &Action, index: usize) -> (ActionKind, String, Option<String>, Option<String>) {
    match action {
        Action::Operation(op) => (
            ActionKind::Operation,
            op_name(op),
            op.label.clone(),
            op.description.clone(),
        ),
        Action::Assert(a) => (
            ActionKind::Assert,
            a.display_name(index),
            a.label.clone(),
            a.description.clone(),
        ),
        Action::Invalid(m) => (ActionKind::Operation, m.clone(), None, None),
    }
}

fn op_name(op: &Operation) -> String {
    op.label
        .clone()
        .or_else(|| op.description.clone())
        .or_else(|| op.type_code.clone())
        .or_else(|| op.method.clone())
        .unwrap_or_else(|| "operation".into())
}

/// Which part of the script a list of actions belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Setup,
    Test,
    Teardown,
}

impl<'s> Runner<'s> {
    async fn run(&mut self) -> TestReport {
        let script = self.script;
        let mut setup = self.autocreate().await;
        let mut setup_ok = setup.iter().all(|a| a.result != ActionResult::Error);
        if setup_ok {
            let (acts, ok) = self.run_actions(&script.script.setup, Phase::Setup).await;
            setup.extend(acts);
            setup_ok = ok;
        } else {
            for (i, a) in script.script.setup.iter().enumerate() {
                setup.push(skipped(a, i, "skipped: fixture autocreate failed"));
            }
        }
        let setup_result = report::combine(&setup);
        let mut tests = Vec::new();
        for (i, t) in script.script.tests.iter().enumerate() {
            let name = t.name.clone().unwrap_or_else(|| format!("test #{}", i + 1));
            if !setup_ok {
                let actions = t
                    .actions
                    .iter()
                    .enumerate()
                    .map(|(j, a)| skipped(a, j, "skipped: setup did not pass"))
                    .collect();
                tests.push(TestCaseReport {
                    name,
                    description: t.description.clone(),
                    result: ReportResult::Pending,
                    actions,
                });
                continue;
            }
            let (actions, _) = self.run_actions(&t.actions, Phase::Test).await;
            let result = if actions.is_empty() {
                ReportResult::Pending
            } else {
                report::combine(&actions)
            };
            tests.push(TestCaseReport {
                name,
                description: t.description.clone(),
                result,
                actions,
            });
        }
        let (mut teardown, _) = self
            .run_actions(&script.script.teardown, Phase::Teardown)
            .await;
        teardown.extend(self.autodelete().await);

        let passed = tests
            .iter()
            .filter(|t| t.result == ReportResult::Pass)
            .count();
        let mut result = setup_result;
        for t in &tests {
            result = worse(result, t.result);
        }
        result = worse(result, report::combine(&teardown));
        if tests.is_empty() && result == ReportResult::Pass && setup.is_empty() {
            result = ReportResult::Pending;
        }
        let score = if tests.is_empty() {
            if result == ReportResult::Pass {
                100.0
            } else {
                0.0
            }
        } else {
            #[allow(clippy::cast_precision_loss)]
            let s = 100.0 * passed as f64 / tests.len() as f64;
            s
        };
        let error = if setup_ok {
            None
        } else {
            setup
                .iter()
                .find(|a| matches!(a.result, ActionResult::Error | ActionResult::Fail))
                .map(|a| format!("setup: {}: {}", a.name, a.message))
        };
        let mut rep = TestReport {
            name: script.name(),
            path: Some(script.path.clone()),
            result,
            score,
            setup,
            tests,
            teardown,
            error,
            resource: Value::Null,
        };
        let script_ref = script
            .script
            .url
            .clone()
            .or_else(|| {
                script
                    .script
                    .id
                    .as_ref()
                    .map(|id| format!("TestScript/{id}"))
            })
            .map(|r| (r, script.name()));
        rep.resource = report::build_resource(&rep, script_ref, &self.opts.server);
        rep
    }

    /// Runs actions in order. Returns the reports and whether the list "passed"
    /// (no error, no non-warning failure). An operation error skips the rest; in
    /// setup a failed assert also skips the rest.
    async fn run_actions(&mut self, actions: &[Action], phase: Phase) -> (Vec<ActionReport>, bool) {
        let mut out = Vec::new();
        let mut ok = true;
        let mut stop: Option<String> = None;
        let mut assert_index = 0usize;
        for action in actions {
            let idx = match action {
                Action::Assert(_) => {
                    assert_index += 1;
                    assert_index - 1
                }
                _ => 0,
            };
            if let Some(why) = &stop {
                out.push(skipped(action, idx, why));
                continue;
            }
            let rep = match action {
                Action::Operation(op) => {
                    let check = self.operation(op).await;
                    action_report(
                        ActionKind::Operation,
                        op_name(op),
                        op.label.clone(),
                        op.description.clone(),
                        check,
                        false,
                    )
                }
                Action::Assert(a) => {
                    let check = if phase == Phase::Teardown {
                        Check::Error("teardown.action.assert is not allowed (teardown holds operations only)".into())
                    } else {
                        self.assert(a)
                    };
                    action_report(
                        ActionKind::Assert,
                        a.display_name(idx),
                        a.label.clone(),
                        a.description.clone(),
                        check,
                        a.warning_only,
                    )
                }
                Action::Invalid(m) => action_report(
                    ActionKind::Operation,
                    m.clone(),
                    None,
                    None,
                    Check::Error(format!("{m}: not executable")),
                    false,
                ),
            };
            match rep.result {
                ActionResult::Error => {
                    ok = false;
                    if rep.kind == ActionKind::Operation || phase == Phase::Setup {
                        stop = Some(format!("skipped: earlier action '{}' errored", rep.name));
                    }
                }
                ActionResult::Fail => {
                    ok = false;
                    if phase == Phase::Setup {
                        stop = Some(format!("skipped: setup assert '{}' failed", rep.name));
                    }
                }
                _ => {}
            }
            out.push(rep);
        }
        (out, ok)
    }

    // ----- fixtures -------------------------------------------------------------

    /// A fixture's resource with variables substituted.
    pub(crate) fn fixture_body(&self, id: &str) -> Option<Result<Value, String>> {
        let content = self.script.fixtures.get(id)?;
        Some(match content {
            FixtureContent::Unresolved(why) => Err(format!("fixture '{id}': {why}")),
            FixtureContent::Resource(v) => vars::substitute_json(v, &mut |n| self.var(n, 0))
                .map_err(|e| format!("fixture '{id}': {e}")),
        })
    }

    async fn autocreate(&mut self) -> Vec<ActionReport> {
        let mut out = Vec::new();
        let script = self.script;
        for (i, f) in script.script.fixtures.iter().enumerate() {
            if !f.autocreate {
                continue;
            }
            let key = f.id.clone().unwrap_or_else(|| format!("fixture[{i}]"));
            let check = self.autocreate_one(&key).await;
            out.push(action_report(
                ActionKind::Operation,
                format!("autocreate {key}"),
                None,
                None,
                check,
                false,
            ));
        }
        out
    }

    async fn autocreate_one(&mut self, key: &str) -> Check {
        let body = match self.fixture_body(key) {
            Some(Ok(b)) => b,
            Some(Err(e)) => return Check::Error(format!("autocreate: {e}")),
            None => return Check::Error(format!("autocreate: fixture '{key}' not defined")),
        };
        let Some(rt) = body
            .get("resourceType")
            .and_then(Value::as_str)
            .map(str::to_string)
        else {
            return Check::Error(format!("autocreate: fixture '{key}' has no resourceType"));
        };
        let req = http::RequestRecord {
            method: "POST".into(),
            url: format!("{}/{rt}", self.base),
            headers: vec![
                ("accept".into(), "application/fhir+json".into()),
                ("content-type".into(), "application/fhir+json".into()),
            ],
            body: Some(body),
            body_text: None,
        };
        match http::send(&self.client, &req).await {
            Err(e) => Check::Error(format!("autocreate of fixture '{key}': {e}")),
            Ok(resp) if (200..300).contains(&resp.status) => {
                let id = created_id(&resp, &rt);
                match id {
                    Some(id) => {
                        let msg = format!("POST {} → {} (id {id})", req.url, resp.status);
                        self.server_ids.insert(key.to_string(), (rt, id));
                        Check::Pass(msg)
                    }
                    None => Check::Error(format!(
                        "autocreate of fixture '{key}': POST {} → {} but no id in Location or body",
                        req.url, resp.status
                    )),
                }
            }
            Ok(resp) => Check::Error(format!(
                "autocreate of fixture '{key}': POST {} → HTTP {}",
                req.url, resp.status
            )),
        }
    }

    async fn autodelete(&mut self) -> Vec<ActionReport> {
        let mut out = Vec::new();
        let script = self.script;
        for (i, f) in script.script.fixtures.iter().enumerate() {
            if !f.autodelete {
                continue;
            }
            let key = f.id.clone().unwrap_or_else(|| format!("fixture[{i}]"));
            let Some((rt, id)) = self.server_ids.get(&key).cloned() else {
                out.push(ActionReport {
                    kind: ActionKind::Operation,
                    name: format!("autodelete {key}"),
                    label: None,
                    description: None,
                    result: ActionResult::Skip,
                    message: format!("fixture '{key}' was not created on the server by this run"),
                });
                continue;
            };
            let req = http::RequestRecord {
                method: "DELETE".into(),
                url: format!("{}/{rt}/{id}", self.base),
                headers: vec![("accept".into(), "application/fhir+json".into())],
                body: None,
                body_text: None,
            };
            let check = match http::send(&self.client, &req).await {
                Err(e) => Check::Error(format!("autodelete of '{key}': {e}")),
                Ok(r) if (200..300).contains(&r.status) || r.status == 404 || r.status == 410 => {
                    Check::Pass(format!("DELETE {} → {}", req.url, r.status))
                }
                Ok(r) => Check::Error(format!(
                    "autodelete of '{key}': DELETE {} → HTTP {}",
                    req.url, r.status
                )),
            };
            out.push(action_report(
                ActionKind::Operation,
                format!("autodelete {key}"),
                None,
                None,
                check,
                false,
            ));
        }
        out
    }

    // ----- sources and variables --------------------------------------------------

    /// Looks up a fixture or a response/request by id (responses win).
    pub(crate) fn source(&self, id: &str) -> Result<SourceOwned<'_>, String> {
        if let Some(x) = self.exchanges.get(id) {
            return Ok(SourceOwned::Borrowed(Source::Exchange(x)));
        }
        match self.fixture_body(id) {
            Some(Ok(v)) => Ok(SourceOwned::Fixture(v)),
            Some(Err(e)) => Err(e),
            None => Err(format!(
                "sourceId '{id}' names no fixture and no earlier responseId/requestId"
            )),
        }
    }

    /// Like [`Self::source`] but fixtures as written (no `${}` substitution), so a
    /// variable evaluated over a fixture that mentions it cannot recurse.
    fn source_unsubstituted(&self, id: &str) -> Result<SourceOwned<'_>, String> {
        if let Some(x) = self.exchanges.get(id) {
            return Ok(SourceOwned::Borrowed(Source::Exchange(x)));
        }
        match self.script.fixtures.get(id) {
            Some(FixtureContent::Resource(v)) => Ok(SourceOwned::Borrowed(Source::Fixture(v))),
            Some(FixtureContent::Unresolved(why)) => Err(format!("fixture '{id}': {why}")),
            None => Err(format!(
                "sourceId '{id}' names no fixture and no earlier responseId/requestId"
            )),
        }
    }

    /// The value of `${name}`.
    pub(crate) fn var(&self, name: &str, depth: u8) -> Result<String, String> {
        if let Some((_, v)) = self.opts.variables.iter().rev().find(|(k, _)| k == name) {
            return Ok(v.clone());
        }
        if depth > 8 {
            return Err(format!("variable '{name}': nested too deeply"));
        }
        let Some(def) = self.script.script.variables.iter().find(|v| v.name == name) else {
            return Err(format!(
                "variable '{name}' is not defined (add it with --var {name}=VALUE)"
            ));
        };
        let dynamic = def.expression.is_some() || def.header_field.is_some() || def.path.is_some();
        if dynamic {
            match self.dynamic_var(def, depth) {
                Ok(Some(v)) => return Ok(v),
                Ok(None) => {}
                Err(e) => {
                    if let Some(d) = &def.default_value {
                        return Ok(d.clone());
                    }
                    return Err(format!("variable '{name}': {e}"));
                }
            }
        }
        if let Some(d) = &def.default_value {
            return Ok(d.clone());
        }
        let hint = def
            .hint
            .as_ref()
            .map(|h| format!(" (hint: {h})"))
            .unwrap_or_default();
        if dynamic {
            Err(format!(
                "variable '{name}' evaluated to nothing and has no defaultValue"
            ))
        } else {
            Err(format!(
                "variable '{name}' has no value{hint}; supply it with --var {name}=VALUE"
            ))
        }
    }

    fn dynamic_var(
        &self,
        def: &crate::model::Variable,
        depth: u8,
    ) -> Result<Option<String>, String> {
        let owned;
        let src: Source<'_> = match &def.source_id {
            Some(id) => {
                owned = self.source_unsubstituted(id)?;
                owned.as_source()
            }
            None => match &self.last {
                Some(x) => Source::Exchange(x),
                None => return Err("no response yet to evaluate against".into()),
            },
        };
        if let Some(h) = &def.header_field {
            return match src {
                Source::Exchange(x) => Ok(x.response.header(h).map(str::to_string)),
                Source::Fixture(_) => Err(format!(
                    "headerField '{h}' needs a response, but the source is a fixture"
                )),
            };
        }
        let expr = match (&def.expression, &def.path) {
            (Some(e), _) => vars::substitute(e, &mut |n| self.var(n, depth + 1))?,
            (None, Some(p)) => path::to_fhirpath(p).map_err(|e| format!("variable.path: {e}"))?,
            (None, None) => return Ok(None),
        };
        let body = source_body(&src)?;
        let items = crate::asserts::eval_texts(&expr, body)?;
        Ok(items.into_iter().next())
    }

    fn sub(&self, s: &str) -> Result<String, String> {
        vars::substitute(s, &mut |n| self.var(n, 0))
    }

    // ----- operations ---------------------------------------------------------------

    async fn operation(&mut self, op: &Operation) -> Check {
        let req = match self.build_request(op) {
            Ok(r) => r,
            Err(e) => return Check::Error(e),
        };
        let resp = match http::send(&self.client, &req).await {
            Ok(r) => r,
            Err(e) => return Check::Error(e),
        };
        let summary = format!("{} {} → HTTP {}", req.method, req.url, resp.status);
        let wants_json = !op
            .accept
            .as_deref()
            .is_some_and(|a| a.contains("xml") || a.contains("ttl") || a.contains("turtle"));
        let json_error = resp.json.as_ref().err().map(|e| {
            let snippet: String = resp.body_text.chars().take(120).collect();
            format!("{e} (body starts: {snippet:?})")
        });
        let exchange = Exchange {
            request: req,
            response: resp,
        };
        self.track_ids(op, &exchange);
        if let Some(id) = &op.response_id {
            self.exchanges.insert(id.clone(), exchange.clone());
        }
        if let Some(id) = &op.request_id {
            self.exchanges.insert(id.clone(), exchange.clone());
        }
        self.last = Some(exchange);
        match json_error {
            Some(e) if wants_json => {
                Check::Error(format!("{summary}: response body is not JSON: {e}"))
            }
            _ => Check::Pass(summary),
        }
    }

    /// After create/update from a fixture, remember where the fixture lives on the server.
    fn track_ids(&mut self, op: &Operation, x: &Exchange) {
        let Some(src) = &op.source_id else { return };
        if !(200..300).contains(&x.response.status) || !self.script.fixtures.contains_key(src) {
            return;
        }
        let rt = x
            .request
            .body
            .as_ref()
            .and_then(|b| b.get("resourceType"))
            .and_then(Value::as_str)
            .map(str::to_string);
        let Some(rt) = rt else { return };
        let id = match x.request.method.as_str() {
            "POST" => created_id(&x.response, &rt),
            "PUT" => x
                .request
                .body
                .as_ref()
                .and_then(|b| b.get("id"))
                .and_then(Value::as_str)
                .map(str::to_string),
            _ => None,
        };
        if let Some(id) = id {
            self.server_ids.insert(src.clone(), (rt, id));
        }
    }

    /// (resource type, id) for a targetId: server id after create/update, else the
    /// fixture's own id, else the id in a stored response.
    fn target(&self, target: &str) -> Result<(String, String, Option<String>), String> {
        if let Some(x) = self.exchanges.get(target) {
            let body = x.response.json.as_ref().ok().and_then(|b| b.as_ref());
            if let Some((rt, id)) = body.and_then(type_and_id) {
                let vid = body.and_then(version_id);
                return Ok((rt, id, vid));
            }
            return Err(format!(
                "targetId '{target}': response has no resourceType/id"
            ));
        }
        if let Some((rt, id)) = self.server_ids.get(target) {
            return Ok((rt.clone(), id.clone(), None));
        }
        match self.fixture_body(target) {
            Some(Ok(b)) => match type_and_id(&b) {
                Some((rt, id)) => Ok((rt, id, version_id(&b))),
                None => Err(format!(
                    "targetId '{target}': fixture was not created on the server and has no id"
                )),
            },
            Some(Err(e)) => Err(e),
            None => Err(format!("targetId '{target}' names no fixture or response")),
        }
    }

    fn build_request(&self, op: &Operation) -> Result<http::RequestRecord, String> {
        if let Some(k) = op.unknown.first() {
            return Err(format!(
                "operation.{k} is not a TestScript operation element"
            ));
        }
        if op.destination.is_some_and(|d| d != 1) {
            return Err(format!(
                "operation.destination={}: only one destination server is supported \
                 (the script declares {})",
                op.destination.unwrap_or_default(),
                self.script.script.destinations
            ));
        }
        let code = op.type_code.as_deref();
        let named = match code {
            Some(c) if c.starts_with('$') => Some(c.to_string()),
            Some(c) if NAMED_OPERATIONS.contains(&c) => Some(format!("${c}")),
            _ => None,
        };
        let known = [
            "read",
            "vread",
            "create",
            "update",
            "updateCreate",
            "delete",
            "search",
            "history",
            "batch",
            "transaction",
            "capabilities",
            "patch",
        ];
        if let Some(c) = code
            && named.is_none()
            && !known.contains(&c)
        {
            return Err(format!("operation.type '{c}' is not supported"));
        }
        if code.is_none() && op.method.is_none() && op.url.is_none() {
            return Err("operation has no type, method or url".into());
        }
        // Body source.
        let body = match &op.source_id {
            Some(id) => Some(
                self.source(id)?
                    .body_value()
                    .map_err(|e| format!("operation.sourceId '{id}': {e}"))?,
            ),
            None => None,
        };
        let default_method = match code {
            Some("create" | "batch" | "transaction") => "POST",
            Some("update" | "updateCreate") => "PUT",
            Some("delete") => "DELETE",
            Some("patch") => "PATCH",
            Some(_) if named.is_some() && body.is_some() => "POST",
            _ => "GET",
        };
        let method = match &op.method {
            Some(m) => {
                let m = m.to_ascii_uppercase();
                if !["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]
                    .contains(&m.as_str())
                {
                    return Err(format!("operation.method '{m}' is not supported"));
                }
                m
            }
            None => default_method.to_string(),
        };
        let resource_type = op.resource.clone().or_else(|| {
            body.as_ref()
                .and_then(|b| b.get("resourceType"))
                .and_then(Value::as_str)
                .map(str::to_string)
        });
        let params = op.params.as_deref().map(|p| self.sub(p)).transpose()?;
        let url = if let Some(u) = &op.url {
            let u = self.sub(u)?;
            if let Some(i) = u.find("{{") {
                let end = u[i..].find("}}").map_or(u.len(), |e| i + e + 2);
                return Err(format!(
                    "operation.url contains the placeholder '{}' (only ${{name}} variables are substituted)",
                    &u[i..end]
                ));
            }
            if u.starts_with("http://") || u.starts_with("https://") {
                u
            } else {
                format!("{}/{}", self.base, u.trim_start_matches('/'))
            }
        } else {
            self.derive_url(
                op,
                code,
                named.as_deref(),
                resource_type.as_deref(),
                params.as_deref(),
                body.as_ref(),
            )?
        };
        // Search via POST sends the parameters form-encoded to _search.
        let (url, body_text) = if code == Some("search") && method == "POST" && op.url.is_none() {
            match url.split_once('?') {
                Some((path, q)) => (format!("{path}/_search"), Some(q.to_string())),
                None => (format!("{url}/_search"), Some(String::new())),
            }
        } else {
            (url, None)
        };
        let url = http::encode_url(&url);
        let mut body = if matches!(method.as_str(), "POST" | "PUT" | "PATCH") && body_text.is_none()
        {
            body
        } else {
            None
        };
        if matches!(code, Some("update" | "updateCreate"))
            && let Some(b) = body.as_mut()
            && let Some(obj) = b.as_object_mut()
            && let Some(id) = url_resource_id(&url, resource_type.as_deref())
        {
            obj.insert("id".into(), Value::String(id));
        }
        let mut headers: Vec<(String, String)> = Vec::new();
        let accept = op
            .accept
            .as_deref()
            .map(http::mime_for)
            .unwrap_or_else(|| "application/fhir+json".into());
        headers.push(("accept".into(), accept));
        if body_text.is_some() {
            headers.push((
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            ));
        } else if let Some(b) = &body {
            let ct = match op.content_type.as_deref() {
                Some(c) if c.contains("xml") || c.contains("ttl") || c.contains("turtle") => {
                    return Err(format!(
                        "operation.contentType '{c}': only JSON request bodies are supported"
                    ));
                }
                Some(c) => http::mime_for(c),
                None if code == Some("patch") && b.is_array() => {
                    "application/json-patch+json".into()
                }
                None => "application/fhir+json".into(),
            };
            headers.push(("content-type".into(), ct));
        }
        for (k, v) in &op.request_header {
            let v = self.sub(v)?;
            let k = k.to_ascii_lowercase();
            headers.retain(|(h, _)| *h != k);
            headers.push((k, v));
        }
        Ok(http::RequestRecord {
            method,
            url,
            headers,
            body,
            body_text,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn derive_url(
        &self,
        op: &Operation,
        code: Option<&str>,
        named: Option<&str>,
        resource_type: Option<&str>,
        params: Option<&str>,
        body: Option<&Value>,
    ) -> Result<String, String> {
        let base = &self.base;
        match code {
            Some("capabilities") => return Ok(format!("{base}/metadata{}", params.unwrap_or(""))),
            Some("batch" | "transaction") => return Ok(format!("{base}{}", params.unwrap_or(""))),
            _ => {}
        }
        let target = op
            .target_id
            .as_deref()
            .map(|t| self.target(t))
            .transpose()?;
        let rt = resource_type
            .map(str::to_string)
            .or_else(|| target.as_ref().map(|t| t.0.clone()));
        let type_url = rt.as_ref().map(|t| format!("{base}/{t}"));
        if let Some(p) = params {
            let Some(tu) = &type_url else {
                if matches!(code, Some("search" | "history")) || named.is_some() {
                    return Ok(format!("{base}{p}"));
                }
                return Err("operation.params given but the resource type is unknown (set operation.resource)".into());
            };
            let sep = if p.starts_with('/') || p.starts_with('?') || p.is_empty() {
                ""
            } else {
                "/"
            };
            return Ok(format!("{tu}{sep}{p}"));
        }
        if let Some((t, id, vid)) = &target {
            let inst = format!("{base}/{t}/{id}");
            return match code {
                Some("vread") => match vid {
                    Some(v) => Ok(format!("{inst}/_history/{v}")),
                    None => Err(format!(
                        "vread: no version id known for targetId '{}'",
                        op.target_id.as_deref().unwrap_or("")
                    )),
                },
                Some("history") => Ok(format!("{inst}/_history")),
                _ => match named {
                    Some(n) => Ok(format!("{inst}/{n}")),
                    None => Ok(inst),
                },
            };
        }
        match (code, named, &type_url) {
            (Some("create" | "search"), _, Some(tu)) => Ok(tu.clone()),
            (Some("history"), _, Some(tu)) => Ok(format!("{tu}/_history")),
            (Some("history"), _, None) => Ok(format!("{base}/_history")),
            (_, Some(n), Some(tu)) => Ok(format!("{tu}/{n}")),
            (_, Some(n), None) => Ok(format!("{base}/{n}")),
            (Some("update" | "updateCreate"), _, Some(tu)) => match body.and_then(type_and_id) {
                Some((_, id)) => Ok(format!("{tu}/{id}")),
                None => Err("update: no params, targetId, or id in the sourceId fixture".into()),
            },
            (Some(c), _, _) => Err(format!(
                "operation '{c}' needs params, url or targetId (and a resource type)"
            )),
            (None, _, _) => Err("operation has no url and no type".into()),
        }
    }
}

fn worse(a: ReportResult, b: ReportResult) -> ReportResult {
    fn rank(r: ReportResult) -> u8 {
        match r {
            ReportResult::Pass => 0,
            ReportResult::Pending => 1,
            ReportResult::Fail => 2,
            ReportResult::Error => 3,
        }
    }
    if rank(b) > rank(a) { b } else { a }
}

/// A source that may own its fixture body (after variable substitution).
pub(crate) enum SourceOwned<'a> {
    Borrowed(Source<'a>),
    Fixture(Value),
}

impl SourceOwned<'_> {
    pub(crate) fn as_source(&self) -> Source<'_> {
        match self {
            SourceOwned::Borrowed(Source::Exchange(x)) => Source::Exchange(x),
            SourceOwned::Borrowed(Source::Fixture(v)) => Source::Fixture(v),
            SourceOwned::Fixture(v) => Source::Fixture(v),
        }
    }

    fn body_value(&self) -> Result<Value, String> {
        source_body(&self.as_source()).cloned()
    }
}

/// The JSON body of a source (a fixture, or a response body).
pub(crate) fn source_body<'a>(src: &Source<'a>) -> Result<&'a Value, String> {
    match src {
        Source::Fixture(v) => Ok(v),
        Source::Exchange(x) => match &x.response.json {
            Ok(Some(v)) => Ok(v),
            Ok(None) => Err(format!(
                "response to {} {} has no body",
                x.request.method, x.request.url
            )),
            Err(e) => Err(format!("response body is not JSON: {e}")),
        },
    }
}

fn type_and_id(v: &Value) -> Option<(String, String)> {
    let rt = v.get("resourceType")?.as_str()?;
    let id = v.get("id")?.as_str()?;
    Some((rt.to_string(), id.to_string()))
}

fn version_id(v: &Value) -> Option<String> {
    v.get("meta")?
        .get("versionId")?
        .as_str()
        .map(str::to_string)
}

/// The id of a created resource: from Location (`.../Type/id[/_history/v]`), else the body.
fn created_id(resp: &http::ResponseRecord, rt: &str) -> Option<String> {
    let from_location = resp
        .header("location")
        .or_else(|| resp.header("content-location"))
        .and_then(|loc| {
            let parts: Vec<&str> = loc.split('/').collect();
            parts
                .iter()
                .position(|p| *p == rt)
                .and_then(|i| parts.get(i + 1))
                .map(|s| s.split('?').next().unwrap_or(s).to_string())
        })
        .filter(|s| !s.is_empty());
    from_location.or_else(|| {
        resp.json
            .as_ref()
            .ok()
            .and_then(|b| b.as_ref())
            .and_then(|b| b.get("id"))
            .and_then(Value::as_str)
            .map(str::to_string)
    })
}

/// `[base]/Type/id` → id (no query, no further path).
fn url_resource_id(url: &str, rt: Option<&str>) -> Option<String> {
    let path = url.split(['?', '#']).next()?;
    let mut parts = path.rsplit('/');
    let id = parts.next()?;
    let ty = parts.next()?;
    if rt.is_some_and(|r| r != ty) || id.is_empty() || id.starts_with('$') || id.starts_with('_') {
        return None;
    }
    Some(id.to_string())
}
