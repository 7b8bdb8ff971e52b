//! End-to-end tests of `simulate`: reproducibility, closed forms, marginals through the
//! executor, correlation, progress and cancellation, and bad input.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use ultra_engine::dist::{Distribution, Family, Univariate};
use ultra_engine::executor::Progress;
use ultra_engine::ir::{Correlation, Func, InputSpec, ModelError, Node, NodeId, Op};
use ultra_engine::{EngineError, Model, SamplingMethod, SimulationOptions, simulate};

/// Builds models node by node.
#[derive(Default)]
struct Builder {
    nodes: Vec<Node>,
    correlations: Vec<Correlation>,
}

impl Builder {
    fn push(&mut self, label: Option<&str>, op: Op) -> NodeId {
        let id = self.nodes.len() as NodeId * 3 + 7; // sparse ids on purpose
        self.nodes.push(Node {
            id,
            label: label.map(str::to_string),
            op,
        });
        id
    }
    fn constant(&mut self, value: f64) -> NodeId {
        self.push(None, Op::Const { value })
    }
    fn input(&mut self, label: &str, family: Family, params: &[f64]) -> NodeId {
        let params = params.iter().map(|p| self.constant(*p)).collect();
        self.input_from(label, family, params)
    }
    fn input_from(&mut self, label: &str, family: Family, params: Vec<NodeId>) -> NodeId {
        let spec = InputSpec {
            distribution: family,
            params,
            lower: None,
            upper: None,
            shift: None,
            name: None,
        };
        self.push(Some(label), Op::Input(spec))
    }
    fn call(&mut self, func: Func, args: &[NodeId]) -> NodeId {
        self.push(
            None,
            Op::Call {
                func,
                args: args.to_vec(),
            },
        )
    }
    fn output(&mut self, name: &str, arg: NodeId) -> NodeId {
        self.push(
            None,
            Op::Output {
                name: name.into(),
                arg,
            },
        )
    }
    fn model(self) -> Model {
        Model {
            name: "test".into(),
            nodes: self.nodes,
            correlations: self.correlations,
        }
    }
}

fn quiet(_: Progress) {}

fn run(
    model: &Model,
    options: &SimulationOptions,
) -> Result<ultra_engine::SimulationResult, EngineError> {
    simulate(model, options, &quiet, &AtomicBool::new(false))
}

fn options(iterations: u64, sampling: SamplingMethod) -> SimulationOptions {
    SimulationOptions {
        iterations,
        seed: 20261126,
        sampling,
        ..SimulationOptions::default()
    }
}

/// A small NPV-like model with correlation, a dynamic parameter and every kind of node.
fn rich_model() -> Model {
    let mut b = Builder::default();
    let revenue = b.input("revenue", Family::Triang, &[80.0, 100.0, 130.0]);
    let growth = b.input("growth", Family::Normal, &[0.05, 0.02]);
    let cost = b.input("cost", Family::Uniform, &[0.55, 0.7]);
    let sd = b.constant(5.0);
    // A distribution whose mean is another input's value.
    let noisy = b.input_from("noisy", Family::Normal, vec![revenue, sd]);
    let one = b.constant(1.0);
    let margin = b.call(Func::Sub, &[one, cost]);
    let grow = b.call(Func::Add, &[one, growth]);
    let cf1 = b.call(Func::Mul, &[noisy, margin]);
    let rev2 = b.call(Func::Mul, &[revenue, grow]);
    let cf2 = b.call(Func::Mul, &[rev2, margin]);
    let total = b.call(Func::Sum, &[cf1, cf2]);
    let limit = b.constant(75.0);
    let big = b.call(Func::Gt, &[total, limit]);
    let capped = b.call(Func::Select, &[big, limit, total]);
    b.output("total", total);
    b.output("capped", capped);
    b.correlations.push(Correlation::Pair {
        a: revenue,
        b: growth,
        rank: 0.5,
    });
    b.model()
}

