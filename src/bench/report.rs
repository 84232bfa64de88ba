//! Latency recording (HdrHistogram, microseconds) and the report every bench command prints: the
//! same shape for HTTP scenarios and the raw database baseline, so the two can be divided.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Highest latency kept exactly; slower samples are clamped to it (and still counted).
const MAX_MICROS: u64 = 120_000_000;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("histogram: {0}")]
    Histogram(String),
    #[error("cannot read baseline file {path}: {message}")]
    Baseline { path: String, message: String },
}

/// How one request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx (or the status the operation expects).
    Ok,
    /// Any other HTTP status.
    Status(u16),
    /// No HTTP answer: connect/reset/timeout, or a database error in the baseline.
    Transport,
    /// Another protocol's failure, by name (e.g. an HL7 ACK code "AE").
    Failed(&'static str),
}

impl Outcome {
    pub fn from_status(status: u16) -> Outcome {
        if (200..300).contains(&status) {
            Outcome::Ok
        } else {
            Outcome::Status(status)
        }
    }
}

/// Latencies and outcomes of one kind of operation.
#[derive(Debug, Clone)]
struct OpRecorder {
    hist: Histogram<u64>,
    ok: u64,
    errors: BTreeMap<String, u64>,
}

impl OpRecorder {
    fn new() -> Result<OpRecorder, ReportError> {
        Ok(OpRecorder {
            hist: Histogram::new_with_bounds(1, MAX_MICROS, 3)
                .map_err(|e| ReportError::Histogram(e.to_string()))?,
            ok: 0,
            errors: BTreeMap::new(),
        })
    }

    fn record(&mut self, latency: Duration, outcome: Outcome) {
        let micros = u64::try_from(latency.as_micros())
            .unwrap_or(MAX_MICROS)
            .clamp(1, MAX_MICROS);
        self.hist.saturating_record(micros);
        match outcome {
            Outcome::Ok => self.ok += 1,
            Outcome::Status(s) => *self.errors.entry(s.to_string()).or_default() += 1,
            Outcome::Transport => *self.errors.entry("transport".into()).or_default() += 1,
            Outcome::Failed(what) => *self.errors.entry(what.into()).or_default() += 1,
        }
    }

    fn merge(&mut self, other: &OpRecorder) -> Result<(), ReportError> {
        self.hist
            .add(&other.hist)
            .map_err(|e| ReportError::Histogram(e.to_string()))?;
        self.ok += other.ok;
        for (k, v) in &other.errors {
            *self.errors.entry(k.clone()).or_default() += v;
        }
        Ok(())
    }
}

/// Collects samples per operation name; one per worker, merged at the end.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    ops: BTreeMap<&'static str, OpRecorder>,
}

impl Recorder {
    pub fn record(
        &mut self,
        op: &'static str,
        latency: Duration,
        outcome: Outcome,
    ) -> Result<(), ReportError> {
        if !self.ops.contains_key(op) {
            self.ops.insert(op, OpRecorder::new()?);
        }
        if let Some(r) = self.ops.get_mut(op) {
            r.record(latency, outcome);
        }
        Ok(())
    }

    pub fn merge(&mut self, other: &Recorder) -> Result<(), ReportError> {
        for (name, r) in &other.ops {
            match self.ops.get_mut(name) {
                Some(mine) => mine.merge(r)?,
                None => {
                    self.ops.insert(name, r.clone());
                }
            }
        }
        Ok(())
    }

    pub fn total_requests(&self) -> u64 {
        self.ops.values().map(|r| r.hist.len()).sum()
    }

