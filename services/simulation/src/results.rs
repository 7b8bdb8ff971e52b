//! From the engine's [`SimulationResult`] to the `SimulationResults` message the results
//! service stores: the summary of every output and its sensitivity tornado. The raw samples
//! stay behind (they are large; exports come in a later issue), and so do the ECDF and
//! convergence series, which the contract does not carry yet.

use ultra_engine::simulate::OutputResult;
use ultra_engine::{EngineInfo, SimulationResult};
use ultra_proto::v1;

/// What the job adds to the engine's figures: who ran it, and how.
pub struct RunFacts<'a> {
    pub simulation_id: &'a str,
    pub org_id: &'a str,
    pub engine: &'a EngineInfo,
    pub elapsed_ms: f64,
}

pub fn to_proto(result: &SimulationResult, facts: &RunFacts<'_>) -> v1::SimulationResults {
    v1::SimulationResults {
        simulation_id: facts.simulation_id.to_owned(),
        org_id: facts.org_id.to_owned(),
        iterations: result.iterations,
        seed: result.seed,
        sampling: sampling_to_proto(result.sampling) as i32,
        engine: facts.engine.kind.clone(),
        adapter: facts.engine.adapter.clone().unwrap_or_default(),
        precision: facts.engine.precision.clone(),
        elapsed_ms: facts.elapsed_ms,
        compute_units: result.compute_units,
        outputs: result.outputs.iter().map(output_to_proto).collect(),
    }
}

fn output_to_proto(output: &OutputResult) -> v1::OutputResults {
    let statistics = &output.statistics;
    v1::OutputResults {
        name: output.name.clone(),
        count: statistics.count,
        errors: statistics.errors,
        mean: statistics.mean,
        std: statistics.std,
        min: statistics.min,
        max: statistics.max,
        skewness: statistics.skewness,
        kurtosis: statistics.kurtosis,
        std_error: statistics.std_error,
        percentiles: statistics
            .percentiles
            .iter()
            .map(|percentile| v1::Percentile {
                p: percentile.p,
                value: percentile.value,
            })
            .collect(),
        histogram: Some(v1::Histogram {
            edges: statistics.histogram.edges.clone(),
            counts: statistics.histogram.counts.clone(),
        }),
        sensitivity: output
            .sensitivity
            .iter()
            .map(|input| v1::Sensitivity {
                input: input.input.clone(),
                name: input.name.clone(),
                spearman: input.spearman,
                regression: input.regression,
                contribution_to_variance: input.contribution_to_variance,
                mean_at_low: input.mean_at_low,
                mean_at_high: input.mean_at_high,
            })
            .collect(),
    }
}

/// The engine's sampling method as the contract spells it.
pub fn sampling_to_proto(sampling: ultra_engine::SamplingMethod) -> v1::SamplingMethod {
    match sampling {
        ultra_engine::SamplingMethod::MonteCarlo => v1::SamplingMethod::MonteCarlo,
        ultra_engine::SamplingMethod::LatinHypercube => v1::SamplingMethod::LatinHypercube,
        ultra_engine::SamplingMethod::Sobol => v1::SamplingMethod::Sobol,
    }
}

/// The contract's sampling method for the engine: unspecified is Latin Hypercube (the
/// engine's default, as `common.proto` documents).
pub fn sampling_from_proto(sampling: v1::SamplingMethod) -> ultra_engine::SamplingMethod {
    match sampling {
        v1::SamplingMethod::Unspecified | v1::SamplingMethod::LatinHypercube => {
            ultra_engine::SamplingMethod::LatinHypercube
        }
        v1::SamplingMethod::MonteCarlo => ultra_engine::SamplingMethod::MonteCarlo,
        v1::SamplingMethod::Sobol => ultra_engine::SamplingMethod::Sobol,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use super::*;

    #[test]
    fn every_output_keeps_its_statistics_and_tornado() {
        let model: ultra_engine::Model = serde_json::from_str(
            r#"{"nodes": [
                {"id": 1, "label": "a", "op": "input", "distribution": {"family": "uniform"}, "params": [2, 3]},
                {"id": 2, "op": "const", "value": 0},
                {"id": 3, "op": "const", "value": 1},
                {"id": 4, "op": "output", "name": "A", "arg": 1}]}"#,
        )
        .expect("model parses");
        let options = ultra_engine::SimulationOptions {
            iterations: 1000,
            ..Default::default()
        };
        let result = ultra_engine::simulate(&model, &options, &|_| {}, &AtomicBool::new(false))
            .expect("simulation runs");
        let facts = RunFacts {
            simulation_id: "s1",
            org_id: "o1",
            engine: &result.engine,
            elapsed_ms: 1.5,
        };
        let proto = to_proto(&result, &facts);
        assert_eq!(proto.simulation_id, "s1");
        assert_eq!(proto.iterations, 1000);
        assert_eq!(proto.sampling, v1::SamplingMethod::LatinHypercube as i32);
        assert_eq!(proto.outputs.len(), 1);
        let output = &proto.outputs[0];
        assert_eq!(output.name, "A");
        assert_eq!(output.count, 1000);
        assert!((output.mean - 0.5).abs() < 0.01);
        assert_eq!(output.percentiles.len(), 9);
        assert_eq!(output.sensitivity.len(), 1);
        assert_eq!(output.sensitivity[0].input, "a");
        let histogram = output.histogram.as_ref().expect("histogram");
        assert_eq!(histogram.edges.len(), histogram.counts.len() + 1);
    }
}
