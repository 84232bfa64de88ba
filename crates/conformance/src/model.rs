//! The subset of the R4 TestScript resource the runner executes, parsed from JSON.
//!
//! Shape errors (an element with the wrong JSON type) are load errors; elements the
//! runner does not understand are kept in `unknown` and reported as run-time errors.

use serde_json::{Map, Value};

/// Elements every FHIR element may carry that the runner ignores.
const IGNORED: &[&str] = &["id", "extension", "fhir_comments"];

/// A shape problem found while parsing: (element path, message).
pub type ShapeError = (String, String);

#[derive(Debug, Clone, Default)]
pub struct Script {
    pub id: Option<String>,
    pub name: Option<String>,
    pub title: Option<String>,
    pub url: Option<String>,
    pub fixtures: Vec<FixtureDef>,
    pub variables: Vec<Variable>,
    pub destinations: usize,
    pub setup: Vec<Action>,
    pub tests: Vec<Test>,
    pub teardown: Vec<Action>,
}

#[derive(Debug, Clone, Default)]
pub struct FixtureDef {
    pub id: Option<String>,
    pub autocreate: bool,
    pub autodelete: bool,
    pub reference: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Variable {
    pub name: String,
    pub default_value: Option<String>,
    pub expression: Option<String>,
    pub header_field: Option<String>,
    pub hint: Option<String>,
    pub path: Option<String>,
    pub source_id: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Test {
    pub name: Option<String>,
    pub description: Option<String>,
    pub actions: Vec<Action>,
}

#[derive(Debug, Clone)]
pub enum Action {
    Operation(Operation),
    Assert(Assert),
    /// An action with neither (or both) operation and assert.
    Invalid(String),
}

#[derive(Debug, Clone, Default)]
pub struct Operation {
    pub type_code: Option<String>,
    pub resource: Option<String>,
    pub label: Option<String>,
    pub description: Option<String>,
    pub accept: Option<String>,
    pub content_type: Option<String>,
    pub destination: Option<i64>,
    pub method: Option<String>,
    pub params: Option<String>,
    pub request_header: Vec<(String, String)>,
    pub request_id: Option<String>,
    pub response_id: Option<String>,
    pub source_id: Option<String>,
    pub target_id: Option<String>,
    pub url: Option<String>,
    /// Keys that are not R4 `TestScript.*.action.operation` elements.
    pub unknown: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Assert {
    pub label: Option<String>,
    pub description: Option<String>,
    pub direction: Option<String>,
    pub compare_to_source_id: Option<String>,
    pub compare_to_source_expression: Option<String>,
    pub compare_to_source_path: Option<String>,
    pub content_type: Option<String>,
    pub expression: Option<String>,
    pub header_field: Option<String>,
    pub minimum_id: Option<String>,
    pub navigation_links: Option<bool>,
    pub operator: Option<String>,
    pub path: Option<String>,
    pub request_method: Option<String>,
    pub request_url: Option<String>,
    pub resource: Option<String>,
    pub response: Option<String>,
    pub response_code: Option<String>,
    pub source_id: Option<String>,
    pub validate_profile_id: Option<String>,
    pub value: Option<String>,
    pub warning_only: bool,
    /// `extension[].url` of the assert (e.g. engine-specific subtest extensions).
    pub extension_urls: Vec<String>,
    /// Keys that are not R4 `TestScript.*.action.assert` elements.
    pub unknown: Vec<String>,
}

impl Assert {
    /// The name used in reports: label, else description, else a generated one.
    pub fn display_name(&self, index: usize) -> String {
        self.label
            .clone()
            .or_else(|| self.description.clone())
            .unwrap_or_else(|| format!("assert #{}", index + 1))
    }
}

/// Reads JSON object fields with type checks, collecting the keys it consumed.
struct Obj<'a> {
    map: &'a Map<String, Value>,
    at: String,
    seen: Vec<&'static str>,
}

impl<'a> Obj<'a> {
    fn new(value: &'a Value, at: &str) -> Result<Self, ShapeError> {
        match value.as_object() {
            Some(map) => Ok(Self {
                map,
                at: at.to_string(),
                seen: Vec::new(),
            }),
            None => Err((at.to_string(), "expected a JSON object".into())),
        }
    }

    fn get(&mut self, key: &'static str) -> Option<&'a Value> {
        self.seen.push(key);
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn string(&mut self, key: &'static str) -> Result<Option<String>, ShapeError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            // Numbers and booleans written where a string is expected are common in
            // hand-written scripts (e.g. "responseCode": 200); accept their text.
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(_) => Err((format!("{}.{key}", self.at), "expected a string".into())),
        }
    }

    fn boolean(&mut self, key: &'static str) -> Result<Option<bool>, ShapeError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if s == "true" || s == "false" => Ok(Some(s == "true")),
            Some(_) => Err((format!("{}.{key}", self.at), "expected a boolean".into())),
        }
    }

    fn integer(&mut self, key: &'static str) -> Result<Option<i64>, ShapeError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => match v.as_i64() {
                Some(i) => Ok(Some(i)),
                None => Err((format!("{}.{key}", self.at), "expected an integer".into())),
            },
        }
    }

