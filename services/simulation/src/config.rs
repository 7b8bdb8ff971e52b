//! The simulation service's settings, read from `ULTRA_*` variables passed in as a map (so
//! that tests and `ultra serve` hand in their own environment).

use std::collections::HashMap;
use std::time::Duration;

/// Where the simulation service keeps its jobs, whom it talks to, and how hard it works.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `ULTRA_SIMULATION_DATABASE_URL` (default `sqlite://data/simulation.db`): the jobs
    /// table, the model snapshots of unfinished jobs and the outbox.
    pub database_url: String,
    /// Pool size and start-up wait ([`ultra_store::DbOptions::from_env`]):
    /// `ULTRA_SIMULATION_DB_MAX_CONNECTIONS` or `ULTRA_DB_MAX_CONNECTIONS`,
    /// `ULTRA_DB_STARTUP_TIMEOUT_MS`, `ULTRA_DB_ACQUIRE_TIMEOUT_MS`.
    pub db_options: ultra_store::DbOptions,
    /// `ULTRA_FILES_URL` (required): the files service, for the compiled models.
    pub files_url: String,
    /// `ULTRA_RESULTS_URL` (required): the results service, where finished runs are stored.
    pub results_url: String,
    /// `ULTRA_MAX_ITERATIONS` (default 10,000,000): the largest request accepted; the engine
    /// keeps every sample in memory, so this bounds a job's memory.
    pub max_iterations: u64,
    /// `ULTRA_SIMULATION_WORKERS` (default 1): jobs run at the same time by this process.
    /// Each job already uses every core, so more workers mostly help small jobs.
    pub workers: usize,
    /// `ULTRA_SIMULATION_THREADS` (default: every core): engine threads per job.
    pub engine_threads: Option<usize>,
    /// `ULTRA_SIMULATION_NICE` (default 10, 0 to 19; Linux): the nice value of the engine
    /// threads, so that a long run takes only otherwise idle CPU from the RPC and HTTP
    /// runtimes (progress polls stay fast) and still gets every core when nothing else runs.
    pub engine_nice: u8,
    /// `ULTRA_SIMULATION_MAX_ATTEMPTS` (default 3): a job interrupted this many times (crash
    /// or shutdown while running) is failed instead of queued again.
    pub max_attempts: u32,
    /// `ULTRA_SIMULATION_INSTANCE_ID` (default `HOSTNAME`, else `local`): names this process
    /// in the jobs it runs, so that on restart it recognises its own orphans at once.
    pub instance_id: String,
    /// `ULTRA_SIMULATION_LEASE_MS` (default 30,000): a running job whose heartbeat is older
    /// than this is taken for orphaned (its process died) and recovered by any instance.
    pub lease: Duration,
    /// `ULTRA_SIMULATION_PROGRESS_MS` (default 100): how often progress is written and
    /// broadcast while a job runs.
    pub progress_interval: Duration,
    /// `ULTRA_SIMULATION_FAIR_SHARE_WINDOW_MS` (default 600,000: ten minutes): how much
    /// history the weighted fair share counts. Longer evens out shares over longer spans;
    /// shorter forgets sooner, so that an organisation back from idle catches up on less.
    pub fair_share_window: Duration,
    /// `ULTRA_SERVICE_SECRET`: verifies the signed caller metadata of requests and signs
    /// the calls to files and results (`ultra_rpc::CallerAuth`); unset: the caller in the
    /// message is trusted and nothing is signed (tests).
    pub caller_auth: ultra_rpc::CallerAuth,
    /// `ULTRA_SIMULATION_SAMPLES_URL` (default none: raw samples are not kept): the object
    /// store (`file:///PATH`, `s3://BUCKET/PREFIX`, `gs://BUCKET/PREFIX`, see
    /// [`ultra_store::ObjectStore::from_url`]) where each finished run's raw output samples
    /// are written, one object per run (`crate::samples`).
    pub samples_url: Option<String>,
    /// The plans' limits (`ULTRA_PLAN_LIMITS`, JSON overrides by tier of the compiled-in
    /// table, the same variable the gateway reads): each submission is held to its
    /// organisation's tier for iterations per run and simulations queued or running at
    /// once. `None` (what [`Config::new`] gives tests of this service alone): not enforced.
    pub plan_limits: Option<ultra_auth::PlanLimitsTable>,
}