#[test]
fn results_do_not_depend_on_threads_or_chunking() {
    let model = rich_model();
    for sampling in [
        SamplingMethod::MonteCarlo,
        SamplingMethod::LatinHypercube,
        SamplingMethod::Sobol,
    ] {
        let reference = run(
            &model,
            &SimulationOptions {
                threads: Some(1),
                ..options(20_000, sampling)
            },
        )
        .expect("runs");
        for (threads, chunk) in [
            (Some(4), Some(256)),
            (None, Some(1000)),
            (Some(3), Some(4096)),
            (Some(2), None),
        ] {
            let other = run(
                &model,
                &SimulationOptions {
                    threads,
                    chunk_size: chunk,
                    ..options(20_000, sampling)
                },
            )
            .expect("runs");
            for (a, b) in reference.samples.outputs.iter().zip(&other.samples.outputs) {
                assert!(
                    a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()),
                    "{sampling:?}: samples differ with threads {threads:?}, chunk {chunk:?}"
                );
            }
            // Statistics too, to the bit (serialised, so NaN compares equal to itself).
            let a = serde_json::to_string(&reference.outputs).expect("serialises");
            let b = serde_json::to_string(&other.outputs).expect("serialises");
            assert_eq!(
                a, b,
                "{sampling:?}: statistics differ with threads {threads:?}, chunk {chunk:?}"
            );
        }
    }
}

#[test]
fn different_seeds_give_different_samples() {
    let model = rich_model();
    let a = run(&model, &options(1000, SamplingMethod::LatinHypercube)).expect("runs");
    let b = run(
        &model,
        &SimulationOptions {
            seed: 7,
            ..options(1000, SamplingMethod::LatinHypercube)
        },
    )
    .expect("runs");
    assert_ne!(a.samples.outputs[0], b.samples.outputs[0]);
}

/// X + 2Y - Z with independent normals: mean and variance in closed form.
#[test]
fn sum_of_normals_matches_closed_form() {
    let mut b = Builder::default();
    let x = b.input("x", Family::Normal, &[1.0, 2.0]);
    let y = b.input("y", Family::Normal, &[-3.0, 0.5]);
    let z = b.input("z", Family::Normal, &[10.0, 1.5]);
    let two = b.constant(2.0);
    let y2 = b.call(Func::Mul, &[two, y]);
    let s = b.call(Func::Add, &[x, y2]);
    let out = b.call(Func::Sub, &[s, z]);
    b.output("sum", out);
    let model = b.model();
    let (mean, variance) = (1.0 - 6.0 - 10.0, 4.0 + 4.0 * 0.25 + 2.25);
    let n = 200_000u64;
    for sampling in [
        SamplingMethod::MonteCarlo,
        SamplingMethod::LatinHypercube,
        SamplingMethod::Sobol,
    ] {
        let result = run(&model, &options(n, sampling)).expect("runs");
        let stats = &result.outputs[0].statistics;
        let se_mean = (variance / n as f64).sqrt();
        // Standard error of the sample variance of a normal: sigma^2 sqrt(2 / (n - 1)).
        let se_variance = variance * (2.0 / (n as f64 - 1.0)).sqrt();
        assert!(
            (stats.mean - mean).abs() < 4.0 * se_mean,
            "{sampling:?}: mean {}",
            stats.mean
        );
        assert!(
            (stats.std * stats.std - variance).abs() < 4.0 * se_variance,
            "{sampling:?}: variance {}",
            stats.std * stats.std
        );
        // Skewness and excess kurtosis of a normal are 0; their standard errors are
        // sqrt(6/n) and sqrt(24/n).
        assert!(
            stats.skewness.abs() < 4.0 * (6.0 / n as f64).sqrt(),
            "skewness {}",
            stats.skewness
        );
        assert!(
            stats.kurtosis.abs() < 4.0 * (24.0 / n as f64).sqrt(),
            "kurtosis {}",
            stats.kurtosis
        );
        assert_eq!(stats.count, n);
        assert_eq!(stats.errors, 0);
    }
}

