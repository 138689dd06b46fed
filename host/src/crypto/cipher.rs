//! The primitives: 256-bit keys, XChaCha20-Poly1305 with associated data,
//! and the keyed blind index (HMAC-SHA-256).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use super::CryptoError;
use crate::encoding::hex;

/// What every encrypted column value starts with; anything else is a value
/// written before encryption (or a redaction, which is not personal data).
pub const SEALED_PREFIX: &str = "enc1:";

/// What every blind-index value starts with.
pub const INDEX_PREFIX: &str = "bi1:";

const NONCE_LEN: usize = 24;

/// A 256-bit secret key, zeroed when dropped.
#[derive(Clone, PartialEq, Eq, zeroize::ZeroizeOnDrop)]
pub struct Key([u8; 32]);

impl Key {
    /// A fresh key from the operating system's generator.
    pub fn generate() -> Key {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Key(bytes)
    }

    /// A key from its standard base64 form.
    pub fn from_base64(text: &str) -> Result<Key, CryptoError> {
        let bytes = B64.decode(text.trim()).map_err(|_| CryptoError::BadKey("not base64".into()))?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| CryptoError::BadKey("a key must be 32 bytes (44 base64 characters)".into()))?;
        Ok(Key(bytes))
    }

    /// The key's standard base64 form (for key files only).
    pub fn to_base64(&self) -> String {
        B64.encode(self.0)
    }

    fn aead(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new((&self.0).into())
    }

    /// Encrypts `plain` bound to `ad`: base64 of nonce ‖ ciphertext ‖ tag.
    pub fn seal(&self, ad: &[u8], plain: &[u8]) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        // Encryption only fails for plaintexts beyond 256 GiB.
        let sealed = self.aead().encrypt(&XNonce::from(nonce), Payload { msg: plain, aad: ad }).unwrap_or_default();
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        B64.encode(out)
    }

    /// Decrypts what [`Key::seal`] made under the same `ad`.
    pub fn open(&self, ad: &[u8], sealed: &str) -> Result<Vec<u8>, CryptoError> {
        let bytes = B64.decode(sealed).map_err(|_| CryptoError::Corrupt)?;
        if bytes.len() < NONCE_LEN + 16 {
            return Err(CryptoError::Corrupt);
        }
        let (nonce, body) = bytes.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| CryptoError::Corrupt)?;
        self.aead().decrypt(&XNonce::from(nonce), Payload { msg: body, aad: ad }).map_err(|_| CryptoError::Corrupt)
    }

    /// HMAC-SHA-256 of `value` under this key, as [`INDEX_PREFIX`] + hex.
    pub fn blind_index(&self, value: &str) -> String {
        // HMAC takes keys of any length.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!());
        mac.update(value.as_bytes());
        format!("{INDEX_PREFIX}{}", hex(&mac.finalize().into_bytes()))
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(..)")
    }
}

/// The associated data of a column value: tenant, learner key id and column,
/// so a value copied to another row, column or tenant does not decrypt.
pub fn column_ad(tenant: &str, key_id: &str, column: &str) -> Vec<u8> {
    format!("userapi/v1\u{1f}{tenant}\u{1f}{key_id}\u{1f}{column}").into_bytes()
}

/// The associated data of a wrapped learner key.
pub fn wrap_ad(tenant: &str, key_id: &str, kek_id: &str) -> Vec<u8> {
    format!("userapi/v1/dk\u{1f}{tenant}\u{1f}{key_id}\u{1f}{kek_id}").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_only_under_the_same_key_and_associated_data() {
        let key = Key::generate();
        let sealed = key.seal(b"a", b"alice@example.com");
        assert_eq!(key.open(b"a", &sealed).ok().as_deref(), Some(&b"alice@example.com"[..]));
        assert!(key.open(b"b", &sealed).is_err());
        assert!(Key::generate().open(b"a", &sealed).is_err());
        assert_ne!(key.seal(b"a", b"x"), key.seal(b"a", b"x"), "a fresh nonce each time");
        assert!(!sealed.contains("alice"));
    }

    #[test]
    fn blind_index_depends_on_key_and_value() {
        let (k1, k2) = (Key::generate(), Key::generate());
        assert_eq!(k1.blind_index("a@b.c"), k1.blind_index("a@b.c"));
        assert_ne!(k1.blind_index("a@b.c"), k1.blind_index("a@b.d"));
        assert_ne!(k1.blind_index("a@b.c"), k2.blind_index("a@b.c"));
        assert!(k1.blind_index("x").starts_with(INDEX_PREFIX));
    }

    #[test]
    fn keys_round_trip_through_base64() {
        let key = Key::generate();
        assert_eq!(Key::from_base64(&key.to_base64()).ok(), Some(key));
        assert!(Key::from_base64("c2hvcnQ=").is_err());
    }
}
