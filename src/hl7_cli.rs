//! `hms hl7 send | messages | replay`.

use std::time::Duration;

use crate::cli::Hl7Command;
use crate::config::Config;
use crate::mllp::client::{MllpClient, msa_code};

pub fn run(cmd: Hl7Command) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match cmd {
        Hl7Command::Send { files, to, timeout } => rt.block_on(send(files, &to, timeout)),
        Hl7Command::Messages {
            status,
            limit,
            server,
        } => {
            let config = Config::load(&server)?;
            crate::telemetry::init(config.log_format);
            let ingest = crate::app::hl7_ingest(crate::app::open_store(&config)?, &config);
            let rows = rt.block_on(ingest.list(status, limit.max(1)))?;
            println!("id\treceived\tsender\tcontrol_id\ttype\tstatus\tack\terror");
            for r in rows {
                let received = chrono::DateTime::from_timestamp_micros(r.received_at)
                    .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
                    .unwrap_or_default();
                println!(
                    "{}\t{}\t{}/{}\t{}\t{}\t{}\t{}\t{}{}",
                    r.id,
                    received,
                    r.sending_app,
                    r.sending_facility,
                    r.control_id,
                    r.msg_type,
                    r.status,
                    r.ack_code.unwrap_or_default(),
                    r.error.unwrap_or_default().replace(['\t', '\n', '\r'], " "),
                    r.note.map(|n| format!(" [{n}]")).unwrap_or_default(),
                );
            }
            Ok(())
        }
        Hl7Command::Replay { id, status, server } => {
            let config = Config::load(&server)?;
            crate::telemetry::init(config.log_format);
            let ingest = crate::app::hl7_ingest(crate::app::open_store(&config)?, &config);
            rt.block_on(async {
                let ids = match (id, status) {
                    (Some(id), _) => vec![id],
                    (None, Some(s)) => ingest.ids_with_status(s).await?,
                    (None, None) => Vec::new(),
                };
                for id in ids {
                    let r = ingest.replay(id).await?;
                    println!(
                        "{id}\t{}",
                        r.code.map(|c| c.as_str()).unwrap_or("(no ACK requested)")
                    );
                }
                Ok(())
            })
        }
    }
}

async fn send(files: Vec<std::path::PathBuf>, to: &str, timeout: u64) -> anyhow::Result<()> {
    let mut client = MllpClient::connect(to, Duration::from_secs(timeout.max(1))).await?;
    let mut failures = 0;
    for f in files {
        let bytes =
            std::fs::read(&f).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", f.display()))?;
        let payload = hms_hl7v2::normalize_segment_terminators(&bytes).into_owned();
        let ack = client.send(&payload).await?;
        let code = msa_code(&ack).unwrap_or_else(|| "?".into());
        if code != "AA" && code != "CA" {
            failures += 1;
        }
        println!("{}: {code}", f.display());
        println!(
            "{}",
            String::from_utf8_lossy(&ack).replace('\r', "\n").trim_end()
        );
    }
    if failures > 0 {
        anyhow::bail!("{failures} message(s) were not accepted");
    }
    Ok(())
}