/// Kolmogorov-Smirnov statistic of `samples` against `dist`.
fn ks_statistic(samples: &mut [f64], dist: &Distribution) -> f64 {
    samples.sort_by(f64::total_cmp);
    let n = samples.len() as f64;
    samples.iter().enumerate().fold(0.0f64, |worst, (i, &x)| {
        let f = dist.cdf(x);
        worst
            .max((f - i as f64 / n).abs())
            .max(((i + 1) as f64 / n - f).abs())
    })
}

/// Marginals sampled through the whole executor pass a KS test at alpha = 0.001
/// (critical value 1.949 / sqrt(n)), with Monte Carlo sampling and a fixed seed.
#[test]
fn sampled_continuous_marginals_pass_kolmogorov_smirnov() {
    let cases: Vec<(Family, Vec<f64>)> = vec![
        (Family::Normal, vec![10.0, 3.0]),
        (Family::Lognormal, vec![5.0, 2.0]),
        (Family::Triang, vec![-1.0, 0.0, 4.0]),
        (Family::Pert, vec![0.0, 1.0, 10.0]),
        (Family::Gamma, vec![0.7, 2.0]),
        (Family::Weibull, vec![1.5, 3.0]),
        (Family::Student, vec![3.5]),
        (Family::BetaGeneral, vec![2.0, 5.0, 10.0, 20.0]),
        (Family::Loglogistic, vec![0.0, 2.0, 3.0]),
        (Family::ExtValue, vec![1.0, 2.0]),
    ];
    let n = 50_000usize;
    let mut b = Builder::default();
    for (k, (family, params)) in cases.iter().enumerate() {
        let input = b.input(&format!("x{k}"), family.clone(), params);
        b.output(&format!("x{k}"), input);
    }
    let result = run(&b.model(), &options(n as u64, SamplingMethod::MonteCarlo)).expect("runs");
    for ((family, params), samples) in cases.iter().zip(&result.samples.outputs) {
        let dist = Distribution::new(family, params).expect("valid");
        let d = ks_statistic(&mut samples.clone(), &dist);
        assert!(
            d < 1.949 / (n as f64).sqrt(),
            "{family:?} {params:?}: KS D = {d}"
        );
    }
}

/// Discrete marginals pass a chi-square goodness-of-fit test at alpha = 0.001.
#[test]
fn sampled_discrete_marginals_pass_chi_square() {
    let cases: Vec<(Family, Vec<f64>)> = vec![
        (Family::Poisson, vec![3.5]),
        (Family::Binomial, vec![20.0, 0.3]),
        (Family::NegBin, vec![3.0, 0.4]),
        (Family::Geometric, vec![0.25]),
        (Family::IntUniform, vec![-2.0, 7.0]),
        (
            Family::Discrete {
                values: vec![1.0, 5.0, 10.0],
                weights: vec![1.0, 2.0, 7.0],
            },
            vec![],
        ),
    ];
    let n = 50_000usize;
    let mut b = Builder::default();
    for (k, (family, params)) in cases.iter().enumerate() {
        let input = b.input(&format!("x{k}"), family.clone(), params);
        b.output(&format!("x{k}"), input);
    }
    let result = run(&b.model(), &options(n as u64, SamplingMethod::MonteCarlo)).expect("runs");
    for ((family, params), samples) in cases.iter().zip(&result.samples.outputs) {
        let dist = Distribution::new(family, params).expect("valid");
        // Support points with probability >= 1e-4, found through the quantile function;
        // cells merge neighbours until each expects >= 5 samples; the last takes the rest.
        let mut support: Vec<f64> = (0..10_000)
            .map(|k| dist.inverse_cdf((k as f64 + 0.5) / 10_000.0))
            .collect();
        support.dedup();
        let mut edges = Vec::new(); // right edges of all cells but the last
        let mut previous_cdf = 0.0;
        for &x in &support {
            let c = dist.cdf(x);
            if (c - previous_cdf) * n as f64 >= 5.0 && (1.0 - c) * n as f64 >= 5.0 {
                edges.push(x);
                previous_cdf = c;
            }
        }
        let mut observed = vec![0u64; edges.len() + 1];
        for &s in samples {
            observed[edges.partition_point(|e| *e < s)] += 1;
        }
        let mut chi2 = 0.0;
        let mut below = 0.0;
        for (cell, &count) in observed.iter().enumerate() {
            let upto = edges.get(cell).map_or(1.0, |e| dist.cdf(*e));
            let expected = (upto - below) * n as f64;
            below = upto;
            chi2 += (count as f64 - expected).powi(2) / expected;
        }
        let dof = (observed.len() - 1) as f64;
        // Wilson-Hilferty approximation of the 0.999 quantile of chi-square(dof).
        let z = 3.090;
        let critical = dof * (1.0 - 2.0 / (9.0 * dof) + z * (2.0 / (9.0 * dof)).sqrt()).powi(3);
        assert!(
            chi2 < critical,
            "{family:?} {params:?}: chi2 {chi2} >= {critical} ({dof} dof)"
        );
    }
}

