//! Validates JSON files given on the command line and prints the issues.
//! `cargo run -p hms-fhir --example validate_file -- file.json...`
fn main() {
    let model = hms_fhir::Model::r4();
    for path in std::env::args().skip(1) {
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("{path}: {e}");
                continue;
            }
        };
        let issues = match hms_fhir::json::parse_resource(&bytes) {
            Ok(v) => hms_fhir::validate::validate_resource(model, &v),
            Err(i) => vec![i],
        };
        println!("{path}: {} issue(s)", issues.len());
        for i in issues {
            println!("  {i}");
        }
    }
}
