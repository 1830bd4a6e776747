//! Authentication: which credentials to try, loaded once per run, and the chain that tries them.
//!
//! The chain follows OpenSSH's order and parallel-ssh's options: explicit keys (per-host key
//! first), the ssh-agent, default identities (`~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`),
//! password, then keyboard-interactive answering password prompts. Every step can be
//! switched off. Keys are read and decrypted once per run in `Credentials::prepare`:
//! decrypting an OpenSSH key costs a bcrypt KDF, which must not be paid per host.
//! Secrets never reach logs: [`Secret`] has a redacting `Debug`.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use russh::MethodKind;
use russh::client::{AuthResult, Handle, KeyboardInteractiveAuthResponse};
use russh::keys::agent::AgentIdentity;
use russh::keys::agent::client::AgentClient;
use russh::keys::{Certificate, PrivateKey, PrivateKeyWithHashAlg};
use tracing::debug;

use crate::error::ErrorKind;
use crate::handler::HostHandler;

/// A password or passphrase. Its `Debug` output never shows the value.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Secret(Arc<str>);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(Arc::from(value.into()))
    }

    /// The secret value. Do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Where a private key comes from.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum KeySource {
    /// An OpenSSH, PEM or PKCS#8 private key file.
    File {
        /// The file's path.
        path: PathBuf,
        /// Passphrase for an encrypted key.
        passphrase: Option<Secret>,
    },
    /// Private key text held in memory (the contents of a key file).
    Memory {
        /// The key text.
        data: Secret,
        /// Passphrase for an encrypted key.
        passphrase: Option<Secret>,
    },
}

impl KeySource {
    /// A key file without a passphrase.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        KeySource::File {
            path: path.into(),
            passphrase: None,
        }
    }

    /// In-memory key text without a passphrase.
    pub fn memory(data: impl Into<String>) -> Self {
        KeySource::Memory {
            data: Secret::new(data),
            passphrase: None,
        }
    }

    /// The same key with a passphrase for decrypting it.
    pub fn with_passphrase(self, passphrase: impl Into<String>) -> Self {
        let passphrase = Some(Secret::new(passphrase));
        match self {
            KeySource::File { path, .. } => KeySource::File { path, passphrase },
            KeySource::Memory { data, .. } => KeySource::Memory { data, passphrase },
        }
    }

    /// A name for messages: the path, or `<in-memory key>`.
    pub fn display_name(&self) -> String {
        match self {
            KeySource::File { path, .. } => format!("`{}`", path.display()),
            KeySource::Memory { .. } => "<in-memory key>".to_owned(),
        }
    }

    fn passphrase(&self) -> Option<&Secret> {
        match self {
            KeySource::File { passphrase, .. } | KeySource::Memory { passphrase, .. } => {
                passphrase.as_ref()
            }
        }
    }

    /// Reads and decrypts the key, to report a missing file, a wrong passphrase or an
    /// unreadable format once, before any host is touched (the client loads it again).
    pub fn check(&self) -> Result<(), ErrorKind> {
        self.load().map(drop)
    }

    /// Whether the key is encrypted and no passphrase was given for it (so a caller can
    /// ask for one).
    pub fn needs_passphrase(&self) -> bool {
        let text = match self {
            KeySource::File { path, .. } => std::fs::read_to_string(expand_home(path)).ok(),
            KeySource::Memory { data, .. } => Some(data.expose().to_owned()),
        };
        self.passphrase().is_none()
            && text.is_some_and(|text| {
                matches!(
                    russh::keys::decode_secret_key(&text, None),
                    Err(russh::keys::Error::KeyIsEncrypted)
                )
            })
    }

    /// Reads and decrypts the key.
    pub(crate) fn load(&self) -> Result<LoadedKey, ErrorKind> {
        let fail = |message: String| ErrorKind::Key {
            source_name: self.display_name(),
            message,
        };
        let text = match self {
            KeySource::File { path, .. } => std::fs::read_to_string(expand_home(path))
                .map_err(|err| fail(format!("cannot read it: {err}")))?,
            KeySource::Memory { data, .. } => data.expose().to_owned(),
        };
        let passphrase = self.passphrase().map(Secret::expose);
        let key = russh::keys::decode_secret_key(&text, passphrase).map_err(|err| {
            fail(match (&err, passphrase) {
                (russh::keys::Error::KeyIsEncrypted, _) => {
                    "the key is encrypted and no passphrase was given".to_owned()
                }
                (_, Some(_)) => format!("wrong passphrase, or the key is corrupt ({err})"),
                (_, None) => format!("not a private key this client can read ({err})"),
            })
        })?;
        let key = Arc::new(key);
        Ok(LoadedKey {
            name: self.display_name(),
            signer: PrivateKeyWithHashAlg::new(key.clone(), None),
            key,
        })
    }
}

