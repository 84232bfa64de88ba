//! Evaluation results: nodes pointing into the input JSON, or literal values.

use std::borrow::Cow;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::Value;

use crate::model;
use crate::temporal::{Temporal, TemporalKind};

/// A JSON null used as the value of primitives that only carry an extension
/// (e.g. `"given": [null]` with `"_given": [{"extension": [...]}]`).
pub(crate) static NULL: Value = Value::Null;

/// A node in the input tree. `value` borrows from the input; `extension` is the
/// `_name` companion object of a primitive (id + extension), if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Node<'a> {
    pub value: &'a Value,
    pub extension: Option<&'a Value>,
    /// FHIR type code when known (TypeProvider, choice suffix or resourceType).
    pub type_name: Option<Cow<'a, str>>,
}

/// One item of a FHIRPath collection.
#[derive(Debug, Clone, PartialEq)]
pub enum Item<'a> {
    Node(Node<'a>),
    String(Cow<'a, str>),
    Integer(i64),
    Decimal(Decimal),
    Boolean(bool),
    Date(Temporal),
    DateTime(Temporal),
    Time(Temporal),
    Quantity {
        value: Decimal,
        unit: String,
    },
    /// What `resolve()` returns for a reference it cannot find in the
    /// resource/Bundle: only the resource type (and id) parsed from the reference.
    ResourceStub {
        resource_type: String,
        id: Option<String>,
    },
}

impl<'a> Item<'a> {
    /// A node for a JSON value, typed from `resourceType` when it is a resource.
    pub fn node(value: &'a Value) -> Self {
        let type_name = value
            .get("resourceType")
            .and_then(Value::as_str)
            .map(Cow::Borrowed);
        Item::Node(Node {
            value,
            extension: None,
            type_name,
        })
    }

    pub(crate) fn temporal(t: Temporal) -> Self {
        match t.kind {
            TemporalKind::Date => Item::Date(t),
            TemporalKind::DateTime => Item::DateTime(t),
            TemporalKind::Time => Item::Time(t),
        }
    }

    /// The type name: a FHIR type code for nodes when known (`date`, `HumanName`,
    /// `Quantity`, `Patient`), otherwise a `System.*` name (`System.String`, ...).
    /// None for JSON objects of unknown type.
    pub fn type_name(&self) -> Option<&str> {
        match self {
            Item::Node(n) => match &n.type_name {
                Some(t) => Some(t.as_ref()),
                None => model::heuristic_system_type(n.value),
            },
            Item::String(_) => Some("System.String"),
            Item::Integer(_) => Some("System.Integer"),
            Item::Decimal(_) => Some("System.Decimal"),
            Item::Boolean(_) => Some("System.Boolean"),
            Item::Date(_) => Some("System.Date"),
            Item::DateTime(_) => Some("System.DateTime"),
            Item::Time(_) => Some("System.Time"),
            Item::Quantity { .. } => Some("System.Quantity"),
            Item::ResourceStub { resource_type, .. } => Some(resource_type),
        }
    }

    /// JSON form: nodes are cloned as-is; literals become JSON scalars
    /// (dates as strings, decimals with their exact text, Quantity as a FHIR Quantity).
    pub fn to_json(&self) -> Value {
        match self {
            Item::Node(n) => n.value.clone(),
            Item::String(s) => Value::String(s.to_string()),
            Item::Integer(i) => Value::from(*i),
            Item::Decimal(d) => decimal_json(d),
            Item::Boolean(b) => Value::Bool(*b),
            Item::Date(t) | Item::DateTime(t) | Item::Time(t) => Value::String(t.to_string()),
            Item::Quantity { value, unit } => {
                let mut m = serde_json::Map::new();
                m.insert("value".into(), decimal_json(value));
                m.insert("unit".into(), Value::String(unit.clone()));
                if let Some(code) = model::ucum_code(unit) {
                    m.insert("system".into(), Value::String(model::UCUM.into()));
                    m.insert("code".into(), Value::String(code.into()));
                }
                Value::Object(m)
            }
            Item::ResourceStub { resource_type, id } => {
                let mut m = serde_json::Map::new();
                m.insert("resourceType".into(), Value::String(resource_type.clone()));
                if let Some(id) = id {
                    m.insert("id".into(), Value::String(id.clone()));
                }
                Value::Object(m)
            }
        }
    }

    /// The string value of a String literal or a JSON string node.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Item::String(s) => Some(s),
            Item::Node(n) => n.value.as_str(),
            _ => None,
        }
    }

    /// The value of a Boolean literal or a JSON boolean node.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Item::Boolean(b) => Some(*b),
            Item::Node(n) => n.value.as_bool(),
            _ => None,
        }
    }

    /// The JSON value this item points into, for nodes.
    pub fn as_node(&self) -> Option<&Node<'a>> {
        match self {
            Item::Node(n) => Some(n),
            _ => None,
        }
    }

    /// Converts a primitive node into the matching literal variant using its
    /// type (date → Date, decimal → Decimal, ...). Complex nodes return None;
    /// literals return themselves.
    pub(crate) fn to_primitive(&self) -> Option<Item<'a>> {
        let Item::Node(n) = self else {
            return Some(self.clone());
        };
        let ty = n.type_name.as_deref();
        match n.value {
            Value::Bool(b) => Some(Item::Boolean(*b)),
            Value::String(s) => {
                let parsed = match ty {
                    Some("date") => Temporal::parse_date(s).map(Item::temporal),
                    Some("dateTime" | "instant") => Temporal::parse_datetime(s).map(Item::temporal),
                    Some("time") => Temporal::parse_time(s).map(Item::temporal),
                    _ => None,
                };
                Some(parsed.unwrap_or(Item::String(Cow::Borrowed(s.as_str()))))
            }
            Value::Number(num) => {
                let text = num.to_string();
                let integral = !text.contains(['.', 'e', 'E']);
                let wants_decimal = matches!(ty, Some("decimal"));
                if integral
                    && !wants_decimal
                    && let Ok(i) = text.parse::<i64>()
                {
                    return Some(Item::Integer(i));
                }
                parse_decimal(&text).map(Item::Decimal)
            }
            _ => None,
        }
    }
}

/// Parses decimal text including exponent forms (`1.2E+2`).
pub(crate) fn parse_decimal(text: &str) -> Option<Decimal> {
    if text.contains(['e', 'E']) {
        Decimal::from_scientific(text).ok()
    } else {
        Decimal::from_str(text).ok()
    }
}

fn decimal_json(d: &Decimal) -> Value {
    // arbitrary_precision keeps this exact text (e.g. "135.57").
    serde_json::from_str::<Value>(&d.to_string()).unwrap_or(Value::Null)
}
