//! OpenID Connect single sign-on (the users service's `SsoService` does the protocol):
//! `PUT /v1/org/oidc` (an admin sets the organisation's provider), `GET
//! /v1/auth/oidc/{org}/start` (a redirect to the provider) and `GET /v1/auth/oidc/callback`
//! (the provider's redirect back; answers Ultra tokens).
//!
//! The callback URL sent to the provider is `ULTRA_PUBLIC_URL` + the callback path when
//! that is set (the request's headers play no part: a client cannot steer the code to
//! another host). Otherwise it is the request's `Host` with the connection's scheme (`https`
//! when this gateway serves TLS), or `X-Forwarded-Proto` only when
//! `ULTRA_TRUST_FORWARDED_FOR` says a trusted proxy is in front.
//!
//! The login is bound to the browser that started it: `/start` sets an HttpOnly cookie
//! holding the SHA-256 of the login's `state`, and `/callback` refuses a `state` that does
//! not match the cookie (login CSRF: an attacker's code and state injected into a victim's
//! browser), then clears the cookie.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use ultra_proto::v1 as pb;
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::extract::{ApiJson, ApiQuery, Authenticated};
use crate::problem::{ApiError, ApiResult, Problem};
use crate::views::{TokenView, role_name};

/// The path of the callback, as registered with the provider.
pub const CALLBACK_PATH: &str = "/v1/auth/oidc/callback";
/// The cookie binding a login's `state` to the browser (its SHA-256, hex).
pub const STATE_COOKIE: &str = "ultra_oidc_state";
/// Where the state cookie is sent: the start and callback routes only.
const STATE_COOKIE_PATH: &str = "/v1/auth/oidc";
/// The state cookie's lifetime, the same as the login's in the users service.
const STATE_COOKIE_MAX_AGE_SECONDS: u32 = 600;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OidcConfigBody {
    /// e.g. `https://login.example.com`.
    pub issuer: String,
    pub client_id: String,
    /// Stored by the users service, used for the token request only, never returned.
    pub client_secret: String,
    /// Role of users on their first login: viewer (default), analyst or power_user.
    #[serde(default)]
    pub default_role: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OidcConfigView {
    pub org_id: String,
    pub issuer: String,
    pub client_id: String,
    pub default_role: String,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct CallbackQuery {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    /// Set by the provider when the user or the provider refused.
    #[serde(default)]
    pub error: Option<String>,
}

fn parse_role(name: &str) -> Result<pb::Role, ApiError> {
    // Admin parses here and is refused by the users service (never a default role).
    name.parse::<ultra_auth::Role>()
        .map(ultra_auth::Role::to_proto)
        .map_err(|_| {
            ApiError::InvalidRequest(format!(
                "default_role {name:?} is not viewer, analyst or power_user"
            ))
        })
}

/// Sets the caller organisation's OIDC provider (admins only).
#[utoipa::path(put, path = "/v1/org/oidc", tag = "sso", security(("bearer" = [])),
    request_body = OidcConfigBody,
    responses((status = 200, body = OidcConfigView), (status = 400, body = Problem),
              (status = 403, body = Problem)))]
pub async fn configure(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiJson(body): ApiJson<OidcConfigBody>,
) -> ApiResult<Json<OidcConfigView>> {
    if auth.principal().api_key_id.is_some()
        || !matches!(pb::Role::try_from(auth.0.role), Ok(pb::Role::Admin))
    {
        return Err(ApiError::Forbidden("organization.manage"));
    }
    let default_role = match body.default_role.as_deref() {
        None => pb::Role::Unspecified,
        Some(name) => parse_role(name)?,
    };
    let request = auth.request(pb::ConfigureOidcRequest {
        caller: Some(auth.0.clone()),
        issuer: body.issuer,
        client_id: body.client_id,
        client_secret: body.client_secret,
        default_role: default_role as i32,
    })?;
    let config = state
        .upstreams
        .sso
        .clone()
        .configure_oidc(request)
        .await?
        .into_inner();
    Ok(Json(OidcConfigView {
        default_role: role_name(config.default_role).to_owned(),
        org_id: config.org_id,
        issuer: config.issuer,
        client_id: config.client_id,
    }))
}

/// Starts a login with the organisation's provider: `302` to its authorization endpoint.
#[utoipa::path(get, path = "/v1/auth/oidc/{org}/start", tag = "sso",
    params(("org" = String, Path, description = "The organisation id")),
    responses((status = 302, description = "Redirect to the provider"),
              (status = 404, body = Problem)))]
