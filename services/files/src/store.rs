//! Metadata rows, per-org data keys and the encrypted objects. Every query filters by the
//! caller's org, so another org's model id is simply not found.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sqlx::Row;
use sqlx::any::AnyRow;
use ultra_store::{Db, ObjectStore};

use crate::crypto::{DataKey, MasterKey};
use crate::error::{Error, Result};
use crate::events;
use crate::model::{StoredInput, StoredOutput};

/// One uploaded model's metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelRecord {
    pub id: String,
    pub org_id: String,
    pub user_id: String,
    pub filename: String,
    pub format: String,
    pub size_bytes: i64,
    pub sha256: String,
    pub inputs: Vec<StoredInput>,
    pub outputs: Vec<StoredOutput>,
    pub cell_count: i64,
    pub created_at_ms: i64,
}

/// Where a page of the newest-first listing resumes: after this (created_at_ms, id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub created_at_ms: i64,
    pub id: String,
}

#[derive(Clone)]
pub struct FilesStore {
    db: Db,
    objects: ObjectStore,
    master_key: MasterKey,
}

const MODEL_COLUMNS: &str = "id, org_id, user_id, filename, format, size_bytes, sha256, \
     inputs_json, outputs_json, cell_count, created_at_ms";

/// Objects of an org live under its prefix.
pub fn object_key(org_id: &str, model_id: &str) -> String {
    format!("{org_id}/{model_id}")
}

impl FilesStore {
    pub fn new(db: Db, objects: ObjectStore, master_key: MasterKey) -> FilesStore {
        FilesStore {
            db,
            objects,
            master_key,
        }
    }

    /// Encrypts and stores the original bytes, then records the metadata and enqueues
    /// `model.uploaded` in one transaction. The object is written first: a crash in between
    /// leaves an unreferenced object, never a row without its bytes.
    pub async fn insert(&self, record: &ModelRecord, plaintext: &[u8]) -> Result<()> {
        let key = object_key(&record.org_id, &record.id);
        let data_key = self.data_key(&record.org_id).await?;
        let sealed = data_key.seal_object(&key, plaintext)?;
        self.objects.put(&key, &sealed).await?;
        if let Err(error) = self.insert_row(record).await {
            if let Err(cleanup) = self.objects.delete(&key).await {
                tracing::warn!(%cleanup, %key, "could not remove object of a failed upload");
            }
            return Err(error);
        }
        self.db.wake_relay();
        Ok(())
    }

    async fn insert_row(&self, record: &ModelRecord) -> Result<()> {
        let inputs = serde_json::to_string(&record.inputs).map_err(corrupt)?;
        let outputs = serde_json::to_string(&record.outputs).map_err(corrupt)?;
        let mut tx = self.db.begin().await?;
        sqlx::query(&format!(
            "INSERT INTO models ({MODEL_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        ))
        .bind(&record.id)
        .bind(&record.org_id)
        .bind(&record.user_id)
        .bind(&record.filename)
        .bind(&record.format)
        .bind(record.size_bytes)
        .bind(&record.sha256)
        .bind(inputs)
        .bind(outputs)
        .bind(record.cell_count)
        .bind(record.created_at_ms)
        .execute(&mut *tx)
        .await?;
        let event = events::model_uploaded(
            &record.org_id,
            &record.user_id,
            &record.id,
            u64::try_from(record.size_bytes).unwrap_or(0),
        );
        ultra_store::enqueue(&mut tx, &event).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn get(&self, org_id: &str, model_id: &str) -> Result<Option<ModelRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {MODEL_COLUMNS} FROM models WHERE id = $1 AND org_id = $2"
        ))
        .bind(model_id)
        .bind(org_id)
        .fetch_optional(self.db.pool())
        .await?;
        row.map(|row| model_record(&row)).transpose()
    }

    /// Up to `limit` models of `org_id`, newest first, after `cursor`.
    pub async fn list(
        &self,
        org_id: &str,
        limit: i64,
        cursor: Option<&Cursor>,
    ) -> Result<Vec<ModelRecord>> {
        let rows = match cursor {
            None => {
                sqlx::query(&format!(
                    "SELECT {MODEL_COLUMNS} FROM models WHERE org_id = $1 \
                     ORDER BY created_at_ms DESC, id DESC LIMIT $2"
                ))
                .bind(org_id)
                .bind(limit)
                .fetch_all(self.db.pool())
                .await?
            }
            Some(cursor) => {
                sqlx::query(&format!(
                    "SELECT {MODEL_COLUMNS} FROM models WHERE org_id = $1 \
                     AND (created_at_ms < $2 OR (created_at_ms = $2 AND id < $3)) \
                     ORDER BY created_at_ms DESC, id DESC LIMIT $4"
                ))
                .bind(org_id)
                .bind(cursor.created_at_ms)
                .bind(&cursor.id)
                .bind(limit)
                .fetch_all(self.db.pool())
                .await?
            }
        };
        rows.iter().map(model_record).collect()
    }

