//! A browser app (single-page app) in headless Chromium: a page served by the
//! test from another loopback origin runs the authorization code flow with
//! PKCE (S256 through `crypto.subtle`), the user signs in and approves on our
//! pages, and the page calls `/token` and `/userinfo` with `fetch()`. A page
//! from an origin no client lists is refused by the browser itself, and the
//! code it tried to spend stays unspent. Skipped where chromedriver is not
//! installed, except in CI (see browser.rs).
use openidconnect::PkceCodeChallenge;

use crate::browser::Driver;
use crate::helpers::{PASSWORD, TestApp, spawn_app};
use crate::oidc::{authorize_as, param};

/// Serves pages on a new loopback port, built from its origin (for
/// redirect URIs); returns the origin.
async fn serve_pages(pages: impl FnOnce(&str) -> Vec<(&'static str, String)>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let mut router = axum::Router::new();
    for (path, html) in pages(&origin) {
        router = router.route(
            path,
            axum::routing::get(move || {
                let html = html.clone();
                async move { axum::response::Html(html) }
            }),
        );
    }
    tokio::spawn(async move { axum::serve(listener, router).await });
    origin
}

/// A page whose inline script is `script`, with `ISSUER` and `REDIRECT` defined.
fn page(title: &str, issuer: &str, redirect: &str, script: &str) -> String {
    format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font:16px sans-serif;margin:2em}} pre{{background:#eef;padding:1em;white-space:pre-wrap}}</style></head>
<body><h1>{title}</h1><pre id="out">working…</pre>
<script>const ISSUER = {issuer:?}; const REDIRECT = {redirect:?};
{script}</script></body></html>"#
    )
}

/// The SPA's start page: makes a PKCE verifier and state, keeps them in
/// sessionStorage and sends the browser to /authorize.
const START: &str = r#"
const b64url = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf)))
  .replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
(async () => {
  const verifier = b64url(crypto.getRandomValues(new Uint8Array(32)));
  const challenge = b64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
  const state = b64url(crypto.getRandomValues(new Uint8Array(16)));
  sessionStorage.setItem('pkce', JSON.stringify({ verifier, state }));
  const url = new URL(ISSUER + '/authorize');
  url.search = new URLSearchParams({
    response_type: 'code', client_id: 'spa', redirect_uri: REDIRECT, scope: 'openid profile email',
    state, code_challenge: challenge, code_challenge_method: 'S256',
  });
  location.assign(url);
})();
"#;

/// The SPA's callback: checks state, redeems the code at /token and calls
/// /userinfo with the access token (a preflighted request: it sends
/// Authorization), then writes what it got into the page.
const CALLBACK: &str = r#"
(async () => {
  const out = document.getElementById('out');
  try {
    const params = new URLSearchParams(location.search);
    const saved = JSON.parse(sessionStorage.getItem('pkce'));
    if (params.get('state') !== saved.state) throw new Error('state mismatch');
    const res = await fetch(ISSUER + '/token', { method: 'POST', body: new URLSearchParams({
      grant_type: 'authorization_code', code: params.get('code'), redirect_uri: REDIRECT,
      client_id: 'spa', code_verifier: saved.verifier,
    }) });
    const tokens = await res.json();
    if (!res.ok) throw new Error('token endpoint: ' + JSON.stringify(tokens));
    const info = await fetch(ISSUER + '/userinfo', { headers: { Authorization: 'Bearer ' + tokens.access_token } });
    const claims = await info.json();
    out.textContent = 'signed in: sub=' + claims.sub + ' email=' + claims.email
      + '\ntoken_type=' + tokens.token_type + ' id_token=' + (tokens.id_token ? 'yes' : 'no');
  } catch (e) {
    out.textContent = 'failed: ' + e;
  }
})();
"#;

/// A page on an origin no client lists: discovery is readable, but the
/// browser refuses to hand it the /token and /userinfo answers.
const UNLISTED: &str = r#"
(async () => {
  const lines = [];
  const doc = await (await fetch(ISSUER + '/.well-known/openid-configuration')).json();
  lines.push('discovery: issuer=' + doc.issuer);
  const h = new URLSearchParams(location.hash.slice(1));
  try {
    const res = await fetch(ISSUER + '/token', { method: 'POST', body: new URLSearchParams({
      grant_type: 'authorization_code', code: h.get('code'), redirect_uri: REDIRECT,
      client_id: 'spa', code_verifier: h.get('verifier'),
    }) });
    lines.push('token: read ' + res.status);
  } catch (e) {
    lines.push('token: refused (' + e.name + ')');
  }
  try {
    const res = await fetch(ISSUER + '/userinfo', { headers: { Authorization: 'Bearer x' } });
    lines.push('userinfo: read ' + res.status);
  } catch (e) {
    lines.push('userinfo: refused (' + e.name + ')');
  }
  document.getElementById('out').textContent = lines.join('\n') + '\ndone';
})();
"#;

