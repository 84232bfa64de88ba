//! Structural validation of a parsed resource against the R4 model: element
//! names, JSON shapes, primitive lexical forms, cardinality, choice types,
//! `_element` companions, extensions and required bindings. No FHIRPath.

mod path;
mod primitive;

use crate::model::{ChildRef, Elem, Model, TypeKind};
use crate::outcome::Issue;
use path::Seg;
use serde_json::{Map, Value};

/// Objects nested deeper than this are reported instead of walked (the strict
/// parser already caps JSON depth at 128; this guards hand-built values).
const MAX_DEPTH: usize = 100;

/// Validates `resource`; returns the issues in document order (empty = valid).
pub fn validate_resource(model: &Model, resource: &Value) -> Vec<Issue> {
    let mut w = Walker {
        m: model,
        issues: Vec::new(),
        seen: Vec::new(),
    };
    w.resource(resource, &Seg::Root(""), 0, false);
    w.issues
}

struct Walker<'m> {
    m: &'m Model,
    issues: Vec<Issue>,
    /// Elements present in the objects being walked (a stack shared by all
    /// levels, to avoid an allocation per object): (element, choice variant).
    seen: Vec<(usize, Option<usize>)>,
}

impl<'m> Walker<'m> {
    fn report(&mut self, code: &'static str, at: &Seg<'_>, msg: impl Into<String>) {
        let expr = at.render();
        self.issues
            .push(Issue::error(code, (!expr.is_empty()).then_some(expr), msg));
    }

    /// A resource at `at` ("" for the top level, which then takes its type name).
    fn resource(&mut self, v: &Value, at: &Seg<'_>, depth: usize, contained: bool) {
        let Some(obj) = v.as_object() else {
            self.report(
                "structure",
                at,
                format!(
                    "expected a resource (JSON object), found {}",
                    primitive::kind(v)
                ),
            );
            return;
        };
        let rt = match obj.get("resourceType") {
            None => {
                self.report(
                    "required",
                    &Seg::Field(at, "resourceType"),
                    "missing resourceType",
                );
                return;
            }
            Some(Value::String(s)) => s.as_str(),
            Some(other) => {
                let msg = format!(
                    "resourceType must be a string, found {}",
                    primitive::kind(other)
                );
                self.report("structure", &Seg::Field(at, "resourceType"), msg);
                return;
            }
        };
        let root = match self.m.types.get(rt) {
            Some(t) if t.kind == TypeKind::Resource => t.root,
            _ => None,
        };
        let Some(root) = root else {
            self.report(
                "not-supported",
                &Seg::Field(at, "resourceType"),
                format!("unknown resource type '{rt}'"),
            );
            return;
        };
        let top = Seg::Root(rt);
        let at = if matches!(at, Seg::Root("")) {
            &top
        } else {
            at
        };
        if contained {
            if !obj.contains_key("id") {
                self.report(
                    "required",
                    &Seg::Field(at, "id"),
                    "a contained resource must have an id",
                );
            }
            if obj.contains_key("contained") {
                self.report(
                    "structure",
                    &Seg::Field(at, "contained"),
                    "a contained resource must not contain resources (dom-2)",
                );
            }
        }
        self.object(root, obj, at, depth + 1, true);
    }

