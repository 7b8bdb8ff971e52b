//! Object storage through the `object_store` crate: the local filesystem by default (the
//! embedded deployment), S3-compatible stores (S3, MinIO) and Google Cloud Storage for
//! clusters, chosen by URL. Callers encrypt before they put (the files service seals each
//! object with its organisation's key), so no backend ever sees plaintext.
//!
//! On the filesystem a write goes to a staging file that is fsynced and renamed into place,
//! so a crash leaves either the old object, the new one, or none, never half of one; the
//! cloud stores' PUT is atomic by itself.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore as Backend, ObjectStoreExt, PutPayload};

use crate::StoreError;

/// Objects addressed by keys like `"{org_id}/{model_id}"`, on one backend and under one
/// prefix of it.
#[derive(Debug, Clone)]
pub struct ObjectStore {
    inner: Arc<dyn Backend>,
    /// What the store is, for logs and errors (no credentials: those come from the
    /// environment, never from the URL).
    location: String,
}

/// The schemes [`ObjectStore::from_url`] understands, for its error message.
const SCHEMES: &str = "file:///PATH, s3://BUCKET[/PREFIX] or gs://BUCKET[/PREFIX]";

impl ObjectStore {
    /// Objects in files under `root` (created if missing).
    pub async fn open(root: impl Into<PathBuf>) -> Result<ObjectStore, StoreError> {
        let root = root.into();
        tokio::fs::create_dir_all(&root)
            .await
            .map_err(|source| io(&root, source))?;
        let local = LocalFileSystem::new_with_prefix(&root)
            .map_err(|source| backend(&root.display().to_string(), source))?
            .with_fsync(true)
            // Deleting the last object of a directory removes the emptied directory too.
            .with_automatic_cleanup(true);
        Ok(ObjectStore {
            inner: Arc::new(local),
            location: format!("file://{}", root.display()),
        })
    }

    /// The store a URL names:
    ///
    /// - `file:///PATH`: files under `PATH` (as [`ObjectStore::open`]);
    /// - `s3://BUCKET/PREFIX` (also MinIO and other S3-compatible servers): region,
    ///   endpoint and credentials from the standard variables `object_store` reads
    ///   (`AWS_REGION`, `AWS_ENDPOINT`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    ///   `AWS_SESSION_TOKEN`, `AWS_ALLOW_HTTP` for a plain-HTTP MinIO, ...);
    /// - `gs://BUCKET/PREFIX`: credentials from `GOOGLE_SERVICE_ACCOUNT` (a key file's
    ///   path) or `GOOGLE_SERVICE_ACCOUNT_KEY` (its JSON), else the instance's metadata.
    ///
    /// The path of an S3 or GCS URL is a key prefix: several deployments can share a
    /// bucket. S3 and GCS need ultra-store's `cloud` feature (off by default); without it
    /// they are refused with an error that says so. Any other scheme is an error, so a
    /// mistyped URL stops the service at start rather than at the first upload.
    pub async fn from_url(url: &str) -> Result<ObjectStore, StoreError> {
        match parse_url(url)? {
            Target::Local(path) => ObjectStore::open(path).await,
            Target::Cloud {
                scheme,
                bucket_url,
                prefix,
            } => {
                let inner = cloud::build(&scheme, &bucket_url).map_err(|reason| {
                    StoreError::InvalidObjectStoreUrl {
                        url: url.to_owned(),
                        reason,
                    }
                })?;
                let inner: Arc<dyn Backend> = if prefix.as_ref().is_empty() {
                    inner
                } else {
                    Arc::new(PrefixStore::new(inner, prefix))
                };
                Ok(ObjectStore {
                    inner,
                    location: url.to_owned(),
                })
            }
        }
    }

    /// Whether [`ObjectStore::from_url`] would accept `url` (scheme, bucket, path, and the
    /// `cloud` feature for S3 and GCS), without creating or connecting to anything: for
    /// configuration that is checked before a service starts.
    pub fn check_url(url: &str) -> Result<(), StoreError> {
        match parse_url(url)? {
            Target::Cloud { scheme, .. } if !cfg!(feature = "cloud") => {
                Err(StoreError::InvalidObjectStoreUrl {
                    url: url.to_owned(),
                    reason: missing_feature(&scheme),
                })
            }
            Target::Local(_) | Target::Cloud { .. } => Ok(()),
        }
    }

    /// Where the objects are (`file:///...`, `s3://...`), for logs.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Stores `bytes` under `key`, replacing any previous object, atomically.
    pub async fn put(&self, key: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let path = object_path(key)?;
        self.inner
            .put(&path, PutPayload::from(bytes.to_vec()))
            .await
            .map_err(|source| backend(key, source))?;
        Ok(())
    }

