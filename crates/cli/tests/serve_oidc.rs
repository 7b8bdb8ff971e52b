//! OIDC single sign-on end to end: `ultra serve` in this process and a local OpenID
//! provider that this test starts (an axum app on an ephemeral port: discovery, an authorize
//! endpoint that approves at once and redirects with the code and state, a token endpoint
//! that checks the client and the PKCE verifier against the challenge, and the JWKS of the
//! RSA test key in `tests/fixtures`). An admin configures the provider; a user of the
//! provider logs in through the gateway, is provisioned as a viewer on first login and is
//! the same user on the next; an unknown or replayed state, a code redeemed with another
//! login's PKCE verifier and a tampered ID token are all refused. The login is bound to the
//! browser by a state cookie (a callback without it, or with another login's, is refused),
//! an unverified email is refused, an existing password account with the provider's email
//! (in this or another organisation) is not taken over, and an untrusted
//! `X-Forwarded-Proto` does not change the callback URL.

mod serve_common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use serve_common::{Api, start_platform};
use sha2::{Digest, Sha256};
use ultra_cli::http_client;

const CLIENT_ID: &str = "ultra-test-client";
const CLIENT_SECRET: &str = "test-client-secret-3b9f";
/// PKCS#1 DER of a 2048-bit RSA key made for this test only; its public half is `JWKS`.
const KEY_DER: &[u8] = include_bytes!("fixtures/oidc_test_key.der");
const JWKS: &str = include_str!("fixtures/oidc_test_jwks.json");

/// What the provider issued a code for.
struct Grant {
    challenge: String,
    nonce: String,
    redirect_uri: String,
}

/// The local provider's state.
struct Provider {
    issuer: String,
    /// The provider's user who "approves" at the authorize endpoint.
    subject: Mutex<(String, String)>,
    grants: Mutex<HashMap<String, Grant>>,
    /// Sign the next ID tokens, then alter their payload (the signature no longer matches).
    tamper: AtomicBool,
    /// Issue the next ID tokens with `email_verified: false`.
    unverified: AtomicBool,
}

type Shared = Arc<Provider>;

async fn discovery(State(provider): State<Shared>) -> axum::Json<Value> {
    let issuer = &provider.issuer;
    axum::Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["S256"],
    }))
}

async fn authorize(
    State(provider): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let field = |name: &str| query.get(name).cloned().unwrap_or_default();
    if field("client_id") != CLIENT_ID
        || field("response_type") != "code"
        || field("code_challenge_method") != "S256"
        || field("code_challenge").is_empty()
        || !field("scope").split(' ').any(|scope| scope == "openid")
    {
        return (StatusCode::BAD_REQUEST, "bad authorization request").into_response();
    }
    let code = format!("code-{}", uuid_like());
    let redirect_uri = field("redirect_uri");
    provider.grants.lock().expect("grants").insert(
        code.clone(),
        Grant {
            challenge: field("code_challenge"),
            nonce: field("nonce"),
            redirect_uri: redirect_uri.clone(),
        },
    );
    let mut location = url::Url::parse(&redirect_uri).expect("redirect_uri");
    location
        .query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &field("state"));
    (
        StatusCode::FOUND,
        [(header::LOCATION, location.to_string())],
    )
        .into_response()
}

async fn token(State(provider): State<Shared>, body: axum::body::Bytes) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let field = |name: &str| form.get(name).cloned().unwrap_or_default();
    let invalid = |error: &str| (StatusCode::BAD_REQUEST, axum::Json(json!({"error": error})));
    if field("client_id") != CLIENT_ID || field("client_secret") != CLIENT_SECRET {
        return invalid("invalid_client").into_response();
    }
    let Some(grant) = provider
        .grants
        .lock()
        .expect("grants")
        .remove(&field("code"))
    else {
        return invalid("invalid_grant").into_response();
    };
    // RFC 7636 §4.6: BASE64URL(SHA256(code_verifier)) must equal the challenge.
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(field("code_verifier").as_bytes()));
    if field("grant_type") != "authorization_code"
        || field("redirect_uri") != grant.redirect_uri
        || computed != grant.challenge
    {
        return invalid("invalid_grant").into_response();
    }
    let (subject, email) = provider.subject.lock().expect("subject").clone();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let claims = json!({
        "iss": provider.issuer, "sub": subject, "aud": CLIENT_ID, "iat": now, "exp": now + 300,
        "nonce": grant.nonce, "email": email, "name": "Sso Person",
        "email_verified": !provider.unverified.load(Ordering::Relaxed),
    });
    let mut jwt_header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    jwt_header.kid = Some("test-key-1".into());
    let key = jsonwebtoken::EncodingKey::from_rsa_der(KEY_DER);
    let mut id_token = jsonwebtoken::encode(&jwt_header, &claims, &key).expect("sign");
    if provider.tamper.load(Ordering::Relaxed) {
        let parts: Vec<&str> = id_token.split('.').collect();
        let mut forged = claims.clone();
        forged["email"] = json!("someone.else@provider.example");
        let payload = URL_SAFE_NO_PAD.encode(forged.to_string());
        id_token = format!("{}.{payload}.{}", parts[0], parts[2]);
    }
    axum::Json(
        json!({"access_token": "provider-access", "token_type": "Bearer",
                      "expires_in": 300, "id_token": id_token}),
    )
    .into_response()
}

