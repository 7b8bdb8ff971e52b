//! The fair-share claim, on real SQLite files, and every scenario again on a real
//! PostgreSQL server (ultra-testkit): the claim's aggregates and guarded updates are the
//! queries most likely to differ between the two.

use std::sync::atomic::{AtomicU32, Ordering};

use ultra_testkit::PostgresServer;

use super::*;

/// The default fair-share window (ten minutes): every test here fits in it.
const WINDOW_MS: i64 = 600_000;

/// Where a scenario's fresh, migrated databases come from.
enum Databases {
    Sqlite(tempfile::TempDir, AtomicU32),
    Postgres(PostgresServer, AtomicU32),
}

impl Databases {
    fn sqlite() -> Databases {
        Databases::Sqlite(tempfile::tempdir().expect("temp dir"), AtomicU32::new(0))
    }

    /// A private server (call from a multi-thread runtime: starting it blocks).
    fn postgres() -> Databases {
        let server = tokio::task::block_in_place(PostgresServer::start).expect("start postgres");
        Databases::Postgres(server, AtomicU32::new(0))
    }

    /// A new empty database with the simulation schema.
    async fn fresh(&self) -> ultra_store::Db {
        let url = match self {
            Databases::Sqlite(dir, counter) => {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                format!("sqlite://{}", dir.path().join(format!("s{n}.db")).display())
            }
            Databases::Postgres(server, counter) => {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                tokio::task::block_in_place(|| server.create_database(&format!("s{n}")))
                    .expect("create database")
            }
        };
        ultra_store::open(&url, &MIGRATOR).await.expect("open")
    }
}

/// Every scenario below, each on its own database of one PostgreSQL server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_on_postgres() {
    let databases = Databases::postgres();
    fewer_running_first(&databases).await;
    plan_weights(&databases).await;
    slot_time_shares(&databases).await;
    missing_weight(&databases).await;
    guarded_lifecycle(&databases).await;
}

fn job(id: &str, org_id: &str, created_at_ms: i64) -> Job {
    weighted(id, org_id, created_at_ms, 1)
}

fn weighted(id: &str, org_id: &str, created_at_ms: i64, weight: i64) -> Job {
    Job {
        id: id.to_owned(),
        org_id: org_id.to_owned(),
        user_id: "u".to_owned(),
        role: 0,
        model_id: "m".to_owned(),
        iterations: 10,
        seed: u64::MAX,
        sampling: 0,
        engine: 0,
        status: Status::Queued,
        completed_iterations: 0,
        error: String::new(),
        compute_units: 0.0,
        attempts: 0,
        cancel_requested: false,
        created_at_ms,
        started_at_ms: None,
        finished_at_ms: None,
        weight,
    }
}

#[tokio::test]
async fn the_organisation_with_fewer_running_jobs_goes_first() {
    fewer_running_first(&Databases::sqlite()).await;
}

async fn fewer_running_first(databases: &Databases) {
    let db = databases.fresh().await;
    let pool = db.pool();
    let mut conn = pool.acquire().await.expect("connection");
    for (id, org, at) in [("a1", "org-a", 1), ("a2", "org-a", 2), ("b1", "org-b", 3)] {
        insert(&mut conn, &job(id, org, at), "{}")
            .await
            .expect("insert");
    }
    drop(conn);
    let first = claim_next(pool, "here", 10, WINDOW_MS)
        .await
        .expect("claim")
        .expect("a job");
    assert_eq!(first.id, "a1");
    assert_eq!(first.seed, u64::MAX);
    assert_eq!((first.status, first.attempts), (Status::Running, 1));
    // org-a now has a running job, org-b none: org-b's newer job goes before a2.
    let second = claim_next(pool, "here", 11, WINDOW_MS)
        .await
        .expect("claim")
        .expect("a job");
    assert_eq!(second.id, "b1");
    let third = claim_next(pool, "here", 12, WINDOW_MS)
        .await
        .expect("claim")
        .expect("a job");
    assert_eq!(third.id, "a2");
    assert!(
        claim_next(pool, "here", 13, WINDOW_MS)
            .await
            .expect("claim")
            .is_none()
    );
}

