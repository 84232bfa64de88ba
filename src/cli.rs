//! Command-line interface.

use clap::{Parser, Subcommand};

use crate::config::{Config, ServerArgs};

#[derive(Debug, Parser)]
#[command(
    name = "hms",
    version,
    about = "HMS Interop: a FHIR R4 interoperability server",
    long_about = "HMS Interop: a FHIR R4 interoperability server.\n\n\
        Start it with `hms serve`: with no options it keeps its data in ./hms-data (SQLite), serves HTTP on \
        127.0.0.1:8080 and the FHIR base is http://127.0.0.1:8080/fhir. Point it at PostgreSQL with \
        --database-url postgres://user@host/db (or HMS_DATABASE_URL).\n\n\
        Every option can also be set in hms.toml (same names, snake_case) or as an HMS_* environment \
        variable; flags win over the environment, which wins over the file.",
    after_help = "Examples:\n  hms serve\n  hms serve --http 127.0.0.1:9000 --data-dir /var/lib/hms\n  \
        HMS_DATABASE_URL=postgres://postgres@127.0.0.1/hms hms serve\n  hms import synthea/ --data-dir /var/lib/hms\n  hms import bundle.json --server http://127.0.0.1:8080/fhir\n  hms migrate --database-url postgres://postgres@127.0.0.1/hms\n  \
        hms conformance run --server http://127.0.0.1:8080/fhir conformance/"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server: FHIR REST API on --http (migrates the database first).
    Serve(ServerArgs),
    /// Apply pending database migrations and exit.
    Migrate(ServerArgs),
    /// Delivery queues: `hms sync status`, `hms sync retry EVENT_ID | --dead`.
    Sync(crate::sync::cli::SyncCommand),
    /// Run FHIR TestScripts against a FHIR server (black-box conformance suite).
    #[command(subcommand)]
    Conformance(crate::conformance::ConformanceCommand),
    /// Load Bundles (transaction, batch, collection) and NDJSON files or directories into the
    /// local store, or into another FHIR server with --server. Re-running it duplicates nothing.
    Import(crate::import::ImportArgs),
    /// Index existing resources for SearchParameters created through the API (shows progress;
    /// searches on such a parameter carry a warning until this has finished).
    /// Also rebuilds the whole search index when it was built in another --search-timezone or by
    /// an older version (the server warns at start when so), or always with --all.
    Reindex(ReindexArgs),
    /// Load-test a server, seed a database, or measure the raw database baseline.
    Bench(crate::bench::BenchArgs),
    /// Billing: 837P export, 835 import, 270/271 eligibility (against the local store).
    #[command(subcommand)]
    Claims(crate::claims_cli::ClaimsCommand),
    /// Builtin authentication: people (password + TOTP).
    #[command(subcommand)]
    User(crate::auth_cli::UserCommand),
    /// Builtin authentication: system clients (client_credentials).
    #[command(subcommand)]
    Client(crate::auth_cli::ClientCommand),
    /// HL7 v2: send files over MLLP, list or replay stored messages.
    #[command(subcommand)]
    Hl7(Hl7Command),
    /// The hash-chained audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Debug, clap::Args)]
pub struct ReindexArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// Rebuild every search index row even when zone and format are current.
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Walk the audit chain; exit 1 and name the first altered, inserted or deleted record.
    Verify(ServerArgs),
}

