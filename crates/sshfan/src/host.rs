//! Host specifications: `[user@]host[:port]`, with per-host overrides.
//!
//! A [`Host`] is what the parallel client connects to. Its name may repeat in one run
//! (the same machine twice, or two aliases for one address): hosts are told apart by
//! their position in the run and, for display, by their alias.

use std::fmt;
use std::str::FromStr;

use crate::auth::{KeySource, Secret};
use crate::error::ConfigError;

/// One target host and the settings that apply to it alone.
///
/// Fields left `None` take the client's defaults.
///
/// ```
/// use sshfan::Host;
///
/// let host: Host = "deploy@[::1]:2222".parse().unwrap();
/// assert_eq!(host.name, "::1");
/// assert_eq!(host.user.as_deref(), Some("deploy"));
/// assert_eq!(host.port, Some(2222));
///
/// let aliased = Host::new("10.0.0.5").with_alias("db-primary");
/// assert_eq!(aliased.label(), "db-primary");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Host {
    /// Host name or IP address, without brackets.
    pub name: String,
    /// Remote user; the client's user when `None`.
    pub user: Option<String>,
    /// Port; the client's port (22 by default) when `None`.
    pub port: Option<u16>,
    /// A private key for this host only, tried before the client's keys.
    pub key: Option<KeySource>,
    /// A password for this host only.
    pub password: Option<Secret>,
    /// A display name used in output and errors instead of the host name.
    pub alias: Option<String>,
}

impl Host {
    /// A host with this name and no overrides.
    pub fn new(name: impl Into<String>) -> Self {
        Host {
            name: name.into(),
            user: None,
            port: None,
            key: None,
            password: None,
            alias: None,
        }
    }

    /// Parses `[user@]host[:port]`; IPv6 addresses go in brackets (`[::1]:22`).
    ///
    /// A bare IPv6 address without a port (`::1`, `fe80::1`) is accepted too.
    pub fn parse(spec: &str) -> Result<Host, ConfigError> {
        let invalid = |reason: &str| ConfigError::InvalidHost {
            spec: spec.to_owned(),
            reason: reason.to_owned(),
        };
        let trimmed = spec.trim();
        if trimmed.is_empty() {
            return Err(invalid("empty host name"));
        }
        let (user, rest) = match trimmed.rsplit_once('@') {
            Some(("", _)) => return Err(invalid("empty user before `@`")),
            Some((user, rest)) => (Some(user.to_owned()), rest),
            None => (None, trimmed),
        };
        let (name, port) = if let Some(bracketed) = rest.strip_prefix('[') {
            let (name, after) = bracketed
                .split_once(']')
                .ok_or_else(|| invalid("missing `]` after IPv6 address"))?;
            let port = match after {
                "" => None,
                _ => Some(
                    after
                        .strip_prefix(':')
                        .ok_or_else(|| invalid("expected `:port` after `]`"))?,
                ),
            };
            (name, port)
        } else if rest.matches(':').count() > 1 {
            // A bare IPv6 address: no port can be told apart from its last group.
            (rest, None)
        } else {
            match rest.split_once(':') {
                Some((name, port)) => (name, Some(port)),
                None => (rest, None),
            }
        };
        if name.is_empty() {
            return Err(invalid("empty host name"));
        }
        if name
            .chars()
            .any(|c| c.is_whitespace() || c == '/' || c == '@')
        {
            return Err(invalid("host name contains a space, `/` or `@`"));
        }
        let port = match port {
            None => None,
            Some(text) => Some(parse_port(text).ok_or_else(|| {
                invalid(&format!("port `{text}` is not a number from 1 to 65535"))
            })?),
        };
        Ok(Host {
            name: name.to_owned(),
            user,
            port,
            key: None,
            password: None,
            alias: None,
        })
    }

    /// Sets the display alias.
    pub fn with_alias(mut self, alias: impl Into<String>) -> Self {
        self.alias = Some(alias.into());
        self
    }

