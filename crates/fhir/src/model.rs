//! The FHIR R4 model: types, elements, required-binding expansions and
//! compartments, loaded once from the compact file generated from the official
//! definitions (`fhir-profiles/r4-model.txt`, see `tests/gen_model.rs`).

mod load;

use std::collections::HashMap;
use std::sync::OnceLock;

pub use load::ModelError;

static R4_COMPACT: &str = include_str!("../../../fhir-profiles/r4-model.txt");

/// What kind of type a StructureDefinition defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeKind {
    Resource,
    /// `Resource`, `DomainResource`: never instantiated.
    AbstractResource,
    Complex,
    Primitive,
}

/// Public description of one element definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElementInfo {
    /// Path where the element is defined, e.g. `HumanName.given` for
    /// `("Patient", "name.given")`.
    pub path: String,
    /// FHIR type codes; for a choice looked up by its JSON key, only that type.
    pub types: Vec<String>,
    pub min: u32,
    pub max_many: bool,
    pub is_choice: bool,
    /// For Reference/canonical: allowed target types (e.g. "Patient"); "Resource" = any.
    pub target_profiles: Vec<String>,
}

/// How a JSON key of an object maps onto an element.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChildRef {
    pub elem: usize,
    /// For a choice element reached via `valueQuantity`: index into `types`.
    /// `None` for a choice element means the key was the literal `value[x]`.
    pub variant: Option<usize>,
}

#[derive(Debug)]
pub(crate) struct Elem {
    pub path: String,
    /// Last path segment, e.g. `value[x]` or `given`.
    pub name: String,
    pub types: Vec<String>,
    pub min: u32,
    /// None = unbounded.
    pub max: Option<u32>,
    pub is_choice: bool,
    pub targets: Vec<String>,
    /// Index into `Model::value_sets` of a required binding.
    pub binding: Option<usize>,
    /// Resolved `contentReference`: children come from this element.
    pub content_ref: Option<usize>,
    /// JSON key -> child; includes every choice variant key.
    pub children: HashMap<String, ChildRef>,
    /// Distinct child elements in definition order (for cardinality checks).
    pub child_list: Vec<usize>,
}

impl Elem {
    pub fn max_many(&self) -> bool {
        self.max != Some(1) && self.max != Some(0)
    }
}

#[derive(Debug)]
pub(crate) struct TypeDef {
    pub kind: TypeKind,
    /// Root element (path == type name); None for primitives.
    pub root: Option<usize>,
}

/// An expanded required ValueSet: codes per system. `None` = cannot be
/// expanded here (external code system), so the binding is not checked.
#[derive(Debug)]
pub(crate) struct ValueSet {
    pub url: String,
    pub systems: Option<Vec<(String, Vec<String>)>>,
}

impl ValueSet {
    /// Some(true/false) when checkable.
    pub fn contains(&self, code: &str) -> Option<bool> {
        let systems = self.systems.as_ref()?;
        Some(
            systems
                .iter()
                .any(|(_, codes)| codes.binary_search_by(|c| c.as_str().cmp(code)).is_ok()),
        )
    }

    /// Some(true/false) when `system` is one of this ValueSet's systems.
    pub fn contains_in(&self, system: &str, code: &str) -> Option<bool> {
        let systems = self.systems.as_ref()?;
        let (_, codes) = systems.iter().find(|(s, _)| s == system)?;
        Some(codes.binary_search_by(|c| c.as_str().cmp(code)).is_ok())
    }
}

/// The loaded R4 model.
#[derive(Debug)]
pub struct Model {
    pub(crate) types: HashMap<String, TypeDef>,
    pub(crate) elems: Vec<Elem>,
    pub(crate) value_sets: Vec<ValueSet>,
    resource_types: Vec<String>,
    /// compartment -> resource type -> params
    compartments: HashMap<String, HashMap<String, Vec<String>>>,
    /// Element paths marked isSummary.
    summary: std::collections::HashSet<String>,
}

static R4: OnceLock<Model> = OnceLock::new();

