//! `/register`: sign-up, its validation, and its bad-input handling.
use crate::helpers::{PASSWORD, hidden_value, location, spawn_app};

#[tokio::test]
async fn register_page_has_the_interface_fields() {
    let app = spawn_app().await;
    let res = app.browser().get(app.url("/register")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    for field in ["name=\"username\"", "name=\"email\"", "name=\"password\"", "name=\"password_confirm\""] {
        assert!(html.contains(field), "missing {field}");
    }
    assert!(hidden_value(&html, "csrf_token").is_some());
    // Labels for every input (accessibility) and autocomplete hints.
    assert!(html.contains("<label for=\"username\">") && html.contains("autocomplete=\"new-password\""));
}

#[tokio::test]
async fn register_creates_an_unverified_user_with_the_user_role() {
    let app = spawn_app().await;
    let browser = app.browser();
    let fields =
        [("username", "Ada"), ("email", "ada@example.com"), ("password", PASSWORD), ("password_confirm", PASSWORD)];
    let res = app.submit(&browser, "/register", "/register", &fields).await;
    assert_eq!(res.status(), 303);
    assert!(location(&res).starts_with("/login?registered=1"));
    let user = app.state.accounts.find("ada").await.unwrap();
    assert_eq!(user.username, "Ada");
    assert!(!user.email_verified, "self-registered addresses start unverified");
    assert_eq!(app.state.accounts.roles(&user.id).await.unwrap(), ["user"]);
    // Not before the address is confirmed: the right password gets a page
    // with a resend button, a wrong one the usual generic failure.
    let res = app.login(&browser, "ada@EXAMPLE.com", PASSWORD).await;
    assert_eq!(res.status(), 403);
    assert!(res.text().await.unwrap().contains("action=\"/register/resend\""));
    assert_eq!(app.login(&browser, "ada", "not the password at all").await.status(), 401);
    // The confirmation link from the mail opens the account.
    let mail = app.mail.wait_for("ada@example.com", "Confirm your email").await;
    let confirmed = app.follow_link(&browser, &crate::smtp::link(&mail, &app.url("/register/confirm?"))).await;
    assert_eq!(location(&confirmed), "/login?confirmed=1");
    let res = app.login(&browser, "ada@EXAMPLE.com", PASSWORD).await;
    assert_eq!(res.status(), 303);
}

#[tokio::test]
async fn usernames_and_emails_differing_only_in_case_are_taken() {
    let app = spawn_app().await;
    app.create_user("bob", &[]).await;
    let browser = app.browser();
    let res = app
        .submit(
            &browser,
            "/register",
            "/register",
            &[("username", "BOB"), ("email", "new@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("That username is taken."), "{html}");
    assert!(html.contains("value=\"new@example.com\""), "input is kept");
    let res = app
        .submit(
            &browser,
            "/register",
            "/register",
            &[("username", "bobby"), ("email", "BOB@Example.com"), ("password", PASSWORD)],
        )
        .await;
    // A registered address is not revealed: the answer is the usual one, and
    // the address's owner is told by mail instead.
    assert_eq!(res.status(), 303);
    assert!(location(&res).starts_with("/login?registered=1"));
    app.mail.wait_for("bob@example.com", "You already have an account").await;
    // A Cyrillic lookalike of "bob" is the same name.
    let res = app
        .submit(
            &browser,
            "/register",
            "/register",
            &[("username", "b\u{043E}b"), ("email", "x@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(res.status(), 422);
    // So is an address with a Cyrillic lookalike in it.
    let res = app
        .submit(
            &browser,
            "/register",
            "/register",
            &[("username", "robert"), ("email", "b\u{043E}b@ex\u{0430}mple.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(res.status(), 303, "taken too, and not revealed either");
    let (users, total) = app.state.accounts.search("", 1, 100).await.unwrap();
    assert_eq!((users.len(), total), (1, 1), "no half-written rows");
}

#[tokio::test]
async fn invalid_fields_are_shown_inline_and_the_password_is_never_echoed() {
    let app = spawn_app().await;
    let browser = app.browser();
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("username", ""), ("email", "a@example.com"), ("password", PASSWORD)], "at least 3 characters"),
        (&[("username", "ok-name"), ("email", "not-an-email"), ("password", PASSWORD)], "Enter an email address"),
        (&[("username", "ok-name"), ("email", "a@example.com"), ("password", "short-pw")], "at least 12 characters"),
        (
            &[
                ("username", "ok-name"),
                ("email", "a@example.com"),
                ("password", PASSWORD),
                ("password_confirm", "something else entirely"),
            ],
            "do not match",
        ),
        (&[("username", "<script>x"), ("email", "a@example.com"), ("password", PASSWORD)], "Use only letters"),
    ];
    for (fields, message) in cases {
        let res = app.submit(&browser, "/register", "/register", fields).await;
        assert_eq!(res.status(), 422, "{fields:?}");
        let html = res.text().await.unwrap();
        assert!(html.contains(message), "{message}: {html}");
        assert!(!html.contains(PASSWORD), "password echoed back");
        assert!(!html.contains("<script>x"), "input must be escaped");
        assert!(html.contains("aria-invalid=\"true\""));
    }
    let (_, total) = app.state.accounts.search("", 1, 10).await.unwrap();
    assert_eq!(total, 0);
}

#[tokio::test]
async fn oversized_fields_are_refused_without_echoing_them() {
    let app = spawn_app().await;
    let browser = app.browser();
    let long_name = "a".repeat(5_000);
    let long_password = "p".repeat(2_000);
    let res = app
        .submit(
            &browser,
            "/register",
            "/register",
            &[("username", &long_name), ("email", "a@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(res.status(), 422);
    assert!(!res.text().await.unwrap().contains(&long_name));
    let res = app
        .submit(
            &browser,
            "/register",
            "/register",
            &[("username", "fine"), ("email", "a@example.com"), ("password", &long_password)],
        )
        .await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("at most 1024 bytes"));
}

#[tokio::test]
async fn a_body_over_the_limit_gets_413() {
    let app = spawn_app().await;
    let browser = app.browser();
    let token = app.csrf_token(&browser, "/register").await;
    let huge = "x".repeat(200 * 1024);
    let res = browser
        .post(app.url("/register"))
        .form(&[("csrf_token", token.as_str()), ("username", huge.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
}

#[tokio::test]
async fn invalid_utf8_in_a_form_gets_400() {
    let app = spawn_app().await;
    let browser = app.browser();
    let token = app.csrf_token(&browser, "/register").await;
    let body = format!("csrf_token={token}&username=%FF%FEbad&email=a%40example.com&password=xxxxxxxxxxxxxxxx");
    let res = browser
        .post(app.url("/register"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("not valid UTF-8"));
}

#[tokio::test]
async fn a_form_that_is_not_urlencoded_gets_415() {
    let app = spawn_app().await;
    let res =
        app.browser().post(app.url("/register")).json(&serde_json::json!({"username": "x"})).send().await.unwrap();
    assert_eq!(res.status(), 415);
}