fn spearman(a: &[f64], b: &[f64]) -> f64 {
    fn ranks(x: &[f64]) -> Vec<f64> {
        let mut order: Vec<usize> = (0..x.len()).collect();
        order.sort_by(|&i, &j| x[i].total_cmp(&x[j]));
        let mut r = vec![0.0; x.len()];
        for (rank, i) in order.into_iter().enumerate() {
            r[i] = rank as f64;
        }
        r
    }
    let (ra, rb) = (ranks(a), ranks(b));
    let n = a.len() as f64;
    let mean = (n - 1.0) / 2.0;
    let cov: f64 = ra
        .iter()
        .zip(&rb)
        .map(|(x, y)| (x - mean) * (y - mean))
        .sum();
    let var: f64 = ra.iter().map(|x| (x - mean).powi(2)).sum();
    cov / var
}

#[test]
fn achieved_rank_correlation_is_within_0_02_of_target() {
    for (target, sampling) in [
        (0.3, SamplingMethod::LatinHypercube),
        (-0.8, SamplingMethod::MonteCarlo),
        (0.9, SamplingMethod::Sobol),
    ] {
        let mut b = Builder::default();
        let x = b.input("x", Family::Gamma, &[2.0, 1.0]);
        let y = b.input("y", Family::Triang, &[0.0, 1.0, 5.0]);
        b.output("x", x);
        b.output("y", y);
        b.correlations.push(Correlation::Pair {
            a: x,
            b: y,
            rank: target,
        });
        let result = run(&b.model(), &options(100_000, sampling)).expect("runs");
        let achieved = spearman(&result.samples.outputs[0], &result.samples.outputs[1]);
        assert!(
            (achieved - target).abs() < 0.02,
            "{sampling:?}: target {target}, achieved {achieved}"
        );
    }
}

#[test]
fn invalid_correlation_matrix_is_repaired_and_reported() {
    let mut b = Builder::default();
    let ids: Vec<NodeId> = (0..3)
        .map(|k| b.input(&format!("x{k}"), Family::Normal, &[0.0, 1.0]))
        .collect();
    let s = b.call(Func::Sum, &ids);
    b.output("s", s);
    // Pairwise feasible, jointly impossible: x0~x1 and x1~x2 strongly positive, x0~x2 negative.
    b.correlations.push(Correlation::Matrix {
        inputs: ids.clone(),
        matrix: vec![
            vec![1.0, 0.9, -0.9],
            vec![0.9, 1.0, 0.9],
            vec![-0.9, 0.9, 1.0],
        ],
    });
    let result = run(&b.model(), &options(2000, SamplingMethod::LatinHypercube)).expect("runs");
    assert_eq!(result.correlations.len(), 1);
    assert!(result.correlations[0].repaired);
    assert_ne!(result.correlations[0].adjusted_rank_matrix[0][2], -0.9);
}