impl fmt::Debug for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display_name())
    }
}

/// A decrypted private key, shared by every host that uses it.
#[derive(Clone)]
pub(crate) struct LoadedKey {
    name: String,
    key: Arc<PrivateKey>,
    /// The key as russh signs with it, cloned for every host: an Ed25519 key's signing
    /// key is derived at the first connection, not at each (the vendored russh's
    /// `PrivateKeyWithHashAlg`). RSA keys take the hash each server supports instead.
    signer: PrivateKeyWithHashAlg,
}

/// Where to reach an ssh-agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentSocket {
    /// The socket named by `SSH_AUTH_SOCK`, if set.
    FromEnv,
    /// This socket path.
    Path(PathBuf),
    /// Do not use an agent.
    Off,
}

/// Which authentication methods to try, and with what.
#[derive(Debug, Clone)]
pub struct AuthMethods {
    /// Keys tried first, in order (after a host's own key).
    pub keys: Vec<KeySource>,
    /// User certificates offered, with the key each certifies, before plain keys
    /// (parallel-ssh's `cert_file`); `<key file>-cert.pub` beside a key file is found
    /// without being listed. One that cannot be read fails every host, as a bad key does.
    pub certificate_files: Vec<PathBuf>,
    /// The agent to ask for keys.
    pub agent: AgentSocket,
    /// Whether to try `~/.ssh/id_ed25519`, `id_ecdsa` and `id_rsa` (unencrypted ones only,
    /// unless `identity_passphrase` decrypts them).
    pub default_identities: bool,
    /// Passphrase for encrypted default identities.
    pub identity_passphrase: Option<Secret>,
    /// Where default identities are looked for; `~/.ssh` when `None`.
    pub identity_dir: Option<PathBuf>,
    /// Password for the `password` method (and keyboard-interactive prompts).
    pub password: Option<Secret>,
    /// Whether to try the password method.
    pub password_auth: bool,
    /// Whether to try keyboard-interactive, answering password prompts with the password.
    pub keyboard_interactive: bool,
}

impl Default for AuthMethods {
    fn default() -> Self {
        AuthMethods {
            keys: Vec::new(),
            certificate_files: Vec::new(),
            agent: AgentSocket::FromEnv,
            default_identities: true,
            identity_passphrase: None,
            identity_dir: None,
            password: None,
            password_auth: true,
            keyboard_interactive: true,
        }
    }
}

/// Default identity files, in OpenSSH's order.
const DEFAULT_IDENTITIES: [&str; 3] = ["id_ed25519", "id_ecdsa", "id_rsa"];

/// Credentials ready for a run: keys decrypted once, agent socket resolved.
pub(crate) struct Credentials {
    explicit: Vec<LoadedKey>,
    /// Set when an explicit key failed to load: every host fails with it, without connecting.
    explicit_error: Option<ErrorKind>,
    defaults: Vec<LoadedKey>,
    agent: Option<PathBuf>,
    password: Option<Secret>,
    password_auth: bool,
    keyboard_interactive: bool,
    per_host: HashMap<KeySource, Result<LoadedKey, ErrorKind>>,
    /// ssh_config `IdentityFile`s: one that cannot be loaded is skipped, as OpenSSH does.
    config_keys: HashMap<PathBuf, Option<LoadedKey>>,
    /// User certificates: `CertificateFile`s and `<key file>-cert.pub` next to key files.
    certificates: HashMap<PathBuf, Option<Certificate>>,
    /// Certificates found next to explicit key files.
    explicit_certificates: Vec<PathBuf>,
}