pub async fn start(
    State(state): State<AppState>,
    Path(org): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let redirect_uri = callback_url(&state.forwarding(), &headers)?;
    let secure = redirect_uri.starts_with("https://");
    let request = pb::StartOidcLoginRequest {
        org_id: org,
        redirect_uri,
    };
    let started = state
        .upstreams
        .sso
        .clone()
        .start_oidc_login(request)
        .await?
        .into_inner();
    let location = HeaderValue::from_str(&started.authorization_url)
        .map_err(|_| ApiError::Upstream(tonic::Status::internal("unusable authorization URL")))?;
    let login_state = url_query_value(&started.authorization_url, "state").ok_or_else(|| {
        ApiError::Upstream(tonic::Status::internal("authorization URL without a state"))
    })?;
    let cookie = state_cookie(
        &ultra_auth::sha256_hex(&login_state),
        STATE_COOKIE_MAX_AGE_SECONDS,
        secure,
    )?;
    let mut response = StatusCode::FOUND.into_response();
    response.headers_mut().insert(header::LOCATION, location);
    response.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(response)
}

/// The value of the first `name` parameter in the query of the absolute URL `url`.
fn url_query_value(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    let query = query.split_once('#').map_or(query, |(query, _)| query);
    form_urlencoded_pairs(query)
        .find(|(key, _)| key == name)
        .map(|(_, value)| value)
}

/// `application/x-www-form-urlencoded` pairs, percent- and `+`-decoded.
fn form_urlencoded_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode_component(key), decode_component(value))
        })
}

fn decode_component(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'+' => out.push(b' '),
            b'%' if index + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[index + 1..index + 3]).ok();
                match hex.and_then(|hex| u8::from_str_radix(hex, 16).ok()) {
                    Some(byte) => {
                        out.push(byte);
                        index += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The `Set-Cookie` of the state cookie: HttpOnly (no script reads it), SameSite=Lax (sent
/// on the provider's top-level redirect back), Secure when the callback is https.
fn state_cookie(value: &str, max_age: u32, secure: bool) -> Result<HeaderValue, ApiError> {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{STATE_COOKIE}={value}; Max-Age={max_age}; Path={STATE_COOKIE_PATH}; HttpOnly; \
         SameSite=Lax{secure}"
    ))
    .map_err(|_| ApiError::Upstream(tonic::Status::internal("unusable state cookie")))
}

/// The value of the request's cookie `name`, if it sent one.
fn request_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim().trim_matches('"').to_owned())
}

/// The provider's redirect back: exchanges the code and answers Ultra tokens.
#[utoipa::path(get, path = "/v1/auth/oidc/callback", tag = "sso", params(CallbackQuery),
    responses((status = 200, body = TokenView), (status = 400, body = Problem),
              (status = 401, body = Problem)))]
pub async fn callback(
    State(state): State<AppState>,
    client: crate::audit::Client,
    headers: HeaderMap,
    query: ApiQuery<CallbackQuery>,
) -> Response {
    // Secure exactly when `/start` set it (the same callback URL).
    let secure =
        callback_url(&state.forwarding(), &headers).is_ok_and(|url| url.starts_with("https://"));
    let mut response = complete(state, client, &headers, query)
        .await
        .into_response();
    // The login is over whatever the outcome: its cookie is of no further use.
    if let Ok(clear) = state_cookie("", 0, secure) {
        response.headers_mut().append(header::SET_COOKIE, clear);
    }
    response
}

async fn complete(
    state: AppState,
    crate::audit::Client(client): crate::audit::Client,
    headers: &HeaderMap,
    ApiQuery(query): ApiQuery<CallbackQuery>,
) -> ApiResult<Json<TokenView>> {
    if let Some(error) = query.error {
        return Err(ApiError::InvalidToken(format!(
            "the identity provider refused: {}",
            error.chars().take(100).collect::<String>()
        )));
    }
    let (Some(code), Some(login_state)) = (query.code, query.state) else {
        return Err(ApiError::InvalidRequest(
            "the callback needs `code` and `state`".into(),
        ));
    };
    let Some(cookie) = request_cookie(headers, STATE_COOKIE) else {
        return Err(ApiError::InvalidRequest(
            "the login was not started in this browser (no login state cookie); start it again"
                .into(),
        ));
    };
    if !ultra_auth::constant_time_eq(
        cookie.as_bytes(),
        ultra_auth::sha256_hex(&login_state).as_bytes(),
    ) {
        return Err(ApiError::InvalidToken(
            "the login's state does not match this browser's login; start it again".into(),
        ));
    }
    let request = pb::CompleteOidcLoginRequest {
        state: login_state,
        code,
    };
    let pair = state
        .upstreams
        .sso
        .clone()
        .complete_oidc_login(request)
        .await?
        .into_inner();
    // The audit log records the login in the organisation the token was issued for.
    if let Ok((caller, _)) = state.tokens.verify(&pair.access_token) {
        crate::audit::record(
            &state,
            &crate::audit::Actor::user(&caller),
            &client,
            "auth.sso_login",
            &caller.user_id,
            crate::audit::OUTCOME_SUCCESS,
            "OpenID Connect",
        );
    }
    Ok(Json(TokenView::from(pair)))
}

