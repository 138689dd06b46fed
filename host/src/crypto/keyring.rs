//! Tenant keys: each tenant's key-encryption keys (the first one wraps new
//! learner keys; the others only unwrap until `userapi keys rotate` has
//! re-wrapped everything) and its blind-index key. They live in a keyring
//! file or an environment variable, never in the database.
//!
//! ```json
//! {"format": "userapi-keyring/1",
//!  "tenants": {"learn": {"index_key": "<base64>", "keks": [{"id": "k1", "key": "<base64>"}]}}}
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::cipher::Key;
use super::CryptoError;

const FORMAT: &str = "userapi-keyring/1";

/// One key-encryption key and the id wrapped learner keys name it by.
#[derive(Debug, Clone)]
pub struct Kek {
    pub id: String,
    pub key: Key,
}

/// A tenant's keys.
#[derive(Debug, Clone)]
pub struct TenantKeys {
    /// Newest first: `keks[0]` wraps new learner keys.
    pub keks: Vec<Kek>,
    pub index: Key,
}

impl TenantKeys {
    /// Fresh keys for a new tenant.
    pub fn generate() -> TenantKeys {
        TenantKeys { keks: vec![Kek { id: new_kek_id(), key: Key::generate() }], index: Key::generate() }
    }

    /// The key-encryption key new learner keys are wrapped with.
    pub fn current(&self) -> &Kek {
        // A keyring is refused at load when a tenant has no KEK.
        &self.keks[0]
    }

    /// The key-encryption key called `id`.
    pub fn kek(&self, id: &str) -> Option<&Kek> {
        self.keks.iter().find(|k| k.id == id)
    }
}

/// A fresh, unique-enough key id: the date and random hex.
pub fn new_kek_id() -> String {
    let random: u32 = rand::random();
    format!("k{}-{random:08x}", chrono::Utc::now().format("%Y%m%d"))
}

#[derive(Serialize, Deserialize)]
struct FileKek {
    id: String,
    key: String,
}

#[derive(Serialize, Deserialize)]
struct FileTenant {
    index_key: String,
    keks: Vec<FileKek>,
}

#[derive(Serialize, Deserialize)]
struct File {
    format: String,
    tenants: BTreeMap<String, FileTenant>,
}

/// Every tenant's keys read from one keyring.
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    pub tenants: BTreeMap<String, TenantKeys>,
}

impl Keyring {
    /// Parses a keyring's JSON text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Keyring, CryptoError> {
        let bad = |why: String| CryptoError::Keyring { origin: origin.to_owned(), why };
        let file: File = serde_json::from_str(text).map_err(|e| bad(format!("not a keyring: {e}")))?;
        if file.format != FORMAT {
            return Err(bad(format!("format is {:?}, expected {FORMAT:?}", file.format)));
        }
        let mut tenants = BTreeMap::new();
        for (tenant, t) in file.tenants {
            let index = Key::from_base64(&t.index_key).map_err(|e| bad(format!("tenant {tenant} index_key: {e}")))?;
            if t.keks.is_empty() {
                return Err(bad(format!("tenant {tenant} has no key-encryption key")));
            }
            let mut keks = Vec::new();
            for k in t.keks {
                let key = Key::from_base64(&k.key).map_err(|e| bad(format!("tenant {tenant} key {}: {e}", k.id)))?;
                keks.push(Kek { id: k.id, key });
            }
            tenants.insert(tenant, TenantKeys { keks, index });
        }
        Ok(Keyring { tenants })
    }

    /// Reads a keyring file.
    pub fn read(path: &Path) -> Result<Keyring, CryptoError> {
        let text = std::fs::read_to_string(path).map_err(|e| CryptoError::Keyring {
            origin: path.display().to_string(),
            why: format!("cannot read it: {e}"),
        })?;
        Keyring::parse(&text, &path.display().to_string())
    }

    /// The keyring's JSON text.
    pub fn to_json(&self) -> String {
        let tenants = self
            .tenants
            .iter()
            .map(|(name, t)| {
                let keks = t.keks.iter().map(|k| FileKek { id: k.id.clone(), key: k.key.to_base64() }).collect();
                (name.clone(), FileTenant { index_key: t.index.to_base64(), keks })
            })
            .collect();
        let file = File { format: FORMAT.to_owned(), tenants };
        serde_json::to_string_pretty(&file).unwrap_or_default() + "\n"
    }

    /// Writes the keyring to `path` atomically, readable by its owner only.
    pub fn write(&self, path: &Path) -> Result<(), CryptoError> {
        let io = |e: std::io::Error| CryptoError::Keyring {
            origin: path.display().to_string(),
            why: format!("cannot write it: {e}"),
        };
        let tmp = temp_beside(path);
        {
            use std::io::Write;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&tmp).map_err(io)?;
            file.write_all(self.to_json().as_bytes()).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, path).map_err(io)
    }
}

fn temp_beside(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".tmp");
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_what_is_not_a_keyring() {
        let mut ring = Keyring::default();
        ring.tenants.insert("learn".into(), TenantKeys::generate());
        let again = Keyring::parse(&ring.to_json(), "test").ok().map(|r| r.to_json());
        assert_eq!(again, Some(ring.to_json()));
        assert!(Keyring::parse("{}", "test").is_err());
        assert!(Keyring::parse(
            r#"{"format":"userapi-keyring/1","tenants":{"t":{"index_key":"eA==","keks":[]}}}"#,
            "x"
        )
        .is_err());
    }
}
