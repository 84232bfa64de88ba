//! `hms claims …`: the billing use cases against the local store, files in and files out.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::config::{Config, ServerArgs};
use crate::error::Error;
use crate::fhir::ids::LogicalId;
use crate::interactions::billing::{Clock, eligibility, export, remit};
use crate::interactions::{Services, search};

#[derive(Debug, Subcommand)]
pub enum ClaimsCommand {
    /// Export Claims as 837P interchanges (scrubbed first; claims with error edits are reported
    /// and skipped). Without --out the interchange(s) go to stdout.
    #[command(name = "export-837")]
    Export837(Export837Args),
    /// Import an 835 remittance file: ClaimResponses + PaymentReconciliation (idempotent).
    #[command(name = "import-835")]
    Import835 {
        /// The 835 file.
        file: PathBuf,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Eligibility: 270 out, 271 in.
    #[command(subcommand)]
    Eligibility(EligibilityCommand),
}

#[derive(Debug, Args)]
#[group(id = "which", required = true, multiple = false)]
pub struct Export837Args {
    /// One Claim id.
    #[arg(long, group = "which", value_name = "ID")]
    pub claim: Option<String>,
    /// Every Claim last updated on or after DATE (YYYY-MM-DD or a FHIR dateTime).
    #[arg(long, group = "which", value_name = "DATE")]
    pub since: Option<String>,
    /// Directory for the interchanges, one file per claim: [claim id].837.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(Debug, Subcommand)]
pub enum EligibilityCommand {
    /// Build a 270 inquiry from a stored CoverageEligibilityRequest.
    #[command(name = "build-270")]
    Build270 {
        /// CoverageEligibilityRequest id.
        #[arg(long, value_name = "ID")]
        request: String,
        /// Output file (default: stdout).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Read a 271 response, store it as a CoverageEligibilityResponse and print its id.
    #[command(name = "read-271")]
    Read271 {
        /// The 271 file.
        file: PathBuf,
        #[command(flatten)]
        server: ServerArgs,
    },
}

fn services(args: &ServerArgs) -> anyhow::Result<(Services, Config)> {
    let config = Config::load(args)?;
    crate::telemetry::init_with_default(config.log_format, "warn");
    let store = crate::app::open_store(&config)?;
    let services = Services::new(store)?;
    Ok((services, config))
}

fn read_text(file: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))
}

fn write_out(out: Option<&Path>, text: &str) -> anyhow::Result<()> {
    match out {
        Some(p) => std::fs::write(p, text).with_context(|| format!("cannot write {}", p.display())),
        None => {
            print!("{text}");
            Ok(())
        }
    }
}

pub fn run(cmd: ClaimsCommand) -> anyhow::Result<()> {
    match cmd {
        ClaimsCommand::Export837(a) => export_837(a),
        ClaimsCommand::Import835 { file, server } => {
            let (s, _) = services(&server)?;
            let text = read_text(&file)?;
            let summary = remit::import_835(&s, &text, &Clock::now())?;
            for c in &summary.claims {
                println!(
                    "{}\t{}\tCLP01={}\t{}",
                    c.claim_response,
                    c.outcome.code(),
                    c.control_number,
                    c.claim.as_deref().unwrap_or("(no matching Claim)")
                );
            }
            for (r, o) in &summary.reconciliations {
                println!("{r}\t{}", o.code());
            }
            for c in &summary.cancelled {
                println!("{c}\tcancelled (reversal)");
            }
            Ok(())
        }
        ClaimsCommand::Eligibility(EligibilityCommand::Build270 {
            request,
            out,
            server,
        }) => {
            let (s, config) = services(&server)?;
            let id = LogicalId::parse(&request)?;
            let text = eligibility::build_270(&s, &id, &config.x12, &Clock::now())?;
            write_out(out.as_deref(), &text)
        }
        ClaimsCommand::Eligibility(EligibilityCommand::Read271 { file, server }) => {
            let (s, _) = services(&server)?;
            let stored = eligibility::read_271(&s, &read_text(&file)?)?;
            println!("{}", stored.id);
            Ok(())
        }
    }
}

/// Claim ids last updated at or after `since`, following the search pages.
fn claims_since(s: &Services, since: &str) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut pairs = vec![
            ("_lastUpdated".to_string(), format!("ge{since}")),
            ("_count".to_string(), "100".to_string()),
        ];
        if let Some(c) = &cursor {
            pairs.push(("_cursor".to_string(), c.clone()));
        }
        let r = search::search(
            s,
            &search::SearchRequest {
                types: vec!["Claim".into()],
                pairs,
                base: "",
                strict: true,
                compartment: None,
                restrict: Vec::new(),
            },
        )?;
        ids.extend(r.matches.into_iter().map(|m| m.id));
        match r.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(ids),
        }
    }
}

fn export_837(a: Export837Args) -> anyhow::Result<()> {
    let (s, config) = services(&a.server)?;
    let ids = match (&a.claim, &a.since) {
        (Some(id), _) => vec![id.clone()],
        (None, Some(since)) => claims_since(&s, since)?,
        (None, None) => anyhow::bail!("give --claim ID or --since DATE"),
    };
    if let Some(dir) = &a.out {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let clock = Clock::now();
    let mut failed = 0;
    for id in &ids {
        let result =
            LogicalId::parse(id).and_then(|lid| export::export_837(&s, &lid, &config.x12, &clock));
        match result {
            Ok(e) => {
                let out = a.out.as_ref().map(|d| d.join(format!("{id}.837")));
                write_out(out.as_deref(), &e.text)?;
                if let Some(p) = out {
                    eprintln!(
                        "Claim/{id}: ISA13 {:09} -> {}",
                        e.control_number,
                        p.display()
                    );
                }
                for w in &e.warnings {
                    eprintln!(
                        "Claim/{id}: warning {} at {}: {}",
                        w.code, w.expression, w.message
                    );
                }
            }
            Err(e) => {
                failed += 1;
                eprintln!("Claim/{id}: not exported:");
                match &e {
                    Error::Unprocessable(issues) | Error::Invalid(issues) => {
                        for i in issues {
                            eprintln!(
                                "  {} {}: {}",
                                i.severity.as_code(),
                                i.expression.as_deref().unwrap_or("-"),
                                i.diagnostics
                            );
                        }
                    }
                    other => eprintln!("  {other}"),
                }
            }
        }
    }
    eprintln!("{} of {} claim(s) exported", ids.len() - failed, ids.len());
    if failed > 0 {
        anyhow::bail!("{failed} claim(s) were not exported");
    }
    Ok(())
}
