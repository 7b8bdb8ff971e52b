//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]` annotations
//! and served at `/openapi.json`.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::{auth, health, models, simulations};

#[derive(OpenApi)]
#[openapi(
    info(title = "Ultra API", description = "Multi-tenant Monte Carlo simulation platform. \
        Errors are RFC 9457 application/problem+json with a stable `type`."),
    paths(
        health::healthz, health::readyz,
        auth::register, auth::token, auth::refresh, auth::me,
        models::upload, models::list, models::get, models::delete,
        simulations::submit, simulations::list, simulations::get, simulations::progress,
        simulations::events, simulations::cancel, simulations::results,
    ),
    components(schemas(crate::problem::Problem)),
    modifiers(&BearerAuth),
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
                    .build(),
            ),
        );
    }
}

/// The document, built once per call (cheap; the route caches nothing).
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
