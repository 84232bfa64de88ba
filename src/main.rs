use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = hms::cli::Cli::parse();
    match hms::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hms: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