/// A setting that is missing or unreadable, named by its variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is required")]
    Missing(&'static str),
    #[error("{variable}={value:?} is invalid: {reason}")]
    Invalid {
        variable: &'static str,
        value: String,
        reason: &'static str,
    },
    #[error(transparent)]
    Database(#[from] ultra_store::DbConfigError),
    #[error("ULTRA_SIMULATION_SAMPLES_URL is invalid: {0}")]
    SamplesUrl(String),
    #[error("ULTRA_PLAN_LIMITS is invalid: {0}")]
    PlanLimits(#[from] ultra_auth::PlanLimitsError),
}

impl Config {
    pub fn from_env(env: &HashMap<String, String>) -> Result<Config, ConfigError> {
        let lookup = |name: &str| env.get(name).filter(|value| !value.trim().is_empty());
        let required = |name: &'static str| {
            lookup(name)
                .map(|value| value.trim().to_owned())
                .ok_or(ConfigError::Missing(name))
        };
        let positive = |name: &'static str, default: u64| -> Result<u64, ConfigError> {
            match lookup(name) {
                None => Ok(default),
                Some(value) => match value.trim().replace('_', "").parse::<u64>() {
                    Ok(parsed) if parsed > 0 => Ok(parsed),
                    _ => Err(ConfigError::Invalid {
                        variable: name,
                        value: value.clone(),
                        reason: "expected a positive integer",
                    }),
                },
            }
        };
        let database_url = lookup("ULTRA_SIMULATION_DATABASE_URL")
            .map(|value| value.trim().to_owned())
            .unwrap_or_else(|| "sqlite://data/simulation.db".to_owned());
        let defaults = Config::new(
            &database_url,
            &required("ULTRA_FILES_URL")?,
            &required("ULTRA_RESULTS_URL")?,
        );
        let engine_threads = match lookup("ULTRA_SIMULATION_THREADS") {
            None => None,
            Some(_) => Some(to_usize(
                "ULTRA_SIMULATION_THREADS",
                positive("ULTRA_SIMULATION_THREADS", 1)?,
            )?),
        };
        let max_attempts = positive(
            "ULTRA_SIMULATION_MAX_ATTEMPTS",
            u64::from(defaults.max_attempts),
        )?;
        Ok(Config {
            db_options: ultra_store::DbOptions::from_env(env, "simulation")?,
            max_iterations: positive("ULTRA_MAX_ITERATIONS", defaults.max_iterations)?,
            workers: to_usize(
                "ULTRA_SIMULATION_WORKERS",
                positive("ULTRA_SIMULATION_WORKERS", defaults.workers as u64)?,
            )?,
            engine_threads,
            engine_nice: match lookup("ULTRA_SIMULATION_NICE") {
                None => defaults.engine_nice,
                Some(value) => value
                    .trim()
                    .parse::<u8>()
                    .ok()
                    .filter(|nice| *nice <= 19)
                    .ok_or_else(|| ConfigError::Invalid {
                        variable: "ULTRA_SIMULATION_NICE",
                        value: value.clone(),
                        reason: "expected 0 to 19",
                    })?,
            },
            max_attempts: u32::try_from(max_attempts).map_err(|_| ConfigError::Invalid {
                variable: "ULTRA_SIMULATION_MAX_ATTEMPTS",
                value: max_attempts.to_string(),
                reason: "too large",
            })?,
            instance_id: lookup("ULTRA_SIMULATION_INSTANCE_ID")
                .or_else(|| lookup("HOSTNAME"))
                .map(|value| value.trim().to_owned())
                .unwrap_or(defaults.instance_id.clone()),
            lease: duration_ms("ULTRA_SIMULATION_LEASE_MS", defaults.lease, &positive)?,
            progress_interval: duration_ms(
                "ULTRA_SIMULATION_PROGRESS_MS",
                defaults.progress_interval,
                &positive,
            )?,
            fair_share_window: duration_ms(
                "ULTRA_SIMULATION_FAIR_SHARE_WINDOW_MS",
                defaults.fair_share_window,
                &positive,
            )?,
            caller_auth: ultra_rpc::CallerAuth::from_env(env).map_err(|reason| {
                ConfigError::Invalid {
                    variable: ultra_rpc::SERVICE_SECRET_ENV,
                    value: "<redacted>".to_owned(),
                    reason,
                }
            })?,
            samples_url: match lookup("ULTRA_SIMULATION_SAMPLES_URL") {
                None => None,
                Some(url) => {
                    let url = url.trim();
                    ultra_store::ObjectStore::check_url(url)
                        .map_err(|error| ConfigError::SamplesUrl(error.to_string()))?;
                    Some(url.to_owned())
                }
            },
            plan_limits: Some(ultra_auth::PlanLimitsTable::from_overrides(
                env.get(ultra_auth::PLAN_LIMITS_ENV).map(String::as_str),
            )?),
            ..defaults
        })
    }

    /// A configuration for one process with the given database and peers, other settings
    /// at their defaults (what `ultra serve` and the tests start from).
    pub fn new(database_url: &str, files_url: &str, results_url: &str) -> Config {
        Config {
            database_url: database_url.to_owned(),
            db_options: ultra_store::DbOptions::default(),
            files_url: files_url.to_owned(),
            results_url: results_url.to_owned(),
            max_iterations: 10_000_000,
            workers: 1,
            engine_threads: None,
            engine_nice: 10,
            max_attempts: 3,
            instance_id: "local".to_owned(),
            lease: Duration::from_secs(30),
            progress_interval: Duration::from_millis(100),
            fair_share_window: Duration::from_secs(600),
            caller_auth: ultra_rpc::CallerAuth::disabled(),
            samples_url: None,
            plan_limits: None,
        }
    }
}

