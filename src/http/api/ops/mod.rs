//! `/api/v1/mail…`, `/api/v1/ip-rules…`, `/api/v1/keys…` (scope `admin`):
//! operations, through the same services as `gatehouse mail|ip|keys …`.
//!
//! ```text
//! mail.rs      the outbox and its dead letters: list (metadata only), retry
//! ip_rules.rs  IP allow and deny rules: list, add, remove
//! keys.rs      signing keys: list (public facts only), rotate
//! ```
use utoipa_axum::router::OpenApiRouter;

use crate::app::AppState;

mod ip_rules;
mod keys;
mod mail;

/// This area's routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().merge(mail::routes()).merge(ip_rules::routes()).merge(keys::routes())
}
