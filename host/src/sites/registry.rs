//! The live set of sites: swapped whole on reload, never half-updated.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use super::load::{load_dir, SiteLoadError};
use super::SiteSet;

/// The sites currently served, and where they come from.
#[derive(Debug)]
pub struct SiteRegistry {
    dir: PathBuf,
    current: RwLock<Arc<SiteSet>>,
}

impl SiteRegistry {
    /// Loads `dir`; fails if any file is invalid.
    pub fn load(dir: &Path) -> Result<SiteRegistry, SiteLoadError> {
        let set = load_dir(dir)?;
        Ok(SiteRegistry { dir: dir.to_path_buf(), current: RwLock::new(Arc::new(set)) })
    }

    /// The set serving now. Callers keep the `Arc` for the whole request.
    pub fn current(&self) -> Arc<SiteSet> {
        match self.current.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Swaps in a complete, already validated set.
    pub fn replace(&self, set: Arc<SiteSet>) {
        let mut guard = match self.current.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        *guard = set;
    }

    /// The directory sites are loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}
