//! Philox4x32-10 (Salmon, Moraes, Dror, Shaw, "Parallel random numbers: as easy as 1, 2, 3",
//! SC 2011), bit-exact with Random123's `philox4x32_R(10, ...)`.
//!
//! Only 32-bit additions, XORs and 32x32 -> 64 multiplies are used, so a GPU engine can
//! reproduce every word exactly (WGSL emulates the wide multiply with 16-bit halves).

/// Multiplier of the first S-box (Random123 `PHILOX_M4x32_0`).
const M0: u32 = 0xD251_1F53;
/// Multiplier of the second S-box (Random123 `PHILOX_M4x32_1`).
const M1: u32 = 0xCD9E_8D57;
/// Weyl-sequence key increments (golden ratio and sqrt(3) - 1, Random123 `PHILOX_W32_0/1`).
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;

/// One Philox4x32-10 block: 4 random words from a 128-bit counter and a 64-bit key.
///
/// Checked against Random123's known-answer vectors (`kat_vectors`, philox4x32 10) in the
/// unit tests below.
#[inline(always)]
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let mut c = counter;
    let mut k = key;
    for round in 0..10 {
        if round > 0 {
            k = [k[0].wrapping_add(W0), k[1].wrapping_add(W1)];
        }
        let p0 = u64::from(M0) * u64::from(c[0]);
        let p1 = u64::from(M1) * u64::from(c[2]);
        c = [
            (p1 >> 32) as u32 ^ c[1] ^ k[0],
            p1 as u32,
            (p0 >> 32) as u32 ^ c[3] ^ k[1],
            p0 as u32,
        ];
    }
    c
}

/// The Philox key of a simulation seed: `[low 32 bits, high 32 bits]`.
#[inline(always)]
pub fn seed_key(seed: u64) -> [u32; 2] {
    [seed as u32, (seed >> 32) as u32]
}

/// The Philox counter of (iteration, dimension, stream): `[iteration low, iteration high,
/// dimension, stream]`.
#[inline(always)]
pub fn counter(iteration: u64, dimension: u32, stream: u32) -> [u32; 4] {
    [
        iteration as u32,
        (iteration >> 32) as u32,
        dimension,
        stream,
    ]
}

/// Maps two random words to a double strictly inside (0, 1).
///
/// Takes 52 bits k = (x0 << 20) | (x1 >> 12) and returns (k + 0.5) * 2^-52, i.e. the
/// midpoints of 2^52 equal cells. Every such value is exactly representable (it is an odd
/// multiple of 2^-53 below 1), so the result is never 0 or 1 and its mean is exactly 1/2;
/// min 2^-53, max 1 - 2^-53. (With 53 bits the top half of the midpoints would not be
/// representable and the largest would round to 1.0.)
#[inline(always)]
pub(crate) fn open_unit(x0: u32, x1: u32) -> f64 {
    const SCALE: f64 = 1.0 / (1u64 << 52) as f64;
    let k = (u64::from(x0) << 20) | u64::from(x1 >> 12);
    (k as f64 + 0.5) * SCALE
}

/// The uniform in (0, 1), open at both ends, for `stream` of input `dimension` at
/// `iteration` under `seed`. See the module docs of `sampling` for the stream layout.
#[inline]
pub fn uniform_open(seed: u64, dimension: u32, iteration: u64, stream: u32) -> f64 {
    let w = philox4x32_10(counter(iteration, dimension, stream), seed_key(seed));
    open_unit(w[0], w[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Random123 `examples/kat_vectors`, lines `philox4x32 10 ...` (also reproduced by an
    /// independent Python implementation written from the paper).
    #[test]
    fn random123_known_answers() {
        let cases: [([u32; 4], [u32; 2], [u32; 4]); 3] = [
            (
                [0; 4],
                [0; 2],
                [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8],
            ),
            (
                [u32::MAX; 4],
                [u32::MAX; 2],
                [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd],
            ),
            (
                [0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344],
                [0xa409_3822, 0x299f_31d0],
                [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1],
            ),
        ];
        for (ctr, key, want) in cases {
            assert_eq!(
                philox4x32_10(ctr, key),
                want,
                "counter {ctr:x?} key {key:x?}"
            );
        }
    }

    #[test]
    fn open_unit_extremes_are_inside() {
        assert_eq!(open_unit(0, 0), 2f64.powi(-53));
        assert_eq!(open_unit(u32::MAX, u32::MAX), 1.0 - 2f64.powi(-53));
        assert!(open_unit(u32::MAX, u32::MAX) < 1.0);
        assert_eq!(open_unit(0x8000_0000, 0), 0.5 + 2f64.powi(-53));
    }

    #[test]
    fn layout_matches_documentation() {
        // uniform_open(seed, k, i, s) is Philox of [i lo, i hi, k, s] under [seed lo, seed hi].
        let seed = 0x0123_4567_89ab_cdef_u64;
        let i = 0x0000_0007_0000_0005_u64;
        let w = philox4x32_10([5, 7, 3, 2], [0x89ab_cdef, 0x0123_4567]);
        assert_eq!(uniform_open(seed, 3, i, 2), open_unit(w[0], w[1]));
    }
}
