//! GDPR in the users service: erasing a user or an organisation (`ErasureService`) and the
//! export of a user's own records (`PrivacyService`).
//!
//! An erasure deletes this service's rows of the subject and enqueues `user.deleted` /
//! `org.deleted` in one transaction, together with the erasure record (no personal data:
//! its id, organisation, scope and the hash of its status token). Every other service
//! consumes the event, erases what it holds and records its own completion, which the
//! gateway reads back from each of them: the erasure's status is what the services
//! committed. The audit log (`audit_log`) is kept when one user is erased: it is the
//! organisation's security record, append-only and hash-chained, and rewriting it would
//! break the chain (GDPR art. 17(3)(b), (e)); it goes with its organisation.

use sqlx::Row;
use tonic::{Request, Response, Status};
use ultra_auth::Role;
use ultra_proto::v1::erasure_service_server::ErasureService;
use ultra_proto::v1::event::Payload;
use ultra_proto::v1::{
    Caller, EraseOrganizationRequest, EraseUserRequest, Erasure, GetErasureRequest,
    OrganizationDeleted, UserDeleted,
};
use ultra_store::{Db, ORG_DELETED, USER_DELETED};

use crate::error::{Error, Result};

pub const SCOPE_USER: &str = "user";
pub const SCOPE_ORGANIZATION: &str = "organization";

/// `ErasureService` over the users database.
pub struct ErasureGrpc {
    db: Db,
}

impl ErasureGrpc {
    pub fn new(db: Db) -> ErasureGrpc {
        ErasureGrpc { db }
    }
}

/// A new erasure's id, the pseudonym that replaces the subject's ids where records stay,
/// and its status token with the token's hash.
struct NewErasure {
    id: String,
    pseudonym: String,
    status_token: String,
    status_token_hash: String,
    requested_at_ms: i64,
}

impl NewErasure {
    fn new() -> NewErasure {
        let (status_token, status_token_hash) = ultra_auth::new_refresh_token();
        NewErasure {
            id: uuid::Uuid::now_v7().to_string(),
            pseudonym: format!("erased-{}", uuid::Uuid::new_v4()),
            status_token,
            status_token_hash,
            requested_at_ms: ultra_bus::now_ms(),
        }
    }

    async fn insert(
        &self,
        conn: &mut sqlx::AnyConnection,
        org_id: &str,
        scope: &'static str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO erasures (erasure_id, org_id, scope, status_token_hash, \
             requested_at_ms, completed_at_ms) VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(&self.id)
        .bind(org_id)
        .bind(scope)
        .bind(&self.status_token_hash)
        .bind(self.requested_at_ms)
        .execute(conn)
        .await?;
        Ok(())
    }

    fn answer(self, org_id: &str, scope: &'static str) -> Erasure {
        Erasure {
            id: self.id,
            scope: scope.to_owned(),
            org_id: org_id.to_owned(),
            requested_at_ms: self.requested_at_ms,
            status_token: self.status_token,
        }
    }
}

fn caller(caller: Option<&Caller>) -> Result<&Caller> {
    ultra_rpc::caller(caller).map_err(|status| Error::Unauthenticated(status.message().to_owned()))
}

/// The caller's role in their organisation as stored now (not as the token says).
pub(crate) async fn stored_role(
    conn: &mut sqlx::AnyConnection,
    caller: &Caller,
) -> Result<Option<Role>> {
    let row = sqlx::query("SELECT role FROM memberships WHERE user_id = $1 AND org_id = $2")
        .bind(&caller.user_id)
        .bind(&caller.org_id)
        .fetch_optional(conn)
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let name: String = row.try_get("role")?;
    Ok(Some(name.parse::<Role>()?))
}

