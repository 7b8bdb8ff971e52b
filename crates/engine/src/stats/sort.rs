//! Sorting and ranking of f64 values through order-preserving u64 keys.
//!
//! A finite f64 maps to a u64 whose unsigned order is the numeric order (flip every bit of
//! a negative number, set the sign bit of a positive one: Herf, "Radix Tricks", 2001).
//! Sorting plain u64 is then a branch-free integer sort.
//!
//! Argsort packs each element into one u64, the top bits of its key (rebased to the
//! minimum key and shifted to drop the bits common to all keys) above its index, so that an
//! unstable integer sort of distinct u64 gives a unique order: by truncated key, then by
//! index. Elements whose truncated keys collide (rare for continuous data, whole tie groups
//! for discrete data) are then put in exact (key, index) order. The result is the stable
//! argsort, the same whatever the thread count.
//!
//! Measured on the 2-core development VM, 1e6 normal values, one thread: std's
//! `sort_unstable` on u64 keys ~29 ms against ~47 ms for an 8-bit LSD radix sort and ~65 ms
//! for an 11-bit one (the VM's scattered writes are slow), and a (key, index) radix sort
//! ~75 ms against ~35 ms for the packed argsort here. Rayon's `par_sort_unstable` (an older
//! pdqsort) was slower than std's sort, so large sorts split in halves sorted in parallel
//! by std and merged.

use rayon::prelude::*;

const SIGN: u64 = 1 << 63;

/// Order-preserving key of a non-NaN f64. `-0.0` is mapped like `+0.0`, so that equal values
/// always have equal keys (they are ties for ranks).
#[inline]
pub(crate) fn key(x: f64) -> u64 {
    let x = if x == 0.0 { 0.0 } else { x };
    let b = x.to_bits();
    if b & SIGN != 0 { !b } else { b | SIGN }
}

/// Inverse of [`key`].
#[inline]
pub(crate) fn unkey(k: u64) -> f64 {
    f64::from_bits(if k & SIGN != 0 { k & !SIGN } else { !k })
}

/// Below this length a sort runs on one thread.
const PAR_SORT_MIN: usize = 1 << 16;

/// Sorts the keys ascending (integers, so the result does not depend on any split).
pub(crate) fn sort_keys(mut keys: Vec<u64>) -> Vec<u64> {
    par_sort(&mut keys);
    keys
}

/// Sorts u64 ascending: halves sorted in parallel by std's unstable sort (ipnsort), then
/// merged, down to one piece per thread. Sorted u64 are unique, so the result is the same
/// whatever the split.
fn par_sort(v: &mut [u64]) {
    let threads = rayon::current_num_threads();
    let depth = usize::BITS - threads.saturating_sub(1).leading_zeros();
    if depth == 0 || v.len() < PAR_SORT_MIN {
        v.sort_unstable();
        return;
    }
    let mut buf = vec![0u64; v.len()];
    split_sort(v, &mut buf, depth.min(4));
}

fn split_sort(v: &mut [u64], buf: &mut [u64], depth: u32) {
    if depth == 0 || v.len() < PAR_SORT_MIN {
        v.sort_unstable();
        return;
    }
    let mid = v.len() / 2;
    {
        let (a, b) = v.split_at_mut(mid);
        let (ba, bb) = buf.split_at_mut(mid);
        rayon::join(
            || split_sort(a, ba, depth - 1),
            || split_sort(b, bb, depth - 1),
        );
    }
    let (a, b) = v.split_at(mid);
    let (mut i, mut j) = (0, 0);
    for out in buf.iter_mut() {
        if j == b.len() || (i < a.len() && a[i] <= b[j]) {
            *out = a[i];
            i += 1;
        } else {
            *out = b[j];
            j += 1;
        }
    }
    v.copy_from_slice(buf);
}

/// Stable argsort and average ranks of `keys` (positions must fit in u32).
pub(crate) struct Ranking {
    /// Positions of the keys in ascending order, ties in position order.
    pub order: Vec<u32>,
    /// Twice the average 1-based rank of each key: ties share the mean of their ranks
    /// (scipy.stats.rankdata(method='average')), kept as exact integers.
    pub ranks2: Vec<u32>,
    /// Whether all keys are equal (or there are none).
    pub constant: bool,
}

