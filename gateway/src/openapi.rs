//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]` annotations
//! and served at `/openapi.json`.

use utoipa::openapi::content::Content;
use utoipa::openapi::header::Header;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{Object, Ref, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::{api_keys, audit, auth, health, models, orgs, privacy, simulations, sso};

#[derive(OpenApi)]
#[openapi(
    info(title = "Ultra API", description = "Multi-tenant Monte Carlo simulation platform. \
        Errors are RFC 9457 application/problem+json with a stable `type`."),
    paths(
        health::healthz, health::readyz,
        auth::register, auth::token, auth::refresh, auth::logout, auth::me,
        models::upload, models::list, models::get, models::delete,
        simulations::submit, simulations::list, simulations::get, simulations::progress,
        simulations::events, simulations::cancel, simulations::results,
        privacy::export, privacy::delete_me, privacy::delete_org, privacy::erasure,
        sso::configure, sso::start, sso::callback,
        audit::list, audit::verify,
        orgs::list_members, orgs::add_member, orgs::update_member, orgs::remove_member,
        orgs::accept_invite, api_keys::create, api_keys::list, api_keys::revoke,
    ),
    components(schemas(crate::problem::Problem)),
    modifiers(&BearerAuth, &RateLimited),
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An access token (JWT) from /v1/auth/token, or an API key \
                         (`ultra_...`) from /v1/api-keys, which acts with its scopes only",
                    ))
                    .build(),
            ),
        );
    }
}

/// Adds the rate limit's 429 (with `Retry-After`) to every operation that needs a bearer
/// token: the limit applies to all of them, so it is declared in one place rather than on
/// each handler, where one would be forgotten.
struct RateLimited;

impl Modify for RateLimited {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let response = ResponseBuilder::new()
            .description(
                "`quota-exceeded`: the organisation's plan request rate is spent; retry after \
                 `Retry-After` seconds",
            )
            .header(
                "Retry-After",
                Header::builder()
                    .schema(Object::with_type(Type::Integer))
                    .description(Some("whole seconds until a request is served again"))
                    .build(),
            )
            .content(
                crate::problem::PROBLEM_CONTENT_TYPE,
                Content::new(Some(Ref::from_schema_name("Problem"))),
            )
            .build();
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                if operation.security.as_ref().is_some_and(|s| !s.is_empty()) {
                    operation
                        .responses
                        .responses
                        .insert("429".into(), response.clone().into());
                }
            }
        }
    }
}

/// The document, built once per call (cheap; the route caches nothing).
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
