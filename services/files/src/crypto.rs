//! Encryption at rest: envelope encryption with AES-256-GCM.
//!
//! Each organisation has a random 256-bit data key, stored only wrapped by the master key
//! (so rotating the master key re-wraps a few small keys, not every object). Each object is
//! sealed with its org's data key under a fresh random 96-bit nonce stored in front of the
//! ciphertext. Associated data binds ciphertexts to where they belong: a wrapped key to its
//! org id, an object to its storage key, so a blob copied to another org or model does not
//! decrypt.

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};

/// Marks the object format, so a later format can be told apart.
const OBJECT_MAGIC: &[u8; 4] = b"ULE1";
const NONCE_BYTES: usize = 12;

/// Encryption failed, or a ciphertext is not ours / was tampered with.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CryptoError(&'static str);

/// The key that wraps data keys (from `ULTRA_MASTER_KEY`).
#[derive(Clone)]
pub struct MasterKey(Key<Aes256Gcm>);

/// An organisation's data key, unwrapped, in memory only.
pub struct DataKey(Key<Aes256Gcm>);

impl MasterKey {
    /// Parses 64 hex characters (32 bytes); the message says what is wrong.
    pub fn from_hex(hex: &str) -> Result<MasterKey, String> {
        let hex = hex.trim();
        if hex.len() != 64 {
            return Err(format!("expected 64 hex characters, got {}", hex.len()));
        }
        let mut bytes = [0u8; 32];
        for (index, byte) in bytes.iter_mut().enumerate() {
            let pair = hex.get(index * 2..index * 2 + 2).ok_or("not hex")?;
            *byte = u8::from_str_radix(pair, 16).map_err(|_| "not hex".to_owned())?;
        }
        Ok(MasterKey(Key::<Aes256Gcm>::from(bytes)))
    }

    /// A fresh data key for `org_id`: `(key, wrapped form to store)`.
    pub fn new_data_key(&self, org_id: &str) -> Result<(DataKey, Vec<u8>), CryptoError> {
        let key = Aes256Gcm::generate_key(OsRng);
        let wrapped = seal(&self.0, &key[..], org_id.as_bytes())?;
        Ok((DataKey(key), wrapped))
    }

    /// The data key of `org_id` from its stored wrapped form.
    pub fn unwrap_data_key(&self, org_id: &str, wrapped: &[u8]) -> Result<DataKey, CryptoError> {
        let bytes = open(&self.0, wrapped, org_id.as_bytes())?;
        let key: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| CryptoError("wrapped data key has the wrong length"))?;
        Ok(DataKey(Key::<Aes256Gcm>::from(key)))
    }
}

impl DataKey {
    /// Encrypts an object stored under `storage_key`: magic || nonce || ciphertext+tag.
    pub fn seal_object(&self, storage_key: &str, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let sealed = seal(&self.0, plaintext, storage_key.as_bytes())?;
        let mut object = Vec::with_capacity(OBJECT_MAGIC.len() + sealed.len());
        object.extend_from_slice(OBJECT_MAGIC);
        object.extend_from_slice(&sealed);
        Ok(object)
    }

    /// Decrypts an object read from `storage_key`.
    pub fn open_object(&self, storage_key: &str, object: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let sealed = object
            .strip_prefix(OBJECT_MAGIC.as_slice())
            .ok_or(CryptoError("object is not in a known encrypted format"))?;
        open(&self.0, sealed, storage_key.as_bytes())
    }
}

/// nonce || AES-256-GCM(plaintext, aad).
fn seal(key: &Key<Aes256Gcm>, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let cipher = Aes256Gcm::new(key);
    let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
    let ciphertext = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| CryptoError("encryption failed"))?;
    let mut sealed = Vec::with_capacity(NONCE_BYTES + ciphertext.len());
    sealed.extend_from_slice(&nonce);
    sealed.extend_from_slice(&ciphertext);
    Ok(sealed)
}

fn open(key: &Key<Aes256Gcm>, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if sealed.len() < NONCE_BYTES {
        return Err(CryptoError("ciphertext is truncated"));
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE_BYTES);
    let nonce: [u8; NONCE_BYTES] = nonce
        .try_into()
        .map_err(|_| CryptoError("ciphertext is truncated"))?;
    Aes256Gcm::new(key)
        .decrypt(
            &Nonce::from(nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .map_err(|_| CryptoError("decryption failed: wrong key or tampered data"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn master() -> MasterKey {
        MasterKey::from_hex(&"ab".repeat(32)).expect("key")
    }

    #[test]
    fn master_key_parsing() {
        assert!(MasterKey::from_hex(&"0".repeat(63)).is_err());
        assert!(MasterKey::from_hex(&"zz".repeat(32)).is_err());
        assert!(MasterKey::from_hex(&"é".repeat(32)).is_err());
    }

    #[test]
    fn objects_round_trip_and_are_bound_to_org_and_key() {
        let master = master();
        let (key, wrapped) = master.new_data_key("org-a").expect("key");
        let object = key.seal_object("org-a/m1", b"secret model").expect("seal");
        assert!(!object.windows(6).any(|window| window == b"secret"));
        let again = master.unwrap_data_key("org-a", &wrapped).expect("unwrap");
        assert_eq!(
            again.open_object("org-a/m1", &object).expect("open"),
            b"secret model"
        );
        assert!(
            again.open_object("org-b/m1", &object).is_err(),
            "moved object"
        );
        assert!(
            master.unwrap_data_key("org-b", &wrapped).is_err(),
            "key of another org"
        );
        let mut tampered = object.clone();
        if let Some(last) = tampered.last_mut() {
            *last ^= 1;
        }
        assert!(again.open_object("org-a/m1", &tampered).is_err());
        let other = MasterKey::from_hex(&"cd".repeat(32)).expect("key");
        assert!(
            other.unwrap_data_key("org-a", &wrapped).is_err(),
            "wrong master key"
        );
    }
}
