#![allow(unused_variables, dead_code)]
//! Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011).

/// One Philox4x32-10 block: 4 random words from a 128-bit counter and a 64-bit key.
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    todo!()
}

/// The uniform in (0, 1), open at both ends, for `stream` of input `dimension` at
/// `iteration` under `seed`. See the module docs of `sampling` for the stream layout.
pub fn uniform_open(seed: u64, dimension: u32, iteration: u64, stream: u32) -> f64 {
    todo!()
}
