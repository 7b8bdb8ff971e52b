//! The tables of organisation management: memberships (with invitations) and API keys.
//! Every query filters by the caller's organisation, so another org's ids are not found.
//!
//! Membership changes of one organisation are serialised by locking its `organizations`
//! row first (`UPDATE ... SET name = name`, portable between SQLite and PostgreSQL): two
//! admins demoting each other at once cannot leave the organisation without an admin.

use sqlx::Row;
use sqlx::any::AnyRow;
use ultra_auth::{PermissionSet, PlanTier, Role};
use ultra_store::{Db, Transaction};

use crate::error::{Error, Result};

/// A member of an organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRecord {
    pub user_id: String,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    /// Invited and not yet accepted (no password set).
    pub invited: bool,
    pub joined_at_ms: i64,
}

/// What inviting a new member writes.
#[derive(Debug, Clone)]
pub struct NewInvitation {
    pub org_id: String,
    pub invited_by: String,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub token_hash: String,
    pub expires_at_ms: i64,
}

/// A stored API key (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub id: String,
    pub org_id: String,
    pub created_by: String,
    pub name: String,
    pub prefix: String,
    pub scopes: PermissionSet,
    pub created_at_ms: i64,
    pub expires_at_ms: Option<i64>,
    pub last_used_at_ms: Option<i64>,
    pub revoked_at_ms: Option<i64>,
}

/// A presented key as found by its hash, with what decides its effective power now.
#[derive(Debug, Clone)]
pub struct KeyOwner {
    pub key: ApiKeyRecord,
    /// The creator's current role, `None` when they are no longer a member.
    pub creator_role: Option<Role>,
    pub plan_tier: PlanTier,
}

/// The outcome of adding a member by email.
#[derive(Debug, Clone)]
pub enum Added {
    /// A new user was created with an invitation.
    Invited(MemberRecord),
    /// An existing user with no organisation (removed earlier) became a member again.
    Rejoined(MemberRecord),
}

/// Writes to `last_used_at_ms` at most this often per key: a busy pipeline's key costs one
/// UPDATE a minute, not one per request.
pub const LAST_USED_RESOLUTION_MS: i64 = 60_000;

const MEMBER_COLUMNS: &str =
    "u.id, u.email, u.display_name, u.password_hash, m.role, m.created_at_ms";
const KEY_COLUMNS: &str = "k.id, k.org_id, k.created_by, k.name, k.prefix, k.scopes, \
     k.created_at_ms, k.expires_at_ms, k.last_used_at_ms, k.revoked_at_ms";

#[derive(Clone, Debug)]
pub struct OrgStore {
    db: Db,
}

impl OrgStore {
    pub fn new(db: Db) -> OrgStore {
        OrgStore { db }
    }

