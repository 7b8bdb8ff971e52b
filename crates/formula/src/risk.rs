//! @RISK functions: distributions (`RiskTriang(80,100,130)`), their property functions
//! (`RiskTruncate`, `RiskShift`, `RiskName`, `RiskStatic`) and `RiskOutput`.
//!
//! Names and argument orders are @RISK's, mapped onto [`Family`]. `RiskTrigen` takes its
//! bottom and top percentiles as 0..100, as @RISK documents
//! (`RiskTrigen(100,200,300,10,90)`: 10th and 90th percentiles); they are divided by 100
//! into the engine's probabilities.

use std::panic::{AssertUnwindSafe, catch_unwind};

use ultra_engine::dist::{Distribution, Family, InputDistribution, Univariate};
use ultra_engine::ir::InputSpec;

use crate::ast::Expr;
use crate::builder::Num;
use crate::corrmat::CorrmatRef;
use crate::error::FormulaError;
use crate::functions::{Item, Lowered, to_num};
use crate::lower::{Lowerer, Mode, NewInput};
use crate::value::{ExcelError, Value};

/// How a distribution takes its arguments.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Shape {
    /// Only scalar parameters, in @RISK order.
    Scalars,
    /// `RiskDiscrete({values}, {weights})`.
    Discrete,
    /// `RiskCumul(min, max, {xs}, {ps})` and `RiskGeneral(min, max, {xs}, {densities})`.
    MinMaxTwoTables,
    /// `RiskHistogrm(min, max, {probabilities})`.
    MinMaxOneTable,
}

/// The family of a distribution function (upper-case name), with empty tables.
fn family(upper: &str) -> Option<(Family, Shape)> {
    let scalar = |family| Some((family, Shape::Scalars));
    match upper {
        "RISKNORMAL" => scalar(Family::Normal),
        "RISKLOGNORM" => scalar(Family::Lognormal),
        "RISKLOGNORM2" => scalar(Family::Lognormal2),
        "RISKUNIFORM" => scalar(Family::Uniform),
        "RISKTRIANG" => scalar(Family::Triang),
        "RISKTRIGEN" => scalar(Family::Trigen),
        "RISKPERT" => scalar(Family::Pert),
        "RISKBETA" => scalar(Family::Beta),
        "RISKBETAGENERAL" => scalar(Family::BetaGeneral),
        "RISKGAMMA" => scalar(Family::Gamma),
        "RISKEXPON" => scalar(Family::Expon),
        "RISKWEIBULL" => scalar(Family::Weibull),
        "RISKLOGISTIC" => scalar(Family::Logistic),
        "RISKLOGLOGISTIC" => scalar(Family::Loglogistic),
        "RISKSTUDENT" => scalar(Family::Student),
        "RISKERLANG" => scalar(Family::Erlang),
        "RISKCHISQ" => scalar(Family::ChiSq),
        "RISKPARETO" => scalar(Family::Pareto),
        "RISKEXTVALUE" => scalar(Family::ExtValue),
        "RISKBERNOULLI" => scalar(Family::Bernoulli),
        "RISKBINOMIAL" => scalar(Family::Binomial),
        "RISKPOISSON" => scalar(Family::Poisson),
        "RISKGEOMET" => scalar(Family::Geometric),
        "RISKNEGBIN" => scalar(Family::NegBin),
        "RISKINTUNIFORM" => scalar(Family::IntUniform),
        "RISKDISCRETE" => Some((
            Family::Discrete {
                values: Vec::new(),
                weights: Vec::new(),
            },
            Shape::Discrete,
        )),
        "RISKCUMUL" => Some((
            Family::Cumul {
                xs: Vec::new(),
                ps: Vec::new(),
            },
            Shape::MinMaxTwoTables,
        )),
        "RISKGENERAL" => Some((
            Family::General {
                xs: Vec::new(),
                densities: Vec::new(),
            },
            Shape::MinMaxTwoTables,
        )),
        "RISKHISTOGRM" => Some((
            Family::Histogram {
                probabilities: Vec::new(),
            },
            Shape::MinMaxOneTable,
        )),
        _ => None,
    }
}

