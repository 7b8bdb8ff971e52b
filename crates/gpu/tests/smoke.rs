use std::sync::atomic::AtomicBool;

use ultra_engine::{Model, SamplingMethod, SimulationOptions};
use ultra_gpu::{GpuDevice, Statistics};

#[test]
fn npv10_runs() {
    let model: Model =
        serde_json::from_str(include_str!("../../../examples/npv10.ir.json")).unwrap();
    let device = GpuDevice::shared().unwrap();
    eprintln!("{:?}", device.description());
    for sampling in [
        SamplingMethod::MonteCarlo,
        SamplingMethod::LatinHypercube,
        SamplingMethod::Sobol,
    ] {
        let options = SimulationOptions {
            iterations: 100_000,
            seed: 42,
            sampling,
            ..Default::default()
        };
        let cancel = AtomicBool::new(false);
        let t = std::time::Instant::now();
        let gpu = ultra_gpu::simulate(
            &device,
            &model,
            &options,
            Statistics::Host,
            &|_| {},
            &cancel,
        )
        .unwrap();
        eprintln!("gpu {:?}", t.elapsed());
        let cpu = ultra_engine::simulate(&model, &options, &|_| {}, &cancel).unwrap();
        for (g, c) in gpu.outputs.iter().zip(&cpu.outputs) {
            eprintln!(
                "{sampling:?} {} gpu mean {} sd {} | cpu mean {} sd {}",
                g.name, g.statistics.mean, g.statistics.std, c.statistics.mean, c.statistics.std
            );
        }
        let mut worst = 0f64;
        for (gc, cc) in gpu.samples.outputs.iter().zip(&cpu.samples.outputs) {
            for (g, c) in gc.iter().zip(cc) {
                worst = worst.max((g - c).abs() / c.abs().max(1.0));
            }
        }
        eprintln!("worst rel {worst:e}");
        let reduced = ultra_gpu::simulate(
            &device,
            &model,
            &options,
            Statistics::Device {
                kept_samples: 10_000,
            },
            &|_| {},
            &cancel,
        )
        .unwrap();
        for g in &reduced.outputs {
            eprintln!(
                "reduced {} mean {} sd {} min {} max {} skew {} count {}",
                g.name,
                g.statistics.mean,
                g.statistics.std,
                g.statistics.min,
                g.statistics.max,
                g.statistics.skewness,
                g.statistics.count
            );
        }
    }
}
