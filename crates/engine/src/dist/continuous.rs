#![allow(unused_variables, dead_code)]
use super::{DistributionError, Univariate};

/// TODO(helper): implement.
#[derive(Debug, Clone, PartialEq)]
pub struct Normal {
    params: Vec<f64>,
}

impl Normal {
    pub fn new(mean: f64, sd: f64) -> Result<Self, DistributionError> {
        todo!()
    }
}

impl Univariate for Normal {
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
pub struct Lognormal {
    params: Vec<f64>,
}

impl Lognormal {
    pub fn from_mean_sd(mean: f64, sd: f64) -> Result<Self, DistributionError> {
        todo!()
    }
    pub fn from_mu_sigma(mu: f64, sigma: f64) -> Result<Self, DistributionError> {
        todo!()
    }
}

impl Univariate for Lognormal {
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
pub struct Uniform {
    params: Vec<f64>,
}

impl Uniform {
    pub fn new(min: f64, max: f64) -> Result<Self, DistributionError> {
        todo!()
    }
}

impl Univariate for Uniform {
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
pub struct Triangular {
    params: Vec<f64>,
}

impl Triangular {
    pub fn new(min: f64, mode: f64, max: f64) -> Result<Self, DistributionError> {
        todo!()
    }
}

impl Univariate for Triangular {
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
pub struct Beta {
    params: Vec<f64>,
}

impl Beta {
    pub fn new(alpha1: f64, alpha2: f64, min: f64, max: f64) -> Result<Self, DistributionError> {
        todo!()
    }
    pub fn pert(min: f64, mode: f64, max: f64, shape: f64) -> Result<Self, DistributionError> {
        todo!()
    }
}

impl Univariate for Beta {
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
pub struct Gamma {
    params: Vec<f64>,
}

impl Gamma {
    pub fn new(shape: f64, scale: f64) -> Result<Self, DistributionError> {
        todo!()
    }
    pub fn erlang(m: f64, scale: f64) -> Result<Self, DistributionError> {
        todo!()
    }
    pub fn chi_square(nu: f64) -> Result<Self, DistributionError> {
        todo!()
    }
}

impl Univariate for Gamma {
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
pub struct Exponential {
    params: Vec<f64>,
}

impl Exponential {
    pub fn new(mean: f64) -> Result<Self, DistributionError> {
        todo!()
    }
}

impl Univariate for Exponential {
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
pub struct Weibull {
    params: Vec<f64>,
}

impl Weibull {
    pub fn new(shape: f64, scale: f64) -> Result<Self, DistributionError> {
        todo!()
    }
}

impl Univariate for Weibull {
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
pub struct Logistic {
    params: Vec<f64>,
}

impl Logistic {
    pub fn new(location: f64, scale: f64) -> Result<Self, DistributionError> {
        todo!()
    }
}

impl Univariate for Logistic {
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
pub struct LogLogistic {
    params: Vec<f64>,
}

impl LogLogistic {
    pub fn new(location: f64, scale: f64, shape: f64) -> Result<Self, DistributionError> {
        todo!()
    }
}

impl Univariate for LogLogistic {
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
pub struct StudentT {
    params: Vec<f64>,
}

impl StudentT {
    pub fn new(nu: f64) -> Result<Self, DistributionError> {
        todo!()
    }
}

impl Univariate for StudentT {
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
pub struct Pareto {
    params: Vec<f64>,
}

impl Pareto {
    pub fn new(theta: f64, a: f64) -> Result<Self, DistributionError> {
        todo!()
    }
}

impl Univariate for Pareto {
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
pub struct Gumbel {
    params: Vec<f64>,
}

impl Gumbel {
    pub fn new(location: f64, scale: f64) -> Result<Self, DistributionError> {
        todo!()
    }
}

impl Univariate for Gumbel {
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

