//! The black-box HTTP suite: one binary (see kanidm's DO_NOT_ADD_MORE_TESTS_HERE
//! on why), one file per feature. Set `TEST_DATABASE=postgres` (with
//! `TEST_POSTGRES_URL`) to run every test against PostgreSQL instead of SQLite.
// A failed unwrap is a failed test here; the production lints don't apply.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod account;
mod account_review;
mod admin;
mod audit;
mod audit_coverage;
mod audit_protocol;
mod browser;
mod challenges;
mod cli;
mod client_auth_throttle;
mod client_registration;
mod code_errors;
mod console_ops;
mod console_ops_browser;
mod console_settings;
mod cors;
mod cors_browser;
mod deletion;
mod fake_graph;
mod helpers;
mod introspection;
mod ip_rules;
mod janitor;
mod json_api;
mod keys;
mod layers;
mod login;
mod logout;
mod mail;
mod mail_lease;
mod mfa;
mod multi_instance;
mod nul_bytes;
mod oidc;
mod operations;
mod password_policy;
mod pending_authorize;
mod redirect_match;
mod refresh;
mod register;
mod release;
mod revocation;
mod sessions;
mod slow_clients;
mod smtp;
mod throttle;
mod token_proxy;
mod upstream;
mod upstream_env;
mod upstream_link;
mod upstream_provider;
