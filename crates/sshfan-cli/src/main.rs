//! `sshfan`: run a command on many hosts at once over SSH.
//!
//! Parses arguments, runs, and maps the result to an exit code (see [`exit`]). Errors are
//! printed as `sshfan: <error chain>`; a closed stdout is not an error.

mod args;
mod demo;
mod exit;
mod printer;
mod settings;
mod stream;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command};
use crate::exit::ExitStatus;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => return report(anyhow::Error::new(err).context("starting the runtime")),
    };
    let result = runtime.block_on(async {
        match cli.subcommand {
            Some(Command::Demo(demo)) => demo::demo(demo).await,
            None => settings::run_command(cli.run).await,
        }
    });
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
    ExitStatus::Error.into()
}
