//! Sensitivity of outputs to inputs: Spearman rank correlation, standardised regression
//! coefficients, contribution to variance and tornado bars.

use super::InputSensitivity;
use super::reduce::{add_vecs, block_reduce, lane_sums, sum_by};
use super::regression::standardized_coefficients;
use super::sort::{Ranking, key, rank};
use rayon::prelude::*;
use std::borrow::Cow;

/// Iterations beyond this are ignored: doubled ranks must fit in u32 and rank products in
/// i64 (2^31 iterations is 16 GiB per array, far beyond any run).
pub const MAX_SENSITIVITY_ITERATIONS: usize = i32::MAX as usize;

/// Fraction of iterations in each tornado tail.
const TAIL_FRACTION: usize = 10;

pub(crate) fn sensitivity(outputs: &[&[f64]], inputs: &[&[f64]]) -> Vec<Vec<InputSensitivity>> {
    let n = outputs
        .iter()
        .chain(inputs)
        .map(|s| s.len())
        .min()
        .unwrap_or(0)
        .min(MAX_SENSITIVITY_ITERATIONS);
    let inputs: Vec<&[f64]> = inputs.iter().map(|x| &x[..n]).collect();
    let inputs_finite = inputs.par_iter().all(|x| x.iter().all(|v| v.is_finite()));
    // Rows kept for every output: those where all inputs are finite (None: all rows).
    let rows: Option<Vec<u32>> = (!inputs_finite).then(|| {
        (0..n)
            .filter(|&i| inputs.iter().all(|x| x[i].is_finite()))
            .map(|i| i as u32)
            .collect()
    });
    let clean: Vec<bool> = outputs
        .par_iter()
        .map(|y| match &rows {
            None => y[..n].iter().all(|v| v.is_finite()),
            Some(r) => r.iter().all(|&i| y[i as usize].is_finite()),
        })
        .collect();
    // Ranks of the inputs are computed once, on the shared rows, for every clean output.
    let shared = clean
        .iter()
        .any(|&c| c)
        .then(|| Context::new(&inputs, rows.clone()));
    outputs
        .par_iter()
        .zip(&clean)
        .map(|(y, &is_clean)| match (&shared, is_clean) {
            (Some(ctx), true) => ctx.analyze(y),
            _ => {
                // This output has its own non-finite iterations: its own rows.
                let own: Vec<u32> = match &rows {
                    None => (0..n as u32)
                        .filter(|&i| y[i as usize].is_finite())
                        .collect(),
                    Some(r) => r
                        .iter()
                        .copied()
                        .filter(|&i| y[i as usize].is_finite())
                        .collect(),
                };
                Context::new(&inputs, Some(own)).analyze(y)
            }
        })
        .collect()
}

/// One variable restricted to the kept rows, with its ranks.
struct Ranked<'a> {
    values: Cow<'a, [f64]>,
    /// Twice the average rank (1-based) of each value: ties share the mean of their ranks,
    /// as scipy.stats.rankdata(method='average'), kept as exact integers.
    ranks2: Vec<u32>,
    /// Stable argsort of the values (ties in iteration order).
    order: Vec<u32>,
    /// Sum over rows of (ranks2 - (n+1))^2, exact.
    rank_ss: i128,
    mean: f64,
    constant: bool,
}

impl<'a> Ranked<'a> {
    fn new(values: Cow<'a, [f64]>) -> Self {
        let n = values.len();
        let keys: Vec<u64> = values.par_iter().map(|&x| key(x)).collect();
        let Ranking {
            order,
            ranks2,
            constant,
        } = rank(&keys);
        drop(keys);
        let centre = n as i64 + 1;
        let rank_ss = block_reduce(
            n,
            |r| {
                r.map(|i| (ranks2[i] as i64 - centre).pow(2) as i128)
                    .sum::<i128>()
            },
            |a, b| a + b,
        )
        .unwrap_or(0);
        let mean = if constant && n > 0 {
            values[0]
        } else {
            sum_by(n, |i| values[i]) / n as f64
        };
        Ranked {
            values,
            ranks2,
            order,
            rank_ss,
            mean,
            constant,
        }
    }
}

/// The inputs on a set of rows: ranks, means and cross-products, shared by the outputs.
struct Context<'a> {
    rows: Option<Vec<u32>>,
    n: usize,
    inputs: Vec<Ranked<'a>>,
    /// Centred cross-products of the inputs, k x k row-major.
    sxx: Vec<f64>,
}

