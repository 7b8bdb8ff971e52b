//! Tenant isolation and roles over HTTP, on the whole platform (`ultra serve` in this
//! process: the gateway, six gRPC services verifying signed caller metadata, SQLite).
//!
//! Two organisations, each with a member of every role (admin, power_user, analyst, viewer)
//! and an API key (scoped `simulation.read` + `results.view`). Every REST route × every
//! actor × own and foreign resource ids is requested, and each answer is compared with the
//! table [`ROUTES`], which lists the expected status per route and actor for the actor's
//! own organisation's ids and, for routes naming a resource, for the other organisation's.
//! A foreign id is always 404 (DESIGN.md: never 403), whether or not the actor may use the
//! route: an actor without the permission gets 403 for its own ids only, so a refusal never
//! tells that a foreign id exists ([`every_foreign_id_is_expected_to_answer_404`] holds the
//! table to that). No foreign id ever answers 2xx. Destructive routes get a fresh target per
//! cell.
//!
//! To cover a new route, add a row to [`ROUTES`].

mod serve_common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use serve_common::{Api, Cluster, start_platform, start_platform_on};
use ultra_cli::http_client::{self, HttpConnection, HttpResponse};
use ultra_cli::platform::RunningPlatform;

const PASSWORD: &str = "isolation passphrase 9";
const PROBLEM: &str = "https://ultra.dev/problems/";

/// Who makes a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Actor {
    Admin,
    PowerUser,
    Analyst,
    Viewer,
    /// The organisation's API key, scoped `simulation.read` and `results.view`.
    Key,
}

const ACTORS: [Actor; 5] = [
    Actor::Admin,
    Actor::PowerUser,
    Actor::Analyst,
    Actor::Viewer,
    Actor::Key,
];

const KEY_SCOPES: [&str; 2] = ["simulation.read", "results.view"];

/// The ids a request names: the organisation's fixed resources, or a fresh one.
#[derive(Clone, Debug)]
struct Ids {
    model: String,
    simulation: String,
    member: String,
    key: String,
}

/// What a destructive route consumes: a fresh one is created for each cell.
#[derive(Clone, Copy, Debug)]
enum Fresh {
    Nothing,
    Model,
    Member,
    Key,
}

#[derive(Clone, Copy)]
enum Body {
    Empty,
    Json(fn(&Ids) -> Value),
    ModelUpload,
}

struct Route {
    method: &'static str,
    /// With `{model}`, `{simulation}`, `{member}` or `{key}` for the ids.
    path: &'static str,
    body: Body,
    fresh: Fresh,
    /// Expected status with the actor's own ids: admin, power_user, analyst, viewer, key.
    own: [u16; 5],
    /// For a request that names a resource (in its path or body), the expected status
    /// with the other organisation's ids, in the same order: it is also sent with those.
    /// Always 404 ([`every_foreign_id_is_expected_to_answer_404`]).
    foreign: Option<[u16; 5]>,
}

/// What every actor gets for another organisation's id, with or without the route's
/// permission (DESIGN.md: an id of another org answers 404, never 403).
const NOT_FOUND: Option<[u16; 5]> = Some([404, 404, 404, 404, 404]);

static UNIQUE: AtomicUsize = AtomicUsize::new(0);

fn new_member_body(_: &Ids) -> Value {
    let n = UNIQUE.fetch_add(1, Ordering::Relaxed);
    json!({"email": format!("invitee{n}@matrix.example"), "role": "viewer"})
}

fn submit_body(ids: &Ids) -> Value {
    json!({"model_id": ids.model, "iterations": 1000, "seed": 7})
}

fn viewer_role_body(_: &Ids) -> Value {
    json!({"role": "viewer"})
}

fn new_key_body(_: &Ids) -> Value {
    json!({"name": "matrix", "scopes": ["results.view"]})
}

