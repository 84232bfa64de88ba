//! FHIR JSON knowledge: type provider hook, choice elements, primitive
//! extensions (`_name` companions) and type-hierarchy checks.

use std::borrow::Cow;

use serde_json::Value;

use crate::ast::TypeSpec;
use crate::item::{Item, NULL, Node};

pub(crate) const UCUM: &str = "http://unitsofmeasure.org";

/// Supplies FHIR element types that JSON alone does not carry.
///
/// `parent_type` is a type code previously returned by the provider, a choice
/// suffix type, or a resourceType. For backbone elements a provider may return
/// a path-like name (e.g. `"Patient.contact"`) and accept it back as `parent_type`;
/// such names are treated as subtypes of `BackboneElement`.
pub trait TypeProvider {
    /// The FHIR type code of `parent_type.element`, e.g. ("Patient","birthDate") → "date".
    fn child_type(&self, parent_type: &str, element: &str) -> Option<String>;
}

/// Type names that may suffix a choice element (`value[x]` → `valueQuantity`).
const CHOICE_TYPES: &[&str] = &[
    "Base64Binary",
    "Boolean",
    "Canonical",
    "Code",
    "Date",
    "DateTime",
    "Decimal",
    "Id",
    "Instant",
    "Integer",
    "Markdown",
    "Oid",
    "PositiveInt",
    "String",
    "Time",
    "UnsignedInt",
    "Uri",
    "Url",
    "Uuid",
    "Address",
    "Age",
    "Annotation",
    "Attachment",
    "CodeableConcept",
    "Coding",
    "ContactPoint",
    "Count",
    "Distance",
    "Duration",
    "HumanName",
    "Identifier",
    "Money",
    "Period",
    "Quantity",
    "Range",
    "Ratio",
    "Reference",
    "SampledData",
    "Signature",
    "Timing",
    "ContactDetail",
    "Contributor",
    "DataRequirement",
    "Expression",
    "ParameterDefinition",
    "RelatedArtifact",
    "TriggerDefinition",
    "UsageContext",
    "Dosage",
    "Meta",
];

/// FHIR type code for a choice suffix: primitives start lower-case (`DateTime` → `dateTime`).
fn choice_type_code(suffix: &str) -> Cow<'static, str> {
    // The first 19 entries of CHOICE_TYPES are the primitive types.
    let primitive = CHOICE_TYPES[..19].contains(&suffix);
    if primitive {
        let mut c = suffix.chars();
        let first = c.next().map(|f| f.to_ascii_lowercase()).unwrap_or_default();
        Cow::Owned(std::iter::once(first).chain(c).collect())
    } else {
        Cow::Owned(suffix.to_string())
    }
}

/// The System type implied by a JSON scalar when no FHIR type is known.
pub(crate) fn heuristic_system_type(v: &Value) -> Option<&'static str> {
    match v {
        Value::String(_) => Some("System.String"),
        Value::Bool(_) => Some("System.Boolean"),
        Value::Number(n) => {
            if n.to_string().contains(['.', 'e', 'E']) {
                Some("System.Decimal")
            } else {
                Some("System.Integer")
            }
        }
        _ => None,
    }
}

/// The System type a FHIR primitive type maps to.
pub(crate) fn fhir_to_system(code: &str) -> Option<&'static str> {
    Some(match code {
        "string" | "code" | "id" | "markdown" | "uri" | "url" | "canonical" | "oid" | "uuid"
        | "base64Binary" | "xhtml" => "String",
        "boolean" => "Boolean",
        "integer" | "positiveInt" | "unsignedInt" | "integer64" => "Integer",
        "decimal" => "Decimal",
        "date" => "Date",
        "dateTime" | "instant" => "DateTime",
        "time" => "Time",
        _ => return None,
    })
}

/// Resources that derive directly from Resource rather than DomainResource.
fn is_plain_resource(t: &str) -> bool {
    matches!(t, "Bundle" | "Binary" | "Parameters")
}

/// Whether FHIR type `actual` is `wanted` or derives from it.
fn fhir_subtype(actual: &str, wanted: &str, is_resource: bool) -> bool {
    if actual == wanted {
        return true;
    }
    match wanted {
        "Resource" => is_resource,
        "DomainResource" => is_resource && !is_plain_resource(actual),
        "Base" => true,
        "Element" => !is_resource,
        "BackboneElement" => actual.contains('.'),
        "Quantity" => matches!(
            actual,
            "Age" | "Count" | "Distance" | "Duration" | "SimpleQuantity" | "MoneyQuantity"
        ),
        "string" => matches!(actual, "code" | "id" | "markdown"),
        "uri" => matches!(actual, "url" | "canonical" | "oid" | "uuid"),
        "integer" => matches!(actual, "positiveInt" | "unsignedInt"),
        _ => false,
    }
}

/// `is` / `ofType` / `as` type test. Lenient across namespaces: an unqualified
/// FHIR primitive name also matches the System type it maps to and vice versa
/// (so `ofType(string)` works on untyped JSON strings).
pub(crate) fn matches_type(item: &Item<'_>, spec: &TypeSpec) -> bool {
    let ns = spec.namespace.as_deref();
    let name = spec.name.as_str();
    let system_ok = ns != Some("FHIR");
    let fhir_ok = ns != Some("System");
    match item {
        Item::Node(n) => {
            let is_resource = n.value.get("resourceType").is_some();
            match &n.type_name {
                Some(t) => {
                    (fhir_ok && fhir_subtype(t, name, is_resource))
                        || (system_ok && fhir_to_system(t) == Some(name))
                        || (fhir_ok
                            && ns.is_none()
                            && fhir_to_system(name).is_some()
                            && fhir_to_system(name) == fhir_to_system(t))
                }
                None => match heuristic_system_type(n.value) {
                    Some(sys) => {
                        let sys = sys.trim_start_matches("System.");
                        (system_ok && name == sys) || (fhir_ok && fhir_to_system(name) == Some(sys))
                    }
                    None => fhir_ok && matches!(name, "Element" | "Base"),
                },
            }
        }
        Item::ResourceStub { resource_type, .. } => {
            fhir_ok && fhir_subtype(resource_type, name, true)
        }
        other => {
            let sys = other
                .type_name()
                .unwrap_or_default()
                .trim_start_matches("System.");
            (system_ok && name == sys)
                || (fhir_ok && fhir_to_system(name) == Some(sys))
                || (fhir_ok && sys == "Quantity" && name == "Quantity")
        }
    }
}