impl<'a> Context<'a> {
    fn new(inputs: &[&'a [f64]], rows: Option<Vec<u32>>) -> Self {
        let n = rows
            .as_ref()
            .map_or_else(|| inputs.first().map_or(0, |x| x.len()), Vec::len);
        let inputs: Vec<Ranked<'a>> = inputs
            .par_iter()
            .map(|x| Ranked::new(compact(x, rows.as_deref())))
            .collect();
        let k = inputs.len();
        let pairs: Vec<(usize, usize)> = (0..k).flat_map(|i| (i..k).map(move |j| (i, j))).collect();
        let vars: Vec<(&[f64], f64)> = inputs.iter().map(|r| (&*r.values, r.mean)).collect();
        let sums = cross_products(n, &vars, &pairs);
        let mut sxx = vec![0.0; k * k];
        for (&(i, j), s) in pairs.iter().zip(sums) {
            sxx[i * k + j] = s;
            sxx[j * k + i] = s;
        }
        Context {
            rows,
            n,
            inputs,
            sxx,
        }
    }

    fn analyze(&self, y: &[f64]) -> Vec<InputSensitivity> {
        let n = self.n;
        let k = self.inputs.len();
        if n == 0 {
            return (0..k).map(|input| undefined(input, f64::NAN)).collect();
        }
        let y = Ranked::new(compact(y, self.rows.as_deref()));
        let yv: &[f64] = &y.values;

        // Spearman: Pearson correlation of the average ranks, from exact integer sums.
        let centre = n as i64 + 1;
        let rank_cross = block_reduce(
            n,
            |r| {
                let mut acc = vec![0i128; k];
                for i in r {
                    let b = y.ranks2[i] as i64 - centre;
                    for (a, x) in acc.iter_mut().zip(&self.inputs) {
                        *a += ((x.ranks2[i] as i64 - centre) * b) as i128;
                    }
                }
                acc
            },
            |mut a, b| {
                a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
                a
            },
        )
        .unwrap_or_else(|| vec![0; k]);
        let spearman: Vec<f64> = rank_cross
            .iter()
            .zip(&self.inputs)
            .map(|(&sab, x)| {
                if x.rank_ss == 0 || y.rank_ss == 0 {
                    0.0
                } else {
                    (sab as f64 / (x.rank_ss as f64 * y.rank_ss as f64).sqrt()).clamp(-1.0, 1.0)
                }
            })
            .collect();

        // Regression: cross-products of each input with y, and of y with itself.
        let mut vars: Vec<(&[f64], f64)> =
            self.inputs.iter().map(|r| (&*r.values, r.mean)).collect();
        vars.push((yv, y.mean));
        let pairs: Vec<(usize, usize)> = (0..=k).map(|j| (j, k)).collect();
        let sums = cross_products(n, &vars, &pairs);
        let constant: Vec<bool> = self.inputs.iter().map(|r| r.constant).collect();
        let syy = if y.constant { 0.0 } else { sums[k] };
        let regression = standardized_coefficients(&self.sxx, &sums[..k], syy, &constant);

        let total: f64 = spearman.iter().map(|r| r * r).sum();
        let m = (n / TAIL_FRACTION).max(1);
        self.inputs
            .iter()
            .enumerate()
            .map(|(input, x)| {
                let r = spearman[input];
                let tail_mean =
                    |idx: &[u32]| sum_by(idx.len(), |i| yv[idx[i] as usize]) / idx.len() as f64;
                InputSensitivity {
                    input,
                    spearman: r,
                    regression: regression[input],
                    contribution_to_variance: if total > 0.0 {
                        r * r / total * r.signum()
                    } else {
                        0.0
                    },
                    mean_at_low: tail_mean(&x.order[..m]),
                    mean_at_high: tail_mean(&x.order[n - m..]),
                }
            })
            .collect()
    }
}

/// The sensitivity record of an input when nothing can be measured.
fn undefined(input: usize, mean: f64) -> InputSensitivity {
    InputSensitivity {
        input,
        spearman: 0.0,
        regression: 0.0,
        contribution_to_variance: 0.0,
        mean_at_low: mean,
        mean_at_high: mean,
    }
}

/// `x` restricted to `rows` (borrowed when all rows are kept).
fn compact<'a>(x: &'a [f64], rows: Option<&[u32]>) -> Cow<'a, [f64]> {
    match rows {
        None => Cow::Borrowed(x),
        Some(r) => Cow::Owned(r.iter().map(|&i| x[i as usize]).collect()),
    }
}

/// Centred cross-products sum (a - mean_a)(b - mean_b) for each pair of variables, in one
/// blocked pass (each block is read once, from cache, for all pairs).
fn cross_products(n: usize, vars: &[(&[f64], f64)], pairs: &[(usize, usize)]) -> Vec<f64> {
    block_reduce(
        n,
        |r| {
            pairs
                .iter()
                .map(|&(a, b)| {
                    let ((xa, ma), (xb, mb)) = (vars[a], vars[b]);
                    lane_sums(r.clone(), |i| [(xa[i] - ma) * (xb[i] - mb)])[0]
                })
                .collect()
        },
        add_vecs,
    )
    .unwrap_or_else(|| vec![0.0; pairs.len()])
}
