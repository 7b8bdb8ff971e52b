//! The jobs table and the model snapshots of unfinished jobs. Every query that answers a
//! caller filters by `org_id`; the worker-side queries (claim, heartbeat, finish, recovery)
//! address a job by id and guard on its status and owner, so that a job taken over by
//! another instance is never written by the old one.
//!
//! SQL stays portable between SQLite and PostgreSQL: `$n` placeholders, TEXT ids, BIGINT
//! millisecond timestamps, `RETURNING` and `ON CONFLICT` (SQLite >= 3.35).

use std::collections::HashMap;

use sqlx::Row;
use sqlx::any::AnyRow;
use ultra_proto::v1;

use crate::error::Result;
use crate::fair_share::{self, Candidate, Usage};

/// Embedded migrations of the simulation database.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// A job's lifecycle. Final: completed, failed, cancelled. `Interrupted` is transient: the
/// job was running when its process stopped, and is queued again (or failed) by recovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Queued,
    Running,
    Completed,
    Failed,
    Cancelled,
    Interrupted,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Running => "running",
            Status::Completed => "completed",
            Status::Failed => "failed",
            Status::Cancelled => "cancelled",
            Status::Interrupted => "interrupted",
        }
    }

    pub fn parse(text: &str) -> Option<Status> {
        [
            Status::Queued,
            Status::Running,
            Status::Completed,
            Status::Failed,
            Status::Cancelled,
            Status::Interrupted,
        ]
        .into_iter()
        .find(|status| status.as_str() == text)
    }

    pub fn is_final(self) -> bool {
        matches!(self, Status::Completed | Status::Failed | Status::Cancelled)
    }

    pub fn to_proto(self) -> v1::SimulationStatus {
        match self {
            Status::Queued => v1::SimulationStatus::Queued,
            Status::Running => v1::SimulationStatus::Running,
            Status::Completed => v1::SimulationStatus::Completed,
            Status::Failed => v1::SimulationStatus::Failed,
            Status::Cancelled => v1::SimulationStatus::Cancelled,
            Status::Interrupted => v1::SimulationStatus::Interrupted,
        }
    }
}

/// One row of `simulations`.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: String,
    pub org_id: String,
    pub user_id: String,
    pub role: i32,
    pub model_id: String,
    pub iterations: u64,
    pub seed: u64,
    pub sampling: i32,
    pub engine: i32,
    pub status: Status,
    pub completed_iterations: u64,
    pub error: String,
    pub compute_units: f64,
    pub attempts: i64,
    pub cancel_requested: bool,
    pub created_at_ms: i64,
    pub started_at_ms: Option<i64>,
    pub finished_at_ms: Option<i64>,
    /// Fair-share weight from the submitter's plan tier ([`fair_share::weight`]).
    pub weight: i64,
}

const COLUMNS: &str = "id, org_id, user_id, role, model_id, iterations, seed, sampling, engine, \
     status, completed_iterations, error, compute_units, attempts, cancel_requested, \
     created_at_ms, started_at_ms, finished_at_ms, weight";

impl Job {
    fn from_row(row: &AnyRow) -> Result<Job> {
        let status: String = row.try_get("status")?;
        Ok(Job {
            id: row.try_get("id")?,
            org_id: row.try_get("org_id")?,
            user_id: row.try_get("user_id")?,
            role: row.try_get("role")?,
            model_id: row.try_get("model_id")?,
            iterations: ultra_store::from_bigint(row.try_get("iterations")?),
            seed: row.try_get::<i64, _>("seed")? as u64,
            sampling: row.try_get("sampling")?,
            engine: row.try_get("engine")?,
            status: Status::parse(&status).ok_or(crate::error::Error::CorruptStatus(status))?,
            completed_iterations: ultra_store::from_bigint(row.try_get("completed_iterations")?),
            error: row.try_get("error")?,
            compute_units: row.try_get("compute_units")?,
            attempts: row.try_get("attempts")?,
            cancel_requested: row.try_get::<i32, _>("cancel_requested")? != 0,
            created_at_ms: row.try_get("created_at_ms")?,
            started_at_ms: row.try_get("started_at_ms")?,
            finished_at_ms: row.try_get("finished_at_ms")?,
            weight: row.try_get("weight")?,
        })
    }

    pub fn caller(&self) -> v1::Caller {
        v1::Caller {
            org_id: self.org_id.clone(),
            user_id: self.user_id.clone(),
            role: self.role,
        }
    }

