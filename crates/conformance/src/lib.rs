//! Touchstone-style runner for FHIR R4 TestScript resources.
//!
//! The runner is a black-box HTTP client of any FHIR server: it loads TestScripts
//! (JSON), resolves their fixtures relative to the script file, executes setup, tests
//! and teardown over HTTP and produces a [`TestReport`] (with the FHIR TestReport
//! resource), a terminal [`summary_table`] and [`junit_xml`]. See README.md for the
//! supported subset; anything unsupported is reported as an error, never passed.
//!
//! `run_script` uses `awc` and must run on an actix (tokio current-thread + LocalSet)
//! runtime; [`run_scripts_blocking`] starts one on its own thread.

mod asserts;
mod error;
mod http;
mod load;
mod model;
mod output;
mod path;
mod report;
mod runner;
mod vars;

pub use error::LoadError;
pub use load::{
    FixtureContent, LoadedScript, load_each, load_script_file, load_script_value, load_scripts,
};
pub use output::{junit_xml, summary_table};
pub use report::{
    ActionKind, ActionReport, ActionResult, Counts, ReportResult, TestCaseReport, TestReport,
};
pub use runner::{RunOptions, run_script};

/// Runs scripts one after another on a fresh actix runtime in a new thread (safe to
/// call from synchronous code, including from inside another async runtime's
/// blocking section). A runner thread that fails yields an error report per script.
pub fn run_scripts_blocking(scripts: Vec<LoadedScript>, opts: RunOptions) -> Vec<TestReport> {
    let names: Vec<(String, std::path::PathBuf)> =
        scripts.iter().map(|s| (s.name(), s.path.clone())).collect();
    let server = opts.server.clone();
    let handle = std::thread::spawn(move || {
        let system = actix_rt::System::new();
        system.block_on(async move {
            let mut out = Vec::new();
            for s in &scripts {
                out.push(run_script(s, &opts).await);
            }
            out
        })
    });
    match handle.join() {
        Ok(reports) => reports,
        Err(_) => names
            .into_iter()
            .map(|(n, p)| TestReport::from_error(&n, Some(p), "runner thread panicked", &server))
            .collect(),
    }
}
