//! Building the remote command line: shell quoting, custom shells, sudo / run-as, and
//! per-host arguments.
//!
//! The server hands the command line to the user's login shell. Wrapping it (in another
//! shell, or in sudo) means passing it as one argument, which must be quoted so that any
//! content survives: `'…'` with each `'` written `'\''` (parallel-ssh's sudo wrapping does
//! not escape single quotes; this does).
//!
//! A command line is bytes ([`CommandLine`]): SSH sends it as a byte string, and a caller
//! may encode it in something other than UTF-8 (parallel-ssh's `run_command(encoding=)`).
//! Quoting works byte by byte, so it holds for any ASCII-compatible encoding.

use std::fmt;
use std::sync::Arc;

use crate::error::ConfigError;

/// A remote command line as sent: bytes, usually UTF-8 text.
///
/// ```
/// use sshfan::command::CommandLine;
/// let line = CommandLine::from("uname -r");
/// assert_eq!(line.as_bytes(), b"uname -r");
/// assert_eq!(line.to_str(), Some("uname -r"));
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CommandLine(Arc<[u8]>);

impl CommandLine {
    /// The bytes sent to the server.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The command line as text, when it is UTF-8.
    pub fn to_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }

    /// `prefix` followed by this command line quoted as one shell word.
    pub(crate) fn quoted_after(&self, prefix: &str) -> CommandLine {
        let mut line = Vec::with_capacity(prefix.len() + self.0.len() + 2);
        line.extend_from_slice(prefix.as_bytes());
        line.push(b'\'');
        for &byte in self.0.iter() {
            if byte == b'\'' {
                line.extend_from_slice(br"'\''");
            } else {
                line.push(byte);
            }
        }
        line.push(b'\'');
        CommandLine::from(line)
    }
}

impl From<Vec<u8>> for CommandLine {
    fn from(bytes: Vec<u8>) -> Self {
        CommandLine(bytes.into())
    }
}

impl From<&[u8]> for CommandLine {
    fn from(bytes: &[u8]) -> Self {
        CommandLine(bytes.into())
    }
}

impl From<String> for CommandLine {
    fn from(text: String) -> Self {
        CommandLine::from(text.into_bytes())
    }
}

impl From<&str> for CommandLine {
    fn from(text: &str) -> Self {
        CommandLine::from(text.as_bytes())
    }
}

impl From<&String> for CommandLine {
    fn from(text: &String) -> Self {
        CommandLine::from(text.as_str())
    }
}

/// Shows the command line as text (bytes that are not UTF-8 as U+FFFD).
impl fmt::Display for CommandLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0))
    }
}

impl fmt::Debug for CommandLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(&self.0))
    }
}

/// Quotes `text` as one POSIX shell word: `it's` → `'it'\''s'`.
///
/// ```
/// assert_eq!(sshfan::command::quote("it's $HOME"), r"'it'\''s $HOME'");
/// ```
pub fn quote(text: &str) -> String {
    // UTF-8 in, UTF-8 out: quoting only adds ASCII.
    CommandLine::from(text).quoted_after("").to_string()
}

/// Runs `command` under `shell` (e.g. `bash -c`): `bash -c '<command>'`.
pub fn with_shell(shell: &str, command: &CommandLine) -> CommandLine {
    command.quoted_after(&format!("{shell} "))
}

/// Runs `command` through sudo, as `user` (root when `None`), under `shell` (`sh -c` when
/// `None`). `-S` reads the password from stdin and `-p ''` keeps the prompt out of the
/// output.
pub fn with_sudo(command: &CommandLine, user: Option<&str>, shell: Option<&str>) -> CommandLine {
    let as_user = user
        .map(|u| format!("-u {} ", quote(u)))
        .unwrap_or_default();
    let shell = shell.unwrap_or("sh -c");
    command.quoted_after(&format!("sudo -S -p '' {as_user}-- {shell} "))
}

/// Substitutes one host's arguments into a template: each `%s` takes the next argument,
/// `%%` is a literal `%` (parallel-ssh's `host_args` with `%` formatting). Arguments are
/// inserted as given: [`quote`] them if they may hold shell syntax.
pub fn substitute(template: &str, args: &[String]) -> Result<String, ConfigError> {
    let invalid = |reason: String| ConfigError::InvalidSetting {
        name: "host_args",
        reason,
    };
    let mut out = String::with_capacity(template.len());
    let mut args = args.iter();
    let mut chars = template.chars();
    let mut used = 0;
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('s') => {
                let arg = args.next().ok_or_else(|| {
                    invalid(format!(
                        "the command has more `%s` than the {used} arguments given"
                    ))
                })?;
                out.push_str(arg);
                used += 1;
            }
            other => {
                out.push('%');
                out.extend(other);
            }
        }
    }
    if args.next().is_some() {
        return Err(invalid(format!(
            "more arguments than the {used} `%s` in the command"
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_a_real_shell() {
        let tricky = "printf '%s|' \"it's\" '$HOME' `id` \\ back\\slash \"two\nlines\"; exit 3";
        let output = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("printf %s {}", quote(tricky)))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8(output.stdout).unwrap(), tricky);
    }

    #[test]
    fn sudo_and_shell_wrapping() {
        assert_eq!(
            with_shell("bash -c", &"echo 'x'".into()).to_str(),
            Some(r"bash -c 'echo '\''x'\'''")
        );
        assert_eq!(
            with_sudo(&"id -u".into(), None, None).to_str(),
            Some("sudo -S -p '' -- sh -c 'id -u'")
        );
        assert_eq!(
            with_sudo(&"whoami".into(), Some("web"), Some("bash -c")).to_str(),
            Some("sudo -S -p '' -u 'web' -- bash -c 'whoami'")
        );
    }

    #[test]
    fn a_command_in_another_encoding_is_quoted_byte_for_byte() {
        // "echo 'é'" in Latin-1: not UTF-8, quoted as the same bytes a shell would see.
        let latin1 = CommandLine::from(&b"echo '\xe9'"[..]);
        assert_eq!(latin1.to_str(), None);
        assert_eq!(
            with_shell("sh -c", &latin1).as_bytes(),
            &b"sh -c 'echo '\\''\xe9'\\'''"[..]
        );
        assert_eq!(latin1.to_string(), "echo '\u{fffd}'");
    }

    #[test]
    fn host_args() {
        assert_eq!(
            substitute("cp %s %s # 100%%", &["a".into(), "b".into()]).unwrap(),
            "cp a b # 100%"
        );
        assert!(
            substitute("echo %s %s", &["a".into()])
                .unwrap_err()
                .to_string()
                .contains("more `%s`")
        );
        assert!(
            substitute("echo %s", &["a".into(), "b".into()])
                .unwrap_err()
                .to_string()
                .contains("more arguments")
        );
        assert_eq!(substitute("date +%Y", &[]).unwrap(), "date +%Y");
    }
}
