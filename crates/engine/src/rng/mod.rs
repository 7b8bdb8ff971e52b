//! Counter-based random numbers: the value drawn for (seed, input, iteration) is a pure
//! function of those three, which is what makes results independent of chunking, thread
//! count and engine.

mod philox;

pub(crate) use philox::open_unit;
pub use philox::{counter, philox4x32_10, seed_key, uniform_open};
