//! Every 401 the server can produce carries `WWW-Authenticate` (RFC 7235
//! §3.1: "The server generating a 401 … MUST send a WWW-Authenticate header
//! field containing at least one challenge"). Client authentication at
//! `/token`, `/revoke` and `/introspect` challenges with Basic (RFC 6749
//! §5.2, RFC 7617 §2) however the client tried, `/userinfo` with Bearer
//! (RFC 6750 §3), and pages (failed sign-in, wrong second-step code) with
//! `Form realm="gatehouse"`.
use crate::helpers::{TestApp, spawn_app};
use crate::mfa::{code_now, enrolled, password_step, second_step};
use crate::oidc::{error_code, register};

/// A request to walk: path, Basic credentials, form.
type Case<'a> = (&'a str, Option<(&'a str, &'a str)>, Vec<(&'a str, &'a str)>);

const BASIC: &str = "Basic realm=\"gatehouse\"";
const FORM: &str = "Form realm=\"gatehouse\"";

fn challenge(res: &reqwest::Response) -> String {
    let values: Vec<&str> = res.headers().get_all("www-authenticate").iter().map(|v| v.to_str().unwrap()).collect();
    assert_eq!(values.len(), 1, "one challenge header: {values:?}");
    values[0].to_owned()
}

/// POSTs a form to an OAuth endpoint, optionally with Basic credentials.
async fn post(app: &TestApp, path: &str, basic: Option<(&str, &str)>, form: &[(&str, &str)]) -> reqwest::Response {
    let mut req = reqwest::Client::new().post(app.url(path)).form(form);
    if let Some((id, secret)) = basic {
        req = req.basic_auth(id, Some(secret));
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn every_failed_client_authentication_is_401_with_a_basic_challenge_rfc_6749_5_2_rfc_7235_3_1() {
    let app = spawn_app().await;
    register(&app, "rp", true).await;
    let grant = ("grant_type", "client_credentials");
    let token = ("token", "whatever");
    let cases: Vec<Case> = vec![
        // A confidential client's id and no secret at all.
        ("/token", None, vec![grant, ("client_id", "rp")]),
        ("/revoke", None, vec![token, ("client_id", "rp")]),
        ("/introspect", None, vec![token, ("client_id", "rp")]),
        // No client authentication of any kind.
        ("/token", None, vec![grant]),
        ("/revoke", None, vec![token]),
        ("/introspect", None, vec![token]),
        // A wrong secret, in the body and by Basic.
        ("/token", None, vec![grant, ("client_id", "rp"), ("client_secret", "wrong")]),
        ("/token", Some(("rp", "wrong")), vec![grant]),
        ("/revoke", Some(("rp", "wrong")), vec![token]),
        ("/introspect", Some(("nobody", "wrong")), vec![token]),
    ];
    for (path, basic, form) in cases {
        let res = post(&app, path, basic, &form).await;
        assert_eq!(res.status(), 401, "{path} {form:?}");
        assert_eq!(challenge(&res), BASIC, "{path} {form:?}");
        assert_eq!(res.headers()["cache-control"], "no-store");
        assert_eq!(error_code(res).await, "invalid_client", "{path}");
    }
    // Malformed Basic credentials.
    let res = reqwest::Client::new()
        .post(app.url("/token"))
        .header("authorization", "Basic %%%")
        .form(&[grant])
        .send()
        .await
        .unwrap();
    assert_eq!((res.status().as_u16(), challenge(&res)), (401, BASIC.to_owned()));
}

#[tokio::test]
async fn a_public_client_at_introspection_is_401_with_a_basic_challenge_rfc_7662_2_1() {
    let app = spawn_app().await;
    app.state
        .clients
        .register(gatehouse::oauth::clients::ClientSpec {
            client_id: "spa".into(),
            name: "spa".into(),
            redirect_uris: vec!["https://spa.example/cb".into()],
            public: true,
            ..Default::default()
        })
        .await
        .unwrap();
    let res = post(&app, "/introspect", None, &[("token", "x"), ("client_id", "spa")]).await;
    assert_eq!((res.status().as_u16(), challenge(&res)), (401, BASIC.to_owned()));
}

#[tokio::test]
async fn userinfo_challenges_with_bearer_and_names_the_error_only_for_a_bad_token_rfc_6750_3() {
    let app = spawn_app().await;
    let http = reqwest::Client::new();
    // RFC 6750 §3.1: a request with no token gets no error code.
    let res = http.get(app.url("/userinfo")).send().await.unwrap();
    assert_eq!((res.status().as_u16(), challenge(&res)), (401, "Bearer realm=\"gatehouse\"".to_owned()));
    for bad in [
        http.get(app.url("/userinfo")).bearer_auth("not.a.jwt"),
        http.post(app.url("/userinfo")).form(&[("access_token", "nope")]),
    ] {
        let res = bad.send().await.unwrap();
        assert_eq!(res.status(), 401);
        let c = challenge(&res);
        assert!(c.starts_with("Bearer realm=\"gatehouse\", error=\"invalid_token\""), "{c}");
    }
    // Two ways at once is a 400 invalid_request, still with its Bearer challenge (RFC 6750 §3).
    let res = http.post(app.url("/userinfo")).bearer_auth("a").form(&[("access_token", "b")]).send().await.unwrap();
    assert_eq!(res.status(), 400);
    assert!(challenge(&res).contains("error=\"invalid_request\""));
}

#[tokio::test]
async fn a_failed_sign_in_page_is_401_with_a_form_challenge() {
    let app = spawn_app().await;
    app.create_user("fay", &[]).await;
    let res = app.login(&app.browser(), "fay", "not the password at all").await;
    assert_eq!(res.status(), 401);
    assert_eq!(challenge(&res), FORM);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(res.text().await.unwrap().contains("The username or password is not correct."));
}

#[tokio::test]
async fn a_wrong_second_step_code_is_401_with_a_form_challenge() {
    let app = spawn_app().await;
    let (_, secret, _) = enrolled(&app, "gil").await;
    app.clock.advance(30);
    let browser = app.browser();
    password_step(&app, &browser, "gil").await;
    let wrong = if code_now(&app, &secret) == "000000" { "111111" } else { "000000" };
    let res = second_step(&app, &browser, &[("method", "totp"), ("code", wrong)]).await;
    assert_eq!(res.status(), 401);
    assert_eq!(challenge(&res), FORM);
}