/// What the callback URL is built from, besides the request's headers.
struct CallbackBase<'a> {
    public_url: Option<&'a str>,
    tls: bool,
    trust_forwarded: bool,
}

impl AppState {
    fn forwarding(&self) -> CallbackBase<'_> {
        CallbackBase {
            public_url: self.public_url.as_deref(),
            tls: self.tls,
            trust_forwarded: self.trust_forwarded_for,
        }
    }
}

/// This gateway's callback URL: `ULTRA_PUBLIC_URL`'s when set, else as the client reached
/// it (its `Host`, the connection's scheme, `X-Forwarded-Proto` only from a trusted proxy).
fn callback_url(base: &CallbackBase<'_>, headers: &HeaderMap) -> Result<String, ApiError> {
    if let Some(public_url) = base.public_url {
        return Ok(format!("{public_url}{CALLBACK_PATH}"));
    }
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .filter(|host| {
            !host.is_empty()
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c))
        })
        .ok_or_else(|| ApiError::InvalidRequest("a valid Host header is required".into()))?;
    let forwarded = headers
        .get("x-forwarded-proto")
        .and_then(|value| value.to_str().ok())
        .filter(|_| base.trust_forwarded)
        .filter(|proto| matches!(*proto, "http" | "https"));
    let scheme = forwarded.unwrap_or(if base.tls { "https" } else { "http" });
    Ok(format!("{scheme}://{host}{CALLBACK_PATH}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).expect("header value"));
        }
        map
    }

    const PLAIN: CallbackBase<'static> = CallbackBase {
        public_url: None,
        tls: false,
        trust_forwarded: false,
    };

    #[test]
    fn the_public_url_alone_makes_the_callback_url() {
        let base = CallbackBase {
            public_url: Some("https://ultra.example.com"),
            ..PLAIN
        };
        let spoofed = headers(&[("host", "evil.example"), ("x-forwarded-proto", "http")]);
        assert_eq!(
            callback_url(&base, &spoofed).expect("url"),
            "https://ultra.example.com/v1/auth/oidc/callback"
        );
    }

    #[test]
    fn forwarded_proto_counts_only_from_a_trusted_proxy() {
        let request = headers(&[
            ("host", "ultra.example.com"),
            ("x-forwarded-proto", "https"),
        ]);
        assert_eq!(
            callback_url(&PLAIN, &request).expect("url"),
            "http://ultra.example.com/v1/auth/oidc/callback"
        );
        let tls = CallbackBase { tls: true, ..PLAIN };
        let downgrade = headers(&[("host", "ultra.example.com"), ("x-forwarded-proto", "http")]);
        assert_eq!(
            callback_url(&tls, &downgrade).expect("url"),
            "https://ultra.example.com/v1/auth/oidc/callback"
        );
        let trusted = CallbackBase {
            trust_forwarded: true,
            ..PLAIN
        };
        assert_eq!(
            callback_url(&trusted, &request).expect("url"),
            "https://ultra.example.com/v1/auth/oidc/callback"
        );
        assert!(callback_url(&PLAIN, &headers(&[("host", "a/b")])).is_err());
    }

    #[test]
    fn state_cookie_attributes_and_parsing() {
        let set = state_cookie("abc", 600, true).expect("cookie");
        let set = set.to_str().expect("ascii");
        for attribute in [
            "ultra_oidc_state=abc",
            "Max-Age=600",
            "Path=/v1/auth/oidc",
            "HttpOnly",
            "SameSite=Lax",
            "Secure",
        ] {
            assert!(set.contains(attribute), "{set}");
        }
        let plain = state_cookie("abc", 600, false).expect("cookie");
        assert!(!plain.to_str().expect("ascii").contains("Secure"));
        let request = headers(&[("cookie", "a=1; ultra_oidc_state=xyz; b=2")]);
        assert_eq!(
            request_cookie(&request, STATE_COOKIE).as_deref(),
            Some("xyz")
        );
        assert_eq!(request_cookie(&headers(&[]), STATE_COOKIE), None);
        assert_eq!(
            url_query_value("https://idp/authorize?a=1&state=s%2Bt+u&b=2", "state").as_deref(),
            Some("s+t u")
        );
    }
}
