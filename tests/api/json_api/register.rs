//! `POST /api/v1/register`: the page's registration over JSON (policy,
//! confirmation mail, rate limit), answering alike whether or not the
//! address was taken.
use gatehouse::config::Limit;
use serde_json::{Value, json};

use super::support::problem;
use crate::helpers::{PASSWORD, TestApp, spawn_app, spawn_app_with};

async fn register(app: &TestApp, body: &Value) -> reqwest::Response {
    reqwest::Client::new().post(app.url("/api/v1/register")).json(body).send().await.unwrap()
}

#[tokio::test]
async fn registration_answers_202_and_mails_the_confirmation_link() {
    let app = spawn_app().await;
    let res = register(&app, &json!({ "username": "nina", "email": "nina@example.com", "password": PASSWORD })).await;
    assert_eq!(res.status(), 202);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "pending_confirmation");
    let mail = app.mail.wait_for("nina@example.com", "Confirm your email").await;
    let link = crate::smtp::link(&mail, &app.url("/register/confirm?"));
    assert!(!link.is_empty());
    let user = app.state.accounts.find("nina").await.unwrap();
    assert!(!user.email_verified, "unconfirmed until the link is followed");
}

#[tokio::test]
async fn a_taken_address_gets_the_same_answer_and_its_owner_a_mail() {
    let app = spawn_app().await;
    app.create_user("olga", &[]).await;
    let fresh = register(&app, &json!({ "username": "pia", "email": "pia@example.com", "password": PASSWORD })).await;
    let taken =
        register(&app, &json!({ "username": "quinn", "email": "olga@example.com", "password": PASSWORD })).await;
    assert_eq!((fresh.status().as_u16(), taken.status().as_u16()), (202, 202));
    assert_eq!(fresh.text().await.unwrap(), taken.text().await.unwrap(), "the same body either way");
    app.mail.wait_for("olga@example.com", "already have an account").await;
    assert!(app.state.accounts.find("quinn").await.is_err(), "no second account");
}

#[tokio::test]
async fn invalid_input_is_422_per_field_and_other_bodies_are_refused() {
    let app = spawn_app().await;
    let res = register(&app, &json!({ "username": "", "email": "not-an-address", "password": "short" })).await;
    let body = problem(res, 422).await;
    let fields: Vec<&str> = body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    for field in ["username", "email", "password"] {
        assert!(fields.contains(&field), "{field} in {fields:?}");
    }
    let unknown =
        register(&app, &json!({ "username": "rita", "email": "r@example.com", "password": PASSWORD, "admin": true }))
            .await;
    problem(unknown, 422).await;
    let form = reqwest::Client::new()
        .post(app.url("/api/v1/register"))
        .form(&[("username", "rita"), ("email", "r@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    problem(form, 415).await;
}

#[tokio::test]
async fn registration_shares_the_register_rate_limit_and_429_is_problem_json() {
    let app = spawn_app_with(|c| c.rate_limits.register = Limit { max: 1, per_secs: 600 }).await;
    let first = register(&app, &json!({ "username": "sam", "email": "sam@example.com", "password": PASSWORD })).await;
    assert_eq!(first.status(), 202);
    let second = register(&app, &json!({ "username": "tom", "email": "tom@example.com", "password": PASSWORD })).await;
    assert!(second.headers().get("retry-after").is_some(), "Retry-After (RFC 6585 §4)");
    let body = problem(second, 429).await;
    assert_eq!(body["type"], "urn:gatehouse:problem:too-many-requests");
}