/// Completes a job this test "runs" at `now_ms`.
async fn complete(pool: &sqlx::AnyPool, id: &str, now_ms: i64) {
    let mut conn = pool.acquire().await.expect("connection");
    let outcome = Outcome {
        status: Status::Completed,
        completed_iterations: 10,
        compute_units: 0.0,
        error: "",
    };
    assert!(
        finish(&mut conn, id, "here", &outcome, now_ms)
            .await
            .expect("finish")
    );
}

/// Runs `slots` workers over the queue until it is empty, each job taking `length_ms(org)`
/// of simulated time: a worker that frees claims the next job at the time it frees.
/// Returns the organisations in claim order.
async fn drain(pool: &sqlx::AnyPool, slots: usize, length_ms: impl Fn(&str) -> i64) -> Vec<String> {
    let mut now = 1_000;
    let mut claimed = Vec::new();
    // (ends at, claim number, job id)
    let mut running: Vec<(i64, usize, String)> = Vec::new();
    loop {
        while running.len() < slots {
            let Some(next) = claim_next(pool, "here", now, WINDOW_MS)
                .await
                .expect("claim")
            else {
                break;
            };
            running.push((now + length_ms(&next.org_id), claimed.len(), next.id));
            claimed.push(next.org_id);
        }
        // The earliest to end (the earliest claimed among equals) frees its slot.
        let Some(first) = running
            .iter()
            .enumerate()
            .min_by_key(|(_, (end, order, _))| (*end, *order))
            .map(|(index, _)| index)
        else {
            return claimed;
        };
        let (end, _, id) = running.swap_remove(first);
        now = end;
        complete(pool, &id, now).await;
    }
}

/// 40 jobs of a free org, then 10 of an enterprise org and 10 of a professional one, all
/// queued before the first claim, run on 1 to 8 slots with jobs of equal length. While
/// all three have work queued, their shares of the claims (and so of the slot time) are
/// 1 : 3 : 2 within one job each; the late orgs start at once and are done long before the
/// free org's flood drains. (The old rule, fewest running jobs, gives 1 : 1 : 1 on one
/// slot; fewest running per weight gives it too.)
#[tokio::test]
async fn claims_follow_the_plan_weights_on_any_number_of_slots() {
    plan_weights(&Databases::sqlite()).await;
}

async fn plan_weights(databases: &Databases) {
    for slots in [1, 2, 3, 4, 8] {
        let db = databases.fresh().await;
        let pool = db.pool();
        let mut conn = pool.acquire().await.expect("connection");
        let mut created = 0;
        for (org, count, weight) in [("free", 40, 1), ("enterprise", 10, 3), ("pro", 10, 2)] {
            for n in 0..count {
                created += 1;
                let id = format!("{org}-{n:02}");
                insert(&mut conn, &weighted(&id, org, created, weight), "{}")
                    .await
                    .expect("insert");
            }
        }
        drop(conn);
        let order = drain(pool, slots, |_| 1_000).await;
        assert_eq!(order.len(), 60, "{slots} slots: every job ran once");

        // The enterprise org (10 jobs at 3/6 of the claims) is still queued throughout the
        // first 18 claims: expected 3 free, 9 enterprise, 6 pro.
        let first: Vec<&str> = order.iter().take(18).map(String::as_str).collect();
        let count = |org: &str| first.iter().filter(|claimed| **claimed == org).count() as i64;
        for (org, expected) in [("free", 3), ("enterprise", 9), ("pro", 6)] {
            assert!(
                (count(org) - expected).abs() <= 1,
                "{slots} slots: {org} got {} of the first 18 claims, expected {expected} ± 1: {first:?}",
                count(org)
            );
        }
        // No starvation: both late orgs start within the first round of claims...
        let position = |org: &str| order.iter().position(|claimed| claimed == org);
        let last_position = |org: &str| order.iter().rposition(|claimed| claimed == org);
        for org in ["enterprise", "pro"] {
            let first_claim = position(org).expect("claimed");
            assert!(
                first_claim <= slots + 2,
                "{slots} slots: {org} first claimed at {first_claim}: {order:?}"
            );
        }
        // ...and are done while most of the flood still waits (an unfair FIFO would run
        // all 40 free jobs first).
        let late_done = last_position("enterprise")
            .max(last_position("pro"))
            .expect("claimed");
        let free_claimed = order[..=late_done]
            .iter()
            .filter(|claimed| *claimed == "free")
            .count();
        assert!(
            free_claimed <= 15,
            "{slots} slots: {free_claimed} free jobs ran before the late orgs were served: {order:?}"
        );
    }
}

