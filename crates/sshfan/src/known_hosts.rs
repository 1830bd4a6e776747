//! Host-key verification against `known_hosts`, parsed once per run into an index.
//!
//! Verification is on by default ([`HostKeyPolicy::Strict`]): a host whose key is unknown or
//! differs from the recorded one fails with its SHA256 fingerprint and nothing is sent to
//! it. This module reads OpenSSH's format: comma-separated host patterns, `[host]:port`,
//! `*`/`?` wildcards and `!` negation. Entries it cannot use (hashed `|1|` names, marker
//! lines such as `@cert-authority`) are skipped with a debug note rather than guessed at.
//! New keys (under [`HostKeyPolicy::AcceptNew`]) are appended through one writer so that
//! concurrent hosts never interleave lines in the file.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use russh::keys::{HashAlg, PublicKey};
use tracing::{debug, warn};

use crate::error::ErrorKind;

/// What to do with a host key that is not in `known_hosts`, or differs from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HostKeyPolicy {
    /// Unknown or changed keys fail the host (the default).
    #[default]
    Strict,
    /// Unknown keys are accepted and appended to the known_hosts file; changed keys fail.
    AcceptNew,
    /// Every key is accepted. Only for throwaway test hosts: it allows man-in-the-middle attacks.
    Off,
}

/// Where host keys are looked up, and what to do when they are not found.
#[derive(Debug, Clone)]
pub struct HostKeyConfig {
    /// The policy.
    pub policy: HostKeyPolicy,
    /// Files to read; new keys are appended to the first one.
    /// Default: `~/.ssh/known_hosts` then `/etc/ssh/ssh_known_hosts`.
    pub files: Vec<PathBuf>,
}

impl Default for HostKeyConfig {
    fn default() -> Self {
        let mut files = Vec::new();
        if let Some(home) = std::env::var_os("HOME") {
            files.push(PathBuf::from(home).join(".ssh").join("known_hosts"));
        }
        files.push(PathBuf::from("/etc/ssh/ssh_known_hosts"));
        HostKeyConfig {
            policy: HostKeyPolicy::Strict,
            files,
        }
    }
}

/// One known_hosts line we can match on.
struct PatternEntry {
    patterns: Vec<String>,
    key: PublicKey,
}

/// The parsed known_hosts files of one run.
pub(crate) struct KnownHosts {
    policy: HostKeyPolicy,
    /// Keys under a literal (pattern-free) name, lowercased.
    exact: HashMap<String, Vec<PublicKey>>,
    /// Entries with wildcards or negations, checked in order.
    patterned: Vec<PatternEntry>,
    /// The file new keys go to, behind one lock.
    writer: Option<Mutex<PathBuf>>,
}

impl KnownHosts {
    /// Reads the configured files. Missing files count as empty; unreadable ones are
    /// warned about (under `Strict` every host will then fail as unknown).
    pub(crate) fn load(config: &HostKeyConfig) -> Arc<KnownHosts> {
        let mut known = KnownHosts {
            policy: config.policy,
            exact: HashMap::new(),
            patterned: Vec::new(),
            writer: config.files.first().cloned().map(Mutex::new),
        };
        if config.policy == HostKeyPolicy::Off {
            warn!(
                "host-key verification is off: connections are open to man-in-the-middle attacks"
            );
            return Arc::new(known);
        }
        for file in &config.files {
            match std::fs::read_to_string(file) {
                Ok(text) => known.add_text(&text, file),
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => warn!("cannot read known_hosts file {}: {err}", file.display()),
            }
        }
        Arc::new(known)
    }

    fn add_text(&mut self, text: &str, file: &Path) {
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut fields = line.split_whitespace();
            let (Some(hosts), Some(_algorithm), Some(blob)) =
                (fields.next(), fields.next(), fields.next())
            else {
                debug!("{}:{}: malformed line skipped", file.display(), number + 1);
                continue;
            };
            if hosts.starts_with('@') || hosts.starts_with('|') {
                debug!(
                    "{}:{}: markers and hashed names are not supported yet; line skipped",
                    file.display(),
                    number + 1
                );
                continue;
            }
            let key = match russh::keys::parse_public_key_base64(blob) {
                Ok(key) => key,
                Err(err) => {
                    debug!("{}:{}: bad key skipped: {err}", file.display(), number + 1);
                    continue;
                }
            };
            let patterns: Vec<String> = hosts.split(',').map(str::to_lowercase).collect();
            if patterns
                .iter()
                .any(|p| p.contains(['*', '?']) || p.starts_with('!'))
            {
                self.patterned.push(PatternEntry { patterns, key });
            } else {
                for name in patterns {
                    self.exact.entry(name).or_default().push(key.clone());
                }
            }
        }
    }

    /// Checks a server's key for `host`:`port` under the policy.
    pub(crate) fn verify(&self, host: &str, port: u16, key: &PublicKey) -> Result<(), ErrorKind> {
        if self.policy == HostKeyPolicy::Off {
            return Ok(());
        }
        let name = lookup_name(host, port);
        let recorded = self.keys_for(&name);
        if recorded
            .iter()
            .any(|known| known.key_data() == key.key_data())
        {
            return Ok(());
        }
        let fingerprint = key.fingerprint(HashAlg::Sha256);
        let algorithm = key.algorithm();
        if !recorded.is_empty() {
            return Err(ErrorKind::HostKey {
                message: format!(
                    "host key for `{name}` has CHANGED: server offered {algorithm} {fingerprint}, \
                     which is not the key recorded in known_hosts (possible man-in-the-middle attack)"
                ),
            });
        }
        match self.policy {
            HostKeyPolicy::AcceptNew => {
                self.append(&name, key);
                Ok(())
            }
            _ => Err(ErrorKind::HostKey {
                message: format!(
                    "host key for `{name}` is not known ({algorithm} {fingerprint}); \
                     add it to known_hosts or use the accept-new policy"
                ),
            }),
        }
    }

    fn keys_for(&self, name: &str) -> Vec<&PublicKey> {
        let mut keys: Vec<&PublicKey> = self.exact.get(name).into_iter().flatten().collect();
        for entry in &self.patterned {
            if entry_matches(&entry.patterns, name) {
                keys.push(&entry.key);
            }
        }
        keys
    }

    fn append(&self, name: &str, key: &PublicKey) {
        let Some(writer) = &self.writer else { return };
        let path = writer.lock().unwrap_or_else(PoisonError::into_inner);
        let line = match key.to_openssh() {
            Ok(text) => format!("{name} {text}\n"),
            Err(err) => return warn!("cannot encode host key for `{name}`: {err}"),
        };
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&*path)
            .and_then(|mut file| file.write_all(line.as_bytes()));
        match written {
            Ok(()) => debug!("added host key for `{name}` to {}", path.display()),
            Err(err) => warn!("cannot add host key to {}: {err}", path.display()),
        }
    }
}