/// Property functions that only label or tune reports: accepted and ignored.
const IGNORED_PROPERTIES: [&str; 7] = [
    "RISKCATEGORY",
    "RISKUNITS",
    "RISKCOLLECT",
    "RISKCONVERGENCE",
    "RISKSENSITIVITY",
    "RISKISDISCRETE",
    "RISKSEED",
];

const PROPERTIES: [&str; 5] = [
    "RISKTRUNCATE",
    "RISKSHIFT",
    "RISKNAME",
    "RISKSTATIC",
    "RISKCORRMAT",
];

/// Whether `upper` is a property function (an argument of a distribution function).
pub(crate) fn is_property(upper: &str) -> bool {
    PROPERTIES.contains(&upper) || IGNORED_PROPERTIES.contains(&upper)
}

/// The properties given to one distribution.
#[derive(Default)]
struct Properties {
    lower: Option<Num>,
    upper: Option<Num>,
    shift: Option<Num>,
    name: Option<String>,
    static_value: Option<f64>,
    corrmat: Option<CorrmatRef>,
}

pub(crate) fn lower_risk_call(
    lw: &mut Lowerer<'_>,
    name: &str,
    upper: &str,
    args: &[Expr],
    column: usize,
) -> Result<Lowered, FormulaError> {
    if upper == "RISKOUTPUT" {
        // The cell's value is the rest of its formula; RiskOutput itself adds 0. The
        // compiler found the output marks before lowering.
        return Ok(Lowered::value(Value::Number(0.0)));
    }
    if is_property(upper) {
        return Err(lw.function_error(
            name,
            column,
            "is a property function: give it as an argument of a distribution function".into(),
        ));
    }
    let Some((family, shape)) = family(upper) else {
        lw.record(name, column, "this @RISK function is not supported".into());
        return Ok(Lowered::error(ExcelError::Name));
    };
    let mut parameters = Vec::new();
    let mut properties = Properties::default();
    for arg in args {
        match arg {
            Expr::Call {
                name: property,
                args: property_args,
                column: property_column,
            } if is_property(&property.to_ascii_uppercase()) => {
                property_call(
                    lw,
                    property,
                    property_args,
                    *property_column,
                    &mut properties,
                )?;
            }
            arg => parameters.push(lw.lower(arg)?),
        }
    }
    let (family, scalars) = match build_family(family, shape, &parameters) {
        Ok(built) => built,
        Err(Problem::Error(e)) => return Ok(Lowered::error(e)),
        Err(Problem::Message(message)) => return Err(lw.function_error(name, column, message)),
        Err(Problem::Random(message)) => {
            lw.record(name, column, message);
            return Ok(Lowered::error(ExcelError::Value));
        }
    };
    let (fewest, most) = family.arity();
    if scalars.len() < fewest || scalars.len() > most {
        let expected = if fewest == most {
            fewest.to_string()
        } else {
            format!("{fewest} to {most}")
        };
        let message = format!("takes {expected} parameter(s), got {}", scalars.len());
        return Err(lw.function_error(name, column, message));
    }
    let mut scalars = scalars;
    if family == Family::Trigen {
        for index in [3, 4] {
            scalars[index] = lw.builder.div(scalars[index], Num::Const(100.0));
        }
    }
    match lw.mode {
        Mode::Evaluate => Ok(Lowered::value(static_value(&family, &scalars, &properties))),
        Mode::Simulate => {
            let b = &mut *lw.builder;
            let spec = InputSpec {
                distribution: family,
                params: scalars.iter().map(|p| b.node(*p)).collect(),
                lower: properties.lower.map(|p| b.node(p)),
                upper: properties.upper.map(|p| b.node(p)),
                shift: properties.shift.map(|p| b.node(p)),
                name: properties.name.clone(),
            };
            let node = b.input(spec);
            let distribution = Expr::Call {
                name: name.to_string(),
                args: args.to_vec(),
                column,
            }
            .to_string();
            lw.inputs.push(NewInput {
                node,
                name: properties.name,
                distribution,
                corrmat: properties.corrmat,
            });
            Ok(Lowered::Item(Item::Node(node)))
        }
    }
}

