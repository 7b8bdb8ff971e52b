//! The fair-share claim, on a real SQLite file.

use super::*;

fn job(id: &str, org_id: &str, created_at_ms: i64) -> Job {
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
    }
}

#[tokio::test]
async fn the_organisation_with_fewer_running_jobs_goes_first() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("s.db").display());
    let db = ultra_store::open(&url, &MIGRATOR).await.expect("open");
    let pool = db.pool();
    let mut conn = pool.acquire().await.expect("connection");
    for (id, org, at) in [("a1", "org-a", 1), ("a2", "org-a", 2), ("b1", "org-b", 3)] {
        insert(&mut conn, &job(id, org, at), "{}")
            .await
            .expect("insert");
    }
    drop(conn);
    let first = claim_next(pool, "here", 10)
        .await
        .expect("claim")
        .expect("a job");
    assert_eq!(first.id, "a1");
    assert_eq!(first.seed, u64::MAX);
    assert_eq!((first.status, first.attempts), (Status::Running, 1));
    // org-a now has a running job, org-b none: org-b's newer job goes before a2.
    let second = claim_next(pool, "here", 11)
        .await
        .expect("claim")
        .expect("a job");
    assert_eq!(second.id, "b1");
    let third = claim_next(pool, "here", 12)
        .await
        .expect("claim")
        .expect("a job");
    assert_eq!(third.id, "a2");
    assert!(claim_next(pool, "here", 13).await.expect("claim").is_none());
}