    /// The content of an element of kind `node` (a type root or backbone element).
    fn object(
        &mut self,
        node: usize,
        obj: &Map<String, Value>,
        at: &Seg<'_>,
        depth: usize,
        is_resource: bool,
    ) {
        if depth > MAX_DEPTH {
            self.report("structure", at, "content is nested too deeply");
            return;
        }
        if obj.is_empty() {
            self.report("structure", at, "empty objects are not allowed");
            return;
        }
        let m = self.m;
        let mark = self.seen.len();
        let mut companion_key = String::new();
        for (key, val) in obj {
            if is_resource && key == "resourceType" {
                continue;
            }
            let (is_companion, name) = match key.strip_prefix('_') {
                Some(n) => (true, n),
                None => (false, key.as_str()),
            };
            let child = m.elems[node].children.get(name).copied();
            let Some(cr) = child.filter(|c| c.variant.is_some() || !m.elems[c.elem].is_choice)
            else {
                self.report(
                    "structure",
                    &Seg::Field(at, key),
                    format!("unknown element '{key}'"),
                );
                continue;
            };
            let elem = &m.elems[cr.elem];
            if elem.is_choice {
                let other = self.seen[mark..]
                    .iter()
                    .any(|&(e, v)| e == cr.elem && v != cr.variant);
                if other {
                    let msg = format!("only one type of choice element '{}' is allowed", elem.name);
                    self.report("structure", &Seg::Field(at, key), msg);
                }
            }
            self.seen.push((cr.elem, cr.variant));
            let ty = m.child_type(cr);
            let is_prim = ty.is_some_and(|t| m.is_primitive(t)) && elem.children.is_empty();
            if is_companion {
                if is_prim {
                    self.companion(elem, val, obj.get(name), &Seg::Field(at, key), depth);
                } else {
                    let msg = format!(
                        "'{key}' is only allowed next to a primitive element, '{name}' is not one"
                    );
                    self.report("structure", &Seg::Field(at, key), msg);
                }
                continue;
            }
            let companion = if is_prim {
                companion_key.clear();
                companion_key.push('_');
                companion_key.push_str(name);
                obj.get(&companion_key)
            } else {
                None
            };
            self.element(cr, val, companion, &Seg::Field(at, key), depth);
        }
        for &ci in &m.elems[node].child_list {
            let c = &m.elems[ci];
            if c.min > 0 && !self.seen[mark..].iter().any(|&(e, _)| e == ci) {
                let msg = format!("missing required element '{}' (min {})", c.name, c.min);
                self.report("required", &Seg::Field(at, &c.name), msg);
            }
        }
        self.seen.truncate(mark);
    }

    /// The JSON value of one element key: an array if it repeats, else one item.
    fn element(
        &mut self,
        cr: ChildRef,
        val: &Value,
        companion: Option<&Value>,
        at: &Seg<'_>,
        depth: usize,
    ) {
        let elem = &self.m.elems[cr.elem];
        if !elem.max_many() {
            if val.is_array() {
                self.report(
                    "structure",
                    at,
                    format!("'{}' is a single value, found an array", elem.name),
                );
            } else if val.is_null() {
                // null is only meaningful as a placeholder inside primitive arrays.
                self.report(
                    "structure",
                    at,
                    "null is not allowed here; omit the element instead",
                );
            } else {
                self.item(cr, val, companion, at, depth);
            }
            return;
        }
        let Value::Array(items) = val else {
            self.report(
                "structure",
                at,
                format!(
                    "'{}' repeats and must be an array, found {}",
                    elem.name,
                    primitive::kind(val)
                ),
            );
            return;
        };
        if items.is_empty() {
            self.report("structure", at, "empty arrays are not allowed");
            return;
        }
        if let Some(max) = elem.max.filter(|&m| (items.len() as u64) > u64::from(m)) {
            self.report(
                "structure",
                at,
                format!("at most {max} values allowed, found {}", items.len()),
            );
        }
        let comp_items = companion.and_then(Value::as_array);
        for (i, item) in items.iter().enumerate() {
            let comp = comp_items.and_then(|c| c.get(i));
            self.item(cr, item, comp, &Seg::Index(at, i), depth);
        }
    }

    /// One value of an element (an array entry, or the value itself).
    fn item(
        &mut self,
        cr: ChildRef,
        v: &Value,
        companion: Option<&Value>,
        at: &Seg<'_>,
        depth: usize,
    ) {
        let m = self.m;
        let elem = &m.elems[cr.elem];
        let ty = m.child_type(cr).unwrap_or("");
        if !elem.children.is_empty() || elem.content_ref.is_some() {
            if let Some(node) = m.children_node(cr) {
                self.complex(node, v, at, depth, "BackboneElement");
            }
            return;
        }
        if ty == "Resource" {
            self.resource(
                v,
                at,
                depth,
                elem.name == "contained" && elem.path.matches('.').count() == 1,
            );
            return;
        }
        if m.is_primitive(ty) {
            self.primitive(elem, ty, v, companion, at);
            return;
        }
        let Some(node) = m.types.get(ty).and_then(|t| t.root) else {
            self.report(
                "structure",
                at,
                format!("element type '{ty}' is not supported"),
            );
            return;
        };
        if self.complex(node, v, at, depth, ty) {
            self.after_complex(elem, ty, v, at);
        }
    }

