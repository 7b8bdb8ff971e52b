//! Runs a generated shader over all iterations, batch by batch.
//!
//! Batches are sized to the device's limits (the largest storage binding, the dispatch
//! size) and to give progress at a useful rate. Two batches are in flight: while the GPU
//! runs batch j + 1, the host copies out batch j. Progress is reported after each batch;
//! cancellation and a lost device are noticed between batches.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, mpsc};

use ultra_engine::EngineError;
use ultra_engine::executor::Progress;

use crate::codegen::{
    self, HISTOGRAM_BINS, HISTOGRAM_MAX_OUTPUTS, ITEMS_PER_THREAD, Mode, PARTIAL_WORDS, Shader,
    WORKGROUP_SIZE,
};
use crate::device::GpuDevice;
use crate::error::GpuError;

/// Compiled pipelines by shader source hash: a model run again (another seed, more
/// iterations) skips WGSL validation and driver compilation.
#[derive(Default)]
pub(crate) struct PipelineCache {
    compiled: Mutex<HashMap<u64, Arc<Compiled>>>,
}

pub(crate) struct Compiled {
    pipeline: wgpu::ComputePipeline,
    layout: wgpu::BindGroupLayout,
}

/// Everything one run needs besides the shader.
pub(crate) struct RunSpec<'a> {
    pub iterations: u64,
    pub seed: u64,
    /// Per-dimension constants (`DIM_WORDS` words per input).
    pub dims: Vec<u32>,
    /// Reduce mode, per output: the centre its moments are accumulated about, and the
    /// range of its histogram bins.
    pub ranges: Vec<OutputRange>,
    /// Iterations per batch; `None` sizes batches from the device limits.
    pub batch: Option<u64>,
    pub progress: &'a (dyn Fn(Progress) + Sync),
    pub cancel: &'a AtomicBool,
}

/// What a run brings back.
#[derive(Debug, Default)]
pub(crate) struct RunOutput {
    /// Keep-all mode: every iteration's value, per column.
    pub columns: Vec<Vec<f32>>,
    /// Reduce mode: per output, the f64 sums of the workgroup partials.
    pub moments: Vec<Moments>,
    /// Whether some iteration's formula parameters were out of their domain.
    pub parameters_flagged: bool,
}

/// Where one output's values are expected: from the kept first iterations.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct OutputRange {
    pub center: f32,
    pub low: f32,
    pub high: f32,
}

/// One output's on-device figures, accumulated about `center`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Moments {
    pub center: f64,
    pub count: f64,
    pub sum: f64,
    pub sum2: f64,
    pub sum3: f64,
    pub sum4: f64,
    pub min: f64,
    pub max: f64,
    /// `HISTOGRAM_BINS` counts over `range`, then the counts below and above it; empty
    /// when the model has too many outputs for on-device histograms.
    pub histogram: Vec<u64>,
    pub range: OutputRange,
}

fn hash_source(source: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    source.hash(&mut hasher);
    hasher.finish()
}

fn storage_entry(binding: u32, read_only: bool) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Storage { read_only },
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    }
}

