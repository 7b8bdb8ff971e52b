//! GPU vs CPU parity of every distribution family: the same seed gives the same samples,
//! continuous ones within 1e-5 relative, discrete ones equal except where the uniform lies
//! on a CDF step (within f32 rounding).
//!
//! Every case is one input of one model (with one output each), so that the whole family
//! list costs one shader compilation per sampling method (lavapipe compiles slowly).
//! Tolerance of a continuous sample: `|gpu - cpu| <= 1e-5 max(|cpu|, |cpu - shift|, IQR)`:
//! relative to the value, but never finer than the interquartile range (f32 arithmetic on
//! O(IQR) terms), nor than the unshifted value (a sum is only as exact as its terms).

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;

use ultra_engine::dist::{Distribution, Family, InputDistribution, Univariate};
use ultra_engine::ir::{Func, InputSpec, Model, Node, NodeId, Op};
use ultra_engine::sampling::Sampler;
use ultra_engine::{SamplingMethod, SimulationOptions};
use ultra_gpu::{GpuDevice, GpuError, Statistics};

const ITERATIONS: u64 = 20_000;
const SEED: u64 = 20_240_611;

/// One input of the test model.
#[derive(Clone)]
struct Case {
    name: String,
    family: Family,
    params: Vec<f64>,
    lower: Option<f64>,
    upper: Option<f64>,
    shift: Option<f64>,
    /// Parameters (and shift) as formulas rather than constants.
    dynamic: bool,
}

fn case(name: &str, family: Family, params: &[f64]) -> Case {
    Case {
        name: name.to_owned(),
        family,
        params: params.to_vec(),
        lower: None,
        upper: None,
        shift: None,
        dynamic: false,
    }
}

impl Case {
    fn truncate(mut self, lower: Option<f64>, upper: Option<f64>) -> Self {
        self.lower = lower;
        self.upper = upper;
        self
    }
    fn shift(mut self, shift: f64) -> Self {
        self.shift = Some(shift);
        self
    }
    fn dynamic(mut self) -> Self {
        self.dynamic = true;
        self
    }
    /// The CPU's distribution of this input.
    fn distribution(&self) -> InputDistribution {
        let base = Distribution::new(&self.family, &self.params).expect("valid parameters");
        InputDistribution::new(base, self.lower, self.upper, self.shift).expect("valid window")
    }
}

