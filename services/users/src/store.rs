//! The users service's tables. Every read of a user's data goes through their membership in
//! the caller's organisation, so another org's id is simply not found.

use sqlx::Row;
use sqlx::any::AnyRow;
use ultra_auth::{PlanTier, Role};
use ultra_store::Db;

use crate::error::{Error, Result};
use crate::events;

/// A user as seen in one organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub org_id: String,
    pub org_name: String,
    /// The organisation's plan tier.
    pub org_plan_tier: PlanTier,
    pub role: Role,
    pub created_at_ms: i64,
}

/// A user's membership in one organisation: what an access token for it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub org_id: String,
    pub role: Role,
    pub plan_tier: PlanTier,
}

/// What registration writes (validated and normalised by the caller).
#[derive(Debug, Clone)]
pub struct NewRegistration {
    pub email: String,
    pub display_name: String,
    pub password_hash: String,
    pub organization_name: String,
}

/// A stored refresh token.
#[derive(Debug, Clone)]
pub struct RefreshRecord {
    pub family_id: String,
    pub user_id: String,
    pub org_id: String,
    pub expires_at_ms: i64,
    pub revoked: bool,
}

#[derive(Clone, Debug)]
pub struct UsersStore {
    db: Db,
}

const USER_COLUMNS: &str = "u.id, u.email, u.display_name, u.created_at_ms, \
     m.org_id, m.role, o.name AS org_name, o.plan_tier";

impl UsersStore {
    pub fn new(db: Db) -> UsersStore {
        UsersStore { db }
    }

    /// The database, for the stores that share it (audit log, login throttle).
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Creates the organisation, the user (its admin) and the membership, and enqueues
    /// `user.registered`, in one transaction.
    pub async fn register(&self, registration: NewRegistration) -> Result<UserRecord> {
        let now = ultra_bus::now_ms();
        let org_id = uuid::Uuid::now_v7().to_string();
        let user_id = uuid::Uuid::now_v7().to_string();
        let mut tx = self.db.begin().await?;
        let existing = sqlx::query("SELECT id FROM users WHERE email = $1")
            .bind(&registration.email)
            .fetch_optional(&mut *tx)
            .await?;
        if existing.is_some() {
            return Err(email_taken());
        }
        sqlx::query("INSERT INTO organizations (id, name, created_at_ms) VALUES ($1, $2, $3)")
            .bind(&org_id)
            .bind(&registration.organization_name)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO users (id, email, display_name, password_hash, created_at_ms) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&user_id)
        .bind(&registration.email)
        .bind(&registration.display_name)
        .bind(&registration.password_hash)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(unique_email)?;
        sqlx::query(
            "INSERT INTO memberships (org_id, user_id, role, created_at_ms) VALUES ($1, $2, $3, $4)",
        )
        .bind(&org_id)
        .bind(&user_id)
        .bind(Role::Admin.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let event = events::user_registered(&org_id, &user_id, &registration.email, true);
        ultra_store::enqueue(&mut tx, &event).await?;
        tx.commit().await.map_err(unique_email)?;
        self.db.wake_relay();
        Ok(UserRecord {
            id: user_id,
            email: registration.email,
            display_name: registration.display_name,
            org_id,
            org_name: registration.organization_name,
            // The column's default: every organisation starts free.
            org_plan_tier: PlanTier::Free,
            role: Role::Admin,
            created_at_ms: now,
        })
    }

    /// `(user_id, password_hash)` for a normalised email.
    pub async fn credentials(&self, email: &str) -> Result<Option<(String, String)>> {
        // An invited member has no password yet (''): they cannot log in, and look to a
        // login exactly like an unknown email (same answer, same time).
        let row = sqlx::query(
            "SELECT id, password_hash FROM users WHERE email = $1 AND password_hash <> ''",
        )
        .bind(email)
        .fetch_optional(self.db.pool())
        .await?;
        row.map(|row| Ok((row.try_get("id")?, row.try_get("password_hash")?)))
            .transpose()
    }

    /// The organisation a login acts in: the user's first membership.
    pub async fn primary_membership(&self, user_id: &str) -> Result<Option<Membership>> {
        let row = sqlx::query(
            "SELECT m.org_id, m.role, o.plan_tier FROM memberships m \
             JOIN organizations o ON o.id = m.org_id WHERE m.user_id = $1 \
             ORDER BY m.created_at_ms, m.org_id LIMIT 1",
        )
        .bind(user_id)
        .fetch_optional(self.db.pool())
        .await?;
        row.map(|row| membership(&row)).transpose()
    }

    /// The user's current membership in `org_id` (role and the org's plan tier, both as
    /// they are now: a refresh picks up changes), if they are still a member.
    pub async fn membership(&self, user_id: &str, org_id: &str) -> Result<Option<Membership>> {
        let row = sqlx::query(
            "SELECT m.org_id, m.role, o.plan_tier FROM memberships m \
             JOIN organizations o ON o.id = m.org_id WHERE m.user_id = $1 AND m.org_id = $2",
        )
        .bind(user_id)
        .bind(org_id)
        .fetch_optional(self.db.pool())
        .await?;
        row.map(|row| membership(&row)).transpose()
    }

