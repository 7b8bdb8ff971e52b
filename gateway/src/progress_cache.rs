//! Answers `GET /v1/simulations/{id}/progress` from this replica's memory while a
//! simulation is being watched, so that a progress bar polled by many clients costs one
//! `WatchProgress` stream per simulation instead of one upstream call per poll.
//!
//! The first poll of a simulation goes upstream (which also enforces tenancy: another
//! organisation's id is not found there and never enters the cache). While the simulation
//! is queued or running, a watcher task follows its `WatchProgress` stream and replaces the
//! cached answer on every tick; the entry is bound to the organisation the upstream
//! answered for, and a caller of any other organisation misses and goes upstream (404).
//! An entry without a live watcher (a finished simulation, a failed stream) is served only
//! for [`UNWATCHED_FRESH`] after upstream confirmed it. Watchers stop when nobody has read
//! their entry for [`IDLE`], at shutdown, or when the simulation ends.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use ultra_proto::v1 as pb;
use ultra_proto::v1::simulation_service_client::SimulationServiceClient;

use crate::views::{self, ProgressView};

/// How long an entry that no watcher keeps current may be served after upstream confirmed it.
pub const UNWATCHED_FRESH: Duration = Duration::from_secs(1);
/// A watcher whose entry nobody read for this long stops and drops the entry.
pub const IDLE: Duration = Duration::from_secs(30);
/// Entries per shard; beyond it the least recently read entry of the shard is dropped.
const SHARD_CAPACITY: usize = 1024;
const SHARDS: usize = 16;

struct Entry {
    org_id: String,
    /// The serialised [`ProgressView`], shared by every answer until the next tick.
    body: Bytes,
    confirmed_at: Instant,
    last_read: Instant,
    /// A watcher task follows the simulation and replaces `body` on every tick.
    watched: bool,
}

/// The per-replica cache of progress answers; see the module documentation.
pub struct ProgressCache {
    shards: Vec<Mutex<HashMap<String, Entry>>>,
}

impl Default for ProgressCache {
    fn default() -> Self {
        ProgressCache {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }
}

impl ProgressCache {
    fn shard(&self, simulation_id: &str) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        let mut hasher = DefaultHasher::new();
        simulation_id.hash(&mut hasher);
        let index = (hasher.finish() as usize) % self.shards.len();
        // A panic while holding a shard cannot leave an entry half-written (each write is
        // one assignment), so a poisoned lock is safe to keep using.
        self.shards[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The cached answer for `simulation_id` if it belongs to `org_id` and is current.
    pub fn get(&self, org_id: &str, simulation_id: &str) -> Option<Bytes> {
        let mut shard = self.shard(simulation_id);
        let entry = shard.get_mut(simulation_id)?;
        if entry.org_id != org_id
            || !(entry.watched || entry.confirmed_at.elapsed() < UNWATCHED_FRESH)
        {
            return None;
        }
        entry.last_read = Instant::now();
        Some(entry.body.clone())
    }

    /// Records an answer upstream just gave `org_id`. Returns true when the caller should
    /// start a watcher: the simulation is not final and nobody watches it yet.
    pub fn confirm(&self, org_id: &str, view: &ProgressView, is_final: bool) -> bool {
        let body = encode(view);
        let now = Instant::now();
        let mut shard = self.shard(&view.simulation_id);
        if let Some(entry) = shard.get_mut(&view.simulation_id) {
            let start_watcher = !is_final && !entry.watched;
            *entry = Entry {
                org_id: org_id.to_owned(),
                body,
                confirmed_at: now,
                last_read: now,
                watched: entry.watched || start_watcher,
            };
            return start_watcher;
        }
        if shard.len() >= SHARD_CAPACITY {
            let oldest = shard
                .iter()
                .min_by_key(|(_, entry)| entry.last_read)
                .map(|(id, _)| id.clone());
            if let Some(oldest) = oldest {
                shard.remove(&oldest);
            }
        }
        shard.insert(
            view.simulation_id.clone(),
            Entry {
                org_id: org_id.to_owned(),
                body,
                confirmed_at: now,
                last_read: now,
                watched: !is_final,
            },
        );
        !is_final
    }

    /// A tick from the watcher. Returns false when the watcher should stop: its entry was
    /// dropped (evicted) or nobody has read it for [`IDLE`] (then it is dropped here).
    fn tick(&self, view: &ProgressView, is_final: bool) -> bool {
        let mut shard = self.shard(&view.simulation_id);
        let Some(entry) = shard.get_mut(&view.simulation_id) else {
            return false;
        };
        if entry.last_read.elapsed() >= IDLE {
            shard.remove(&view.simulation_id);
            return false;
        }
        entry.body = encode(view);
        entry.confirmed_at = Instant::now();
        entry.watched = !is_final;
        !is_final
    }

    /// The watcher stopped without a final answer: the entry ages out like any other.
    fn unwatch(&self, simulation_id: &str) {
        if let Some(entry) = self.shard(simulation_id).get_mut(simulation_id) {
            entry.watched = false;
        }
    }

    /// Whether the entry was read within [`IDLE`] (false when it is gone).
    fn is_read(&self, simulation_id: &str) -> bool {
        self.shard(simulation_id)
            .get(simulation_id)
            .is_some_and(|entry| entry.last_read.elapsed() < IDLE)
    }

    /// Follows `simulation_id`'s progress stream for `caller` (of the entry's organisation)
    /// in the background, feeding the cache until the simulation ends, nobody reads the
    /// entry any more, or `shutdown`. The request is signed for `caller` with `caller_auth`.
    pub fn spawn_watcher(
        self: &Arc<Self>,
        mut client: SimulationServiceClient<Channel>,
        caller_auth: ultra_rpc::CallerAuth,
        caller: pb::Caller,
        simulation_id: String,
        shutdown: CancellationToken,
    ) {
        let cache = Arc::clone(self);
        tokio::spawn(async move {
            let request = pb::GetSimulationRequest {
                caller: Some(caller.clone()),
                simulation_id: simulation_id.clone(),
            };
            let Ok(request) = caller_auth.peer_request(&caller, request) else {
                cache.unwatch(&simulation_id);
                return;
            };
            let Ok(response) = client.watch_progress(request).await else {
                cache.unwatch(&simulation_id);
                return;
            };
            let mut stream = response.into_inner();
            let mut idle_check = tokio::time::interval(IDLE / 2);
            idle_check.tick().await;
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    _ = idle_check.tick() => {
                        if !cache.is_read(&simulation_id) {
                            break;
                        }
                    }
                    next = stream.next() => match next {
                        Some(Ok(progress)) => {
                            let is_final = views::is_final(progress.status);
                            if !cache.tick(&ProgressView::from(progress), is_final) {
                                return;
                            }
                        }
                        // The stream ended or failed: later polls go upstream again.
                        Some(Err(_)) | None => break,
                    },
                }
            }
            cache.unwatch(&simulation_id);
        });
    }
}

