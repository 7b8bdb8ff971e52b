//! The GPU engine against the CPU engine on a real Vulkan device (lavapipe on CI): random
//! streams, statistics of npv10, the two wide-multiply paths, and the failure paths (lost
//! device, cancel, a model too large for one shader).

use std::sync::atomic::{AtomicBool, Ordering};

use ultra_engine::sampling::Sampler;
use ultra_engine::{Model, SamplingMethod, SimulationOptions};
use ultra_gpu::{GpuDevice, GpuError, OpenOptions, Statistics};

fn npv10() -> Model {
    serde_json::from_str(include_str!("../../../examples/npv10.ir.json")).expect("npv10 IR")
}

/// `inputs` independent Uniform(0, 1) inputs, each its own output: the GPU's samples are
/// its uniforms.
fn uniforms_model(inputs: u32) -> Model {
    let mut nodes = vec![
        serde_json::json!({"id": 0, "op": "const", "value": 0.0}),
        serde_json::json!({"id": 1, "op": "const", "value": 1.0}),
    ];
    for k in 0..inputs {
        let id = 10 + 2 * k;
        nodes.push(serde_json::json!({"id": id, "op": "input",
            "distribution": {"family": "uniform"}, "params": [0, 1]}));
        nodes.push(
            serde_json::json!({"id": id + 1, "op": "output", "name": format!("u{k}"), "arg": id}),
        );
    }
    serde_json::from_value(serde_json::json!({ "nodes": nodes })).expect("model")
}

fn options(iterations: u64, sampling: SamplingMethod) -> SimulationOptions {
    SimulationOptions {
        iterations,
        seed: 0x5eed_0123_4567_89ab,
        sampling,
        sensitivity: false,
        ..SimulationOptions::default()
    }
}

fn run(
    device: &GpuDevice,
    model: &Model,
    options: &SimulationOptions,
) -> ultra_engine::SimulationResult {
    ultra_gpu::simulate(
        device,
        model,
        options,
        Statistics::Host,
        &|_| {},
        &AtomicBool::new(false),
    )
    .expect("GPU run")
}

/// Monte Carlo: each GPU uniform is the CPU's f64 uniform correctly rounded to f32 (and
/// 1 - u likewise), bit for bit: the Philox words, the 52-bit construction and the rounding
/// all agree. Latin Hypercube: every GPU uniform lies in the CPU's stratum. Sobol': the
/// GPU uniform is within 2 f32 ulps of the CPU's.
#[test]
fn uniforms_reproduce_the_cpu_streams() {
    let device = GpuDevice::shared().expect("a Vulkan adapter (lavapipe on CI)");
    let inputs = 3u32;
    let n = 50_000u64;
    let model = uniforms_model(inputs);
    for sampling in [
        SamplingMethod::MonteCarlo,
        SamplingMethod::LatinHypercube,
        SamplingMethod::Sobol,
    ] {
        let options = options(n, sampling);
        let gpu = run(&device, &model, &options);
        let sampler = Sampler::new(sampling, options.seed, n, inputs as usize).expect("sampler");
        let mut exact = 0usize;
        for d in 0..inputs as usize {
            let mut cpu = vec![0.0; n as usize];
            sampler.fill(d, 0, &mut cpu);
            for (i, (&g, &c)) in gpu.samples.outputs[d].iter().zip(&cpu).enumerate() {
                let g = g as f32;
                match sampling {
                    SamplingMethod::MonteCarlo => {
                        // The shader returns u itself up to one half and 1 - v above, from
                        // u = f32(c) and v = f32(1 - c) (1 - c is exact in f64).
                        let want = if (c as f32) > 0.5 {
                            1.0f32 - (1.0 - c) as f32
                        } else {
                            c as f32
                        };
                        assert_eq!(
                            g.to_bits(),
                            want.to_bits(),
                            "input {d} iteration {i}: {g} vs {c}"
                        );
                        exact += 1;
                    }
                    SamplingMethod::LatinHypercube => {
                        let stratum = (c * n as f64).floor();
                        let gs = (f64::from(g) * n as f64).floor();
                        assert!(
                            (gs - stratum).abs() <= 1.0
                                && ((f64::from(g) - c).abs()
                                    <= 2.0 * f64::from(f32::EPSILON) * c.max(1e-30)
                                    || gs == stratum),
                            "input {d} iteration {i}: {g} vs {c}"
                        );
                    }
                    SamplingMethod::Sobol => {
                        let tolerance = 2.0 * f64::from(f32::EPSILON) * c.min(1.0 - c).max(c);
                        assert!(
                            (f64::from(g) - c).abs() <= tolerance,
                            "input {d} iteration {i}: {g} vs {c}"
                        );
                    }
                }
            }
        }
        if sampling == SamplingMethod::MonteCarlo {
            assert_eq!(exact, (n * u64::from(inputs)) as usize);
        }
    }
}

