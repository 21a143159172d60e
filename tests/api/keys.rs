//! Signing keys: JWKS publication, scheduled rotation with the next key
//! published ahead, retirement, and sharing between instances.
use serde_json::Value;

use crate::helpers::spawn_app;

async fn jwks(base: &str) -> (Vec<String>, reqwest::header::HeaderMap) {
    let res = reqwest::get(format!("{base}/jwks.json")).await.unwrap();
    assert_eq!(res.status(), 200);
    let headers = res.headers().clone();
    let body: Value = res.json().await.unwrap();
    let keys = body["keys"].as_array().unwrap();
    for key in keys {
        // RFC 7517 §4: each key names itself; only public members are published.
        assert_eq!(
            (key["kty"].as_str(), key["alg"].as_str(), key["use"].as_str()),
            (Some("RSA"), Some("RS256"), Some("sig"))
        );
        assert!(key["kid"].is_string() && key["n"].is_string() && key["e"].is_string());
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(key.get(private).is_none(), "private member {private} published");
        }
    }
    (keys.iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect(), headers)
}

#[tokio::test]
async fn jwks_publishes_the_current_and_next_keys_with_cache_headers() {
    let app = spawn_app().await;
    let (kids, headers) = jwks(&app.base).await;
    assert_eq!(kids.len(), 2, "current and next");
    assert!(kids.contains(&app.state.keys.current_kid()));
    assert_eq!(headers["content-type"], "application/jwk-set+json");
    assert_eq!(headers["cache-control"], "public, max-age=3600");
}

#[tokio::test]
async fn keys_rotate_on_schedule_and_retire_after_their_tokens_expire() {
    let app = spawn_app().await;
    let (before, _) = jwks(&app.base).await;
    let first = app.state.keys.current_kid();
    let next = before.iter().find(|k| **k != first).unwrap().clone();

    app.clock.advance(30 * 86_400 - 1);
    app.state.keys.refresh().await.unwrap();
    assert_eq!(app.state.keys.current_kid(), first, "not due yet");

    app.clock.advance(1);
    app.state.keys.refresh().await.unwrap();
    assert_eq!(app.state.keys.current_kid(), next, "the key published ahead now signs");
    let (during, _) = jwks(&app.base).await;
    assert_eq!(during.len(), 3, "retiring, current and a new next");
    assert!(during.contains(&first), "the old key stays until its tokens expire");

    app.clock.advance(86_400);
    app.state.keys.refresh().await.unwrap();
    let (after, _) = jwks(&app.base).await;
    assert_eq!(after.len(), 2);
    assert!(!after.contains(&first), "retired");
}

#[tokio::test]
async fn instances_on_one_database_share_their_keys() {
    let a = spawn_app().await;
    let b = a.second_instance().await;
    assert_eq!(jwks(&a.base).await.0, jwks(&b.base).await.0);
    assert_eq!(a.state.keys.current_kid(), b.state.keys.current_kid());
    a.state.keys.rotate_now().await.unwrap();
    b.state.keys.refresh().await.unwrap();
    assert_eq!(a.state.keys.current_kid(), b.state.keys.current_kid(), "B picks up A's rotation");
    assert_eq!(jwks(&a.base).await.0, jwks(&b.base).await.0);
    b.stop().await;
}

#[tokio::test]
async fn instances_racing_to_create_the_first_keys_agree_on_one_set() {
    use std::sync::Arc;

    use gatehouse::clock::FixedClock;
    use gatehouse::keys::{Kek, KeyRing, Policy};
    use gatehouse::store::Store;

    let dir = tempfile::tempdir().unwrap();
    let pg = match crate::helpers::postgres_url() {
        Some(url) if crate::helpers::on_postgres() => {
            Some(gatehouse::store::testing::TempPostgres::create(&url).await.unwrap())
        }
        _ => None,
    };
    let url =
        pg.as_ref().map(|p| p.url.clone()).unwrap_or_else(|| format!("sqlite://{}/race.db", dir.path().display()));
    let store = Store::connect(&url, 5, std::time::Duration::ZERO).await.unwrap();
    store.migrate().await.unwrap();
    let policy = Policy { rotate_after: 1000, publish_ahead: 100, retain: 100 };
    let clock = Arc::new(FixedClock::at(crate::helpers::T0));
    let open = || {
        KeyRing::open(
            store.clone(),
            std::sync::Arc::new(Kek::new([9; 32])),
            policy,
            clock.clone(),
            std::path::Path::new("/nonexistent"),
        )
    };
    let (a, b, c) = tokio::join!(open(), open(), open());
    let (a, b, c) = (a.unwrap(), b.unwrap(), c.unwrap());
    assert_eq!(a.current_kid(), b.current_kid());
    assert_eq!(b.current_kid(), c.current_kid());
    let listed = a.list().await.unwrap();
    assert_eq!(listed.len(), 2, "one current and one next, not one per instance: {listed:?}");
    store.close().await;
}