    /// The object under `key`, or `None` if there is none.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let path = object_path(key)?;
        let result = match self.inner.get(&path).await {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(source) => return Err(backend(key, source)),
        };
        let bytes = result
            .bytes()
            .await
            .map_err(|source| backend(key, source))?;
        Ok(Some(bytes.to_vec()))
    }

    /// Deletes the object under `key`; returns whether there was one. (The cloud stores'
    /// DELETE succeeds whether or not the object exists, so existence is asked first.)
    pub async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        let path = object_path(key)?;
        match self.inner.head(&path).await {
            Ok(_meta) => {}
            Err(object_store::Error::NotFound { .. }) => return Ok(false),
            Err(source) => return Err(backend(key, source)),
        }
        match self.inner.delete(&path).await {
            // Gone in between (a concurrent delete): it was there when asked.
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(true),
            Err(source) => Err(backend(key, source)),
        }
    }

    /// The keys under `prefix` (a key prefix of whole segments, e.g. an org id: `"org-1"`
    /// lists `org-1/...`, not `org-10/...`), sorted.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let path = object_path(prefix)?;
        let mut keys: Vec<String> = self
            .inner
            .list(Some(&path))
            .map_ok(|meta| meta.location.to_string())
            .try_collect()
            .await
            .map_err(|source| backend(prefix, source))?;
        keys.sort_unstable();
        Ok(keys)
    }
}

/// What an object store URL names.
enum Target {
    Local(PathBuf),
    Cloud {
        scheme: String,
        /// `s3://BUCKET` or `gs://BUCKET`: what the builders take.
        bucket_url: String,
        /// The URL's path: where under the bucket the keys go.
        prefix: ObjectPath,
    },
}

fn parse_url(url: &str) -> Result<Target, StoreError> {
    let invalid = |reason: String| StoreError::InvalidObjectStoreUrl {
        url: url.to_owned(),
        reason,
    };
    let parsed = url::Url::parse(url).map_err(|error| invalid(error.to_string()))?;
    match parsed.scheme() {
        "file" => {
            if parsed.host_str().is_some_and(|host| !host.is_empty()) {
                return Err(invalid(
                    "a file URL names a local path: file:///PATH (three slashes)".into(),
                ));
            }
            let path = parsed
                .to_file_path()
                .map_err(|()| invalid("not a local path".into()))?;
            Ok(Target::Local(path))
        }
        scheme @ ("s3" | "gs") => {
            let Some(bucket) = parsed.host_str().filter(|bucket| !bucket.is_empty()) else {
                return Err(invalid(format!(
                    "the bucket is missing: {scheme}://BUCKET/PREFIX"
                )));
            };
            if parsed.query().is_some() || parsed.fragment().is_some() {
                return Err(invalid(
                    "no query or fragment: settings come from the environment".into(),
                ));
            }
            let prefix = ObjectPath::from_url_path(parsed.path())
                .map_err(|error| invalid(error.to_string()))?;
            Ok(Target::Cloud {
                scheme: scheme.to_owned(),
                bucket_url: format!("{scheme}://{bucket}"),
                prefix,
            })
        }
        other => Err(invalid(format!(
            "unsupported scheme {other:?}: expected {SCHEMES}"
        ))),
    }
}

/// Keys are `/`-separated segments of `[A-Za-z0-9_-]` and inner dots, so no key can escape
/// the root or prefix (`..`), be absolute, be hidden, or name a staging file of the local
/// backend (which contain `#`).
fn object_path(key: &str) -> Result<ObjectPath, StoreError> {
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
    ObjectPath::parse(key).map_err(|_| StoreError::InvalidKey(key.to_owned()))
}

/// Why an S3 or GCS URL is refused by a build without the `cloud` feature.
fn missing_feature(scheme: &str) -> String {
    format!(
        "{scheme}:// needs a build with the `cloud` feature \
         (cargo build -p ultra-cli --features cloud)"
    )
}

fn backend(key: &str, source: object_store::Error) -> StoreError {
    StoreError::Object {
        key: key.to_owned(),
        source: Box::new(source),
    }
}

fn io(path: &Path, source: std::io::Error) -> StoreError {
    StoreError::Io {
        path: path.display().to_string(),
        source,
    }
}

#[cfg(feature = "cloud")]
mod cloud {
    use std::sync::Arc;

    use object_store::ObjectStore as Backend;
    use object_store::aws::AmazonS3Builder;
    use object_store::gcp::GoogleCloudStorageBuilder;

    /// The S3 or GCS store of `bucket_url`, configured from the environment.
    pub(super) fn build(scheme: &str, bucket_url: &str) -> Result<Arc<dyn Backend>, String> {
        // reqwest is built without a bundled TLS provider: use the workspace's (ring).
        // Installing twice is harmless (the first one stays).
        let _already = rustls::crypto::ring::default_provider().install_default();
        let built: Result<Arc<dyn Backend>, object_store::Error> = match scheme {
            "s3" => AmazonS3Builder::from_env()
                .with_url(bucket_url)
                .build()
                .map(|store| Arc::new(store) as Arc<dyn Backend>),
            _ => GoogleCloudStorageBuilder::from_env()
                .with_url(bucket_url)
                .build()
                .map(|store| Arc::new(store) as Arc<dyn Backend>),
        };
        built.map_err(|error| error.to_string())
    }
}

#[cfg(not(feature = "cloud"))]
mod cloud {
    use std::sync::Arc;

    use object_store::ObjectStore as Backend;

    pub(super) fn build(scheme: &str, _bucket_url: &str) -> Result<Arc<dyn Backend>, String> {
        Err(super::missing_feature(scheme))
    }
}
