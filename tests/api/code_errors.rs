//! Errors that tell nothing (RFC 6749 §5.2): every refused code redemption
//! answers the same `invalid_grant` and the same `error_description`,
//! whatever the reason (the reason is logged, not sent), so a caller holding
//! a stolen or guessed code learns nothing from how it was refused. And a
//! valid access token without `openid` at `/userinfo` is 403
//! `insufficient_scope` (RFC 6750 §3.1), not 401.
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, test_ctx};
use crate::oidc::{REDIRECT, authorize_as, authorize_url, code_for, param, register};

const REFUSED: &str = "the authorization code is invalid, expired, or was issued for another request";

/// Redeems `code` as client `id`, at `redirect`, with `verifier`; returns (status, body).
async fn redeem_as(
    app: &TestApp,
    client: (&str, &str),
    code: &str,
    redirect: &str,
    verifier: Option<&str>,
) -> (u16, Value) {
    let res = crate::oidc::redeem_as(app, client, code, redirect, verifier).await;
    (res.status().as_u16(), res.json().await.unwrap())
}

/// A code for `rp` without PKCE (a confidential client may leave it out).
async fn code_without_pkce(app: &TestApp, browser: &reqwest::Client) -> String {
    param(&authorize_as(app, browser, &authorize_url(app, "openid", None)).await, "code").unwrap()
}

#[tokio::test]
async fn every_refused_code_redemption_answers_the_same_description_rfc_6749_5_2() {
    let app = spawn_app().await;
    let rp_secret = register(&app, "rp", true).await;
    let other_secret = register(&app, "other", true).await;
    let (rp, other) = (("rp", rp_secret.as_str()), ("other", other_secret.as_str()));
    let browser = app.signed_in("nora", &[]).await;
    let mut answers: Vec<(&str, (u16, Value))> = Vec::new();

    let (code, verifier) = code_for(&app, &browser).await;
    answers.push(("issued to another client", redeem_as(&app, other, &code, REDIRECT, Some(&verifier)).await));
    let (code, verifier) = code_for(&app, &browser).await;
    let elsewhere = "https://rp.example/other";
    answers.push(("redirect_uri differs", redeem_as(&app, rp, &code, elsewhere, Some(&verifier)).await));
    let (code, _) = code_for(&app, &browser).await;
    answers.push(("wrong verifier", redeem_as(&app, rp, &code, REDIRECT, Some(&"a".repeat(43))).await));
    let (code, _) = code_for(&app, &browser).await;
    answers.push(("missing verifier", redeem_as(&app, rp, &code, REDIRECT, None).await));
    let code = code_without_pkce(&app, &browser).await;
    answers.push(("verifier without challenge", redeem_as(&app, rp, &code, REDIRECT, Some(&"a".repeat(43))).await));
    let (code, verifier) = code_for(&app, &browser).await;
    assert_eq!(redeem_as(&app, rp, &code, REDIRECT, Some(&verifier)).await.0, 200, "the first use works");
    answers.push(("spent", redeem_as(&app, rp, &code, REDIRECT, Some(&verifier)).await));
    answers.push(("unknown", redeem_as(&app, rp, "no-such-code", REDIRECT, Some(&verifier)).await));
    let (code, verifier) = code_for(&app, &browser).await;
    let id = app.state.accounts.find("nora").await.unwrap().id;
    app.state.accounts.set_blocked(&id, true, &test_ctx()).await.unwrap();
    answers.push(("user blocked since", redeem_as(&app, rp, &code, REDIRECT, Some(&verifier)).await));
    app.state.accounts.set_blocked(&id, false, &test_ctx()).await.unwrap();
    let browser = app.signed_in("otto", &[]).await;
    let (code, verifier) = code_for(&app, &browser).await;
    app.clock.advance(61);
    answers.push(("expired", redeem_as(&app, rp, &code, REDIRECT, Some(&verifier)).await));

    let expected = json!({ "error": "invalid_grant", "error_description": REFUSED });
    for (case, (status, body)) in &answers {
        assert_eq!((*status, body), (400, &expected), "{case}");
    }
}

#[tokio::test]
async fn userinfo_with_a_valid_token_without_openid_is_403_insufficient_scope_rfc_6750_3_1() {
    let app = spawn_app().await;
    let secret = register(&app, "rp", true).await;
    let http = reqwest::Client::new();
    let userinfo = async |token: &str| http.get(app.url("/userinfo")).bearer_auth(token).send().await.unwrap();

    // A client_credentials token (no user, no openid).
    let res = http
        .post(app.url("/token"))
        .basic_auth("rp", Some(&secret))
        .form(&[("grant_type", "client_credentials"), ("scope", "email")])
        .send()
        .await
        .unwrap();
    let service: Value = res.json().await.unwrap();
    // And a code-flow token for a user that did not ask for openid.
    let browser = app.signed_in("pia", &[]).await;
    let (code, verifier) = crate::oidc::code_with_scope(&app, &browser, "email").await;
    let user: Value = crate::oidc::redeem(&app, &secret, &code, Some(&verifier)).await.json().await.unwrap();
    assert!(user.get("id_token").is_none());

    for (kind, body) in [("client_credentials", &service), ("code flow without openid", &user)] {
        let token = body["access_token"].as_str().unwrap();
        let res = userinfo(token).await;
        assert_eq!(res.status(), 403, "{kind}");
        let challenge = res.headers()["www-authenticate"].to_str().unwrap().to_owned();
        assert!(challenge.starts_with("Bearer ") && challenge.contains("error=\"insufficient_scope\""), "{challenge}");
        assert_eq!(res.json::<Value>().await.unwrap()["error"], "insufficient_scope", "{kind}");
        // A revoked token is no longer valid: 401 invalid_token, whatever its scope.
        let revoked = http
            .post(app.url("/revoke"))
            .basic_auth("rp", Some(&secret))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap();
        assert_eq!(revoked.status(), 200);
        let res = userinfo(token).await;
        assert_eq!(res.status(), 401, "{kind} after revocation");
        assert!(res.headers()["www-authenticate"].to_str().unwrap().contains("error=\"invalid_token\""));
    }
}
