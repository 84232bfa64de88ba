//! Parser for the compact model text (format documented in `tests/gen_model.rs`).

use super::{ChildRef, Elem, Model, TypeDef, TypeKind, ValueSet};
use std::collections::HashMap;

/// Why a compact model could not be loaded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ModelError {
    #[error("line {line}: {reason}")]
    Malformed { line: usize, reason: String },
    #[error("element {path}: {reason}")]
    Unresolved { path: String, reason: String },
}

fn malformed(line: usize, reason: impl Into<String>) -> ModelError {
    ModelError::Malformed {
        line,
        reason: reason.into(),
    }
}

fn list(field: &str) -> Vec<String> {
    if field == "-" {
        Vec::new()
    } else {
        field.split(',').map(str::to_string).collect()
    }
}

fn opt(field: &str) -> Option<&str> {
    (field != "-").then_some(field)
}

/// `valueQuantity` for base `value` and type `Quantity`.
fn choice_key(base: &str, ty: &str) -> String {
    let mut key = String::with_capacity(base.len() + ty.len());
    key.push_str(base);
    let mut chars = ty.chars();
    if let Some(first) = chars.next() {
        key.extend(first.to_uppercase());
        key.push_str(chars.as_str());
    }
    key
}

#[derive(Default)]
struct Builder {
    types: HashMap<String, TypeDef>,
    elems: Vec<Elem>,
    by_path: HashMap<String, usize>,
    pending_binding: Vec<(usize, String)>,
    pending_ref: Vec<(usize, String)>,
    value_sets: Vec<ValueSet>,
    vs_index: HashMap<String, usize>,
    compartments: HashMap<String, HashMap<String, Vec<String>>>,
    summary: std::collections::HashSet<String>,
}

impl Builder {
    fn type_line(&mut self, n: usize, f: &[&str]) -> Result<(), ModelError> {
        let [name, kind] = f else {
            return Err(malformed(n, "T needs 2 fields"));
        };
        let kind = match *kind {
            "resource" => TypeKind::Resource,
            "abstract" => TypeKind::AbstractResource,
            "complex" => TypeKind::Complex,
            "primitive" => TypeKind::Primitive,
            other => return Err(malformed(n, format!("unknown kind {other}"))),
        };
        self.types
            .insert((*name).to_string(), TypeDef { kind, root: None });
        Ok(())
    }

    fn elem_line(&mut self, n: usize, f: &[&str]) -> Result<(), ModelError> {
        let [path, min, max, types, targets, binding, cref] = f else {
            return Err(malformed(n, "E needs 7 fields"));
        };
        let min: u32 = min.parse().map_err(|_| malformed(n, "bad min"))?;
        let max: Option<u32> = match *max {
            "*" => None,
            m => Some(m.parse().map_err(|_| malformed(n, "bad max"))?),
        };
        let idx = self.elems.len();
        let (parent, name) = match path.rsplit_once('.') {
            Some((p, nm)) => (Some(p), nm),
            None => (None, *path),
        };
        let types = list(types);
        let is_choice = name.ends_with("[x]");
        if let Some(url) = opt(binding) {
            self.pending_binding.push((idx, url.to_string()));
        }
        if let Some(r) = opt(cref) {
            self.pending_ref.push((idx, r.to_string()));
        }
        match parent {
            None => {
                let td = self
                    .types
                    .get_mut(*path)
                    .ok_or_else(|| malformed(n, "root of unknown type"))?;
                td.root = Some(idx);
            }
            Some(p) => {
                let &pi = self
                    .by_path
                    .get(p)
                    .ok_or_else(|| malformed(n, "parent not defined before child"))?;
                let parent = &mut self.elems[pi];
                parent.child_list.push(idx);
                parent.children.insert(
                    name.to_string(),
                    ChildRef {
                        elem: idx,
                        variant: None,
                    },
                );
                if let Some(base) = name.strip_suffix("[x]") {
                    for (i, t) in types.iter().enumerate() {
                        parent.children.insert(
                            choice_key(base, t),
                            ChildRef {
                                elem: idx,
                                variant: Some(i),
                            },
                        );
                    }
                }
            }
        }
        self.by_path.insert((*path).to_string(), idx);
        self.elems.push(Elem {
            path: (*path).to_string(),
            name: name.to_string(),
            types,
            min,
            max,
            is_choice,
            targets: list(targets),
            binding: None,
            content_ref: None,
            children: HashMap::new(),
            child_list: Vec::new(),
        });
        Ok(())
    }

    fn vs_slot(&mut self, url: &str) -> usize {
        if let Some(&i) = self.vs_index.get(url) {
            return i;
        }
        let i = self.value_sets.len();
        self.value_sets.push(ValueSet {
            url: url.to_string(),
            systems: Some(Vec::new()),
        });
        self.vs_index.insert(url.to_string(), i);
        i
    }

    fn value_set_line(&mut self, n: usize, f: &[&str]) -> Result<(), ModelError> {
        let [url, system, codes @ ..] = f else {
            return Err(malformed(n, "V needs url and system"));
        };
        let i = self.vs_slot(url);
        let mut codes: Vec<String> = codes.iter().map(|c| (*c).to_string()).collect();
        codes.sort();
        if let Some(systems) = self.value_sets[i].systems.as_mut() {
            systems.push(((*system).to_string(), codes));
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Model, ModelError> {
        for (idx, url) in std::mem::take(&mut self.pending_binding) {
            // A binding to a ValueSet absent from the package is not checked.
            self.elems[idx].binding = self.vs_index.get(&url).copied();
        }
        for (idx, target) in std::mem::take(&mut self.pending_ref) {
            let &t = self
                .by_path
                .get(&target)
                .ok_or_else(|| ModelError::Unresolved {
                    path: self.elems[idx].path.clone(),
                    reason: format!("contentReference {target} not found"),
                })?;
            self.elems[idx].content_ref = Some(t);
        }
        for (name, td) in &self.types {
            if td.root.is_none() && td.kind != TypeKind::Primitive {
                return Err(ModelError::Unresolved {
                    path: name.clone(),
                    reason: "no elements".into(),
                });
            }
        }
        Ok(Model::new_parts(
            self.types,
            self.elems,
            self.value_sets,
            self.compartments,
            self.summary,
        ))
    }
}

pub(super) fn build(text: &str) -> Result<Model, ModelError> {
    let mut b = Builder::default();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        let (tag, rest) = fields
            .split_first()
            .ok_or_else(|| malformed(n, "empty line"))?;
        match *tag {
            "T" => b.type_line(n, rest)?,
            "E" => b.elem_line(n, rest)?,
            "V" => b.value_set_line(n, rest)?,
            "X" => {
                let [url] = rest else {
                    return Err(malformed(n, "X needs 1 field"));
                };
                let i = b.vs_slot(url);
                b.value_sets[i].systems = None;
            }
            "S" => {
                let [path] = rest else {
                    return Err(malformed(n, "S needs 1 field"));
                };
                b.summary.insert((*path).to_string());
            }
            "C" => {
                let [comp, res, params @ ..] = rest else {
                    return Err(malformed(n, "C needs 2+ fields"));
                };
                b.compartments
                    .entry((*comp).to_string())
                    .or_default()
                    .insert(
                        (*res).to_string(),
                        params.iter().map(|p| (*p).to_string()).collect(),
                    );
            }
            other => return Err(malformed(n, format!("unknown tag {other}"))),
        }
    }
    b.finish()
}