async fn jwks() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], JWKS).into_response()
}

fn uuid_like() -> String {
    use std::sync::atomic::AtomicU64;
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!(
        "{:016x}",
        NEXT.fetch_add(1, Ordering::Relaxed) * 0x9e37_79b9
    )
}

async fn start_provider() -> Shared {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind provider");
    let issuer = format!("http://{}", listener.local_addr().expect("addr"));
    let provider = Arc::new(Provider {
        issuer,
        subject: Mutex::new(("subject-1".into(), "sso.person@provider.example".into())),
        grants: Mutex::new(HashMap::new()),
        tamper: AtomicBool::new(false),
        unverified: AtomicBool::new(false),
    });
    let app = axum::Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/authorize", get(authorize))
        .route("/token", post(token))
        .route("/jwks", get(jwks))
        .with_state(Arc::clone(&provider));
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("provider serves");
    });
    provider
}

/// `(base, path?query)` of an absolute http URL.
fn split(url: &str) -> (String, String) {
    let parsed = url::Url::parse(url).expect("absolute URL");
    let base = format!(
        "http://{}:{}",
        parsed.host_str().expect("host"),
        parsed.port().expect("port")
    );
    let path = match parsed.query() {
        Some(query) => format!("{}?{query}", parsed.path()),
        None => parsed.path().to_owned(),
    };
    (base, path)
}

/// `GET url` with its `Host`, as a browser sends it.
async fn fetch(url: &str) -> http_client::HttpResponse {
    fetch_with(url, &[]).await
}

/// `GET url` with its `Host` and `extra` headers.
async fn fetch_with(url: &str, extra: &[(&str, &str)]) -> http_client::HttpResponse {
    let (base, path) = split(url);
    let host = http_client::authority(&base).expect("authority").to_owned();
    let mut headers = vec![("host", host.as_str())];
    headers.extend_from_slice(extra);
    http_client::request(&base, "GET", &path, &headers, b"")
        .await
        .expect("GET")
}

/// A login the provider approved: the callback URL the browser would be sent to (carrying
/// the code and the state) and the `name=value` of the state cookie `/start` set.
struct Approved {
    callback: String,
    cookie: String,
}

impl Approved {
    /// The callback as the browser that started the login follows it.
    async fn follow(&self) -> http_client::HttpResponse {
        fetch_with(&self.callback, &[("cookie", &self.cookie)]).await
    }
}

/// `GET /v1/auth/oidc/callback` with this code, state and cookie.
async fn callback_with(
    gateway: &str,
    code: &str,
    state: &str,
    cookie: &str,
) -> http_client::HttpResponse {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("code", code).append_pair("state", state);
    fetch_with(
        &format!("{gateway}/v1/auth/oidc/callback?{}", query.finish()),
        &[("cookie", cookie)],
    )
    .await
}

