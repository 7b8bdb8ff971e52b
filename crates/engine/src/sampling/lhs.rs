//! Latin Hypercube strata permutations computed per element, without memory.
//!
//! pi_k is a keyed pseudo-random permutation of 0..n: a 4-round Feistel network on
//! [0, 2^m) (m the smallest bit count with 2^m >= n, at least 2, split into a high part of
//! a = ceil(m/2) and a low part of b = floor(m/2) <= 32 bits; when m is odd the halves swap
//! widths every round, an alternating unbalanced Feistel network) whose round function is
//! Chris Wellons' `lowbias32` integer hash keyed by Philox words, restricted to [0, n) by
//! cycle walking (Black & Rogaway, "Ciphers with arbitrary finite domains", CT-RSA 2002).
//! A Feistel network is a bijection for any round function, and cycle walking from a
//! point of [0, n) returns the first point of its cycle that lies in [0, n), which is again
//! a bijection of [0, n). Because 2^m < 2n, a walk takes fewer than 2 steps on average.
//! Everything is 32-bit integer arithmetic, so a GPU engine can evaluate pi_k(i) directly.

use crate::rng::{counter, philox4x32_10, seed_key};

use super::STREAM_LHS_KEYS;

/// Wellons' `lowbias32` (github.com/skeeto/hash-prospector): a bijective 32-bit hash with
/// bias ~0.17 (near the best known for two multiplies).
#[inline(always)]
fn lowbias32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^= x >> 16;
    x
}

/// The constants of one input's permutation, for engines that evaluate it elsewhere (the
/// GPU shader reproduces `apply` from these).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LhsParameters {
    pub n: u64,
    pub high_bits: u32,
    pub low_bits: u32,
    pub keys: [u32; 4],
}

impl LhsParameters {
    /// The permutation of 0..n for `dimension` under `seed`, as the CPU sampler uses it.
    pub fn new(seed: u64, dimension: u32, n: u64) -> Self {
        let p = LhsPermutation::new(seed, dimension, n);
        Self {
            n: p.n,
            high_bits: p.high_bits,
            low_bits: p.low_bits,
            keys: p.keys,
        }
    }

    /// pi(i): the stratum of iteration `i`, exactly as the CPU sampler computes it.
    pub fn stratum(&self, i: u64) -> u64 {
        LhsPermutation {
            n: self.n,
            high_bits: self.high_bits,
            low_bits: self.low_bits,
            high_mask: mask(self.high_bits),
            low_mask: mask(self.low_bits),
            keys: self.keys,
        }
        .apply(i)
    }
}

/// The permutation of 0..n for one input (dimension).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LhsPermutation {
    n: u64,
    /// Widths of the high (a) and low (b) parts, a = b or b + 1.
    high_bits: u32,
    low_bits: u32,
    high_mask: u32,
    low_mask: u32,
    keys: [u32; 4],
}

fn mask(bits: u32) -> u32 {
    if bits >= 32 {
        u32::MAX
    } else {
        (1u32 << bits) - 1
    }
}

impl LhsPermutation {
    /// The permutation of 0..n for `dimension` under `seed`; its round keys are the four
    /// Philox words of (iteration 0, `dimension`, stream `STREAM_LHS_KEYS`).
    pub(crate) fn new(seed: u64, dimension: u32, n: u64) -> Self {
        // n = 0 has no elements to permute; treat it as 1 so that `apply` terminates.
        let n = n.max(1);
        let bits = (64 - (n - 1).leading_zeros()).max(2);
        let low_bits = bits / 2;
        let high_bits = bits - low_bits;
        let keys = philox4x32_10(counter(0, dimension, STREAM_LHS_KEYS), seed_key(seed));
        Self {
            n,
            high_bits,
            low_bits,
            high_mask: mask(high_bits),
            low_mask: mask(low_bits),
            keys,
        }
    }

    /// The Feistel bijection of [0, 2^m): each round maps (L, R) to (R, L ^ F(R)), the new
    /// low part taking the width of the old high part.
    #[inline(always)]
    fn feistel(&self, x: u64) -> u64 {
        let mut left = (x >> self.low_bits) as u32 & self.high_mask;
        let mut right = x as u32 & self.low_mask;
        // Widths of (left, right): (a, b), (b, a), (a, b), (b, a), back to (a, b).
        let masks = [self.high_mask, self.low_mask, self.high_mask, self.low_mask];
        for (key, out_mask) in self.keys.into_iter().zip(masks) {
            let next = left ^ (lowbias32(right ^ key) & out_mask);
            left = right;
            right = next;
        }
        (u64::from(left) << self.low_bits) | u64::from(right)
    }

    /// pi(i), the stratum of element `i`; a bijection of 0..n (for `i >= n` the result is
    /// still in 0..n but no longer one-to-one).
    #[inline(always)]
    pub(crate) fn apply(&self, i: u64) -> u64 {
        let mut x = self.feistel(i);
        while x >= self.n {
            x = self.feistel(x);
        }
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_a_permutation_for_small_n() {
        for n in 1..=300u64 {
            let p = LhsPermutation::new(7, 3, n);
            let mut seen = vec![false; n as usize];
            for i in 0..n {
                let j = p.apply(i) as usize;
                assert!(!seen[j], "n = {n}: {j} hit twice");
                seen[j] = true;
            }
        }
    }

    #[test]
    fn feistel_is_a_bijection_of_the_full_domain() {
        for (n, size) in [(1000u64, 1024usize), (1025, 2048), (3, 4), (1, 4)] {
            let p = LhsPermutation::new(1, 0, n);
            let mut seen = vec![false; size];
            for x in 0..size as u64 {
                let y = p.feistel(x) as usize;
                assert!(!seen[y], "n {n}");
                seen[y] = true;
            }
        }
    }

    #[test]
    fn huge_n_uses_32_bit_halves() {
        let p = LhsPermutation::new(1, 0, u64::MAX);
        assert_eq!((p.high_bits, p.low_bits), (32, 32));
        let p = LhsPermutation::new(1, 0, (1 << 63) + 1);
        assert_eq!((p.high_bits, p.low_bits), (32, 32));
        let p = LhsPermutation::new(1, 0, 1 << 63);
        assert_eq!((p.high_bits, p.low_bits), (32, 31));
        assert!(p.apply(u64::MAX - 1) < u64::MAX);
    }
}