impl GpuDevice {
    /// The pipeline of `shader`, compiled once per source.
    pub(crate) fn pipeline(&self, shader: &Shader) -> Result<Arc<Compiled>, GpuError> {
        let key = hash_source(&shader.wgsl);
        // Held while compiling: one compilation per source, and wgpu's error scopes (which
        // panic when pushes and pops of concurrent callers interleave) see one caller.
        let mut compiled_pipelines = self
            .pipelines
            .compiled
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(found) = compiled_pipelines.get(&key) {
            return Ok(Arc::clone(found));
        }
        codegen::validate(&shader.wgsl, self.int64)?;
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = self
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some("ultra-model"),
                source: wgpu::ShaderSource::Wgsl(shader.wgsl.as_str().into()),
            });
        let layout = self
            .device
            .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some("ultra-model"),
                entries: &[
                    wgpu::BindGroupLayoutEntry {
                        binding: 0,
                        visibility: wgpu::ShaderStages::COMPUTE,
                        ty: wgpu::BindingType::Buffer {
                            ty: wgpu::BufferBindingType::Uniform,
                            has_dynamic_offset: false,
                            min_binding_size: None,
                        },
                        count: None,
                    },
                    storage_entry(1, true),
                    storage_entry(2, true),
                    storage_entry(3, false),
                    storage_entry(4, false),
                    storage_entry(5, false),
                    storage_entry(6, true),
                    storage_entry(7, false),
                ],
            });
        let pipeline_layout = self
            .device
            .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some("ultra-model"),
                bind_group_layouts: &[Some(&layout)],
                immediate_size: 0,
            });
        let pipeline = self
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some("ultra-model"),
                layout: Some(&pipeline_layout),
                module: &module,
                entry_point: Some("main"),
                compilation_options: wgpu::PipelineCompilationOptions::default(),
                cache: None,
            });
        if let Some(error) = pollster::block_on(scope.pop()) {
            return Err(GpuError::Device(format!(
                "compiling the model's shader: {error}"
            )));
        }
        let compiled = Arc::new(Compiled { pipeline, layout });
        compiled_pipelines.insert(key, Arc::clone(&compiled));
        Ok(compiled)
    }

    fn buffer(&self, label: &str, size: u64, usage: wgpu::BufferUsages) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: size.max(16).next_multiple_of(16),
            usage,
            mapped_at_creation: false,
        })
    }

    fn buffer_with(&self, label: &str, data: &[u8], usage: wgpu::BufferUsages) -> wgpu::Buffer {
        let buffer = self.buffer(
            label,
            data.len() as u64,
            usage | wgpu::BufferUsages::COPY_DST,
        );
        if !data.is_empty() {
            self.queue.write_buffer(&buffer, 0, data);
        }
        buffer
    }

    /// Waits for `submission` and maps `buffer` for reading; fails cleanly on a lost device.
    fn read(&self, buffer: &wgpu::Buffer, size: u64) -> Result<Vec<u8>, GpuError> {
        let (sender, receiver) = mpsc::channel();
        buffer.map_async(wgpu::MapMode::Read, 0..size, move |result| {
            let _ = sender.send(result);
        });
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|error| self.device_error(error.to_string()))?;
        match receiver.recv() {
            Ok(Ok(())) => {}
            Ok(Err(error)) => return Err(self.device_error(error.to_string())),
            Err(_) => return Err(self.device_error("mapping never completed".to_owned())),
        }
        let bytes = buffer
            .get_mapped_range(0..size)
            .map_err(|error| self.device_error(error.to_string()))?
            .to_vec();
        buffer.unmap();
        Ok(bytes)
    }

    fn device_error(&self, message: String) -> GpuError {
        if self.is_lost() {
            GpuError::DeviceLost
        } else {
            GpuError::Device(message)
        }
    }
}

/// One batch's buffers.
struct Slot {
    params: wgpu::Buffer,
    samples: wgpu::Buffer,
    samples_read: wgpu::Buffer,
    partials: wgpu::Buffer,
    partials_read: wgpu::Buffer,
    /// Reduce mode: the batch's histogram counters (zeroed before each dispatch).
    histogram: wgpu::Buffer,
    histogram_read: wgpu::Buffer,
    histogram_bytes: u64,
    bind_group: wgpu::BindGroup,
}

/// A batch submitted and not yet read back.
struct Pending {
    slot: usize,
    first: u64,
    count: u64,
    kept: u64,
    groups: u64,
}

