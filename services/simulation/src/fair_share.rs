//! Weighted fair share of the worker slots between organisations.
//!
//! Every instance's workers draw from one queue (the `simulations` table), so a slot is
//! the unit that is shared: whichever worker of whichever instance is free takes the next
//! job. An organisation's share of the slots over time should follow its weight (its plan
//! tier: [`weight`]), so that with A (weight 3) and B (weight 1) both flooding the queue A
//! holds about 3/4 of the slots, and a flood of one organisation never starves another.
//!
//! # Why not "fewest running jobs per weight"
//!
//! Picking the organisation with the least `running / weight` only looks at the slots held
//! at this instant. It gives the weighted share only when there are at least as many slots
//! as the sum of the weights in play. With one slot (the default: one worker, one GPU)
//! every organisation has 0 running when the slot frees, so it degenerates to round robin
//! (1:1 whatever the weights); with two slots, A 3 and B 1 still settle at 1:1 (A frees:
//! A 0/3 < B 1/1, A goes; B frees: B 0/1 < A 1/3, B goes). Nor does it know how long
//! jobs run: a slot held for an hour counts as much as one held for a second.
//!
//! # What is done instead
//!
//! Each organisation is charged the slot time it used, divided by its weight, and the next
//! slot goes to the organisation charged least (weighted fair queueing over slot time):
//!
//! - used: the slot-milliseconds of its jobs that finished within the last `window`
//!   (clipped to the window), plus, for each job running now, `max(elapsed, expected)`,
//!   where `expected` is the mean duration of its jobs finished in the window (of every
//!   organisation's when it has none, 0 when nothing finished). Charging a just-started
//!   job its expected length is what makes several slots handed out at the same instant
//!   (a burst of idle workers) split by weight; the elapsed time takes over once a job
//!   runs longer than expected.
//! - charge = used / weight. Equal charges mean shares proportional to the weights, whatever
//!   the number of slots and however long the jobs: each claim goes to whoever is furthest
//!   behind its share, so the share converges to the weights with a lag of about one job
//!   per slot.
//! - Only the `window` counts (`ULTRA_SIMULATION_FAIR_SHARE_WINDOW_MS`): an organisation
//!   that was idle does not bank credit for ever, it may only catch up on at most one
//!   window's worth of history; and usage older than that is forgotten.
//!
//! Ties (nothing used yet, e.g. the first claims after a start) go to the fewest running
//! jobs per weight, then to the organisation least recently served, then to the one whose
//! oldest queued job is the oldest. Within the organisation chosen, its oldest queued job
//! runs first.

use std::cmp::Ordering;
use std::collections::HashMap;

use ultra_proto::v1;

/// The fair-share weight of a plan tier: ENTERPRISE 3, PROFESSIONAL 2, everything else 1.
/// ULTRA, the tier above ENTERPRISE, also weighs 3: at most 3:1 between any two tiers keeps
/// the lowest tier's share of a contended slot at a quarter or more against any single
/// organisation. The tier comes from the caller's verified token through the gateway; an
/// unspecified or unknown value (an old token, another caller) weighs 1, never more.
pub fn weight(plan_tier: i32) -> i64 {
    match v1::PlanTier::try_from(plan_tier) {
        Ok(v1::PlanTier::Enterprise | v1::PlanTier::Ultra) => 3,
        Ok(v1::PlanTier::Professional) => 2,
        Ok(v1::PlanTier::Free | v1::PlanTier::Starter | v1::PlanTier::Unspecified) | Err(_) => 1,
    }
}

/// An organisation with queued jobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub org_id: String,
    /// The largest weight among its queued jobs (each job keeps the weight of the tier it
    /// was submitted under).
    pub weight: i64,
    pub oldest_queued_ms: i64,
}

/// One organisation's use of the slots within the window.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    /// Slot-milliseconds of its jobs that finished within the window, clipped to it.
    pub finished_ms: i64,
    /// Full durations and number of those jobs, for their mean.
    pub finished_total_ms: i64,
    pub finished_count: i64,
    /// Milliseconds each of its running jobs has run so far (within the window).
    pub running_ms: Vec<i64>,
    /// When it last had a job start.
    pub last_started_ms: Option<i64>,
}

/// The organisation that gets the next slot (see the module documentation), or `None`
/// when there are no candidates.
pub fn pick<'a>(candidates: &'a [Candidate], usage: &HashMap<String, Usage>) -> Option<&'a str> {
    let (total, count) = usage.values().fold((0i64, 0i64), |(total, count), used| {
        (
            total.saturating_add(used.finished_total_ms),
            count + used.finished_count,
        )
    });
    let overall_mean = if count > 0 { total / count } else { 0 };
    let none = Usage::default();
    let ranked = candidates.iter().map(|candidate| {
        let used = usage.get(&candidate.org_id).unwrap_or(&none);
        let expected = if used.finished_count > 0 {
            used.finished_total_ms / used.finished_count
        } else {
            overall_mean
        };
        let charged = used
            .running_ms
            .iter()
            .fold(used.finished_ms.max(0), |sum, elapsed| {
                sum.saturating_add((*elapsed).max(expected).max(0))
            });
        Ranked {
            candidate,
            weight: candidate.weight.max(1),
            charged,
            running: used.running_ms.len() as i64,
            last_started_ms: used.last_started_ms,
        }
    });
    ranked
        .min_by(Ranked::cmp)
        .map(|ranked| ranked.candidate.org_id.as_str())
}

