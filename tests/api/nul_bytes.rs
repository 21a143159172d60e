//! Input that PostgreSQL cannot store (CWE-158, OWASP Input Validation Cheat
//! Sheet) is refused at the edge with a 4xx on both backends, and CR/LF in an
//! admin form field (CWE-93) is refused before the action (issue 14 item 6).
use base64::Engine;

use crate::helpers::{PASSWORD, TestApp, spawn_app};

async fn assert_oauth_invalid_request(res: reqwest::Response, what: &str) {
    assert_eq!(res.status(), 400, "{what}");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request", "{what}: {body}");
}

async fn assert_html_400(res: reqwest::Response, what: &str) {
    assert_eq!(res.status(), 400, "{what}");
    let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("text/html"), "{what}: {ct}");
}

#[tokio::test]
async fn nul_in_login_username_is_a_400_page_cwe_158_owasp_input_validation() {
    let app = spawn_app().await;
    app.create_user("sam", &[]).await;
    let res = app.login(&app.browser(), "sam\0", PASSWORD).await;
    assert_html_400(res, "login").await;
    let res = app.login(&app.browser(), "sam", PASSWORD).await;
    assert_eq!(res.status(), 303, "the real account is untouched");
}

#[tokio::test]
async fn nul_in_authorize_client_id_is_a_400_page_cwe_158_owasp_input_validation() {
    let app = spawn_app().await;
    let url = app.url("/authorize?response_type=code&client_id=app%00x&redirect_uri=https%3A%2F%2Fa.example%2Fcb");
    assert_html_400(app.browser().get(url).send().await.unwrap(), "authorize").await;
}

#[tokio::test]
async fn nul_in_token_endpoint_parameters_is_invalid_request_cwe_158_owasp_input_validation() {
    let app = spawn_app().await;
    let http = reqwest::Client::new();
    for form in [
        vec![("grant_type", "authorization_code"), ("client_id", "app\0"), ("code", "c")],
        vec![("grant_type", "refresh_token"), ("client_id", "app"), ("refresh_token", "r\0t")],
        vec![("grant_type", "client_credentials\0"), ("client_id", "app")],
    ] {
        let res = http.post(app.url("/token")).form(&form).send().await.unwrap();
        assert_oauth_invalid_request(res, &format!("/token {form:?}")).await;
    }
    // In the Basic credentials (RFC 6749 §2.3.1 form-encodes the id first).
    let basic = base64::engine::general_purpose::STANDARD.encode("app%00x:secret");
    let res = http
        .post(app.url("/token"))
        .header("authorization", format!("Basic {basic}"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(res.json::<serde_json::Value>().await.unwrap()["error"], "invalid_client");
}

#[tokio::test]
async fn nul_in_introspect_and_revoke_tokens_is_invalid_request_cwe_158_owasp_input_validation() {
    let app = spawn_app().await;
    let http = reqwest::Client::new();
    for path in ["/introspect", "/revoke"] {
        let form = [("token", "abc\0def"), ("client_id", "app"), ("client_secret", "s")];
        let res = http.post(app.url(path)).form(&form).send().await.unwrap();
        assert_oauth_invalid_request(res, path).await;
        let form = [("token", "abc"), ("client_id", "a\0pp"), ("client_secret", "s")];
        let res = http.post(app.url(path)).form(&form).send().await.unwrap();
        assert_oauth_invalid_request(res, path).await;
    }
    // A JSON endpoint read with GET answers in JSON too.
    let res = http.get(app.url("/userinfo?access_token=a%00b")).send().await.unwrap();
    assert_oauth_invalid_request(res, "/userinfo").await;
}

#[tokio::test]
async fn nul_in_logout_parameters_is_a_400_page_cwe_158_owasp_input_validation() {
    let app = spawn_app().await;
    let browser = app.signed_in("sam", &[]).await;
    for q in ["client_id=app%00", "id_token_hint=a%00b", "post_logout_redirect_uri=https%3A%2F%2Fa%00", "state=s%00"] {
        let res = browser.get(app.url(&format!("/logout?{q}"))).send().await.unwrap();
        assert_html_400(res, q).await;
    }
    let res = app.submit(&browser, "/logout", "/logout", &[("logout", "yes"), ("client_id", "a\0")]).await;
    assert_html_400(res, "POST /logout").await;
    assert_eq!(browser.get(app.url("/account")).send().await.unwrap().status(), 200, "still signed in");
}

#[tokio::test]
async fn nul_in_session_id_of_session_revoke_is_a_400_page_cwe_158_owasp_input_validation() {
    let app = spawn_app().await;
    let browser = app.signed_in("sam", &[]).await;
    let res = app.submit(&browser, "/account", "/account/sessions/abc%00def/revoke", &[]).await;
    assert_html_400(res, "session revoke").await;
    assert_eq!(browser.get(app.url("/account")).send().await.unwrap().status(), 200, "still signed in");
}

#[tokio::test]
async fn nul_in_admin_user_search_is_a_400_page_cwe_158_owasp_input_validation() {
    let app = spawn_app().await;
    let admin = app.signed_in("root", &["admin"]).await;
    let res = admin.get(app.url("/admin/users?q=ro%00ot")).send().await.unwrap();
    assert_html_400(res, "admin search").await;
    assert_eq!(admin.get(app.url("/admin/users?q=root")).send().await.unwrap().status(), 200);
}

async fn blocked(app: &TestApp, username: &str) -> bool {
    app.state.accounts.find(username).await.unwrap().blocked
}

#[tokio::test]
async fn crlf_in_admin_block_form_is_refused_before_the_block_cwe_93() {
    let app = spawn_app().await;
    let admin = app.signed_in("root", &["admin"]).await;
    let victim = app.create_user("sam", &[]).await;
    for back in ["/admin/users\r\nX-Injected: 1", "/admin/users\n", "/admin/users\rx"] {
        let action = format!("/admin/users/{victim}/block");
        let res = app.submit(&admin, "/admin/users", &action, &[("back", back)]).await;
        assert_html_400(res, &format!("{back:?}")).await;
        assert!(!blocked(&app, "sam").await, "blocked although refused: {back:?}");
    }
    // The same form without the line break works.
    let action = format!("/admin/users/{victim}/block");
    let res = app.submit(&admin, "/admin/users", &action, &[("back", "/admin/users?page=1")]).await;
    assert_eq!(res.status(), 303);
    assert!(blocked(&app, "sam").await);
    // Unblock, unlock and sign-out check first too.
    for verb in ["unblock", "unlock", "sign-out"] {
        let action = format!("/admin/users/{victim}/{verb}");
        let res = app.submit(&admin, "/admin/users", &action, &[("back", "/admin/users\r\n")]).await;
        assert_html_400(res, verb).await;
    }
    assert!(blocked(&app, "sam").await, "unblock was refused before acting");
}

#[tokio::test]
async fn nul_in_a_session_cookie_or_bearer_header_never_reaches_the_store_cwe_158() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app().await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    for header in ["Cookie: gh_session=abc\0def", "Authorization: Bearer abc\0def"] {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let req = format!("GET /account HTTP/1.1\r\nHost: x\r\n{header}\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        let _ = s.read_to_end(&mut answer).await;
        // hyper refuses a header with a NUL before the app sees it.
        assert!(answer.starts_with(b"HTTP/1.1 400"), "{header:?}: {}", String::from_utf8_lossy(&answer));
    }
}
