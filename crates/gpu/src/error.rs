//! Why the GPU engine did not produce a result.

use ultra_engine::EngineError;

#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    /// No usable adapter: `engine = gpu` fails with this; `auto` falls back to the CPU.
    #[error("no GPU adapter: {0}")]
    NoAdapter(String),
    /// The model uses something the shader generator does not lower (yet); `auto` runs
    /// it on the CPU instead. Lists every construct at fault.
    #[error("the GPU engine cannot run this model: {}", .0.join("; "))]
    Unsupported(Vec<String>),
    /// The model or request exceeds what the device can hold or dispatch.
    #[error("the model exceeds the GPU's limits: {0}")]
    TooLarge(String),
    /// The generated shader failed validation: a bug in the generator, reported rather
    /// than handed to the driver.
    #[error("generated shader is invalid: {0}")]
    InvalidShader(String),
    /// The device went away during the run (driver reset, lost GPU).
    #[error("the GPU device was lost during the run")]
    DeviceLost,
    /// A wgpu call failed (out of memory, validation of a dispatch, mapping a buffer).
    #[error("GPU error: {0}")]
    Device(String),
    /// What the CPU engine would refuse too: bad options, an invalid model, a cancel.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl From<ultra_engine::ir::ModelError> for GpuError {
    fn from(error: ultra_engine::ir::ModelError) -> Self {
        GpuError::Engine(error.into())
    }
}