#[derive(Debug, Subcommand)]
pub enum Hl7Command {
    /// Send HL7 v2 files over MLLP (LF/CRLF line ends are normalised to CR) and print each ACK.
    #[command(after_help = "Example:\n  hms hl7 send adt.hl7 siu.hl7 --to 127.0.0.1:2575")]
    Send {
        #[arg(required = true, value_name = "FILE")]
        files: Vec<std::path::PathBuf>,
        /// host:port of the MLLP listener.
        #[arg(long, default_value = "127.0.0.1:2575", value_name = "HOST:PORT")]
        to: String,
        /// Seconds to wait for each ACK.
        #[arg(long, default_value_t = 30)]
        timeout: u64,
    },
    /// List stored HL7 messages, newest first.
    Messages {
        /// Only this status.
        #[arg(long, value_parser = HL7_STATUSES)]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Reprocess stored messages through the ingest path (idempotent: conditional upserts).
    Replay {
        /// Message id (from `hms hl7 messages`).
        #[arg(conflicts_with = "status", required_unless_present = "status")]
        id: Option<i64>,
        /// Replay every message with this status (e.g. error).
        #[arg(long, value_parser = HL7_STATUSES)]
        status: Option<String>,
        #[command(flatten)]
        server: ServerArgs,
    },
}

/// The states of a stored HL7 message (`store::hl7_messages`).
const HL7_STATUSES: [&str; 4] = {
    use crate::store::hl7_messages::{ERROR, PROCESSED, RECEIVED, REJECTED};
    [RECEIVED, PROCESSED, ERROR, REJECTED]
};

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => {
            let config = Config::load(&args)?;
            crate::telemetry::init(config.log_format);
            serve(config)
        }
        Command::Bench(args) => {
            crate::telemetry::init_with_default(crate::config::LogFormat::Text, "warn");
            crate::bench::run(args)
        }
        Command::Migrate(args) => {
            let config = Config::load(&args)?;
            crate::telemetry::init(config.log_format);
            let store = crate::app::open_store(&config)?;
            let _ = store;
            println!("database is up to date");
            Ok(())
        }
        Command::Conformance(cmd) => Ok(crate::conformance::run(cmd)?),
        Command::Import(args) => {
            let config = Config::load(&args.store)?;
            crate::telemetry::init(config.log_format);
            crate::import::run(args)
        }
        Command::Reindex(ReindexArgs { server: args, all }) => {
            let config = Config::load(&args)?;
            crate::telemetry::init(config.log_format);
            let store = crate::app::open_store(&config)?;
            let zone = config.search_zone;
            if all || crate::interactions::reindex::needs_rebuild(&store, &zone)? {
                let n = crate::interactions::reindex::rebuild_all(&store, &zone, |done, total| {
                    let pct = if total > 0 { done * 100 / total } else { 100 };
                    eprintln!("rebuilding the search index: {done}/{total} resources ({pct}%)");
                })?;
                println!(
                    "search index rebuilt: {n} resources; dates without an offset read in {zone}"
                );
            }
            let done = crate::interactions::reindex::run(&store, |url, done, total| {
                let pct = if total > 0 { done * 100 / total } else { 100 };
                eprintln!("reindexing {url}: {done}/{total} resources ({pct}%)");
            })?;
            if done.is_empty() {
                println!("nothing to reindex: every custom search parameter is up to date");
            }
            for r in done {
                println!(
                    "{}: {} resources indexed; the parameter is active",
                    r.url, r.resources
                );
            }
            Ok(())
        }
        Command::Hl7(cmd) => crate::hl7_cli::run(cmd),
        Command::Audit(AuditCommand::Verify(args)) => {
            let config = Config::load(&args)?;
            crate::telemetry::init(config.log_format);
            let store = crate::app::open_store(&config)?;
            use crate::interactions::audit::{Verified, verify};
            match verify(&store)? {
                Verified::Intact { records } => {
                    println!("audit log intact: {records} records");
                    Ok(())
                }
                Verified::Altered { seq } => {
                    anyhow::bail!("audit log record {seq} was altered (its hash does not match)")
                }
                Verified::Broken { seq } => anyhow::bail!(
                    "audit log chain broken at record {seq}: a record before it was deleted or inserted"
                ),
            }
        }
        Command::User(cmd) => crate::auth_cli::run_user(cmd),
        Command::Client(cmd) => crate::auth_cli::run_client(cmd),
        Command::Claims(cmd) => crate::claims_cli::run(cmd),
        Command::Sync(cmd) => crate::sync::cli::run(cmd),
    }
}

fn serve(config: Config) -> anyhow::Result<()> {
    actix_web::rt::System::new().block_on(async move {
        let store = crate::app::open_store(&config)?;
        let scheme = if config.tls.is_some() {
            "https"
        } else {
            "http"
        };
        let built = crate::app::build(config, store)?;
        tracing::info!(
            "HMS Interop {} listening on {scheme}://{} (FHIR base {scheme}://{}/fhir)",
            env!("CARGO_PKG_VERSION"),
            built.addr,
            built.addr
        );
        if let Some(m) = &built.mllp {
            tracing::info!(
                "HL7 v2 MLLP{} listening on {}",
                if m.tls { " over TLS" } else { "" },
                m.addr
            );
        }
        let result = built.server.await;
        if let Some(m) = &built.mllp {
            m.stop();
        }
        result?;
        tracing::info!("shut down cleanly");
        Ok(())
    })
}
