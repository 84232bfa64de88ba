//! `hms import PATH...`: loads transaction, batch and collection Bundles and NDJSON files (and
//! directories of them) into the local store through the transaction engine, or into any FHIR
//! server with `--server URL`.
//!
//! Re-running an import duplicates nothing: a plain POST entry becomes a PUT at the id of its
//! `urn:uuid:` fullUrl (a uuid is a valid FHIR id) or, without one, a conditional create on its
//! first identifier (`ifNoneExist: identifier=system|value`). Entries that already carry
//! `ifNoneExist` stay as they are. Collection Bundles become transactions (so their references
//! resolve); NDJSON lines are sent as batches of `NDJSON_CHUNK` (PUT when the line has an id).
//! Batch Bundles are loaded first (provider bundles), then NDJSON, then transactions/collections.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::config::{Config, ServerArgs};
use crate::error::Error;
use crate::fhir::ids::is_valid_id;
use crate::interactions::Services;
use crate::interactions::transaction::{self, Options, Respond};

/// NDJSON lines per batch Bundle.
pub const NDJSON_CHUNK: usize = 500;

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// Files or directories (*.json Bundles, *.ndjson resources; directories are walked).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Send to this FHIR server base URL instead of the local store.
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    #[command(flatten)]
    pub store: ServerArgs,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{0}")]
    Io(String),
    #[error("{0} error(s) during the import (listed above)")]
    Failed(usize),
}

/// One Bundle to send, and where its entries came from (for error messages).
struct Unit {
    label: String,
    bundle: Value,
    /// Per entry: "entry 3" or "line 17".
    origins: Vec<String>,
}

enum Sink {
    Local { services: Services, base: String },
    Remote { url: String, client: awc::Client },
}

#[derive(Default)]
struct Counts {
    created: u64,
    ok: u64,
    failed: u64,
}

#[derive(Default)]
struct Report {
    by_type: BTreeMap<String, Counts>,
    errors: Vec<String>,
    entries: u64,
}

pub fn run(args: ImportArgs) -> anyhow::Result<()> {
    let files = expand(&args.paths)?;
    let mut ordered: Vec<(u8, PathBuf)> = Vec::new();
    for f in files {
        ordered.push((phase(&f)?, f));
    }
    ordered.sort();
    let config = Config::load(&args.store)?;
    actix_web::rt::System::new().block_on(async move {
        let sink = match &args.server {
            Some(url) => Sink::Remote {
                url: url.trim_end_matches('/').to_string(),
                client: awc::Client::builder()
                    .timeout(Duration::from_secs(600))
                    .finish(),
            },
            None => {
                let store = crate::app::open_store(&config)?;
                let base = config
                    .base_url
                    .clone()
                    .unwrap_or_else(|| format!("http://{}/fhir", config.http_addr));
                Sink::Local {
                    services: Services::new(store)?,
                    base,
                }
            }
        };
        let started = Instant::now();
        let mut report = Report::default();
        let n = ordered.len();
        for (i, (_, f)) in ordered.iter().enumerate() {
            let units = match units_of(f) {
                Ok((u, bad_lines)) => {
                    for e in bad_lines {
                        report.errors.push(format!("{}: {e}", f.display()));
                    }
                    u
                }
                Err(e) => {
                    report.errors.push(format!("{}: {e}", f.display()));
                    continue;
                }
            };
            for u in units {
                send(&sink, u, &mut report).await;
                progress(&report, started, i + 1, n);
            }
        }
        if std::io::stderr().is_terminal() {
            eprintln!();
        }
        print_summary(&report, started.elapsed(), n);
        if report.errors.is_empty() {
            Ok(())
        } else {
            Err(ImportError::Failed(report.errors.len()).into())
        }
    })
}

fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ImportError> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| ImportError::Io(format!("{}: {e}", p.display())))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            entries.sort();
            let nested: Vec<PathBuf> = entries
                .into_iter()
                .filter(|e| e.is_dir() || is_data_file(e))
                .collect();
            out.extend(expand(&nested)?);
        } else if p.exists() {
            out.push(p.clone());
        } else {
            return Err(ImportError::Io(format!("{}: no such file", p.display())));
        }
    }
    Ok(out)
}

fn is_data_file(p: &Path) -> bool {
    matches!(
        p.extension().and_then(|e| e.to_str()),
        Some("json" | "ndjson")
    )
}

