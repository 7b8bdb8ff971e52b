//! What each plan tier is allowed: one table, here, so that every process that enforces a
//! limit (the gateway's request rate; later the users service's member count, the
//! simulation service's concurrency and iterations, the files service's storage) reads the
//! same numbers from the same place and the same override.
//!
//! The defaults are compiled in ([`PlanLimitsTable::default`]); an operator changes any of
//! them with one environment variable, [`PLAN_LIMITS_ENV`], holding a JSON object of
//! partial overrides by tier, e.g.
//! `{"free": {"api_requests_per_minute": 120}, "ultra": {"max_members": 50000}}`.
//! Unknown tiers or fields and zero values are refused with an error that names them, so a
//! typo cannot silently leave a default in force.

use serde::{Deserialize, Serialize};

use crate::PlanTier;

/// The variable that overrides the table (see the module documentation).
pub const PLAN_LIMITS_ENV: &str = "ULTRA_PLAN_LIMITS";

const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;

/// The limits of one plan tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PlanLimits {
    /// Members (users) of one organisation.
    pub max_members: u32,
    /// Simulations of one organisation queued or running at once.
    pub max_concurrent_simulations: u32,
    /// Iterations of one simulation run.
    pub max_iterations_per_run: u64,
    /// Bytes of stored models and results of one organisation.
    pub max_storage_bytes: u64,
    /// Sustained REST requests per minute of one organisation: the refill rate of its
    /// token bucket at the gateway.
    pub api_requests_per_minute: u32,
    /// The token bucket's capacity: how many requests an idle organisation may send at once.
    /// One minute's worth by default, so a client that stays within its per-minute rate is
    /// never refused however it bunches its requests inside the minute.
    pub api_burst: u32,
}

/// The limits of every tier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanLimitsTable {
    pub free: PlanLimits,
    pub starter: PlanLimits,
    pub professional: PlanLimits,
    pub enterprise: PlanLimits,
    pub ultra: PlanLimits,
}

impl Default for PlanLimitsTable {
    /// The compiled-in plans (README, "Plans and limits"). Each tier at least matches the
    /// one below it, so an upgrade never takes anything away.
    fn default() -> PlanLimitsTable {
        PlanLimitsTable {
            free: PlanLimits {
                max_members: 3,
                max_concurrent_simulations: 1,
                max_iterations_per_run: 1_000_000,
                max_storage_bytes: 100 * MIB,
                api_requests_per_minute: 60,
                api_burst: 60,
            },
            starter: PlanLimits {
                max_members: 10,
                max_concurrent_simulations: 2,
                max_iterations_per_run: 10_000_000,
                max_storage_bytes: GIB,
                api_requests_per_minute: 300,
                api_burst: 300,
            },
            professional: PlanLimits {
                max_members: 50,
                max_concurrent_simulations: 5,
                max_iterations_per_run: 100_000_000,
                max_storage_bytes: 10 * GIB,
                api_requests_per_minute: 1_200,
                api_burst: 1_200,
            },
            enterprise: PlanLimits {
                max_members: 500,
                max_concurrent_simulations: 20,
                max_iterations_per_run: 1_000_000_000,
                max_storage_bytes: 100 * GIB,
                api_requests_per_minute: 3_000,
                api_burst: 3_000,
            },
            ultra: PlanLimits {
                max_members: 10_000,
                max_concurrent_simulations: 100,
                max_iterations_per_run: 10_000_000_000,
                max_storage_bytes: 1024 * GIB,
                api_requests_per_minute: 6_000,
                api_burst: 6_000,
            },
        }
    }
}

/// Why an override of the table was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanLimitsError {
    /// Not JSON, or not the expected shape: an unknown tier or field, a negative or
    /// fractional number (serde's message names it and its position).
    #[error("expected a JSON object of overrides by tier: {0}")]
    Json(String),
    /// A limit of zero would lock the tier out entirely; that is never what was meant.
    #[error("{tier}.{field} must be at least 1")]
    Zero { tier: PlanTier, field: &'static str },
}

