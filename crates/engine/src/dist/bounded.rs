#![allow(unused_variables, dead_code)]
//! Truncation (`RiskTruncate`) and shift (`RiskShift`) around any distribution.

use super::{Distribution, DistributionError, Univariate};

/// A model input: a base distribution, optionally truncated to `[lower, upper]` (in the
/// shifted scale, as the user sees values) and shifted by `shift`.
#[derive(Debug, Clone, PartialEq)]
pub struct InputDistribution {
    base: Distribution,
}

impl InputDistribution {
    pub fn new(
        base: Distribution,
        lower: Option<f64>,
        upper: Option<f64>,
        shift: Option<f64>,
    ) -> Result<Self, DistributionError> {
        todo!()
    }

    /// The untruncated, unshifted distribution.
    pub fn base(&self) -> &Distribution {
        &self.base
    }
}

impl Univariate for InputDistribution {
    fn inverse_cdf(&self, p: f64) -> f64 {
        todo!()
    }
    fn cdf(&self, x: f64) -> f64 {
        todo!()
    }
    fn mean(&self) -> f64 {
        todo!()
    }
    fn variance(&self) -> f64 {
        todo!()
    }
    fn is_discrete(&self) -> bool {
        self.base.is_discrete()
    }
}
