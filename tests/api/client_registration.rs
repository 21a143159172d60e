//! Registration refuses redirect URIs that could never match exactly
//! (RFC 6749 §3.1.2; RFC 9700 §2.1: redirect URIs are compared by exact
//! string matching, §4.1.3: user information makes a URI that looks like one
//! host and leads to another). Wildcards, user information and fragments are
//! refused by `client create` and `client update`, for redirect and
//! post-logout URIs alike, in one line on stderr, and nothing is written.
use crate::deletion::{fails, ok};
use crate::helpers::spawn_app;

/// URIs that can never match exactly, and the word the refusal must contain.
const NEVER_MATCH: [(&str, &str); 8] = [
    ("https://*.example/cb", "wildcard"),
    ("https://app.example/*", "wildcard"),
    ("https://app.example/c*b", "wildcard"),
    ("http://127.0.0.1:*/cb", "wildcard"),
    ("https://user:pw@app.example/cb", "user information"),
    ("https://user@app.example/cb", "user information"),
    ("https://app.example/cb#", "fragment"),
    ("https://app.example/cb#top", "fragment"),
];

#[tokio::test]
async fn client_create_refuses_wildcards_user_info_and_fragments_rfc_6749_3_1_2_rfc_9700_2_1() {
    let app = spawn_app().await;
    for (bad, why) in NEVER_MATCH {
        for flag in ["--redirect-uri", "--post-logout-redirect-uri"] {
            let mut args = vec!["client", "create", "--client-id", "web", "--name", "Web"];
            if flag != "--redirect-uri" {
                args.extend(["--redirect-uri", "https://app.example/cb"]);
            }
            args.extend([flag, bad]);
            let err = fails(&app, &args, "");
            assert!(err.contains(&format!("redirect URI {bad:?}")) && err.contains(why), "{flag} {bad}: {err}");
            assert!(app.state.clients.find("web").await.unwrap().is_none(), "{bad}: nothing is created");
        }
    }
}

#[tokio::test]
async fn client_update_refuses_them_too_and_changes_nothing_rfc_9700_4_1_3() {
    let app = spawn_app().await;
    ok(
        &app,
        &["client", "create", "--client-id", "web", "--name", "Web", "--redirect-uri", "https://app.example/cb"],
        "",
    );
    for (bad, why) in NEVER_MATCH {
        for flag in ["--redirect-uri", "--post-logout-redirect-uri"] {
            let err = fails(&app, &["client", "update", "web", flag, bad, "--name", "Changed"], "");
            assert!(err.contains(&format!("redirect URI {bad:?}")) && err.contains(why), "{flag} {bad}: {err}");
        }
    }
    let row = app.state.clients.find("web").await.unwrap().unwrap();
    assert_eq!(row.name, "Web", "a refused update changes nothing");
    assert_eq!(row.redirect_uri_list().unwrap(), ["https://app.example/cb"]);
    assert!(row.post_logout_uri_list().unwrap().is_empty());
    // A `*` in a query value is data, compared exactly like the rest: accepted.
    ok(&app, &["client", "update", "web", "--redirect-uri", "https://app.example/cb?tag=*"], "");
}
