//! Shell completions and the manual page, generated from the clap definition, so they
//! never drift from the options the binary takes.

use std::io::Write;

use clap::CommandFactory;

use crate::args::Cli;
use crate::exit::ExitStatus;

/// `sshfan completions SHELL`: the completion script on stdout.
pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<ExitStatus> {
    let mut command = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command, "sshfan", &mut out);
    write_out(&out)
}

/// `sshfan man`: the manual page (roff) on stdout.
pub fn man() -> anyhow::Result<ExitStatus> {
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut out)?;
    write_out(&out)
}

fn write_out(bytes: &[u8]) -> anyhow::Result<ExitStatus> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => Err(err.into()),
        _ => Ok(ExitStatus::Success),
    }
}