/// Polls the page's `#out` text (what its script wrote; the page source
/// would also match the script's own string literals) until it contains `text`.
async fn out_text(driver: &Driver, text: &str) -> String {
    for _ in 0..100 {
        let out = driver.script("return document.getElementById('out')?.textContent ?? ''").await;
        let out = out.as_str().unwrap_or_default().to_owned();
        if out.contains(text) {
            return out;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the page never wrote {text:?}: {}", driver.source().await);
}

async fn register_spa(app: &TestApp, redirect: &str) {
    app.state
        .clients
        .register(gatehouse::oauth::clients::ClientSpec {
            client_id: "spa".into(),
            name: "Photo Album".into(),
            redirect_uris: vec![redirect.to_owned()],
            public: true,
            ..Default::default()
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn a_single_page_app_on_another_origin_runs_code_with_pkce_and_calls_token_and_userinfo_with_fetch() {
    let Some(driver) = Driver::start().await else { return };
    let app = spawn_app().await;
    // The SPA's origin is known once its port is; its pages carry the redirect URI.
    let spa = serve_pages(|origin| {
        let redirect = format!("{origin}/cb");
        vec![
            ("/", page("Photo Album", &app.base, &redirect, START)),
            ("/cb", page("Photo Album: callback", &app.base, &redirect, CALLBACK)),
        ]
    })
    .await;
    // A public client without listed origins: its redirect URI's origin counts.
    register_spa(&app, &format!("{spa}/cb")).await;
    let user_id = app.create_user("zelda", &[]).await;

    driver.goto(&format!("{spa}/")).await;
    driver.wait_for("Sign in").await;
    assert_eq!(driver.current_path().await, "/login", "the SPA sent the browser to us");
    driver.type_into("#username", "zelda").await;
    driver.type_into("#password", PASSWORD).await;
    driver.click("button[type=submit]").await;
    driver.wait_for("Allow Photo Album?").await;
    driver.screenshot("spa-consent").await;
    driver.click("button[name=decision][value=approve]").await;
    let html = out_text(&driver, "signed in: sub=").await;
    driver.screenshot("spa-signed-in").await;
    let landed = driver.current_url().await;
    assert_eq!(landed.origin().ascii_serialization(), spa, "back on the SPA's origin");
    assert!(html.contains(&format!("signed in: sub={user_id} email=zelda@example.com")), "{html}");
    assert!(html.contains("token_type=Bearer id_token=yes"), "{html}");
}

#[tokio::test]
async fn a_page_on_an_unlisted_origin_is_refused_by_the_browser_and_spends_no_code() {
    let Some(driver) = Driver::start().await else { return };
    let app = spawn_app().await;
    let redirect = "http://127.0.0.1:9/cb"; // the SPA's registered origin; nothing needs to listen there
    register_spa(&app, redirect).await;
    // A code for the SPA, fetched the way its browser would (PKCE S256).
    let browser = app.signed_in("yusuf", &[]).await;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut auth = url::Url::parse(&app.url("/authorize")).unwrap();
    auth.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", "spa")
        .append_pair("redirect_uri", redirect)
        .append_pair("scope", "openid")
        .append_pair("state", "s")
        .append_pair("code_challenge", challenge.as_str())
        .append_pair("code_challenge_method", "S256");
    let back = authorize_as(&app, &browser, auth.as_str()).await;
    let code = param(&back, "code").unwrap();

    // Another loopback origin (another port) that no client lists.
    let other = serve_pages(|_| vec![("/", page("Somewhere else", &app.base, redirect, UNLISTED))]).await;
    let mut target = url::Url::parse(&format!("{other}/")).unwrap();
    target.set_fragment(Some(&format!("code={code}&verifier={}", verifier.secret())));
    driver.goto(target.as_str()).await;
    let html = out_text(&driver, "done").await;
    driver.screenshot("spa-unlisted-origin").await;
    assert!(html.contains(&format!("discovery: issuer={}", app.base)), "discovery is readable anywhere: {html}");
    assert!(html.contains("token: refused (TypeError)"), "fetch threw: {html}");
    assert!(html.contains("userinfo: refused (TypeError)"), "the preflight was refused: {html}");

    // The refused request did not spend the code: a request without Origin redeems it.
    let res = reqwest::Client::new()
        .post(app.url("/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect),
            ("client_id", "spa"),
            ("code_verifier", verifier.secret().as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
}
