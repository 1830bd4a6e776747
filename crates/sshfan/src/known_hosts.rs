//! Host-key verification against `known_hosts`, parsed once per run into an index.
//!
//! Verification is on by default ([`HostKeyPolicy::Strict`]): a host whose key is unknown or
//! differs from the recorded one fails with its SHA256 fingerprint and nothing is sent to
//! it. OpenSSH's format is read in full: comma-separated host patterns with `*`, `?` and
//! `!` negation, `[host]:port`, hashed `|1|salt|hash` names, case-insensitive names,
//! `@cert-authority` lines (host certificates signed by that CA are trusted, within their
//! validity and principals) and `@revoked` lines (that key is refused, even inside a
//! certificate). A host with several keys matches on any.
//!
//! Literal names go into a hash map, so a 100k-host run against a 100k-line file costs one
//! lookup per host. Wildcard and hashed entries are checked one by one, as OpenSSH does:
//! a large hashed file costs an HMAC per entry per host. New keys (under
//! [`HostKeyPolicy::AcceptNew`]) are appended through one writer, once per name, so
//! concurrent hosts never interleave or repeat lines.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use russh::keys::ssh_key::certificate::CertType;
use russh::keys::ssh_key::public::KeyData;
use russh::keys::{Certificate, HashAlg, PublicKey};
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
#[derive(Debug, Clone, Default)]
pub struct HostKeyConfig {
    /// The policy. Default: ssh_config's `StrictHostKeyChecking`, else strict.
    pub policy: Option<HostKeyPolicy>,
    /// Files to read; new keys are appended to the first one. Default: ssh_config's
    /// `UserKnownHostsFile` and `GlobalKnownHostsFile`, else `~/.ssh/known_hosts` then
    /// `/etc/ssh/ssh_known_hosts`.
    pub files: Option<Vec<PathBuf>>,
}

/// OpenSSH's default known_hosts files.
pub(crate) fn default_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Some(home) = std::env::var_os("HOME") {
        files.push(PathBuf::from(home).join(".ssh").join("known_hosts"));
    }
    files.push(PathBuf::from("/etc/ssh/ssh_known_hosts"));
    files
}

/// A line's marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    None,
    CertAuthority,
    Revoked,
}

/// A line's key and marker.
#[derive(Debug, Clone)]
struct Entry {
    marker: Marker,
    key: KeyData,
}

/// A hashed name: `|1|base64(salt)|base64(HMAC-SHA1(salt, name))`.
struct HashedName {
    salt: Vec<u8>,
    hash: Vec<u8>,
}

/// Parsed known_hosts files: one index, read once, shared by every host of a run.
///
/// ```no_run
/// use sshfan::known_hosts::{HostKeyPolicy, KnownHosts};
///
/// let known = KnownHosts::load(&["/home/me/.ssh/known_hosts".into()]);
/// # let key: russh::keys::PublicKey = unimplemented!();
/// let verdict = known.check("web1", 22, &key, HostKeyPolicy::Strict);
/// ```
pub struct KnownHosts {
    /// Entries under a literal name, lowercased.
    exact: HashMap<String, Vec<Entry>>,
    /// Entries with wildcards or negations, in file order.
    patterned: Vec<(Vec<String>, Entry)>,
    /// Entries with hashed names.
    hashed: Vec<(HashedName, Entry)>,
    has_authorities: bool,
    /// Files that exist but could not be read: every host fails closed while any is.
    unreadable: Vec<String>,
    /// Where new keys go, and which names were added this run.
    writer: Mutex<(Option<PathBuf>, HashMap<String, KeyData>)>,
}

impl KnownHosts {
    /// Reads these files. Missing files count as empty. A file that exists but cannot be
    /// read fails closed: every host checked against it fails, naming the file, under
    /// `Strict` and `AcceptNew` (an impostor must not pass as "unknown, accepted").
    pub fn load(files: &[PathBuf]) -> Arc<KnownHosts> {
        let mut known = KnownHosts::empty(files.first().cloned());
        for file in files {
            match std::fs::read(file) {
                Ok(bytes) => known.add_text(&String::from_utf8_lossy(&bytes), file),
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => {
                    warn!("cannot read known_hosts file {}: {err}", file.display());
                    known.unreadable.push(format!("{}: {err}", file.display()));
                }
            }
        }
        Arc::new(known)
    }

