//! Throwaway keys for fleets and test clients, and writing them in OpenSSH format.

use std::path::Path;

use russh::keys::ssh_key::LineEnding;
use russh::keys::{Algorithm, PrivateKey};

/// A fresh Ed25519 key.
pub fn ed25519() -> PrivateKey {
    // Generating from OS randomness cannot fail on Linux.
    PrivateKey::random(&mut rand::rng(), Algorithm::Ed25519).expect("ed25519 key generation")
}

/// A fresh ECDSA P-256 key.
pub fn ecdsa() -> PrivateKey {
    PrivateKey::random(
        &mut rand::rng(),
        Algorithm::Ecdsa {
            curve: russh::keys::EcdsaCurve::NistP256,
        },
    )
    .expect("ECDSA key generation")
}

/// A fresh RSA key of `bits` bits (slow: seconds in debug builds).
pub fn rsa(bits: usize) -> PrivateKey {
    let key = russh::keys::ssh_key::private::RsaKeypair::random(&mut rand::rng(), bits)
        .expect("RSA key generation");
    PrivateKey::from(key)
}

/// The key in OpenSSH private-key format, encrypted when a passphrase is given.
pub fn openssh_text(key: &PrivateKey, passphrase: Option<&str>) -> String {
    let key = match passphrase {
        Some(passphrase) => key
            .encrypt(&mut rand::rng(), passphrase)
            .expect("key encryption"),
        None => key.clone(),
    };
    key.to_openssh(LineEnding::LF)
        .expect("OpenSSH encoding")
        .to_string()
}

/// Writes the key with mode 0600 (OpenSSH refuses readable keys).
pub fn write_private_key(
    path: &Path,
    key: &PrivateKey,
    passphrase: Option<&str>,
) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, openssh_text(key, passphrase))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
}

/// The public half as an `authorized_keys` / `known_hosts` key field (`ssh-ed25519 AAAA…`).
pub fn public_line(key: &PrivateKey) -> String {
    key.public_key()
        .to_openssh()
        .expect("OpenSSH public key encoding")
}

/// A host certificate for `host_key`, signed by `ca`, for these principals (none: any host),
/// valid from `valid_after` to `valid_before` (Unix seconds).
pub fn host_certificate(
    host_key: &PrivateKey,
    ca: &PrivateKey,
    principals: &[&str],
    valid_after: u64,
    valid_before: u64,
) -> russh::keys::Certificate {
    use russh::keys::ssh_key::certificate::{Builder, CertType};
    let mut builder = Builder::new_with_random_nonce(
        &mut rand::rng(),
        host_key.public_key().key_data().clone(),
        valid_after,
        valid_before,
    )
    .expect("certificate builder");
    builder.cert_type(CertType::Host).expect("cert type");
    builder.key_id("sshfan-testkit").expect("key id");
    if principals.is_empty() {
        builder.all_principals_valid().expect("principals");
    }
    for principal in principals {
        builder.valid_principal(*principal).expect("principal");
    }
    builder.sign(ca).expect("certificate signing")
}

/// A user certificate for `key`, signed by `ca`, for these principals, valid for an hour.
pub fn user_certificate(
    key: &PrivateKey,
    ca: &PrivateKey,
    principals: &[&str],
) -> russh::keys::Certificate {
    use russh::keys::ssh_key::certificate::{Builder, CertType};
    let now = unix_now();
    let mut builder = Builder::new_with_random_nonce(
        &mut rand::rng(),
        key.public_key().key_data().clone(),
        now - 60,
        now + 3600,
    )
    .expect("certificate builder");
    builder.cert_type(CertType::User).expect("cert type");
    builder.key_id("sshfan-testkit-user").expect("key id");
    for principal in principals {
        builder.valid_principal(*principal).expect("principal");
    }
    builder.sign(ca).expect("certificate signing")
}

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