fn is_ndjson(p: &Path) -> bool {
    p.extension().and_then(|e| e.to_str()) == Some("ndjson")
}

/// Load order: batch Bundles (providers) → NDJSON → everything else.
fn phase(p: &Path) -> Result<u8, ImportError> {
    if is_ndjson(p) {
        return Ok(1);
    }
    #[derive(serde::Deserialize)]
    struct Head {
        #[serde(rename = "type")]
        t: Option<String>,
    }
    let file =
        std::fs::File::open(p).map_err(|e| ImportError::Io(format!("{}: {e}", p.display())))?;
    let head: Result<Head, _> = serde_json::from_reader(std::io::BufReader::new(file));
    Ok(match head {
        Ok(Head { t: Some(t) }) if t == "batch" => 0,
        _ => 2,
    })
}

/// The requests of one file, and (NDJSON only) the lines that could not be read: those are
/// reported and the file's other lines are still loaded.
fn units_of(p: &Path) -> Result<(Vec<Unit>, Vec<String>), String> {
    let label = p.display().to_string();
    if is_ndjson(p) {
        return ndjson_units(p, &label);
    }
    let bytes = std::fs::read(p).map_err(|e| e.to_string())?;
    let mut bundle = hms_fhir::json::parse_resource(&bytes)
        .map_err(|i| format!("not a FHIR JSON resource: {}", i.diagnostics))?;
    drop(bytes);
    if bundle.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
        // A single resource: send it as a one-entry transaction.
        bundle = json!({"resourceType": "Bundle", "type": "collection", "entry": [{"resource": bundle}]});
    }
    make_idempotent(&mut bundle)?;
    let n = bundle
        .get("entry")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let unit = Unit {
        label,
        bundle,
        origins: (0..n).map(|i| format!("entry {i}")).collect(),
    };
    Ok((vec![unit], Vec::new()))
}

fn ndjson_units(p: &Path, label: &str) -> Result<(Vec<Unit>, Vec<String>), String> {
    let file = std::fs::File::open(p).map_err(|e| e.to_string())?;
    let mut units = Vec::new();
    let mut bad = Vec::new();
    let mut entries = Vec::new();
    let mut origins = Vec::new();
    let flush = |entries: &mut Vec<Value>, origins: &mut Vec<String>, units: &mut Vec<Unit>| {
        if entries.is_empty() {
            return;
        }
        units.push(Unit {
            label: label.to_string(),
            bundle: json!({"resourceType": "Bundle", "type": "batch", "entry": std::mem::take(entries)}),
            origins: std::mem::take(origins),
        });
    };
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| e.to_string())?;
        if line.trim().is_empty() {
            continue;
        }
        let resource = match hms_fhir::json::parse_resource(line.as_bytes()) {
            Ok(r) => r,
            Err(i) => {
                bad.push(format!("line {}: {}", n + 1, i.diagnostics));
                continue;
            }
        };
        entries.push(entry_for(resource, None));
        origins.push(format!("line {}", n + 1));
        if entries.len() >= NDJSON_CHUNK {
            flush(&mut entries, &mut origins, &mut units);
        }
    }
    flush(&mut entries, &mut origins, &mut units);
    Ok((units, bad))
}

/// A request entry for a bare resource: PUT at its id (or its urn:uuid fullUrl), else a
/// conditional create on its first identifier, else a plain POST.
fn entry_for(mut resource: Value, full_url: Option<String>) -> Value {
    let t = resource
        .get("resourceType")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let uuid = full_url
        .as_deref()
        .and_then(|u| u.strip_prefix("urn:uuid:"))
        .filter(|id| is_valid_id(id))
        .map(str::to_string);
    let own_id = resource
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| is_valid_id(id))
        .map(str::to_string);
    let request = match uuid.or(own_id) {
        Some(id) => {
            if let Some(obj) = resource.as_object_mut() {
                obj.insert("id".into(), Value::String(id.clone()));
            }
            json!({"method": "PUT", "url": format!("{t}/{id}")})
        }
        None => match first_identifier(&resource) {
            Some(q) => json!({"method": "POST", "url": t, "ifNoneExist": q}),
            None => json!({"method": "POST", "url": t}),
        },
    };
    let mut e = serde_json::Map::new();
    if let Some(u) = full_url {
        e.insert("fullUrl".into(), Value::String(u));
    }
    e.insert("resource".into(), resource);
    e.insert("request".into(), request);
    Value::Object(e)
}