/// Some limits of one tier; absent fields keep their current value.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsOverride {
    max_members: Option<u32>,
    max_concurrent_simulations: Option<u32>,
    max_iterations_per_run: Option<u64>,
    max_storage_bytes: Option<u64>,
    api_requests_per_minute: Option<u32>,
    api_burst: Option<u32>,
}

/// Overrides by tier, named as in tokens and the database (`"free"`, ...).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TableOverride {
    free: Option<LimitsOverride>,
    starter: Option<LimitsOverride>,
    professional: Option<LimitsOverride>,
    enterprise: Option<LimitsOverride>,
    ultra: Option<LimitsOverride>,
}

impl PlanLimits {
    fn apply(&mut self, tier: PlanTier, change: &LimitsOverride) -> Result<(), PlanLimitsError> {
        fn set<T: Copy + PartialEq + From<u8>>(
            slot: &mut T,
            value: Option<T>,
            tier: PlanTier,
            field: &'static str,
        ) -> Result<(), PlanLimitsError> {
            match value {
                Some(value) if value == T::from(0) => Err(PlanLimitsError::Zero { tier, field }),
                Some(value) => {
                    *slot = value;
                    Ok(())
                }
                None => Ok(()),
            }
        }
        set(
            &mut self.max_members,
            change.max_members,
            tier,
            "max_members",
        )?;
        set(
            &mut self.max_concurrent_simulations,
            change.max_concurrent_simulations,
            tier,
            "max_concurrent_simulations",
        )?;
        set(
            &mut self.max_iterations_per_run,
            change.max_iterations_per_run,
            tier,
            "max_iterations_per_run",
        )?;
        set(
            &mut self.max_storage_bytes,
            change.max_storage_bytes,
            tier,
            "max_storage_bytes",
        )?;
        set(
            &mut self.api_requests_per_minute,
            change.api_requests_per_minute,
            tier,
            "api_requests_per_minute",
        )?;
        // The burst follows a changed rate unless it is given too: "one minute's worth"
        // stays true for an operator who only raises the rate.
        let burst = change.api_burst.or(change.api_requests_per_minute);
        set(&mut self.api_burst, burst, tier, "api_burst")
    }
}

impl PlanLimitsTable {
    /// The limits of `tier`.
    pub fn get(&self, tier: PlanTier) -> &PlanLimits {
        match tier {
            PlanTier::Free => &self.free,
            PlanTier::Starter => &self.starter,
            PlanTier::Professional => &self.professional,
            PlanTier::Enterprise => &self.enterprise,
            PlanTier::Ultra => &self.ultra,
        }
    }

    fn get_mut(&mut self, tier: PlanTier) -> &mut PlanLimits {
        match tier {
            PlanTier::Free => &mut self.free,
            PlanTier::Starter => &mut self.starter,
            PlanTier::Professional => &mut self.professional,
            PlanTier::Enterprise => &mut self.enterprise,
            PlanTier::Ultra => &mut self.ultra,
        }
    }

    /// This table with the overrides of `json` (the value of [`PLAN_LIMITS_ENV`]) applied;
    /// blank text changes nothing.
    pub fn with_overrides(mut self, json: &str) -> Result<PlanLimitsTable, PlanLimitsError> {
        if json.trim().is_empty() {
            return Ok(self);
        }
        let overrides: TableOverride =
            serde_json::from_str(json).map_err(|error| PlanLimitsError::Json(error.to_string()))?;
        let by_tier = [
            (PlanTier::Free, overrides.free),
            (PlanTier::Starter, overrides.starter),
            (PlanTier::Professional, overrides.professional),
            (PlanTier::Enterprise, overrides.enterprise),
            (PlanTier::Ultra, overrides.ultra),
        ];
        for (tier, change) in by_tier {
            if let Some(change) = change {
                self.get_mut(tier).apply(tier, &change)?;
            }
        }
        Ok(self)
    }