/// Every family, with a couple of parameter sets each: skewed and heavy-tailed shapes,
/// truncated and shifted inputs, formulas as parameters where a closed form allows them.
fn cases() -> Vec<Case> {
    use Family::*;
    let discrete = Discrete {
        values: vec![-1.5, 0.0, 2.5, 10.0, 4.0],
        weights: vec![1.0, 3.0, 0.5, 1e-3, 2.0],
    };
    let cumul = Cumul {
        xs: vec![1.0, 2.0, 2.5, 7.0],
        ps: vec![0.1, 0.1, 0.6, 0.99],
    };
    let general = General {
        xs: vec![0.5, 3.0, 4.0],
        densities: vec![2.0, 1.0, 3.0],
    };
    let histogram = Histogram {
        probabilities: vec![1.0, 0.0, 4.0, 2.0, 1e-3],
    };
    vec![
        case("normal(10,2)", Normal, &[10.0, 2.0]),
        case("normal(0,1)[-1,2]", Normal, &[0.0, 1.0]).truncate(Some(-1.0), Some(2.0)),
        case("normal(5,3) formulas", Normal, &[5.0, 3.0]).dynamic(),
        case("lognorm(10,5)", Lognormal, &[10.0, 5.0]),
        case("lognorm(1,0.001)", Lognormal, &[1.0, 0.001]),
        case("lognorm(10,5)[,20]+3", Lognormal, &[10.0, 5.0])
            .truncate(None, Some(20.0))
            .shift(3.0),
        case("lognorm2(0,1)", Lognormal2, &[0.0, 1.0]),
        case("lognorm2(2,0.5)-5", Lognormal2, &[2.0, 0.5]).shift(-5.0),
        case("uniform(-5,5)", Uniform, &[-5.0, 5.0]),
        case("uniform(-5,5)[0,]", Uniform, &[-5.0, 5.0]).truncate(Some(0.0), None),
        case("triang(0,2,10)", Triang, &[0.0, 2.0, 10.0]),
        case("triang(0,2,10)[1,9]", Triang, &[0.0, 2.0, 10.0]).truncate(Some(1.0), Some(9.0)),
        case("trigen(1,3,8,.1,.9)", Trigen, &[1.0, 3.0, 8.0, 0.1, 0.9]),
        case(
            "trigen(1,3,8,.1,.9)[2,7]",
            Trigen,
            &[1.0, 3.0, 8.0, 0.1, 0.9],
        )
        .truncate(Some(2.0), Some(7.0)),
        case("pert(0,3,10)", Pert, &[0.0, 3.0, 10.0]),
        case("pert(100,101,130,8)", Pert, &[100.0, 101.0, 130.0, 8.0]),
        case("beta(2,3)", Beta, &[2.0, 3.0]),
        case("beta(0.5,0.5)", Beta, &[0.5, 0.5]),
        case("beta(0.3,5)", Beta, &[0.3, 5.0]),
        case(
            "betageneral(2,5,10,20)",
            BetaGeneral,
            &[2.0, 5.0, 10.0, 20.0],
        ),
        case(
            "betageneral(0.5,2,-1,1)+1",
            BetaGeneral,
            &[0.5, 2.0, -1.0, 1.0],
        )
        .shift(1.0),
        case("gamma(2,1)", Gamma, &[2.0, 1.0]),
        case("gamma(0.1,3)", Gamma, &[0.1, 3.0]),
        case("gamma(0.5,1)[,3]", Gamma, &[0.5, 1.0]).truncate(None, Some(3.0)),
        case("gamma(3,2)+shift formula", Gamma, &[3.0, 2.0]).shift(4.0),
        case("expon(2)", Expon, &[2.0]),
        case("expon(2)[1,]+1", Expon, &[2.0])
            .truncate(Some(1.0), None)
            .shift(1.0),
        case("weibull(1.5,2)", Weibull, &[1.5, 2.0]),
        case("weibull(0.5,1)[0.1,10]", Weibull, &[0.5, 1.0]).truncate(Some(0.1), Some(10.0)),
        case("logistic(0,1)", Logistic, &[0.0, 1.0]),
        case("logistic(5,2)+3", Logistic, &[5.0, 2.0]).shift(3.0),
        case("loglogistic(0,1,3)", Loglogistic, &[0.0, 1.0, 3.0]),
        case(
            "loglogistic(-1,2,0.8)[,100]",
            Loglogistic,
            &[-1.0, 2.0, 0.8],
        )
        .truncate(None, Some(100.0)),
        case("student(1)", Student, &[1.0]),
        case("student(3)+5", Student, &[3.0]).shift(5.0),
        case("student(30)", Student, &[30.0]),
        case("student(2)[-50,1e3]", Student, &[2.0]).truncate(Some(-50.0), Some(1e3)),
        case("erlang(3,2)", Erlang, &[3.0, 2.0]),
        case("erlang(1,0.5)[0.1,]", Erlang, &[1.0, 0.5]).truncate(Some(0.1), None),
        case("chisq(1)", ChiSq, &[1.0]),
        case("chisq(7)", ChiSq, &[7.0]),
        case("pareto(2,1)", Pareto, &[2.0, 1.0]),
        case("pareto(0.8,3)[,1e4]", Pareto, &[0.8, 3.0]).truncate(None, Some(1e4)),
        case("extvalue(0,1)", ExtValue, &[0.0, 1.0]),
        case("extvalue(10,3)[5,30]", ExtValue, &[10.0, 3.0]).truncate(Some(5.0), Some(30.0)),
        case("bernoulli(0.3)", Bernoulli, &[0.3]),
        case("bernoulli(0.7) formula", Bernoulli, &[0.7]).dynamic(),
        case("binomial(40,0.3)", Binomial, &[40.0, 0.3]),
        case("binomial(1000,0.01)", Binomial, &[1000.0, 0.01]),
        case("binomial(100,0.5)[60,]", Binomial, &[100.0, 0.5]).truncate(Some(60.0), None),
        case("poisson(3.5)", Poisson, &[3.5]),
        case("poisson(2e4)", Poisson, &[2e4]),
        case("poisson(6)[3.5,9.5]+0.5", Poisson, &[6.0])
            .truncate(Some(3.5), Some(9.5))
            .shift(0.5),
        case("geomet(0.2)", Geometric, &[0.2]),
        case("geomet(0.05) formula", Geometric, &[0.05]).dynamic(),
        case("geomet(1e-7) closed", Geometric, &[1e-7]),
        case("negbin(3,0.4)", NegBin, &[3.0, 0.4]),
        case("negbin(1,0.01)", NegBin, &[1.0, 0.01]),
        case("intuniform(-3,7)", IntUniform, &[-3.0, 7.0]),
        case("intuniform(0,100) formulas", IntUniform, &[0.0, 100.0]).dynamic(),
        case("intuniform(0,1e8) closed", IntUniform, &[0.0, 1e8]),
        case("discrete", discrete.clone(), &[]),
        case("discrete[0,5]+1", discrete, &[])
            .truncate(Some(0.5), Some(6.0))
            .shift(1.0),
        case("cumul(0,10)", cumul.clone(), &[0.0, 10.0]),
        case("cumul(0,10)[3.5,10]+2", cumul, &[0.0, 10.0])
            .truncate(Some(3.5), Some(10.0))
            .shift(2.0),
        case("general(0,6)", general.clone(), &[0.0, 6.0]),
        case("general(0,6)[0,2.5]-1", general, &[0.0, 6.0])
            .truncate(Some(0.0), Some(2.5))
            .shift(-1.0),
        case("histogrm(-5,5)", histogram.clone(), &[-5.0, 5.0]),
        case("histogrm(-5,5)[-4,]", histogram, &[-5.0, 5.0]).truncate(Some(-4.0), None),
    ]
}