/// The kid under which the JWKS publishes the key with modulus `n`.
async fn kid_of(base: &str, n: &Value) -> Option<String> {
    let body: Value = reqwest::get(format!("{base}/jwks.json")).await.unwrap().json().await.unwrap();
    body["keys"].as_array().unwrap().iter().find(|k| &k["n"] == n).map(|k| k["kid"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn an_operator_pem_signs_from_first_start_or_is_next_on_a_running_system() {
    use josekit::jwk::KeyPair;
    let pem_key = |dir: &std::path::Path, name: &str| {
        let pair = josekit::jws::RS256.generate_key_pair(2048).unwrap();
        std::fs::write(dir.join(name), pair.to_pem_private_key()).unwrap();
        pair.to_jwk_public_key().parameter("n").unwrap().clone()
    };
    let dir = tempfile::tempdir().unwrap();
    let first = pem_key(dir.path(), "a.pem");
    let import = dir.path().to_path_buf();
    let app = crate::helpers::spawn_app_with(move |c| c.keys.import_dir = import).await;
    let kid = kid_of(&app.base, &first).await.expect("published");
    assert_eq!(app.state.keys.current_kid(), kid, "a fresh install signs with the operator's key");

    // Later, another key is dropped in: the next instance start makes it the next key.
    let second = pem_key(dir.path(), "b.pem");
    let b = app.second_instance().await;
    let next = kid_of(&b.base, &second).await.expect("published");
    let listed = b.state.keys.list().await.unwrap();
    assert_eq!(listed.iter().find(|k| k.kid == next).unwrap().state, "next");
    b.state.keys.rotate_now().await.unwrap();
    assert_eq!(b.state.keys.current_kid(), next, "it signs after rotation");
    b.stop().await;
}

#[tokio::test]
async fn an_unreadable_pem_stops_start_up_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("broken.pem"), "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")
        .unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut config = crate::helpers::test_config(data.path());
    config.keys.import_dir = dir.path().to_path_buf();
    let err = gatehouse::app::build(config, std::sync::Arc::new(gatehouse::clock::SystemClock)).await.err().unwrap();
    assert!(format!("{err:#}").contains("broken.pem"), "{err:#}");
}

// Issue 13, item 13: an instance whose key-encryption key differs from the
// one that sealed the shared database's signing keys refuses to start, and
// the message names the setting every instance must share.
#[tokio::test]
async fn an_instance_with_another_kek_on_a_shared_database_says_to_share_it() {
    use base64::Engine;
    let a = spawn_app().await;
    let mut config = a.config.clone();
    config.listen = "127.0.0.1:0".parse().unwrap();
    let other_key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    config.keys.encryption_key = Some(secrecy::SecretString::from(other_key));
    let clock = std::sync::Arc::new(gatehouse::clock::FixedClock::at(crate::helpers::real_now()));
    let err = gatehouse::app::build(config, clock).await.err().expect("the second instance must not start");
    let text = format!("{err:#}");
    assert!(text.contains("Instances sharing a database must share keys.encryption_key"), "{text}");
    assert!(text.contains("GATEHOUSE_KEYS__ENCRYPTION_KEY") && text.contains("$DATA_DIR/kek"), "{text}");
    assert!(text.contains("(from keys.encryption_key"), "says where this instance's key came from: {text}");

    // The same through the CLI: another data directory means another generated KEK.
    let other_dir = tempfile::tempdir().unwrap();
    let url = a.config.database_url();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["keys", "list"])
        .current_dir(other_dir.path())
        .env_clear()
        .env("GATEHOUSE_DATA_DIR", other_dir.path())
        .env("GATEHOUSE_DATABASE__URL", &url)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains("must share keys.encryption_key") && stderr.contains("GATEHOUSE_KEYS__ENCRYPTION_KEY"),
        "{stderr}"
    );
    assert!(stderr.contains(&other_dir.path().join("kek").display().to_string()), "names its own KEK file: {stderr}");
    assert!(!jwks(&a.base).await.0.is_empty(), "the first instance serves on");
}