    fn array(&mut self, key: &'static str) -> Result<&'a [Value], ShapeError> {
        match self.get(key) {
            None => Ok(&[]),
            Some(Value::Array(a)) => Ok(a),
            Some(_) => Err((format!("{}.{key}", self.at), "expected an array".into())),
        }
    }

    fn object(&mut self, key: &'static str) -> Result<Option<Obj<'a>>, ShapeError> {
        let at = format!("{}.{key}", self.at);
        match self.get(key) {
            None => Ok(None),
            Some(v) => Obj::new(v, &at).map(Some),
        }
    }

    /// Keys present in the object that were not read (ignoring id/extension/_x).
    fn unknown(&self) -> Vec<String> {
        self.map
            .keys()
            .filter(|k| {
                !k.starts_with('_')
                    && !IGNORED.contains(&k.as_str())
                    && !self.seen.contains(&k.as_str())
            })
            .cloned()
            .collect()
    }
}

/// Parses a TestScript resource (`resourceType` already checked by the caller).
pub fn parse_script(value: &Value) -> Result<Script, ShapeError> {
    let mut o = Obj::new(value, "TestScript")?;
    let mut script = Script {
        id: o.string("id")?,
        name: o.string("name")?,
        title: o.string("title")?,
        url: o.string("url")?,
        destinations: o.array("destination")?.len(),
        ..Script::default()
    };
    for (i, f) in o.array("fixture")?.iter().enumerate() {
        let at = format!("TestScript.fixture[{i}]");
        let mut fo = Obj::new(f, &at)?;
        let reference = match fo.object("resource")? {
            Some(mut r) => r.string("reference")?,
            None => None,
        };
        script.fixtures.push(FixtureDef {
            id: fo.string("id")?,
            autocreate: fo.boolean("autocreate")?.unwrap_or(false),
            autodelete: fo.boolean("autodelete")?.unwrap_or(false),
            reference,
        });
    }
    for (i, v) in o.array("variable")?.iter().enumerate() {
        let at = format!("TestScript.variable[{i}]");
        let mut vo = Obj::new(v, &at)?;
        let name = vo
            .string("name")?
            .ok_or_else(|| (format!("{at}.name"), "required".to_string()))?;
        script.variables.push(Variable {
            name,
            default_value: vo.string("defaultValue")?,
            expression: vo.string("expression")?,
            header_field: vo.string("headerField")?,
            hint: vo.string("hint")?,
            path: vo.string("path")?,
            source_id: vo.string("sourceId")?,
        });
    }
    if let Some(mut setup) = o.object("setup")? {
        script.setup = parse_actions(&mut setup)?;
    }
    for (i, t) in o.array("test")?.iter().enumerate() {
        let mut to = Obj::new(t, &format!("TestScript.test[{i}]"))?;
        script.tests.push(Test {
            name: to.string("name")?,
            description: to.string("description")?,
            actions: parse_actions(&mut to)?,
        });
    }
    if let Some(mut teardown) = o.object("teardown")? {
        script.teardown = parse_actions(&mut teardown)?;
    }
    Ok(script)
}

fn parse_actions(parent: &mut Obj<'_>) -> Result<Vec<Action>, ShapeError> {
    let base = format!("{}.action", parent.at);
    let mut out = Vec::new();
    for (i, a) in parent.array("action")?.iter().enumerate() {
        let at = format!("{base}[{i}]");
        let mut ao = Obj::new(a, &at)?;
        let op = ao.object("operation")?;
        let asrt = ao.object("assert")?;
        out.push(match (op, asrt) {
            (Some(mut op), None) => Action::Operation(parse_operation(&mut op)?),
            (None, Some(mut a)) => Action::Assert(parse_assert(&mut a)?),
            (Some(_), Some(_)) => Action::Invalid(format!("{at} has both operation and assert")),
            (None, None) => Action::Invalid(format!("{at} has neither operation nor assert")),
        });
    }
    Ok(out)
}

fn parse_operation(o: &mut Obj<'_>) -> Result<Operation, ShapeError> {
    let type_code = match o.object("type")? {
        Some(mut t) => t.string("code")?,
        None => None,
    };
    // Checked for shape only: requests are always URI-encoded where needed, and the
    // runner itself is the single origin.
    o.boolean("encodeRequestUrl")?;
    o.integer("origin")?;
    let mut request_header = Vec::new();
    for (i, h) in o.array("requestHeader")?.iter().enumerate() {
        let mut ho = Obj::new(h, &format!("{}.requestHeader[{i}]", o.at))?;
        match (ho.string("field")?, ho.string("value")?) {
            (Some(f), Some(v)) => request_header.push((f, v)),
            _ => {
                return Err((
                    format!("{}.requestHeader[{i}]", o.at),
                    "field and value are required".into(),
                ));
            }
        }
    }
    let mut op = Operation {
        type_code,
        resource: o.string("resource")?,
        label: o.string("label")?,
        description: o.string("description")?,
        accept: o.string("accept")?,
        content_type: o.string("contentType")?,
        destination: o.integer("destination")?,
        method: o.string("method")?,
        params: o.string("params")?,
        request_header,
        request_id: o.string("requestId")?,
        response_id: o.string("responseId")?,
        source_id: o.string("sourceId")?,
        target_id: o.string("targetId")?,
        url: o.string("url")?,
        unknown: Vec::new(),
    };
    op.unknown = o.unknown();
    Ok(op)
}

fn parse_assert(o: &mut Obj<'_>) -> Result<Assert, ShapeError> {
    let mut a = Assert {
        label: o.string("label")?,
        description: o.string("description")?,
        direction: o.string("direction")?,
        compare_to_source_id: o.string("compareToSourceId")?,
        compare_to_source_expression: o.string("compareToSourceExpression")?,
        compare_to_source_path: o.string("compareToSourcePath")?,
        content_type: o.string("contentType")?,
        expression: o.string("expression")?,
        header_field: o.string("headerField")?,
        minimum_id: o.string("minimumId")?,
        navigation_links: o.boolean("navigationLinks")?,
        operator: o.string("operator")?,
        path: o.string("path")?,
        request_method: o.string("requestMethod")?,
        request_url: o.string("requestURL")?,
        resource: o.string("resource")?,
        response: o.string("response")?,
        response_code: o.string("responseCode")?,
        source_id: o.string("sourceId")?,
        validate_profile_id: o.string("validateProfileId")?,
        value: o.string("value")?,
        warning_only: o.boolean("warningOnly")?.unwrap_or(false),
        extension_urls: o
            .map
            .get("extension")
            .and_then(Value::as_array)
            .map(|exts| {
                exts.iter()
                    .filter_map(|e| e.get("url").and_then(Value::as_str).map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
        unknown: Vec::new(),
    };
    a.unknown = o.unknown();
    Ok(a)
}
