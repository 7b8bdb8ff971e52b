//! The JSON shapes of the REST API, and their conversions from the gRPC messages. Enums
//! are lowercase strings (`"completed"`, `"lhs"`), times are Unix milliseconds.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use ultra_proto::v1 as pb;
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterBody {
    pub email: String,
    pub password: String,
    #[serde(default)]
    pub display_name: String,
    /// Creates a new organisation administered by the new user.
    #[serde(default)]
    pub organization_name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenBody {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshBody {
    pub refresh_token: String,
}

/// A simulation request. `sampling`: `mc`, `lhs` (default) or `sobol`; `engine`: `auto`
/// (default), `cpu` or `gpu`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitBody {
    pub model_id: String,
    pub iterations: u64,
    #[serde(default)]
    pub seed: u64,
    #[serde(default)]
    pub sampling: Option<String>,
    #[serde(default)]
    pub engine: Option<String>,
    /// Workbooks only: cells whose content is replaced by a distribution for this run,
    /// for workbooks written without Risk functions. A JSON model answers 400.
    #[serde(default)]
    pub inputs: Vec<InputOverride>,
    /// Workbooks only: cells reported as outputs, besides those marked `RiskOutput`.
    #[serde(default)]
    pub outputs: Vec<OutputOverride>,
}

/// An input chosen in the request: `{"cell": "Model!B2", "distribution":
/// "RiskTriang(80,100,130)"}`. The distribution is a Risk function in the formula
/// language; it may refer to other cells.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InputOverride {
    #[schema(example = "Model!B2")]
    pub cell: String,
    #[schema(example = "RiskTriang(80,100,130)")]
    pub distribution: String,
}

/// An output chosen in the request: `{"cell": "Model!B26", "name": "NPV"}`; named after
/// the cell when `name` is absent.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutputOverride {
    #[schema(example = "Model!B26")]
    pub cell: String,
    #[serde(default)]
    #[schema(example = "NPV")]
    pub name: Option<String>,
}

/// `?page_size=&page_token=` of list routes.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct PageQuery {
    #[serde(default)]
    pub page_size: u32,
    #[serde(default)]
    pub page_token: String,
}

impl From<PageQuery> for pb::PageRequest {
    fn from(query: PageQuery) -> Self {
        pb::PageRequest {
            page_size: query.page_size,
            page_token: query.page_token,
        }
    }
}

pub fn role_name(role: i32) -> &'static str {
    match pb::Role::try_from(role).unwrap_or(pb::Role::Unspecified) {
        pb::Role::Admin => "admin",
        pb::Role::PowerUser => "power_user",
        pb::Role::Analyst => "analyst",
        pb::Role::Viewer => "viewer",
        pb::Role::Unspecified => "unspecified",
    }
}

pub fn plan_tier_name(tier: i32) -> &'static str {
    pb::PlanTier::try_from(tier)
        .ok()
        .and_then(ultra_auth::PlanTier::from_proto)
        .map_or("unspecified", ultra_auth::PlanTier::as_str)
}

pub fn parse_sampling(text: Option<&str>) -> Option<pb::SamplingMethod> {
    match text.map(str::to_ascii_lowercase).as_deref() {
        None | Some("lhs") | Some("latin_hypercube") => Some(pb::SamplingMethod::LatinHypercube),
        Some("mc") | Some("monte_carlo") => Some(pb::SamplingMethod::MonteCarlo),
        Some("sobol") => Some(pb::SamplingMethod::Sobol),
        Some(_) => None,
    }
}

pub fn sampling_name(sampling: i32) -> &'static str {
    match pb::SamplingMethod::try_from(sampling).unwrap_or(pb::SamplingMethod::Unspecified) {
        pb::SamplingMethod::MonteCarlo => "mc",
        pb::SamplingMethod::Sobol => "sobol",
        pb::SamplingMethod::LatinHypercube | pb::SamplingMethod::Unspecified => "lhs",
    }
}

pub fn parse_engine(text: Option<&str>) -> Option<pb::Engine> {
    match text.map(str::to_ascii_lowercase).as_deref() {
        None | Some("auto") => Some(pb::Engine::Unspecified),
        Some("cpu") => Some(pb::Engine::Cpu),
        Some("gpu") => Some(pb::Engine::Gpu),
        Some(_) => None,
    }
}

pub fn engine_name(engine: i32) -> &'static str {
    match pb::Engine::try_from(engine).unwrap_or(pb::Engine::Unspecified) {
        pb::Engine::Cpu => "cpu",
        pb::Engine::Gpu => "gpu",
        pb::Engine::Unspecified => "auto",
    }
}

