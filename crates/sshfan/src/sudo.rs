//! sudo without leaks: the password is written only when sudo asks for it.
//!
//! Writing the password on stdin up front (what `sudo -S` invites) leaks it whenever sudo
//! does not ask (NOPASSWD, a cached timestamp, already root): the command then reads the
//! password as its own input and may print it. Instead the command runs as
//!
//! ```text
//! sudo -S -p '<PROMPT>' [-u USER] -- sh -c 'printf "%s\n" "<MARKER>" >&2; exec "$@"' sshfan <shell> '<command>'
//! ```
//!
//! and [`Gate`] watches the output: at the prompt the password line goes to stdin (the
//! prompt itself is removed from the output); at the marker sudo is done (the marker is
//! removed too), and only then does the caller's own stdin flow. A second prompt (a wrong
//! password) gets end-of-file, so sudo fails at once instead of waiting. Before the
//! marker nothing but sudo itself writes, so the markers cannot collide with the
//! command's output; after it, output passes untouched.

use bytes::{Bytes, BytesMut};

use crate::command::{CommandLine, quote};

/// What sudo prints when it wants the password (`-p`).
const PROMPT: &[u8] = b"[sshfan-sudo-password]";
/// What the command prints (on stderr) once sudo has let it run.
const MARKER: &[u8] = b"[sshfan-sudo-ok]\n";

/// The command line that runs `command` through sudo with a password gate.
pub(crate) fn gated_command(
    command: &CommandLine,
    user: Option<&str>,
    shell: Option<&str>,
) -> CommandLine {
    let as_user = user
        .map(|u| format!("-u {} ", quote(u)))
        .unwrap_or_default();
    let shell = shell.unwrap_or("sh -c");
    let marker = String::from_utf8_lossy(MARKER.strip_suffix(b"\n").unwrap_or(MARKER));
    let announce = format!("printf '%s\\n' {} >&2; exec \"$@\"", quote(&marker));
    command.quoted_after(&format!(
        "sudo -S -p {} {as_user}-- sh -c {} sshfan {shell} ",
        quote(&String::from_utf8_lossy(PROMPT)),
        quote(&announce),
    ))
}

/// What the gate saw in the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    /// sudo asks for the password (the first time, or again after a wrong one).
    Prompt,
    /// sudo let the command run.
    Open,
}

/// Watches a channel's output for sudo's prompt and the marker, removing both.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    /// Bytes that may be the start of a prompt or marker, held back until known.
    held: BytesMut,
    open: bool,
}

impl Gate {
    /// Whether the command runs (the marker was seen).
    pub(crate) fn is_open(&self) -> bool {
        self.open
    }

    /// Takes output `data`; returns what to pass on, and the signals seen, in order.
    pub(crate) fn scan(&mut self, data: &[u8]) -> (Bytes, Vec<Signal>) {
        if self.open {
            return (Bytes::copy_from_slice(data), Vec::new());
        }
        self.held.extend_from_slice(data);
        let mut out = BytesMut::new();
        let mut signals = Vec::new();
        while !self.open {
            let prompt = memchr::memmem::find(&self.held, PROMPT);
            let marker = memchr::memmem::find(&self.held, MARKER);
            let (at, len, signal) = match (prompt, marker) {
                (Some(p), Some(m)) if m < p => (m, MARKER.len(), Signal::Open),
                (Some(p), _) => (p, PROMPT.len(), Signal::Prompt),
                (None, Some(m)) => (m, MARKER.len(), Signal::Open),
                (None, None) => break,
            };
            out.extend_from_slice(&self.held.split_to(at));
            let _ = self.held.split_to(len);
            self.open = signal == Signal::Open;
            signals.push(signal);
        }
        if self.open {
            out.extend_from_slice(&self.held.split());
        } else {
            // Keep only what could still begin a prompt or marker.
            let keep = PROMPT.len().max(MARKER.len()) - 1;
            let pass = self.held.len().saturating_sub(keep);
            out.extend_from_slice(&self.held.split_to(pass));
        }
        (out.freeze(), signals)
    }

    /// What is still held back (at the end of the output: it was output after all).
    pub(crate) fn rest(&mut self) -> Bytes {
        self.held.split().freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_all(chunks: &[&[u8]]) -> (Vec<u8>, Vec<Signal>) {
        let mut gate = Gate::default();
        let mut out = Vec::new();
        let mut signals = Vec::new();
        for chunk in chunks {
            let (passed, seen) = gate.scan(chunk);
            out.extend_from_slice(&passed);
            signals.extend(seen);
        }
        out.extend_from_slice(&gate.rest());
        (out, signals)
    }

    #[test]
    fn prompt_then_marker_split_anywhere() {
        let whole =
            b"lecture\n[sshfan-sudo-password][sshfan-sudo-ok]\nafter [sshfan-sudo-password]\n";
        for cut in 0..whole.len() {
            let (out, signals) = scan_all(&[&whole[..cut], &whole[cut..]]);
            assert_eq!(signals, [Signal::Prompt, Signal::Open], "cut at {cut}");
            // After the marker, output passes untouched (a prompt-like text included).
            assert_eq!(
                out, b"lecture\nafter [sshfan-sudo-password]\n",
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn no_prompt_when_sudo_needs_no_password() {
        let (out, signals) = scan_all(&[b"[sshfan-sudo-ok]\nhello\n"]);
        assert_eq!(signals, [Signal::Open]);
        assert_eq!(out, b"hello\n");
    }

    #[test]
    fn a_wrong_password_prompts_again() {
        let (out, signals) = scan_all(&[
            b"[sshfan-sudo-password]Sorry, try again.\n[sshfan-sudo-password]",
            b"sudo: no password was provided\n",
        ]);
        assert_eq!(signals, [Signal::Prompt, Signal::Prompt]);
        assert_eq!(
            out,
            b"Sorry, try again.\nsudo: no password was provided\n".to_vec()
        );
    }

    #[test]
    fn the_command_line_quotes_everything() {
        assert_eq!(
            gated_command(&"echo 'hi'".into(), Some("web"), None).to_str(),
            "sudo -S -p '[sshfan-sudo-password]' -u 'web' -- sh -c \
             'printf '\\''%s\\n'\\'' '\\''[sshfan-sudo-ok]'\\'' >&2; exec \"$@\"' \
             sshfan sh -c 'echo '\\''hi'\\'''"
                .into()
        );
    }
}
