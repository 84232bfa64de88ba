//! Prints the mapping of a message file: `cargo run -p hms-hl7v2 --example map_dump -- file.hl7`.
use hms_hl7v2::map::{MappingConfig, map_message};
use hms_hl7v2::{Message, normalize_segment_terminators};

fn main() {
    for path in std::env::args().skip(1) {
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("{path}: {e}");
                continue;
            }
        };
        let msg = match Message::parse(&normalize_segment_terminators(&bytes)) {
            Ok(m) => m,
            Err(e) => {
                println!("{path}: parse error: {e}");
                continue;
            }
        };
        match map_message(&msg, &MappingConfig::default()) {
            Ok(m) => println!(
                "{path}:\n{}\nmerges={:?} key={:?} warnings={:?}",
                serde_json::to_string_pretty(&m.bundle).unwrap_or_default(),
                m.merges,
                m.patient_key,
                m.warnings
            ),
            Err(e) => println!("{path}: map error: {e} {:?}", e),
        }
    }
}