/// A model with one input and one output per case. Dynamic cases get their parameters
/// (and a shift) through `x + 0` formulas, which the generator cannot fold.
fn model(cases: &[Case]) -> Model {
    let mut nodes = Vec::new();
    let mut next: NodeId = 1;
    let mut push = |op: Op, label: Option<String>| {
        let id = next;
        next += 1;
        nodes.push(Node { id, label, op });
        id
    };
    let zero = push(Op::Const { value: 0.0 }, None);
    for c in cases {
        let value = |v: f64, formula: bool, push: &mut dyn FnMut(Op, Option<String>) -> NodeId| {
            let k = push(Op::Const { value: v }, None);
            if formula {
                push(
                    Op::Call {
                        func: Func::Add,
                        args: vec![k, zero],
                    },
                    None,
                )
            } else {
                k
            }
        };
        let params = c
            .params
            .iter()
            .map(|&v| value(v, c.dynamic, &mut push))
            .collect();
        let lower = c.lower.map(|v| value(v, false, &mut push));
        let upper = c.upper.map(|v| value(v, false, &mut push));
        let formula_shift = c.name.contains("shift formula");
        let shift = c.shift.map(|v| value(v, formula_shift, &mut push));
        let input = push(
            Op::Input(InputSpec {
                distribution: c.family.clone(),
                params,
                lower,
                upper,
                shift,
                name: None,
            }),
            Some(c.name.clone()),
        );
        push(
            Op::Output {
                name: c.name.clone(),
                arg: input,
            },
            None,
        );
    }
    Model {
        name: "distributions".to_owned(),
        nodes,
        correlations: Vec::new(),
    }
}

#[derive(Default)]
struct Tally {
    worst: f64,
    worst_case: String,
    step_mismatches: usize,
}