    fn all(&self) -> Result<OpRecorder, ReportError> {
        let mut all = OpRecorder::new()?;
        for r in self.ops.values() {
            all.merge(r)?;
        }
        Ok(all)
    }
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub mean: f64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Latency {
    fn of(h: &Histogram<u64>) -> Latency {
        let ms = |micros: u64| micros as f64 / 1000.0;
        Latency {
            mean: h.mean() / 1000.0,
            p50: ms(h.value_at_quantile(0.50)),
            p95: ms(h.value_at_quantile(0.95)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
        }
    }
}

/// Figures of one operation (or of the whole run).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub requests: u64,
    pub ok: u64,
    /// Failures by HTTP status (or "transport").
    pub errors: BTreeMap<String, u64>,
    pub throughput_per_s: f64,
    pub latency_ms: Latency,
}

impl Stats {
    fn of(r: &OpRecorder, elapsed: Duration) -> Stats {
        let secs = elapsed.as_secs_f64().max(1e-9);
        Stats {
            requests: r.hist.len(),
            ok: r.ok,
            errors: r.errors.clone(),
            throughput_per_s: r.ok as f64 / secs,
            latency_ms: Latency::of(&r.hist),
        }
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// The result of one run: overall figures plus a breakdown per operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub scenario: String,
    /// "http" for a scenario against a server, "raw" for the database baseline.
    pub kind: String,
    pub target: String,
    pub concurrency: usize,
    pub duration_s: f64,
    pub total: Stats,
    pub operations: BTreeMap<String, Stats>,
    /// Extra facts a scenario reports (connections: RSS figures).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub notes: BTreeMap<String, String>,
    /// Throughput of this run divided by the matching raw baseline figure, when one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratio_to_baseline: Option<Ratio>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ratio {
    pub baseline_scenario: String,
    pub baseline_throughput_per_s: f64,
    pub ratio: f64,
}

/// What identifies a run in its report header.
pub struct RunInfo<'a> {
    pub scenario: &'a str,
    pub kind: &'a str,
    pub target: &'a str,
    pub concurrency: usize,
}

impl Report {
    pub fn build(
        info: RunInfo<'_>,
        rec: &Recorder,
        elapsed: Duration,
    ) -> Result<Report, ReportError> {
        let operations = rec
            .ops
            .iter()
            .map(|(name, r)| (name.to_string(), Stats::of(r, elapsed)))
            .collect();
        Ok(Report {
            scenario: info.scenario.to_string(),
            kind: info.kind.to_string(),
            target: info.target.to_string(),
            concurrency: info.concurrency,
            duration_s: elapsed.as_secs_f64(),
            total: Stats::of(&rec.all()?, elapsed),
            operations,
            notes: BTreeMap::new(),
            ratio_to_baseline: None,
        })
    }

    /// Sets the ratio against the baseline operation that stands for this scenario's work.
    pub fn compare(&mut self, baseline: &Report) {
        let Some(op) = baseline_op_for(&self.scenario) else {
            return;
        };
        let Some(b) = baseline.operations.get(op) else {
            return;
        };
        if b.throughput_per_s > 0.0 {
            self.ratio_to_baseline = Some(Ratio {
                baseline_scenario: op.to_string(),
                baseline_throughput_per_s: b.throughput_per_s,
                ratio: self.total.throughput_per_s / b.throughput_per_s,
            });
        }
    }

    pub fn render_text(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!(
            "{} ({}) against {}: {} workers, {:.1} s\n",
            self.scenario, self.kind, self.target, self.concurrency, self.duration_s
        ));
        out.push_str(&format!(
            "{:<20} {:>9} {:>9} {:>10} {:>8} {:>8} {:>8} {:>8} {:>8}  errors\n",
            "operation", "requests", "ok", "ok/s", "p50 ms", "p95 ms", "p99 ms", "p99.9", "max ms"
        ));
        let mut line = |name: &str, s: &Stats| {
            let errors = if s.errors.is_empty() {
                "-".to_string()
            } else {
                s.errors
                    .iter()
                    .map(|(k, v)| format!("{k}:{v}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            out.push_str(&format!(
                "{:<20} {:>9} {:>9} {:>10.1} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2}  {}\n",
                name,
                s.requests,
                s.ok,
                s.throughput_per_s,
                s.latency_ms.p50,
                s.latency_ms.p95,
                s.latency_ms.p99,
                s.latency_ms.p999,
                s.latency_ms.max,
                errors
            ));
        };
        for (name, s) in &self.operations {
            line(name, s);
        }
        line("TOTAL", &self.total);
        for (k, v) in &self.notes {
            out.push_str(&format!("{k}: {v}\n"));
        }
        if let Some(r) = &self.ratio_to_baseline {
            out.push_str(&format!(
                "ratio to raw baseline {} ({:.1}/s): {:.2}x\n",
                r.baseline_scenario, r.baseline_throughput_per_s, r.ratio
            ));
        }
        out
    }
}

/// The raw operation a scenario is compared with (see `bench baseline`).
pub fn baseline_op_for(scenario: &str) -> Option<&'static str> {
    match scenario {
        "read" => Some("select-by-key"),
        "crud-mix" => Some("crud-mix"),
        "create" | "update" | "transaction" | "hl7-adt" => Some("insert"),
        "search-mix" => Some("indexed-lookup"),
        _ => None,
    }
}