/// One host's credentials on top of the run's.
pub(crate) struct HostAuth<'a> {
    /// The host's own key (host spec), tried first.
    pub key: Option<&'a KeySource>,
    /// ssh_config `IdentityFile`s for the host.
    pub identity_files: &'a [PathBuf],
    /// ssh_config `CertificateFile`s for the host.
    pub certificate_files: &'a [PathBuf],
    /// ssh_config `IdentitiesOnly`: no agent keys.
    pub identities_only: bool,
    /// The host's own password.
    pub password: Option<&'a Secret>,
    /// The agent socket for this host, if any.
    pub agent: Option<&'a Path>,
}

impl Credentials {
    /// Loads every key the run may need, each once.
    pub(crate) fn prepare<'a>(
        methods: &'a AuthMethods,
        host_keys: impl IntoIterator<Item = &'a KeySource> + Clone,
        identity_files: impl IntoIterator<Item = &'a PathBuf> + Clone,
        certificate_files: impl IntoIterator<Item = &'a PathBuf>,
    ) -> Credentials {
        let mut explicit = Vec::new();
        let mut explicit_error = None;
        for source in &methods.keys {
            match source.load() {
                Ok(key) => explicit.push(key),
                Err(err) => {
                    explicit_error.get_or_insert(err);
                }
            }
        }
        let defaults = if methods.default_identities {
            load_default_identities(
                methods.identity_dir.as_deref(),
                methods.identity_passphrase.as_ref(),
            )
        } else {
            Vec::new()
        };
        let agent = match &methods.agent {
            AgentSocket::FromEnv => std::env::var_os("SSH_AUTH_SOCK").map(PathBuf::from),
            AgentSocket::Path(path) => Some(path.clone()),
            AgentSocket::Off => None,
        };
        let mut per_host = HashMap::new();
        for source in host_keys.clone() {
            if !per_host.contains_key(source) {
                per_host.insert(source.clone(), source.load());
            }
        }
        // Certificates: named ones, and `<key>-cert.pub` beside any key file, as OpenSSH does.
        let key_files = methods
            .keys
            .iter()
            .chain(host_keys.clone())
            .filter_map(|source| match source {
                KeySource::File { path, .. } => Some(expand_home(path)),
                KeySource::Memory { .. } => None,
            })
            .chain(identity_files.clone().into_iter().cloned());
        let beside: Vec<PathBuf> = key_files
            .map(|path| cert_beside(&path))
            .filter(|p| p.exists())
            .collect();
        let mut explicit_certificates: Vec<PathBuf> = methods
            .keys
            .iter()
            .filter_map(|source| match source {
                KeySource::File { path, .. } => Some(cert_beside(&expand_home(path))),
                KeySource::Memory { .. } => None,
            })
            .filter(|p| p.exists())
            .collect();
        let mut certificates = HashMap::new();
        for path in methods
            .certificate_files
            .iter()
            .map(|path| expand_home(path))
        {
            match russh::keys::load_openssh_certificate(&path) {
                Ok(certificate) => {
                    certificates.insert(path.clone(), Some(certificate));
                    explicit_certificates.push(path);
                }
                Err(err) => {
                    explicit_error.get_or_insert(ErrorKind::Key {
                        source_name: path.display().to_string(),
                        message: format!("not an OpenSSH certificate this client can read ({err})"),
                    });
                }
            }
        }
        for path in certificate_files.into_iter().cloned().chain(beside) {
            certificates.entry(path.clone()).or_insert_with(|| {
                russh::keys::load_openssh_certificate(&path)
                    .map_err(|err| debug!("certificate {} skipped: {err}", path.display()))
                    .ok()
            });
        }
        let mut config_keys = HashMap::new();
        for path in identity_files {
            if !config_keys.contains_key(path) {
                let mut source = KeySource::file(path);
                if let Some(passphrase) = &methods.identity_passphrase {
                    source = source.with_passphrase(passphrase.expose());
                }
                let loaded = source
                    .load()
                    .map_err(|err| debug!("ssh_config IdentityFile skipped: {err}"))
                    .ok();
                config_keys.insert(path.clone(), loaded);
            }
        }
        Credentials {
            certificates,
            explicit_certificates,
            config_keys,
            explicit,
            explicit_error,
            defaults,
            agent,
            password: methods.password.clone(),
            password_auth: methods.password_auth,
            keyboard_interactive: methods.keyboard_interactive,
            per_host,
        }
    }

    /// The error that fails a host before it connects: an explicit key that cannot be loaded.
    pub(crate) fn preflight(&self, host_key: Option<&KeySource>) -> Result<(), ErrorKind> {
        if let Some(err) = &self.explicit_error {
            return Err(err.clone());
        }
        match host_key.and_then(|source| self.per_host.get(source)) {
            Some(Err(err)) => Err(err.clone()),
            _ => Ok(()),
        }
    }

    /// The run's agent socket (`SSH_AUTH_SOCK` or the configured path), if any.
    pub(crate) fn agent_socket(&self) -> Option<&Path> {
        self.agent.as_deref()
    }

    /// Runs the auth chain on a connected session: keys given for the host or the run,
    /// then the agent, then default identities, then password, then keyboard-interactive.
    pub(crate) async fn authenticate(
        &self,
        session: &mut Handle<HostHandler>,
        user: &str,
        host: &HostAuth<'_>,
    ) -> Result<(), ErrorKind> {
        let mut attempt = Attempt::default();
        let host_loaded = host
            .key
            .and_then(|source| self.per_host.get(source)?.as_ref().ok());
        let from_config = host
            .identity_files
            .iter()
            .filter_map(|path| self.config_keys.get(path)?.as_ref());
        let given: Vec<&LoadedKey> = host_loaded
            .into_iter()
            .chain(&self.explicit)
            .chain(from_config)
            .collect();
        let beside_host_key = host.key.and_then(|key| match key {
            KeySource::File { path, .. } => Some(cert_beside(&expand_home(path))),
            KeySource::Memory { .. } => None,
        });
        let beside_identities: Vec<PathBuf> =
            host.identity_files.iter().map(|p| cert_beside(p)).collect();
        let certificates: Vec<&Certificate> = host
            .certificate_files
            .iter()
            .chain(&beside_identities)
            .chain(&self.explicit_certificates)
            .chain(beside_host_key.as_ref())
            .filter_map(|path| self.certificates.get(path)?.as_ref())
            .collect();
        if attempt
            .certificates(session, user, &given, &certificates)
            .await?
        {
            return Ok(());
        }
        if attempt.keys(session, user, &given).await? {
            return Ok(());
        }

        if let Some(socket) = host.agent.filter(|_| !host.identities_only)
            && attempt.allows(MethodKind::PublicKey)
        {
            match try_agent(session, user, socket, &mut attempt.offered).await? {
                AgentOutcome::Accepted => return Ok(()),
                AgentOutcome::Tried(n) => attempt.tried.push(format!("agent ({n} keys)")),
                AgentOutcome::Unavailable(why) => debug!("ssh-agent not used: {why}"),
            }
        }

        // As in OpenSSH, default identities are tried only when no IdentityFile is set.
        if host.identity_files.is_empty() {
            let defaults: Vec<&LoadedKey> = self.defaults.iter().collect();
            if attempt.keys(session, user, &defaults).await? {
                return Ok(());
            }
        }

        if let Some(password) = host.password.or(self.password.as_ref()) {
            if self.password_auth && attempt.allows(MethodKind::Password) {
                attempt.tried.push("password".to_owned());
                let result = session
                    .authenticate_password(user, password.expose())
                    .await
                    .map_err(lost)?;
                if record(result, &mut attempt.offered) {
                    return Ok(());
                }
            }
            if self.keyboard_interactive && attempt.allows(MethodKind::KeyboardInteractive) {
                attempt.tried.push("keyboard-interactive".to_owned());
                if keyboard_interactive(session, user, password, &mut attempt.offered).await? {
                    return Ok(());
                }
            }
        }
        Err(attempt.failure(user))
    }
}