/// Runs `cases` on the GPU and the CPU with `sampling` and checks every sample.
fn check_parity(device: &GpuDevice, cases: &[Case], sampling: SamplingMethod) {
    let model = model(cases);
    let options = SimulationOptions {
        iterations: ITERATIONS,
        seed: SEED,
        sampling,
        sensitivity: true,
        ..Default::default()
    };
    let cancel = AtomicBool::new(false);
    let started = std::time::Instant::now();
    let gpu = ultra_gpu::simulate(device, &model, &options, Statistics::Host, &|_| {}, &cancel)
        .expect("GPU run");
    let gpu_time = started.elapsed();
    assert_eq!(gpu.engine.kind, "gpu", "the run fell back to the CPU");
    let cpu = ultra_engine::simulate(&model, &options, &|_| {}, &cancel).expect("CPU run");
    eprintln!(
        "{sampling:?}: {} inputs x {ITERATIONS} iterations, GPU (tables, shader, run) {gpu_time:.2?}",
        cases.len()
    );

    let valid = model.validate().expect("valid model");
    let sampler = Sampler::new(sampling, SEED, ITERATIONS, valid.inputs.len()).expect("sampler");
    let label_of: BTreeMap<NodeId, &str> = model
        .nodes
        .iter()
        .filter_map(|n| n.label.as_deref().map(|l| (n.id, l)))
        .collect();
    let mut by_family: BTreeMap<&'static str, Tally> = BTreeMap::new();
    for (dimension, node) in valid.inputs.iter().enumerate() {
        let name = label_of[node];
        let c = cases.iter().find(|c| c.name == name).expect("case");
        let d = c.distribution();
        let shift = c.shift.unwrap_or(0.0);
        let iqr = d.inverse_cdf(0.75) - d.inverse_cdf(0.25);
        let mut uniforms = vec![0.0; ITERATIONS as usize];
        sampler.fill(dimension, 0, &mut uniforms);
        let (g, k) = (
            &gpu.samples.inputs[dimension],
            &cpu.samples.inputs[dimension],
        );
        let non_finite = (
            g.iter().filter(|x| !x.is_finite()).count(),
            k.iter().filter(|x| !x.is_finite()).count(),
        );
        assert_eq!(
            non_finite,
            (0, 0),
            "{name}: NaN or infinite samples (gpu, cpu)"
        );
        let tally = by_family.entry(c.family.risk_name()).or_default();
        let (mut worst, mut steps) = (0.0f64, 0usize);
        for ((&gv, &cv), &p) in g.iter().zip(k).zip(&uniforms) {
            let scale = cv.abs().max((cv - shift).abs()).max(iqr);
            let error = (gv - cv).abs() / scale;
            // Discrete laws with tabulated supports: equal, except where p lies within f32
            // rounding of the step between the two values. Supports too large for a table
            // (closed forms in f32, values beyond 2^24) are held to the continuous bound.
            if d.is_discrete() && iqr < 1e6 && gv != f64::from(cv as f32) {
                let step = d.cdf(gv.min(cv));
                let near = if p <= 0.5 {
                    (step - p).abs() <= 1e-6 * p
                } else {
                    ((1.0 - step) - (1.0 - p)).abs() <= 1e-6 * (1.0 - p)
                };
                assert!(near, "{name}: u = {p}: gpu {gv}, cpu {cv} (not at a step)");
                steps += 1;
                continue;
            }
            assert!(
                error <= 1e-5,
                "{name}: u = {p}: gpu {gv}, cpu {cv}: error {error:e} x max(|x|, IQR)"
            );
            worst = worst.max(error);
        }
        assert!(steps <= 20, "{name}: {steps} samples differ at CDF steps");
        eprintln!("  {name:32} worst {worst:.2e}, {steps} at steps");
        if worst >= tally.worst {
            tally.worst = worst;
            tally.worst_case = name.to_owned();
        }
        tally.step_mismatches += steps;
    }
    eprintln!("{sampling:?}, worst |gpu - cpu| / max(|cpu|, |cpu - shift|, IQR) per family:");
    for (family, t) in &by_family {
        eprintln!(
            "  {family:16} {:.2e} ({}){}",
            t.worst,
            t.worst_case,
            if t.step_mismatches > 0 {
                format!(", {} samples at CDF steps", t.step_mismatches)
            } else {
                String::new()
            }
        );
    }
}

#[test]
fn every_family_matches_the_cpu() {
    let device = GpuDevice::shared().expect("a GPU adapter (lavapipe in CI)");
    eprintln!("{:?}", device.description());
    let all = cases();
    let families: std::collections::BTreeSet<&str> =
        all.iter().map(|c| c.family.risk_name()).collect();
    assert_eq!(families.len(), 29, "every family is covered");
    check_parity(&device, &all, SamplingMethod::MonteCarlo);
    // Latin Hypercube on a few: the stratified uniforms reach further into the tails.
    let few: Vec<Case> = all
        .into_iter()
        .filter(|c| {
            [
                "beta(0.3,5)",
                "gamma(0.1,3)",
                "student(1)",
                "normal(0,1)[-1,2]",
                "triang(0,2,10)[1,9]",
                "poisson(2e4)",
                "discrete",
                "general(0,6)",
                "cumul(0,10)",
            ]
            .contains(&c.name.as_str())
        })
        .collect();
    check_parity(&device, &few, SamplingMethod::LatinHypercube);
}

/// Without a closed form, formulas as parameters are refused with the reason (the caller
/// runs the model on the CPU).
#[test]
fn formula_parameters_without_closed_form_are_refused() {
    let device = GpuDevice::shared().expect("a GPU adapter (lavapipe in CI)");
    let cases = [
        case("gamma formulas", Family::Gamma, &[2.0, 1.0]).dynamic(),
        case("poisson formula", Family::Poisson, &[3.0]).dynamic(),
        case("normal formulas truncated", Family::Normal, &[0.0, 1.0])
            .dynamic()
            .truncate(Some(0.0), None),
    ];
    let options = SimulationOptions {
        iterations: 100,
        ..Default::default()
    };
    let error = ultra_gpu::simulate(
        &device,
        &model(&cases),
        &options,
        Statistics::Host,
        &|_| {},
        &AtomicBool::new(false),
    )
    .expect_err("refused");
    let GpuError::Unsupported(reasons) = error else {
        panic!("expected Unsupported, got {error}");
    };
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert!(reasons[0].contains("gamma formulas") && reasons[0].contains("closed-form"));
    assert!(reasons[2].contains("truncation"), "{reasons:?}");
}
