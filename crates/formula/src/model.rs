//! From a sheet of cells to an IR model (`compile`) or to cell values (`evaluate`).
//!
//! Source formats (JSON models now, workbooks later) produce a [`Sheet`]: cells plus a
//! way to resolve references. Everything after that is shared.

use serde::Serialize;
use ultra_engine::ir::{Correlation, Model, ModelError, NodeId, Op};

use crate::ast::{Expr, Reference};
use crate::builder::Builder;
use crate::error::{CellLocation, FormulaError, UnsupportedCall};
use crate::functions::{Item, Lowered};
use crate::graph::{reachable, topological_order};
use crate::lower::{Lowerer, Mode, NewInput};
use crate::value::{ExcelError, Grid, Value};

/// What a cell holds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Content {
    Value(Value),
    Formula(Expr),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Cell {
    pub location: CellLocation,
    pub content: Content,
}

/// Cells and the rule that maps a reference to cells.
pub(crate) trait Sheet {
    fn cells(&self) -> &[Cell];
    /// The cells `reference` (written in cell `from`, at `column`) points to, as a block.
    fn resolve(
        &self,
        from: usize,
        reference: &Reference,
        column: usize,
    ) -> Result<Grid<usize>, FormulaError>;
    /// Why cell `cell` cannot be computed (its formula does not parse), if so. Such a
    /// cell holds an error value; compiling fails only when an output needs it.
    fn broken(&self, _cell: usize) -> Option<&FormulaError> {
        None
    }
}

/// A requested rank correlation between the inputs of two cells.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CellCorrelation {
    pub a: usize,
    pub b: usize,
    pub rank: f64,
}

/// A random input of the compiled model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InputInfo {
    pub cell: String,
    pub sheet: Option<String>,
    /// The IR node.
    pub node: NodeId,
    /// `RiskName`, else the cell name.
    pub name: String,
    /// The distribution call as written, e.g. `RiskTriang(80,100,130)`.
    pub distribution: String,
}

/// An output of the compiled model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutputInfo {
    pub cell: String,
    pub sheet: Option<String>,
    /// The IR `Output` node.
    pub node: NodeId,
    pub name: String,
}

/// A model compiled to the engine IR, with what reports need to name things.
#[derive(Debug, Clone, PartialEq)]
pub struct Compiled {
    /// The IR, validated; node labels are cell names.
    pub model: Model,
    /// In the order of their IR nodes (their sampling dimensions).
    pub inputs: Vec<InputInfo>,
    pub outputs: Vec<OutputInfo>,
    /// Cells in the source model.
    pub cell_count: usize,
    /// Formula cells the outputs depend on: what one iteration evaluates.
    pub evaluated_cells: usize,
}

/// What the formulas read, and which cells are outputs.
pub(crate) struct Analysis {
    pub deps: Vec<Vec<usize>>,
    /// (cell, output name), in cell order.
    pub outputs: Vec<(usize, String)>,
}

pub(crate) fn analyse(sheet: &dyn Sheet) -> Result<Analysis, FormulaError> {
    let cells = sheet.cells();
    let mut deps = vec![Vec::new(); cells.len()];
    let mut outputs = Vec::new();
    for (index, cell) in cells.iter().enumerate() {
        let Content::Formula(expr) = &cell.content else {
            continue;
        };
        let mut output = None;
        let mut stack = vec![expr];
        while let Some(expr) = stack.pop() {
            match expr {
                Expr::Ref { reference, column } => {
                    deps[index].extend(sheet.resolve(index, reference, *column)?.items);
                }
                Expr::Call { name, args, column } => {
                    if output.is_none() && name.eq_ignore_ascii_case("RiskOutput") {
                        output = Some(output_name(cell, args, *column)?);
                    }
                    stack.extend(args);
                }
                Expr::Unary { operand, .. } => stack.push(operand),
                Expr::Binary { lhs, rhs, .. } => {
                    stack.push(lhs);
                    stack.push(rhs);
                }
                _ => {}
            }
        }
        deps[index].sort_unstable();
        deps[index].dedup();
        if let Some(name) = output {
            outputs.push((index, name));
        }
    }
    Ok(Analysis { deps, outputs })
}

/// `RiskOutput("NPV")` names the output; `RiskOutput()` uses the cell's name.
fn output_name(cell: &Cell, args: &[Expr], column: usize) -> Result<String, FormulaError> {
    match args.first() {
        None | Some(Expr::Missing) => Ok(cell.location.to_string()),
        Some(Expr::Text(name)) if !name.is_empty() => Ok(name.clone()),
        Some(Expr::Text(_)) => Ok(cell.location.to_string()),
        Some(_) => Err(FormulaError::Function {
            location: cell.location.clone(),
            column,
            function: "RiskOutput".into(),
            message: "the output name must be a text constant".into(),
        }),
    }
}