/// The share is of slot time, not of jobs: with enterprise jobs three times as long as the
/// free org's, 3 : 1 of the time is as many enterprise jobs as free ones.
#[tokio::test]
async fn shares_are_of_slot_time_whatever_the_job_lengths() {
    slot_time_shares(&Databases::sqlite()).await;
}

async fn slot_time_shares(databases: &Databases) {
    let db = databases.fresh().await;
    let pool = db.pool();
    let mut conn = pool.acquire().await.expect("connection");
    for n in 0..30 {
        insert(
            &mut conn,
            &weighted(&format!("free-{n:02}"), "free", n, 1),
            "{}",
        )
        .await
        .expect("insert");
        insert(
            &mut conn,
            &weighted(&format!("ent-{n:02}"), "enterprise", 100 + n, 3),
            "{}",
        )
        .await
        .expect("insert");
    }
    drop(conn);
    let order = drain(
        pool,
        2,
        |org| if org == "enterprise" { 3_000 } else { 1_000 },
    )
    .await;
    let first: Vec<&str> = order.iter().take(20).map(String::as_str).collect();
    let enterprise = first.iter().filter(|org| **org == "enterprise").count() as i64;
    // Time 3 : 1 with enterprise jobs 3x longer: equal claims, 10 each of 20 (± 1).
    assert!((enterprise - 10).abs() <= 1, "{first:?}");
}

/// A job whose weight was never set (or set to nonsense) weighs 1; a weight-2 org gets two
/// claims for each of a weight-1 org's when both have used slot time.
#[tokio::test]
async fn a_missing_weight_counts_as_one() {
    missing_weight(&Databases::sqlite()).await;
}

async fn missing_weight(databases: &Databases) {
    let db = databases.fresh().await;
    let pool = db.pool();
    let mut conn = pool.acquire().await.expect("connection");
    insert(&mut conn, &weighted("zero", "org-z", 1, 0), "{}")
        .await
        .expect("insert");
    insert(&mut conn, &weighted("negative", "org-z", 2, -3), "{}")
        .await
        .expect("insert");
    // A row written before the weight column existed gets the column's default.
    sqlx::query(
        "INSERT INTO simulations (id, org_id, user_id, role, model_id, iterations, seed, \
         sampling, engine, status, created_at_ms) \
         VALUES ('old', 'org-z', 'u', 0, 'm', 10, 1, 0, 0, 'queued', 3)",
    )
    .execute(&mut *conn)
    .await
    .expect("insert without weight");
    drop(conn);
    for id in ["zero", "negative", "old"] {
        let weight: i64 = sqlx::query_scalar("SELECT weight FROM simulations WHERE id = $1")
            .bind(id)
            .fetch_one(pool)
            .await
            .expect("weight");
        assert_eq!(weight, 1, "{id}");
    }
    let claimed = claim_next(pool, "here", 10, WINDOW_MS)
        .await
        .expect("claim")
        .expect("a job");
    assert_eq!((claimed.id.as_str(), claimed.weight), ("zero", 1));
}

/// The worker-side lifecycle: heartbeat and cancel flag, listing with a keyset cursor,
/// interruption of orphans, requeue, failure of an interrupted job, and a non-final finish
/// (a NULL `finished_at_ms` bound as a typed null).
#[tokio::test]
async fn the_guarded_lifecycle_holds() {
    guarded_lifecycle(&Databases::sqlite()).await;
}

