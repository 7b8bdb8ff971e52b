//! Quantile and search tables of inputs sampled on the GPU (built on the host in f64).
