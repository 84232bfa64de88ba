//! `hms conformance run`: a thin edge over the `hms-conformance` TestScript runner.
//!
//! Loads scripts (files or directories), runs them against `--server`, prints the summary
//! table, writes one FHIR TestReport JSON per script and/or JUnit XML, and fails when any
//! script did not pass.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand};
use hms_conformance::{
    ReportResult, RunOptions, TestReport, junit_xml, load_each, run_scripts_blocking, summary_table,
};

#[derive(Debug, Subcommand)]
pub enum ConformanceCommand {
    /// Run FHIR TestScripts (JSON) against a FHIR server and report the results.
    #[command(after_help = "Examples:\n  \
        hms conformance run --server http://127.0.0.1:8080/fhir\n  \
        hms conformance run --server http://127.0.0.1:8080/fhir conformance/search --junit conformance.xml\n  \
        hms conformance run --server http://127.0.0.1:8080/fhir --report reports/ --var PatientSearchFamilyName=Chalmers \
        tests/fixtures/testscripts\n\n\
        Exit status: 0 when every script passed, 1 when any script failed or errored (or could not be loaded).")]
    Run(RunArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// FHIR base URL of the server under test, e.g. http://127.0.0.1:8080/fhir
    #[arg(long, env = "HMS_CONFORMANCE_SERVER", value_name = "URL")]
    pub server: String,
    /// TestScript files or directories (searched recursively for *.json TestScripts).
    #[arg(value_name = "PATHS", default_value = "conformance/")]
    pub paths: Vec<PathBuf>,
    /// Write one FHIR TestReport JSON per script into this directory (created if missing).
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
    /// Write JUnit XML (one testsuite per script) to this file.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Set a TestScript variable (repeatable); wins over expressions and defaults.
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var)]
    pub vars: Vec<(String, String)>,
    /// Per-request timeout in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub timeout: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ConformanceError {
    #[error("cannot load TestScripts: {0}")]
    Load(#[from] hms_conformance::LoadError),
    #[error("{path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot encode the TestReport for {script}: {source}")]
    Encode {
        script: String,
        source: serde_json::Error,
    },
    #[error("{failed} of {total} TestScripts did not pass")]
    NotPassed { failed: usize, total: usize },
    #[error("no TestScripts found in {0}")]
    Empty(String),
}

fn parse_var(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected NAME=VALUE, got '{s}'")),
    }
}

pub fn run(cmd: ConformanceCommand) -> Result<(), ConformanceError> {
    match cmd {
        ConformanceCommand::Run(args) => run_suite(&args),
    }
}

/// Loads, runs and reports; `Err(NotPassed)` when any script did not pass.
pub fn run_suite(args: &RunArgs) -> Result<(), ConformanceError> {
    let reports = execute(args)?;
    print!("{}", summary_table(&reports));
    if let Some(file) = &args.junit {
        write(file, &junit_xml(&reports))?;
    }
    if let Some(dir) = &args.report {
        write_reports(dir, &args.paths, &reports)?;
    }
    let failed = reports
        .iter()
        .filter(|r| r.result != ReportResult::Pass)
        .count();
    if failed > 0 {
        return Err(ConformanceError::NotPassed {
            failed,
            total: reports.len(),
        });
    }
    Ok(())
}

/// Loads every script (a script that does not load becomes an error report) and runs them.
pub fn execute(args: &RunArgs) -> Result<Vec<TestReport>, ConformanceError> {
    let loaded = load_each(&args.paths)?;
    if loaded.is_empty() {
        let shown: Vec<String> = args.paths.iter().map(|p| p.display().to_string()).collect();
        return Err(ConformanceError::Empty(shown.join(", ")));
    }
    let mut scripts = Vec::new();
    let mut unloadable = Vec::new();
    for (path, result) in loaded {
        match result {
            Ok(s) => scripts.push(s),
            Err(e) => unloadable.push(TestReport::from_error(
                &file_name(&path),
                Some(path.clone()),
                &e.to_string(),
                &args.server,
            )),
        }
    }
    let opts = RunOptions {
        server: args.server.clone(),
        variables: args.vars.clone(),
        timeout: Duration::from_secs(args.timeout),
    };
    let mut reports = run_scripts_blocking(scripts, opts);
    reports.extend(unloadable);
    Ok(reports)
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

fn write(path: &Path, text: &str) -> Result<(), ConformanceError> {
    std::fs::write(path, text).map_err(|source| ConformanceError::Write {
        path: path.display().to_string(),
        source,
    })
}

/// One `TestReport-<script path>.json` per script; the name is the script path relative to
/// the root it was found under, so `conformance/rest/read.json` gives `TestReport-rest-read.json`.
fn write_reports(
    dir: &Path,
    roots: &[PathBuf],
    reports: &[TestReport],
) -> Result<(), ConformanceError> {
    std::fs::create_dir_all(dir).map_err(|source| ConformanceError::Write {
        path: dir.display().to_string(),
        source,
    })?;
    let mut used = HashSet::new();
    for r in reports {
        let base = report_stem(r, roots);
        let mut stem = base.clone();
        let mut n = 2;
        while !used.insert(stem.clone()) {
            stem = format!("{base}-{n}");
            n += 1;
        }
        let text = serde_json::to_string_pretty(&r.resource).map_err(|source| {
            ConformanceError::Encode {
                script: r.name.clone(),
                source,
            }
        })?;
        write(&dir.join(format!("TestReport-{stem}.json")), &text)?;
    }
    Ok(())
}

fn report_stem(r: &TestReport, roots: &[PathBuf]) -> String {
    let Some(path) = &r.path else {
        return sanitize(&r.name);
    };
    let rel = roots
        .iter()
        .filter(|root| root.is_dir())
        .find_map(|root| path.strip_prefix(root).ok())
        .unwrap_or_else(|| Path::new(path.file_name().unwrap_or(path.as_os_str())));
    sanitize(&rel.with_extension("").to_string_lossy())
}

fn sanitize(s: &str) -> String {
    let out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let out = out.trim_matches('-').to_string();
    if out.is_empty() { "script".into() } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vars_parse() {
        assert_eq!(parse_var("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert!(parse_var("=x").is_err());
        assert!(parse_var("novalue").is_err());
    }

    #[test]
    fn stems() {
        assert_eq!(sanitize("rest/read"), "rest-read");
        assert_eq!(sanitize("Patient search: name"), "Patient-search--name");
        assert_eq!(sanitize("///"), "script");
    }
}