    /// Deletes the row (enqueuing `model.deleted` in the same transaction), then the object.
    /// `None` if there is no such model in `org_id`.
    pub async fn delete(
        &self,
        org_id: &str,
        user_id: &str,
        model_id: &str,
    ) -> Result<Option<ModelRecord>> {
        let mut tx = self.db.begin().await?;
        let row = sqlx::query(&format!(
            "SELECT {MODEL_COLUMNS} FROM models WHERE id = $1 AND org_id = $2"
        ))
        .bind(model_id)
        .bind(org_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(record) = row.map(|row| model_record(&row)).transpose()? else {
            return Ok(None);
        };
        sqlx::query("DELETE FROM models WHERE id = $1 AND org_id = $2")
            .bind(model_id)
            .bind(org_id)
            .execute(&mut *tx)
            .await?;
        let size = u64::try_from(record.size_bytes).unwrap_or(0);
        let event = events::model_deleted(org_id, user_id, model_id, size);
        ultra_store::enqueue(&mut tx, &event).await?;
        tx.commit().await?;
        self.db.wake_relay();
        let key = object_key(org_id, model_id);
        if let Err(error) = self.objects.delete(&key).await {
            tracing::warn!(%error, %key, "model row deleted but its object remains");
        }
        Ok(Some(record))
    }

    /// The decrypted original bytes of a model of `org_id`.
    pub async fn original_bytes(&self, org_id: &str, model_id: &str) -> Result<Vec<u8>> {
        let key = object_key(org_id, model_id);
        let Some(sealed) = self.objects.get(&key).await? else {
            return Err(Error::Corrupt(format!("object {key} is missing")));
        };
        let data_key = self.data_key(org_id).await?;
        Ok(data_key.open_object(&key, &sealed)?)
    }

    /// The org's data key, created (and stored wrapped) on its first upload. Concurrent
    /// first uploads race on the primary key; the loser reads the winner's key.
    async fn data_key(&self, org_id: &str) -> Result<DataKey> {
        if let Some(wrapped) = self.wrapped_key(org_id).await? {
            return Ok(self.master_key.unwrap_data_key(org_id, &wrapped)?);
        }
        let (_candidate, wrapped) = self.master_key.new_data_key(org_id)?;
        sqlx::query(
            "INSERT INTO org_keys (org_id, wrapped_key, created_at_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (org_id) DO NOTHING",
        )
        .bind(org_id)
        .bind(STANDARD.encode(&wrapped))
        .bind(ultra_bus::now_ms())
        .execute(self.db.pool())
        .await?;
        let Some(stored) = self.wrapped_key(org_id).await? else {
            return Err(Error::Corrupt(format!("data key of org {org_id} vanished")));
        };
        Ok(self.master_key.unwrap_data_key(org_id, &stored)?)
    }

    async fn wrapped_key(&self, org_id: &str) -> Result<Option<Vec<u8>>> {
        let row = sqlx::query("SELECT wrapped_key FROM org_keys WHERE org_id = $1")
            .bind(org_id)
            .fetch_optional(self.db.pool())
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let encoded: String = row.try_get("wrapped_key")?;
        STANDARD.decode(encoded).map(Some).map_err(corrupt)
    }
}

fn corrupt(error: impl std::fmt::Display) -> Error {
    Error::Corrupt(error.to_string())
}

fn model_record(row: &AnyRow) -> Result<ModelRecord> {
    let inputs: String = row.try_get("inputs_json")?;
    let outputs: String = row.try_get("outputs_json")?;
    Ok(ModelRecord {
        id: row.try_get("id")?,
        org_id: row.try_get("org_id")?,
        user_id: row.try_get("user_id")?,
        filename: row.try_get("filename")?,
        format: row.try_get("format")?,
        size_bytes: row.try_get("size_bytes")?,
        sha256: row.try_get("sha256")?,
        inputs: serde_json::from_str(&inputs).map_err(corrupt)?,
        outputs: serde_json::from_str(&outputs).map_err(corrupt)?,
        cell_count: row.try_get("cell_count")?,
        created_at_ms: row.try_get("created_at_ms")?,
    })
}

/// GDPR: the export of a user's models and the erasures.
impl FilesStore {
    /// The models `user_id` uploaded in `org_id`, newest first.
    pub async fn models_of_user(&self, org_id: &str, user_id: &str) -> Result<Vec<ModelRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {MODEL_COLUMNS} FROM models WHERE org_id = $1 AND user_id = $2 \
             ORDER BY created_at_ms DESC, id DESC"
        ))
        .bind(org_id)
        .bind(user_id)
        .fetch_all(self.db.pool())
        .await?;
        rows.iter().map(model_record).collect()
    }

    /// Carries out erasure `erasure` of event `event_id` once: marked processed, erased and
    /// recorded as done in one transaction.
    ///
    /// A user's models belong to their organisation (other members run simulations on
    /// them), so they stay, with the uploader replaced by the pseudonym. An organisation's
    /// models go with their rows and its data key; the encrypted objects are deleted after
    /// the commit, and one that fails to go is unreadable all the same (its key is gone).
    pub async fn erase(&self, event_id: &str, erasure: &ultra_store::ErasureRequest) -> Result<()> {
        let mut tx = self.db.begin().await?;
        if !ultra_store::mark_processed(&mut tx, event_id).await? {
            return Ok(());
        }
        let mut objects = Vec::new();
        match &erasure.subject {
            ultra_store::ErasureSubject::User { user_id } => {
                sqlx::query("UPDATE models SET user_id = $1 WHERE user_id = $2")
                    .bind(&erasure.pseudonym)
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
            }
            ultra_store::ErasureSubject::Organization => {
                let rows = sqlx::query("SELECT id FROM models WHERE org_id = $1")
                    .bind(&erasure.org_id)
                    .fetch_all(&mut *tx)
                    .await?;
                for row in rows {
                    let model_id: String = row.try_get("id")?;
                    objects.push(object_key(&erasure.org_id, &model_id));
                }
                sqlx::query("DELETE FROM models WHERE org_id = $1")
                    .bind(&erasure.org_id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM org_keys WHERE org_id = $1")
                    .bind(&erasure.org_id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        ultra_store::record_erasure(&mut tx, erasure).await?;
        tx.commit().await?;
        for key in objects {
            if let Err(error) = self.objects.delete(&key).await {
                tracing::warn!(%error, %key, "erased model's object remains (its key is gone)");
            }
        }
        Ok(())
    }
}