/// The matrix: every REST route with the status each actor gets with its own ids and, for
/// a route naming a resource, with the other organisation's.
#[rustfmt::skip]
const ROUTES: &[Route] = &[
    Route { method: "GET", path: "/v1/me", body: Body::Empty, fresh: Fresh::Nothing,
        own: [200, 200, 200, 200, 200], foreign: None },
    Route { method: "GET", path: "/v1/models", body: Body::Empty, fresh: Fresh::Nothing,
        own: [200, 200, 200, 200, 200], foreign: None },
    Route { method: "POST", path: "/v1/models", body: Body::ModelUpload, fresh: Fresh::Nothing,
        own: [201, 201, 201, 403, 403], foreign: None },
    Route { method: "GET", path: "/v1/models/{model}", body: Body::Empty, fresh: Fresh::Nothing,
        own: [200, 200, 200, 200, 200], foreign: NOT_FOUND },
    Route { method: "DELETE", path: "/v1/models/{model}", body: Body::Empty, fresh: Fresh::Model,
        own: [204, 204, 403, 403, 403], foreign: NOT_FOUND },
    Route { method: "POST", path: "/v1/simulations", body: Body::Json(submit_body),
        fresh: Fresh::Nothing, own: [202, 202, 202, 403, 403], foreign: NOT_FOUND },
    Route { method: "GET", path: "/v1/simulations", body: Body::Empty, fresh: Fresh::Nothing,
        own: [200, 200, 200, 200, 200], foreign: None },
    Route { method: "GET", path: "/v1/simulations/{simulation}", body: Body::Empty,
        fresh: Fresh::Nothing, own: [200, 200, 200, 200, 200], foreign: NOT_FOUND },
    Route { method: "GET", path: "/v1/simulations/{simulation}/progress", body: Body::Empty,
        fresh: Fresh::Nothing, own: [200, 200, 200, 200, 200], foreign: NOT_FOUND },
    Route { method: "GET", path: "/v1/simulations/{simulation}/events", body: Body::Empty,
        fresh: Fresh::Nothing, own: [200, 200, 200, 200, 200], foreign: NOT_FOUND },
    // The simulation completed: cancelling it is a conflict for whoever may cancel.
    Route { method: "POST", path: "/v1/simulations/{simulation}/cancel", body: Body::Empty,
        fresh: Fresh::Nothing, own: [409, 409, 409, 403, 403], foreign: NOT_FOUND },
    Route { method: "GET", path: "/v1/simulations/{simulation}/results", body: Body::Empty,
        fresh: Fresh::Nothing, own: [200, 200, 200, 200, 200], foreign: NOT_FOUND },
    Route { method: "GET", path: "/v1/org/members", body: Body::Empty, fresh: Fresh::Nothing,
        own: [200, 200, 200, 200, 403], foreign: None },
    Route { method: "POST", path: "/v1/org/members", body: Body::Json(new_member_body),
        fresh: Fresh::Nothing, own: [201, 403, 403, 403, 403], foreign: None },
    Route { method: "PATCH", path: "/v1/org/members/{member}", body: Body::Json(viewer_role_body),
        fresh: Fresh::Nothing, own: [200, 403, 403, 403, 403], foreign: NOT_FOUND },
    Route { method: "DELETE", path: "/v1/org/members/{member}", body: Body::Empty,
        fresh: Fresh::Member, own: [204, 403, 403, 403, 403], foreign: NOT_FOUND },
    Route { method: "POST", path: "/v1/api-keys", body: Body::Json(new_key_body),
        fresh: Fresh::Nothing, own: [201, 403, 403, 403, 403], foreign: None },
    Route { method: "GET", path: "/v1/api-keys", body: Body::Empty, fresh: Fresh::Nothing,
        own: [200, 403, 403, 403, 403], foreign: None },
    Route { method: "DELETE", path: "/v1/api-keys/{key}", body: Body::Empty, fresh: Fresh::Key,
        own: [204, 403, 403, 403, 403], foreign: NOT_FOUND },
    Route { method: "GET", path: "/v1/audit", body: Body::Empty, fresh: Fresh::Nothing,
        own: [200, 403, 403, 403, 403], foreign: None },
    Route { method: "GET", path: "/v1/audit/verify", body: Body::Empty, fresh: Fresh::Nothing,
        own: [200, 403, 403, 403, 403], foreign: None },
    // A person's data: not for an API key.
    Route { method: "GET", path: "/v1/me/export", body: Body::Empty, fresh: Fresh::Nothing,
        own: [200, 200, 200, 200, 403], foreign: None },
];

