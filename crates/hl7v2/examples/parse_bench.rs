//! Release-mode parse throughput: `cargo run --release -p hms-hl7v2 --example parse_bench [file] [iterations]`.
use hms_hl7v2::{Message, normalize_segment_terminators};

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().unwrap_or_else(|| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/hl7v2/oru_r01_cdcti_ca003_cr.hl7"
        )
        .into()
    });
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(5000);
    let Ok(raw) = std::fs::read(&path) else {
        eprintln!("cannot read {path}");
        return;
    };
    let bytes = normalize_segment_terminators(&raw).into_owned();
    let t = std::time::Instant::now();
    let mut segs = 0;
    for _ in 0..n {
        if let Ok(m) = Message::parse(&bytes) {
            segs += m.all_segments().count();
        }
    }
    let dt = t.elapsed().as_secs_f64();
    println!(
        "{n} x {} bytes, {segs} segments: {dt:.3}s, {:.1} MB/s, {:.0} msg/s",
        bytes.len(),
        (n * bytes.len()) as f64 / dt / 1e6,
        n as f64 / dt
    );
}
