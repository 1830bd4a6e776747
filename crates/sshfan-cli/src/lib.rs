//! `sshfan`: run a command on many hosts at once over SSH.
//!
//! Parses arguments, runs, and maps the result to an exit code (see [`exit`]). Errors are
//! printed as `sshfan: <error chain>`; a closed stdout is not an error.
//!
//! The binary is `src/main.rs`; this library holds its code so that fuzz targets and
//! benchmarks can reach the JSON encoder and decoder. It is not a stable API: programs
//! should use the `sshfan` library crate, or drive the binary through `--json`.

mod agent;
mod args;
mod copy_command;
mod demo;
pub mod ending;
pub mod exit;
mod files;
mod fleet;
mod gate;
mod generated;
mod hostlist;
pub mod huge_pages;
mod interactive;
mod journal;
mod keypress;
mod merge;
mod nodeset_cmd;
mod prompt;
mod remote_command;
pub mod render;
mod rerun;
mod runner;
mod runs;
mod settings;
mod spread;
pub mod summary;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command};
use crate::exit::{ExitStatus, UsageError};
use crate::settings::Invocation;

/// The `sshfan` command: parses `std::env::args`, runs, and returns the exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return match err.use_stderr() {
                true => ExitStatus::Usage.into(),
                false => ExitStatus::Success.into(),
            };
        }
    };
    init_logging();
    match &cli.subcommand {
        Some(Command::Completions(args)) => return finish(generated::completions(args.shell)),
        Some(Command::Man) => return finish(generated::man()),
        _ => {}
    }
    if let Some(Command::Nodeset(args)) = cli.subcommand {
        let result = nodeset_cmd::nodeset(
            args,
            &mut std::io::stdin().lock(),
            &mut std::io::stdout().lock(),
        );
        return finish(result);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => return finish(Err(anyhow::Error::new(err).context("starting the runtime"))),
    };
    let result = runtime.block_on(async {
        match cli.subcommand {
            Some(Command::Demo(demo)) => demo::demo(demo).await,
            Some(Command::Cp(copy)) => {
                let invocation = Invocation::from_env();
                copy_command::run_copy(copy, copy_command::Direction::Upload, invocation).await
            }
            Some(Command::Get(copy)) => {
                let invocation = Invocation::from_env();
                copy_command::run_copy(copy, copy_command::Direction::Download, invocation).await
            }
            Some(Command::Merge(args)) => merge::merge(args),
            Some(Command::Runs(args)) => runs::runs(args),
            Some(Command::Rerun(args)) => rerun::rerun(args).await,
            Some(Command::Agent(args)) => agent::agent(args).await,
            _ if interactive::wanted(&cli.run) => interactive::interactive(cli.run).await,
            _ => remote_command::run_command(cli.run, Invocation::from_env()).await,
        }
    });
    finish(result)
}

fn finish(result: anyhow::Result<ExitStatus>) -> ExitCode {
    match result {
        Ok(status) => status.into(),
        Err(err) => report(err),
    }
}

/// `SSHFAN_LOG=debug` (or any `tracing` filter) turns on logs, on stderr.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SSHFAN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

#[allow(clippy::print_stderr)]
fn report(err: anyhow::Error) -> ExitCode {
    eprintln!("sshfan: {err:#}");
    if err.downcast_ref::<UsageError>().is_some()
        || err.downcast_ref::<sshfan::ConfigError>().is_some()
    {
        ExitStatus::Usage.into()
    } else {
        ExitStatus::HostError.into()
    }
}