fn property_call(
    lw: &mut Lowerer<'_>,
    name: &str,
    args: &[Expr],
    column: usize,
    properties: &mut Properties,
) -> Result<(), FormulaError> {
    let upper = name.to_ascii_uppercase();
    if IGNORED_PROPERTIES.contains(&upper.as_str()) {
        return Ok(());
    }
    let mut values = Vec::with_capacity(args.len());
    for arg in args {
        values.push(lw.lower(arg)?);
    }
    let number = |lw: &Lowerer<'_>, index: usize| -> Result<Option<Num>, FormulaError> {
        match values.get(index) {
            None => Ok(None),
            Some(value) if value.is_missing() => Ok(None),
            Some(value) => to_num(&value.scalar()).map(Some).map_err(|e| {
                lw.function_error(name, column, format!("argument {} is {e}", index + 1))
            }),
        }
    };
    let arity = |lw: &Lowerer<'_>, fewest: usize, most: usize| {
        if values.len() < fewest || values.len() > most {
            Err(lw.function_error(
                name,
                column,
                format!("takes {fewest} to {most} argument(s)"),
            ))
        } else {
            Ok(())
        }
    };
    match upper.as_str() {
        "RISKTRUNCATE" => {
            arity(lw, 1, 2)?;
            properties.lower = number(lw, 0)?;
            properties.upper = number(lw, 1)?;
        }
        "RISKSHIFT" => {
            arity(lw, 1, 1)?;
            properties.shift = number(lw, 0)?;
        }
        "RISKCORRMAT" => {
            arity(lw, 2, 3)?;
            properties.corrmat = Some(corrmat_ref(lw, name, args, &values, column)?);
        }
        "RISKNAME" => {
            arity(lw, 1, 1)?;
            match values[0].scalar() {
                Item::Value(Value::Text(text)) => properties.name = Some(text),
                _ => return Err(lw.function_error(name, column, "the name must be text".into())),
            }
        }
        _ => {
            arity(lw, 1, 1)?;
            match number(lw, 0)? {
                Some(Num::Const(x)) => properties.static_value = Some(x),
                None => {}
                Some(Num::Node(_)) => {
                    return Err(lw.function_error(
                        name,
                        column,
                        "the static value must be a constant".into(),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// `RiskCorrmat(range, position[, instance])`: the matrix must be constant.
fn corrmat_ref(
    lw: &Lowerer<'_>,
    name: &str,
    args: &[Expr],
    values: &[Lowered],
    column: usize,
) -> Result<CorrmatRef, FormulaError> {
    let fail = |message: &str| lw.function_error(name, column, message.to_string());
    let grid = values[0].grid();
    let items = grid
        .items
        .iter()
        .map(|item| match item {
            Item::Value(Value::Empty) => Ok(None),
            Item::Value(Value::Number(x)) => Ok(Some(*x)),
            Item::Node(_) => Err(fail("the correlation matrix must be constant")),
            Item::Value(_) => Err(fail("the correlation matrix must hold numbers")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let position = match to_num(&values[1].scalar()) {
        Ok(Num::Const(p)) if p >= 1.0 && p.fract() == 0.0 && p < 1e6 => p as usize,
        _ => return Err(fail("the position must be a whole number from 1")),
    };
    let sheet = lw.location.sheet.as_deref().unwrap_or("");
    let instance = args.get(2).map(ToString::to_string).unwrap_or_default();
    Ok(CorrmatRef {
        key: format!("{sheet}!{}#{instance}", args[0]),
        matrix: crate::value::Grid {
            rows: grid.rows,
            cols: grid.cols,
            items,
        },
        position,
    })
}

enum Problem {
    /// A parameter is an Excel error: the cell's value is that error.
    Error(ExcelError),
    /// A malformed call.
    Message(String),
    /// A table that is not constant.
    Random(String),
}

fn scalar(parameter: &Lowered) -> Result<Num, Problem> {
    to_num(&parameter.scalar()).map_err(Problem::Error)
}

fn table(parameter: Option<&Lowered>, what: &str) -> Result<Vec<f64>, Problem> {
    let parameter =
        parameter.ok_or_else(|| Problem::Message(format!("the {what} table is missing")))?;
    parameter
        .items()
        .iter()
        .map(|item| match item {
            Item::Node(_) => Err(Problem::Random(format!(
                "the {what} table must be constant"
            ))),
            Item::Value(Value::Error(e)) => Err(Problem::Error(*e)),
            Item::Value(value) => value.to_number().map_err(Problem::Error),
        })
        .collect()
}

/// Fills the family's tables and returns its scalar parameters.
fn build_family(
    family: Family,
    shape: Shape,
    parameters: &[Lowered],
) -> Result<(Family, Vec<Num>), Problem> {
    let count = |expected: usize| {
        if parameters.len() == expected {
            Ok(())
        } else {
            Err(Problem::Message(format!(
                "takes {expected} arguments, got {}",
                parameters.len()
            )))
        }
    };
    Ok(match (shape, family) {
        (Shape::Scalars, family) => (
            family,
            parameters.iter().map(scalar).collect::<Result<_, _>>()?,
        ),
        (Shape::Discrete, _) => {
            count(2)?;
            let values = table(parameters.first(), "values")?;
            let weights = table(parameters.get(1), "weights")?;
            (Family::Discrete { values, weights }, Vec::new())
        }
        (Shape::MinMaxTwoTables, family) => {
            count(4)?;
            let xs = table(parameters.get(2), "x")?;
            let second = table(parameters.get(3), "p")?;
            let family = match family {
                Family::Cumul { .. } => Family::Cumul { xs, ps: second },
                _ => Family::General {
                    xs,
                    densities: second,
                },
            };
            (
                family,
                vec![scalar(&parameters[0])?, scalar(&parameters[1])?],
            )
        }
        (Shape::MinMaxOneTable, _) => {
            count(3)?;
            let probabilities = table(parameters.get(2), "probabilities")?;
            (
                Family::Histogram { probabilities },
                vec![scalar(&parameters[0])?, scalar(&parameters[1])?],
            )
        }
    })
}

/// The value `ultra eval` shows for a distribution: its `RiskStatic` value, else its mean
/// (after truncation and shift), `#VALUE!` for invalid parameters. The engine computes
/// the mean; a panic there (code still being written) is contained and shows `#N/A`.
fn static_value(family: &Family, scalars: &[Num], properties: &Properties) -> Value {
    if let Some(x) = properties.static_value {
        return Value::Number(x);
    }
    let constant = |num: Option<Num>| num.and_then(Num::constant);
    let Some(params) = scalars
        .iter()
        .map(|n| n.constant())
        .collect::<Option<Vec<f64>>>()
    else {
        return Value::Error(ExcelError::Value);
    };
    let (lower, upper, shift) = (
        constant(properties.lower),
        constant(properties.upper),
        constant(properties.shift),
    );
    let mean = catch_unwind(AssertUnwindSafe(|| {
        let base = Distribution::new(family, &params).ok()?;
        if lower.is_none() && upper.is_none() && shift.is_none() {
            return Some(base.mean());
        }
        InputDistribution::new(base, lower, upper, shift)
            .ok()
            .map(|d| d.mean())
    }));
    match mean {
        Ok(Some(mean)) => Value::number(mean),
        Ok(None) => Value::Error(ExcelError::Value),
        Err(_) => Value::Error(ExcelError::NA),
    }
}
