//! The JSON API (`/api/v1`), black-box over HTTP. `support` holds the
//! shared fixtures (an API client, user and service tokens, a request
//! helper); each area has its own file.
mod actions;
mod audit_log;
mod auth;
mod clients;
mod docs;
mod me;
mod ops;
mod password_grant;
mod readme;
mod register;
pub mod support;
mod users;