    /// Sets the user for this host.
    pub fn with_user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// Sets the port for this host.
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Sets a private key for this host.
    pub fn with_key(mut self, key: KeySource) -> Self {
        self.key = Some(key);
        self
    }

    /// Sets a password for this host.
    pub fn with_password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(Secret::new(password));
        self
    }

    /// The name shown in output and errors: the alias if set, else the host name,
    /// with the port when one was given explicitly.
    pub fn label(&self) -> String {
        if let Some(alias) = &self.alias {
            return alias.clone();
        }
        match self.port {
            Some(port) if self.name.contains(':') => format!("[{}]:{port}", self.name),
            Some(port) => format!("{}:{port}", self.name),
            None => self.name.clone(),
        }
    }
}

fn parse_port(text: &str) -> Option<u16> {
    match text.parse::<u16>() {
        Ok(0) | Err(_) => None,
        Ok(port) => Some(port),
    }
}

impl FromStr for Host {
    type Err = ConfigError;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        Host::parse(spec)
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(user) = &self.user {
            write!(f, "{user}@")?;
        }
        match (self.port, self.name.contains(':')) {
            (Some(port), true) => write!(f, "[{}]:{port}", self.name),
            (Some(port), false) => write!(f, "{}:{port}", self.name),
            (None, _) => f.write_str(&self.name),
        }
    }
}

impl fmt::Debug for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Secrets stay out of debug output: show only whether they are set.
        f.debug_struct("Host")
            .field("name", &self.name)
            .field("user", &self.user)
            .field("port", &self.port)
            .field("alias", &self.alias)
            .field("key", &self.key)
            .field("password", &self.password.as_ref().map(|_| "<set>"))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(spec: &str) -> (Option<String>, String, Option<u16>) {
        let host = Host::parse(spec).unwrap_or_else(|err| panic!("{spec}: {err}"));
        (host.user, host.name, host.port)
    }

    #[test]
    fn plain_user_and_port_forms() {
        assert_eq!(parsed("web1"), (None, "web1".into(), None));
        assert_eq!(
            parsed("root@web1"),
            (Some("root".into()), "web1".into(), None)
        );
        assert_eq!(parsed("web1:2222"), (None, "web1".into(), Some(2222)));
        assert_eq!(
            parsed("a@b@web1:22"),
            (Some("a@b".into()), "web1".into(), Some(22))
        );
    }

    #[test]
    fn ipv6_forms() {
        assert_eq!(parsed("[::1]:22"), (None, "::1".into(), Some(22)));
        assert_eq!(parsed("[::1]"), (None, "::1".into(), None));
        assert_eq!(
            parsed("u@[fe80::1]:2"),
            (Some("u".into()), "fe80::1".into(), Some(2))
        );
        assert_eq!(parsed("::1"), (None, "::1".into(), None));
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        for (spec, needle) in [
            ("", "empty host name"),
            ("@web", "empty user"),
            ("web:0", "port `0`"),
            ("web:99999", "port `99999`"),
            ("web:x", "port `x`"),
            ("[::1", "missing `]`"),
            ("[::1]x", "expected `:port`"),
            ("a b", "space"),
            (":22", "empty host name"),
        ] {
            let err = Host::parse(spec).expect_err(spec).to_string();
            assert!(err.contains(needle), "{spec:?}: {err}");
        }
    }

    #[test]
    fn display_round_trips() {
        for spec in ["web1", "root@web1:2200", "u@[::1]:22"] {
            assert_eq!(Host::parse(spec).unwrap().to_string(), spec);
        }
    }

    #[test]
    fn label_prefers_alias() {
        let host = Host::parse("127.0.0.1:2200").unwrap();
        assert_eq!(host.label(), "127.0.0.1:2200");
        assert_eq!(host.with_alias("web").label(), "web");
    }
}
