//! `ultra`: the one binary of the platform: `ultra run` (local, no server), `ultra serve`
//! (everything in one process), `ultra service NAME` and `ultra gateway` (one role each).

mod model;
mod run;
mod serve;

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
    /// Run the gateway and all six services in this process (embedded SQLite and in-process
    /// bus, unless ULTRA_<SERVICE>_DATABASE_URL / ULTRA_REDIS_URL choose others).
    Serve(serve::ServeArgs),
    /// Run one service (users, files, simulation, results, billing, analytics) from ULTRA_* variables.
    Service(serve::ServiceArgs),
    /// Run the REST gateway alone, upstream URLs from ULTRA_*_URL variables.
    Gateway,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Run(args) => run::run(args),
        Command::Inspect(args) => model::inspect(args),
        Command::Eval(args) => model::eval(args),
        Command::Serve(args) => serve::serve(args),
        Command::Service(args) => serve::service(args),
        Command::Gateway => serve::gateway(),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
