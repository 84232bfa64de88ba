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
        HMS_DATABASE_URL=postgres://postgres@127.0.0.1/hms hms serve\n  hms migrate --database-url postgres://postgres@127.0.0.1/hms"
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
    /// Index existing resources for SearchParameters created through the API (shows progress;
    /// searches on such a parameter carry a warning until this has finished).
    Reindex(ServerArgs),
    /// Load-test a server, seed a database, or measure the raw database baseline.
    Bench(crate::bench::BenchArgs),
}

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
        Command::Reindex(args) => {
            let config = Config::load(&args)?;
            crate::telemetry::init(config.log_format);
            let store = crate::app::open_store(&config)?;
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
    }
}

fn serve(config: Config) -> anyhow::Result<()> {
    actix_web::rt::System::new().block_on(async move {
        let store = crate::app::open_store(&config)?;
        let built = crate::app::build(config, store)?;
        tracing::info!(
            "HMS Interop {} listening on http://{} (FHIR base http://{}/fhir)",
            env!("CARGO_PKG_VERSION"),
            built.addr,
            built.addr
        );
        built.server.await?;
        tracing::info!("shut down cleanly");
        Ok(())
    })
}