/// What an authentication chain tried, and what the server still offers.
#[derive(Default)]
struct Attempt {
    tried: Vec<String>,
    offered: Option<russh::MethodSet>,
}

impl Attempt {
    fn allows(&self, kind: MethodKind) -> bool {
        self.offered.as_ref().is_none_or(|set| set.contains(&kind))
    }

    /// Tries each key that has a certificate, with that certificate; returns whether one
    /// was accepted.
    async fn certificates(
        &mut self,
        session: &mut Handle<HostHandler>,
        user: &str,
        keys: &[&LoadedKey],
        certificates: &[&Certificate],
    ) -> Result<bool, ErrorKind> {
        let mut count = 0;
        for key in keys {
            for cert in certificates
                .iter()
                .filter(|c| c.public_key() == key.key.public_key().key_data())
            {
                if !self.allows(MethodKind::PublicKey) {
                    return Ok(false);
                }
                count += 1;
                debug!(key = %key.name, cert = cert.key_id(), "trying certificate");
                let result = session
                    .authenticate_openssh_cert(user, key.key.clone(), (*cert).clone())
                    .await
                    .map_err(lost)?;
                if record(result, &mut self.offered) {
                    return Ok(true);
                }
            }
        }
        if count > 0 {
            self.tried.push(format!("certificate ({count})"));
        }
        Ok(false)
    }