fn encode(view: &ProgressView) -> Bytes {
    // A struct of strings and numbers always serialises; an empty body would be a bug.
    Bytes::from(serde_json::to_vec(view).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(id: &str, completed: u64) -> ProgressView {
        ProgressView::from(pb::Progress {
            simulation_id: id.into(),
            status: pb::SimulationStatus::Running as i32,
            completed_iterations: completed,
            total_iterations: 100,
        })
    }

    #[test]
    fn entries_answer_only_their_own_organisation() {
        let cache = ProgressCache::default();
        assert!(cache.confirm("org-a", &view("sim", 10), false));
        assert!(cache.get("org-a", "sim").is_some());
        assert!(cache.get("org-b", "sim").is_none());
        assert!(cache.get("org-a", "other").is_none());
    }

    #[test]
    fn ticks_replace_the_answer_and_a_second_confirm_starts_no_second_watcher() {
        let cache = ProgressCache::default();
        assert!(cache.confirm("org-a", &view("sim", 10), false));
        assert!(!cache.confirm("org-a", &view("sim", 20), false));
        assert!(cache.tick(&view("sim", 30), false));
        let body = cache.get("org-a", "sim").expect("cached");
        let json: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(json["completed_iterations"], 30);
        // A final tick ends the watch; the entry then ages out after UNWATCHED_FRESH.
        assert!(!cache.tick(&view("sim", 100), true));
        assert!(cache.get("org-a", "sim").is_some());
    }

    #[test]
    fn unwatched_entries_expire() {
        let cache = ProgressCache::default();
        assert!(!cache.confirm("org-a", &view("done", 100), true));
        {
            let mut shard = cache.shard("done");
            let entry = shard.get_mut("done").expect("entry");
            entry.confirmed_at = Instant::now() - UNWATCHED_FRESH;
        }
        assert!(cache.get("org-a", "done").is_none());
    }

    #[test]
    fn a_full_shard_drops_its_least_recently_read_entry() {
        let cache = ProgressCache::default();
        let ids: Vec<String> = (0..SHARD_CAPACITY * SHARDS * 2)
            .map(|i| format!("sim-{i}"))
            .collect();
        for id in &ids {
            cache.confirm("org", &view(id, 1), true);
        }
        let total: usize = cache
            .shards
            .iter()
            .map(|shard| shard.lock().map(|map| map.len()).unwrap_or(0))
            .sum();
        assert!(total <= SHARD_CAPACITY * SHARDS);
    }
}