    /// Parses known_hosts text (lines that cannot be used are skipped), for tools and fuzzing.
    pub fn from_text(text: &str) -> KnownHosts {
        let mut known = KnownHosts::empty(None);
        known.add_text(text, Path::new("<text>"));
        known
    }

    fn empty(file: Option<PathBuf>) -> KnownHosts {
        KnownHosts {
            exact: HashMap::new(),
            patterned: Vec::new(),
            hashed: Vec::new(),
            has_authorities: false,
            unreadable: Vec::new(),
            writer: Mutex::new((file, HashMap::new())),
        }
    }

    /// Checks a plain host key for `host`:`port` under `policy` (under `AcceptNew`, an
    /// unknown key is appended to the first file).
    pub fn check(
        &self,
        host: &str,
        port: u16,
        key: &PublicKey,
        policy: HostKeyPolicy,
    ) -> Result<(), ErrorKind> {
        self.verify(host, port, Offered::Key(key.key_data()), policy)
    }

    /// The file new keys go to, and how many were added to it by this index (accept-new).
    pub fn added(&self) -> Option<(PathBuf, usize)> {
        let writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let (path, added) = &*writer;
        path.clone().map(|path| (path, added.len()))
    }

    /// Whether any `@cert-authority` line was read (then host certificates are asked for).
    pub fn has_cert_authorities(&self) -> bool {
        self.has_authorities
    }

    fn add_text(&mut self, text: &str, file: &Path) {
        for (number, line) in text.lines().enumerate() {
            if let Err(why) = self.add_line(line) {
                debug!("{}:{}: line skipped: {why}", file.display(), number + 1);
            }
        }
    }