/// Reads a report printed earlier with `--json` (one report, or a list of them).
pub fn load_baseline(path: &std::path::Path) -> Result<Report, ReportError> {
    let err = |message: String| ReportError::Baseline {
        path: path.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    serde_json::from_str::<Report>(&text).map_err(|e| err(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn percentiles_throughput_and_errors() {
        let mut a = Recorder::default();
        for i in 1..=100 {
            a.record("read", ms(i), Outcome::Ok).unwrap();
        }
        let mut b = Recorder::default();
        b.record("read", ms(1000), Outcome::Status(500)).unwrap();
        b.record("create", ms(2), Outcome::Transport).unwrap();
        b.record("create", ms(3), Outcome::from_status(201))
            .unwrap();
        a.merge(&b).unwrap();
        assert_eq!(a.total_requests(), 103);
        let r = Report::build(
            RunInfo {
                scenario: "x",
                kind: "http",
                target: "t",
                concurrency: 4,
            },
            &a,
            Duration::from_secs(2),
        )
        .unwrap();
        assert_eq!(r.total.requests, 103);
        assert_eq!(r.total.ok, 101);
        assert_eq!(r.total.error_count(), 2);
        assert_eq!(r.total.errors.get("500"), Some(&1));
        assert_eq!(r.total.errors.get("transport"), Some(&1));
        assert!((r.total.throughput_per_s - 50.5).abs() < 1e-9);
        let read = &r.operations["read"];
        assert_eq!(read.requests, 101);
        // 1..=100 ms plus one 1000 ms sample: p50 is about 51 ms, max 1000 ms (3 significant digits).
        assert!((read.latency_ms.p50 - 51.0).abs() < 0.1, "{read:?}");
        assert!((read.latency_ms.max - 1000.0).abs() < 1.0, "{read:?}");
        assert!(read.latency_ms.p95 >= 95.0 && read.latency_ms.p95 <= 97.0);
        let text = r.render_text();
        assert!(text.contains("TOTAL"));
        assert!(text.contains("500:1"));
        assert!(text.contains("transport:1"));
    }

    #[test]
    fn json_round_trip_and_ratio() {
        let mut rec = Recorder::default();
        rec.record("insert", ms(1), Outcome::Ok).unwrap();
        rec.record("insert", ms(1), Outcome::Ok).unwrap();
        let baseline = Report::build(
            RunInfo {
                scenario: "baseline",
                kind: "raw",
                target: "sqlite",
                concurrency: 1,
            },
            &rec,
            Duration::from_secs(1),
        )
        .unwrap();
        let json = serde_json::to_string(&baseline).unwrap();
        let back: Report = serde_json::from_str(&json).unwrap();
        assert_eq!(back, baseline);

        let mut run = Recorder::default();
        run.record("create", ms(1), Outcome::Ok).unwrap();
        let mut r = Report::build(
            RunInfo {
                scenario: "create",
                kind: "http",
                target: "s",
                concurrency: 1,
            },
            &run,
            Duration::from_secs(1),
        )
        .unwrap();
        r.compare(&back);
        let ratio = r.ratio_to_baseline.clone().unwrap();
        assert_eq!(ratio.baseline_scenario, "insert");
        assert_eq!(baseline_op_for("crud-mix"), Some("crud-mix"));
        assert_eq!(baseline_op_for("read"), Some("select-by-key"));
        assert!((ratio.ratio - 0.5).abs() < 1e-9);
        assert!(r.render_text().contains("0.50x"));
    }

    #[test]
    fn slow_samples_are_clamped_not_lost() {
        let mut rec = Recorder::default();
        rec.record("x", Duration::from_secs(10_000), Outcome::Ok)
            .unwrap();
        rec.record("x", Duration::ZERO, Outcome::Ok).unwrap();
        assert_eq!(rec.total_requests(), 2);
    }
}