#[test]
fn sensitivity_ranks_the_inputs_that_matter() {
    let mut b = Builder::default();
    let big = b.input("big", Family::Normal, &[0.0, 10.0]);
    let small = b.input("small", Family::Normal, &[0.0, 1.0]);
    let negative = b.input("negative", Family::Uniform, &[0.0, 5.0]);
    let s = b.call(Func::Add, &[big, small]);
    let out = b.call(Func::Sub, &[s, negative]);
    b.output("out", out);
    let result = run(&b.model(), &options(50_000, SamplingMethod::LatinHypercube)).expect("runs");
    let sensitivity = &result.outputs[0].sensitivity;
    let names: Vec<&str> = sensitivity.iter().map(|s| s.input.as_str()).collect();
    assert_eq!(names, ["big", "negative", "small"]);
    assert!(sensitivity[0].spearman > 0.9);
    assert!(
        sensitivity[1].spearman < 0.0 && sensitivity[1].mean_at_high < sensitivity[1].mean_at_low
    );
    // Linear model: standardised regression coefficients are sd_k * coef / sd_out.
    let sd_out = (100.0f64 + 1.0 + 25.0 / 12.0).sqrt();
    assert!((sensitivity[0].regression - 10.0 / sd_out).abs() < 0.01);
    assert!((sensitivity[1].regression + (25.0f64 / 12.0).sqrt() / sd_out).abs() < 0.01);
    let total: f64 = sensitivity
        .iter()
        .map(|s| s.contribution_to_variance.abs())
        .sum();
    assert!((total - 1.0).abs() < 1e-9);
}

#[test]
fn error_iterations_are_counted_not_fatal() {
    let mut b = Builder::default();
    let coin = b.input("coin", Family::Bernoulli, &[0.25]);
    let one = b.constant(1.0);
    let ratio = b.call(Func::Div, &[one, coin]);
    b.output("ratio", ratio);
    let n = 10_000u64;
    let result = run(&b.model(), &options(n, SamplingMethod::LatinHypercube)).expect("runs");
    let stats = &result.outputs[0].statistics;
    assert_eq!(stats.count + stats.errors, n);
    // LHS stratifies the coin: exactly 75% of iterations are zeros, hence errors.
    assert_eq!(stats.errors, n * 3 / 4);
    assert_eq!(stats.mean, 1.0);
}

#[test]
fn progress_reaches_the_total_and_cancel_stops() {
    let model = rich_model();
    let seen = Mutex::new(Vec::new());
    let record = |p: Progress| seen.lock().expect("lock").push(p.completed_iterations);
    let opts = SimulationOptions {
        chunk_size: Some(1000),
        ..options(10_000, SamplingMethod::MonteCarlo)
    };
    simulate(&model, &opts, &record, &AtomicBool::new(false)).expect("runs");
    let seen = seen.into_inner().expect("lock");
    assert_eq!(seen.len(), 10);
    assert_eq!(seen.iter().max(), Some(&10_000));

    let cancel = AtomicBool::new(false);
    let stop_early = |p: Progress| {
        if p.completed_iterations >= 2000 {
            cancel.store(true, Ordering::Relaxed);
        }
    };
    let opts = SimulationOptions {
        chunk_size: Some(500),
        threads: Some(1),
        ..options(1_000_000, SamplingMethod::MonteCarlo)
    };
    assert_eq!(
        simulate(&model, &opts, &stop_early, &cancel).map(|_| ()),
        Err(EngineError::Cancelled)
    );
}

#[test]
fn bad_requests_get_typed_errors() {
    let model = rich_model();
    assert_eq!(
        run(&model, &options(0, SamplingMethod::MonteCarlo)).map(|_| ()),
        Err(EngineError::ZeroIterations)
    );
    let over = SimulationOptions {
        max_iterations: 1000,
        ..options(1001, SamplingMethod::MonteCarlo)
    };
    assert_eq!(
        run(&model, &over).map(|_| ()),
        Err(EngineError::TooManyIterations {
            requested: 1001,
            cap: 1000
        })
    );
    let zero_threads = SimulationOptions {
        threads: Some(0),
        ..options(10, SamplingMethod::MonteCarlo)
    };
    assert_eq!(
        run(&model, &zero_threads).map(|_| ()),
        Err(EngineError::ZeroThreads)
    );
    let bad_percentile = SimulationOptions {
        percentiles: vec![50.0, 101.0],
        ..options(10, SamplingMethod::MonteCarlo)
    };
    assert_eq!(
        run(&model, &bad_percentile).map(|_| ()),
        Err(EngineError::InvalidPercentile(101.0))
    );
}