    fn add_line(&mut self, line: &str) -> Result<(), String> {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            return Ok(());
        }
        let mut fields = line.split_whitespace();
        let mut hosts = fields.next().unwrap_or_default();
        let marker = match hosts {
            "@cert-authority" => Marker::CertAuthority,
            "@revoked" => Marker::Revoked,
            other if other.starts_with('@') => return Err(format!("unknown marker {other}")),
            _ => Marker::None,
        };
        if marker != Marker::None {
            hosts = fields.next().ok_or("no host patterns")?;
        }
        let (_algorithm, blob) = (fields.next(), fields.next().ok_or("no key")?);
        let key = russh::keys::parse_public_key_base64(blob).map_err(|e| e.to_string())?;
        let entry = Entry {
            marker,
            key: key.key_data().clone(),
        };
        self.has_authorities |= marker == Marker::CertAuthority;
        if let Some(hashed) = hosts.strip_prefix("|1|") {
            let (salt, hash) = hashed.split_once('|').ok_or("bad hashed name")?;
            let salt = BASE64.decode(salt).map_err(|e| e.to_string())?;
            let hash = BASE64.decode(hash).map_err(|e| e.to_string())?;
            self.hashed.push((HashedName { salt, hash }, entry));
            return Ok(());
        }
        let patterns: Vec<String> = hosts.split(',').map(str::to_lowercase).collect();
        if patterns
            .iter()
            .any(|p| p.contains(['*', '?']) || p.starts_with('!'))
        {
            self.patterned.push((patterns, entry));
        } else {
            for name in patterns {
                self.exact.entry(name).or_default().push(entry.clone());
            }
        }
        Ok(())
    }

    /// Every entry that applies to `name`.
    fn entries_for(&self, name: &str) -> Vec<&Entry> {
        let mut entries: Vec<&Entry> = self.exact.get(name).into_iter().flatten().collect();
        for (patterns, entry) in &self.patterned {
            if entry_matches(patterns, name) {
                entries.push(entry);
            }
        }
        for (hashed, entry) in &self.hashed {
            if hash_matches(hashed, name) {
                entries.push(entry);
            }
        }
        entries
    }

    /// What the files say about `host`:`port`, looked up once per connection: before the
    /// handshake (to ask for a known key type first) and when the server's key arrives.
    /// Nothing is looked up when host keys are not checked.
    pub(crate) fn lookup(&self, host: &str, port: u16, policy: HostKeyPolicy) -> HostKeys {
        let name = lookup_name(host, port);
        let entries = if policy == HostKeyPolicy::Off {
            Vec::new()
        } else {
            self.entries_for(&name).into_iter().cloned().collect()
        };
        HostKeys {
            host: host.to_owned(),
            name,
            entries,
            policy,
        }
    }

    /// Checks a server's key or certificate for `host`:`port` under the policy.
    pub(crate) fn verify(
        &self,
        host: &str,
        port: u16,
        offered: Offered<'_>,
        policy: HostKeyPolicy,
    ) -> Result<(), ErrorKind> {
        self.verify_known(&self.lookup(host, port, policy), offered)
    }

    /// Checks a server's key or certificate against what [`KnownHosts::lookup`] found.
    pub(crate) fn verify_known(
        &self,
        known: &HostKeys,
        offered: Offered<'_>,
    ) -> Result<(), ErrorKind> {
        let policy = known.policy;
        if policy == HostKeyPolicy::Off {
            return Ok(());
        }
        let (host, name) = (known.host.as_str(), &known.name);
        if let Some(unreadable) = self.unreadable.first() {
            return Err(ErrorKind::HostKey {
                message: format!(
                    "cannot check the host key of `{name}`: cannot read known_hosts file {unreadable}"
                ),
            });
        }
        let entries: Vec<&Entry> = known.entries.iter().collect();
        let key = offered.key();
        let refuse = |message: String| Err(ErrorKind::HostKey { message });
        // Only error messages need the fingerprint: compute it only for them.
        let fingerprint = || PublicKey::from(key.clone()).fingerprint(HashAlg::Sha256);
        let algorithm = key.algorithm();

        let revoked = |data: &KeyData| {
            entries
                .iter()
                .any(|e| e.marker == Marker::Revoked && &e.key == data)
        };
        if revoked(key) {
            return refuse(format!(
                "host key for `{name}` ({algorithm} {}) is marked @revoked",
                fingerprint()
            ));
        }
        if let Offered::Certificate(cert) = offered {
            if revoked(cert.signature_key()) {
                return refuse(format!(
                    "the CA that signed `{name}`'s host certificate is marked @revoked"
                ));
            }
            let vouched = entries
                .iter()
                .any(|e| e.marker == Marker::CertAuthority && &e.key == cert.signature_key());
            if vouched {
                return check_certificate(cert, host, name);
            }
            // No CA vouches for it: judge the certified key as a plain key, as OpenSSH does.
        }
        let plain: Vec<&&Entry> = entries
            .iter()
            .filter(|e| e.marker == Marker::None)
            .collect();
        if plain.iter().any(|e| &e.key == key) {
            return Ok(());
        }
        // Only keys of the offered type can have "changed"; a key of another type known
        // means this one is unknown (as OpenSSH judges it).
        let same_type = plain
            .iter()
            .any(|e| KeyFamily::of(&e.key) == KeyFamily::of(key));
        let other_types: Vec<String> = plain
            .iter()
            .map(|e| e.key.algorithm().to_string())
            .collect();
        if same_type {
            return refuse(format!(
                "host key for `{name}` has CHANGED: server offered {algorithm} {}, \
                 which is not the key recorded in known_hosts (possible man-in-the-middle attack)",
                fingerprint()
            ));
        }
        match policy {
            HostKeyPolicy::AcceptNew => self.accept_new(name, key, &fingerprint().to_string()),
            _ if !other_types.is_empty() => refuse(format!(
                "host key for `{name}` is not known ({algorithm} {}), but a key of another \
                 type is ({}); add this one to known_hosts or use the accept-new policy",
                fingerprint(),
                other_types.join(", ")
            )),
            _ => refuse(format!(
                "host key for `{name}` is not known ({algorithm} {}); \
                 add it to known_hosts or use the accept-new policy",
                fingerprint()
            )),
        }
    }

    /// Records a new key once per name; a second, different key for the same name in the
    /// same run is refused like a changed key.
    fn accept_new(&self, name: &str, key: &KeyData, fingerprint: &str) -> Result<(), ErrorKind> {
        let mut writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let (path, added) = &mut *writer;
        if let Some(known) = added.get(name) {
            if known == key {
                return Ok(());
            }
            return Err(ErrorKind::HostKey {
                message: format!("host key for `{name}` changed during the run ({fingerprint})"),
            });
        }
        added.insert(name.to_owned(), key.clone());
        let Some(path) = path else { return Ok(()) };
        let line = match PublicKey::from(key.clone()).to_openssh() {
            Ok(text) => format!("{name} {text}\n"),
            Err(err) => {
                warn!("cannot encode host key for `{name}`: {err}");
                return Ok(());
            }
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
        Ok(())
    }
}