/// The parity bar: npv10 at 1,000,000 iterations, same seed, every statistic of
/// both outputs within 1e-4 relative of the CPU's (measured: about 3e-6).
#[test]
fn npv10_statistics_match_the_cpu_at_a_million_iterations() {
    let device = GpuDevice::shared().expect("a Vulkan adapter (lavapipe on CI)");
    let model = npv10();
    let options = SimulationOptions {
        sensitivity: true,
        ..options(1_000_000, SamplingMethod::LatinHypercube)
    };
    let gpu = run(&device, &model, &options);
    let cpu = ultra_engine::simulate(&model, &options, &|_| {}, &AtomicBool::new(false))
        .expect("CPU run");
    assert_eq!(gpu.engine.kind, "gpu");
    assert_eq!(gpu.engine.precision, "f32");
    let close = |what: &str, g: f64, c: f64, scale: f64| {
        let relative = (g - c).abs() / scale;
        eprintln!("{what}: gpu {g} cpu {c} relative {relative:.2e}");
        assert!(relative <= 1e-4, "{what}: gpu {g} cpu {c} ({relative:.2e})");
    };
    for (g, c) in gpu.outputs.iter().zip(&cpu.outputs) {
        let (gs, cs) = (&g.statistics, &c.statistics);
        assert_eq!((gs.count, gs.errors), (cs.count, cs.errors));
        let name = &g.name;
        close(&format!("{name} mean"), gs.mean, cs.mean, cs.mean.abs());
        close(&format!("{name} std"), gs.std, cs.std, cs.std);
        close(&format!("{name} min"), gs.min, cs.min, cs.std);
        close(&format!("{name} max"), gs.max, cs.max, cs.std);
        // Shape statistics are dimensionless: compared on an absolute scale of one.
        close(&format!("{name} skewness"), gs.skewness, cs.skewness, 1.0);
        close(&format!("{name} kurtosis"), gs.kurtosis, cs.kurtosis, 1.0);
        for (gp, cp) in gs.percentiles.iter().zip(&cs.percentiles) {
            close(&format!("{name} p{}", gp.p), gp.value, cp.value, cs.std);
        }
        for (gi, ci) in g.sensitivity.iter().zip(&c.sensitivity) {
            assert_eq!(gi.node, ci.node, "{name}: tornado order");
            close(
                &format!("{name} spearman {}", gi.name),
                gi.spearman,
                ci.spearman,
                1.0,
            );
        }
    }
    // On-device reduction: the moments over every iteration agree as well.
    let reduced = ultra_gpu::simulate(
        &device,
        &model,
        &options,
        Statistics::Device {
            kept_samples: 100_000,
        },
        &|_| {},
        &AtomicBool::new(false),
    )
    .expect("reduced GPU run");
    for (g, c) in reduced.outputs.iter().zip(&cpu.outputs) {
        let (gs, cs) = (&g.statistics, &c.statistics);
        assert_eq!(gs.count, cs.count);
        close(
            &format!("{} reduced mean", g.name),
            gs.mean,
            cs.mean,
            cs.mean.abs(),
        );
        close(&format!("{} reduced std", g.name), gs.std, cs.std, cs.std);
        close(&format!("{} reduced min", g.name), gs.min, cs.min, cs.std);
        close(&format!("{} reduced max", g.name), gs.max, cs.max, cs.std);
        close(
            &format!("{} reduced skewness", g.name),
            gs.skewness,
            cs.skewness,
            1.0,
        );
        close(
            &format!("{} reduced kurtosis", g.name),
            gs.kurtosis,
            cs.kurtosis,
            1.0,
        );
        // The device histogram covers every iteration: at each edge, its cumulative count
        // matches the CPU samples below that edge (f32 rounding moves only samples within
        // an ulp of an edge).
        let histogram = &gs.histogram;
        assert_eq!(histogram.counts.iter().sum::<u64>(), cs.count);
        assert!(
            histogram.counts.len() >= 100,
            "{} bins",
            histogram.counts.len()
        );
        let mut sorted = cpu.samples.outputs[output_index(&cpu, &g.name)].clone();
        sorted.sort_by(f64::total_cmp);
        let mut below = 0u64;
        let mut worst = 0u64;
        for (edge, count) in histogram.edges.iter().zip(&histogram.counts) {
            let cpu_below = sorted.partition_point(|x| x < edge) as u64;
            worst = worst.max(cpu_below.abs_diff(below));
            below += count;
        }
        eprintln!(
            "{} histogram: worst cumulative difference {worst} samples",
            g.name
        );
        assert!(worst <= 20, "{}: {worst}", g.name);
    }
}