async fn guarded_lifecycle(databases: &Databases) {
    let db = databases.fresh().await;
    let pool = db.pool();
    let mut conn = pool.acquire().await.expect("connection");
    for (id, at) in [("j1", 1), ("j2", 2), ("j3", 3)] {
        insert(&mut conn, &job(id, "org-a", at), "{\"ir\": 1}")
            .await
            .expect("insert");
    }
    drop(conn);
    assert_eq!(
        model_of(pool, "j1").await.expect("model").as_deref(),
        Some("{\"ir\": 1}")
    );

    // Newest first, two per page, resuming after the last (created_at_ms, id).
    let first = list(pool, "org-a", None, 2).await.expect("list");
    let ids: Vec<&str> = first.iter().map(|job| job.id.as_str()).collect();
    assert_eq!(ids, ["j3", "j2"]);
    let rest = list(pool, "org-a", Some((2, "j2")), 2).await.expect("list");
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].id, "j1");
    assert!(list(pool, "org-b", None, 2).await.expect("list").is_empty());

    // Claim, heartbeat, cancel request seen by the next heartbeat.
    let running = claim_next(pool, "here", 10, WINDOW_MS)
        .await
        .expect("claim")
        .expect("a job");
    assert_eq!(running.id, "j1");
    assert_eq!(running.seed, u64::MAX, "all 64 bits of the seed survive");
    assert_eq!(
        heartbeat(pool, "j1", "here", 5, 11).await.expect("beat"),
        Some(false)
    );
    assert_eq!(
        heartbeat(pool, "j1", "elsewhere", 5, 11)
            .await
            .expect("beat"),
        None,
        "not ours"
    );
    request_cancel(pool, "org-a", "j1").await.expect("cancel");
    assert_eq!(
        heartbeat(pool, "j1", "here", 6, 12).await.expect("beat"),
        Some(true)
    );
    let stored = get(pool, "org-a", "j1").await.expect("get").expect("row");
    assert!(stored.cancel_requested);
    assert_eq!(stored.completed_iterations, 6);
    assert!(get(pool, "org-b", "j1").await.expect("get").is_none());

    // A non-final outcome keeps finished_at_ms NULL.
    let mut conn = pool.acquire().await.expect("connection");
    let interrupted_outcome = Outcome {
        status: Status::Interrupted,
        completed_iterations: 6,
        compute_units: 0.5,
        error: "",
    };
    assert!(
        finish(&mut conn, "j1", "here", &interrupted_outcome, 13)
            .await
            .expect("finish")
    );
    drop(conn);
    let stored = get(pool, "org-a", "j1").await.expect("get").expect("row");
    assert_eq!(stored.status, Status::Interrupted);
    assert_eq!(stored.finished_at_ms, None);
    assert_eq!(stored.compute_units, 0.5);
    assert!(requeue(pool, "j1").await.expect("requeue"));

    // Orphans: a stale heartbeat and this instance's own jobs are interrupted.
    let j1 = claim_next(pool, "here", 20, WINDOW_MS)
        .await
        .expect("claim")
        .expect("a job");
    let j2 = claim_next(pool, "there", 20, WINDOW_MS)
        .await
        .expect("claim")
        .expect("a job");
    assert_eq!(
        interrupt_orphans(pool, Some("here"), 0, &[])
            .await
            .expect("orphans"),
        1
    );
    assert_eq!(
        interrupt_orphans(pool, None, 21, std::slice::from_ref(&j1.id))
            .await
            .expect("orphans"),
        1,
        "the stale one of the other instance"
    );
    let waiting = interrupted(pool).await.expect("interrupted");
    let mut ids: Vec<&str> = waiting.iter().map(|job| job.id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(ids, [j1.id.as_str(), j2.id.as_str()]);
    let mut tx = pool.begin().await.expect("begin");
    assert!(
        fail_interrupted(&mut tx, &j2.id, "out of attempts", 30)
            .await
            .expect("fail")
    );
    tx.commit().await.expect("commit");
    assert!(model_of(pool, &j2.id).await.expect("model").is_none());
    let failed = get(pool, "org-a", &j2.id).await.expect("get").expect("row");
    assert_eq!(
        (failed.status, failed.finished_at_ms),
        (Status::Failed, Some(30))
    );

    // A queued job is cancelled without a runner; a running one at shutdown is interrupted.
    let mut tx = pool.begin().await.expect("begin");
    assert!(
        cancel_idle(&mut tx, "org-a", "j3", 40)
            .await
            .expect("cancel")
    );
    tx.commit().await.expect("commit");
    assert!(requeue(pool, &j1.id).await.expect("requeue"));
    claim_next(pool, "here", 50, WINDOW_MS)
        .await
        .expect("claim")
        .expect("a job");
    assert_eq!(interrupt_mine(pool, "here").await.expect("mine"), 1);
}