fn duration_ms(
    variable: &'static str,
    default: Duration,
    positive: &dyn Fn(&'static str, u64) -> Result<u64, ConfigError>,
) -> Result<Duration, ConfigError> {
    let millis = u64::try_from(default.as_millis()).unwrap_or(u64::MAX);
    Ok(Duration::from_millis(positive(variable, millis)?))
}

fn to_usize(variable: &'static str, value: u64) -> Result<usize, ConfigError> {
    usize::try_from(value).map_err(|_| ConfigError::Invalid {
        variable,
        value: value.to_string(),
        reason: "too large",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_apply_and_peers_are_required() {
        let base = [
            ("ULTRA_FILES_URL", "http://127.0.0.1:1"),
            ("ULTRA_RESULTS_URL", "http://127.0.0.1:2"),
        ];
        let config = Config::from_env(&env(&base)).expect("valid");
        assert_eq!(config.max_iterations, 10_000_000);
        assert_eq!(config.workers, 1);
        assert_eq!(config.instance_id, "local");
        assert_eq!(
            Config::from_env(&env(&base[..1])),
            Err(ConfigError::Missing("ULTRA_RESULTS_URL"))
        );
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        let error = Config::from_env(&env(&[
            ("ULTRA_FILES_URL", "http://127.0.0.1:1"),
            ("ULTRA_RESULTS_URL", "http://127.0.0.1:2"),
            ("ULTRA_SIMULATION_WORKERS", "0"),
        ]))
        .expect_err("zero workers");
        assert!(error.to_string().contains("ULTRA_SIMULATION_WORKERS"));
    }
}
