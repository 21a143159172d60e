//! Redirect URI matching at `/authorize` (issue 13): exact for confidential
//! clients, even on loopback (RFC 9700 §2.1, §4.1.3); only a public native
//! client's loopback redirect may use another port (RFC 8252 §7.3). A
//! mismatch is an error page, never a redirect (RFC 6749 §4.1.2.1).
use gatehouse::oauth::clients::ClientSpec;
use openidconnect::PkceCodeChallenge;

use crate::helpers::{TestApp, location, spawn_app};

async fn register(app: &TestApp, id: &str, public: bool, redirect: &str) {
    app.state
        .clients
        .register(ClientSpec {
            client_id: id.into(),
            name: id.into(),
            redirect_uris: vec![redirect.into()],
            grant_types: vec!["authorization_code".into()],
            public,
            skip_consent: true,
            ..Default::default()
        })
        .await
        .unwrap();
}

fn authorize_url(app: &TestApp, client_id: &str, redirect: &str) -> String {
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let mut url = url::Url::parse(&app.url("/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect)
        .append_pair("scope", "openid")
        .append_pair("state", "st")
        .append_pair("code_challenge", challenge.as_str())
        .append_pair("code_challenge_method", "S256");
    url.into()
}

#[tokio::test]
async fn a_confidential_client_gets_codes_only_at_its_exact_loopback_port_rfc_9700_4_1_3() {
    let app = spawn_app().await;
    register(&app, "daemon", false, "http://127.0.0.1:8765/cb").await;
    let browser = app.signed_in("rhea", &[]).await;

    let exact = browser.get(authorize_url(&app, "daemon", "http://127.0.0.1:8765/cb")).send().await.unwrap();
    assert_eq!(exact.status(), 303);
    assert!(location(&exact).starts_with("http://127.0.0.1:8765/cb?code="), "{}", location(&exact));

    // RFC 9700 §2.1 / §4.1.3: any other port is another redirect URI, and
    // RFC 6749 §4.1.2.1: the user sees an error page, the code goes nowhere.
    for other in ["http://127.0.0.1:9999/cb", "http://127.0.0.1/cb", "http://127.0.0.1:8765/cb/"] {
        let res = browser.get(authorize_url(&app, "daemon", other)).send().await.unwrap();
        assert_eq!(res.status(), 400, "{other}");
        assert!(res.headers().get("location").is_none(), "never a redirect: {other}");
        assert!(res.text().await.unwrap().contains("redirect_uri is not registered"), "{other}");
    }
}

#[tokio::test]
async fn a_public_native_client_may_use_any_loopback_port_rfc_8252_7_3() {
    let app = spawn_app().await;
    register(&app, "cli-app", true, "http://127.0.0.1/callback").await;
    let browser = app.signed_in("sven", &[]).await;
    let res = browser.get(authorize_url(&app, "cli-app", "http://127.0.0.1:51004/callback")).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert!(location(&res).starts_with("http://127.0.0.1:51004/callback?code="), "{}", location(&res));
    // The port only: another path is another URI.
    let res = browser.get(authorize_url(&app, "cli-app", "http://127.0.0.1:51004/other")).send().await.unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.headers().get("location").is_none());
}
