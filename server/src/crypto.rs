//! Secrets the server must read back (webhook signing secrets) are kept encrypted under
//! the operator's key, `MOMENTUM_SECRET_KEY`: a copy of the database alone (a backup, a
//! replica, a leaked dump) then holds no usable secret. Credentials the server only has
//! to recognise (API keys, session tokens, QR poll secrets) are hashed instead
//! (`auth::api_key`).
//!
//! The cipher is XChaCha20-Poly1305: its 192-bit nonces can be drawn at random for every
//! value without any risk of reuse, so no counter has to be kept. A stored value is
//!
//! ```text
//! enc:v1:<key id>:<base64 of nonce (24 bytes) || ciphertext || tag (16 bytes)>
//! ```
//!
//! `v1` names this format; the key id (8 hex digits of a hash of the key, not the key)
//! names the key that sealed it, so a wrong key is reported as such rather than as
//! damaged data, and a later key rotation can tell old values from new ones. Each value
//! is bound to the row it belongs to by associated data (the caller's `context`, e.g. the
//! tenant and endpoint ids): a ciphertext copied into another row does not open.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// What every sealed value starts with.
pub const SEALED_PREFIX: &str = "enc:";
const FORMAT: &str = "v1";
const KEY_BYTES: usize = 32;
const NONCE_BYTES: usize = 24;

/// The operator's key. Its `Debug` shows the key id only, so it can sit in structs that
/// are logged.
#[derive(Clone)]
pub struct SecretKey {
    key: [u8; KEY_BYTES],
    id: String,
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretKey").field("id", &self.id).finish()
    }
}

/// Why a key could not be read. Never holds the text it was given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "MOMENTUM_SECRET_KEY must be 32 bytes written as base64 (44 characters) or hex (64 \
     characters); generate one with `openssl rand -base64 32`"
)]
pub struct BadKey;

/// Why a sealed value did not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// Sealed under another key than this one.
    #[error("sealed with key {found}, but MOMENTUM_SECRET_KEY is key {ours}")]
    WrongKey { found: String, ours: String },
    /// Not a value this server sealed, or altered, or moved from another row.
    #[error("the sealed value is damaged or belongs to another record")]
    Damaged,
}

impl SecretKey {
    pub fn from_bytes(key: [u8; KEY_BYTES]) -> Self {
        let digest = Sha256::new()
            .chain_update(b"momentum secret key id\0")
            .chain_update(key)
            .finalize();
        Self {
            key,
            id: hex::encode(&digest[..4]),
        }
    }

    /// A fresh random key.
    pub fn generate() -> Self {
        let mut key = [0u8; KEY_BYTES];
        OsRng.fill_bytes(&mut key);
        Self::from_bytes(key)
    }

    /// 32 bytes as hex (64 digits) or base64 (standard or URL-safe alphabet, padded or
    /// not); surrounding whitespace is ignored, so a key file may end in a newline.
    pub fn parse(text: &str) -> Result<Self, BadKey> {
        let text = text.trim();
        let bytes = if text.len() == 2 * KEY_BYTES && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(text).map_err(|_| BadKey)?
        } else {
            let unpadded = text.trim_end_matches('=');
            base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(unpadded)
                .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(unpadded))
                .map_err(|_| BadKey)?
        };
        let key: [u8; KEY_BYTES] = bytes.try_into().map_err(|_| BadKey)?;
        Ok(Self::from_bytes(key))
    }

    /// The key as it is written to a key file: standard base64.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.key)
    }

    /// Names the key without revealing it (8 hex digits of a hash of it).
    pub fn id(&self) -> &str {
        &self.id
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&self.key.into())
    }

    /// Encrypts `plaintext` bound to `context` (which must be given again to open it).
    pub fn seal(&self, plaintext: &str, context: &str) -> String {
        self.seal_bytes(plaintext.as_bytes(), context)
    }

    /// [`SecretKey::seal`] for any bytes (a stored HTTP answer's body), in the same form.
    pub fn seal_bytes(&self, plaintext: &[u8], context: &str) -> String {
        let mut nonce = [0u8; NONCE_BYTES];
        OsRng.fill_bytes(&mut nonce);
        let payload = Payload {
            msg: plaintext,
            aad: context.as_bytes(),
        };
        // Encryption fails only for messages of about 256 GiB; these are at most a request
        // body's size (MOMENTUM_MAX_BODY_BYTES caps what answers echo).
        let sealed = self
            .cipher()
            .encrypt(XNonce::from_slice(&nonce), payload)
            .unwrap_or_default();
        let mut out = Vec::with_capacity(NONCE_BYTES + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        format!(
            "{SEALED_PREFIX}{FORMAT}:{}:{}",
            self.id,
            STANDARD.encode(out)
        )
    }

    /// Decrypts what [`SecretKey::seal`] made with the same key and `context`.
    pub fn open(&self, stored: &str, context: &str) -> Result<String, OpenError> {
        String::from_utf8(self.open_bytes(stored, context)?).map_err(|_| OpenError::Damaged)
    }

    /// Decrypts what [`SecretKey::seal_bytes`] made with the same key and `context`.
    pub fn open_bytes(&self, stored: &str, context: &str) -> Result<Vec<u8>, OpenError> {
        let rest = stored
            .strip_prefix(SEALED_PREFIX)
            .and_then(|r| r.strip_prefix(FORMAT))
            .and_then(|r| r.strip_prefix(':'))
            .ok_or(OpenError::Damaged)?;
        let (key_id, data) = rest.split_once(':').ok_or(OpenError::Damaged)?;
        if key_id != self.id {
            return Err(OpenError::WrongKey {
                found: key_id.chars().take(16).collect(),
                ours: self.id.clone(),
            });
        }
        let data = STANDARD.decode(data).map_err(|_| OpenError::Damaged)?;
        if data.len() < NONCE_BYTES {
            return Err(OpenError::Damaged);
        }
        let (nonce, sealed) = data.split_at(NONCE_BYTES);
        let payload = Payload {
            msg: sealed,
            aad: context.as_bytes(),
        };
        self.cipher()
            .decrypt(XNonce::from_slice(nonce), payload)
            .map_err(|_| OpenError::Damaged)
    }
}