    pub fn to_proto(&self) -> v1::Simulation {
        v1::Simulation {
            id: self.id.clone(),
            org_id: self.org_id.clone(),
            user_id: self.user_id.clone(),
            model_id: self.model_id.clone(),
            iterations: self.iterations,
            seed: self.seed,
            sampling: self.sampling,
            engine: self.engine,
            status: self.status.to_proto() as i32,
            completed_iterations: self.completed_iterations,
            error: self.error.clone(),
            created_at_ms: self.created_at_ms,
            started_at_ms: self.started_at_ms.unwrap_or(0),
            finished_at_ms: self.finished_at_ms.unwrap_or(0),
            compute_units: self.compute_units,
        }
    }
}

/// Inserts a queued job and the snapshot of its model (inside the submit transaction).
pub async fn insert(conn: &mut sqlx::AnyConnection, job: &Job, ir_json: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO simulations (id, org_id, user_id, role, model_id, iterations, seed, \
         sampling, engine, status, created_at_ms, weight) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(&job.id)
    .bind(&job.org_id)
    .bind(&job.user_id)
    .bind(job.role)
    .bind(&job.model_id)
    .bind(ultra_store::to_bigint(job.iterations))
    .bind(job.seed as i64)
    .bind(job.sampling)
    .bind(job.engine)
    .bind(job.status.as_str())
    .bind(job.created_at_ms)
    .bind(job.weight.max(1))
    .execute(&mut *conn)
    .await?;
    sqlx::query("INSERT INTO simulation_models (simulation_id, ir_json) VALUES ($1, $2)")
        .bind(&job.id)
        .bind(ir_json)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The job `id` if it belongs to `org_id`.
/// Simulations of `org_id` queued, running or interrupted (waiting to run again): what
/// its plan's `max_concurrent_simulations` counts.
pub async fn count_active(conn: &mut sqlx::AnyConnection, org_id: &str) -> Result<u64> {
    let (count,): (i64,) = sqlx::query_as(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM simulations \
         WHERE org_id = $1 AND status IN ('queued', 'running', 'interrupted')",
    )
    .bind(org_id)
    .fetch_one(conn)
    .await?;
    Ok(u64::try_from(count).unwrap_or(0))
}

pub async fn get(pool: &sqlx::AnyPool, org_id: &str, id: &str) -> Result<Option<Job>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM simulations WHERE id = $1 AND org_id = $2"
    ))
    .bind(id)
    .bind(org_id)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(Job::from_row).transpose()
}

/// A page of the organisation's jobs, newest first, after the keyset position `after`
/// (`created_at_ms`, `id`) of the previous page's last job.
pub async fn list(
    pool: &sqlx::AnyPool,
    org_id: &str,
    after: Option<(i64, &str)>,
    limit: i64,
) -> Result<Vec<Job>> {
    let rows = match after {
        None => {
            sqlx::query(&format!(
                "SELECT {COLUMNS} FROM simulations WHERE org_id = $1 \
                 ORDER BY created_at_ms DESC, id DESC LIMIT $2"
            ))
            .bind(org_id)
            .bind(limit)
            .fetch_all(pool)
            .await?
        }
        Some((created_at_ms, id)) => {
            sqlx::query(&format!(
                "SELECT {COLUMNS} FROM simulations WHERE org_id = $1 \
                 AND (created_at_ms < $2 OR (created_at_ms = $2 AND id < $3)) \
                 ORDER BY created_at_ms DESC, id DESC LIMIT $4"
            ))
            .bind(org_id)
            .bind(created_at_ms)
            .bind(id)
            .bind(limit)
            .fetch_all(pool)
            .await?
        }
    };
    rows.iter().map(Job::from_row).collect()
}