    /// Walks an object-valued item; false if it was not an object.
    fn complex(&mut self, node: usize, v: &Value, at: &Seg<'_>, depth: usize, ty: &str) -> bool {
        match v {
            Value::Object(obj) => {
                self.object(node, obj, at, depth + 1, false);
                true
            }
            _ => {
                self.report(
                    "structure",
                    at,
                    format!(
                        "expected an object for a {ty}, found {}",
                        primitive::kind(v)
                    ),
                );
                false
            }
        }
    }

    fn primitive(
        &mut self,
        elem: &Elem,
        ty: &str,
        v: &Value,
        companion: Option<&Value>,
        at: &Seg<'_>,
    ) {
        if v.is_null() {
            if !companion.is_some_and(Value::is_object) {
                self.report("structure", at, "null is only allowed in an array whose '_' companion has an object at the same index");
            }
            return;
        }
        if let Err((code, msg)) = primitive::check(ty, v) {
            self.report(code, at, msg);
            return;
        }
        if let (Some(vs), Some(code)) = (elem.binding, v.as_str()) {
            let vs = &self.m.value_sets[vs];
            if vs.contains(code) == Some(false) {
                self.report(
                    "code-invalid",
                    at,
                    format!("'{code}' is not in the required value set {}", vs.url),
                );
            }
        }
    }

    /// The `_name` companion of a primitive element: Element content (id, extension).
    fn companion(
        &mut self,
        elem: &Elem,
        val: &Value,
        value: Option<&Value>,
        at: &Seg<'_>,
        depth: usize,
    ) {
        let Some(node) = self.m.types.get("Element").and_then(|t| t.root) else {
            return;
        };
        if !elem.max_many() {
            if val.is_array() {
                self.report(
                    "structure",
                    at,
                    "companion of a single value must not be an array",
                );
            } else {
                self.complex(node, val, at, depth, "Element");
            }
            return;
        }
        let Value::Array(items) = val else {
            self.report(
                "structure",
                at,
                format!("companion must be an array, found {}", primitive::kind(val)),
            );
            return;
        };
        let values = value.and_then(Value::as_array);
        if let Some(values) = values.filter(|vals| vals.len() != items.len()) {
            let msg = format!(
                "has {} entries but '{}' has {}",
                items.len(),
                elem.name,
                values.len()
            );
            self.report("structure", at, msg);
        }
        if items.is_empty() {
            self.report("structure", at, "empty arrays are not allowed");
        }
        for (i, item) in items.iter().enumerate() {
            let at = Seg::Index(at, i);
            if item.is_null() {
                let has_value = values
                    .and_then(|vs| vs.get(i))
                    .is_some_and(|v| !v.is_null());
                if !has_value {
                    self.report(
                        "structure",
                        &at,
                        "null companion without a value at the same index",
                    );
                }
            } else {
                self.complex(node, item, &at, depth, "Element");
            }
        }
    }

    /// Checks that need the whole complex value: extension shape, required bindings.
    fn after_complex(&mut self, elem: &Elem, ty: &str, v: &Value, at: &Seg<'_>) {
        if ty == "Extension" {
            let has_value = v.as_object().is_some_and(|o| {
                o.keys()
                    .any(|k| k.starts_with("value") || k.starts_with("_value"))
            });
            let has_nested = v.get("extension").is_some();
            if has_value == has_nested {
                self.report("invariant", at, "an extension must have either a value[x] or nested extensions, not both or neither (ext-1)");
            }
        }
        let Some(vs) = elem.binding else { return };
        match ty {
            "Coding" => self.check_coding(vs, v, &Seg::Field(at, "code")),
            "CodeableConcept" => {
                if let Some(codings) = v.get("coding").and_then(Value::as_array) {
                    let coding_at = Seg::Field(at, "coding");
                    for (i, c) in codings.iter().enumerate() {
                        let item_at = Seg::Index(&coding_at, i);
                        self.check_coding(vs, c, &Seg::Field(&item_at, "code"));
                    }
                }
            }
            _ => {}
        }
    }

    /// A Coding is checked only when its system is one the ValueSet draws from.
    fn check_coding(&mut self, vs: usize, coding: &Value, at: &Seg<'_>) {
        let (Some(system), Some(code)) = (
            coding.get("system").and_then(Value::as_str),
            coding.get("code").and_then(Value::as_str),
        ) else {
            return;
        };
        let vs = &self.m.value_sets[vs];
        if vs.contains_in(system, code) == Some(false) {
            self.report(
                "code-invalid",
                at,
                format!(
                    "'{code}' is not in the required value set {} (system {system})",
                    vs.url
                ),
            );
        }
    }
}
