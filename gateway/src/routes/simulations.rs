//! `/v1/simulations`: submit, list, get, progress, live events (SSE), cancel, results.

use std::convert::Infallible;
use std::time::Duration;

use crate::auth::Permission;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use ultra_proto::v1 as pb;

use crate::AppState;
use crate::extract::{ApiJson, ApiQuery, Authenticated};
use crate::problem::{ApiError, ApiResult, Problem};
use crate::tenancy::Resource;
use crate::views::{
    self, PageQuery, ProgressView, ResultsView, SimulationList, SimulationView, SubmitBody,
};

/// Queues a simulation; it runs in the background. Iterations must be at least 1 and at
/// most the platform cap (400 `invalid-argument` otherwise). Optional `inputs` and
/// `outputs` choose cells of a workbook as distributions and outputs for this run; a bad
/// cell or distribution is 422 `invalid-model`, overrides on a JSON model 400.
#[utoipa::path(post, path = "/v1/simulations", tag = "simulations", security(("bearer" = [])),
    request_body = SubmitBody,
    responses((status = 202, body = SimulationView), (status = 400, body = Problem),
              (status = 404, body = Problem), (status = 422, body = Problem),
              (status = 429, body = Problem)))]
pub async fn submit(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiJson(body): ApiJson<SubmitBody>,
) -> ApiResult<(StatusCode, Json<SimulationView>)> {
    let plan_tier = auth.1;
    let caller = auth
        .require_or_not_found(
            &state,
            Permission::SimulationCreate,
            Resource::Model(&body.model_id),
        )
        .await?
        .clone();
    let sampling = views::parse_sampling(body.sampling.as_deref())
        .ok_or_else(|| ApiError::InvalidRequest("sampling must be one of mc, lhs, sobol".into()))?;
    let engine = views::parse_engine(body.engine.as_deref())
        .ok_or_else(|| ApiError::InvalidRequest("engine must be one of auto, cpu, gpu".into()))?;
    let (inputs, outputs) = overrides(body.inputs, body.outputs)?;
    let request = pb::SubmitRequest {
        caller: Some(caller),
        model_id: body.model_id,
        iterations: body.iterations,
        seed: body.seed,
        sampling: sampling as i32,
        engine: engine as i32,
        inputs,
        outputs,
        // From the verified token, never from the body: weights the job in the queue.
        plan_tier: plan_tier as i32,
    };
    let simulation = state
        .upstreams
        .simulation
        .clone()
        .submit(auth.request(request)?)
        .await
        .map_err(|status| {
            // The model does not compile with the chosen inputs/outputs (a bad cell or
            // distribution): 422 like a rejected upload.
            if status.code() == tonic::Code::InvalidArgument
                && status.message().starts_with("invalid model:")
            {
                ApiError::InvalidModel(status)
            } else {
                ApiError::Upstream(status)
            }
        })?
        .into_inner();
    Ok((StatusCode::ACCEPTED, Json(SimulationView::from(simulation))))
}

/// Most overrides of each kind in one request, as the files service allows.
const MAX_OVERRIDES: usize = 1_000;
/// Longest cell address or distribution text accepted in an override.
const MAX_OVERRIDE_CHARS: usize = 4_096;