/// Starts a login at the gateway and lets the provider approve it.
async fn approved_callback(gateway: &str, org_id: &str) -> Approved {
    let started = fetch(&format!("{gateway}/v1/auth/oidc/{org_id}/start")).await;
    assert_eq!(
        started.status,
        302,
        "start: {}",
        String::from_utf8_lossy(&started.body)
    );
    let set_cookie = started.header("set-cookie").expect("state cookie");
    for attribute in [
        "HttpOnly",
        "SameSite=Lax",
        "Path=/v1/auth/oidc",
        "Max-Age=600",
    ] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    // Plain http (a loopback gateway without TLS): no Secure, or the browser would drop it.
    assert!(!set_cookie.contains("Secure"), "{set_cookie}");
    let cookie = set_cookie.split(';').next().expect("name=value").to_owned();
    assert!(cookie.starts_with("ultra_oidc_state="), "{cookie}");
    let authorize = started.header("location").expect("location").to_owned();
    let approved = fetch(&authorize).await;
    assert_eq!(
        approved.status,
        302,
        "authorize: {}",
        String::from_utf8_lossy(&approved.body)
    );
    let callback = approved.header("location").expect("callback").to_owned();
    assert!(
        callback.starts_with(&format!("{gateway}/v1/auth/oidc/callback?")),
        "{callback}"
    );
    Approved { callback, cookie }
}