    /// The members of `org_id`, oldest first.
    pub async fn list_members(&self, org_id: &str) -> Result<Vec<MemberRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {MEMBER_COLUMNS} FROM memberships m JOIN users u ON u.id = m.user_id \
             WHERE m.org_id = $1 ORDER BY m.created_at_ms, u.id"
        ))
        .bind(org_id)
        .fetch_all(self.db.pool())
        .await?;
        rows.iter().map(member).collect()
    }

    pub async fn member(&self, org_id: &str, user_id: &str) -> Result<Option<MemberRecord>> {
        let mut connection = self.db.pool().acquire().await?;
        member_in(&mut connection, org_id, user_id).await
    }

    /// The role of `user_id` in `org_id`, if a member.
    pub async fn role(&self, org_id: &str, user_id: &str) -> Result<Option<Role>> {
        Ok(self
            .member(org_id, user_id)
            .await?
            .map(|member| member.role))
    }

    /// Adds `email` to the organisation: a new user with an invitation, or an existing user
    /// who belongs to no organisation. ALREADY_EXISTS when the email is a member here or of
    /// another organisation (a user has one organisation: login acts in it).
    pub async fn add_member(&self, invitation: NewInvitation) -> Result<Added> {
        let now = ultra_bus::now_ms();
        let mut tx = self.db.begin().await?;
        lock_org(&mut tx, &invitation.org_id).await?;
        let existing = sqlx::query("SELECT id FROM users WHERE email = $1")
            .bind(&invitation.email)
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(existing) = existing {
            let user_id: String = existing.try_get("id")?;
            let memberships = sqlx::query("SELECT org_id FROM memberships WHERE user_id = $1")
                .bind(&user_id)
                .fetch_all(&mut *tx)
                .await?;
            if let Some(first) = memberships.first() {
                let org_id: String = first.try_get("org_id")?;
                return Err(Error::AlreadyExists(if org_id == invitation.org_id {
                    "this user is already a member of the organisation".into()
                } else {
                    "a user with this email belongs to another organisation".into()
                }));
            }
            insert_membership(&mut tx, &invitation.org_id, &user_id, invitation.role, now).await?;
            let member = member_in(&mut tx, &invitation.org_id, &user_id)
                .await?
                .ok_or_else(|| Error::NotFound("member not found".into()))?;
            tx.commit().await?;
            return Ok(Added::Rejoined(member));
        }
        let user_id = uuid::Uuid::now_v7().to_string();
        sqlx::query(
            "INSERT INTO users (id, email, display_name, password_hash, created_at_ms) \
             VALUES ($1, $2, $3, '', $4)",
        )
        .bind(&user_id)
        .bind(&invitation.email)
        .bind(&invitation.display_name)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|error| unique_violation(error, "a user with this email already exists"))?;
        insert_membership(&mut tx, &invitation.org_id, &user_id, invitation.role, now).await?;
        sqlx::query(
            "INSERT INTO invitations (token_hash, org_id, user_id, invited_by, created_at_ms, \
             expires_at_ms) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&invitation.token_hash)
        .bind(&invitation.org_id)
        .bind(&user_id)
        .bind(&invitation.invited_by)
        .bind(now)
        .bind(invitation.expires_at_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit()
            .await
            .map_err(|error| unique_violation(error, "a user with this email already exists"))?;
        Ok(Added::Invited(MemberRecord {
            user_id,
            email: invitation.email,
            display_name: invitation.display_name,
            role: invitation.role,
            invited: true,
            joined_at_ms: now,
        }))
    }

    /// The user and organisation of an unused, unexpired invitation.
    pub async fn invitation(&self, token_hash: &str) -> Result<Option<(String, String)>> {
        let row = sqlx::query(
            "SELECT i.user_id, i.org_id FROM invitations i JOIN users u ON u.id = i.user_id \
             WHERE i.token_hash = $1 AND i.accepted_at_ms IS NULL AND i.expires_at_ms > $2 \
             AND u.password_hash = ''",
        )
        .bind(token_hash)
        .bind(ultra_bus::now_ms())
        .fetch_optional(self.db.pool())
        .await?;
        row.map(|row| Ok((row.try_get("user_id")?, row.try_get("org_id")?)))
            .transpose()
    }

    /// The user's email, for the password policy.
    pub async fn email(&self, user_id: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT email FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(self.db.pool())
            .await?;
        row.map(|row| Ok(row.try_get("email")?)).transpose()
    }

    /// Uses the invitation: sets the password (and display name), once. `None` when the
    /// token was used meanwhile or the invitee was removed.
    pub async fn accept_invitation(
        &self,
        token_hash: &str,
        password_hash: &str,
        display_name: Option<&str>,
    ) -> Result<Option<MemberRecord>> {
        let now = ultra_bus::now_ms();
        let mut tx = self.db.begin().await?;
        let used = sqlx::query(
            "UPDATE invitations SET accepted_at_ms = $1 \
             WHERE token_hash = $2 AND accepted_at_ms IS NULL AND expires_at_ms > $1",
        )
        .bind(now)
        .bind(token_hash)
        .execute(&mut *tx)
        .await?;
        if used.rows_affected() != 1 {
            return Ok(None);
        }
        let row = sqlx::query("SELECT user_id, org_id FROM invitations WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_one(&mut *tx)
            .await?;
        let user_id: String = row.try_get("user_id")?;
        let org_id: String = row.try_get("org_id")?;
        let updated = sqlx::query(
            "UPDATE users SET password_hash = $1, display_name = COALESCE($2, display_name) \
             WHERE id = $3 AND password_hash = ''",
        )
        .bind(password_hash)
        .bind(display_name)
        .bind(&user_id)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() != 1 {
            return Ok(None);
        }
        let member = member_in(&mut tx, &org_id, &user_id).await?;
        if member.is_none() {
            return Ok(None);
        }
        tx.commit().await?;
        Ok(member)
    }

    /// Changes a member's role. `None` for a user who is not a member of `org_id`;
    /// FAILED_PRECONDITION for demoting the last admin.
    pub async fn set_role(
        &self,
        org_id: &str,
        user_id: &str,
        role: Role,
    ) -> Result<Option<MemberRecord>> {
        let mut tx = self.db.begin().await?;
        lock_org(&mut tx, org_id).await?;
        let Some(current) = member_in(&mut tx, org_id, user_id).await? else {
            return Ok(None);
        };
        if current.role == Role::Admin && role != Role::Admin {
            ensure_another_admin(&mut tx, org_id, "demoted").await?;
        }
        sqlx::query("UPDATE memberships SET role = $1 WHERE org_id = $2 AND user_id = $3")
            .bind(role.as_str())
            .bind(org_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(MemberRecord { role, ..current }))
    }

    /// Removes a member: their membership, their sessions in this organisation and their
    /// API keys; an invitee who never accepted is deleted altogether. `false` for a user who
    /// is not a member of `org_id`; FAILED_PRECONDITION for the last admin.
    pub async fn remove(&self, org_id: &str, user_id: &str) -> Result<bool> {
        let now = ultra_bus::now_ms();
        let mut tx = self.db.begin().await?;
        lock_org(&mut tx, org_id).await?;
        let Some(current) = member_in(&mut tx, org_id, user_id).await? else {
            return Ok(false);
        };
        if current.role == Role::Admin {
            ensure_another_admin(&mut tx, org_id, "removed").await?;
        }
        sqlx::query("DELETE FROM memberships WHERE org_id = $1 AND user_id = $2")
            .bind(org_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE refresh_tokens SET revoked_at_ms = $1 \
             WHERE user_id = $2 AND org_id = $3 AND revoked_at_ms IS NULL",
        )
        .bind(now)
        .bind(user_id)
        .bind(org_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE api_keys SET revoked_at_ms = $1 \
             WHERE org_id = $2 AND created_by = $3 AND revoked_at_ms IS NULL",
        )
        .bind(now)
        .bind(org_id)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM invitations WHERE org_id = $1 AND user_id = $2")
            .bind(org_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        if current.invited {
            // Never logged in, owns nothing: the account goes with the invitation.
            sqlx::query("DELETE FROM users WHERE id = $1 AND password_hash = ''")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    pub async fn insert_api_key(&self, key: &ApiKeyRecord, key_hash: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO api_keys (id, org_id, created_by, name, prefix, key_hash, scopes, \
             created_at_ms, expires_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&key.id)
        .bind(&key.org_id)
        .bind(&key.created_by)
        .bind(&key.name)
        .bind(&key.prefix)
        .bind(key_hash)
        .bind(key.scopes.names().join(" "))
        .bind(key.created_at_ms)
        .bind(key.expires_at_ms)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// The organisation's keys, revoked ones included, newest first.
    pub async fn list_api_keys(&self, org_id: &str) -> Result<Vec<ApiKeyRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {KEY_COLUMNS} FROM api_keys k WHERE k.org_id = $1 \
             ORDER BY k.created_at_ms DESC, k.id DESC"
        ))
        .bind(org_id)
        .fetch_all(self.db.pool())
        .await?;
        rows.iter().map(api_key).collect()
    }

    /// Revokes a key of `org_id` (idempotent); `false` when it has no such key.
    pub async fn revoke_api_key(&self, org_id: &str, key_id: &str) -> Result<bool> {
        let exists = sqlx::query("SELECT id FROM api_keys WHERE id = $1 AND org_id = $2")
            .bind(key_id)
            .bind(org_id)
            .fetch_optional(self.db.pool())
            .await?;
        if exists.is_none() {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE api_keys SET revoked_at_ms = $1 \
             WHERE id = $2 AND org_id = $3 AND revoked_at_ms IS NULL",
        )
        .bind(ultra_bus::now_ms())
        .bind(key_id)
        .bind(org_id)
        .execute(self.db.pool())
        .await?;
        Ok(true)
    }

    /// The key with this hash, with its creator's current role and the org's plan.
    pub async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<KeyOwner>> {
        let row = sqlx::query(&format!(
            "SELECT {KEY_COLUMNS}, m.role, o.plan_tier FROM api_keys k \
             JOIN organizations o ON o.id = k.org_id \
             LEFT JOIN memberships m ON m.org_id = k.org_id AND m.user_id = k.created_by \
             WHERE k.key_hash = $1"
        ))
        .bind(key_hash)
        .fetch_optional(self.db.pool())
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let creator_role = row
            .try_get::<Option<String>, _>("role")?
            .map(|name| name.parse::<Role>())
            .transpose()?;
        let plan_tier = row.try_get::<String, _>("plan_tier")?.parse::<PlanTier>()?;
        Ok(Some(KeyOwner {
            key: api_key(&row)?,
            creator_role,
            plan_tier,
        }))
    }

    /// Records a use of the key, unless one was recorded within the last minute.
    pub async fn touch_api_key(&self, key_id: &str, now_ms: i64) -> Result<()> {
        sqlx::query(
            "UPDATE api_keys SET last_used_at_ms = $1 WHERE id = $2 \
             AND (last_used_at_ms IS NULL OR last_used_at_ms < $3)",
        )
        .bind(now_ms)
        .bind(key_id)
        .bind(now_ms - LAST_USED_RESOLUTION_MS)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }
}

/// Takes the organisation's row lock for the rest of the transaction.
pub(crate) async fn lock_org(tx: &mut Transaction<'_>, org_id: &str) -> Result<()> {
    sqlx::query("UPDATE organizations SET name = name WHERE id = $1")
        .bind(org_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub(crate) async fn ensure_another_admin(
    tx: &mut Transaction<'_>,
    org_id: &str,
    action: &str,
) -> Result<()> {
    let row = sqlx::query(
        "SELECT CAST(COUNT(*) AS BIGINT) AS admins FROM memberships \
         WHERE org_id = $1 AND role = $2",
    )
    .bind(org_id)
    .bind(Role::Admin.as_str())
    .fetch_one(&mut **tx)
    .await?;
    let admins: i64 = row.try_get("admins")?;
    if admins <= 1 {
        return Err(Error::FailedPrecondition(format!(
            "the last admin of an organisation cannot be {action}: make another member admin first"
        )));
    }
    Ok(())
}

async fn insert_membership(
    tx: &mut Transaction<'_>,
    org_id: &str,
    user_id: &str,
    role: Role,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO memberships (org_id, user_id, role, created_at_ms) VALUES ($1, $2, $3, $4)",
    )
    .bind(org_id)
    .bind(user_id)
    .bind(role.as_str())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn member_in(
    connection: &mut sqlx::AnyConnection,
    org_id: &str,
    user_id: &str,
) -> Result<Option<MemberRecord>> {
    let row = sqlx::query(&format!(
        "SELECT {MEMBER_COLUMNS} FROM memberships m JOIN users u ON u.id = m.user_id \
         WHERE m.org_id = $1 AND m.user_id = $2"
    ))
    .bind(org_id)
    .bind(user_id)
    .fetch_optional(connection)
    .await?;
    row.as_ref().map(member).transpose()
}

fn unique_violation(error: sqlx::Error, message: &str) -> Error {
    match &error {
        sqlx::Error::Database(database) if database.is_unique_violation() => {
            Error::AlreadyExists(message.to_owned())
        }
        _ => Error::Database(error),
    }
}

fn member(row: &AnyRow) -> Result<MemberRecord> {
    let password_hash: String = row.try_get("password_hash")?;
    Ok(MemberRecord {
        user_id: row.try_get("id")?,
        email: row.try_get("email")?,
        display_name: row.try_get("display_name")?,
        role: row.try_get::<String, _>("role")?.parse::<Role>()?,
        invited: password_hash.is_empty(),
        joined_at_ms: row.try_get("created_at_ms")?,
    })
}

fn api_key(row: &AnyRow) -> Result<ApiKeyRecord> {
    let scopes: String = row.try_get("scopes")?;
    Ok(ApiKeyRecord {
        id: row.try_get("id")?,
        org_id: row.try_get("org_id")?,
        created_by: row.try_get("created_by")?,
        name: row.try_get("name")?,
        prefix: row.try_get("prefix")?,
        scopes: PermissionSet::parse(scopes.split_whitespace())?,
        created_at_ms: row.try_get("created_at_ms")?,
        expires_at_ms: row.try_get("expires_at_ms")?,
        last_used_at_ms: row.try_get("last_used_at_ms")?,
        revoked_at_ms: row.try_get("revoked_at_ms")?,
    })
}