/// Runs `shader` over `spec.iterations` iterations.
pub(crate) fn run(
    device: &GpuDevice,
    shader: &Shader,
    mode: Mode,
    spec: &RunSpec<'_>,
) -> Result<RunOutput, GpuError> {
    if device.is_lost() {
        return Err(GpuError::DeviceLost);
    }
    let compiled = device.pipeline(shader)?;
    let columns = shader.columns as u64;
    let outputs = shader.outputs.max(1) as u64;
    let limits = &device.limits;
    let max_binding = limits
        .max_storage_buffer_binding_size
        .min(limits.max_buffer_size);
    let per_group = match mode {
        Mode::KeepAll => u64::from(WORKGROUP_SIZE),
        Mode::Reduce => u64::from(WORKGROUP_SIZE * ITEMS_PER_THREAD),
    };
    let max_groups = u64::from(limits.max_compute_workgroups_per_dimension).pow(2);
    // Keep-all: the samples of one batch must fit one binding. Reduce: the partials must,
    // and progress should come every fraction of a second even on lavapipe.
    let batch_cap = match mode {
        Mode::KeepAll => (max_binding / (4 * columns.max(1))).min(1 << 20),
        Mode::Reduce => {
            (max_binding / (4 * outputs * PARTIAL_WORDS as u64) * per_group).min(1 << 28)
        }
    }
    .min(max_groups * per_group)
    .max(per_group);
    let batch = spec.batch.unwrap_or(batch_cap).clamp(1, batch_cap);
    if spec.iterations > u64::from(u32::MAX) * 4 && mode == Mode::KeepAll {
        return Err(GpuError::TooLarge(format!(
            "{} iterations with every sample kept",
            spec.iterations
        )));
    }
    let kept_per_batch = match mode {
        Mode::KeepAll => batch,
        Mode::Reduce => 0,
    };
    let groups_per_batch = batch.div_ceil(per_group);
    let samples_bytes = kept_per_batch * columns * 4;
    let partials_bytes = match mode {
        Mode::KeepAll => 0,
        Mode::Reduce => groups_per_batch * outputs * PARTIAL_WORDS as u64 * 4,
    };
    if samples_bytes > max_binding || partials_bytes > max_binding {
        return Err(GpuError::TooLarge(format!(
            "a batch needs {} bytes, the device binds at most {max_binding}",
            samples_bytes.max(partials_bytes)
        )));
    }

    let usage_storage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC;
    let usage_read = wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST;
    let dims = device.buffer_with(
        "ultra-dims",
        bytemuck::cast_slice(&pad(&spec.dims)),
        wgpu::BufferUsages::STORAGE,
    );
    let tables = device.buffer_with(
        "ultra-tables",
        bytemuck::cast_slice(&pad(&shader.tables)),
        wgpu::BufferUsages::STORAGE,
    );
    let status = device.buffer_with(
        "ultra-status",
        bytemuck::cast_slice(&[0u32; 4]),
        usage_storage,
    );
    let status_read = device.buffer("ultra-status-read", 16, usage_read);
    let mut ranges: Vec<f32> = spec
        .ranges
        .iter()
        .flat_map(|r| [r.center, r.low, r.high])
        .collect();
    ranges.resize(3 * outputs as usize, 0.0);
    let ranges = device.buffer_with(
        "ultra-ranges",
        bytemuck::cast_slice(&ranges),
        wgpu::BufferUsages::STORAGE,
    );
    let histograms = mode == Mode::Reduce && shader.outputs <= HISTOGRAM_MAX_OUTPUTS;
    let histogram_bytes = if histograms {
        outputs * (HISTOGRAM_BINS as u64 + 2) * 4
    } else {
        0
    };
    let slots: Vec<Slot> = (0..2)
        .map(|_| {
            let params = device.buffer(
                "ultra-params",
                32,
                wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            );
            let samples = device.buffer("ultra-samples", samples_bytes, usage_storage);
            let samples_read = device.buffer("ultra-samples-read", samples_bytes, usage_read);
            let partials = device.buffer("ultra-partials", partials_bytes, usage_storage);
            let partials_read = device.buffer("ultra-partials-read", partials_bytes, usage_read);
            let histogram = device.buffer(
                "ultra-histogram",
                histogram_bytes,
                usage_storage | wgpu::BufferUsages::COPY_DST,
            );
            let histogram_read = device.buffer("ultra-histogram-read", histogram_bytes, usage_read);
            let bind_group = device.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("ultra-model"),
                layout: &compiled.layout,
                entries: &[
                    entry(0, &params),
                    entry(1, &dims),
                    entry(2, &tables),
                    entry(3, &samples),
                    entry(4, &partials),
                    entry(5, &status),
                    entry(6, &ranges),
                    entry(7, &histogram),
                ],
            });
            Slot {
                params,
                samples,
                samples_read,
                partials,
                partials_read,
                histogram,
                histogram_read,
                histogram_bytes,
                bind_group,
            }
        })
        .collect();

    let mut output = RunOutput {
        columns: vec![Vec::new(); shader.columns],
        moments: (0..shader.outputs)
            .map(|o| {
                let range = spec.ranges.get(o).copied().unwrap_or_default();
                Moments {
                    center: f64::from(range.center),
                    min: f64::INFINITY,
                    max: f64::NEG_INFINITY,
                    histogram: if histograms {
                        vec![0; HISTOGRAM_BINS + 2]
                    } else {
                        Vec::new()
                    },
                    range,
                    ..Moments::default()
                }
            })
            .collect(),
        parameters_flagged: false,
    };
    let mut pending: Option<Pending> = None;
    let mut first = 0u64;
    let mut index = 0usize;
    while first < spec.iterations || pending.is_some() {
        if spec.cancel.load(Ordering::Relaxed) {
            return Err(GpuError::Engine(EngineError::Cancelled));
        }
        if device.is_lost() {
            return Err(GpuError::DeviceLost);
        }
        let submitted = if first < spec.iterations {
            let count = batch.min(spec.iterations - first);
            let slot = index % 2;
            let kept = match mode {
                Mode::KeepAll => count,
                Mode::Reduce => 0,
            };
            let groups = count.div_ceil(per_group);
            submit(
                device,
                &compiled,
                &slots[slot],
                spec,
                mode,
                first,
                count,
                kept,
                groups,
                columns,
                outputs,
            );
            let job = Pending {
                slot,
                first,
                count,
                kept,
                groups,
            };
            first += count;
            index += 1;
            Some(job)
        } else {
            None
        };
        if let Some(done) = pending.take() {
            collect(
                device,
                &slots[done.slot],
                &done,
                mode,
                columns,
                outputs,
                &mut output,
            )?;
            (spec.progress)(Progress {
                completed_iterations: done.first + done.count,
                total_iterations: spec.iterations,
            });
        }
        pending = submitted;
    }
    let mut encoder = device
        .device
        .create_command_encoder(&wgpu::CommandEncoderDescriptor::default());
    encoder.copy_buffer_to_buffer(&status, 0, &status_read, 0, 16);
    device.queue.submit([encoder.finish()]);
    let status_words: Vec<u32> = bytemuck::cast_slice(&device.read(&status_read, 16)?).to_vec();
    output.parameters_flagged = status_words[0] != 0;
    Ok(output)
}

