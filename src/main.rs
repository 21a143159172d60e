//! The `gatehouse` binary: parse the command line and hand over to the library.
use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = gatehouse::cli::Cli::parse();
    match gatehouse::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            // One clear line: the error and its causes, joined.
            let causes: Vec<String> = err.chain().map(ToString::to_string).collect();
            eprintln!("gatehouse: {}", causes.join(": "));
            std::process::ExitCode::FAILURE
        }
    }
}