/// FAILED_PRECONDITION if `user_id` is the last admin of an organisation with other
/// members (of any of theirs: erasing a user ends every membership): it would be left with
/// no one able to manage it. A sole member may go: the organisation is then left with no
/// members, which is what they asked for; its data stays until an operator removes it
/// (deleting the organisation itself is `DELETE /v1/org`).
async fn ensure_no_last_admin(tx: &mut ultra_store::Transaction<'_>, user_id: &str) -> Result<()> {
    let administered: Vec<String> = sqlx::query_scalar(
        "SELECT org_id FROM memberships WHERE user_id = $1 AND role = $2 ORDER BY org_id",
    )
    .bind(user_id)
    .bind(Role::Admin.as_str())
    .fetch_all(&mut **tx)
    .await?;
    for org_id in administered {
        crate::members::lock_org(tx, &org_id).await?;
        let row = sqlx::query(
            "SELECT CAST(COUNT(*) AS BIGINT) AS others FROM memberships \
             WHERE org_id = $1 AND user_id <> $2",
        )
        .bind(&org_id)
        .bind(user_id)
        .fetch_one(&mut **tx)
        .await?;
        if row.try_get::<i64, _>("others")? == 0 {
            continue;
        }
        match crate::members::ensure_another_admin(tx, &org_id, "erased").await {
            Err(Error::FailedPrecondition(_)) => {
                return Err(Error::FailedPrecondition(format!(
                    "the last admin of organisation {org_id}, which has other members, cannot \
                     be erased: make another member admin first, or delete the organisation"
                )));
            }
            other => other?,
        }
    }
    Ok(())
}