#[test]
fn bad_distribution_parameters_get_typed_errors() {
    for (family, params) in [
        (Family::Normal, vec![0.0, -1.0]),
        (Family::Uniform, vec![5.0, 1.0]),
        (Family::Triang, vec![0.0, 5.0, 1.0]),
        (Family::Gamma, vec![-1.0, 1.0]),
        (Family::Normal, vec![1.0]),
    ] {
        let mut b = Builder::default();
        let x = b.input("x", family.clone(), &params);
        b.output("x", x);
        match run(&b.model(), &options(10, SamplingMethod::MonteCarlo)) {
            Err(EngineError::Model(ModelError::Distribution { .. })) => {}
            other => panic!("{family:?} {params:?}: expected a distribution error, got {other:?}"),
        }
    }
    // NaN cannot be written in JSON, but can reach the engine from code.
    assert!(Distribution::new(&Family::Normal, &[f64::NAN, 1.0]).is_err());
    assert!(Distribution::new(&Family::Uniform, &[0.0, f64::INFINITY]).is_err());
}

#[test]
fn dynamic_parameters_that_go_invalid_name_the_node_and_iteration() {
    let mut b = Builder::default();
    let sd = b.input("sd", Family::Uniform, &[-1.0, 1.0]);
    let zero = b.constant(0.0);
    let x = b.input_from("x", Family::Normal, vec![zero, sd]);
    b.output("x", x);
    match run(&b.model(), &options(100, SamplingMethod::MonteCarlo)) {
        Err(EngineError::DynamicDistribution { label, .. }) => {
            assert_eq!(label.as_deref(), Some("x"))
        }
        other => panic!("expected a dynamic distribution error, got {other:?}"),
    }
}

#[test]
fn bad_correlations_get_typed_errors() {
    let bad_matrices = [
        vec![vec![1.0, 0.5], vec![0.5]],
        vec![vec![1.0, 1.5], vec![1.5, 1.0]],
    ];
    for matrix in bad_matrices {
        let mut b = Builder::default();
        let x = b.input("x", Family::Normal, &[0.0, 1.0]);
        let y = b.input("y", Family::Normal, &[0.0, 1.0]);
        let s = b.call(Func::Add, &[x, y]);
        b.output("s", s);
        b.correlations.push(Correlation::Matrix {
            inputs: vec![x, y],
            matrix: matrix.clone(),
        });
        match run(&b.model(), &options(10, SamplingMethod::MonteCarlo)) {
            Err(EngineError::Correlation(_)) => {}
            other => panic!("{matrix:?}: expected a correlation error, got {other:?}"),
        }
    }
    let mut b = Builder::default();
    let x = b.input("x", Family::Normal, &[0.0, 1.0]);
    let c = b.constant(1.0);
    b.output("x", x);
    b.correlations.push(Correlation::Pair {
        a: x,
        b: c,
        rank: 0.5,
    });
    assert_eq!(
        run(&b.model(), &options(10, SamplingMethod::MonteCarlo)).map(|_| ()),
        Err(EngineError::Model(ModelError::NotAnInput(c)))
    );
}

/// Constants evaluated after a value has died must not share its (reused) slot: the
/// executor fills constants once per workspace, while steps overwrite their slots every chunk.
#[test]
fn constants_survive_slot_reuse() {
    let mut b = Builder::default();
    let x = b.input("x", Family::Uniform, &[0.0, 1.0]);
    let zero = b.constant(0.0);
    let y = b.call(Func::Mul, &[x, zero]);
    let five = b.constant(5.0);
    let out = b.call(Func::Add, &[y, five]);
    b.output("out", out);
    b.output("five", five);
    let result = run(&b.model(), &options(5000, SamplingMethod::MonteCarlo)).expect("runs");
    assert!(result.samples.outputs[0].iter().all(|v| *v == 5.0));
    assert!(result.samples.outputs[1].iter().all(|v| *v == 5.0));
}
