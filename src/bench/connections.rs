//! The connections scenario: open N keep-alive HTTP/1.1 connections (one request each so the
//! server has accepted and served them), hold them idle, and report the server's resident memory
//! (from /proc/<pid>/status when --server-pid is given) and the client's own.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::BenchError;
use super::client::RunConfig;
use super::report::{Outcome, Recorder, Report, RunInfo};

/// Resident set size in KiB of a process (Linux /proc), None when unreadable.
pub fn rss_kib(pid: u32) -> Option<u64> {
    read_rss(&format!("/proc/{pid}/status"))
}

fn self_rss_kib() -> Option<u64> {
    read_rss("/proc/self/status")
}

fn read_rss(path: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    parse_vm_rss(&text)
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// `host:port` of an http:// URL.
fn authority(server: &str) -> Result<String, BenchError> {
    let rest = server
        .strip_prefix("http://")
        .ok_or_else(|| BenchError::Usage("connections needs an http:// server URL".into()))?;
    let auth = rest.split('/').next().unwrap_or(rest);
    if auth.contains(':') {
        Ok(auth.to_string())
    } else {
        Ok(format!("{auth}:80"))
    }
}

/// One request on a fresh or held connection; Ok when a complete `200` head came back.
async fn ping(stream: &mut TcpStream, host: &str) -> std::io::Result<bool> {
    let req =
        format!("GET /health/live HTTP/1.1\r\nHost: {host}\r\nConnection: keep-alive\r\n\r\n");
    stream.write_all(req.as_bytes()).await?;
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 512];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(false);
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if buf.len() >= head_end + 4 + len {
                return Ok(head.starts_with("http/1.1 200"));
            }
        }
    }
}

pub fn run(cfg: &RunConfig) -> Result<Report, BenchError> {
    let host = authority(&cfg.server)?;
    let n = cfg.concurrency;
    let hold = cfg.duration;
    let pid = cfg.server_pid;
    actix_web::rt::System::new().block_on(async move {
        let rss_before = pid.and_then(rss_kib);
        let client_before = self_rss_kib();
        let started = Instant::now();
        let mut rec = Recorder::default();
        let mut held = Vec::with_capacity(n);
        let mut first_error = None;
        // Open in waves so the listen backlog is not overrun.
        for wave in (0..n).collect::<Vec<_>>().chunks(256) {
            let opens = wave.iter().map(|_| {
                let host = host.clone();
                async move {
                    let t0 = Instant::now();
                    let mut s = TcpStream::connect(&host).await?;
                    let ok = ping(&mut s, &host).await?;
                    Ok::<_, std::io::Error>((s, ok, t0.elapsed()))
                }
            });
            for r in futures_util::future::join_all(opens).await {
                match r {
                    Ok((s, ok, took)) => {
                        let o = if ok { Outcome::Ok } else { Outcome::Status(0) };
                        rec.record("open+first-request", took, o)?;
                        held.push(s);
                    }
                    Err(e) => {
                        rec.record("open+first-request", Duration::ZERO, Outcome::Transport)?;
                        first_error.get_or_insert(e.to_string());
                    }
                }
            }
        }
        let opened_in = started.elapsed();
        let rss_open = pid.and_then(rss_kib);
        let client_open = self_rss_kib();
        // Hold them idle for the rest of the duration.
        if let Some(rest) = hold.checked_sub(opened_in) {
            actix_web::rt::time::sleep(rest).await;
        }
        let rss_held = pid.and_then(rss_kib);
        let mut still_open = 0usize;
        for s in held.iter_mut() {
            let t0 = Instant::now();
            let ok = matches!(
                tokio::time::timeout(Duration::from_secs(5), ping(s, &host)).await,
                Ok(Ok(true))
            );
            rec.record(
                "request-after-idle",
                t0.elapsed(),
                if ok { Outcome::Ok } else { Outcome::Transport },
            )?;
            still_open += usize::from(ok);
        }
        let mut report = Report::build(
            RunInfo {
                scenario: "connections",
                kind: "http",
                target: &cfg.server,
                concurrency: n,
            },
            &rec,
            started.elapsed(),
        )?;
        let mib = |k: Option<u64>| {
            k.map(|k| format!("{:.1} MiB", k as f64 / 1024.0))
                .unwrap_or_else(|| "n/a (pass --server-pid)".into())
        };
        let notes = &mut report.notes;
        notes.insert("connections held".into(), held.len().to_string());
        notes.insert("opened in".into(), format!("{:.2} s", opened_in.as_secs_f64()));
        notes.insert("server RSS before".into(), mib(rss_before));
        notes.insert("server RSS with all open".into(), mib(rss_open));
        notes.insert("server RSS after idle hold".into(), mib(rss_held));
        if let (Some(a), Some(b)) = (rss_before, rss_open)
            && !held.is_empty()
        {
            notes.insert(
                "server KiB per connection".into(),
                format!("{:.1}", b.saturating_sub(a) as f64 / held.len() as f64),
            );
        }
        notes.insert(
            "client RSS".into(),
            format!("{} -> {}", mib(client_before), mib(client_open)),
        );
        notes.insert(
            "still open after idle hold".into(),
            format!("{still_open} (the server closes idle keep-alive connections after its keep-alive timeout)"),
        );
        if let Some(e) = first_error {
            notes.insert("first connect error".into(), e);
        }
        Ok(report)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_and_authority() {
        assert_eq!(
            parse_vm_rss("Name:\thms\nVmRSS:\t  123456 kB\nVmSwap: 0 kB\n"),
            Some(123456)
        );
        assert_eq!(parse_vm_rss("Name: x\n"), None);
        assert_eq!(
            authority("http://127.0.0.1:8080/fhir").unwrap(),
            "127.0.0.1:8080"
        );
        assert_eq!(authority("http://h").unwrap(), "h:80");
        assert!(authority("https://h").is_err());
        assert!(self_rss_kib().is_some());
    }
}
