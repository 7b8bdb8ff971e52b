//! Datasets shared by the stats tests, generated bit for bit like
//! scripts/reference/stats_reference.py (SplitMix64, correctly rounded operations only).

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (-53f64).exp2()
    }

    /// Irwin-Hall approximation of a standard normal (sum of 12 uniforms - 6).
    pub fn normal(&mut self) -> f64 {
        let mut acc = 0.0;
        for _ in 0..12 {
            acc += self.uniform();
        }
        acc - 6.0
    }

    /// Exact standard normal by Box-Muller (for closed-form checks, not cross-language).
    pub fn box_muller(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform();
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

pub fn normal_nan() -> Vec<f64> {
    let mut g = SplitMix64::new(1);
    let mut x: Vec<f64> = (0..50_000).map(|_| 10.0 + 3.0 * g.normal()).collect();
    for (i, v) in x.iter_mut().enumerate() {
        if i % 997 == 13 {
            *v = f64::NAN;
        }
    }
    x[4242] = f64::INFINITY;
    x[777] = f64::NEG_INFINITY;
    x
}

pub fn skewed_ties() -> Vec<f64> {
    let mut g = SplitMix64::new(2);
    (0..20_000)
        .map(|_| (4.0 / (g.uniform() + 0.05)).floor() / 4.0)
        .collect()
}

pub fn discrete() -> Vec<f64> {
    let mut g = SplitMix64::new(3);
    (0..10_000).map(|_| (g.uniform() * 5.0).floor()).collect()
}

pub fn spike() -> Vec<f64> {
    let mut g = SplitMix64::new(4);
    (0..12_345)
        .map(|_| {
            let (u, v) = (g.uniform(), g.uniform());
            if u < 0.9 { 0.0 } else { v * 10.0 }
        })
        .collect()
}

/// (inputs x0..x3, outputs y0..y2) of the sensitivity reference.
pub fn sensitivity_data() -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
    let mut g = SplitMix64::new(5);
    let n = 30_000;
    let mut x = (0..4)
        .map(|_| Vec::with_capacity(n))
        .collect::<Vec<Vec<f64>>>();
    let mut y = (0..3)
        .map(|_| Vec::with_capacity(n))
        .collect::<Vec<Vec<f64>>>();
    for _ in 0..n {
        let x0 = g.normal();
        let x1 = g.uniform();
        let x2 = (g.uniform() * 5.0).floor();
        let x3 = g.normal();
        let e0 = g.normal();
        let e1 = g.normal();
        x[0].push(x0);
        x[1].push(x1);
        x[2].push(x2);
        x[3].push(x3);
        y[0].push(3.0 * x0 + 2.0 * x1 + x2 + 0.5 * e0);
        y[1].push(x0 * x3 + x1 / (x2 + 1.0) + 0.1 * e1);
        y[2].push(x2 * 2.0);
    }
    for i in (7..n).step_by(1009) {
        y[1][i] = f64::NAN;
    }
    x[3][12345] = f64::NAN;
    x[1][20000] = f64::INFINITY;
    (x, y)
}

/// Standard normal samples (Box-Muller) for closed-form and thread-count checks.
pub fn standard_normal(n: usize, seed: u64) -> Vec<f64> {
    let mut g = SplitMix64::new(seed);
    (0..n).map(|_| g.box_muller()).collect()
}

pub fn slices(v: &[Vec<f64>]) -> Vec<&[f64]> {
    v.iter().map(Vec::as_slice).collect()
}