/// Claims the next queued job for `instance_id`: the oldest queued job of the organisation
/// furthest behind its weighted share of the worker slots over the last `window_ms` (see
/// [`fair_share`] for the rule and why it is not simply "fewest running per weight"). The
/// claim is a guarded update, safe with several instances: a job taken by another instance
/// between the choice and the update is simply chosen again.
pub async fn claim_next(
    pool: &sqlx::AnyPool,
    instance_id: &str,
    now_ms: i64,
    window_ms: i64,
) -> Result<Option<Job>> {
    // A few tries: another instance may claim the same candidate between select and update.
    for _ in 0..5 {
        let candidates = queued_organisations(pool).await?;
        if candidates.is_empty() {
            return Ok(None);
        }
        let usage = usage_since(pool, now_ms, now_ms.saturating_sub(window_ms)).await?;
        let Some(org_id) = fair_share::pick(&candidates, &usage) else {
            return Ok(None);
        };
        let candidate: Option<String> = sqlx::query_scalar(
            "SELECT id FROM simulations WHERE status = 'queued' AND org_id = $1 \
             ORDER BY created_at_ms, id LIMIT 1",
        )
        .bind(org_id)
        .fetch_optional(pool)
        .await?;
        let Some(id) = candidate else {
            continue;
        };
        let row = sqlx::query(&format!(
            "UPDATE simulations SET status = 'running', attempts = attempts + 1, \
             completed_iterations = 0, worker_id = $2, heartbeat_at_ms = $3, started_at_ms = $3 \
             WHERE id = $1 AND status = 'queued' RETURNING {COLUMNS}"
        ))
        .bind(&id)
        .bind(instance_id)
        .bind(now_ms)
        .fetch_optional(pool)
        .await?;
        if let Some(row) = row {
            return Ok(Some(Job::from_row(&row)?));
        }
    }
    Ok(None)
}

/// The organisations with queued jobs: one row each, however many jobs they queued.
async fn queued_organisations(pool: &sqlx::AnyPool) -> Result<Vec<Candidate>> {
    let rows = sqlx::query(
        "SELECT org_id, CAST(MAX(weight) AS BIGINT) AS weight, \
         CAST(MIN(created_at_ms) AS BIGINT) AS oldest \
         FROM simulations WHERE status = 'queued' GROUP BY org_id",
    )
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(Candidate {
                org_id: row.try_get("org_id")?,
                weight: row.try_get("weight")?,
                oldest_queued_ms: row.try_get("oldest")?,
            })
        })
        .collect()
}

/// Each organisation's use of the slots since `from_ms`: its running jobs one by one (at
/// most the slots of all instances) and its jobs finished since then, summed per
/// organisation. A job that never started (cancelled while queued) used no slot.
async fn usage_since(
    pool: &sqlx::AnyPool,
    now_ms: i64,
    from_ms: i64,
) -> Result<HashMap<String, Usage>> {
    let mut usage: HashMap<String, Usage> = HashMap::new();
    let finished = sqlx::query(
        "SELECT org_id, CAST(COUNT(*) AS BIGINT) AS jobs, \
         CAST(SUM(finished_at_ms - started_at_ms) AS BIGINT) AS total_ms, \
         CAST(SUM(finished_at_ms - CASE WHEN started_at_ms < $1 THEN $1 \
                                        ELSE started_at_ms END) AS BIGINT) AS window_ms, \
         CAST(MAX(started_at_ms) AS BIGINT) AS last_started_ms \
         FROM simulations WHERE finished_at_ms > $1 AND started_at_ms IS NOT NULL \
         GROUP BY org_id",
    )
    .bind(from_ms)
    .fetch_all(pool)
    .await?;
    for row in &finished {
        let used = usage.entry(row.try_get("org_id")?).or_default();
        used.finished_count = row.try_get("jobs")?;
        used.finished_total_ms = row.try_get::<i64, _>("total_ms")?.max(0);
        used.finished_ms = row.try_get::<i64, _>("window_ms")?.max(0);
        used.last_started_ms = row.try_get("last_started_ms")?;
    }
    let running = sqlx::query(
        "SELECT org_id, started_at_ms FROM simulations \
         WHERE status = 'running' AND started_at_ms IS NOT NULL",
    )
    .fetch_all(pool)
    .await?;
    for row in &running {
        let started_at_ms: i64 = row.try_get("started_at_ms")?;
        let used = usage.entry(row.try_get("org_id")?).or_default();
        used.running_ms
            .push(now_ms.saturating_sub(started_at_ms.max(from_ms)).max(0));
        used.last_started_ms = used.last_started_ms.max(Some(started_at_ms));
    }
    Ok(usage)
}

/// The model snapshot of an unfinished job.
pub async fn model_of(pool: &sqlx::AnyPool, id: &str) -> Result<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT ir_json FROM simulation_models WHERE simulation_id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await?,
    )
}