/// Rewrites a Bundle so that sending it twice changes nothing the second time (see module doc).
pub fn make_idempotent(bundle: &mut Value) -> Result<(), String> {
    let kind = bundle
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let Some(entries) = bundle.get_mut("entry").and_then(Value::as_array_mut) else {
        return Ok(());
    };
    match kind.as_str() {
        "transaction" | "batch" => {
            for e in entries.iter_mut() {
                let plain_post = e.pointer("/request/method").and_then(Value::as_str)
                    == Some("POST")
                    && e.pointer("/request/ifNoneExist").is_none();
                if !plain_post {
                    continue;
                }
                let full_url = e.get("fullUrl").and_then(Value::as_str).map(str::to_string);
                let Some(obj) = e.as_object_mut() else {
                    continue;
                };
                let resource = obj.remove("resource").unwrap_or(Value::Null);
                let uuid = full_url
                    .as_deref()
                    .and_then(|u| u.strip_prefix("urn:uuid:"))
                    .filter(|id| is_valid_id(id))
                    .map(str::to_string);
                let mut resource = resource;
                if let (Some(id), Some(r)) = (&uuid, resource.as_object_mut()) {
                    r.insert("id".into(), Value::String(id.clone()));
                }
                let new = match uuid {
                    Some(_) => entry_for(resource, full_url),
                    None => {
                        // No fullUrl id: never PUT at a client body id the POST would have ignored.
                        if let Some(r) = resource.as_object_mut() {
                            r.remove("id");
                        }
                        entry_for(resource, full_url)
                    }
                };
                *e = new;
            }
        }
        "collection" => {
            for e in entries.iter_mut() {
                let full_url = e.get("fullUrl").and_then(Value::as_str).map(str::to_string);
                let resource = e
                    .get_mut("resource")
                    .map(Value::take)
                    .unwrap_or(Value::Null);
                *e = entry_for(resource, full_url);
            }
            if let Some(obj) = bundle.as_object_mut() {
                obj.insert("type".into(), Value::String("transaction".into()));
            }
        }
        other => return Err(format!("a Bundle of type {other:?} cannot be imported")),
    }
    Ok(())
}

fn first_identifier(resource: &Value) -> Option<String> {
    let ids = resource.get("identifier")?;
    let first = match ids {
        Value::Array(a) => a.iter().find(|i| i.get("value").is_some())?,
        other => other,
    };
    let value = first.get("value")?.as_str()?;
    let system = first.get("system").and_then(Value::as_str).unwrap_or("");
    Some(format!(
        "identifier={}|{}",
        query_escape(system),
        query_escape(value)
    ))
}

/// FHIR search escaping (`\` `|` `,` `$`) then percent-encoding for the query string.
fn query_escape(s: &str) -> String {
    let escaped = s
        .replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(',', "\\,")
        .replace('$', "\\$");
    let mut out = String::with_capacity(escaped.len());
    for b in escaped.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:/\\".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

async fn send(sink: &Sink, u: Unit, report: &mut Report) {
    let types: Vec<String> = u
        .bundle
        .get("entry")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|e| {
                    e.pointer("/resource/resourceType")
                        .and_then(Value::as_str)
                        .unwrap_or("?")
                        .to_string()
                })
                .collect()
        })
        .unwrap_or_default();
    report.entries += types.len() as u64;
    let result: Result<Value, (u16, String)> = match sink {
        Sink::Local { services, base } => {
            let opts = Options {
                respond: Respond::Minimal,
                max_entries: usize::MAX,
                strict: false,
            };
            match transaction::process_with(services, u.bundle, base, &opts) {
                Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| (500, e.to_string())),
                Err(e) => Err(local_error(&e)),
            }
        }
        Sink::Remote { url, client } => remote(client, url, &u.bundle).await,
    };
    match result {
        Err((status, msg)) => {
            for t in &types {
                report.by_type.entry(t.clone()).or_default().failed += 1;
            }
            report.errors.push(format!("{}: {status}: {msg}", u.label));
        }
        Ok(resp) => {
            let empty = Vec::new();
            let out = resp
                .get("entry")
                .and_then(Value::as_array)
                .unwrap_or(&empty);
            for (i, t) in types.iter().enumerate() {
                let c = report.by_type.entry(t.clone()).or_default();
                let status = out
                    .get(i)
                    .and_then(|e| e.pointer("/response/status"))
                    .and_then(Value::as_str)
                    .unwrap_or("");
                if status.starts_with("201") {
                    c.created += 1;
                } else if status.starts_with('2') || status.starts_with("304") {
                    c.ok += 1;
                } else {
                    c.failed += 1;
                    let diag = out
                        .get(i)
                        .and_then(|e| e.pointer("/response/outcome/issue/0/diagnostics"))
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    let origin = u.origins.get(i).map_or("entry ?", String::as_str);
                    report
                        .errors
                        .push(format!("{}: {origin}: {status}: {diag}", u.label));
                }
            }
        }
    }
}