    /// Tries each key in turn; returns whether one was accepted.
    async fn keys(
        &mut self,
        session: &mut Handle<HostHandler>,
        user: &str,
        keys: &[&LoadedKey],
    ) -> Result<bool, ErrorKind> {
        let mut count = 0;
        for key in keys {
            if !self.allows(MethodKind::PublicKey) {
                break;
            }
            count += 1;
            debug!(key = %key.name, "trying public key");
            let attempt = match rsa_hash(session, &key.key).await? {
                Some(hash) => PrivateKeyWithHashAlg::new(key.key.clone(), Some(hash)),
                None => key.signer.clone(),
            };
            let result = session
                .authenticate_publickey(user, attempt)
                .await
                .map_err(lost)?;
            if record(result, &mut self.offered) {
                return Ok(true);
            }
        }
        if count > 0 {
            self.tried.push(format!(
                "publickey ({count} key{})",
                if count == 1 { "" } else { "s" }
            ));
        }
        Ok(false)
    }

    fn failure(self, user: &str) -> ErrorKind {
        let tried = if self.tried.is_empty() {
            "no credentials to try (no key, agent, identity or password)".to_owned()
        } else {
            format!("tried {}", self.tried.join(", "))
        };
        let offers = match &self.offered {
            Some(set) => {
                let names: Vec<&str> = set.iter().map(<&str>::from).collect();
                format!("; server accepts: {}", names.join(", "))
            }
            None => String::new(),
        };
        ErrorKind::Auth {
            user: user.to_owned(),
            message: format!("{tried}{offers}"),
        }
    }
}

/// Records a failed attempt's remaining methods; returns whether auth succeeded.
fn record(result: AuthResult, offered: &mut Option<russh::MethodSet>) -> bool {
    match result {
        AuthResult::Success => true,
        AuthResult::Failure {
            remaining_methods, ..
        } => {
            *offered = Some(remaining_methods);
            false
        }
    }
}

fn lost(err: russh::Error) -> ErrorKind {
    ErrorKind::ConnectionLost {
        message: format!("during authentication: {err}"),
    }
}

/// RSA keys sign with rsa-sha2-512/256 when the server says it supports them; asking costs
/// a round trip (EXT_INFO), so only RSA keys ask.
async fn rsa_hash(
    session: &Handle<HostHandler>,
    key: &PrivateKey,
) -> Result<Option<russh::keys::HashAlg>, ErrorKind> {
    if !matches!(key.algorithm(), russh::keys::Algorithm::Rsa { .. }) {
        return Ok(None);
    }
    let best = session.best_supported_rsa_hash().await.map_err(lost)?;
    Ok(best.flatten().or(Some(russh::keys::HashAlg::Sha256)))
}

enum AgentOutcome {
    Accepted,
    Tried(usize),
    Unavailable(String),
}