/// Records progress and a sign of life of a job this instance runs. Returns whether a
/// cancel was requested, or `None` when the job is no longer ours to run (taken over).
pub async fn heartbeat(
    pool: &sqlx::AnyPool,
    id: &str,
    instance_id: &str,
    completed_iterations: u64,
    now_ms: i64,
) -> Result<Option<bool>> {
    let cancel_requested: Option<i32> = sqlx::query_scalar(
        "UPDATE simulations SET completed_iterations = $3, heartbeat_at_ms = $4 \
         WHERE id = $1 AND worker_id = $2 AND status = 'running' RETURNING cancel_requested",
    )
    .bind(id)
    .bind(instance_id)
    .bind(ultra_store::to_bigint(completed_iterations))
    .bind(now_ms)
    .fetch_optional(pool)
    .await?;
    Ok(cancel_requested.map(|flag| flag != 0))
}

/// How a running job ends.
pub struct Outcome<'a> {
    pub status: Status,
    pub completed_iterations: u64,
    pub compute_units: f64,
    pub error: &'a str,
}

/// Moves a job this instance runs to `outcome` (inside the transaction that also enqueues
/// its event) and drops its model snapshot once final. Returns false when the job was no
/// longer ours (recovered by another instance), in which case nothing changed.
pub async fn finish(
    conn: &mut sqlx::AnyConnection,
    id: &str,
    instance_id: &str,
    outcome: &Outcome<'_>,
    now_ms: i64,
) -> Result<bool> {
    let updated = sqlx::query(
        "UPDATE simulations SET status = $3, completed_iterations = $4, compute_units = $5, \
         error = $6, finished_at_ms = $7, heartbeat_at_ms = $7 \
         WHERE id = $1 AND worker_id = $2 AND status = 'running'",
    )
    .bind(id)
    .bind(instance_id)
    .bind(outcome.status.as_str())
    .bind(ultra_store::to_bigint(outcome.completed_iterations))
    .bind(outcome.compute_units)
    .bind(outcome.error)
    .bind(if outcome.status.is_final() {
        Some(now_ms)
    } else {
        None
    })
    .execute(&mut *conn)
    .await?;
    if updated.rows_affected() != 1 {
        return Ok(false);
    }
    if outcome.status.is_final() {
        delete_model(conn, id).await?;
    }
    Ok(true)
}

async fn delete_model(conn: &mut sqlx::AnyConnection, id: &str) -> Result<()> {
    sqlx::query("DELETE FROM simulation_models WHERE simulation_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Asks for a running job of `org_id` to stop; its runner sees the flag with its next
/// progress write, wherever it runs.
pub async fn request_cancel(pool: &sqlx::AnyPool, org_id: &str, id: &str) -> Result<()> {
    sqlx::query(
        "UPDATE simulations SET cancel_requested = 1 WHERE id = $1 AND org_id = $2 \
         AND status = 'running'",
    )
    .bind(id)
    .bind(org_id)
    .execute(pool)
    .await?;
    Ok(())
}

/// Cancels a job of `org_id` that is not running (queued or interrupted): no runner to
/// stop. Returns false when it was not in such a state any more.
pub async fn cancel_idle(
    conn: &mut sqlx::AnyConnection,
    org_id: &str,
    id: &str,
    now_ms: i64,
) -> Result<bool> {
    let updated = sqlx::query(
        "UPDATE simulations SET status = 'cancelled', cancel_requested = 1, finished_at_ms = $3 \
         WHERE id = $1 AND org_id = $2 AND status IN ('queued', 'interrupted')",
    )
    .bind(id)
    .bind(org_id)
    .bind(now_ms)
    .execute(&mut *conn)
    .await?;
    if updated.rows_affected() != 1 {
        return Ok(false);
    }
    delete_model(conn, id).await?;
    Ok(true)
}

/// Marks as interrupted the running jobs whose runner is gone: those of `instance_id` (at
/// its start, none of them can still run) and those whose heartbeat is older than
/// `stale_before_ms`, except the ids in `running_here`.
pub async fn interrupt_orphans(
    pool: &sqlx::AnyPool,
    instance_id: Option<&str>,
    stale_before_ms: i64,
    running_here: &[String],
) -> Result<u64> {
    let orphans: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM simulations WHERE status = 'running' \
         AND (worker_id = $1 OR heartbeat_at_ms IS NULL OR heartbeat_at_ms < $2)",
    )
    .bind(instance_id.unwrap_or(""))
    .bind(stale_before_ms)
    .fetch_all(pool)
    .await?;
    let mut interrupted = 0;
    for id in orphans.iter().filter(|id| !running_here.contains(id)) {
        let updated = sqlx::query(
            "UPDATE simulations SET status = 'interrupted' WHERE id = $1 AND status = 'running'",
        )
        .bind(id)
        .execute(pool)
        .await?;
        interrupted += updated.rows_affected();
    }
    Ok(interrupted)
}

/// The interrupted jobs, to be queued again or failed.
pub async fn interrupted(pool: &sqlx::AnyPool) -> Result<Vec<Job>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM simulations WHERE status = 'interrupted' ORDER BY created_at_ms"
    ))
    .fetch_all(pool)
    .await?;
    rows.iter().map(Job::from_row).collect()
}

