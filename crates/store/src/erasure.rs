//! GDPR erasure on the consumer side: every service that holds customer data consumes
//! `user.deleted` and `org.deleted` (proto `events.proto`), deletes or pseudonymises what it
//! holds, and records the erasure as completed in the same transaction, in its own
//! `erasures` table. The gateway's erasure status asks each service for that record
//! (PrivacyService), so "completed" is what the service committed, never an assumption.

use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, Row};
use ultra_proto::v1::Event;
use ultra_proto::v1::event::Payload;

use crate::{Db, StoreError};

/// The event types of the two erasures.
pub const USER_DELETED: &str = "user.deleted";
pub const ORG_DELETED: &str = "org.deleted";

/// The table every service that takes part in erasures creates in its own migrations for
/// [`record_erasure`] (portable SQL). It holds no personal data: the erasure's id, its
/// organisation and when this service finished.
pub const ERASURES_TABLE_SQL: &str = "CREATE TABLE erasures (
    erasure_id      TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL,
    completed_at_ms BIGINT NOT NULL
);";

/// The table a service that keeps records of erased users under a pseudonym (usage
/// ledgers) creates for [`record_erased_user`] and [`pseudonym_of`]: a usage event of an
/// erased user that arrives after the erasure (it was committed before, delivered after) is
/// recorded under the pseudonym, never under the erased id. The user is kept as a one-way
/// hash of their id, which names nobody: it only recognises the id when it comes again.
pub const ERASED_USERS_TABLE_SQL: &str = "CREATE TABLE erased_users (
    user_hash TEXT PRIMARY KEY,
    pseudonym TEXT NOT NULL
);";

/// What an erasure event asks of a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErasureRequest {
    pub erasure_id: String,
    /// The organisation it was requested in (for `Organization`, the one to erase).
    pub org_id: String,
    /// Replaces the erased user ids where records are kept (`"erased-" + random UUID`).
    pub pseudonym: String,
    pub subject: ErasureSubject,
}

/// Whose data goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErasureSubject {
    /// One user, in every organisation (user ids are global).
    User { user_id: String },
    /// A whole organisation.
    Organization,
}

impl ErasureRequest {
    /// The erasure an event asks for, if it is `user.deleted` or `org.deleted` with the ids
    /// it needs (an event without them is logged and skipped: it cannot be carried out).
    pub fn from_event(event: &Event) -> Option<ErasureRequest> {
        let (erasure_id, pseudonym, subject) = match &event.payload {
            Some(Payload::UserDeleted(deleted)) => (
                &deleted.erasure_id,
                &deleted.pseudonym,
                ErasureSubject::User {
                    user_id: event.user_id.clone(),
                },
            ),
            Some(Payload::OrganizationDeleted(deleted)) => (
                &deleted.erasure_id,
                &deleted.pseudonym,
                ErasureSubject::Organization,
            ),
            _ => return None,
        };
        let subject_missing =
            matches!(&subject, ErasureSubject::User { user_id } if user_id.is_empty());
        if erasure_id.is_empty()
            || pseudonym.is_empty()
            || event.org_id.is_empty()
            || subject_missing
        {
            tracing::error!(event_id = %event.id, "erasure event without its ids; skipped");
            return None;
        }
        Some(ErasureRequest {
            erasure_id: erasure_id.clone(),
            org_id: event.org_id.clone(),
            pseudonym: pseudonym.clone(),
            subject,
        })
    }
}

/// Records in the caller's transaction (the one that erased) that this service completed
/// `erasure`. Idempotent.
pub async fn record_erasure(
    connection: &mut AnyConnection,
    erasure: &ErasureRequest,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO erasures (erasure_id, org_id, completed_at_ms) VALUES ($1, $2, $3) \
         ON CONFLICT (erasure_id) DO NOTHING",
    )
    .bind(&erasure.erasure_id)
    .bind(&erasure.org_id)
    .bind(ultra_bus::now_ms())
    .execute(connection)
    .await?;
    Ok(())
}

/// When this service completed erasure `erasure_id` of `org_id`; `None` while it has not.
pub async fn erasure_completed_at(
    db: &Db,
    erasure_id: &str,
    org_id: &str,
) -> Result<Option<i64>, StoreError> {
    let row =
        sqlx::query("SELECT completed_at_ms FROM erasures WHERE erasure_id = $1 AND org_id = $2")
            .bind(erasure_id)
            .bind(org_id)
            .fetch_optional(db.pool())
            .await?;
    Ok(row
        .map(|row| row.try_get::<i64, _>("completed_at_ms"))
        .transpose()?)
}

fn user_hash(user_id: &str) -> String {
    let digest = Sha256::digest(format!("ultra-erased-user:{user_id}").as_bytes());
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The key of an erased organisation in `erased_users`: a hash in another domain than the
/// users' keys, so no user id can match it.
fn organization_hash(org_id: &str) -> String {
    let digest = Sha256::digest(format!("ultra-erased-organization:{org_id}").as_bytes());
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Remembers (in the caller's transaction) that organisation `org_id` was erased, with the
/// pseudonym its members' late events (a run that completes after `org.deleted`) go under:
/// the erasure names no members, and such events carry real user ids. Idempotent.
pub async fn record_erased_organization(
    connection: &mut AnyConnection,
    org_id: &str,
    pseudonym: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO erased_users (user_hash, pseudonym) VALUES ($1, $2) \
         ON CONFLICT (user_hash) DO NOTHING",
    )
    .bind(organization_hash(org_id))
    .bind(pseudonym)
    .execute(connection)
    .await?;
    Ok(())
}

/// The pseudonym of organisation `org_id`'s users if the organisation was erased.
pub async fn erased_organization_pseudonym(
    connection: &mut AnyConnection,
    org_id: &str,
) -> Result<Option<String>, StoreError> {
    let row = sqlx::query("SELECT pseudonym FROM erased_users WHERE user_hash = $1")
        .bind(organization_hash(org_id))
        .fetch_optional(connection)
        .await?;
    Ok(row
        .map(|row| row.try_get::<String, _>("pseudonym"))
        .transpose()?)
}

/// Remembers (in the caller's transaction) that `user_id` was erased and is `pseudonym`
/// from now on. Idempotent.
pub async fn record_erased_user(
    connection: &mut AnyConnection,
    user_id: &str,
    pseudonym: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO erased_users (user_hash, pseudonym) VALUES ($1, $2) \
         ON CONFLICT (user_hash) DO NOTHING",
    )
    .bind(user_hash(user_id))
    .bind(pseudonym)
    .execute(connection)
    .await?;
    Ok(())
}

/// The pseudonym of `user_id` if they were erased.
pub async fn pseudonym_of(
    connection: &mut AnyConnection,
    user_id: &str,
) -> Result<Option<String>, StoreError> {
    let row = sqlx::query("SELECT pseudonym FROM erased_users WHERE user_hash = $1")
        .bind(user_hash(user_id))
        .fetch_optional(connection)
        .await?;
    Ok(row
        .map(|row| row.try_get::<String, _>("pseudonym"))
        .transpose()?)
}
