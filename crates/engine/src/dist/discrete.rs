#![allow(unused_variables, dead_code)]
use super::{DistributionError, Univariate};

/// TODO(helper): implement.
#[derive(Debug, Clone, PartialEq)]
pub struct Bernoulli {
    params: Vec<f64>,
}

impl Bernoulli {
    pub fn new(p: f64) -> Result<Self, DistributionError> {
        todo!()
    }
}

impl Univariate for Bernoulli {
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
    fn is_discrete(&self) -> bool {
        true
    }
}

/// TODO(helper): implement.
#[derive(Debug, Clone, PartialEq)]
pub struct Binomial {
    params: Vec<f64>,
}

impl Binomial {
    pub fn new(n: f64, p: f64) -> Result<Self, DistributionError> {
        todo!()
    }
}

impl Univariate for Binomial {
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
    fn is_discrete(&self) -> bool {
        true
    }
}

/// TODO(helper): implement.
#[derive(Debug, Clone, PartialEq)]
pub struct Poisson {
    params: Vec<f64>,
}

impl Poisson {
    pub fn new(lambda: f64) -> Result<Self, DistributionError> {
        todo!()
    }
}

impl Univariate for Poisson {
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
    fn is_discrete(&self) -> bool {
        true
    }
}

/// TODO(helper): implement.
#[derive(Debug, Clone, PartialEq)]
pub struct Geometric {
    params: Vec<f64>,
}

impl Geometric {
    pub fn new(p: f64) -> Result<Self, DistributionError> {
        todo!()
    }
}

impl Univariate for Geometric {
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
    fn is_discrete(&self) -> bool {
        true
    }
}

/// TODO(helper): implement.
#[derive(Debug, Clone, PartialEq)]
pub struct NegativeBinomial {
    params: Vec<f64>,
}

impl NegativeBinomial {
    pub fn new(s: f64, p: f64) -> Result<Self, DistributionError> {
        todo!()
    }
}

impl Univariate for NegativeBinomial {
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
    fn is_discrete(&self) -> bool {
        true
    }
}

/// TODO(helper): implement.
#[derive(Debug, Clone, PartialEq)]
pub struct IntUniform {
    params: Vec<f64>,
}

impl IntUniform {
    pub fn new(min: f64, max: f64) -> Result<Self, DistributionError> {
        todo!()
    }
}

impl Univariate for IntUniform {
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
    fn is_discrete(&self) -> bool {
        true
    }
}

/// TODO(helper): implement.
#[derive(Debug, Clone, PartialEq)]
pub struct Discrete {
    params: Vec<f64>,
}

impl Discrete {
    pub fn new(values: &[f64], weights: &[f64]) -> Result<Self, DistributionError> {
        todo!()
    }
}

impl Univariate for Discrete {
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
    fn is_discrete(&self) -> bool {
        true
    }
}