fn query_of(url: &str) -> HashMap<String, String> {
    url::Url::parse(url)
        .expect("url")
        .query_pairs()
        .into_owned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn oidc_login_with_pkce_provisions_and_refuses_forgeries() {
    let (platform, _data_dir) = start_platform(&[]).await;
    let gateway = platform.base_url.clone();
    let api = Api::new(&gateway);
    let provider = start_provider().await;

    let registered = api
        .post_json(
            "/v1/auth/register",
            None,
            &json!({"email": "admin@sso-org.example",
            "password": "a long enough password 7", "organization_name": "SSO Org"}),
        )
        .await;
    assert_eq!(registered.status, 201, "{}", registered.json());
    let org_id = registered.json()["org_id"]
        .as_str()
        .expect("org")
        .to_owned();
    let admin = api
        .login("admin@sso-org.example", "a long enough password 7")
        .await;

    // Not configured yet: nothing to start.
    let unconfigured = fetch(&format!("{gateway}/v1/auth/oidc/{org_id}/start")).await;
    assert_eq!(unconfigured.status, 404);

    // The admin configures the provider; the secret never comes back.
    let (status, body) = configure(
        &gateway,
        &admin,
        json!({"issuer": "http://idp.example.com",
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}),
    )
    .await;
    assert_eq!(
        status, 400,
        "plain http to a remote issuer is refused: {body}"
    );
    let (status, body) = configure(
        &gateway,
        &admin,
        json!({"issuer": provider.issuer,
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}),
    )
    .await;
    assert_eq!(status, 200, "configure: {body}");
    assert_eq!(body["default_role"], "viewer");
    assert!(!body.to_string().contains(CLIENT_SECRET), "{body}");

    // An untrusted X-Forwarded-Proto (no ULTRA_TRUST_FORWARDED_FOR) does not change the
    // callback URL the provider is given: it stays the connection's scheme.
    let spoofed = fetch_with(
        &format!("{gateway}/v1/auth/oidc/{org_id}/start"),
        &[("x-forwarded-proto", "https")],
    )
    .await;
    assert_eq!(spoofed.status, 302);
    let redirect_uri = query_of(spoofed.header("location").expect("location"))
        .remove("redirect_uri")
        .expect("redirect_uri");
    assert_eq!(redirect_uri, format!("{gateway}/v1/auth/oidc/callback"));

    // The callback without the state cookie (not the browser that started the login, e.g.
    // an attacker's code and state planted in a victim's browser) is refused.
    let login = approved_callback(&gateway, &org_id).await;
    let cookieless = fetch(&login.callback).await;
    assert_eq!(cookieless.status, 400, "no cookie: {}", cookieless.json());
    // Nor with the cookie of another login started in this browser.
    let other_login = approved_callback(&gateway, &org_id).await;
    let crossed = fetch_with(&login.callback, &[("cookie", &other_login.cookie)]).await;
    assert_eq!(crossed.status, 401, "other cookie: {}", crossed.json());

    // First login: provisioned as a viewer of the organisation; the cookie is cleared.
    let callback = approved_callback(&gateway, &org_id).await;
    let tokens = callback.follow().await;
    assert_eq!(tokens.status, 200, "callback: {}", tokens.json());
    let cleared = tokens.header("set-cookie").expect("cleared cookie");
    assert!(
        cleared.starts_with("ultra_oidc_state=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    let access = tokens.json()["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let me = api.get("/v1/me", Some(&access)).await.json();
    assert_eq!(me["email"], "sso.person@provider.example");
    assert_eq!(me["org_id"], org_id.as_str());
    assert_eq!(me["role"], "viewer");
    let user_id = me["id"].clone();

    // The state works once.
    let replayed = callback.follow().await;
    assert_eq!(replayed.status, 401, "replay: {}", replayed.json());

    // Next login: the same user.
    let again = approved_callback(&gateway, &org_id).await.follow().await;
    assert_eq!(again.status, 200, "{}", again.json());
    let again_token = again.json()["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    assert_eq!(
        api.get("/v1/me", Some(&again_token)).await.json()["id"],
        user_id
    );

    // An unknown state.
    let approved = approved_callback(&gateway, &org_id).await;
    let forged = query_of(&approved.callback);
    let bad_state = callback_with(
        &gateway,
        &forged["code"],
        "not-a-state-we-issued",
        &approved.cookie,
    )
    .await;
    assert_eq!(bad_state.status, 401, "bad state: {}", bad_state.json());

    // Login A's code with login B's state (and B's cookie): B's PKCE verifier does not
    // match A's challenge.
    let first = query_of(&approved_callback(&gateway, &org_id).await.callback);
    let second_login = approved_callback(&gateway, &org_id).await;
    let second = query_of(&second_login.callback);
    let mixed = callback_with(
        &gateway,
        &first["code"],
        &second["state"],
        &second_login.cookie,
    )
    .await;
    assert_eq!(mixed.status, 401, "wrong verifier: {}", mixed.json());

    // A tampered ID token (payload changed after signing).
    provider.tamper.store(true, Ordering::Relaxed);
    let tampered = approved_callback(&gateway, &org_id).await.follow().await;
    assert_eq!(tampered.status, 401, "tampered: {}", tampered.json());
    provider.tamper.store(false, Ordering::Relaxed);

    // The provider vouching for an email that has an account in another organisation.
    let other = api
        .post_json(
            "/v1/auth/register",
            None,
            &json!({"email": "elsewhere@other.example",
            "password": "a long enough password 7", "organization_name": "Other Org"}),
        )
        .await;
    assert_eq!(other.status, 201);
    *provider.subject.lock().expect("subject") =
        ("subject-2".into(), "elsewhere@other.example".into());
    let hijack = approved_callback(&gateway, &org_id).await.follow().await;
    assert_eq!(hijack.status, 409, "foreign account: {}", hijack.json());
    assert!(
        hijack.json()["detail"]
            .as_str()
            .is_some_and(|detail| detail.contains("invite or link")),
        "{}",
        hijack.json()
    );

    // Nor is a password account of this very organisation taken over by its email: a new
    // subject showing the admin's email is refused, and the admin is unchanged.
    *provider.subject.lock().expect("subject") =
        ("subject-3".into(), "admin@sso-org.example".into());
    let takeover = approved_callback(&gateway, &org_id).await.follow().await;
    assert_eq!(
        takeover.status,
        409,
        "same-org account: {}",
        takeover.json()
    );
    let admin_me = api.get("/v1/me", Some(&admin)).await.json();
    assert_eq!(admin_me["role"], "admin", "{admin_me}");

    // An email the provider has not verified is refused, even for a known subject.
    *provider.subject.lock().expect("subject") =
        ("subject-1".into(), "sso.person@provider.example".into());
    provider.unverified.store(true, Ordering::Relaxed);
    let unverified = approved_callback(&gateway, &org_id).await.follow().await;
    assert_eq!(unverified.status, 403, "unverified: {}", unverified.json());
    assert!(
        unverified.json()["detail"]
            .as_str()
            .is_some_and(|detail| detail.contains("not verified")),
        "{}",
        unverified.json()
    );
    let fresh_unverified = {
        *provider.subject.lock().expect("subject") =
            ("subject-4".into(), "new.person@provider.example".into());
        approved_callback(&gateway, &org_id).await.follow().await
    };
    assert_eq!(fresh_unverified.status, 403, "{}", fresh_unverified.json());
    provider.unverified.store(false, Ordering::Relaxed);
}

/// `PUT /v1/org/oidc` as `token`: status and body.
async fn configure(gateway: &str, token: &str, body: Value) -> (u16, Value) {
    let bearer = format!("Bearer {token}");
    let response = http_client::request(
        gateway,
        "PUT",
        "/v1/org/oidc",
        &[
            ("authorization", &bearer),
            ("content-type", "application/json"),
        ],
        body.to_string().as_bytes(),
    )
    .await
    .expect("PUT");
    (response.status, response.json())
}
