//! Finding TestScript files, parsing them and resolving their fixtures.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::LoadError;
use crate::model::{self, Script};

/// A fixture's content as found at load time.
#[derive(Debug, Clone)]
pub enum FixtureContent {
    /// The resolved resource (before `${var}` substitution).
    Resource(Value),
    /// The reference could not be resolved; the reason is reported when the fixture is used.
    Unresolved(String),
}

/// A parsed TestScript with its fixtures resolved relative to the script file.
#[derive(Debug, Clone)]
pub struct LoadedScript {
    pub path: PathBuf,
    /// The TestScript JSON as read.
    pub raw: Value,
    pub(crate) script: Script,
    /// Fixture id → content. Fixtures without an id are keyed `fixture[i]`.
    pub(crate) fixtures: BTreeMap<String, FixtureContent>,
}

impl LoadedScript {
    /// `TestScript.name`, else title, else id, else the file name.
    pub fn name(&self) -> String {
        self.script
            .name
            .clone()
            .or_else(|| self.script.title.clone())
            .or_else(|| self.script.id.clone())
            .unwrap_or_else(|| display_name(&self.path))
    }

    /// Fixture ids whose reference could not be resolved, with the reason.
    pub fn unresolved_fixtures(&self) -> Vec<(String, String)> {
        self.fixtures
            .iter()
            .filter_map(|(id, c)| match c {
                FixtureContent::Unresolved(why) => Some((id.clone(), why.clone())),
                FixtureContent::Resource(_) => None,
            })
            .collect()
    }
}

pub(crate) fn display_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Loads every TestScript named by `paths` (files, or directories searched recursively
/// for `*.json` files whose resourceType is TestScript). Stops at the first error.
pub fn load_scripts(paths: &[PathBuf]) -> Result<Vec<LoadedScript>, LoadError> {
    let mut out = Vec::new();
    for (_, r) in load_each(paths)? {
        out.push(r?);
    }
    Ok(out)
}

/// Like [`load_scripts`] but keeps going: one result per TestScript candidate file.
/// Only a path that cannot be read at all (or a directory with no scripts) is an outer error.
#[allow(clippy::type_complexity)]
pub fn load_each(
    paths: &[PathBuf],
) -> Result<Vec<(PathBuf, Result<LoadedScript, LoadError>)>, LoadError> {
    let mut out = Vec::new();
    for p in paths {
        let meta = fs::metadata(p).map_err(|source| LoadError::Io {
            path: p.clone(),
            source,
        })?;
        if meta.is_dir() {
            let mut files = Vec::new();
            collect_json(p, &mut files)?;
            files.sort();
            let before = out.len();
            for f in files {
                match load_script_file(&f) {
                    // Fixtures and other resources live next to scripts: skip them.
                    Err(LoadError::NotTestScript { .. }) => {}
                    r => out.push((f, r)),
                }
            }
            if out.len() == before {
                return Err(LoadError::NothingFound { path: p.clone() });
            }
        } else {
            out.push((p.clone(), load_script_file(p)));
        }
    }
    Ok(out)
}

fn collect_json(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), LoadError> {
    let io = |source| LoadError::Io {
        path: dir.to_path_buf(),
        source,
    };
    for entry in fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.is_dir() {
            collect_json(&path, out)?;
        } else if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        {
            out.push(path);
        }
    }
    Ok(())
}

/// Loads one TestScript file (JSON only) and resolves its fixtures.
pub fn load_script_file(path: &Path) -> Result<LoadedScript, LoadError> {
    let bytes = fs::read(path).map_err(|source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let text = String::from_utf8_lossy(&bytes);
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if trimmed.starts_with('<') {
        return Err(LoadError::Xml {
            path: path.to_path_buf(),
        });
    }
    let raw: Value = serde_json::from_str(trimmed).map_err(|e| LoadError::Json {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    load_script_value(raw, path)
}

/// Builds a [`LoadedScript`] from TestScript JSON; `path` is used for messages and
/// as the base for relative fixture references.
pub fn load_script_value(raw: Value, path: &Path) -> Result<LoadedScript, LoadError> {
    let rt = raw.get("resourceType").and_then(Value::as_str);
    if rt != Some("TestScript") {
        return Err(LoadError::NotTestScript {
            path: path.to_path_buf(),
            found: rt.map(str::to_string),
        });
    }
    let script = model::parse_script(&raw).map_err(|(element, message)| LoadError::Invalid {
        path: path.to_path_buf(),
        element,
        message,
    })?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut fixtures = BTreeMap::new();
    for (i, f) in script.fixtures.iter().enumerate() {
        let key = f.id.clone().unwrap_or_else(|| format!("fixture[{i}]"));
        let content = match &f.reference {
            None => FixtureContent::Unresolved("fixture has no resource.reference".into()),
            Some(r) => resolve_fixture(&raw, dir, r),
        };
        fixtures.insert(key, content);
    }
    Ok(LoadedScript {
        path: path.to_path_buf(),
        raw,
        script,
        fixtures,
    })
}

fn resolve_fixture(raw: &Value, dir: &Path, reference: &str) -> FixtureContent {
    if let Some(local) = reference.strip_prefix('#') {
        let found = raw
            .get("contained")
            .and_then(Value::as_array)
            .and_then(|c| {
                c.iter()
                    .find(|r| r.get("id").and_then(Value::as_str) == Some(local))
            });
        return match found {
            Some(r) => FixtureContent::Resource(r.clone()),
            None => FixtureContent::Unresolved(format!(
                "contained resource '{reference}' not found in TestScript.contained"
            )),
        };
    }
    if reference.contains("://") {
        return FixtureContent::Unresolved(format!(
            "remote fixture reference '{reference}' is not fetched (use a relative file path)"
        ));
    }
    let mut candidates = vec![dir.join(reference), dir.join(format!("{reference}.json"))];
    // `Type/id` style references (as in the spec examples): Type-id.json beside the
    // script or in its fixtures/ directory.
    let parts: Vec<&str> = reference.split('/').collect();
    if let [ty, id] = parts.as_slice()
        && ty.chars().next().is_some_and(|c| c.is_ascii_uppercase())
    {
        candidates.push(dir.join("fixtures").join(format!("{ty}-{id}.json")));
        candidates.push(dir.join(format!("{ty}-{id}.json")));
    }
    for c in &candidates {
        if c.is_file() {
            return match fs::read(c) {
                Err(e) => FixtureContent::Unresolved(format!("{}: {e}", c.display())),
                Ok(bytes) => {
                    let text = String::from_utf8_lossy(&bytes);
                    let text = text.trim_start_matches('\u{feff}');
                    if text.trim_start().starts_with('<') {
                        return FixtureContent::Unresolved(format!(
                            "{}: XML fixtures are not supported",
                            c.display()
                        ));
                    }
                    match serde_json::from_str::<Value>(text) {
                        // Objects are resources; arrays are JSON Patch documents (operation.type patch).
                        Ok(v) if v.is_object() || v.is_array() => FixtureContent::Resource(v),
                        Ok(_) => FixtureContent::Unresolved(format!(
                            "{}: fixture is neither a JSON object nor a JSON Patch array",
                            c.display()
                        )),
                        Err(e) => FixtureContent::Unresolved(format!(
                            "{}: invalid JSON: {e}",
                            c.display()
                        )),
                    }
                }
            };
        }
    }
    FixtureContent::Unresolved(format!(
        "fixture '{reference}' not found (looked for {})",
        candidates
            .iter()
            .map(|c| c.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ))
}