pub(crate) fn order(sheet: &dyn Sheet, deps: &[Vec<usize>]) -> Result<Vec<usize>, FormulaError> {
    topological_order(deps).map_err(|cycle| FormulaError::Cycle {
        cells: cycle
            .into_iter()
            .map(|c| sheet.cells()[c].location.clone())
            .collect(),
    })
}

/// Lowers cell `index` with the values of the cells before it in `values`.
pub(crate) fn lower_cell(
    sheet: &dyn Sheet,
    index: usize,
    values: &[Option<Item>],
    builder: &mut Builder,
    mode: Mode,
    unsupported: &mut Vec<UnsupportedCall>,
) -> Result<(Item, Vec<NewInput>), FormulaError> {
    let cell = &sheet.cells()[index];
    let expr = match &cell.content {
        Content::Value(value) => return Ok((Item::Value(value.clone()), Vec::new())),
        Content::Formula(expr) => expr,
    };
    let resolve = |reference: &Reference, column: usize| -> Result<Lowered, FormulaError> {
        let block = sheet.resolve(index, reference, column)?;
        let items = block
            .items
            .iter()
            .map(|&c| {
                values[c]
                    .clone()
                    .unwrap_or(Item::Value(Value::Error(ExcelError::Ref)))
            })
            .collect();
        Ok(Lowered::Grid(Grid {
            rows: block.rows,
            cols: block.cols,
            items,
        }))
    };
    let mut lowerer = Lowerer {
        builder,
        mode,
        location: &cell.location,
        resolve: &resolve,
        unsupported,
        inputs: Vec::new(),
    };
    let item = match lowerer.lower(expr)?.scalar() {
        // A formula that reads an empty cell shows 0.
        Item::Value(Value::Empty) => Item::Value(Value::Number(0.0)),
        item => item,
    };
    Ok((item, lowerer.inputs))
}

pub(crate) fn compile(
    name: &str,
    sheet: &dyn Sheet,
    correlations: &[CellCorrelation],
) -> Result<Compiled, FormulaError> {
    compile_with(name, sheet, correlations, &[])
}

/// [`compile`] with outputs chosen by the caller (cell, name) besides the `RiskOutput`
/// marks; a cell both marked and chosen is one output, named by its mark.
pub(crate) fn compile_with(
    name: &str,
    sheet: &dyn Sheet,
    correlations: &[CellCorrelation],
    chosen_outputs: &[(usize, String)],
) -> Result<Compiled, FormulaError> {
    let cells = sheet.cells();
    let mut analysis = analyse(sheet)?;
    for (cell, name) in chosen_outputs {
        if !analysis.outputs.iter().any(|(c, _)| c == cell) {
            analysis.outputs.push((*cell, name.clone()));
        }
    }
    if analysis.outputs.is_empty() {
        return Err(FormulaError::NoOutputs);
    }
    let roots = analysis
        .outputs
        .iter()
        .map(|(c, _)| *c)
        .chain(correlations.iter().flat_map(|c| [c.a, c.b]));
    let needed = reachable(&analysis.deps, roots);
    // Only the cells the outputs need must be acyclic and parse. The order over every
    // cell is kept where it exists, so input order (random streams) does not depend on
    // which cells are needed.
    let order = match topological_order(&analysis.deps) {
        Ok(order) => order,
        Err(_) => {
            let needed_deps: Vec<Vec<usize>> = analysis
                .deps
                .iter()
                .enumerate()
                .map(|(cell, deps)| {
                    if needed[cell] {
                        deps.clone()
                    } else {
                        Vec::new()
                    }
                })
                .collect();
            order(sheet, &needed_deps)?
        }
    };
    if let Some(error) = (0..cells.len())
        .filter(|&cell| needed[cell])
        .find_map(|cell| sheet.broken(cell))
    {
        return Err(error.clone());
    }
    let mut builder = Builder::new();
    let mut values: Vec<Option<Item>> = vec![None; cells.len()];
    let mut cell_inputs: Vec<Vec<NewInput>> = vec![Vec::new(); cells.len()];
    let mut unsupported = Vec::new();
    let mut evaluated_cells = 0;
    for &index in order.iter().filter(|&&i| needed[i]) {
        let (item, inputs) = lower_cell(
            sheet,
            index,
            &values,
            &mut builder,
            Mode::Simulate,
            &mut unsupported,
        )?;
        if let Item::Node(id) = item {
            builder.label(id, &cells[index].location.to_string());
        }
        evaluated_cells += usize::from(matches!(cells[index].content, Content::Formula(_)));
        values[index] = Some(item);
        cell_inputs[index] = inputs;
    }
    if !unsupported.is_empty() {
        return Err(FormulaError::Unsupported { calls: unsupported });
    }
    let outputs = add_outputs(sheet, &analysis.outputs, &values, &mut builder)?;
    let mut model_correlations = correlate(sheet, correlations, &cell_inputs)?;
    model_correlations.extend(crate::corrmat::matrices(&cell_inputs)?);
    let inputs = describe_inputs(sheet, &mut builder, &cell_inputs);
    let model = Model {
        name: name.to_string(),
        nodes: builder.into_nodes(),
        correlations: model_correlations,
    };
    model
        .validate()
        .map_err(|error| locate(error, &model, &inputs))?;
    Ok(Compiled {
        model,
        inputs,
        outputs,
        cell_count: cells.len(),
        evaluated_cells,
    })
}

