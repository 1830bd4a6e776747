//! X25519 for the `curve25519-sha256` and `mlkem768x25519-sha256` key exchanges.
//!
//! (sshfan patch.) With the `aws-lc-rs` feature (the default) the scalar multiplications
//! are aws-lc's, which are about twice as fast as curve25519-dalek's: the Montgomery
//! ladder of the shared secret was the largest single CPU cost of a client's handshake.
//! Without it, curve25519-dalek's. Both clamp the scalar as RFC 7748 says, so a secret
//! gives the same public key and shared secret either way (tested below).

/// The public key of `secret` (a random 32-byte scalar, clamped here).
pub(crate) fn public_key(secret: &[u8; 32]) -> [u8; 32] {
    imp::public_key(secret)
}

/// The shared secret of `secret` and the peer's public key, or `None` when it is all
/// zeros: the peer sent a low-order point, and the secret would not be contributory.
pub(crate) fn shared_secret(secret: &[u8; 32], peer: &[u8; 32]) -> Option<[u8; 32]> {
    imp::shared_secret(secret, peer).filter(|shared| shared != &[0u8; 32])
}

#[cfg(feature = "aws-lc-rs")]
mod imp {
    use aws_lc_rs::agreement::{PrivateKey, UnparsedPublicKey, X25519, agree};

    pub(super) fn public_key(secret: &[u8; 32]) -> [u8; 32] {
        let mut public = [0u8; 32];
        #[allow(clippy::expect_used)] // any 32 bytes are an X25519 private key
        let key = PrivateKey::from_private_key(&X25519, secret)
            .expect("32 bytes are an X25519 private key");
        #[allow(clippy::expect_used)]
        let computed = key
            .compute_public_key()
            .expect("an X25519 public key can always be computed");
        public.copy_from_slice(computed.as_ref());
        public
    }

    pub(super) fn shared_secret(secret: &[u8; 32], peer: &[u8; 32]) -> Option<[u8; 32]> {
        let key = PrivateKey::from_private_key(&X25519, secret).ok()?;
        // aws-lc refuses an all-zero result itself; the caller checks again.
        agree(&key, UnparsedPublicKey::new(&X25519, peer), (), |shared| {
            let mut out = [0u8; 32];
            if shared.len() != 32 {
                return Err(());
            }
            out.copy_from_slice(shared);
            Ok(out)
        })
        .ok()
    }
}

#[cfg(not(feature = "aws-lc-rs"))]
mod imp {
    use curve25519_dalek::montgomery::MontgomeryPoint;

    pub(super) fn public_key(secret: &[u8; 32]) -> [u8; 32] {
        MontgomeryPoint::mul_base_clamped(*secret).0
    }

    pub(super) fn shared_secret(secret: &[u8; 32], peer: &[u8; 32]) -> Option<[u8; 32]> {
        Some(MontgomeryPoint(*peer).mul_clamped(*secret).0)
    }
}

#[cfg(test)]
mod tests {
    use curve25519_dalek::montgomery::MontgomeryPoint;

    use super::*;

    /// RFC 7748, section 6.1: Alice's and Bob's keys and their shared secret.
    #[test]
    fn rfc7748_vectors() {
        let alice = hex_literal::hex!("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
        let alice_public = hex_literal::hex!("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
        let bob = hex_literal::hex!("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
        let bob_public = hex_literal::hex!("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
        let shared = hex_literal::hex!("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
        assert_eq!(public_key(&alice), alice_public);
        assert_eq!(public_key(&bob), bob_public);
        assert_eq!(shared_secret(&alice, &bob_public), Some(shared));
        assert_eq!(shared_secret(&bob, &alice_public), Some(shared));
    }

    /// Random secrets give what curve25519-dalek gives (the implementation without aws-lc).
    #[test]
    fn agrees_with_curve25519_dalek() {
        for _ in 0..32 {
            let (ours, theirs) = (rand::random::<[u8; 32]>(), rand::random::<[u8; 32]>());
            let their_public = MontgomeryPoint::mul_base_clamped(theirs).0;
            assert_eq!(public_key(&ours), MontgomeryPoint::mul_base_clamped(ours).0);
            assert_eq!(
                shared_secret(&ours, &their_public),
                Some(MontgomeryPoint(their_public).mul_clamped(ours).0)
            );
        }
    }

    #[test]
    fn low_order_points_give_no_secret() {
        let secret = rand::random::<[u8; 32]>();
        for low_order in [[0u8; 32], {
            let mut one = [0u8; 32];
            one[0] = 1;
            one
        }] {
            assert_eq!(shared_secret(&secret, &low_order), None);
        }
    }
}