fn local_error(e: &Error) -> (u16, String) {
    let (status, _) = crate::api::error::classify(e);
    let msg = crate::api::error::issues_of(e)
        .iter()
        .map(|i| i.diagnostics.clone())
        .collect::<Vec<_>>()
        .join("; ");
    (status.as_u16(), msg)
}

async fn remote(client: &awc::Client, url: &str, bundle: &Value) -> Result<Value, (u16, String)> {
    let body = serde_json::to_vec(bundle).map_err(|e| (0, e.to_string()))?;
    let mut res = client
        .post(url)
        .insert_header(("Content-Type", "application/fhir+json"))
        .insert_header(("Accept", "application/fhir+json"))
        .insert_header(("Prefer", "return=minimal"))
        .send_body(body)
        .await
        .map_err(|e| (0, format!("cannot reach {url}: {e}")))?;
    let status = res.status().as_u16();
    let bytes = res
        .body()
        .limit(1 << 30)
        .await
        .map_err(|e| (status, format!("cannot read the response: {e}")))?;
    let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if status == 200 {
        Ok(v)
    } else {
        let diag = v
            .pointer("/issue/0/diagnostics")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        Err((status, diag))
    }
}

fn progress(r: &Report, started: Instant, file: usize, files: usize) {
    let mut err = std::io::stderr();
    if !err.is_terminal() {
        return;
    }
    let secs = started.elapsed().as_secs_f64().max(0.001);
    let _ = write!(
        err,
        "\r[{file}/{files} files] {} entries, {:.0} entries/s, {} errors   ",
        r.entries,
        r.entries as f64 / secs,
        r.errors.len()
    );
    let _ = err.flush();
}

fn print_summary(r: &Report, elapsed: Duration, files: usize) {
    let secs = elapsed.as_secs_f64().max(0.001);
    println!(
        "imported {} entries from {files} file(s) in {:.1}s ({:.0} entries/s)",
        r.entries,
        secs,
        r.entries as f64 / secs
    );
    println!(
        "{:<28} {:>9} {:>9} {:>9}",
        "type", "created", "existing", "failed"
    );
    for (t, c) in &r.by_type {
        println!("{t:<28} {:>9} {:>9} {:>9}", c.created, c.ok, c.failed);
    }
    if !r.errors.is_empty() {
        println!("errors:");
        for e in &r.errors {
            println!("  {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posts_become_idempotent() {
        let mut b = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"fullUrl": "urn:uuid:6b0f0e0a-1111-2222-3333-444455556666", "resource": {"resourceType": "Patient", "id": "x"}, "request": {"method": "POST", "url": "Patient"}},
            {"resource": {"resourceType": "Practitioner", "identifier": [{"system": "http://a|b", "value": "1,2"}]}, "request": {"method": "POST", "url": "Practitioner"}},
            {"resource": {"resourceType": "Organization"}, "request": {"method": "POST", "url": "Organization", "ifNoneExist": "identifier=s|v"}}
        ]});
        make_idempotent(&mut b).unwrap();
        assert_eq!(
            b["entry"][0]["request"],
            json!({"method": "PUT", "url": "Patient/6b0f0e0a-1111-2222-3333-444455556666"})
        );
        assert_eq!(
            b["entry"][0]["resource"]["id"],
            "6b0f0e0a-1111-2222-3333-444455556666"
        );
        assert_eq!(
            b["entry"][1]["request"]["ifNoneExist"],
            "identifier=http://a\\%7Cb|1\\%2C2"
        );
        let c = crate::search::criteria::Criteria::parse(
            b["entry"][1]["request"]["ifNoneExist"].as_str().unwrap(),
        );
        assert!(c.is_ok(), "{c:?}");
        assert_eq!(b["entry"][2]["request"]["ifNoneExist"], "identifier=s|v");
    }
}
