//! Asking for secrets: once per run, never from the command line.
//!
//! The secret is read from the terminal without echo. When `SSHFAN_ASKPASS` names a
//! program (like `SSH_ASKPASS`), it is run with the prompt as its argument and its first
//! line of output is the secret: for GUIs, password managers and tests.

use std::process::{Command, Stdio};

use anyhow::{Context, bail};

pub fn ask_secret(prompt: &str) -> anyhow::Result<String> {
    if let Some(program) = std::env::var_os("SSHFAN_ASKPASS").filter(|p| !p.is_empty()) {
        let output = Command::new(&program)
            .arg(prompt)
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .with_context(|| format!("running SSHFAN_ASKPASS program {program:?}"))?;
        if !output.status.success() {
            bail!(
                "SSHFAN_ASKPASS program {program:?} failed ({})",
                output.status
            );
        }
        let text =
            String::from_utf8(output.stdout).context("SSHFAN_ASKPASS output is not UTF-8")?;
        return Ok(text.lines().next().unwrap_or_default().to_owned());
    }
    rpassword::prompt_password(prompt).context(
        "cannot ask for a password (no terminal? set SSHFAN_ASKPASS to a program that prints it)",
    )
}