/// The name a host is recorded under: `host`, or `[host]:port` off port 22.
pub fn lookup_name(host: &str, port: u16) -> String {
    let host = host.to_lowercase();
    if port == 22 {
        host
    } else {
        format!("[{host}]:{port}")
    }
}

/// OpenSSH semantics: a negated match vetoes the line; otherwise any positive match wins.
fn entry_matches(patterns: &[String], name: &str) -> bool {
    let mut matched = false;
    for pattern in patterns {
        if let Some(negated) = pattern.strip_prefix('!') {
            if wildcard_match(negated.as_bytes(), name.as_bytes()) {
                return false;
            }
        } else if wildcard_match(pattern.as_bytes(), name.as_bytes()) {
            matched = true;
        }
    }
    matched
}

/// `*` matches any run of characters, `?` exactly one.
fn wildcard_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                backtrack = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || Some(&c) == text.get(t) => {
                p += 1;
                t += 1;
            }
            _ => match backtrack {
                Some((star, matched)) => {
                    p = star + 1;
                    t = matched + 1;
                    backtrack = Some((star, matched + 1));
                }
                None => return false,
            },
        }
    }
    pattern
        .get(p..)
        .is_some_and(|rest| rest.iter().all(|&c| c == b'*'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ";
    const KEY_B: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIA6rWI3G1sz07DnfFlrouTcysQlj2P+jpNSOEWD9OJ3X";

    fn known(text: &str, policy: HostKeyPolicy) -> KnownHosts {
        let mut known = KnownHosts {
            policy,
            exact: HashMap::new(),
            patterned: Vec::new(),
            writer: None,
        };
        known.add_text(text, Path::new("test"));
        known
    }

    fn key(blob: &str) -> PublicKey {
        russh::keys::parse_public_key_base64(blob).unwrap()
    }

    #[test]
    fn exact_and_port_entries() {
        let k = known(
            &format!("web1,Web2 ssh-ed25519 {KEY_A}\n[web3]:2222 ssh-ed25519 {KEY_B}\n"),
            HostKeyPolicy::Strict,
        );
        assert!(k.verify("web1", 22, &key(KEY_A)).is_ok());
        assert!(k.verify("WEB2", 22, &key(KEY_A)).is_ok());
        assert!(k.verify("web3", 2222, &key(KEY_B)).is_ok());
        // Same name, other port: unknown.
        let err = k.verify("web1", 2222, &key(KEY_A)).unwrap_err().to_string();
        assert!(
            err.contains("not known") && err.contains("SHA256:"),
            "{err}"
        );
    }

    #[test]
    fn changed_key_is_refused_even_under_accept_new() {
        let k = known(
            &format!("web1 ssh-ed25519 {KEY_A}\n"),
            HostKeyPolicy::AcceptNew,
        );
        let err = k.verify("web1", 22, &key(KEY_B)).unwrap_err().to_string();
        assert!(err.contains("CHANGED"), "{err}");
    }

    #[test]
    fn wildcards_and_negation() {
        let k = known(
            &format!("*.example.com,!bad.example.com ssh-ed25519 {KEY_A}\n"),
            HostKeyPolicy::Strict,
        );
        assert!(k.verify("a.example.com", 22, &key(KEY_A)).is_ok());
        assert!(k.verify("bad.example.com", 22, &key(KEY_A)).is_err());
        assert!(k.verify("example.org", 22, &key(KEY_A)).is_err());
        assert!(wildcard_match(b"web?", b"web1"));
        assert!(!wildcard_match(b"web?", b"web12"));
        assert!(wildcard_match(b"*1*", b"a1b"));
    }

    #[test]
    fn several_keys_for_one_host_match_on_any() {
        let k = known(
            &format!("web1 ssh-ed25519 {KEY_A}\nweb1 ssh-ed25519 {KEY_B}\n"),
            HostKeyPolicy::Strict,
        );
        assert!(k.verify("web1", 22, &key(KEY_B)).is_ok());
    }

    #[test]
    fn off_accepts_anything() {
        let k = known("", HostKeyPolicy::Off);
        assert!(k.verify("anything", 22, &key(KEY_A)).is_ok());
    }
}
