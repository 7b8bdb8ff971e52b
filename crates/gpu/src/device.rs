//! The wgpu device: found once per process, shared by every run.
//!
//! Opening an adapter and device costs a few hundred milliseconds (more on lavapipe), so a
//! process keeps one [`GpuDevice`] and queues runs on it. A device that is lost (driver
//! reset, GPU fallen off the bus) is marked and never used again: runs on it fail cleanly,
//! and the next [`GpuDevice::shared`] call opens a fresh one.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::error::GpuError;

/// What the engine reports about the adapter that ran a simulation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdapterDescription {
    /// The driver's name for the device (`NVIDIA H100 80GB HBM3`, `llvmpipe (LLVM 15 ...)`).
    pub name: String,
    /// `discrete`, `integrated`, `cpu` (a software rasteriser such as lavapipe), ...
    pub device_type: String,
    pub backend: String,
    pub driver: String,
}

/// An open device and its queue, with the limits the executor sizes batches by.
pub struct GpuDevice {
    pub(crate) device: wgpu::Device,
    pub(crate) queue: wgpu::Queue,
    pub(crate) limits: wgpu::Limits,
    /// Whether shaders may use 64-bit integers (one-instruction wide multiply in Philox).
    pub(crate) int64: bool,
    lost: Arc<AtomicBool>,
    description: AdapterDescription,
    pub(crate) pipelines: crate::executor::PipelineCache,
}

impl std::fmt::Debug for GpuDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuDevice")
            .field("adapter", &self.description)
            .field("int64", &self.int64)
            .finish_non_exhaustive()
    }
}

static SHARED: Mutex<Option<Arc<GpuDevice>>> = Mutex::new(None);

impl GpuDevice {
    /// Opens the best Vulkan adapter: a discrete or integrated GPU before a software one.
    /// `ULTRA_GPU_ADAPTER`, when set, picks the first adapter whose name contains it.
    pub fn open() -> Result<Self, GpuError> {
        Self::open_with(OpenOptions::from_env())
    }

    /// Opens an adapter as `options` says (tests use it to force the emulated 64-bit
    /// multiply).
    pub fn open_with(options: OpenOptions) -> Result<Self, GpuError> {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
            backends: wgpu::Backends::VULKAN,
            ..wgpu::InstanceDescriptor::new_without_display_handle()
        });
        let mut adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::VULKAN));
        if adapters.is_empty() {
            return Err(GpuError::NoAdapter(
                "no Vulkan adapter found (install a GPU driver, or mesa-vulkan-drivers for the \
                 software lavapipe device)"
                    .to_owned(),
            ));
        }
        let rank = |adapter: &wgpu::Adapter| match adapter.get_info().device_type {
            wgpu::DeviceType::DiscreteGpu => 0,
            wgpu::DeviceType::IntegratedGpu => 1,
            wgpu::DeviceType::VirtualGpu => 2,
            wgpu::DeviceType::Cpu => 3,
            wgpu::DeviceType::Other => 4,
        };
        adapters.sort_by_key(rank);
        let adapter = match &options.adapter_name {
            Some(wanted) => adapters
                .into_iter()
                .find(|a| a.get_info().name.contains(wanted.as_str()))
                .ok_or_else(|| {
                    GpuError::NoAdapter(format!("no Vulkan adapter named like {wanted:?}"))
                })?,
            None => adapters.remove(0),
        };
        let info = adapter.get_info();
        let int64 =
            options.allow_int64 && adapter.features().contains(wgpu::Features::SHADER_INT64);
        let limits = adapter.limits();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("ultra-gpu"),
            required_features: if int64 {
                wgpu::Features::SHADER_INT64
            } else {
                wgpu::Features::empty()
            },
            required_limits: limits.clone(),
            ..Default::default()
        }))
        .map_err(|error| GpuError::NoAdapter(format!("could not open {}: {error}", info.name)))?;
        let lost = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&lost);
        device.set_device_lost_callback(move |reason, message| {
            tracing::error!(?reason, %message, "GPU device lost");
            flag.store(true, Ordering::SeqCst);
        });
        // wgpu's default handler panics; a device error must fail the run, not the process.
        device.on_uncaptured_error(Arc::new(|error: wgpu::Error| {
            tracing::error!(%error, "uncaptured GPU error");
        }));
        Ok(Self {
            device,
            queue,
            limits,
            int64,
            lost,
            description: AdapterDescription {
                name: info.name.clone(),
                device_type: format!("{:?}", info.device_type).to_lowercase(),
                backend: format!("{:?}", info.backend).to_lowercase(),
                driver: format!("{} {}", info.driver, info.driver_info)
                    .trim()
                    .to_owned(),
            },
            pipelines: crate::executor::PipelineCache::default(),
        })
    }

    /// The process's device, opened on first use; reopened if the last one was lost.
    pub fn shared() -> Result<Arc<GpuDevice>, GpuError> {
        let mut shared = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(device) = shared.as_ref()
            && !device.is_lost()
        {
            return Ok(Arc::clone(device));
        }
        let device = Arc::new(Self::open()?);
        *shared = Some(Arc::clone(&device));
        Ok(device)
    }

    pub fn description(&self) -> &AdapterDescription {
        &self.description
    }

    /// Whether the device was lost; a lost device runs nothing more.
    pub fn is_lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// Marks the device lost, as the driver would: for tests of the failure path.
    pub fn simulate_loss(&self) {
        self.lost.store(true, Ordering::SeqCst);
    }

    /// Whether shaders on this device use native 64-bit integer multiplies.
    pub fn uses_int64(&self) -> bool {
        self.int64
    }
}

/// How to pick and open an adapter.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// Part of the adapter's name to match; `None` takes the best adapter.
    pub adapter_name: Option<String>,
    /// Use `SHADER_INT64` where the adapter has it.
    pub allow_int64: bool,
}

impl OpenOptions {
    /// `ULTRA_GPU_ADAPTER` (a name fragment) and `ULTRA_GPU_INT64=0` (force the emulated
    /// wide multiply).
    pub fn from_env() -> Self {
        Self {
            adapter_name: std::env::var("ULTRA_GPU_ADAPTER")
                .ok()
                .filter(|name| !name.is_empty()),
            allow_int64: std::env::var("ULTRA_GPU_INT64").map_or(true, |v| v != "0"),
        }
    }
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self {
            adapter_name: None,
            allow_int64: true,
        }
    }
}