fn add_outputs(
    sheet: &dyn Sheet,
    marks: &[(usize, String)],
    values: &[Option<Item>],
    builder: &mut Builder,
) -> Result<Vec<OutputInfo>, FormulaError> {
    let mut outputs: Vec<OutputInfo> = Vec::new();
    let mut seen: Vec<(&str, usize)> = Vec::new();
    for (cell, name) in marks {
        let location = &sheet.cells()[*cell].location;
        if let Some((_, first)) = seen.iter().find(|(seen_name, _)| seen_name == name) {
            return Err(FormulaError::DuplicateOutput {
                name: name.clone(),
                first: sheet.cells()[*first].location.clone(),
                second: location.clone(),
            });
        }
        seen.push((name, *cell));
        let num = match values[*cell].clone() {
            Some(Item::Node(id)) => crate::builder::Num::Node(id),
            Some(Item::Value(Value::Text(_))) => {
                let message = "an output must be a number, not text".to_string();
                return Err(FormulaError::Output {
                    location: location.clone(),
                    message,
                });
            }
            Some(Item::Value(value)) => {
                crate::builder::Num::Const(value.to_number().unwrap_or(f64::NAN))
            }
            None => crate::builder::Num::Const(f64::NAN),
        };
        let arg = builder.node(num);
        let node = builder.output(name.clone(), arg);
        outputs.push(OutputInfo {
            cell: location.cell.clone(),
            sheet: location.sheet.clone(),
            node,
            name: name.clone(),
        });
    }
    Ok(outputs)
}

fn correlate(
    sheet: &dyn Sheet,
    correlations: &[CellCorrelation],
    cell_inputs: &[Vec<NewInput>],
) -> Result<Vec<Correlation>, FormulaError> {
    let mut result = Vec::with_capacity(correlations.len());
    for correlation in correlations {
        let name = |c: usize| sheet.cells()[c].location.to_string();
        let error = |message: String| FormulaError::Correlation {
            a: name(correlation.a),
            b: name(correlation.b),
            message,
        };
        if !(-1.0..=1.0).contains(&correlation.rank) {
            return Err(error(format!(
                "rank {} is not in [-1, 1]",
                correlation.rank
            )));
        }
        let input = |c: usize| match cell_inputs[c].as_slice() {
            [only] => Ok(only.node),
            [] => Err(error(format!("{} holds no distribution function", name(c)))),
            _ => Err(error(format!(
                "{} holds more than one distribution function",
                name(c)
            ))),
        };
        result.push(Correlation::Pair {
            a: input(correlation.a)?,
            b: input(correlation.b)?,
            rank: correlation.rank,
        });
    }
    Ok(result)
}

/// Labels each input node with its cell (`cell`, `cell#2` for a second input in one
/// cell) and lists them in node order.
fn describe_inputs(
    sheet: &dyn Sheet,
    builder: &mut Builder,
    cell_inputs: &[Vec<NewInput>],
) -> Vec<InputInfo> {
    let mut inputs = Vec::new();
    for (cell, created) in cell_inputs.iter().enumerate() {
        let location = &sheet.cells()[cell].location;
        for (position, input) in created.iter().enumerate() {
            let label = if position == 0 {
                location.to_string()
            } else {
                format!("{location}#{}", position + 1)
            };
            builder.label(input.node, &label);
            inputs.push(InputInfo {
                cell: location.cell.clone(),
                sheet: location.sheet.clone(),
                node: input.node,
                name: input.name.clone().unwrap_or(label),
                distribution: input.distribution.clone(),
            });
        }
    }
    inputs.sort_by_key(|input| input.node);
    inputs
}

/// Names the cell of a node in a validation error, where the error is about one input.
fn locate(error: ModelError, model: &Model, inputs: &[InputInfo]) -> FormulaError {
    if let ModelError::Distribution { node, source } = &error
        && let Some(input) = inputs.iter().find(|i| i.node == *node)
    {
        let function = model
            .nodes
            .iter()
            .find(|n| n.id == *node)
            .and_then(|n| match &n.op {
                Op::Input(spec) => Some(spec.distribution.risk_name().to_string()),
                _ => None,
            });
        return FormulaError::Function {
            location: CellLocation {
                sheet: input.sheet.clone(),
                cell: input.cell.clone(),
            },
            column: 0,
            function: function.unwrap_or_default(),
            message: source.to_string(),
        };
    }
    FormulaError::Model(error)
}
