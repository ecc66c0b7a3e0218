//! `tributary`: the operator CLI over the application (see `tributary-ops` for the subcommands). Wiring only: parse, run,
//! report.

use clap::Parser;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = tributary_ops::Cli::parse();
    match tributary_ops::run(&app::operations::Operated, cli, &mut std::io::stdout()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("tributary: {error:#}");
            ExitCode::FAILURE
        }
    }
}