    /// Moves `org_id` to `tier`; false when there is no such organisation. Tokens carry the
    /// new tier from their next login or refresh. (No RPC calls this yet: plan changes come
    /// with billing; operators and tests use it directly.)
    pub async fn set_plan_tier(&self, org_id: &str, tier: PlanTier) -> Result<bool> {
        let updated = sqlx::query("UPDATE organizations SET plan_tier = $1 WHERE id = $2")
            .bind(tier.as_str())
            .bind(org_id)
            .execute(self.db.pool())
            .await?;
        Ok(updated.rows_affected() == 1)
    }

    /// The user `user_id` as a member of `org_id`; `None` for a user of another org.
    pub async fn user_in_org(&self, user_id: &str, org_id: &str) -> Result<Option<UserRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users u \
             JOIN memberships m ON m.user_id = u.id \
             JOIN organizations o ON o.id = m.org_id \
             WHERE u.id = $1 AND m.org_id = $2"
        ))
        .bind(user_id)
        .bind(org_id)
        .fetch_optional(self.db.pool())
        .await?;
        row.map(|row| user_record(&row)).transpose()
    }

    pub async fn insert_refresh_token(
        &self,
        token_hash: &str,
        record: &RefreshRecord,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO refresh_tokens \
             (token_hash, family_id, user_id, org_id, created_at_ms, expires_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(token_hash)
        .bind(&record.family_id)
        .bind(&record.user_id)
        .bind(&record.org_id)
        .bind(ultra_bus::now_ms())
        .bind(record.expires_at_ms)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    pub async fn refresh_token(&self, token_hash: &str) -> Result<Option<RefreshRecord>> {
        let row = sqlx::query(
            "SELECT family_id, user_id, org_id, expires_at_ms, revoked_at_ms \
             FROM refresh_tokens WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(self.db.pool())
        .await?;
        row.map(|row| {
            Ok(RefreshRecord {
                family_id: row.try_get("family_id")?,
                user_id: row.try_get("user_id")?,
                org_id: row.try_get("org_id")?,
                expires_at_ms: row.try_get("expires_at_ms")?,
                revoked: row.try_get::<Option<i64>, _>("revoked_at_ms")?.is_some(),
            })
        })
        .transpose()
    }

    /// Revokes `old_hash` and stores `new_hash` in the same family, atomically. Returns
    /// `false` if `old_hash` was revoked meanwhile (a concurrent use of the same token: reuse).
    pub async fn rotate_refresh_token(
        &self,
        old_hash: &str,
        new_hash: &str,
        next: &RefreshRecord,
    ) -> Result<bool> {
        let now = ultra_bus::now_ms();
        let mut tx = self.db.begin().await?;
        let revoked = sqlx::query(
            "UPDATE refresh_tokens SET revoked_at_ms = $1 \
             WHERE token_hash = $2 AND revoked_at_ms IS NULL",
        )
        .bind(now)
        .bind(old_hash)
        .execute(&mut *tx)
        .await?;
        if revoked.rows_affected() != 1 {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO refresh_tokens \
             (token_hash, family_id, user_id, org_id, created_at_ms, expires_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(new_hash)
        .bind(&next.family_id)
        .bind(&next.user_id)
        .bind(&next.org_id)
        .bind(now)
        .bind(next.expires_at_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Revokes every token of a login session.
    pub async fn revoke_family(&self, family_id: &str) -> Result<()> {
        sqlx::query(
            "UPDATE refresh_tokens SET revoked_at_ms = $1 \
             WHERE family_id = $2 AND revoked_at_ms IS NULL",
        )
        .bind(ultra_bus::now_ms())
        .bind(family_id)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }
}

fn email_taken() -> Error {
    Error::AlreadyExists("a user with this email already exists".into())
}

/// Two registrations of one email racing past the pre-check: the UNIQUE constraint decides.
fn unique_email(error: sqlx::Error) -> Error {
    match &error {
        sqlx::Error::Database(database) if database.is_unique_violation() => email_taken(),
        _ => Error::Database(error),
    }
}

fn parse_role(row: &AnyRow) -> Result<Role> {
    let name: String = row.try_get("role")?;
    Ok(name.parse::<Role>()?)
}

fn parse_plan_tier(row: &AnyRow) -> Result<PlanTier> {
    let name: String = row.try_get("plan_tier")?;
    Ok(name.parse::<PlanTier>()?)
}

fn membership(row: &AnyRow) -> Result<Membership> {
    Ok(Membership {
        org_id: row.try_get("org_id")?,
        role: parse_role(row)?,
        plan_tier: parse_plan_tier(row)?,
    })
}

fn user_record(row: &AnyRow) -> Result<UserRecord> {
    Ok(UserRecord {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        display_name: row.try_get("display_name")?,
        org_id: row.try_get("org_id")?,
        org_name: row.try_get("org_name")?,
        org_plan_tier: parse_plan_tier(row)?,
        role: parse_role(row)?,
        created_at_ms: row.try_get("created_at_ms")?,
    })
}