/// The known_hosts entries that apply to one host, under the policy it is checked with.
pub(crate) struct HostKeys {
    host: String,
    /// The name looked up: `host`, or `[host]:port` off port 22.
    name: String,
    entries: Vec<Entry>,
    policy: HostKeyPolicy,
}

impl HostKeys {
    /// The host as the connection names it.
    pub(crate) fn host(&self) -> &str {
        &self.host
    }

    /// The key families known (a bit per [`KeyFamily`]; 0 when none), so that the
    /// handshake can ask for a type known here first.
    pub(crate) fn families(&self) -> u8 {
        self.entries
            .iter()
            .filter(|e| e.marker == Marker::None)
            .fold(0, |bits, e| bits | KeyFamily::of(&e.key).bit())
    }
}

/// A kind of host key, as far as "same type" goes (RSA with any hash is one family).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyFamily {
    Ed25519,
    Ecdsa256,
    Ecdsa384,
    Ecdsa521,
    Rsa,
    Other,
}

impl KeyFamily {
    pub(crate) fn of(key: &KeyData) -> KeyFamily {
        Self::of_algorithm(&key.algorithm())
    }

    pub(crate) fn of_algorithm(algorithm: &russh::keys::Algorithm) -> KeyFamily {
        use russh::keys::{Algorithm, EcdsaCurve};
        match algorithm {
            Algorithm::Ed25519 => KeyFamily::Ed25519,
            Algorithm::Ecdsa {
                curve: EcdsaCurve::NistP256,
            } => KeyFamily::Ecdsa256,
            Algorithm::Ecdsa {
                curve: EcdsaCurve::NistP384,
            } => KeyFamily::Ecdsa384,
            Algorithm::Ecdsa {
                curve: EcdsaCurve::NistP521,
            } => KeyFamily::Ecdsa521,
            Algorithm::Rsa { .. } => KeyFamily::Rsa,
            _ => KeyFamily::Other,
        }
    }