/// Storage buffers may not be empty: pad to one element.
fn pad<T: Copy + Default>(data: &[T]) -> Vec<T> {
    if data.is_empty() {
        vec![T::default()]
    } else {
        data.to_vec()
    }
}

fn entry(binding: u32, buffer: &wgpu::Buffer) -> wgpu::BindGroupEntry<'_> {
    wgpu::BindGroupEntry {
        binding,
        resource: buffer.as_entire_binding(),
    }
}

#[allow(clippy::too_many_arguments)]
fn submit(
    device: &GpuDevice,
    compiled: &Compiled,
    slot: &Slot,
    spec: &RunSpec<'_>,
    mode: Mode,
    first: u64,
    count: u64,
    kept: u64,
    groups: u64,
    columns: u64,
    outputs: u64,
) {
    let max_x = u64::from(device.limits.max_compute_workgroups_per_dimension);
    let groups_x = groups.min(max_x);
    let groups_y = groups.div_ceil(groups_x);
    let params: [u32; 8] = [
        first as u32,
        (first >> 32) as u32,
        count as u32,
        spec.seed as u32,
        (spec.seed >> 32) as u32,
        (groups_x * u64::from(WORKGROUP_SIZE)) as u32,
        0,
        0,
    ];
    device
        .queue
        .write_buffer(&slot.params, 0, bytemuck::cast_slice(&params));
    let mut encoder = device
        .device
        .create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("ultra-batch"),
        });
    if slot.histogram_bytes > 0 {
        encoder.clear_buffer(&slot.histogram, 0, None);
    }
    {
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("ultra-batch"),
            timestamp_writes: None,
        });
        pass.set_pipeline(&compiled.pipeline);
        pass.set_bind_group(0, &slot.bind_group, &[]);
        pass.dispatch_workgroups(groups_x as u32, groups_y as u32, 1);
    }
    let sample_bytes = kept * columns * 4;
    if sample_bytes > 0 {
        encoder.copy_buffer_to_buffer(&slot.samples, 0, &slot.samples_read, 0, sample_bytes);
    }
    if mode == Mode::Reduce {
        let partial_bytes = groups * outputs * PARTIAL_WORDS as u64 * 4;
        encoder.copy_buffer_to_buffer(&slot.partials, 0, &slot.partials_read, 0, partial_bytes);
    }
    if slot.histogram_bytes > 0 {
        encoder.copy_buffer_to_buffer(
            &slot.histogram,
            0,
            &slot.histogram_read,
            0,
            slot.histogram_bytes,
        );
    }
    device.queue.submit([encoder.finish()]);
}

