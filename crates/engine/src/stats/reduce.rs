//! Deterministic blocked reductions.
//!
//! Every floating-point sum in `stats` goes through [`block_reduce`]: the index range is cut
//! into fixed blocks of [`BLOCK`] elements, each block is reduced sequentially (in 8
//! independent lanes, see [`lane_sums`]), and the block results are combined with a fixed
//! pairwise tree. The tree depends only on the length of the data, never on how rayon splits
//! the work, so results are bit-identical whatever the thread count. The error of such a
//! sum is O(eps * (BLOCK / 8 + log2(n / BLOCK))) relative to the sum of absolute values
//! (Higham, "Accuracy and Stability of Numerical Algorithms", 2nd ed., section 4.2).

use rayon::prelude::*;
use std::ops::Range;

/// Elements per block: small enough to stay in L1/L2 cache, large enough that the per-block
/// overhead (one rayon task, one result) is negligible.
pub(crate) const BLOCK: usize = 4096;

/// Lanes of the in-block sums: matches a 512-bit vector of f64 and keeps the sequential
/// error growth to BLOCK / LANES additions.
const LANES: usize = 8;

/// Reduces `0..n` block by block: `map` turns each block's index range into a partial
/// result (blocks run in parallel), and `combine` merges the partial results with a pairwise
/// tree fixed by `n` alone. Returns `None` when `n == 0`.
pub(crate) fn block_reduce<T, M, C>(n: usize, map: M, combine: C) -> Option<T>
where
    T: Send,
    M: Fn(Range<usize>) -> T + Sync + Send,
    C: Fn(T, T) -> T,
{
    let blocks = n.div_ceil(BLOCK);
    let parts: Vec<T> = (0..blocks)
        .into_par_iter()
        .map(|b| map(b * BLOCK..((b + 1) * BLOCK).min(n)))
        .collect();
    pairwise(parts, combine)
}

/// Combines `parts` with a fixed pairwise tree: adjacent pairs (0,1), (2,3), ... level by
/// level, an odd last element carried up unchanged.
pub(crate) fn pairwise<T, C: Fn(T, T) -> T>(mut parts: Vec<T>, combine: C) -> Option<T> {
    while parts.len() > 1 {
        let mut next = Vec::with_capacity(parts.len().div_ceil(2));
        let mut it = parts.into_iter();
        while let Some(a) = it.next() {
            match it.next() {
                Some(b) => next.push(combine(a, b)),
                None => next.push(a),
            }
        }
        parts = next;
    }
    parts.pop()
}

/// Element-wise sum of two fixed-size partial results.
pub(crate) fn add_arrays<const K: usize>(mut a: [f64; K], b: [f64; K]) -> [f64; K] {
    for (x, y) in a.iter_mut().zip(b) {
        *x += y;
    }
    a
}

/// Element-wise sum of two variable-size partial results of equal length.
pub(crate) fn add_vecs(mut a: Vec<f64>, b: Vec<f64>) -> Vec<f64> {
    for (x, y) in a.iter_mut().zip(b) {
        *x += y;
    }
    a
}

/// Sums `f(i)` over `range` in [`LANES`] interleaved accumulators combined in a fixed order:
/// deterministic, vectorisable, and with LANES times less sequential error growth.
#[inline]
pub(crate) fn lane_sums<const K: usize>(
    range: Range<usize>,
    f: impl Fn(usize) -> [f64; K],
) -> [f64; K] {
    let mut acc = [[0.0f64; K]; LANES];
    let mut i = range.start;
    while i + LANES <= range.end {
        for (lane, a) in acc.iter_mut().enumerate() {
            for (x, v) in a.iter_mut().zip(f(i + lane)) {
                *x += v;
            }
        }
        i += LANES;
    }
    let mut tail = [0.0f64; K];
    for j in i..range.end {
        for (x, v) in tail.iter_mut().zip(f(j)) {
            *x += v;
        }
    }
    let mut out = [0.0f64; K];
    for (k, o) in out.iter_mut().enumerate() {
        let a = |l: usize| acc[l][k];
        *o = ((a(0) + a(1)) + (a(2) + a(3))) + ((a(4) + a(5)) + (a(6) + a(7))) + tail[k];
    }
    out
}

/// Deterministic sum of `f(i)` for `i` in `0..n` (0 when `n == 0`).
pub(crate) fn sum_by(n: usize, f: impl Fn(usize) -> f64 + Sync + Send) -> f64 {
    block_reduce(n, |r| lane_sums(r, |i| [f(i)])[0], |a, b| a + b).unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairwise_tree_is_fixed() {
        // ((1+2)+(3+4))+5 with an odd element carried.
        let r = pairwise(vec![1, 2, 3, 4, 5], |a, b| a * 10 + b);
        assert_eq!(r, Some(((12) * 10 + 34) * 10 + 5));
        assert_eq!(pairwise(Vec::<i32>::new(), |a, b| a + b), None);
    }

    #[test]
    fn sums_are_exact_on_integers() {
        for n in [0usize, 1, 7, 8, 9, 4095, 4096, 4097, 20_000] {
            let s = sum_by(n, |i| i as f64);
            assert_eq!(s, (n * n.saturating_sub(1) / 2) as f64, "n = {n}");
        }
    }
}
