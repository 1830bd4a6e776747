//! Building the remote command line: shell quoting, custom shells, sudo / run-as, and
//! per-host arguments.
//!
//! The server hands the command line to the user's login shell. Wrapping it (in another
//! shell, or in sudo) means passing it as one argument, which must be quoted so that any
//! content survives: `'…'` with each `'` written `'\''` (parallel-ssh's sudo wrapping does
//! not escape single quotes; this does).

use crate::error::ConfigError;

/// Quotes `text` as one POSIX shell word: `it's` → `'it'\''s'`.
///
/// ```
/// assert_eq!(sshfan::command::quote("it's $HOME"), r"'it'\''s $HOME'");
/// ```
pub fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// Runs `command` under `shell` (e.g. `bash -c`): `bash -c '<command>'`.
pub fn with_shell(shell: &str, command: &str) -> String {
    format!("{shell} {}", quote(command))
}

/// Runs `command` through sudo, as `user` (root when `None`), under `shell` (`sh -c` when
/// `None`). `-S` reads the password from stdin and `-p ''` keeps the prompt out of the
/// output.
pub fn with_sudo(command: &str, user: Option<&str>, shell: Option<&str>) -> String {
    let as_user = user
        .map(|u| format!("-u {} ", quote(u)))
        .unwrap_or_default();
    let shell = shell.unwrap_or("sh -c");
    format!("sudo -S -p '' {as_user}-- {}", with_shell(shell, command))
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
            with_shell("bash -c", "echo 'x'"),
            r"bash -c 'echo '\''x'\'''"
        );
        assert_eq!(
            with_sudo("id -u", None, None),
            "sudo -S -p '' -- sh -c 'id -u'"
        );
        assert_eq!(
            with_sudo("whoami", Some("web"), Some("bash -c")),
            "sudo -S -p '' -u 'web' -- bash -c 'whoami'"
        );
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