    /// The default table with the overrides of `json`, if any: what a process reads from
    /// [`PLAN_LIMITS_ENV`].
    pub fn from_overrides(json: Option<&str>) -> Result<PlanLimitsTable, PlanLimitsError> {
        PlanLimitsTable::default().with_overrides(json.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_grow_with_the_tier() {
        let table = PlanLimitsTable::default();
        assert_eq!(table.get(PlanTier::Free).api_requests_per_minute, 60);
        assert_eq!(table.get(PlanTier::Ultra).api_requests_per_minute, 6_000);
        for pair in PlanTier::ALL.windows(2) {
            let (lower, higher) = (table.get(pair[0]), table.get(pair[1]));
            assert!(higher.max_members >= lower.max_members, "{pair:?}");
            assert!(higher.max_concurrent_simulations >= lower.max_concurrent_simulations);
            assert!(higher.max_iterations_per_run >= lower.max_iterations_per_run);
            assert!(higher.max_storage_bytes >= lower.max_storage_bytes);
            assert!(higher.api_requests_per_minute >= lower.api_requests_per_minute);
        }
        for tier in PlanTier::ALL {
            let limits = table.get(tier);
            assert_eq!(limits.api_burst, limits.api_requests_per_minute, "{tier}");
        }
    }

    #[test]
    fn overrides_change_only_what_they_name() {
        let table = PlanLimitsTable::from_overrides(Some(
            r#"{"free": {"api_requests_per_minute": 300, "api_burst": 5},
                "ultra": {"max_members": 50000}}"#,
        ))
        .expect("valid");
        let defaults = PlanLimitsTable::default();
        assert_eq!(table.free.api_requests_per_minute, 300);
        assert_eq!(table.free.api_burst, 5);
        assert_eq!(table.free.max_members, defaults.free.max_members);
        assert_eq!(table.ultra.max_members, 50_000);
        assert_eq!(table.ultra.api_burst, defaults.ultra.api_burst);
        assert_eq!(table.starter, defaults.starter);
        // A rate given alone carries the burst with it.
        let table = PlanLimitsTable::from_overrides(Some(
            r#"{"starter": {"api_requests_per_minute": 1000}}"#,
        ))
        .expect("valid");
        assert_eq!(
            (
                table.starter.api_requests_per_minute,
                table.starter.api_burst
            ),
            (1000, 1000)
        );
        assert_eq!(PlanLimitsTable::from_overrides(None), Ok(defaults.clone()));
        assert_eq!(PlanLimitsTable::from_overrides(Some("  ")), Ok(defaults));
    }

    #[test]
    fn bad_overrides_are_refused_with_the_reason() {
        let refused = |json: &str| {
            PlanLimitsTable::from_overrides(Some(json))
                .expect_err(json)
                .to_string()
        };
        assert!(refused("{").contains("JSON"));
        assert!(refused("[1, 2]").contains("expected"));
        let unknown_tier = refused(r#"{"gold": {"max_members": 3}}"#);
        assert!(unknown_tier.contains("gold"), "{unknown_tier}");
        let unknown_field = refused(r#"{"free": {"rpm": 3}}"#);
        assert!(unknown_field.contains("rpm"), "{unknown_field}");
        let negative = refused(r#"{"free": {"max_members": -1}}"#);
        assert!(negative.contains("-1"), "{negative}");
        let fractional = refused(r#"{"free": {"api_requests_per_minute": 1.5}}"#);
        assert!(fractional.contains("1.5"), "{fractional}");
        assert_eq!(
            refused(r#"{"professional": {"api_requests_per_minute": 0}}"#),
            "professional.api_requests_per_minute must be at least 1"
        );
        assert_eq!(
            refused(r#"{"free": {"api_burst": 0}}"#),
            "free.api_burst must be at least 1"
        );
    }
}
