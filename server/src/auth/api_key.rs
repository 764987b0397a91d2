//! API key format, generation and verification.

use rand::{distributions::Alphanumeric, rngs::OsRng, Rng, RngCore};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const PREFIX: &str = "mk_";
const PUBLIC_ID_LEN: usize = 16;
const SECRET_BYTES: usize = 32;

/// A freshly generated key: `plaintext` is shown to its owner once and never stored.
pub struct NewApiKey {
    pub public_id: String,
    pub plaintext: String,
    pub secret_hash: [u8; 32],
}

impl NewApiKey {
    pub fn generate() -> Self {
        let public_id: String = OsRng
            .sample_iter(&Alphanumeric)
            .take(PUBLIC_ID_LEN)
            .map(|b| char::from(b).to_ascii_lowercase())
            .collect();
        let mut secret = [0u8; SECRET_BYTES];
        OsRng.fill_bytes(&mut secret);
        let secret = hex::encode(secret);
        Self {
            plaintext: format!("{PREFIX}{public_id}_{secret}"),
            secret_hash: hash_secret(&secret),
            public_id,
        }
    }
}

/// The two halves of a presented key, or `None` when it is not shaped like one of ours.
pub struct PresentedKey<'a> {
    pub public_id: &'a str,
    secret: &'a str,
}

impl<'a> PresentedKey<'a> {
    pub fn parse(token: &'a str) -> Option<Self> {
        let rest = token.strip_prefix(PREFIX)?;
        let (public_id, secret) = rest.split_once('_')?;
        let well_formed = public_id.len() == PUBLIC_ID_LEN
            && public_id.bytes().all(|b| b.is_ascii_alphanumeric())
            && secret.len() == SECRET_BYTES * 2
            && secret.bytes().all(|b| b.is_ascii_hexdigit());
        well_formed.then_some(Self { public_id, secret })
    }

    /// Constant-time comparison with the stored hash.
    pub fn matches(&self, stored_hash: &[u8]) -> bool {
        hash_secret(self.secret).ct_eq(stored_hash).into()
    }
}

fn hash_secret(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_parses_and_matches_its_own_hash_only() {
        let key = NewApiKey::generate();
        let presented = PresentedKey::parse(&key.plaintext).expect("well formed");
        assert_eq!(presented.public_id, key.public_id);
        assert!(presented.matches(&key.secret_hash));
        let other = NewApiKey::generate();
        assert!(!presented.matches(&other.secret_hash));
    }

    #[test]
    fn malformed_keys_are_refused_before_any_lookup() {
        let key = NewApiKey::generate();
        let truncated = &key.plaintext[..key.plaintext.len() - 1];
        for bad in ["", "mk_", "sk_abc_def", truncated, "mk_0123456789abcdef_zz"] {
            assert!(PresentedKey::parse(bad).is_none(), "{bad}");
        }
    }
}