pub fn status_name(status: i32) -> &'static str {
    use pb::SimulationStatus as S;
    match S::try_from(status).unwrap_or(S::Unspecified) {
        S::Queued => "queued",
        S::Running => "running",
        S::Completed => "completed",
        S::Failed => "failed",
        S::Cancelled => "cancelled",
        S::Interrupted => "interrupted",
        S::Unspecified => "unspecified",
    }
}

/// Whether no more progress can follow this status.
pub fn is_final(status: i32) -> bool {
    use pb::SimulationStatus as S;
    matches!(
        S::try_from(status).unwrap_or(S::Unspecified),
        S::Completed | S::Failed | S::Cancelled
    )
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub org_id: String,
    pub org_name: String,
    /// The organisation's plan: free, starter, professional, enterprise or ultra.
    pub org_plan_tier: String,
    pub role: String,
    pub created_at_ms: i64,
}

impl From<pb::User> for UserView {
    fn from(user: pb::User) -> Self {
        UserView {
            role: role_name(user.role).to_string(),
            org_plan_tier: plan_tier_name(user.org_plan_tier).to_string(),
            id: user.id,
            email: user.email,
            display_name: user.display_name,
            org_id: user.org_id,
            org_name: user.org_name,
            created_at_ms: user.created_at_ms,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenView {
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: String,
    pub expires_in: u32,
}

impl From<pb::TokenPair> for TokenView {
    fn from(pair: pb::TokenPair) -> Self {
        TokenView {
            access_token: pair.access_token,
            refresh_token: pair.refresh_token,
            token_type: if pair.token_type.is_empty() {
                "Bearer".into()
            } else {
                pair.token_type
            },
            expires_in: pair.expires_in_seconds,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ModelInputView {
    pub cell: String,
    pub name: String,
    pub distribution: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ModelOutputView {
    pub cell: String,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ModelView {
    pub id: String,
    pub user_id: String,
    pub filename: String,
    pub format: String,
    pub size_bytes: u64,
    pub sha256: String,
    pub created_at_ms: i64,
    pub cell_count: u64,
    pub inputs: Vec<ModelInputView>,
    pub outputs: Vec<ModelOutputView>,
}

impl From<pb::Model> for ModelView {
    fn from(model: pb::Model) -> Self {
        ModelView {
            id: model.id,
            user_id: model.user_id,
            filename: model.filename,
            format: model.format,
            size_bytes: model.size_bytes,
            sha256: model.sha256,
            created_at_ms: model.created_at_ms,
            cell_count: model.cell_count,
            inputs: model
                .inputs
                .into_iter()
                .map(|input| ModelInputView {
                    cell: input.cell,
                    name: input.name,
                    distribution: input.distribution,
                })
                .collect(),
            outputs: model
                .outputs
                .into_iter()
                .map(|output| ModelOutputView {
                    cell: output.cell,
                    name: output.name,
                })
                .collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ModelList {
    pub models: Vec<ModelView>,
    pub next_page_token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SimulationView {
    pub id: String,
    pub user_id: String,
    pub model_id: String,
    pub iterations: u64,
    pub seed: u64,
    pub sampling: String,
    pub engine: String,
    pub status: String,
    pub completed_iterations: u64,
    pub error: String,
    pub created_at_ms: i64,
    pub started_at_ms: i64,
    pub finished_at_ms: i64,
    pub compute_units: f64,
}

impl From<pb::Simulation> for SimulationView {
    fn from(simulation: pb::Simulation) -> Self {
        SimulationView {
            sampling: sampling_name(simulation.sampling).into(),
            engine: engine_name(simulation.engine).into(),
            status: status_name(simulation.status).into(),
            id: simulation.id,
            user_id: simulation.user_id,
            model_id: simulation.model_id,
            iterations: simulation.iterations,
            seed: simulation.seed,
            completed_iterations: simulation.completed_iterations,
            error: simulation.error,
            created_at_ms: simulation.created_at_ms,
            started_at_ms: simulation.started_at_ms,
            finished_at_ms: simulation.finished_at_ms,
            compute_units: simulation.compute_units,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SimulationList {
    pub simulations: Vec<SimulationView>,
    pub next_page_token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProgressView {
    pub simulation_id: String,
    pub status: String,
    pub completed_iterations: u64,
    pub total_iterations: u64,
    /// `completed_iterations / total_iterations`, 0 to 1.
    pub fraction: f64,
}

impl From<pb::Progress> for ProgressView {
    fn from(progress: pb::Progress) -> Self {
        let fraction = if progress.total_iterations == 0 {
            0.0
        } else {
            progress.completed_iterations as f64 / progress.total_iterations as f64
        };
        ProgressView {
            status: status_name(progress.status).into(),
            simulation_id: progress.simulation_id,
            completed_iterations: progress.completed_iterations,
            total_iterations: progress.total_iterations,
            fraction,
        }
    }
}

impl From<&pb::Simulation> for ProgressView {
    fn from(simulation: &pb::Simulation) -> Self {
        ProgressView::from(pb::Progress {
            simulation_id: simulation.id.clone(),
            status: simulation.status,
            completed_iterations: simulation.completed_iterations,
            total_iterations: simulation.iterations,
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HistogramView {
    pub edges: Vec<f64>,
    pub counts: Vec<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SensitivityView {
    pub input: String,
    pub name: String,
    pub spearman: f64,
    pub regression: f64,
    pub contribution_to_variance: f64,
    pub mean_at_low: f64,
    pub mean_at_high: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OutputView {
    pub count: u64,
    pub errors: u64,
    pub mean: f64,
    pub std: f64,
    pub min: f64,
    pub max: f64,
    pub skewness: f64,
    pub kurtosis: f64,
    pub std_error: f64,
    /// Keyed `p1`, `p5`, ..., `p99` (the percent), as in `ultra run --format json`.
    pub percentiles: BTreeMap<String, f64>,
    pub histogram: HistogramView,
    pub sensitivity: Vec<SensitivityView>,
}

/// `p` as a percent key: `5` and `0.05` both read `p5`, `2.5` reads `p2.5`.
fn percentile_key(p: f64) -> String {
    let percent = if p > 0.0 && p < 1.0 { p * 100.0 } else { p };
    let rounded = (percent * 1000.0).round() / 1000.0;
    format!("p{rounded}")
}

impl From<pb::OutputResults> for OutputView {
    fn from(output: pb::OutputResults) -> Self {
        let histogram = output.histogram.unwrap_or_default();
        OutputView {
            count: output.count,
            errors: output.errors,
            mean: output.mean,
            std: output.std,
            min: output.min,
            max: output.max,
            skewness: output.skewness,
            kurtosis: output.kurtosis,
            std_error: output.std_error,
            percentiles: output
                .percentiles
                .iter()
                .map(|percentile| (percentile_key(percentile.p), percentile.value))
                .collect(),
            histogram: HistogramView {
                edges: histogram.edges,
                counts: histogram.counts,
            },
            sensitivity: output
                .sensitivity
                .into_iter()
                .map(|row| SensitivityView {
                    input: row.input,
                    name: row.name,
                    spearman: row.spearman,
                    regression: row.regression,
                    contribution_to_variance: row.contribution_to_variance,
                    mean_at_low: row.mean_at_low,
                    mean_at_high: row.mean_at_high,
                })
                .collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ResultsView {
    pub simulation_id: String,
    pub iterations: u64,
    pub seed: u64,
    pub sampling: String,
    /// `cpu` or `gpu`: the engine that ran it.
    pub engine: String,
    /// The GPU adapter that ran it; absent on the CPU.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adapter: Option<String>,
    /// Arithmetic of the per-iteration values: `f64` (CPU) or `f32` (GPU).
    pub precision: String,
    pub elapsed_ms: f64,
    pub compute_units: f64,
    /// Keyed by output name (e.g. `NPV`).
    pub outputs: BTreeMap<String, OutputView>,
}

impl From<pb::SimulationResults> for ResultsView {
    fn from(results: pb::SimulationResults) -> Self {
        ResultsView {
            sampling: sampling_name(results.sampling).into(),
            simulation_id: results.simulation_id,
            iterations: results.iterations,
            seed: results.seed,
            engine: results.engine,
            adapter: Some(results.adapter).filter(|name| !name.is_empty()),
            precision: if results.precision.is_empty() {
                "f64".to_owned()
            } else {
                results.precision
            },
            elapsed_ms: results.elapsed_ms,
            compute_units: results.compute_units,
            outputs: results
                .outputs
                .into_iter()
                .map(|output| (output.name.clone(), OutputView::from(output)))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::percentile_key;

    #[test]
    fn percentile_keys_read_as_percent() {
        assert_eq!(percentile_key(5.0), "p5");
        assert_eq!(percentile_key(0.05), "p5");
        assert_eq!(percentile_key(2.5), "p2.5");
        assert_eq!(percentile_key(99.0), "p99");
    }
}
