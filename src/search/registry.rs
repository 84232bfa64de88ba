//! The SearchParameter registry: the official R4 definitions (fhir-profiles/search-parameters),
//! parsed once, keyed by resource type and code.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use hms_fhirpath::{BinaryOp, Expr};
use serde_json::Value;

const R4_SEARCH_PARAMETERS: &str =
    include_str!("../../fhir-profiles/search-parameters/search-parameters.json");
const IMPLICIT_CODE_SYSTEMS: &str = include_str!("../../fhir-profiles/implicit-code-systems.tsv");

/// The CodeSystem a bare `code` indexed by the official parameter `url` on `resource_type` belongs
/// to (the element has a required binding to a ValueSet of that one CodeSystem), so that
/// `gender=http://hl7.org/fhir/administrative-gender|male` matches like `gender=male` does.
pub fn implicit_system(resource_type: &str, url: &str) -> Option<&'static str> {
    static T: OnceLock<HashMap<(&'static str, &'static str), &'static str>> = OnceLock::new();
    T.get_or_init(|| {
        IMPLICIT_CODE_SYSTEMS
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let mut f = l.split('\t');
                Some(((f.next()?, f.next()?), f.next()?))
            })
            .collect()
    })
    .get(&(resource_type, url))
    .copied()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Number,
    Date,
    String,
    Token,
    Reference,
    Composite,
    Quantity,
    Uri,
    Special,
}

impl Kind {
    pub fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "number" => Kind::Number,
            "date" => Kind::Date,
            "string" => Kind::String,
            "token" => Kind::Token,
            "reference" => Kind::Reference,
            "composite" => Kind::Composite,
            "quantity" => Kind::Quantity,
            "uri" => Kind::Uri,
            "special" => Kind::Special,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Number => "number",
            Kind::Date => "date",
            Kind::String => "string",
            Kind::Token => "token",
            Kind::Reference => "reference",
            Kind::Composite => "composite",
            Kind::Quantity => "quantity",
            Kind::Uri => "uri",
            Kind::Special => "special",
        }
    }

    /// Modifiers we implement for this kind (the CapabilityStatement lists exactly these).
    pub fn modifiers(self) -> &'static [&'static str] {
        match self {
            Kind::String => &["exact", "contains", "missing"],
            Kind::Token => &["not", "text", "missing", "of-type"],
            Kind::Reference => &["missing", "identifier", "[type]"],
            Kind::Uri => &["below", "above", "missing"],
            Kind::Date | Kind::Number | Kind::Quantity | Kind::Composite => &["missing"],
            Kind::Special => &[],
        }
    }
}

#[derive(Debug, Clone)]
pub struct Component {
    pub kind: Kind,
    pub expression: Expr,
}

#[derive(Debug, Clone)]
pub struct SearchParam {
    pub code: String,
    pub url: String,
    pub kind: Kind,
    /// The expression restricted to the branches for this resource type.
    pub expression: Expr,
    pub expression_text: String,
    /// Target resource types of a reference parameter.
    pub targets: Vec<String>,
    pub components: Vec<Component>,
}

#[derive(Default)]
pub struct Registry {
    by_type: HashMap<String, HashMap<String, Arc<SearchParam>>>,
    /// Resource-level parameters (base Resource/DomainResource) that apply to every type.
    common: HashMap<String, Arc<SearchParam>>,
}

/// Parameters handled from the resource table (not the index) or as result controls.
pub const BUILTIN: &[&str] = &["_id", "_lastUpdated"];