/// One organisation of the test: a token per actor and its fixed resources.
struct Org {
    name: &'static str,
    tokens: HashMap<Actor, String>,
    ids: Ids,
}

impl Org {
    fn admin(&self) -> &str {
        &self.tokens[&Actor::Admin]
    }
}

fn model_bytes() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/npv10.json"
    ))
    .expect("examples/npv10.json")
}

fn multipart(bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = "ultra-isolation-boundary";
    let mut body = format!(
        "--{boundary}\r\ncontent-disposition: form-data; name=\"file\"; filename=\"npv10.json\"\r\n\
         content-type: application/json\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Any method, with a bearer token and an optional JSON body.
async fn send(
    base_url: &str,
    method: &str,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> HttpResponse {
    let bearer = format!("Bearer {token}");
    let mut headers = vec![("authorization", bearer.as_str())];
    let bytes = body
        .map(|value| value.to_string().into_bytes())
        .unwrap_or_default();
    if body.is_some() {
        headers.push(("content-type", "application/json"));
    }
    http_client::request(base_url, method, path, &headers, &bytes)
        .await
        .unwrap_or_else(|error| panic!("{method} {path}: {error}"))
}

async fn upload(api: &Api, token: &str) -> String {
    let (content_type, body) = multipart(&model_bytes());
    let response = api
        .post("/v1/models", Some(token), &content_type, &body)
        .await;
    assert_eq!(response.status, 201, "upload: {}", response.json());
    response.json()["id"].as_str().expect("model id").to_owned()
}

async fn invite(api: &Api, admin: &str, email: &str, role: &str) -> (String, String) {
    let response = api
        .post_json(
            "/v1/org/members",
            Some(admin),
            &json!({"email": email, "role": role}),
        )
        .await;
    assert_eq!(response.status, 201, "invite {email}: {}", response.json());
    let body = response.json();
    (
        body["member"]["user_id"]
            .as_str()
            .expect("user id")
            .to_owned(),
        body["invite_token"].as_str().unwrap_or_default().to_owned(),
    )
}

async fn create_key(api: &Api, admin: &str, scopes: &[&str]) -> (String, String) {
    let response = api
        .post_json(
            "/v1/api-keys",
            Some(admin),
            &json!({"name": "ci", "scopes": scopes}),
        )
        .await;
    assert_eq!(response.status, 201, "create key: {}", response.json());
    let body = response.json();
    (
        body["key"]["id"].as_str().expect("key id").to_owned(),
        body["secret"].as_str().expect("secret").to_owned(),
    )
}

/// Registers an organisation, invites a member of every other role (who accept and log
/// in), creates its API key, uploads a model and runs a simulation to completion.
async fn organisation(api: &Api, name: &'static str) -> Org {
    let domain = format!("{}.example", name.to_lowercase());
    let admin_email = format!("admin@{domain}");
    let registered = api
        .post_json(
            "/v1/auth/register",
            None,
            &json!({"email": admin_email, "password": PASSWORD, "organization_name": name}),
        )
        .await;
    assert_eq!(registered.status, 201, "register: {}", registered.json());
    let admin = api.login(&admin_email, PASSWORD).await;
    let mut tokens = HashMap::from([(Actor::Admin, admin.clone())]);
    for (actor, role) in [
        (Actor::PowerUser, "power_user"),
        (Actor::Analyst, "analyst"),
        (Actor::Viewer, "viewer"),
    ] {
        let email = format!("{role}@{domain}");
        let (_, invite_token) = invite(api, &admin, &email, role).await;
        let accepted = api
            .post_json(
                "/v1/auth/accept-invite",
                None,
                &json!({"invite_token": invite_token, "password": PASSWORD}),
            )
            .await;
        assert_eq!(accepted.status, 200, "accept: {}", accepted.json());
        assert_eq!(accepted.json()["role"], role);
        tokens.insert(actor, api.login(&email, PASSWORD).await);
    }
    let (_, key_secret) = create_key(api, &admin, &KEY_SCOPES).await;
    tokens.insert(Actor::Key, key_secret);
    // A member that PATCH targets (set to viewer again and again).
    let (member, _) = invite(api, &admin, &format!("target@{domain}"), "viewer").await;
    let (key, _) = create_key(api, &admin, &["results.view"]).await;
    let model = upload(api, &admin).await;
    let submitted = api
        .post_json(
            "/v1/simulations",
            Some(&admin),
            &json!({"model_id": model, "iterations": 2000, "seed": 1}),
        )
        .await;
    assert_eq!(submitted.status, 202, "submit: {}", submitted.json());
    let simulation = submitted.json()["id"].as_str().expect("id").to_owned();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let polled = api
            .get(&format!("/v1/simulations/{simulation}"), Some(&admin))
            .await
            .json();
        if polled["status"] == "completed" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline && polled["status"] != "failed",
            "simulation did not complete: {polled}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Org {
        name,
        tokens,
        ids: Ids {
            model,
            simulation,
            member,
            key,
        },
    }
}

/// The ids a cell uses in `target`: its fixed ones, or a fresh resource for a destructive
/// route (created by `target`'s admin).
async fn ids_for(api: &Api, target: &Org, fresh: Fresh) -> Ids {
    let mut ids = target.ids.clone();
    match fresh {
        Fresh::Nothing => {}
        Fresh::Model => ids.model = upload(api, target.admin()).await,
        Fresh::Member => {
            let n = UNIQUE.fetch_add(1, Ordering::Relaxed);
            let email = format!("doomed{n}@{}.example", target.name.to_lowercase());
            ids.member = invite(api, target.admin(), &email, "viewer").await.0;
        }
        Fresh::Key => ids.key = create_key(api, target.admin(), &["results.view"]).await.0,
    }
    ids
}

fn path_with(path: &str, ids: &Ids) -> String {
    path.replace("{model}", &ids.model)
        .replace("{simulation}", &ids.simulation)
        .replace("{member}", &ids.member)
        .replace("{key}", &ids.key)
}

async fn call(base_url: &str, route: &Route, token: &str, ids: &Ids) -> HttpResponse {
    let path = path_with(route.path, ids);
    match route.body {
        Body::Empty if path.ends_with("/events") => {
            let bearer = format!("Bearer {token}");
            let mut connection = HttpConnection::connect(base_url).await.expect("connect");
            let (status, _) = tokio::time::timeout(
                Duration::from_secs(30),
                connection.events(&path, &[("authorization", &bearer)]),
            )
            .await
            .expect("the event stream ends")
            .expect("events");
            HttpResponse {
                status,
                headers: Vec::new(),
                body: Vec::new(),
            }
        }
        Body::Empty => send(base_url, route.method, &path, token, None).await,
        Body::Json(make) => send(base_url, route.method, &path, token, Some(&make(ids))).await,
        Body::ModelUpload => {
            let (content_type, body) = multipart(&model_bytes());
            let bearer = format!("Bearer {token}");
            let headers = [
                ("authorization", bearer.as_str()),
                ("content-type", content_type.as_str()),
            ];
            http_client::request(base_url, route.method, &path, &headers, &body)
                .await
                .expect("upload")
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_route_actor_and_organisation_gets_the_expected_status() {
    let (platform, data_dir) = start_platform(&[]).await;
    matrix(platform, data_dir).await;
}

/// The same matrix with every service on PostgreSQL and the Redis bus (real servers from
/// ultra-testkit): the members and keys queries run on both backends.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_matrix_holds_on_postgres_and_redis() {
    let cluster = Cluster::start();
    let (platform, data_dir) = start_platform_on(&[], cluster.backend()).await;
    matrix(platform, data_dir).await;
    drop(cluster);
}

/// The rule the table encodes, checked on the table itself: every route that names a
/// resource is also tried with foreign ids, and every actor gets 404 for them, also where
/// its own ids get 403 (the gateway looks the id up before refusing).
#[test]
fn every_foreign_id_is_expected_to_answer_404() {
    let mut foreign_cells = 0;
    for route in ROUTES {
        // An id in the path, or the model id in a submission's body.
        let names_resource =
            route.path.contains('{') || (route.method, route.path) == ("POST", "/v1/simulations");
        assert_eq!(
            route.foreign.is_some(),
            names_resource,
            "{} {}: foreign ids are tried exactly on the routes naming a resource",
            route.method,
            route.path
        );
        for (slot, expected) in route.foreign.iter().flatten().enumerate() {
            assert_eq!(
                *expected, 404,
                "{} {} as {:?} with a foreign id: a foreign id is always 404",
                route.method, route.path, ACTORS[slot]
            );
            foreign_cells += 1;
        }
    }
    assert!(
        foreign_cells >= 10 * ACTORS.len(),
        "{foreign_cells} foreign cells"
    );
}

async fn matrix(platform: RunningPlatform, data_dir: std::path::PathBuf) {
    let api = Api::new(&platform.base_url);
    let orgs = [
        organisation(&api, "Alpha").await,
        organisation(&api, "Beta").await,
    ];
    let mut cells = 0_usize;
    let mut failures = Vec::new();
    for (index, home) in orgs.iter().enumerate() {
        let foreign = &orgs[1 - index];
        for route in ROUTES {
            for (slot, actor) in ACTORS.iter().enumerate() {
                let token = &home.tokens[actor];
                let mut targets = vec![(home, "own", route.own[slot])];
                if let Some(foreign_expected) = route.foreign {
                    targets.push((foreign, "foreign", foreign_expected[slot]));
                }
                for (target, which, expected) in targets {
                    let ids = ids_for(&api, target, route.fresh).await;
                    let response = call(&platform.base_url, route, token, &ids).await;
                    cells += 1;
                    let problem_ok = response.status < 400
                        || route.path.ends_with("/events")
                        || (response.header("content-type") == Some("application/problem+json")
                            && response.json()["status"] == response.status);
                    if response.status != expected || !problem_ok {
                        failures.push(format!(
                            "{} {} as {:?} of {} with {which} ids: expected {expected}, got {} {}",
                            route.method,
                            route.path,
                            actor,
                            home.name,
                            response.status,
                            response.json()
                        ));
                    }
                    if which == "foreign" && (200..300).contains(&response.status) {
                        failures.push(format!(
                            "LEAK: {} {} as {actor:?} of {} answered {} for a foreign id",
                            route.method, route.path, home.name, response.status
                        ));
                    }
                }
            }
        }
    }
    println!(
        "isolation matrix: {} routes x {} actors x 2 organisations, own and foreign ids: {cells} cells checked",
        ROUTES.len(),
        ACTORS.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {cells} cells failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(cells >= ROUTES.len() * ACTORS.len() * 2);
    let errors = platform.shutdown(Duration::from_secs(10)).await;
    assert!(errors.is_empty(), "{errors:?}");
    let _ = std::fs::remove_dir_all(data_dir);
}

fn assert_problem(response: &HttpResponse, status: u16, slug: &str) {
    let body = response.json();
    assert_eq!(response.status, status, "body: {body}");
    assert_eq!(
        response.header("content-type"),
        Some("application/problem+json"),
        "body: {body}"
    );
    assert_eq!(body["type"], format!("{PROBLEM}{slug}"), "body: {body}");
}

/// The role tests of the issue: a viewer cannot run simulations; an analyst cannot see
/// billing (no billing REST route exists yet: the admin-only routes refuse them, and the
/// billing service itself refuses an analyst's signed request); a key scoped to
/// `results.view` cannot upload but reads results, until it is revoked.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn roles_and_key_scopes_are_enforced() {
    let (platform, data_dir) = start_platform(&[]).await;
    let api = Api::new(&platform.base_url);
    let org = organisation(&api, "Gamma").await;
    let base = platform.base_url.as_str();

    let viewer = &org.tokens[&Actor::Viewer];
    let refused = send(
        base,
        "POST",
        "/v1/simulations",
        viewer,
        Some(&submit_body(&org.ids)),
    )
    .await;
    assert_problem(&refused, 403, "forbidden");
    assert!(
        refused.json()["detail"]
            .as_str()
            .is_some_and(|d| d.contains("simulation.create"))
    );

    let analyst = &org.tokens[&Actor::Analyst];
    let keys = send(base, "GET", "/v1/api-keys", analyst, None).await;
    assert_problem(&keys, 403, "forbidden");
    let invite = send(
        base,
        "POST",
        "/v1/org/members",
        analyst,
        Some(&json!({"email": "x@gamma.example", "role": "admin"})),
    )
    .await;
    assert_problem(&invite, 403, "forbidden");
    // Billing usage over gRPC, signed for the analyst as the gateway would sign it.
    let me = api.get("/v1/me", Some(analyst)).await.json();
    let caller = ultra_proto::v1::Caller {
        org_id: me["org_id"].as_str().expect("org").to_owned(),
        user_id: me["id"].as_str().expect("id").to_owned(),
        role: ultra_proto::v1::Role::Analyst as i32,
    };
    let signer = ultra_rpc::CallerAuth::from_env(&platform.env).expect("secret");
    let request = ultra_proto::v1::GetUsageRequest {
        caller: Some(caller.clone()),
        from_ms: 0,
        to_ms: 0,
    };
    let mut billing = ultra_proto::v1::billing_service_client::BillingServiceClient::connect(
        platform.service_urls["billing"].clone(),
    )
    .await
    .expect("billing");
    let status = billing
        .get_usage(signer.peer_request(&caller, request).expect("signed"))
        .await
        .expect_err("an analyst does not see billing");
    assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");

    // A key scoped to results.view: no upload, results yes.
    let (key_id, key) = create_key(&api, org.admin(), &["results.view"]).await;
    let (content_type, body) = multipart(&model_bytes());
    let upload = api
        .post("/v1/models", Some(&key), &content_type, &body)
        .await;
    assert_problem(&upload, 403, "forbidden");
    assert!(
        upload.json()["detail"]
            .as_str()
            .is_some_and(|d| d.contains("file.upload"))
    );
    let results_path = format!("/v1/simulations/{}/results", org.ids.simulation);
    let results = api.get(&results_path, Some(&key)).await;
    assert_eq!(results.status, 200, "results: {}", results.json());
    assert_eq!(results.json()["simulation_id"], org.ids.simulation.as_str());
    // Not even the list of simulations: the key has results.view only.
    let listed = api.get("/v1/simulations", Some(&key)).await;
    assert_problem(&listed, 403, "forbidden");
    // Revoked through this gateway: refused at once, not after the 30 s cache.
    let revoked = api
        .delete(&format!("/v1/api-keys/{key_id}"), org.admin())
        .await;
    assert_eq!(revoked.status, 204);
    let after = api.get(&results_path, Some(&key)).await;
    assert_problem(&after, 401, "invalid-token");
    let bogus = api
        .get(&results_path, Some(&format!("ultra_{}", "x".repeat(43))))
        .await;
    assert_problem(&bogus, 401, "invalid-token");

    let errors = platform.shutdown(Duration::from_secs(10)).await;
    assert!(errors.is_empty(), "{errors:?}");
    let _ = std::fs::remove_dir_all(data_dir);
}

/// A split deployment without `ULTRA_SERVICE_SECRET` would trust any caller written into a
/// request: `ultra service NAME` and `ultra gateway` refuse to start, naming the variable.
#[test]
fn split_processes_refuse_to_start_without_the_service_secret() {
    for args in [&["service", "billing"][..], &["gateway"][..]] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_ultra"))
            .args(args)
            .env_remove("ULTRA_SERVICE_SECRET")
            .env("ULTRA_LISTEN", "127.0.0.1:0")
            .output()
            .expect("run ultra");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} started: {stderr}");
        assert!(
            stderr.contains("ULTRA_SERVICE_SECRET is required"),
            "{args:?}: {stderr}"
        );
    }
}
