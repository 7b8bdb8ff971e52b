//! `ultra`: the one binary of the platform. Today it runs simulations locally
//! (`ultra run`); the services and the gateway join it as they land.

mod model;
mod run;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "ultra",
    version,
    about = "Ultra Monte Carlo simulation platform"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a simulation locally, with no server.
    Run(run::RunArgs),
    /// Show a model's inputs, outputs, cell counts and unsupported constructs.
    Inspect(model::InspectArgs),
    /// Evaluate every formula cell once, deterministically (Risk functions at their static
    /// value, else their mean).
    Eval(model::EvalArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Run(args) => run::run(args),
        Command::Inspect(args) => model::inspect(args),
        Command::Eval(args) => model::eval(args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
