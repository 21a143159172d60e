//! Failed client authentication is throttled at `/token`, `/revoke` and
//! `/introspect` (RFC 6749 §10.10: "The authorization server MUST prevent
//! attackers from guessing access tokens, authorization codes, refresh
//! tokens, resource owner passwords, and client credentials"): after 20
//! failures in a minute per `client_id` or per address, requests answer 429
//! with `Retry-After` before any secret is compared. Successful requests
//! are not limited by default. Addresses vary through `X-Forwarded-For`
//! from a trusted proxy (the test client itself, 127.0.0.1).
use crate::helpers::{TestApp, spawn_app, spawn_app_with};
use crate::oidc::{error_code, register};

/// An app that trusts 127.0.0.1 as a proxy, so each request may say its address.
async fn behind_proxy() -> TestApp {
    spawn_app_with(|c| c.network.trusted_proxies = vec!["127.0.0.1".into()]).await
}

/// POSTs to `path` as a client from `addr`, with Basic credentials.
async fn post_from(app: &TestApp, path: &str, addr: &str, id: &str, secret: &str) -> reqwest::Response {
    let form: &[(&str, &str)] = match path {
        "/token" => &[("grant_type", "client_credentials")],
        _ => &[("token", "some-token")],
    };
    reqwest::Client::new()
        .post(app.url(path))
        .header("x-forwarded-for", addr)
        .basic_auth(id, Some(secret))
        .form(form)
        .send()
        .await
        .unwrap()
}

/// Checks a 429 from the throttle: JSON like the other token errors, Retry-After.
async fn assert_paused(res: reqwest::Response, retry_after: &str) {
    assert_eq!(res.status(), 429);
    assert_eq!(res.headers()["retry-after"], retry_after);
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    assert_eq!(error_code(res).await, "slow_down");
}

#[tokio::test]
async fn twenty_failures_for_one_client_id_pause_it_from_every_address_rfc_6749_10_10() {
    let app = behind_proxy().await;
    let secret = register(&app, "rp", true).await;
    register(&app, "other", true).await;
    // 20 wrong secrets for `rp`, each from its own address: no address is over its limit.
    for i in 0..20 {
        let res = post_from(&app, "/token", &format!("198.51.100.{i}"), "rp", "wrong").await;
        assert_eq!(res.status(), 401, "failure {i}");
    }
    app.clock.advance(15);
    // From a fresh address and with the right secret: paused, nothing compared.
    assert_paused(post_from(&app, "/token", "203.0.113.1", "rp", &secret).await, "45").await;
    // /revoke and /introspect authenticate through the same function, and share the throttle.
    assert_paused(post_from(&app, "/revoke", "203.0.113.2", "rp", &secret).await, "45").await;
    assert_paused(post_from(&app, "/introspect", "203.0.113.3", "rp", &secret).await, "45").await;
    // Another client is not affected.
    assert_eq!(post_from(&app, "/token", "203.0.113.4", "other", "wrong").await.status(), 401);
    // The window ends: `rp` is back.
    app.clock.advance(45);
    assert_eq!(post_from(&app, "/token", "203.0.113.1", "rp", &secret).await.status(), 200);
    let metrics = app.state.metrics.render();
    assert!(metrics.contains("gatehouse_rate_limited_total{bucket=\"failed_client_auth_per_client\"} 3"), "{metrics}");
}

#[tokio::test]
async fn twenty_failures_from_one_address_pause_it_across_client_ids_rfc_6749_10_10() {
    let app = behind_proxy().await;
    let secret = register(&app, "rp", true).await;
    // A guesser walks through client ids (and endpoints) from one address.
    for i in 0..20 {
        let path = ["/token", "/revoke", "/introspect"][i % 3];
        let res = post_from(&app, path, "192.0.2.7", &format!("guess-{i}"), "wrong").await;
        assert_eq!(res.status(), 401, "failure {i}");
    }
    assert_paused(post_from(&app, "/token", "192.0.2.7", "rp", &secret).await, "60").await;
    // Within the same IPv4 address only; another address is served.
    assert_eq!(post_from(&app, "/token", "192.0.2.8", "rp", &secret).await.status(), 200);
    app.clock.advance(60);
    assert_eq!(post_from(&app, "/token", "192.0.2.7", "rp", &secret).await.status(), 200);
}

#[tokio::test]
async fn failures_at_introspection_and_revocation_alone_pause_them_rfc_7662_4_rfc_7009_5() {
    // RFC 7662 §4: the introspection endpoint MUST be protected against
    // token scanning; RFC 7009 §5 names guessing tokens at the revocation
    // endpoint too. Failures at each endpoint count by themselves, not only
    // those at /token.
    let app = behind_proxy().await;
    let secret = register(&app, "rp", true).await;
    for (path, client) in [("/introspect", "rp"), ("/revoke", "other")] {
        let right = if client == "rp" { secret.clone() } else { register(&app, client, true).await };
        for i in 0..20 {
            let res = post_from(&app, path, &format!("198.51.100.{i}"), client, "wrong").await;
            assert_eq!(res.status(), 401, "{path}: failure {i}");
        }
        // The right secret from a fresh address: paused at that endpoint, and at /token.
        assert_paused(post_from(&app, path, "203.0.113.10", client, &right).await, "60").await;
        assert_paused(post_from(&app, "/token", "203.0.113.11", client, &right).await, "60").await;
    }
    // Per address too: 20 failures at /introspect from one address, then any client from there.
    for i in 0..20 {
        let res = post_from(&app, "/introspect", "192.0.2.9", &format!("scan-{i}"), "wrong").await;
        assert_eq!(res.status(), 401, "scan {i}");
    }
    register(&app, "third", true).await;
    assert_paused(post_from(&app, "/revoke", "192.0.2.9", "third", "any").await, "60").await;
}

#[tokio::test]
async fn a_client_id_without_a_secret_counts_as_a_failure_too() {
    let app = behind_proxy().await;
    let secret = register(&app, "rp", true).await;
    for i in 0..20 {
        let res = reqwest::Client::new()
            .post(app.url("/token"))
            .header("x-forwarded-for", format!("198.51.100.{i}"))
            .form(&[("grant_type", "client_credentials"), ("client_id", "rp")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
    }
    assert_paused(post_from(&app, "/token", "203.0.113.9", "rp", &secret).await, "60").await;
}

#[tokio::test]
async fn successful_client_credentials_requests_are_not_limited_by_default() {
    // 50 tokens a second from one address is 3,000 a minute. The clock is
    // frozen, so all of these requests fall inside one virtual second and
    // any window of a per-address limit: 600 in one second is a higher rate
    // than 3,000 a minute, and more than the old default of 300 a minute.
    let app = spawn_app().await;
    let secret = register(&app, "backend", true).await;
    let http = reqwest::Client::new();
    for i in 0..600 {
        let res = http
            .post(app.url("/token"))
            .basic_auth("backend", Some(&secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "request {i}");
    }
    // Successes count nothing toward the failure throttle either.
    assert!(!app.state.metrics.render().contains("gatehouse_rate_limited_total{"), "no 429 of any bucket");
}