pub(crate) fn rank(keys: &[u64]) -> Ranking {
    let n = keys.len();
    debug_assert!(n < (1 << 31));
    let (kmin, kmax) = keys
        .par_iter()
        .fold(|| (u64::MAX, 0), |(lo, hi), &k| (lo.min(k), hi.max(k)))
        .reduce(|| (u64::MAX, 0), |a, b| (a.0.min(b.0), a.1.max(b.1)));
    if n == 0 || kmin == kmax {
        return Ranking {
            order: (0..n as u32).collect(),
            ranks2: vec![n as u32 + 1; n],
            constant: true,
        };
    }
    // Index in the low `bits`, the informative top bits of the key above.
    let bits = 64 - ((n - 1) as u64).leading_zeros();
    let low = (1u64 << bits) - 1;
    let shift = (kmax - kmin).leading_zeros();
    let mut packed: Vec<u64> = keys
        .par_iter()
        .enumerate()
        .map(|(i, &k)| (((k - kmin) << shift) & !low) | i as u64)
        .collect();
    par_sort(&mut packed);

    let mut order: Vec<u32> = packed.par_iter().map(|&p| (p & low) as u32).collect();
    let mut ranks2 = vec![0u32; n];
    let mut start = 0;
    while start < n {
        let head = packed[start] >> bits;
        let mut end = start + 1;
        while end < n && packed[end] >> bits == head {
            end += 1;
        }
        if end - start == 1 {
            ranks2[order[start] as usize] = 2 * start as u32 + 2;
        } else {
            // Truncated keys collide: order by full key (then position), rank the true ties.
            let group = &mut order[start..end];
            if !group
                .windows(2)
                .all(|w| keys[w[0] as usize] == keys[w[1] as usize])
            {
                group.sort_unstable_by_key(|&i| (keys[i as usize], i));
            }
            let mut s = 0;
            while s < group.len() {
                let k = keys[group[s] as usize];
                let mut e = s + 1;
                while e < group.len() && keys[group[e] as usize] == k {
                    e += 1;
                }
                // Ranks start+s+1 ..= start+e, average (2 start + s + 1 + e) / 2.
                let r2 = (2 * start + s + 1 + e) as u32;
                for &i in &group[s..e] {
                    ranks2[i as usize] = r2;
                }
                s = e;
            }
        }
        start = end;
    }
    Ranking {
        order,
        ranks2,
        constant: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_preserve_order() {
        let xs = [
            f64::NEG_INFINITY,
            -1e300,
            -1.5,
            -f64::MIN_POSITIVE,
            -5e-324,
            0.0,
            5e-324,
            1.0,
            1e300,
            f64::INFINITY,
        ];
        for w in xs.windows(2) {
            assert!(key(w[0]) < key(w[1]), "{} vs {}", w[0], w[1]);
        }
        for &x in &xs {
            assert_eq!(unkey(key(x)).to_bits(), x.to_bits());
        }
        assert_eq!(key(-0.0), key(0.0));
    }

    /// Values with many near-collisions (truncated keys equal, full keys not) and ties.
    fn data() -> Vec<f64> {
        let mut s = 0x1234_5678u64;
        (0..10_000)
            .map(|i| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                match i % 3 {
                    0 => (s % 7) as f64 - 3.0,
                    1 => 1.0 + (s % 1000) as f64 * f64::EPSILON,
                    _ => (s as i64) as f64 * 1e-15,
                }
            })
            .collect()
    }

    #[test]
    fn sorts_like_std() {
        let xs = data();
        let sorted: Vec<f64> = sort_keys(xs.iter().map(|&x| key(x)).collect())
            .into_iter()
            .map(unkey)
            .collect();
        let mut expect = xs.clone();
        expect.sort_by(f64::total_cmp);
        assert_eq!(sorted, expect);
    }

    #[test]
    fn parallel_sort_matches_sequential() {
        let mut s = 99u64;
        let v: Vec<u64> = (0..300_000)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                s % 100_000
            })
            .collect();
        let mut expect = v.clone();
        expect.sort_unstable();
        for threads in [1, 2, 3, 8] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            assert_eq!(
                pool.install(|| sort_keys(v.clone())),
                expect,
                "{threads} threads"
            );
        }
    }

    #[test]
    fn ranks_like_a_stable_sort() {
        let xs = data();
        let keys: Vec<u64> = xs.iter().map(|&x| key(x)).collect();
        let r = rank(&keys);
        let mut order: Vec<u32> = (0..xs.len() as u32).collect();
        order.sort_by(|&a, &b| xs[a as usize].total_cmp(&xs[b as usize])); // stable
        assert_eq!(r.order, order);
        assert!(!r.constant);
        // Average ranks by brute force on a few elements.
        for i in (0..xs.len()).step_by(97) {
            let below = xs.iter().filter(|&&v| v < xs[i]).count();
            let equal = xs.iter().filter(|&&v| v == xs[i]).count();
            assert_eq!(r.ranks2[i] as usize, 2 * below + equal + 1, "i = {i}");
        }
        let c = rank(&[key(2.0); 4]);
        assert!(c.constant);
        assert_eq!(c.ranks2, vec![5; 4]);
        assert!(rank(&[]).order.is_empty());
    }
}
