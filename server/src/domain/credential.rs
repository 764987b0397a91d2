//! Bearer credential format, generation and verification: API keys (`mk_`) and session
//! tokens (`mst_`), both `<prefix><public id>_<secret>`. A value type like the rest of
//! `domain/`, and here rather than in `auth/` because the database stores what it makes
//! (the public id and the hash) and `db::tenants::provision` makes a tenant's first key,
//! while `auth/` sits above `db/`. No I/O: `auth::Authenticator` looks keys up and
//! checks them with [`PresentedKey::matches`].

use rand::{distributions::Alphanumeric, rngs::OsRng, Rng, RngCore};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const PREFIX: &str = "mk_";
const SESSION_PREFIX: &str = "mst_";
const PUBLIC_ID_LEN: usize = 16;
const SECRET_BYTES: usize = 32;

/// The two kinds of bearer credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    ApiKey,
    SessionToken,
}

impl Kind {
    /// As the database and the audit log name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ApiKey => "api_key",
            Self::SessionToken => "session_token",
        }
    }

    fn prefix(self) -> &'static str {
        match self {
            Self::ApiKey => PREFIX,
            Self::SessionToken => SESSION_PREFIX,
        }
    }
}

/// A freshly generated key: `plaintext` is shown to its owner once and never stored.
pub struct NewApiKey {
    pub public_id: String,
    pub plaintext: String,
    pub secret_hash: [u8; 32],
}

impl NewApiKey {
    pub fn generate() -> Self {
        Self::generate_kind(Kind::ApiKey)
    }

    pub fn generate_kind(kind: Kind) -> Self {
        let public_id: String = OsRng
            .sample_iter(&Alphanumeric)
            .take(PUBLIC_ID_LEN)
            .map(|b| char::from(b).to_ascii_lowercase())
            .collect();
        Self::with_public_id(kind, public_id)
    }

    /// A new secret for an existing credential: a rotated key keeps its public id, so
    /// everything that names the key still names it.
    pub fn with_public_id(kind: Kind, public_id: String) -> Self {
        let mut secret = [0u8; SECRET_BYTES];
        OsRng.fill_bytes(&mut secret);
        let secret = hex::encode(secret);
        Self {
            plaintext: format!("{}{public_id}_{secret}", kind.prefix()),
            secret_hash: hash_secret(&secret),
            public_id,
        }
    }
}

/// The two halves of a presented key, or `None` when it is not shaped like one of ours.
pub struct PresentedKey<'a> {
    pub kind: Kind,
    pub public_id: &'a str,
    secret: &'a str,
}

impl<'a> PresentedKey<'a> {
    pub fn parse(token: &'a str) -> Option<Self> {
        let (kind, rest) = match token.strip_prefix(PREFIX) {
            Some(rest) => (Kind::ApiKey, rest),
            None => (Kind::SessionToken, token.strip_prefix(SESSION_PREFIX)?),
        };
        let (public_id, secret) = rest.split_once('_')?;
        let well_formed = public_id.len() == PUBLIC_ID_LEN
            && public_id.bytes().all(|b| b.is_ascii_alphanumeric())
            && secret.len() == SECRET_BYTES * 2
            && secret.bytes().all(|b| b.is_ascii_hexdigit());
        well_formed.then_some(Self {
            kind,
            public_id,
            secret,
        })
    }

    /// Constant-time comparison with the stored hash.
    pub fn matches(&self, stored_hash: &[u8]) -> bool {
        hash_secret(self.secret).ct_eq(stored_hash).into()
    }
}

/// The hash stored for a secret (also for QR poll secrets).
pub fn hash_secret(secret: &str) -> [u8; 32] {
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
    fn session_tokens_are_told_apart_from_keys() {
        let token = NewApiKey::generate_kind(Kind::SessionToken);
        assert!(token.plaintext.starts_with("mst_"));
        let presented = PresentedKey::parse(&token.plaintext).expect("well formed");
        assert_eq!(presented.kind, Kind::SessionToken);
        assert!(presented.matches(&token.secret_hash));
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
