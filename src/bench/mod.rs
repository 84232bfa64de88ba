//! `hms bench`: an HTTP load generator with HdrHistogram reports (`client`, `scenario`), a fast
//! database seeder (`seed`) and the raw database baseline (`baseline`) the scenarios are compared
//! with. Speed targets live here and in BENCHMARKS.md, never in timed tests.

pub mod baseline;
pub mod baseline_mix;
pub mod client;
pub mod connections;
pub mod data;
pub mod hl7;
pub mod report;
pub mod scenario;
pub mod seed;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("{0}")]
    Usage(String),
    #[error("setup: {0}")]
    Setup(String),
    #[error(transparent)]
    Report(#[from] report::ReportError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

#[derive(Debug, Args)]
#[command(
    args_conflicts_with_subcommands = true,
    after_help = "Examples:\n  hms bench --server http://127.0.0.1:8080 --scenario read --duration 10s --concurrency 64\n  \
        hms bench --server http://127.0.0.1:8080 --scenario crud-mix --json > crud.json\n  \
        hms bench seed --patients 10000 --database-url sqlite://hms-data/hms.db\n  \
        hms bench baseline --database-url sqlite://hms-data/hms.db --json > raw.json\n  \
        hms bench --server http://127.0.0.1:8080 --scenario create --baseline-file raw.json"
)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub action: Option<BenchAction>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum BenchAction {
    /// Fill a database with generated patient records, straight through the store layer.
    Seed(SeedArgs),
    /// Measure the raw database cost of the same work, without the server.
    Baseline(BaselineArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Server URL (root or FHIR base).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// read, create, update, crud-mix, search-mix, connections, transaction, hl7-adt.
    #[arg(long, default_value = "read")]
    pub scenario: String,
    /// How long to send load (e.g. 10s, 500ms, 1m).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Concurrent workers (connections for the connections scenario).
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// OS threads the workers are spread over.  [default: CPU count]
    #[arg(long)]
    pub threads: Option<usize>,
    /// Patients created before the clock starts; 0 discovers seeded ones instead.
    #[arg(long, default_value_t = 200)]
    pub warm: usize,
    /// MLLP address for the hl7-adt scenario.
    #[arg(long, default_value = "127.0.0.1:2575", value_name = "HOST:PORT")]
    pub mllp: String,
    /// Server process id, to report its resident memory.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// A `bench baseline --json` report to compare this run with.
    #[arg(long, value_name = "FILE")]
    pub baseline_file: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SeedArgs {
    /// Patients to generate (each with encounters, observations, claims, a condition and an appointment).
    #[arg(long)]
    pub patients: u64,
    /// Database to write into directly (migrated first).
    #[arg(long, env = "HMS_DATABASE_URL", conflicts_with = "server")]
    pub database_url: Option<String>,
    /// Or a running server to PUT the records to (slower; goes through the full HTTP path).
    #[arg(long)]
    pub server: Option<String>,
    /// Resources per database transaction.
    #[arg(long, default_value_t = 5000)]
    pub batch: usize,
    /// Random seed (the same seed generates the same records).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// First MRN number (to add more patients to a seeded database without clashes).
    #[arg(long, default_value_t = 0)]
    pub first: u64,
}

#[derive(Debug, Args)]
pub struct BaselineArgs {
    /// Database to measure (migrated first; the baseline writes its own rows).
    #[arg(long, env = "HMS_DATABASE_URL")]
    pub database_url: String,
    /// Length of each of the three measurements.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Threads, each with its own connection.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `10s`, `500ms`, `2m`, `1h`, `7d` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map(|i| s.split_at(i))
        .unwrap_or((s, "s"));
    let n: f64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?} (e.g. 10s, 500ms, 2m)"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" | "" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86400.0,
        _ => return Err(format!("invalid duration unit in {s:?} (ms, s, m, h or d)")),
    };
    if !secs.is_finite() || secs <= 0.0 {
        return Err(format!("duration must be positive, got {s:?}"));
    }
    Ok(Duration::from_secs_f64(secs))
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.action {
        Some(BenchAction::Seed(a)) => seed::run(&a),
        Some(BenchAction::Baseline(a)) => {
            let report = baseline::run(&a)?;
            print_report(&report, a.json)
        }
        None => {
            let r = &args.run;
            let scenario = scenario::Scenario::parse(&r.scenario).ok_or_else(|| {
                BenchError::Usage(format!(
                    "unknown scenario {:?}; one of {}",
                    r.scenario,
                    scenario::NAMES.join(", ")
                ))
            })?;
            let threads = r.threads.unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(2)
            });
            let cfg = client::RunConfig {
                server: r.server.clone(),
                scenario,
                duration: r.duration,
                concurrency: r.concurrency.max(1),
                threads,
                warm: r.warm,
                server_pid: r.server_pid,
                mllp: r.mllp.clone(),
            };
            let mut report = client::run(&cfg)?;
            if let Some(path) = &r.baseline_file {
                report.compare(&report::load_baseline(path)?);
            }
            print_report(&report, r.json)
        }
    }
}

fn print_report(report: &report::Report, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        print!("{}", report.render_text());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("0s").is_err());
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(604_800)));
        assert!(parse_duration("5y").is_err());
        assert!(parse_duration("x").is_err());
    }
}