async fn try_agent(
    session: &mut Handle<HostHandler>,
    user: &str,
    socket: &Path,
    offered: &mut Option<russh::MethodSet>,
) -> Result<AgentOutcome, ErrorKind> {
    let mut agent = match AgentClient::connect_uds(socket).await {
        Ok(agent) => agent,
        Err(err) => return Ok(AgentOutcome::Unavailable(err.to_string())),
    };
    let identities = match agent.request_identities().await {
        Ok(ids) => ids,
        Err(err) => return Ok(AgentOutcome::Unavailable(err.to_string())),
    };
    let mut tried = 0;
    for identity in identities {
        let AgentIdentity::PublicKey { key, .. } = identity else {
            continue;
        };
        tried += 1;
        let hash = if matches!(key.algorithm(), russh::keys::Algorithm::Rsa { .. }) {
            let best = session.best_supported_rsa_hash().await.map_err(lost)?;
            best.flatten().or(Some(russh::keys::HashAlg::Sha256))
        } else {
            None
        };
        match session
            .authenticate_publickey_with(user, key, hash, &mut agent)
            .await
        {
            Ok(result) => {
                if record(result, offered) {
                    return Ok(AgentOutcome::Accepted);
                }
            }
            Err(err) => debug!("agent could not sign: {err}"),
        }
    }
    Ok(AgentOutcome::Tried(tried))
}

/// Answers keyboard-interactive rounds: prompts that ask for a password get it, others
/// (and rounds with no prompts) get empty answers. Gives up after a few rounds.
async fn keyboard_interactive(
    session: &mut Handle<HostHandler>,
    user: &str,
    password: &Secret,
    offered: &mut Option<russh::MethodSet>,
) -> Result<bool, ErrorKind> {
    const MAX_ROUNDS: usize = 8;
    let mut reply = session
        .authenticate_keyboard_interactive_start(user, None::<String>)
        .await
        .map_err(lost)?;
    for _ in 0..MAX_ROUNDS {
        match reply {
            KeyboardInteractiveAuthResponse::Success => return Ok(true),
            KeyboardInteractiveAuthResponse::Failure {
                remaining_methods, ..
            } => {
                *offered = Some(remaining_methods);
                return Ok(false);
            }
            KeyboardInteractiveAuthResponse::InfoRequest { prompts, .. } => {
                let answers = prompts
                    .iter()
                    .map(|prompt| {
                        if prompt.prompt.to_lowercase().contains("password") {
                            password.expose().to_owned()
                        } else {
                            String::new()
                        }
                    })
                    .collect();
                reply = session
                    .authenticate_keyboard_interactive_respond(answers)
                    .await
                    .map_err(lost)?;
            }
        }
    }
    Ok(false)
}

fn load_default_identities(dir: Option<&Path>, passphrase: Option<&Secret>) -> Vec<LoadedKey> {
    let dir = match (dir, std::env::var_os("HOME")) {
        (Some(dir), _) => dir.to_owned(),
        (None, Some(home)) => PathBuf::from(home).join(".ssh"),
        (None, None) => return Vec::new(),
    };
    let mut keys = Vec::new();
    for name in DEFAULT_IDENTITIES {
        let path = dir.join(name);
        if !path.exists() {
            continue;
        }
        let mut source = KeySource::file(&path);
        if let Some(passphrase) = passphrase {
            source = source.with_passphrase(passphrase.expose());
        }
        match source.load() {
            Ok(key) => keys.push(key),
            Err(err) => debug!("skipping default identity: {err}"),
        }
    }
    keys
}

/// OpenSSH's certificate name for a key file: `<path>-cert.pub`.
fn cert_beside(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push("-cert.pub");
    PathBuf::from(name)
}

/// Expands a leading `~/` to `$HOME`.
pub(crate) fn expand_home(path: &Path) -> PathBuf {
    match (path.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => path.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let source =
            KeySource::memory("-----BEGIN OPENSSH PRIVATE KEY-----").with_passphrase("hunter2");
        let shown = format!("{source:?} {:?}", Secret::new("hunter2"));
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains("BEGIN"), "{shown}");
    }

    #[test]
    fn missing_key_file_names_the_path() {
        let err = KeySource::file("/nonexistent/id_test")
            .load()
            .err()
            .unwrap();
        let text = err.to_string();
        assert!(text.contains("/nonexistent/id_test"), "{text}");
        assert!(text.contains("cannot read"), "{text}");
    }

    #[test]
    fn garbage_key_is_rejected() {
        let err = KeySource::memory("not a key").load().err().unwrap();
        assert_eq!(err.code(), "key");
    }
}