    pub(crate) fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// What a server presented: a plain key or a certificate.
#[derive(Clone, Copy)]
pub(crate) enum Offered<'a> {
    Key(&'a KeyData),
    Certificate(&'a Certificate),
}

impl Offered<'_> {
    fn key(&self) -> &KeyData {
        match self {
            Offered::Key(key) => key,
            Offered::Certificate(cert) => cert.public_key(),
        }
    }
}

/// A certificate signed by a trusted CA: it must be a host certificate, valid now, and
/// name this host among its principals (when it names any).
fn check_certificate(cert: &Certificate, host: &str, name: &str) -> Result<(), ErrorKind> {
    let refuse = |why: String| ErrorKind::HostKey {
        message: format!("host certificate for `{name}` rejected: {why}"),
    };
    if cert.cert_type() != CertType::Host {
        return Err(refuse(
            "it is a user certificate, not a host certificate".to_owned(),
        ));
    }
    let ca = PublicKey::from(cert.signature_key().clone()).fingerprint(HashAlg::Sha256);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    cert.validate_at(now, [&ca]).map_err(|err| {
        refuse(format!(
            "{err} (valid from {} to {})",
            cert.valid_after(),
            cert.valid_before()
        ))
    })?;
    let principals = cert.valid_principals();
    let host = host.to_lowercase();
    if !principals.is_empty() && !principals.iter().any(|p| p.to_lowercase() == host) {
        return Err(refuse(format!(
            "`{host}` is not among its principals {principals:?}"
        )));
    }
    Ok(())
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

/// A hashed known_hosts name (`|1|salt|hash`) for `name` with this salt, as
/// `ssh-keygen -H` writes it.
pub fn hashed_name(name: &str, salt: &[u8]) -> String {
    let hash = hmac_sha1(salt, name.as_bytes());
    format!("|1|{}|{}", BASE64.encode(salt), BASE64.encode(hash))
}

fn hmac_sha1(salt: &[u8], name: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length.
    match <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(salt) {
        Ok(mut mac) => {
            mac.update(name);
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

fn hash_matches(hashed: &HashedName, name: &str) -> bool {
    hmac_sha1(&hashed.salt, name.as_bytes()) == hashed.hash
}

/// OpenSSH semantics: a negated match vetoes the line; otherwise any positive match wins.
fn entry_matches(patterns: &[String], name: &str) -> bool {
    pattern_list_matches(patterns, name)
}

/// A pattern list against a name, as OpenSSH matches `Host` lines and known_hosts names:
/// any `!pattern` that matches vetoes; otherwise any matching pattern wins.
pub(crate) fn pattern_list_matches<S: AsRef<str>>(patterns: &[S], name: &str) -> bool {
    let mut matched = false;
    for pattern in patterns.iter().map(AsRef::as_ref) {
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
pub(crate) fn wildcard_match(pattern: &[u8], text: &[u8]) -> bool {
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

/// Names already seen, for tests that count lines.
#[cfg(test)]
fn names_in(text: &str) -> std::collections::HashSet<String> {
    text.lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ";
    const KEY_B: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIA6rWI3G1sz07DnfFlrouTcysQlj2P+jpNSOEWD9OJ3X";

    struct Known(KnownHosts, HostKeyPolicy);

    fn known(text: &str, policy: HostKeyPolicy) -> Known {
        let mut known = KnownHosts::empty(None);
        known.add_text(text, Path::new("test"));
        Known(known, policy)
    }

    fn key(blob: &str) -> KeyData {
        russh::keys::parse_public_key_base64(blob)
            .unwrap()
            .key_data()
            .clone()
    }

    fn check(k: &Known, host: &str, port: u16, blob: &str) -> Result<(), String> {
        k.0.verify(host, port, Offered::Key(&key(blob)), k.1)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn exact_and_port_entries() {
        let k = known(
            &format!("web1,Web2 ssh-ed25519 {KEY_A}\n[web3]:2222 ssh-ed25519 {KEY_B}\n"),
            HostKeyPolicy::Strict,
        );
        assert!(check(&k, "web1", 22, KEY_A).is_ok());
        assert!(check(&k, "WEB2", 22, KEY_A).is_ok());
        assert!(check(&k, "web3", 2222, KEY_B).is_ok());
        let err = check(&k, "web1", 2222, KEY_A).unwrap_err();
        assert!(
            err.contains("not known") && err.contains("SHA256:"),
            "{err}"
        );
    }

    const KEY_ECDSA: &str = "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBNgd6zU1x29fDuGqaAoO+xZycWPiLIvzhdK98awzjExc+ijcT4NNQFjzO+GuV1dEBD/Qbzrd9HjGzMmgFFhBWLQ=";

    /// Only a key of the offered type can have changed: one of another type known makes
    /// the offered key unknown (as OpenSSH judges it), and the handshake asks for the
    /// known type first.
    #[test]
    fn a_known_key_of_another_type_is_not_a_changed_key() {
        let text = format!("web1 ecdsa-sha2-nistp256 {KEY_ECDSA}\n");
        let strict = known(&text, HostKeyPolicy::Strict);
        let err = check(&strict, "web1", 22, KEY_A).unwrap_err();
        assert!(
            err.contains("not known") && err.contains("another type") && !err.contains("CHANGED"),
            "{err}"
        );
        assert!(check(&strict, "web1", 22, KEY_ECDSA).is_ok());
        let accept_new = known(&text, HostKeyPolicy::AcceptNew);
        assert!(check(&accept_new, "web1", 22, KEY_A).is_ok());
        assert_eq!(
            strict.0.lookup("web1", 22, strict.1).families(),
            KeyFamily::Ecdsa256.bit()
        );
        assert_eq!(strict.0.lookup("web2", 22, strict.1).families(), 0);
        assert_eq!(
            strict.0.lookup("web1", 22, HostKeyPolicy::Off).families(),
            0,
            "nothing is looked up when host keys are not checked"
        );
    }

    #[test]
    fn an_unreadable_file_fails_closed_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let known = KnownHosts::load(&[dir.path().to_owned()]);
        for policy in [HostKeyPolicy::Strict, HostKeyPolicy::AcceptNew] {
            let err = known
                .verify("web1", 22, Offered::Key(&key(KEY_A)), policy)
                .unwrap_err()
                .to_string();
            assert!(err.contains(&dir.path().display().to_string()), "{err}");
        }
        let missing = KnownHosts::load(&[dir.path().join("missing")]);
        assert!(
            missing
                .verify(
                    "web1",
                    22,
                    Offered::Key(&key(KEY_A)),
                    HostKeyPolicy::AcceptNew
                )
                .is_ok(),
            "a missing file is an empty one"
        );
    }

    #[test]
    fn changed_key_is_refused_even_under_accept_new() {
        let k = known(
            &format!("web1 ssh-ed25519 {KEY_A}\n"),
            HostKeyPolicy::AcceptNew,
        );
        assert!(
            check(&k, "web1", 22, KEY_B)
                .unwrap_err()
                .contains("CHANGED")
        );
    }

    #[test]
    fn accept_new_records_each_name_once_and_then_holds_to_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("known_hosts");
        let k = Known(
            KnownHosts::empty(Some(file.clone())),
            HostKeyPolicy::AcceptNew,
        );
        for _ in 0..3 {
            assert!(check(&k, "web1", 22, KEY_A).is_ok());
        }
        assert!(
            check(&k, "web1", 22, KEY_B)
                .unwrap_err()
                .contains("changed during the run")
        );
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert_eq!(
            names_in(&text),
            std::collections::HashSet::from(["web1".to_owned()])
        );
    }

    #[test]
    fn wildcards_and_negation() {
        let k = known(
            &format!("*.example.com,!bad.example.com ssh-ed25519 {KEY_A}\n"),
            HostKeyPolicy::Strict,
        );
        assert!(check(&k, "a.example.com", 22, KEY_A).is_ok());
        assert!(check(&k, "bad.example.com", 22, KEY_A).is_err());
        assert!(check(&k, "example.org", 22, KEY_A).is_err());
        assert!(wildcard_match(b"web?", b"web1"));
        assert!(!wildcard_match(b"web?", b"web12"));
        assert!(wildcard_match(b"*1*", b"a1b"));
    }

    #[test]
    fn hashed_names() {
        let line = format!(
            "{} ssh-ed25519 {KEY_A}\n",
            hashed_name("[web9]:2200", b"0123456789abcdef0123")
        );
        let k = known(&line, HostKeyPolicy::Strict);
        assert!(check(&k, "web9", 2200, KEY_A).is_ok());
        assert!(
            check(&k, "web9", 2200, KEY_B)
                .unwrap_err()
                .contains("CHANGED")
        );
        assert!(
            check(&k, "web9", 22, KEY_A)
                .unwrap_err()
                .contains("not known")
        );
        // The format ssh-keygen -H writes: 20-byte salt, 20-byte SHA-1 HMAC.
        let name = hashed_name("web9", &[7u8; 20]);
        assert_eq!(name.len(), "|1|".len() + 28 + 1 + 28);
    }

    #[test]
    fn revoked_keys_are_refused_even_when_also_listed() {
        let k = known(
            &format!("web1 ssh-ed25519 {KEY_A}\n@revoked * ssh-ed25519 {KEY_A}\n"),
            HostKeyPolicy::Strict,
        );
        assert!(
            check(&k, "web1", 22, KEY_A)
                .unwrap_err()
                .contains("@revoked")
        );
    }

    #[test]
    fn several_keys_for_one_host_match_on_any() {
        let k = known(
            &format!("web1 ssh-ed25519 {KEY_A}\nweb1 ssh-ed25519 {KEY_B}\n"),
            HostKeyPolicy::Strict,
        );
        assert!(check(&k, "web1", 22, KEY_B).is_ok());
    }

    #[test]
    fn off_accepts_anything() {
        let k = known("", HostKeyPolicy::Off);
        assert!(check(&k, "anything", 22, KEY_A).is_ok());
    }

    #[test]
    fn malformed_lines_are_skipped() {
        let k = known(
            &format!(
                "web1\n@bogus web1 ssh-ed25519 {KEY_A}\n|1|x|y ssh-ed25519 {KEY_A}\nweb2 ssh-ed25519 notbase64\nweb3 ssh-ed25519 {KEY_A}\n"
            ),
            HostKeyPolicy::Strict,
        );
        assert!(check(&k, "web3", 22, KEY_A).is_ok());
        assert!(check(&k, "web1", 22, KEY_A).is_err());
    }
}
