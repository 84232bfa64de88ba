//! Manual runs: `cargo run -p hms-conformance --example conformance -- \
//!     --server http://localhost:8080/fhir [--var k=v]... [--junit out.xml] \
//!     [--report-dir dir] PATH...`
//!
//! Exit status: 0 when every script passed, 1 otherwise, 2 on usage errors.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use hms_conformance::{
    ReportResult, RunOptions, TestReport, junit_xml, load_each, run_scripts_blocking, summary_table,
};

fn usage() -> ExitCode {
    eprintln!(
        "usage: conformance --server URL [--var NAME=VALUE]... [--timeout SECS] \
         [--junit FILE] [--report-dir DIR] PATH..."
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut server = None;
    let mut variables = Vec::new();
    let mut junit = None;
    let mut report_dir = None;
    let mut timeout = Duration::from_secs(30);
    let mut paths = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--server" => server = args.next(),
            "--junit" => junit = args.next().map(PathBuf::from),
            "--report-dir" => report_dir = args.next().map(PathBuf::from),
            "--timeout" => match args.next().and_then(|t| t.parse().ok()) {
                Some(s) => timeout = Duration::from_secs(s),
                None => return usage(),
            },
            "--var" => match args.next().as_deref().and_then(|kv| kv.split_once('=')) {
                Some((k, v)) => variables.push((k.to_string(), v.to_string())),
                None => return usage(),
            },
            s if s.starts_with("--") => return usage(),
            p => paths.push(PathBuf::from(p)),
        }
    }
    let (Some(server), false) = (server, paths.is_empty()) else {
        return usage();
    };
    let loaded = match load_each(&paths) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let mut scripts = Vec::new();
    let mut load_failures = Vec::new();
    for (path, r) in loaded {
        match r {
            Ok(s) => scripts.push(s),
            Err(e) => {
                let name = path.file_name().map_or_else(
                    || path.display().to_string(),
                    |n| n.to_string_lossy().into_owned(),
                );
                load_failures.push(TestReport::from_error(
                    &name,
                    Some(path.clone()),
                    &e.to_string(),
                    &server,
                ));
            }
        }
    }
    let opts = RunOptions {
        server,
        variables,
        timeout,
    };
    let mut reports = run_scripts_blocking(scripts, opts);
    reports.extend(load_failures);
    print!("{}", summary_table(&reports));
    if let Some(j) = junit
        && let Err(e) = std::fs::write(&j, junit_xml(&reports))
    {
        eprintln!("{}: {e}", j.display());
    }
    if let Some(dir) = report_dir {
        if let Err(e) = std::fs::create_dir_all(&dir) {
            eprintln!("{}: {e}", dir.display());
        }
        for (i, r) in reports.iter().enumerate() {
            let file = dir.join(format!("TestReport-{:03}.json", i + 1));
            let text = serde_json::to_string_pretty(&r.resource).unwrap_or_default();
            if let Err(e) = std::fs::write(&file, text) {
                eprintln!("{}: {e}", file.display());
            }
        }
    }
    if reports.iter().all(|r| r.result == ReportResult::Pass) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
