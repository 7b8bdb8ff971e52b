//! An organisation's plan tier. The users service stores it and signs it into access
//! tokens, so that the gateway (and through it the simulation service's fair-share queue)
//! knows the caller's tier without a call to the users service.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

use crate::AuthError;

/// A plan tier (serialised as in the database and the JWT: `"free"`, `"enterprise"`, ...).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanTier {
    /// What every new organisation starts on.
    #[default]
    Free,
    Starter,
    Professional,
    Enterprise,
    Ultra,
}

impl PlanTier {
    pub const ALL: [PlanTier; 5] = [
        PlanTier::Free,
        PlanTier::Starter,
        PlanTier::Professional,
        PlanTier::Enterprise,
        PlanTier::Ultra,
    ];

    /// The stored and serialised name.
    pub fn as_str(self) -> &'static str {
        match self {
            PlanTier::Free => "free",
            PlanTier::Starter => "starter",
            PlanTier::Professional => "professional",
            PlanTier::Enterprise => "enterprise",
            PlanTier::Ultra => "ultra",
        }
    }

    /// The tier of the gRPC contracts.
    pub fn to_proto(self) -> ultra_proto::v1::PlanTier {
        match self {
            PlanTier::Free => ultra_proto::v1::PlanTier::Free,
            PlanTier::Starter => ultra_proto::v1::PlanTier::Starter,
            PlanTier::Professional => ultra_proto::v1::PlanTier::Professional,
            PlanTier::Enterprise => ultra_proto::v1::PlanTier::Enterprise,
            PlanTier::Ultra => ultra_proto::v1::PlanTier::Ultra,
        }
    }

    /// From the gRPC contracts; `PLAN_TIER_UNSPECIFIED` is no tier.
    pub fn from_proto(tier: ultra_proto::v1::PlanTier) -> Option<PlanTier> {
        match tier {
            ultra_proto::v1::PlanTier::Unspecified => None,
            ultra_proto::v1::PlanTier::Free => Some(PlanTier::Free),
            ultra_proto::v1::PlanTier::Starter => Some(PlanTier::Starter),
            ultra_proto::v1::PlanTier::Professional => Some(PlanTier::Professional),
            ultra_proto::v1::PlanTier::Enterprise => Some(PlanTier::Enterprise),
            ultra_proto::v1::PlanTier::Ultra => Some(PlanTier::Ultra),
        }
    }
}

impl fmt::Display for PlanTier {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

impl FromStr for PlanTier {
    type Err = AuthError;

    fn from_str(name: &str) -> Result<PlanTier, AuthError> {
        PlanTier::ALL
            .into_iter()
            .find(|tier| tier.as_str() == name)
            .ok_or_else(|| AuthError::UnknownPlanTier(name.to_owned()))
    }
}

/// The `plan` claim, leniently: a tier name this build does not know (a token from a newer
/// issuer during a rolling upgrade) reads as no tier instead of refusing an otherwise valid
/// token; whoever uses the tier then treats it as the lowest.
pub(crate) fn lenient<'de, D>(deserializer: D) -> Result<Option<PlanTier>, D::Error>
where
    D: Deserializer<'de>,
{
    let name = Option::<String>::deserialize(deserializer)?;
    Ok(name.and_then(|name| name.parse().ok()))
}