/// Checks the request's input/output overrides (the files service compiles them).
fn overrides(
    inputs: Vec<views::InputOverride>,
    outputs: Vec<views::OutputOverride>,
) -> ApiResult<(Vec<pb::InputOverride>, Vec<pb::OutputOverride>)> {
    if inputs.len() > MAX_OVERRIDES || outputs.len() > MAX_OVERRIDES {
        return Err(ApiError::InvalidRequest(format!(
            "at most {MAX_OVERRIDES} inputs and {MAX_OVERRIDES} outputs"
        )));
    }
    let text = |what: &str, value: String| -> ApiResult<String> {
        let value = value.trim().to_owned();
        if value.is_empty() || value.len() > MAX_OVERRIDE_CHARS {
            return Err(ApiError::InvalidRequest(format!(
                "{what} must be 1 to {MAX_OVERRIDE_CHARS} characters"
            )));
        }
        Ok(value)
    };
    let inputs = inputs
        .into_iter()
        .map(|input| {
            Ok(pb::InputOverride {
                cell: text("inputs[].cell", input.cell)?,
                distribution: text("inputs[].distribution", input.distribution)?,
            })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    let outputs = outputs
        .into_iter()
        .map(|output| {
            Ok(pb::OutputOverride {
                cell: text("outputs[].cell", output.cell)?,
                name: match output.name {
                    Some(name) => text("outputs[].name", name)?,
                    None => String::new(),
                },
            })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    Ok((inputs, outputs))
}

/// The organisation's simulations, newest first.
#[utoipa::path(get, path = "/v1/simulations", tag = "simulations", security(("bearer" = [])),
    params(("page_size" = Option<u32>, Query), ("page_token" = Option<String>, Query)),
    responses((status = 200, body = SimulationList)))]
pub async fn list(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<SimulationList>> {
    let caller = auth.require(Permission::SimulationRead)?.clone();
    let request = pb::ListSimulationsRequest {
        caller: Some(caller),
        page: Some(page.into()),
    };
    let response = state
        .upstreams
        .simulation
        .clone()
        .list_simulations(auth.request(request)?)
        .await?;
    let response = response.into_inner();
    Ok(Json(SimulationList {
        simulations: response
            .simulations
            .into_iter()
            .map(SimulationView::from)
            .collect(),
        next_page_token: response.next_page_token,
    }))
}

async fn fetch(
    state: &AppState,
    caller: pb::Caller,
    simulation_id: String,
) -> ApiResult<pb::Simulation> {
    // Signed for the bare caller: also called after the handler returned (SSE), and
    // reading a simulation needs no permission at the service beyond being its org's.
    let request = state.caller_auth.peer_request(
        &caller,
        pb::GetSimulationRequest {
            caller: Some(caller.clone()),
            simulation_id,
        },
    )?;
    Ok(state
        .upstreams
        .simulation
        .clone()
        .get_simulation(request)
        .await?
        .into_inner())
}

#[utoipa::path(get, path = "/v1/simulations/{id}", tag = "simulations", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = SimulationView), (status = 404, body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Authenticated,
    Path(simulation_id): Path<String>,
) -> ApiResult<Json<SimulationView>> {
    let caller = caller
        .require_or_not_found(
            &state,
            Permission::SimulationRead,
            Resource::Simulation(&simulation_id),
        )
        .await?
        .clone();
    let simulation = fetch(&state, caller, simulation_id).await?;
    Ok(Json(SimulationView::from(simulation)))
}

/// Status and completed iterations: the cheap poll for a progress bar.
#[utoipa::path(get, path = "/v1/simulations/{id}/progress", tag = "simulations",
    security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = ProgressView), (status = 404, body = Problem)))]
pub async fn progress(
    State(state): State<AppState>,
    caller: Authenticated,
    Path(simulation_id): Path<String>,
) -> ApiResult<Response> {
    let caller = caller
        .require_or_not_found(
            &state,
            Permission::SimulationRead,
            Resource::Simulation(&simulation_id),
        )
        .await?;
    if let Some(body) = state.progress.get(&caller.org_id, &simulation_id) {
        return Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response());
    }
    let caller = caller.clone();
    let simulation = fetch(&state, caller.clone(), simulation_id).await?;
    let view = ProgressView::from(&simulation);
    if state
        .progress
        .confirm(&caller.org_id, &view, views::is_final(simulation.status))
    {
        state.progress.spawn_watcher(
            state.upstreams.simulation.clone(),
            state.caller_auth.clone(),
            caller,
            simulation.id,
            state.shutdown.clone(),
        );
    }
    Ok(Json(view).into_response())
}

/// Server-Sent Events: `progress` events (a [`ProgressView`] each) while it runs, then one
/// `status` event (the final [`SimulationView`]) and the stream ends.
#[utoipa::path(get, path = "/v1/simulations/{id}/events", tag = "simulations",
    security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, content_type = "text/event-stream", body = String),
              (status = 404, body = Problem)))]