fn output_index(result: &ultra_engine::SimulationResult, name: &str) -> usize {
    result
        .outputs
        .iter()
        .position(|o| o.name == name)
        .unwrap_or(0)
}

/// The native 64-bit multiply and the 16-bit-halves emulation give the same Philox words,
/// hence bit-identical samples.
#[test]
fn both_wide_multiply_paths_agree_bit_for_bit() {
    let native = GpuDevice::shared().expect("a Vulkan adapter");
    let emulated = GpuDevice::open_with(OpenOptions {
        allow_int64: false,
        ..OpenOptions::from_env()
    })
    .expect("a second device");
    assert!(!emulated.uses_int64());
    let model = npv10();
    let options = options(20_000, SamplingMethod::MonteCarlo);
    let a = run(&native, &model, &options);
    let b = run(&emulated, &model, &options);
    for (x, y) in a.samples.outputs.iter().zip(&b.samples.outputs) {
        assert!(x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits()));
    }
}

/// A device lost mid-run fails the run with `DeviceLost` at the next batch; the device is
/// then refused, and a fresh one runs.
#[test]
fn a_lost_device_fails_the_run_cleanly() {
    let device = GpuDevice::open_with(OpenOptions::from_env()).expect("a Vulkan adapter");
    let model = uniforms_model(1);
    let options = options(3_000_000, SamplingMethod::MonteCarlo);
    let progress = |_: ultra_engine::executor::Progress| device.simulate_loss();
    let outcome = ultra_gpu::simulate(
        &device,
        &model,
        &options,
        Statistics::Host,
        &progress,
        &AtomicBool::new(false),
    );
    assert!(matches!(outcome, Err(GpuError::DeviceLost)), "{outcome:?}");
    assert!(device.is_lost());
    let again = ultra_gpu::simulate(
        &device,
        &model,
        &options,
        Statistics::Host,
        &|_| {},
        &AtomicBool::new(false),
    );
    assert!(matches!(again, Err(GpuError::DeviceLost)));
    let fresh = GpuDevice::open_with(OpenOptions::from_env()).expect("a fresh device");
    assert!(
        run(&fresh, &model, &ultra_gpu_options_small()).outputs[0]
            .statistics
            .count
            > 0
    );
}

fn ultra_gpu_options_small() -> SimulationOptions {
    options(1_000, SamplingMethod::MonteCarlo)
}

/// Cancel is honoured between batches, with the engine's own error.
#[test]
fn cancel_stops_between_batches() {
    let device = GpuDevice::shared().expect("a Vulkan adapter");
    let cancel = AtomicBool::new(false);
    let progress = |_: ultra_engine::executor::Progress| cancel.store(true, Ordering::Relaxed);
    let outcome = ultra_gpu::simulate(
        &device,
        &uniforms_model(1),
        &options(3_000_000, SamplingMethod::MonteCarlo),
        Statistics::Host,
        &progress,
        &cancel,
    );
    assert!(
        matches!(
            outcome,
            Err(GpuError::Engine(ultra_engine::EngineError::Cancelled))
        ),
        "{outcome:?}"
    );
}

/// A model beyond what one shader takes is refused with a clear error before any driver
/// sees it, and `auto` would run it on the CPU instead.
#[test]
fn a_model_too_large_for_one_shader_is_refused_clearly() {
    let device = GpuDevice::shared().expect("a Vulkan adapter");
    let mut nodes = vec![
        serde_json::json!({"id": 0, "op": "const", "value": 1.0}),
        serde_json::json!({"id": 1, "op": "input", "distribution": {"family": "normal"}, "params": [0, 0]}),
    ];
    for id in 2..70_000u32 {
        nodes.push(serde_json::json!({"id": id, "op": "call", "func": "add", "args": [id - 1, 0]}));
    }
    nodes.push(serde_json::json!({"id": 70_000, "op": "output", "name": "y", "arg": 69_999}));
    let model: Model =
        serde_json::from_value(serde_json::json!({ "nodes": nodes })).expect("model");
    let outcome = ultra_gpu::simulate(
        &device,
        &model,
        &options(100, SamplingMethod::MonteCarlo),
        Statistics::Host,
        &|_| {},
        &AtomicBool::new(false),
    );
    match outcome {
        Err(error @ GpuError::TooLarge(_)) => {
            assert!(error.to_string().contains("70001 nodes"), "{error}");
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
}
