//! `/docs` (Swagger UI) and `/redoc` (ReDoc) over `/api/v1/openapi.json`,
//! served from files vendored into the binary (static/vendor, with their
//! licences): nothing is fetched from another host. These two pages get
//! their own Content-Security-Policy: scripts from this origin only (the
//! Swagger UI start-up is a file, not an inline script), inline styles
//! (both render with them), `connect-src 'self'` so "Try it out" reaches
//! this server only, and ReDoc's search worker from a `blob:`. Every other
//! page keeps the strict policy of `http::router`.
use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use crate::app::AppState;

const SWAGGER_JS: &[u8] = include_bytes!("../../static/vendor/swagger-ui/swagger-ui-bundle.js");
const SWAGGER_CSS: &[u8] = include_bytes!("../../static/vendor/swagger-ui/swagger-ui.css");
const SWAGGER_INIT: &[u8] = include_bytes!("../../static/js/swagger_init.js");
const REDOC_JS: &[u8] = include_bytes!("../../static/vendor/redoc/redoc.standalone.js");

/// The policy of the two documentation pages.
pub const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src blob:; \
    frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

const SWAGGER_PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>gatehouse API · Swagger UI</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
<main id="swagger-ui" aria-label="API reference"></main>
<noscript><p>Swagger UI needs JavaScript. The document itself is at <a href="/api/v1/openapi.json">/api/v1/openapi.json</a>.</p></noscript>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
"#;

const REDOC_PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>gatehouse API · ReDoc</title>
</head>
<body>
<noscript><p>ReDoc needs JavaScript. The document itself is at <a href="/api/v1/openapi.json">/api/v1/openapi.json</a>.</p></noscript>
<redoc spec-url="/api/v1/openapi.json"></redoc>
<script src="/redoc/redoc.standalone.js"></script>
</body>
</html>
"#;

/// Routes for the two pages and their files.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/docs", get(|| async { page(SWAGGER_PAGE) }))
        .route("/redoc", get(|| async { page(REDOC_PAGE) }))
        .route("/docs/swagger-ui-bundle.js", get(|| async { asset("text/javascript; charset=utf-8", SWAGGER_JS) }))
        .route("/docs/swagger-ui.css", get(|| async { asset("text/css; charset=utf-8", SWAGGER_CSS) }))
        .route("/docs/init.js", get(|| async { asset("text/javascript; charset=utf-8", SWAGGER_INIT) }))
        .route("/redoc/redoc.standalone.js", get(|| async { asset("text/javascript; charset=utf-8", REDOC_JS) }))
}

fn page(html: &'static str) -> Response {
    let mut res = Html(html).into_response();
    res.headers_mut().insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(DOCS_CSP));
    res
}

fn asset(content_type: &'static str, body: &'static [u8]) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=86400")),
        ],
        body,
    )
        .into_response()
}
