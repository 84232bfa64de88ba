//! The hl7-adt scenario: N MLLP connections, each sending generated ADT^A01 messages (distinct
//! MRNs and control ids) one at a time and waiting for the ACK, which the server sends after its
//! commit. AA/CA count as success; AE/AR, a missing ACK or a closed connection as errors.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::BenchError;
use super::client::RunConfig;
use super::data::{self, Rng};
use super::report::{Outcome, Recorder, Report, RunInfo};

const START: u8 = 0x0b;
const END: &[u8] = b"\x1c\x0d";

/// An ADT^A01 for patient number `n` of worker `w` in run `run`.
pub fn adt_a01(run: &str, w: usize, n: u64, rng: &mut Rng) -> String {
    let family = rng.pick(data::FAMILIES);
    let dob = format!(
        "{:04}{:02}{:02}",
        rng.range(1930, 2020),
        rng.range(1, 12),
        rng.range(1, 28)
    );
    let sex = if rng.below(2) == 0 { "F" } else { "M" };
    format!(
        "MSH|^~\\&|BENCH|HOSP|HMS|HMS|20240102153000+0100||ADT^A01^ADT_A01|B{run}-{w}-{n}|P|2.5.1\r\
         EVN|A01|20240102153000+0100\r\
         PID|1||{run}-{w}-{n}^^^BENCH^MR||{family}^P{n}||{dob}|{sex}|||{} Main St^^Boston^MA^02110\r\
         PV1|1|I|WARD^101^1||||||||||||||||V{run}-{w}-{n}^^^BENCH^VN\r",
        rng.range(1, 999)
    )
}

/// The ACK code (MSA-1) of an ACK message.
pub fn ack_code(ack: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(ack).ok()?;
    let msa = text.split(['\r', '\n']).find(|seg| {
        seg.trim_start_matches(char::from(START))
            .starts_with("MSA|")
    })?;
    msa.split('|').nth(1)
}

async fn exchange(stream: &mut TcpStream, msg: &str, buf: &mut Vec<u8>) -> std::io::Result<bool> {
    let mut frame = Vec::with_capacity(msg.len() + 3);
    frame.push(START);
    frame.extend_from_slice(msg.as_bytes());
    frame.extend_from_slice(END);
    stream.write_all(&frame).await?;
    buf.clear();
    let mut chunk = [0u8; 4096];
    while !buf.ends_with(END) {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(false);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(true)
}

async fn worker(
    addr: String,
    w: usize,
    run: String,
    deadline: Instant,
) -> Result<Recorder, BenchError> {
    let mut rec = Recorder::default();
    let mut rng = Rng::new(0x4c7 + w as u64);
    let mut stream = TcpStream::connect(&addr).await?;
    let mut buf = Vec::new();
    let mut n = 0u64;
    while Instant::now() < deadline {
        n += 1;
        let msg = adt_a01(&run, w, n, &mut rng);
        let t0 = Instant::now();
        let outcome = match tokio::time::timeout(
            Duration::from_secs(60),
            exchange(&mut stream, &msg, &mut buf),
        )
        .await
        {
            Ok(Ok(true)) => match ack_code(&buf) {
                Some("AA" | "CA") => Outcome::Ok,
                Some("AE" | "CE") => Outcome::Failed("AE"),
                Some("AR" | "CR") => Outcome::Failed("AR"),
                _ => Outcome::Failed("bad-ack"),
            },
            _ => Outcome::Failed("no-ack"),
        };
        rec.record("adt-a01", t0.elapsed(), outcome)?;
        if outcome == Outcome::Failed("no-ack") {
            // The connection is unusable after a lost frame: open a new one.
            stream = TcpStream::connect(&addr).await?;
        }
    }
    Ok(rec)
}

pub fn run(cfg: &RunConfig) -> Result<Report, BenchError> {
    let addr = cfg.mllp.clone();
    let run_id = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
    let started = Instant::now();
    let deadline = started + cfg.duration;
    let n = cfg.concurrency;
    let rec = actix_web::rt::System::new().block_on(async {
        let workers = (0..n).map(|w| worker(addr.clone(), w, run_id.clone(), deadline));
        let mut total = Recorder::default();
        for r in futures_util::future::join_all(workers).await {
            total.merge(&r?)?;
        }
        Ok::<_, BenchError>(total)
    })?;
    let mut report = Report::build(
        RunInfo {
            scenario: "hl7-adt",
            kind: "mllp",
            target: &addr,
            concurrency: n,
        },
        &rec,
        started.elapsed(),
    )?;
    report.notes.insert(
        "note".into(),
        "one message in flight per connection; the server ACKs after its commit".into(),
    );
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_acks() {
        let mut rng = Rng::new(1);
        let m = adt_a01("r1", 2, 3, &mut rng);
        assert!(m.starts_with("MSH|^~\\&|BENCH|"));
        assert!(m.contains("|ADT^A01^ADT_A01|Br1-2-3|P|2.5.1\r"));
        assert!(m.contains("PID|1||r1-2-3^^^BENCH^MR||"));
        assert_eq!(m.matches('\r').count(), 4);
        let ack = b"\x0bMSH|^~\\&|HMS|HMS|BENCH|HOSP|20240102||ACK^A01^ACK|1|P|2.5.1\rMSA|AA|Br1-2-3\r\x1c\x0d";
        assert_eq!(ack_code(ack), Some("AA"));
        assert_eq!(ack_code(b"MSH|x\rMSA|AE|1\rERR|x\r"), Some("AE"));
        assert_eq!(ack_code(b"MSH|x\r"), None);
    }
}
