#![allow(unused_variables, dead_code)]
use super::{DistributionError, Univariate};

use super::Triangular;

/// TODO(helper): implement.
#[derive(Debug, Clone, PartialEq)]
pub struct Cumulative {
    params: Vec<f64>,
}

impl Cumulative {
    pub fn new(min: f64, max: f64, xs: &[f64], ps: &[f64]) -> Result<Self, DistributionError> {
        todo!()
    }
}

impl Univariate for Cumulative {
    fn inverse_cdf(&self, _p: f64) -> f64 {
        todo!()
    }
    fn cdf(&self, _x: f64) -> f64 {
        todo!()
    }
    fn mean(&self) -> f64 {
        todo!()
    }
    fn variance(&self) -> f64 {
        todo!()
    }
}

/// TODO(helper): implement.
#[derive(Debug, Clone, PartialEq)]
pub struct General {
    params: Vec<f64>,
}

impl General {
    pub fn new(min: f64, max: f64, xs: &[f64], densities: &[f64]) -> Result<Self, DistributionError> {
        todo!()
    }
}

impl Univariate for General {
    fn inverse_cdf(&self, _p: f64) -> f64 {
        todo!()
    }
    fn cdf(&self, _x: f64) -> f64 {
        todo!()
    }
    fn mean(&self) -> f64 {
        todo!()
    }
    fn variance(&self) -> f64 {
        todo!()
    }
}

/// TODO(helper): implement.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    params: Vec<f64>,
}

impl Histogram {
    pub fn new(min: f64, max: f64, probabilities: &[f64]) -> Result<Self, DistributionError> {
        todo!()
    }
}

impl Univariate for Histogram {
    fn inverse_cdf(&self, _p: f64) -> f64 {
        todo!()
    }
    fn cdf(&self, _x: f64) -> f64 {
        todo!()
    }
    fn mean(&self) -> f64 {
        todo!()
    }
    fn variance(&self) -> f64 {
        todo!()
    }
}

/// The triangular distribution whose `bottom_probability` and `top_probability` quantiles
/// are `bottom` and `top` (`RiskTrigen`).
pub fn trigen(
    bottom: f64,
    mode: f64,
    top: f64,
    bottom_probability: f64,
    top_probability: f64,
) -> Result<Triangular, DistributionError> {
    todo!()
}