pub async fn events(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(simulation_id): Path<String>,
) -> ApiResult<impl axum::response::IntoResponse> {
    let caller = auth
        .require_or_not_found(
            &state,
            Permission::SimulationRead,
            Resource::Simulation(&simulation_id),
        )
        .await?
        .clone();
    let request = pb::GetSimulationRequest {
        caller: Some(caller.clone()),
        simulation_id: simulation_id.clone(),
    };
    // Opening the watch before answering turns an unknown id into a 404, not an empty stream.
    let watch = state
        .upstreams
        .simulation
        .clone()
        .watch_progress(auth.request(request)?)
        .await?
        .into_inner();
    let (sender, receiver) = mpsc::channel(16);
    tokio::spawn(forward_progress(
        state,
        caller,
        simulation_id,
        watch,
        sender,
    ));
    Ok(Sse::new(ReceiverStream::new(receiver))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

fn json_event(name: &str, value: &impl serde::Serialize) -> Event {
    Event::default()
        .event(name)
        .json_data(value)
        .unwrap_or_else(|_| Event::default().event(name))
}

/// Relays progress ticks until the final status, the client leaving, or shutdown.
async fn forward_progress(
    state: AppState,
    caller: pb::Caller,
    simulation_id: String,
    mut watch: tonic::Streaming<pb::Progress>,
    sender: mpsc::Sender<Result<Event, Infallible>>,
) {
    loop {
        let next = tokio::select! {
            () = state.shutdown.cancelled() => return,
            () = sender.closed() => return,
            next = watch.next() => next,
        };
        match next {
            Some(Ok(tick)) => {
                let view = ProgressView::from(tick);
                if sender
                    .send(Ok(json_event("progress", &view)))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            Some(Err(status)) => {
                let problem = ApiError::Upstream(status).problem();
                let _ = sender.send(Ok(json_event("error", &problem))).await;
                return;
            }
            None => break,
        }
    }
    let final_event = match fetch(&state, caller, simulation_id).await {
        Ok(simulation) => json_event("status", &SimulationView::from(simulation)),
        Err(error) => json_event("error", &error.problem()),
    };
    let _ = sender.send(Ok(final_event)).await;
}

/// Asks a queued or running simulation to stop; it ends `cancelled`.
#[utoipa::path(post, path = "/v1/simulations/{id}/cancel", tag = "simulations",
    security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = SimulationView), (status = 404, body = Problem),
              (status = 409, body = Problem)))]
pub async fn cancel(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(simulation_id): Path<String>,
) -> ApiResult<Json<SimulationView>> {
    let caller = auth
        .require_or_not_found(
            &state,
            Permission::SimulationCreate,
            Resource::Simulation(&simulation_id),
        )
        .await?
        .clone();
    let request = pb::GetSimulationRequest {
        caller: Some(caller),
        simulation_id,
    };
    let simulation = state
        .upstreams
        .simulation
        .clone()
        .cancel(auth.request(request)?)
        .await?
        .into_inner();
    Ok(Json(SimulationView::from(simulation)))
}

/// Statistics, percentiles, histogram and sensitivity of each output of a completed run.
#[utoipa::path(get, path = "/v1/simulations/{id}/results", tag = "simulations",
    security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = ResultsView), (status = 404, body = Problem)))]
pub async fn results(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(simulation_id): Path<String>,
) -> ApiResult<Json<ResultsView>> {
    let caller = auth
        .require_or_not_found(
            &state,
            Permission::ResultsView,
            Resource::Simulation(&simulation_id),
        )
        .await?
        .clone();
    let request = pb::GetResultsRequest {
        caller: Some(caller),
        simulation_id,
    };
    let results = state
        .upstreams
        .results
        .clone()
        .get_results(auth.request(request)?)
        .await?
        .into_inner();
    Ok(Json(ResultsView::from(results)))
}
