//! `/admin/settings`: the effective configuration with each key's source,
//! secrets redacted.
use secrecy::SecretString;

use crate::helpers::{location, spawn_app_with};

#[tokio::test]
async fn settings_show_every_key_and_its_source_but_never_a_secret() {
    let app = spawn_app_with(|c| {
        c.keys.encryption_key = Some(SecretString::from("c2VjcmV0LWtleS10aGF0LW11c3Qtbm90LXNob3ctISE="));
    })
    .await;
    let anonymous = app.browser().get(app.url("/admin/settings")).send().await.unwrap();
    assert_eq!(anonymous.status(), 303);
    assert_eq!(location(&anonymous), "/login?next=%2Fadmin%2Fsettings");
    let plain = app.signed_in("plain", &[]).await;
    assert_eq!(plain.get(app.url("/admin/settings")).send().await.unwrap().status(), 403);
    let admin = app.signed_in("root", &["admin"]).await;
    let res = admin.get(app.url("/admin/settings")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("<code>session.reauth_secs</code>") && html.contains("compiled default"), "{html}");
    assert!(html.contains("<code>mail.smtp_url</code></td><td><code>[redacted]</code>"), "{html}");
    assert!(!html.contains("c2VjcmV0LWtleS10aGF0LW11c3Qtbm90LXNob3ctISE"));
    assert!(!html.contains(app.state.config.mail.smtp_url.as_ref().map(|_| "smtp://127.0.0.1").unwrap()));
}
