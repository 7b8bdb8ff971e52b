//! Object storage on the local filesystem (the embedded default; an S3 backend can implement
//! the same three calls). Writes go to a temporary file that is fsynced and renamed into
//! place, so a crash leaves either the old object, the new one, or none — never half of one.

use std::path::{Path, PathBuf};

use tokio::io::AsyncWriteExt;

use crate::StoreError;

/// Objects under a root directory, addressed by keys like `"{org_id}/{model_id}"`.
#[derive(Debug, Clone)]
pub struct ObjectStore {
    root: PathBuf,
}

/// Temporary files live inside the root (same filesystem, so rename is atomic) under a name
/// no valid key can take (keys' segments cannot start with a dot).
const TEMP_DIR: &str = ".tmp";

impl ObjectStore {
    /// Uses (and creates) `root`.
    pub async fn open(root: impl Into<PathBuf>) -> Result<ObjectStore, StoreError> {
        let root = root.into();
        let temp = root.join(TEMP_DIR);
        tokio::fs::create_dir_all(&temp)
            .await
            .map_err(|source| io(&temp, source))?;
        Ok(ObjectStore { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Stores `bytes` under `key`, replacing any previous object, atomically.
    pub async fn put(&self, key: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let path = self.path(key)?;
        let Some(parent) = path.parent() else {
            return Err(StoreError::InvalidKey(key.to_owned()));
        };
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|source| io(parent, source))?;
        let temp = self
            .root
            .join(TEMP_DIR)
            .join(uuid::Uuid::new_v4().to_string());
        let written = async {
            let mut file = tokio::fs::File::create(&temp).await?;
            file.write_all(bytes).await?;
            file.sync_all().await?;
            drop(file);
            tokio::fs::rename(&temp, &path).await?;
            // Persist the rename itself.
            tokio::fs::File::open(parent).await?.sync_all().await
        }
        .await;
        if let Err(source) = written {
            let _ignored = tokio::fs::remove_file(&temp).await;
            return Err(io(&path, source));
        }
        Ok(())
    }

    /// The object under `key`, or `None` if there is none.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.path(key)?;
        match tokio::fs::read(&path).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(io(&path, source)),
        }
    }

    /// Deletes the object under `key`; returns whether there was one.
    pub async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        let path = self.path(key)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(true),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(source) => Err(io(&path, source)),
        }
    }

    /// Keys are `/`-separated segments of `[A-Za-z0-9_-]` and inner dots, so no key can
    /// escape the root (`..`), be absolute, or collide with the temp directory.
    fn path(&self, key: &str) -> Result<PathBuf, StoreError> {
        let valid_segment = |segment: &str| {
            !segment.is_empty()
                && segment.len() <= 128
                && !segment.starts_with('.')
                && segment
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        if key.is_empty() || !key.split('/').all(valid_segment) {
            return Err(StoreError::InvalidKey(key.to_owned()));
        }
        Ok(self.root.join(key))
    }
}

fn io(path: &Path, source: std::io::Error) -> StoreError {
    StoreError::Io {
        path: path.display().to_string(),
        source,
    }
}