impl Registry {
    pub fn r4() -> &'static Registry {
        static R: OnceLock<Registry> = OnceLock::new();
        R.get_or_init(|| Registry::load(R4_SEARCH_PARAMETERS))
    }

    /// Builds the registry from a Bundle of SearchParameters. Parameters without an expression,
    /// or whose expression does not parse, are left out (and so not advertised).
    pub fn load(bundle_json: &str) -> Registry {
        let mut reg = Registry::default();
        let Ok(bundle) = serde_json::from_str::<Value>(bundle_json) else {
            return reg;
        };
        let sps: Vec<&Value> = bundle["entry"]
            .as_array()
            .map(|a| a.iter().filter_map(|e| e.get("resource")).collect())
            .unwrap_or_default();
        let kinds_by_url: HashMap<&str, Kind> = sps
            .iter()
            .filter_map(|sp| Some((sp["url"].as_str()?, Kind::parse(sp["type"].as_str()?)?)))
            .collect();
        for sp in sps {
            reg.add(sp, &kinds_by_url);
        }
        reg
    }

    fn add(&mut self, sp: &Value, kinds_by_url: &HashMap<&str, Kind>) {
        let (Some(code), Some(kind), Some(expr_text)) = (
            sp["code"].as_str(),
            sp["type"].as_str().and_then(Kind::parse),
            sp["expression"].as_str(),
        ) else {
            return;
        };
        if kind == Kind::Special {
            return;
        }
        let Ok(full) = hms_fhirpath::parse(expr_text) else {
            return;
        };
        let mut components = Vec::new();
        for c in sp["component"].as_array().into_iter().flatten() {
            let kind = c["definition"]
                .as_str()
                .and_then(|u| kinds_by_url.get(u))
                .copied();
            let expr = c["expression"]
                .as_str()
                .and_then(|e| hms_fhirpath::parse(e).ok());
            match (kind, expr) {
                (Some(kind), Some(expression)) => components.push(Component { kind, expression }),
                _ => return,
            }
        }
        let targets: Vec<String> = sp["target"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str().map(str::to_string))
            .collect();
        let url = sp["url"].as_str().unwrap_or_default().to_string();
        for base in sp["base"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            let expression = restrict_to_type(&full, base).unwrap_or_else(|| full.clone());
            let param = Arc::new(SearchParam {
                code: code.to_string(),
                url: url.clone(),
                kind,
                expression,
                expression_text: expr_text.to_string(),
                targets: targets.clone(),
                components: components.clone(),
            });
            if base == "Resource" || base == "DomainResource" {
                self.common.insert(code.to_string(), param);
            } else {
                self.by_type
                    .entry(base.to_string())
                    .or_default()
                    .insert(code.to_string(), param);
            }
        }
    }

    pub fn get(&self, resource_type: &str, code: &str) -> Option<&Arc<SearchParam>> {
        self.by_type
            .get(resource_type)
            .and_then(|m| m.get(code))
            .or_else(|| self.common.get(code))
    }

    /// Every parameter that applies to `resource_type`, sorted by code.
    pub fn params_for(&self, resource_type: &str) -> Vec<&Arc<SearchParam>> {
        let mut v: Vec<&Arc<SearchParam>> = self
            .common
            .iter()
            .filter(|(code, _)| {
                !self
                    .by_type
                    .get(resource_type)
                    .is_some_and(|m| m.contains_key(*code))
            })
            .map(|(_, p)| p)
            .chain(
                self.by_type
                    .get(resource_type)
                    .into_iter()
                    .flat_map(|m| m.values()),
            )
            .collect();
        v.sort_by(|a, b| a.code.cmp(&b.code));
        v
    }
}

/// Keeps only the top-level union branches that start with `base` (or are not type-rooted), so
/// extracting a Patient does not evaluate 80 branches written for other types.
fn restrict_to_type(expr: &Expr, base: &str) -> Option<Expr> {
    let mut branches = Vec::new();
    collect_union(expr, &mut branches);
    let kept: Vec<&Expr> = branches
        .into_iter()
        .filter(|b| match root_name(b) {
            Some(root) if root.chars().next().is_some_and(char::is_uppercase) => {
                root == base || root == "Resource" || root == "DomainResource"
            }
            _ => true,
        })
        .collect();
    let mut it = kept.into_iter().cloned();
    let first = it.next()?;
    Some(it.fold(first, |acc, e| Expr::Binary {
        op: BinaryOp::Union,
        left: Box::new(acc),
        right: Box::new(e),
    }))
}

fn collect_union<'a>(e: &'a Expr, out: &mut Vec<&'a Expr>) {
    match e {
        Expr::Binary {
            op: BinaryOp::Union,
            left,
            right,
        } => {
            collect_union(left, out);
            collect_union(right, out);
        }
        other => out.push(other),
    }
}

/// The leading identifier of a path expression (`Patient` in `Patient.name.given`).
fn root_name(e: &Expr) -> Option<&str> {
    match e {
        Expr::Member { target: None, name } => Some(name),
        Expr::Member {
            target: Some(t), ..
        }
        | Expr::Function {
            target: Some(t), ..
        } => root_name(t),
        Expr::Index { target, .. } => root_name(target),
        Expr::TypeOp { operand, .. } => root_name(operand),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_the_r4_parameters() {
        let r = Registry::r4();
        let name = r.get("Patient", "name").unwrap();
        assert_eq!(name.kind, Kind::String);
        let bd = r.get("Patient", "birthdate").unwrap();
        assert_eq!(bd.kind, Kind::Date);
        assert!(r.get("Observation", "subject").unwrap().targets.len() > 3);
        assert_eq!(
            r.get("Observation", "code-value-quantity")
                .unwrap()
                .components
                .len(),
            2
        );
        assert_eq!(r.get("Patient", "_tag").unwrap().kind, Kind::Token);
        assert!(r.get("Patient", "bogus").is_none());
        // Patient's share of the clinical "patient" union keeps only Patient-rooted branches.
        let codes: Vec<&str> = r
            .params_for("Patient")
            .iter()
            .map(|p| p.code.as_str())
            .collect();
        assert!(
            codes.contains(&"identifier")
                && codes.contains(&"family")
                && codes.contains(&"_profile")
        );
        assert!(r.params_for("Appointment").len() > 10);
    }
}