struct Ranked<'a> {
    candidate: &'a Candidate,
    weight: i64,
    charged: i64,
    running: i64,
    last_started_ms: Option<i64>,
}

impl Ranked<'_> {
    /// Smaller goes first. Ratios are compared by cross-multiplying (exact; weights are
    /// small and positive).
    fn cmp(&self, other: &Self) -> Ordering {
        let per_weight = |a: i64, a_weight: i64, b: i64, b_weight: i64| {
            (i128::from(a) * i128::from(b_weight)).cmp(&(i128::from(b) * i128::from(a_weight)))
        };
        per_weight(self.charged, self.weight, other.charged, other.weight)
            .then_with(|| per_weight(self.running, self.weight, other.running, other.weight))
            // Never served sorts before any time.
            .then_with(|| self.last_started_ms.cmp(&other.last_started_ms))
            .then_with(|| {
                self.candidate
                    .oldest_queued_ms
                    .cmp(&other.candidate.oldest_queued_ms)
            })
            .then_with(|| self.candidate.org_id.cmp(&other.candidate.org_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_follow_the_tier_and_distrust_what_they_do_not_know() {
        let of = |tier: v1::PlanTier| weight(tier as i32);
        assert_eq!(of(v1::PlanTier::Enterprise), 3);
        assert_eq!(of(v1::PlanTier::Ultra), 3);
        assert_eq!(of(v1::PlanTier::Professional), 2);
        assert_eq!(of(v1::PlanTier::Starter), 1);
        assert_eq!(of(v1::PlanTier::Free), 1);
        // Missing (proto3 default) or out of range: the lowest weight, not an error.
        assert_eq!(of(v1::PlanTier::Unspecified), 1);
        for unknown in [6, 99, -1, i32::MAX, i32::MIN] {
            assert_eq!(weight(unknown), 1, "{unknown}");
        }
    }

    fn candidate(org_id: &str, weight: i64, oldest_queued_ms: i64) -> Candidate {
        Candidate {
            org_id: org_id.to_owned(),
            weight,
            oldest_queued_ms,
        }
    }

    #[test]
    fn history_decides_when_nothing_runs() {
        // One slot: a used 3 s at weight 3, b 1.5 s at weight 1: a is charged less.
        let candidates = [candidate("a", 3, 5), candidate("b", 1, 1)];
        let usage = HashMap::from([
            (
                "a".to_owned(),
                Usage {
                    finished_ms: 3_000,
                    finished_total_ms: 3_000,
                    finished_count: 3,
                    running_ms: vec![],
                    last_started_ms: Some(2_000),
                },
            ),
            (
                "b".to_owned(),
                Usage {
                    finished_ms: 1_500,
                    finished_total_ms: 1_500,
                    finished_count: 1,
                    running_ms: vec![],
                    last_started_ms: Some(500),
                },
            ),
        ]);
        // 3000 / 3 < 1500 / 1 (running per weight alone would tie at 0 and serve b, the
        // least recently served).
        assert_eq!(pick(&candidates, &usage), Some("a"));
    }

    #[test]
    fn a_just_started_job_is_charged_its_expected_length() {
        // Both used 1 s at weight 1; a has just started a job (0 ms elapsed) whose expected
        // length (a's mean, 1 s) counts: b goes next.
        let candidates = [candidate("a", 1, 1), candidate("b", 1, 2)];
        let used = |running_ms: Vec<i64>| Usage {
            finished_ms: 1_000,
            finished_total_ms: 1_000,
            finished_count: 1,
            running_ms,
            last_started_ms: Some(0),
        };
        let usage = HashMap::from([
            ("a".to_owned(), used(vec![0])),
            ("b".to_owned(), used(vec![])),
        ]);
        assert_eq!(pick(&candidates, &usage), Some("b"));
    }

    #[test]
    fn ties_go_to_fewer_running_per_weight_then_the_least_recently_served() {
        let candidates = [
            candidate("a", 3, 1),
            candidate("b", 1, 2),
            candidate("c", 1, 3),
        ];
        // Nothing finished: expected length 0, charges all 0. a runs 2 (2/3), b 1 (1/1).
        let usage = HashMap::from([
            (
                "a".to_owned(),
                Usage {
                    running_ms: vec![0, 0],
                    last_started_ms: Some(10),
                    ..Usage::default()
                },
            ),
            (
                "b".to_owned(),
                Usage {
                    running_ms: vec![0],
                    last_started_ms: Some(10),
                    ..Usage::default()
                },
            ),
        ]);
        // c runs nothing: 0 per weight, first.
        assert_eq!(pick(&candidates, &usage), Some("c"));
        assert_eq!(pick(&candidates[..2], &usage), Some("a"));
        assert_eq!(pick(&[], &usage), None);
        // All equal: never served before served, then the oldest queued job.
        let fresh = [candidate("x", 1, 9), candidate("y", 1, 3)];
        assert_eq!(pick(&fresh, &HashMap::new()), Some("y"));
    }
}