/// Whether `item` is a resource of type `name` (or a base of it); used when an
/// expression starts with a type name (`Patient.name`).
pub(crate) fn is_resource_of_type(item: &Item<'_>, name: &str) -> bool {
    match item {
        Item::Node(n) => match n.value.get("resourceType").and_then(Value::as_str) {
            Some(rt) => fhir_subtype(rt, name, true),
            None => false,
        },
        Item::ResourceStub { resource_type, .. } => fhir_subtype(resource_type, name, true),
        _ => false,
    }
}

/// The type used as `parent_type` for child lookups.
fn parent_type<'n>(node: &'n Node<'_>) -> Option<&'n str> {
    node.type_name.as_deref()
}

/// Children named `name` of one item, following FHIR JSON conventions.
pub(crate) fn children<'a>(
    item: &Item<'a>,
    name: &str,
    types: Option<&dyn crate::TypeProvider>,
    out: &mut Vec<Item<'a>>,
) {
    let Item::Node(node) = item else { return };
    // A primitive's id/extension live in its `_name` companion object.
    let obj = match (node.value, node.extension) {
        (Value::Object(m), _) => m,
        (_, Some(Value::Object(m))) => m,
        _ => return,
    };
    let ptype = parent_type(node);
    if let Some(v) = obj.get(name) {
        let ty = element_type(ptype, name, types);
        push_values(v, obj.get(&format!("_{name}")), ty, out);
        return;
    }
    let underscore = format!("_{name}");
    if let Some(ext) = obj.get(&underscore) {
        // Only the companion exists (all values null or absent).
        let ty = element_type(ptype, name, types);
        push_values(&NULL, Some(ext), ty, out);
        return;
    }
    // Choice element: `value` → `valueQuantity` etc.
    for (key, v) in obj.iter() {
        if let Some(suffix) = key.strip_prefix(name)
            && CHOICE_TYPES.contains(&suffix)
        {
            let ext = obj.get(&format!("_{key}"));
            push_values(v, ext, Some(choice_type_code(suffix)), out);
        }
    }
    for (key, ext) in obj.iter() {
        if let Some(suffix) = key.strip_prefix('_').and_then(|k| k.strip_prefix(name))
            && CHOICE_TYPES.contains(&suffix)
            && !obj.contains_key(&key[1..])
        {
            push_values(&NULL, Some(ext), Some(choice_type_code(suffix)), out);
        }
    }
}

fn element_type<'a>(
    parent: Option<&str>,
    name: &str,
    types: Option<&dyn crate::TypeProvider>,
) -> Option<Cow<'a, str>> {
    if let (Some(p), Some(tp)) = (parent, types)
        && let Some(t) = tp.child_type(p, name)
    {
        return Some(Cow::Owned(t));
    }
    // Types that are certain from the element name alone.
    match name {
        "extension" | "modifierExtension" => Some(Cow::Borrowed("Extension")),
        _ => None,
    }
}

/// Flattens arrays, pairing entries with their `_name` companions.
fn push_values<'a>(
    v: &'a Value,
    ext: Option<&'a Value>,
    ty: Option<Cow<'a, str>>,
    out: &mut Vec<Item<'a>>,
) {
    let mk = |value: &'a Value, extension: Option<&'a Value>| {
        // Contained/entry resources carry their own type.
        let type_name = match value.get("resourceType").and_then(Value::as_str) {
            Some(rt) => Some(Cow::Borrowed(rt)),
            None => ty.clone(),
        };
        Item::Node(Node {
            value,
            extension: extension.filter(|e| !e.is_null()),
            type_name,
        })
    };
    match (v, ext) {
        (Value::Array(vals), Some(Value::Array(exts))) => {
            let n = vals.len().max(exts.len());
            for i in 0..n {
                let value = vals.get(i).unwrap_or(&NULL);
                let e = exts.get(i).filter(|e| !e.is_null());
                if value.is_null() && e.is_none() {
                    continue;
                }
                out.push(mk(value, e));
            }
        }
        (Value::Array(vals), _) => {
            for value in vals.iter().filter(|v| !v.is_null()) {
                out.push(mk(value, None));
            }
        }
        (Value::Null, Some(Value::Array(exts))) => {
            for e in exts.iter().filter(|e| !e.is_null()) {
                out.push(mk(&NULL, Some(e)));
            }
        }
        (Value::Null, None) => {}
        (value, e) => {
            if !(value.is_null() && e.is_none_or(Value::is_null)) {
                out.push(mk(value, e));
            }
        }
    }
}

/// UCUM code for a quantity literal's unit; calendar words map to UCUM where defined.
pub(crate) fn ucum_code(unit: &str) -> Option<&str> {
    Some(match unit {
        "year" | "years" => "a",
        "month" | "months" => "mo",
        "week" | "weeks" => "wk",
        "day" | "days" => "d",
        "hour" | "hours" => "h",
        "minute" | "minutes" => "min",
        "second" | "seconds" => "s",
        "millisecond" | "milliseconds" => "ms",
        other => other,
    })
}