fn collect(
    device: &GpuDevice,
    slot: &Slot,
    done: &Pending,
    mode: Mode,
    columns: u64,
    outputs: u64,
    output: &mut RunOutput,
) -> Result<(), GpuError> {
    let sample_bytes = done.kept * columns * 4;
    if sample_bytes > 0 {
        let bytes = device.read(&slot.samples_read, sample_bytes)?;
        let values: &[f32] = bytemuck::cast_slice(&bytes);
        for (c, column) in output.columns.iter_mut().enumerate() {
            let start = c * done.kept as usize;
            column.extend_from_slice(&values[start..start + done.kept as usize]);
        }
    }
    if mode == Mode::Reduce {
        let partial_bytes = done.groups * outputs * PARTIAL_WORDS as u64 * 4;
        let bytes = device.read(&slot.partials_read, partial_bytes)?;
        let values: &[f32] = bytemuck::cast_slice(&bytes);
        for group in values.chunks_exact(outputs as usize * PARTIAL_WORDS) {
            for (m, p) in output
                .moments
                .iter_mut()
                .zip(group.chunks_exact(PARTIAL_WORDS))
            {
                m.count += f64::from(p[0]);
                // Kahan: the true sum is sum - compensation.
                m.sum += f64::from(p[1]) - f64::from(p[2]);
                m.sum2 += f64::from(p[3]);
                m.sum3 += f64::from(p[4]);
                m.sum4 += f64::from(p[5]);
                m.min = m.min.min(f64::from(p[6]));
                m.max = m.max.max(f64::from(p[7]));
            }
        }
    }
    if slot.histogram_bytes > 0 {
        let bytes = device.read(&slot.histogram_read, slot.histogram_bytes)?;
        let counts: &[u32] = bytemuck::cast_slice(&bytes);
        for (m, counts) in output
            .moments
            .iter_mut()
            .zip(counts.chunks_exact(HISTOGRAM_BINS + 2))
        {
            for (total, &c) in m.histogram.iter_mut().zip(counts) {
                *total += u64::from(c);
            }
        }
    }
    Ok(())
}