/// Whether a stored value is sealed (rather than a plaintext value from before sealing).
pub fn is_sealed(stored: &str) -> bool {
    stored.starts_with(SEALED_PREFIX)
}

/// The id of the key a sealed value names; `None` for anything else.
pub fn key_id_of(stored: &str) -> Option<&str> {
    let rest = stored.strip_prefix(SEALED_PREFIX)?.strip_prefix(FORMAT)?;
    rest.strip_prefix(':')?.split_once(':').map(|(id, _)| id)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    #[test]
    fn a_sealed_value_opens_with_its_key_and_context_only() {
        let key = SecretKey::generate();
        let sealed = key.seal(SECRET, "t1/e1");
        assert!(is_sealed(&sealed));
        assert!(!sealed.contains("whsec_"), "{sealed}");
        assert!(!sealed.contains("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
        assert_eq!(key_id_of(&sealed), Some(key.id()));
        assert_eq!(key.open(&sealed, "t1/e1").as_deref(), Ok(SECRET));
        // Moved to another row: refused.
        assert_eq!(key.open(&sealed, "t1/e2"), Err(OpenError::Damaged));
        assert_eq!(key.open(&sealed, "t2/e1"), Err(OpenError::Damaged));
    }

    #[test]
    fn another_key_cannot_open_it_and_says_so() {
        let (ours, theirs) = (SecretKey::generate(), SecretKey::generate());
        let sealed = theirs.seal(SECRET, "ctx");
        match ours.open(&sealed, "ctx") {
            Err(OpenError::WrongKey { found, ours: id }) => {
                assert_eq!(found, theirs.id());
                assert_eq!(id, ours.id());
            }
            other => panic!("{other:?}"),
        }
        // Even when the key id is forged to look like ours, the tag refuses it.
        let forged = sealed.replacen(theirs.id(), ours.id(), 1);
        assert_eq!(ours.open(&forged, "ctx"), Err(OpenError::Damaged));
    }

    #[test]
    fn bytes_seal_in_the_same_form_and_open_with_their_context_only() {
        let key = SecretKey::generate();
        let body = b"{\"secret\":\"mk_abc_def\"}\xff";
        let sealed = key.seal_bytes(body, "t/c/k");
        assert!(is_sealed(&sealed) && !sealed.contains("mk_"), "{sealed}");
        assert_eq!(key.open_bytes(&sealed, "t/c/k").as_deref(), Ok(&body[..]));
        assert_eq!(key.open_bytes(&sealed, "t/c2/k"), Err(OpenError::Damaged));
        let empty = key.seal_bytes(b"", "t/c/k");
        assert_eq!(key.open_bytes(&empty, "t/c/k"), Ok(Vec::new()));
    }

    #[test]
    fn sealing_twice_gives_different_values() {
        let key = SecretKey::generate();
        assert_ne!(key.seal(SECRET, "c"), key.seal(SECRET, "c"));
    }

    #[test]
    fn altered_or_foreign_values_are_damaged() {
        let key = SecretKey::generate();
        let sealed = key.seal(SECRET, "c");
        let mut bytes = sealed.clone().into_bytes();
        let last = bytes.len() - 3;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(bytes).unwrap();
        assert_eq!(key.open(&altered, "c"), Err(OpenError::Damaged));
        for junk in [SECRET, "", "enc:", "enc:v1:", "enc:v9:abc:def", "enc:v1:x"] {
            assert!(key.open(junk, "c").is_err(), "{junk}");
        }
    }

    #[test]
    fn keys_parse_from_base64_or_hex_and_never_echo_the_input() {
        let key = SecretKey::generate();
        let b64 = key.to_base64();
        assert_eq!(SecretKey::parse(&b64).unwrap().id(), key.id());
        assert_eq!(
            SecretKey::parse(&format!(" {b64}\n")).unwrap().id(),
            key.id()
        );
        assert_eq!(
            SecretKey::parse(&hex::encode(key.key)).unwrap().id(),
            key.id()
        );
        let url_safe = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.key);
        assert_eq!(SecretKey::parse(&url_safe).unwrap().id(), key.id());
        let hex31 = hex::encode([7u8; 31]);
        let not_hex = "zz".repeat(32);
        for bad in ["", "short", &b64[..40], &hex31, &not_hex] {
            let err = SecretKey::parse(bad).expect_err(bad);
            assert!(bad.len() < 8 || !err.to_string().contains(bad));
        }
        assert!(!format!("{key:?}").contains(&b64));
    }
}
