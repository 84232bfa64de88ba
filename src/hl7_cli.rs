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
        let parts = frames_of(&payload);
        for (i, part) in parts.iter().enumerate() {
            let name = if parts.len() > 1 {
                format!("{} #{}", f.display(), i + 1)
            } else {
                f.display().to_string()
            };
            if no_ack_requested(part) {
                client.send_only(part).await?;
                println!("{name}: no ACK requested (MSH-15=NE)");
                continue;
            }
            let ack = match client.send(part).await {
                Ok(a) => a,
                Err(e) => {
                    println!("{name}: {e}");
                    return Err(anyhow::anyhow!("{name}: {e}"));
                }
            };
            let code = msa_code(&ack).unwrap_or_else(|| "?".into());
            if code != "AA" && code != "CA" {
                failures += 1;
            }
            println!("{name}: {code}");
            println!(
                "{}",
                String::from_utf8_lossy(&ack).replace('\r', "\n").trim_end()
            );
        }
    }
    if failures > 0 {
        anyhow::bail!("{failures} message(s) were not accepted");
    }
    Ok(())
}

/// One frame per message: a file holding several messages is split at each `MSH`. A batch
/// (`FHS`/`BHS` envelope) is still sent whole, as before.
fn frames_of(payload: &[u8]) -> Vec<&[u8]> {
    let is_batch = payload
        .split(|b| *b == b'\r')
        .any(|l| l.starts_with(b"FHS") || l.starts_with(b"BHS"));
    if is_batch {
        return vec![payload];
    }
    let parts = hms_hl7v2::split_messages(payload);
    if parts.is_empty() {
        vec![payload]
    } else {
        parts
    }
}

/// MSH-15 (accept acknowledgment type) is NE: the server sends no ACK, so none is awaited.
fn no_ack_requested(message: &[u8]) -> bool {
    hms_hl7v2::ack::AckHeader::sniff(message).is_some_and(|h| h.accept_ack_type.trim() == "NE")
}