impl Model {
    /// The R4 4.0.1 model, built on first use from the embedded compact file.
    pub fn r4() -> &'static Model {
        R4.get_or_init(|| match Model::from_compact(R4_COMPACT) {
            Ok(m) => m,
            // The embedded file is generated and checked by the test suite; a
            // failure here is a build defect, not a runtime condition.
            Err(e) => panic!("embedded R4 model is corrupt: {e}"),
        })
    }

    /// Builds a model from the compact text format.
    pub fn from_compact(text: &str) -> Result<Model, ModelError> {
        load::build(text)
    }

    pub(crate) fn new_parts(
        types: HashMap<String, TypeDef>,
        elems: Vec<Elem>,
        value_sets: Vec<ValueSet>,
        compartments: HashMap<String, HashMap<String, Vec<String>>>,
        summary: std::collections::HashSet<String>,
    ) -> Model {
        let mut resource_types: Vec<String> = types
            .iter()
            .filter(|(_, t)| t.kind == TypeKind::Resource)
            .map(|(n, _)| n.clone())
            .collect();
        resource_types.sort();
        Model {
            types,
            elems,
            value_sets,
            resource_types,
            compartments,
            summary,
        }
    }

    /// Whether the child `element` of `type_name` (a JSON key, choice keys included) is part of
    /// the summary view (`_summary=true`).
    pub fn is_summary(&self, type_name: &str, element: &str) -> bool {
        self.child(type_name, element)
            .is_some_and(|e| self.summary.contains(&e.path))
    }

    /// True for concrete resource types (not `Resource`/`DomainResource`).
    pub fn is_resource_type(&self, name: &str) -> bool {
        self.types
            .get(name)
            .is_some_and(|t| t.kind == TypeKind::Resource)
    }

    /// Concrete resource type names, sorted.
    pub fn resource_types(&self) -> Vec<&str> {
        self.resource_types.iter().map(String::as_str).collect()
    }

    /// Kind of a type name, if known.
    pub fn type_kind(&self, name: &str) -> Option<TypeKind> {
        self.types.get(name).map(|t| t.kind)
    }

    /// True if `name` is a FHIR primitive type (`string`, `date`, …).
    pub fn is_primitive(&self, name: &str) -> bool {
        self.type_kind(name) == Some(TypeKind::Primitive)
    }

    /// Element at a dotted path below a type, following complex types,
    /// backbone elements and content references. Segments may be element
    /// names (`value[x]`) or choice JSON keys (`valueQuantity`).
    pub fn element(&self, type_name: &str, path: &str) -> Option<ElementInfo> {
        let mut node = self.types.get(type_name)?.root?;
        let mut found: Option<ChildRef> = None;
        for seg in path.split('.') {
            if let Some(prev) = found {
                node = self.children_node(prev)?;
            }
            found = Some(*self.elems[node].children.get(seg)?);
        }
        found.map(|c| self.info(c))
    }

    /// One step: child `element` (name or choice JSON key) of a type's root.
    pub fn child(&self, type_name: &str, element: &str) -> Option<ElementInfo> {
        let root = self.types.get(type_name)?.root?;
        self.elems[root]
            .children
            .get(element)
            .map(|c| self.info(*c))
    }

    /// Search parameters linking `resource_type` to `compartment`
    /// (e.g. "Patient"); empty when the type is not in the compartment.
    pub fn compartment_params(&self, compartment: &str, resource_type: &str) -> &[String] {
        self.compartments
            .get(compartment)
            .and_then(|m| m.get(resource_type))
            .map_or(&[], Vec::as_slice)
    }

    /// Element whose children describe the content of child `c`: its inline
    /// children, its content reference, or the root of its (single) type.
    pub(crate) fn children_node(&self, c: ChildRef) -> Option<usize> {
        let e = &self.elems[c.elem];
        if !e.children.is_empty() {
            return Some(c.elem);
        }
        if let Some(r) = e.content_ref {
            return Some(r);
        }
        let ty = self.child_type(c)?;
        self.types.get(ty)?.root
    }

    /// The single type of a child reference, if it has one.
    pub(crate) fn child_type(&self, c: ChildRef) -> Option<&str> {
        let e = &self.elems[c.elem];
        match c.variant {
            Some(i) => e.types.get(i).map(String::as_str),
            None if e.types.len() == 1 => e.types.first().map(String::as_str),
            None => None,
        }
    }

    fn info(&self, c: ChildRef) -> ElementInfo {
        let e = &self.elems[c.elem];
        let types = match c.variant {
            Some(i) => e.types.get(i).cloned().into_iter().collect(),
            None => e.types.clone(),
        };
        ElementInfo {
            path: e.path.clone(),
            types,
            min: e.min,
            max_many: e.max_many(),
            is_choice: e.is_choice,
            target_profiles: e.targets.clone(),
        }
    }
}
