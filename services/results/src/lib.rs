//! Results service: statistics and sensitivity of finished runs.