/// Queues an interrupted job again, from iteration zero (a run is a pure function of its
/// request, so starting over gives the same result).
pub async fn requeue(pool: &sqlx::AnyPool, id: &str) -> Result<bool> {
    let updated = sqlx::query(
        "UPDATE simulations SET status = 'queued', completed_iterations = 0, worker_id = NULL \
         WHERE id = $1 AND status = 'interrupted'",
    )
    .bind(id)
    .execute(pool)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// Fails an interrupted job that has used up its attempts (inside the transaction that
/// enqueues `simulation.failed`).
pub async fn fail_interrupted(
    conn: &mut sqlx::AnyConnection,
    id: &str,
    error: &str,
    now_ms: i64,
) -> Result<bool> {
    let updated = sqlx::query(
        "UPDATE simulations SET status = 'failed', error = $2, finished_at_ms = $3 \
         WHERE id = $1 AND status = 'interrupted'",
    )
    .bind(id)
    .bind(error)
    .bind(now_ms)
    .execute(&mut *conn)
    .await?;
    if updated.rows_affected() != 1 {
        return Ok(false);
    }
    delete_model(conn, id).await?;
    Ok(true)
}

/// Marks interrupted the jobs this instance still has running (at shutdown, after the
/// workers were given their time to stop).
pub async fn interrupt_mine(pool: &sqlx::AnyPool, instance_id: &str) -> Result<u64> {
    let updated = sqlx::query(
        "UPDATE simulations SET status = 'interrupted' WHERE status = 'running' AND worker_id = $1",
    )
    .bind(instance_id)
    .execute(pool)
    .await?;
    Ok(updated.rows_affected())
}

#[cfg(test)]
mod tests;

/// The jobs of `user_id` in `org_id`, newest first (GDPR export).
pub async fn of_user(pool: &sqlx::AnyPool, org_id: &str, user_id: &str) -> Result<Vec<Job>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM simulations WHERE org_id = $1 AND user_id = $2 \
         ORDER BY created_at_ms DESC, id DESC"
    ))
    .bind(org_id)
    .bind(user_id)
    .fetch_all(pool)
    .await?;
    rows.iter().map(Job::from_row).collect()
}

/// The user a job is recorded for now: its submitter, or the pseudonym that replaced them
/// if they were erased while it ran (so its end event carries no erased id).
pub async fn user_of(conn: &mut sqlx::AnyConnection, id: &str) -> Result<Option<String>> {
    let row = sqlx::query("SELECT user_id FROM simulations WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|row| row.try_get("user_id")).transpose()?)
}

/// Carries out an erasure (inside the transaction that marks the event processed and
/// records it). A user's jobs belong to their organisation (its members read them and their
/// results): they stay, with the submitter replaced by the pseudonym. An organisation's jobs
/// and model snapshots are deleted; a runner of one of them finds its job gone and drops
/// its outcome (see [`finish`]). Returns the ids of the deleted jobs.
pub async fn erase(
    conn: &mut sqlx::AnyConnection,
    erasure: &ultra_store::ErasureRequest,
) -> Result<Vec<String>> {
    let mut deleted = Vec::new();
    match &erasure.subject {
        ultra_store::ErasureSubject::User { user_id } => {
            sqlx::query("UPDATE simulations SET user_id = $1 WHERE user_id = $2")
                .bind(&erasure.pseudonym)
                .bind(user_id)
                .execute(&mut *conn)
                .await?;
        }
        ultra_store::ErasureSubject::Organization => {
            deleted = sqlx::query_scalar("SELECT id FROM simulations WHERE org_id = $1")
                .bind(&erasure.org_id)
                .fetch_all(&mut *conn)
                .await?;
            sqlx::query(
                "DELETE FROM simulation_models WHERE simulation_id IN \
                 (SELECT id FROM simulations WHERE org_id = $1)",
            )
            .bind(&erasure.org_id)
            .execute(&mut *conn)
            .await?;
            sqlx::query("DELETE FROM simulations WHERE org_id = $1")
                .bind(&erasure.org_id)
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(deleted)
}