/// Deletes what this service holds of `user_id` alone (sessions, SSO identities,
/// invitations, the API keys
/// they created — which stop working with their creator's membership anyway —, their
/// memberships and profile) and puts `pseudonym` where they invited someone.
async fn delete_user_rows(
    conn: &mut sqlx::AnyConnection,
    user_id: &str,
    pseudonym: &str,
) -> Result<()> {
    for statement in [
        "DELETE FROM refresh_tokens WHERE user_id = $1",
        "DELETE FROM oidc_identities WHERE user_id = $1",
        "DELETE FROM invitations WHERE user_id = $1",
        "DELETE FROM api_keys WHERE created_by = $1",
        "DELETE FROM memberships WHERE user_id = $1",
        "DELETE FROM users WHERE id = $1",
    ] {
        sqlx::query(statement)
            .bind(user_id)
            .execute(&mut *conn)
            .await?;
    }
    sqlx::query("UPDATE invitations SET invited_by = $1 WHERE invited_by = $2")
        .bind(pseudonym)
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

impl ErasureGrpc {
    async fn erase_user(&self, request: EraseUserRequest) -> Result<Erasure> {
        let caller = caller(request.caller.as_ref())?;
        let erasure = NewErasure::new();
        let mut tx = self.db.begin().await?;
        if stored_role(&mut tx, caller).await?.is_none() {
            return Err(Error::NotFound("user not found".into()));
        }
        ensure_no_last_admin(&mut tx, &caller.user_id).await?;
        delete_user_rows(&mut tx, &caller.user_id, &erasure.pseudonym).await?;
        erasure.insert(&mut tx, &caller.org_id, SCOPE_USER).await?;
        let event = ultra_bus::new_event(
            USER_DELETED,
            &caller.org_id,
            &caller.user_id,
            Payload::UserDeleted(UserDeleted {
                erasure_id: erasure.id.clone(),
                pseudonym: erasure.pseudonym.clone(),
            }),
        );
        ultra_store::enqueue(&mut tx, &event).await?;
        tx.commit().await?;
        self.db.wake_relay();
        tracing::info!(erasure_id = %erasure.id, org_id = %caller.org_id, "user erased here; user.deleted enqueued");
        Ok(erasure.answer(&caller.org_id, SCOPE_USER))
    }

    async fn erase_organization(&self, request: EraseOrganizationRequest) -> Result<Erasure> {
        // The permission as signed by the gateway, then the role as stored now; an API key
        // never deletes its organisation, whatever its scopes (as the gateway refuses it).
        let caller = ultra_rpc::authorize(
            request.caller.as_ref(),
            ultra_rpc::Permission::OrganizationManage,
        )
        .map_err(|status| {
            if status.code() == tonic::Code::PermissionDenied {
                Error::PermissionDenied("only an admin of the organisation can delete it".into())
            } else {
                Error::Unauthenticated(status.message().to_owned())
            }
        })?;
        if ultra_rpc::current_principal().is_some_and(|principal| principal.api_key_id.is_some()) {
            return Err(Error::PermissionDenied(
                "an API key cannot delete its organisation".into(),
            ));
        }
        let org_id = caller.org_id.as_str();
        let erasure = NewErasure::new();
        let mut tx = self.db.begin().await?;
        match stored_role(&mut tx, caller).await? {
            None => return Err(Error::NotFound("organisation not found".into())),
            Some(Role::Admin) => {}
            Some(_) => {
                return Err(Error::PermissionDenied(
                    "only an admin of the organisation can delete it".into(),
                ));
            }
        }
        let members: Vec<String> =
            sqlx::query_scalar("SELECT user_id FROM memberships WHERE org_id = $1")
                .bind(org_id)
                .fetch_all(&mut *tx)
                .await?;
        for statement in [
            "DELETE FROM refresh_tokens WHERE org_id = $1",
            "DELETE FROM oidc_identities WHERE org_id = $1",
            "DELETE FROM oidc_logins WHERE org_id = $1",
            "DELETE FROM oidc_providers WHERE org_id = $1",
            "DELETE FROM invitations WHERE org_id = $1",
            "DELETE FROM api_keys WHERE org_id = $1",
            "DELETE FROM memberships WHERE org_id = $1",
            "DELETE FROM audit_log WHERE org_id = $1",
        ] {
            sqlx::query(statement)
                .bind(org_id)
                .execute(&mut *tx)
                .await?;
        }
        // Members of no other organisation have nothing left here: their profiles go too.
        for user_id in &members {
            let elsewhere = sqlx::query("SELECT 1 FROM memberships WHERE user_id = $1 LIMIT 1")
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await?;
            if elsewhere.is_none() {
                delete_user_rows(&mut tx, user_id, &erasure.pseudonym).await?;
            }
        }
        sqlx::query("DELETE FROM organizations WHERE id = $1")
            .bind(org_id)
            .execute(&mut *tx)
            .await?;
        erasure.insert(&mut tx, org_id, SCOPE_ORGANIZATION).await?;
        let event = ultra_bus::new_event(
            ORG_DELETED,
            org_id,
            &caller.user_id,
            Payload::OrganizationDeleted(OrganizationDeleted {
                erasure_id: erasure.id.clone(),
                pseudonym: erasure.pseudonym.clone(),
            }),
        );
        ultra_store::enqueue(&mut tx, &event).await?;
        tx.commit().await?;
        self.db.wake_relay();
        tracing::info!(erasure_id = %erasure.id, %org_id, "organisation erased here; org.deleted enqueued");
        Ok(erasure.answer(org_id, SCOPE_ORGANIZATION))
    }

    async fn get_erasure(&self, request: GetErasureRequest) -> Result<Erasure> {
        let not_found = || Error::NotFound("no such erasure".into());
        if ultra_rpc::validate_id("erasure_id", &request.erasure_id).is_err()
            || request.status_token.is_empty()
        {
            return Err(not_found());
        }
        // Looked up by the token's hash: a wrong token is the same answer as a wrong id.
        let row = sqlx::query(
            "SELECT org_id, scope, requested_at_ms FROM erasures \
             WHERE erasure_id = $1 AND status_token_hash = $2",
        )
        .bind(&request.erasure_id)
        .bind(ultra_auth::sha256_hex(&request.status_token))
        .fetch_optional(self.db.pool())
        .await?
        .ok_or_else(not_found)?;
        Ok(Erasure {
            id: request.erasure_id,
            scope: row.try_get("scope")?,
            org_id: row.try_get("org_id")?,
            requested_at_ms: row.try_get("requested_at_ms")?,
            status_token: String::new(),
        })
    }
}

#[tonic::async_trait]
impl ErasureService for ErasureGrpc {
    async fn erase_user(
        &self,
        request: Request<EraseUserRequest>,
    ) -> Result<Response<Erasure>, Status> {
        Ok(Response::new(
            ErasureGrpc::erase_user(self, request.into_inner()).await?,
        ))
    }

    async fn erase_organization(
        &self,
        request: Request<EraseOrganizationRequest>,
    ) -> Result<Response<Erasure>, Status> {
        Ok(Response::new(
            ErasureGrpc::erase_organization(self, request.into_inner()).await?,
        ))
    }

    async fn get_erasure(
        &self,
        request: Request<GetErasureRequest>,
    ) -> Result<Response<Erasure>, Status> {
        Ok(Response::new(
            ErasureGrpc::get_erasure(self, request.into_inner()).await?,
        ))
    }
}

/// The caller's profile, memberships and the API keys they created, for the GDPR export.
pub struct UsersExport {
    db: Db,
}

impl UsersExport {
    pub fn new(db: Db) -> UsersExport {
        UsersExport { db }
    }

    async fn export(&self, caller: &Caller) -> Result<String> {
        let pool = self.db.pool();
        let profile = sqlx::query(
            "SELECT u.id, u.email, u.display_name, u.created_at_ms FROM users u \
             JOIN memberships m ON m.user_id = u.id WHERE u.id = $1 AND m.org_id = $2",
        )
        .bind(&caller.user_id)
        .bind(&caller.org_id)
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| Error::NotFound("user not found".into()))?;
        let memberships = sqlx::query(
            "SELECT m.org_id, o.name, m.role, m.created_at_ms FROM memberships m \
             JOIN organizations o ON o.id = m.org_id WHERE m.user_id = $1 \
             ORDER BY m.created_at_ms, m.org_id",
        )
        .bind(&caller.user_id)
        .fetch_all(pool)
        .await?;
        let api_keys = sqlx::query(
            "SELECT id, name, prefix, scopes, created_at_ms, expires_at_ms, last_used_at_ms, \
             revoked_at_ms FROM api_keys WHERE org_id = $1 AND created_by = $2 \
             ORDER BY created_at_ms, id",
        )
        .bind(&caller.org_id)
        .bind(&caller.user_id)
        .fetch_all(pool)
        .await?;
        let mut membership_list = Vec::with_capacity(memberships.len());
        for row in memberships {
            membership_list.push(serde_json::json!({
                "org_id": row.try_get::<String, _>("org_id")?,
                "org_name": row.try_get::<String, _>("name")?,
                "role": row.try_get::<String, _>("role")?,
                "joined_at_ms": row.try_get::<i64, _>("created_at_ms")?,
            }));
        }
        let mut key_list = Vec::with_capacity(api_keys.len());
        for row in api_keys {
            key_list.push(serde_json::json!({
                "id": row.try_get::<String, _>("id")?,
                "name": row.try_get::<String, _>("name")?,
                "prefix": row.try_get::<String, _>("prefix")?,
                "scopes": row.try_get::<String, _>("scopes")?,
                "created_at_ms": row.try_get::<i64, _>("created_at_ms")?,
                "expires_at_ms": row.try_get::<Option<i64>, _>("expires_at_ms")?,
                "last_used_at_ms": row.try_get::<Option<i64>, _>("last_used_at_ms")?,
                "revoked_at_ms": row.try_get::<Option<i64>, _>("revoked_at_ms")?,
            }));
        }
        Ok(serde_json::json!({
            "profile": {
                "id": profile.try_get::<String, _>("id")?,
                "email": profile.try_get::<String, _>("email")?,
                "display_name": profile.try_get::<String, _>("display_name")?,
                "created_at_ms": profile.try_get::<i64, _>("created_at_ms")?,
            },
            "memberships": membership_list,
            "api_keys": key_list,
        })
        .to_string())
    }
}

#[tonic::async_trait]
impl ultra_rpc::privacy::UserDataExporter for UsersExport {
    async fn export(&self, caller: &Caller) -> Result<String, Status> {
        Ok(UsersExport::export(self, caller).await?)
    }
}
