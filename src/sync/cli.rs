//! `hms sync status` and `hms sync retry`.

use clap::{Args, Subcommand};

use crate::config::{Config, ServerArgs};
use crate::error::Error;
use crate::store::{now_micros, outbox};

#[derive(Debug, Args)]
pub struct SyncCommand {
    #[command(subcommand)]
    pub action: SyncAction,
}

#[derive(Debug, Subcommand)]
pub enum SyncAction {
    /// Per destination: queue depth (pending + in flight), lag of the oldest pending, delivered, dead.
    Status {
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Put deliveries back in the queue: one event id (all its destinations), or every dead one.
    Retry {
        /// The event id (as in X-HMS-Event-Id).
        #[arg(required_unless_present = "dead", conflicts_with = "dead")]
        event_id: Option<i64>,
        /// Retry every dead delivery.
        #[arg(long, alias = "all-dead")]
        dead: bool,
        /// Only this destination (e.g. Subscription/123 or mirror).
        #[arg(long, value_name = "DEST")]
        destination: Option<String>,
        #[command(flatten)]
        server: ServerArgs,
    },
}

impl SyncAction {
    /// The database options come after the action, as with every other command
    /// (`hms sync status --data-dir D`).
    fn server(&self) -> &ServerArgs {
        match self {
            SyncAction::Status { server } | SyncAction::Retry { server, .. } => server,
        }
    }
}

pub fn run(cmd: SyncCommand) -> anyhow::Result<()> {
    let config = Config::load(cmd.action.server())?;
    crate::telemetry::init_with_default(config.log_format, "warn");
    let store = crate::app::open_store(&config)?;
    match cmd.action {
        SyncAction::Status { .. } => {
            let (rows, last, cursor) = store.read(|c| -> Result<_, Error> {
                let rows = outbox::destination_status(c)?;
                let last = outbox::last_event_id(c)?;
                let cursor = outbox::lock_cursor(c)?.unwrap_or(0);
                Ok((rows, last, cursor))
            })?;
            println!("events: last id {last}, fanned out up to {cursor}");
            println!(
                "{:<40} {:>8} {:>9} {:>10} {:>8} {:>6} {:>10}",
                "destination", "pending", "in_flight", "delivered", "skipped", "dead", "lag_s"
            );
            let now = now_micros();
            for r in rows {
                let lag = r
                    .oldest_unfinished
                    .map(|t| format!("{:.1}", (now - t) as f64 / 1e6))
                    .unwrap_or_else(|| "0".into());
                println!(
                    "{:<40} {:>8} {:>9} {:>10} {:>8} {:>6} {:>10}",
                    r.dest_id, r.pending, r.in_flight, r.delivered, r.skipped, r.dead, lag
                );
            }
            Ok(())
        }
        SyncAction::Retry {
            event_id,
            dead: _,
            destination,
            ..
        } => {
            let n = store.write(|c| -> Result<usize, Error> {
                Ok(outbox::retry(c, event_id, destination.as_deref())?)
            })?;
            println!("{n} deliveries queued again");
            Ok(())
        }
    }
}
