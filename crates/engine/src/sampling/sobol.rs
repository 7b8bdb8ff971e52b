//! Owen-scrambled Sobol' points, computed directly from the point index.
//!
//! Direction numbers: Joe & Kuo, "Constructing Sobol sequences with better two-dimensional
//! projections", SIAM J. Sci. Comput. 30 (2008), file new-joe-kuo-6.21201, first 1024
//! dimensions, extracted from scipy's copy by `scripts/reference/sobol_directions.py` into
//! `sobol_joe_kuo_1024.bin` (1024 u16 polynomials, then the initial direction integers).
//!
//! Point `i` uses the Gray-code order of Antonov & Saleev (the order of Joe-Kuo and scipy):
//! x(i) = XOR of v_b over the set bits b of i ^ (i >> 1), so the unscrambled points equal
//! scipy's `qmc.Sobol(scramble=False, bits=32)` point for point, and any index can be
//! evaluated without state (consecutive points differ by one direction number, which
//! `fill` uses as an exact shortcut).
//!
//! Scrambling: the hash-based nested uniform (Owen) scramble of Burley, "Practical
//! Hash-based Owen Scrambling", JCGT 9(4) 2020: reverse the bits, apply a Laine-Karras
//! style hash in which each bit depends only on itself and lower bits (here Vegdahl's
//! improved constants, "Building a Better LK Hash", 2021), reverse back. Such a map
//! preserves every elementary interval, so scrambled points keep the (t, m, s)-net
//! properties of the unscrambled ones.

/// Dimensions covered by the embedded direction numbers.
pub const MAX_SOBOL_DIMENSIONS: usize = 1024;

/// Bits of each Sobol' coordinate (and the largest number of points, 2^32).
pub const SOBOL_BITS: u32 = 32;

static TABLE: &[u8] = include_bytes!("sobol_joe_kuo_1024.bin");

#[inline]
fn table_u16(index: usize) -> u16 {
    u16::from_le_bytes([TABLE[2 * index], TABLE[2 * index + 1]])
}

fn degree_of(dimension: usize) -> usize {
    (31 - u32::from(table_u16(dimension)).leading_zeros()) as usize
}

/// Direction numbers from a primitive polynomial (scipy's encoding: bit s leading term,
/// bit 0 constant term) and its s initial direction integers at `TABLE[offset..]`, with the
/// Bratley-Fox recurrence m_j = 2 a_1 m_(j-1) ^ 4 a_2 m_(j-2) ^ ... ^ 2^s m_(j-s) ^ m_(j-s),
/// as in scipy; v_j = m_j * 2^(32 - j).
fn directions_from(poly: u32, offset: usize) -> [u32; 32] {
    let degree = (31 - poly.leading_zeros()) as usize;
    let mut m = [0u32; 32];
    for j in 0..32 {
        m[j] = if degree == 0 {
            1
        } else if j < degree {
            u32::from(table_u16(offset + j))
        } else {
            // m_j < 2^(j+1), so none of these shifts drops a bit.
            let back = m[j - degree];
            let mut new = back ^ (back << degree);
            for k in 1..degree {
                if (poly >> (degree - k)) & 1 == 1 {
                    new ^= m[j - k] << k;
                }
            }
            new
        };
    }
    let mut v = [0u32; 32];
    for (j, vj) in v.iter_mut().enumerate() {
        *vj = m[j] << (31 - j);
    }
    v
}

/// The 32 direction numbers v_1..v_32 of `dimension`, or `None` past
/// [`MAX_SOBOL_DIMENSIONS`] (a GPU engine uploads these).
pub fn sobol_directions(dimension: usize) -> Option<[u32; 32]> {
    if dimension >= MAX_SOBOL_DIMENSIONS {
        return None;
    }
    // The initial numbers of dimension d follow the polynomials and those of 0..d.
    let offset = MAX_SOBOL_DIMENSIONS + (0..dimension).map(degree_of).sum::<usize>();
    Some(directions_from(u32::from(table_u16(dimension)), offset))
}

/// The direction numbers of dimensions `0..count` (`count <= MAX_SOBOL_DIMENSIONS`), in
/// one pass over the table.
pub fn sobol_directions_first(count: usize) -> Vec<[u32; 32]> {
    let mut offset = MAX_SOBOL_DIMENSIONS;
    (0..count.min(MAX_SOBOL_DIMENSIONS))
        .map(|d| {
            let v = directions_from(u32::from(table_u16(d)), offset);
            offset += degree_of(d);
            v
        })
        .collect()
}

/// The unscrambled 32-bit Sobol' coordinate of point `index` for the direction numbers
/// `v` (Gray-code order, see the module docs).
#[inline]
pub fn sobol_point(v: &[u32; 32], index: u32) -> u32 {
    let mut gray = index ^ (index >> 1);
    let mut x = 0;
    while gray != 0 {
        x ^= v[gray.trailing_zeros() as usize];
        gray &= gray - 1;
    }
    x
}

/// Nested uniform (Owen) scramble of a 32-bit coordinate, keyed by `seed` (Burley 2020
/// with Vegdahl's LK hash). A bijection of u32 under which bit j (from the top) of the
/// output depends only on bits 0..=j (from the top) of the input.
#[inline(always)]
pub fn owen_scramble(x: u32, seed: u32) -> u32 {
    let mut y = x.reverse_bits();
    y ^= y.wrapping_mul(0x3d20_adea);
    y = y.wrapping_add(seed);
    y = y.wrapping_mul((seed >> 16) | 1);
    y ^= y.wrapping_mul(0x0552_6c56);
    y ^= y.wrapping_mul(0x53a2_2864);
    y.reverse_bits()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_dimension_is_van_der_corput() {
        let v = sobol_directions(0).unwrap_or([0; 32]);
        for (j, vj) in v.iter().enumerate() {
            assert_eq!(*vj, 1u32 << (31 - j));
        }
        assert!(sobol_directions(MAX_SOBOL_DIMENSIONS).is_none());
    }

    #[test]
    fn table_is_fully_used() {
        let total: usize = (0..MAX_SOBOL_DIMENSIONS).map(degree_of).sum();
        assert_eq!(TABLE.len(), 2 * (MAX_SOBOL_DIMENSIONS + total));
        let all = sobol_directions_first(MAX_SOBOL_DIMENSIONS);
        for d in [0, 1, 2, 500, MAX_SOBOL_DIMENSIONS - 1] {
            assert_eq!(Some(all[d]), sobol_directions(d));
        }
    }

    #[test]
    fn scramble_is_nested() {
        // Inputs agreeing on their top b bits give outputs agreeing on their top b bits.
        for seed in [0u32, 1, 0xdead_beef, u32::MAX] {
            for b in [1u32, 5, 16, 31] {
                let x = 0x9e37_79b9u32;
                let flip = 1u32 << (31 - b); // first bit below the top b
                let (a, c) = (owen_scramble(x, seed), owen_scramble(x ^ flip, seed));
                assert_eq!(a >> (32 - b), c >> (32 - b), "seed {seed} b {b}");
                assert_ne!(a, c);
            }
        }
    }
}
