//! Store tests (STYLE.md §8): each behaviour has one body, run on SQLite (a fresh
//! file in a temp directory) and, when `TEST_POSTGRES_URL` is set (always in CI),
//! on a throwaway PostgreSQL database that is dropped afterwards. Times are fixed
//! unix seconds; nothing reads the wall clock.
use std::time::Duration;

use tempfile::TempDir;

use super::testing::{TEST_POSTGRES_URL, TempPostgres};
use super::{Backend, Error, NewClient, NewSession, NewUser, Store, new_id};

mod audit;
mod changes;
mod directory;
mod ip;
mod mail;
mod mfa;
mod pending;
mod plans;
mod policy;
mod purge;
mod throttle;
mod upstream;

/// A store plus whatever keeps its database alive. Close the store before this drops.
struct TestDb {
    store: Store,
    /// The database's URL, for a second pool ("another process").
    url: String,
    _dir: Option<TempDir>,
    _pg: Option<TempPostgres>,
}

/// Unmigrated stores on every backend available: SQLite always, PostgreSQL when configured.
async fn open_backends() -> Vec<TestDb> {
    let dir = TempDir::new().expect("temp dir");
    let url = format!("sqlite://{}/t.db", dir.path().display());
    let store = Store::connect(&url, 5, Duration::ZERO).await.expect("open SQLite");
    let mut dbs = vec![TestDb { store, url, _dir: Some(dir), _pg: None }];
    if let Some(admin_url) = std::env::var(TEST_POSTGRES_URL).ok().filter(|u| !u.is_empty()) {
        let pg = TempPostgres::create(&admin_url).await.expect("create PostgreSQL test database");
        let store = Store::connect(&pg.url, 5, Duration::ZERO).await.expect("open PostgreSQL");
        dbs.push(TestDb { store, url: pg.url.clone(), _dir: None, _pg: Some(pg) });
    }
    dbs
}

/// Names the backend on stderr when a test body panics, so a failure says where it happened.
struct FailureLabel(Backend);

impl Drop for FailureLabel {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("store test failed on {:?}", self.0);
        }
    }
}

/// Runs `body` once per backend on a freshly migrated store.
pub(super) async fn each_backend(body: impl AsyncFn(&Store)) {
    for db in open_backends().await {
        let label = FailureLabel(db.store.backend());
        db.store.migrate().await.expect("migrate");
        body(&db.store).await;
        db.store.close().await;
        drop(label);
    }
}

/// Column values for a test user; keys are the lowercased display forms.
struct UserFixture {
    id: String,
    username: String,
    username_key: String,
    email: String,
    email_key: String,
}

impl UserFixture {
    fn new(username: &str) -> Self {
        let email = format!("{username}@Example.test");
        Self {
            id: new_id(),
            username: username.to_owned(),
            username_key: username.to_lowercase(),
            email_key: email.to_lowercase(),
            email,
        }
    }

    fn row(&self, now: i64) -> NewUser<'_> {
        NewUser {
            id: &self.id,
            username: &self.username,
            username_key: &self.username_key,
            email: &self.email,
            email_key: &self.email_key,
            email_verified: false,
            display_name: "",
            password_hash: None,
            now,
        }
    }
}

/// Inserts a user named `username`; returns its id.
pub(super) async fn add_user(store: &Store, username: &str) -> String {
    let user = UserFixture::new(username);
    store.conn().await.unwrap().db().insert_user(&user.row(1_000)).await.unwrap();
    user.id
}

/// A live session created (and last seen) at `now`; returns `(id, token_hash)`.
async fn add_session(store: &Store, user_id: &str, now: i64, expires_at: i64) -> (String, String) {
    let id = new_id();
    let token_hash = format!("hash-{id}");
    let session = NewSession {
        id: &id,
        token_hash: &token_hash,
        user_id,
        auth_time: now,
        now,
        expires_at,
        ip: "192.0.2.1",
        user_agent: "test-agent/1.0",
        credential: None,
        amr: "pwd",
    };
    assert!(store.conn().await.unwrap().db().insert_session(&session).await.unwrap());
    (id, token_hash)
}

fn client<'a>(id: &'a str, client_id: &'a str, redirects: &'a [String], logouts: &'a [String]) -> NewClient<'a> {
    NewClient {
        id,
        client_id,
        name: "Test App",
        secret_hash: Some("secret-hash"),
        public: false,
        redirect_uris: redirects,
        post_logout_redirect_uris: logouts,
        grant_types: "authorization_code refresh_token",
        scope: "openid email",
        skip_consent: true,
        now: 3_000,
        web_origins: &[],
        resource_audiences: &[],
        service_roles: &[],
    }
}

fn usernames(rows: &[super::UserRow]) -> Vec<&str> {
    rows.iter().map(|r| r.username.as_str()).collect()
}

// ---- migrations -------------------------------------------------------------

#[tokio::test]
async fn migrations_make_store_ready_and_are_idempotent() {
    for db in open_backends().await {
        let label = FailureLabel(db.store.backend());
        assert!(!db.store.ready().await.unwrap(), "an empty database is not ready");

        db.store.migrate().await.unwrap();
        assert!(db.store.ready().await.unwrap());

        db.store.migrate().await.expect("a second migrate is a no-op");
        assert!(db.store.ready().await.unwrap());

        db.store.close().await;
        drop(label);
    }
}

// ---- users ------------------------------------------------------------------

#[tokio::test]
async fn inserted_user_is_found_by_id_and_by_username_or_email_key() {
    each_backend(async |store| {
        let user = UserFixture::new("Alice");
        let row = NewUser {
            email_verified: true,
            display_name: "Alice A.",
            password_hash: Some("phc$hash"),
            ..user.row(1_000)
        };
        let mut conn = store.conn().await.unwrap();

        conn.db().insert_user(&row).await.unwrap();

        let found = conn.db().find_user(&user.id).await.unwrap().expect("found by id");
        assert_eq!(found.id, user.id);
        assert_eq!(found.username, "Alice");
        assert_eq!(found.email, "Alice@Example.test");
        assert!(found.email_verified);
        assert_eq!(found.display_name, "Alice A.");
        assert_eq!(found.password_hash.as_deref(), Some("phc$hash"));
        assert!(!found.blocked);
        assert_eq!(found.created_at, 1_000);
        let by_name = conn.db().find_user_by_login("alice").await.unwrap().expect("found by username key");
        assert_eq!(by_name.id, user.id);
        let by_email = conn.db().find_user_by_login("alice@example.test").await.unwrap().expect("found by email key");
        assert_eq!(by_email.id, user.id);
        // The store compares keys exactly; normalizing is the caller's job.
        assert!(conn.db().find_user_by_login("Alice").await.unwrap().is_none());
        assert!(conn.db().find_user(&new_id()).await.unwrap().is_none());
    })
    .await;
}

#[tokio::test]
async fn duplicate_username_key_is_a_conflict_naming_username() {
    each_backend(async |store| {
        add_user(store, "bob").await;
        let twin = UserFixture {
            email: "other@example.test".into(),
            email_key: "other@example.test".into(),
            ..UserFixture::new("BOB")
        };

        let err = store.conn().await.unwrap().db().insert_user(&twin.row(1_000)).await.unwrap_err();

        // The account service reports the field from this text, testing "email" first.
        match err {
            Error::Conflict(what) => {
                assert!(what.contains("username"), "{what:?} should name the username");
                assert!(!what.contains("email"), "{what:?} must not look like an email conflict");
            }
            other => panic!("expected Conflict, got {other:?}"),
        }
    })
    .await;
}

#[tokio::test]
async fn duplicate_email_key_is_a_conflict_naming_email() {
    each_backend(async |store| {
        add_user(store, "carol").await;
        let twin =
            UserFixture { username: "carol2".into(), username_key: "carol2".into(), ..UserFixture::new("CAROL") };

        let err = store.conn().await.unwrap().db().insert_user(&twin.row(1_000)).await.unwrap_err();

        match err {
            Error::Conflict(what) => assert!(what.contains("email"), "{what:?} should name the email"),
            other => panic!("expected Conflict, got {other:?}"),
        }
    })
    .await;
}

#[tokio::test]
async fn set_user_roles_replaces_roles_and_user_roles_returns_them_sorted() {
    each_backend(async |store| {
        let user = add_user(store, "dave").await;
        let other = add_user(store, "erin").await;
        let mut conn = store.conn().await.unwrap();
        conn.db().set_user_roles(&other, &["auditor"]).await.unwrap();

        conn.db().set_user_roles(&user, &["zeta", "admin", "ops"]).await.unwrap();
        assert_eq!(conn.db().user_roles(&user).await.unwrap(), ["admin", "ops", "zeta"]);

        conn.db().set_user_roles(&user, &["ops"]).await.unwrap();
        assert_eq!(conn.db().user_roles(&user).await.unwrap(), ["ops"]);

        conn.db().set_user_roles(&user, &[]).await.unwrap();
        assert!(conn.db().user_roles(&user).await.unwrap().is_empty());
        assert_eq!(conn.db().user_roles(&other).await.unwrap(), ["auditor"], "other users keep their roles");
    })
    .await;
}

#[tokio::test]
async fn search_users_pages_by_username_and_counts_all_matches() {
    each_backend(async |store| {
        for name in ["user-cleo", "user-anna", "other", "user-bert"] {
            add_user(store, name).await;
        }
        let mut conn = store.conn().await.unwrap();

        let (first, total_first) = conn.db().search_users("user-", 2, 0).await.unwrap();
        let (second, total_second) = conn.db().search_users("user-", 2, 2).await.unwrap();
        let (past_end, total_past_end) = conn.db().search_users("user-", 2, 4).await.unwrap();

        assert_eq!(usernames(&first), ["user-anna", "user-bert"]);
        assert_eq!(usernames(&second), ["user-cleo"]);
        assert!(past_end.is_empty());
        assert_eq!((total_first, total_second, total_past_end), (3, 3, 3));
        let (by_email, total) = conn.db().search_users("other@", 10, 0).await.unwrap();
        assert_eq!((usernames(&by_email), total), (vec!["other"], 1), "email keys are searched too");
    })
    .await;
}

#[tokio::test]
async fn search_users_matches_like_wildcards_and_backslash_literally() {
    each_backend(async |store| {
        for name in ["a_b", "axb", "100%", "1000", "back\\slash", "backslash"] {
            add_user(store, name).await;
        }
        let mut conn = store.conn().await.unwrap();

        let (underscore, n_underscore) = conn.db().search_users("_", 10, 0).await.unwrap();
        let (a_b, n_a_b) = conn.db().search_users("a_b", 10, 0).await.unwrap();
        let (percent, n_percent) = conn.db().search_users("100%", 10, 0).await.unwrap();
        let (backslash, n_backslash) = conn.db().search_users("\\", 10, 0).await.unwrap();

        assert_eq!((usernames(&underscore), n_underscore), (vec!["a_b"], 1));
        assert_eq!((usernames(&a_b), n_a_b), (vec!["a_b"], 1));
        assert_eq!((usernames(&percent), n_percent), (vec!["100%"], 1));
        assert_eq!((usernames(&backslash), n_backslash), (vec!["back\\slash"], 1));
    })
    .await;
}

#[tokio::test]
async fn set_user_blocked_reports_whether_the_user_exists() {
    each_backend(async |store| {
        let user = add_user(store, "frank").await;
        let mut conn = store.conn().await.unwrap();

        assert!(!conn.db().set_user_blocked(&new_id(), true, 2_000).await.unwrap(), "unknown id");
        assert!(conn.db().set_user_blocked(&user, true, 2_000).await.unwrap());
        assert!(conn.db().find_user(&user).await.unwrap().unwrap().blocked);

        assert!(conn.db().set_user_blocked(&user, false, 2_001).await.unwrap());
        assert!(!conn.db().find_user(&user).await.unwrap().unwrap().blocked);
    })
    .await;
}

#[tokio::test]
async fn upgrade_password_hash_replaces_only_the_expected_hash() {
    each_backend(async |store| {
        let user = add_user(store, "grace").await;
        let mut conn = store.conn().await.unwrap();
        conn.db().set_password_hash(&user, "old", 2_000).await.unwrap();

        conn.db().upgrade_password_hash(&user, "stale", "lost").await.unwrap();
        assert_eq!(conn.db().find_user(&user).await.unwrap().unwrap().password_hash.as_deref(), Some("old"));

        conn.db().upgrade_password_hash(&user, "old", "new").await.unwrap();
        assert_eq!(conn.db().find_user(&user).await.unwrap().unwrap().password_hash.as_deref(), Some("new"));
    })
    .await;
}

// ---- sessions ---------------------------------------------------------------

#[tokio::test]
async fn live_session_finds_a_fresh_session_with_its_user() {
    each_backend(async |store| {
        let user = add_user(store, "heidi").await;
        let (id, hash) = add_session(store, &user, 1_000, 2_000).await;

        let live = store.conn().await.unwrap().db().live_session(&hash, 1_100, 500).await.unwrap();

        let live = live.expect("live session");
        assert_eq!(live.id, id);
        assert_eq!(live.user_id, user);
        assert_eq!(live.auth_time, 1_000);
        assert_eq!(live.last_seen_at, 1_000);
        assert_eq!(live.username, "heidi");
        assert_eq!(live.email, "heidi@Example.test");
        assert_eq!(live.display_name, "");
        let unknown = store.conn().await.unwrap().db().live_session("hash-unknown", 1_100, 500).await.unwrap();
        assert!(unknown.is_none());
    })
    .await;
}

#[tokio::test]
async fn live_session_ends_at_expires_at() {
    each_backend(async |store| {
        let user = add_user(store, "ivan").await;
        let (_, hash) = add_session(store, &user, 1_000, 2_000).await;
        let mut conn = store.conn().await.unwrap();

        let before = conn.db().live_session(&hash, 1_999, 0).await.unwrap();
        let at = conn.db().live_session(&hash, 2_000, 0).await.unwrap();
        let after = conn.db().live_session(&hash, 2_001, 0).await.unwrap();

        assert!(before.is_some());
        assert!(at.is_none());
        assert!(after.is_none());
    })
    .await;
}

#[tokio::test]
async fn live_session_ends_at_idle_cutoff_and_touch_extends_it() {
    each_backend(async |store| {
        let user = add_user(store, "judy").await;
        let (id, hash) = add_session(store, &user, 1_000, 9_000).await;
        let mut conn = store.conn().await.unwrap();

        assert!(conn.db().live_session(&hash, 1_500, 999).await.unwrap().is_some());
        assert!(conn.db().live_session(&hash, 1_500, 1_000).await.unwrap().is_none(), "last seen at the cutoff");

        conn.db().touch_session(&id, 1_400).await.unwrap();
        let touched = conn.db().live_session(&hash, 1_500, 1_000).await.unwrap().expect("alive after touch");
        assert_eq!(touched.last_seen_at, 1_400);
    })
    .await;
}

#[tokio::test]
async fn live_session_ends_when_revoked() {
    each_backend(async |store| {
        let user = add_user(store, "karl").await;
        let stranger = add_user(store, "lena").await;
        let (id, hash) = add_session(store, &user, 1_000, 9_000).await;
        let mut conn = store.conn().await.unwrap();

        assert!(!conn.db().revoke_session(&stranger, &id, 1_100).await.unwrap(), "only the owner revokes");
        assert!(conn.db().live_session(&hash, 1_200, 0).await.unwrap().is_some());

        assert!(conn.db().revoke_session(&user, &id, 1_100).await.unwrap());
        assert!(conn.db().live_session(&hash, 1_200, 0).await.unwrap().is_none());
        assert!(!conn.db().revoke_session(&user, &id, 1_150).await.unwrap(), "already revoked");
    })
    .await;
}

#[tokio::test]
async fn live_session_ends_when_the_user_is_blocked() {
    each_backend(async |store| {
        let user = add_user(store, "mallory").await;
        let (_, hash) = add_session(store, &user, 1_000, 9_000).await;
        let mut conn = store.conn().await.unwrap();

        conn.db().set_user_blocked(&user, true, 1_100).await.unwrap();

        assert!(conn.db().live_session(&hash, 1_200, 0).await.unwrap().is_none());
    })
    .await;
}

#[tokio::test]
async fn revoke_user_sessions_spares_the_kept_session_and_counts_the_rest() {
    each_backend(async |store| {
        let user = add_user(store, "niaj").await;
        let other = add_user(store, "olivia").await;
        let (_, first) = add_session(store, &user, 1_000, 9_000).await;
        let (kept_id, kept) = add_session(store, &user, 1_001, 9_000).await;
        let (_, third) = add_session(store, &user, 1_002, 9_000).await;
        let (_, others) = add_session(store, &other, 1_003, 9_000).await;
        let mut conn = store.conn().await.unwrap();

        let revoked = conn.db().revoke_user_sessions(&user, Some(&kept_id), 1_100).await.unwrap();

        assert_eq!(revoked, 2);
        assert!(conn.db().live_session(&first, 1_200, 0).await.unwrap().is_none());
        assert!(conn.db().live_session(&third, 1_200, 0).await.unwrap().is_none());
        assert!(conn.db().live_session(&kept, 1_200, 0).await.unwrap().is_some());
        assert!(conn.db().live_session(&others, 1_200, 0).await.unwrap().is_some(), "other users untouched");
        // Without `keep`, the rest go too; already revoked ones are not counted again.
        assert_eq!(conn.db().revoke_user_sessions(&user, None, 1_300).await.unwrap(), 1);
        assert!(conn.db().live_session(&kept, 1_400, 0).await.unwrap().is_none());
    })
    .await;
}

#[tokio::test]
async fn user_sessions_lists_only_live_sessions_newest_first() {
    each_backend(async |store| {
        let user = add_user(store, "peggy").await;
        let other = add_user(store, "quentin").await;
        let (oldest, _) = add_session(store, &user, 1_000, 9_000).await;
        let (newest, _) = add_session(store, &user, 1_200, 9_000).await;
        let (middle, _) = add_session(store, &user, 1_100, 9_000).await;
        let (revoked, _) = add_session(store, &user, 1_150, 9_000).await;
        add_session(store, &user, 1_050, 1_300).await; // expired at `now`
        add_session(store, &user, 800, 9_000).await; // idle since before the cutoff
        add_session(store, &other, 1_250, 9_000).await;
        let mut conn = store.conn().await.unwrap();
        conn.db().revoke_session(&user, &revoked, 1_250).await.unwrap();

        let sessions = conn.db().user_sessions(&user, 1_300, 900).await.unwrap();

        let ids: Vec<&str> = sessions.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, [newest.as_str(), middle.as_str(), oldest.as_str()]);
        let first = &sessions[0];
        assert_eq!((first.created_at, first.last_seen_at, first.expires_at), (1_200, 1_200, 9_000));
        assert_eq!((first.ip.as_str(), first.user_agent.as_str()), ("192.0.2.1", "test-agent/1.0"));
    })
    .await;
}

// ---- clients ----------------------------------------------------------------

#[tokio::test]
async fn clients_are_found_listed_by_client_id_and_deleted() {
    each_backend(async |store| {
        let redirects = vec!["https://app.example/cb".to_owned()];
        let (zeta_id, alpha_id) = (new_id(), new_id());
        let mut conn = store.conn().await.unwrap();

        conn.db().insert_client(&client(&zeta_id, "zeta-app", &redirects, &[])).await.unwrap();
        conn.db().insert_client(&client(&alpha_id, "alpha-app", &redirects, &[])).await.unwrap();

        let found = conn.db().find_client("zeta-app").await.unwrap().expect("found");
        assert_eq!(found.id, zeta_id);
        assert_eq!(found.name, "Test App");
        assert_eq!(found.secret_hash.as_deref(), Some("secret-hash"));
        assert!(!found.public);
        assert_eq!(found.grant_types, "authorization_code refresh_token");
        assert_eq!(found.scope, "openid email");
        assert!(found.skip_consent);
        assert_eq!(found.created_at, 3_000);
        let listed: Vec<String> = conn.db().list_clients().await.unwrap().into_iter().map(|c| c.client_id).collect();
        assert_eq!(listed, ["alpha-app", "zeta-app"]);

        assert!(conn.db().delete_client("zeta-app").await.unwrap());
        assert!(!conn.db().delete_client("zeta-app").await.unwrap(), "already gone");
        assert!(conn.db().find_client("zeta-app").await.unwrap().is_none());
        let listed: Vec<String> = conn.db().list_clients().await.unwrap().into_iter().map(|c| c.client_id).collect();
        assert_eq!(listed, ["alpha-app"]);
    })
    .await;
}

#[tokio::test]
async fn duplicate_client_id_is_a_conflict() {
    each_backend(async |store| {
        let (first, second) = (new_id(), new_id());
        let mut conn = store.conn().await.unwrap();
        conn.db().insert_client(&client(&first, "app", &[], &[])).await.unwrap();

        let err = conn.db().insert_client(&client(&second, "app", &[], &[])).await.unwrap_err();

        assert!(matches!(err, Error::Conflict(_)), "expected Conflict, got {err:?}");
    })
    .await;
}

#[tokio::test]
async fn client_uri_lists_round_trip() {
    each_backend(async |store| {
        let redirects = vec![
            "https://app.example/cb".to_owned(),
            "https://app.example/cb?tenant=a&x=\"q\"".to_owned(),
            "http://127.0.0.1:8080/callback".to_owned(),
        ];
        let logouts = vec!["https://app.example/bye".to_owned()];
        let (public_id, quiet_id) = (new_id(), new_id());
        let mut conn = store.conn().await.unwrap();
        let origins = vec!["https://app.example".to_owned(), "http://127.0.0.1:8080".to_owned()];
        let audiences = vec!["https://api.example".to_owned()];
        let public = NewClient {
            secret_hash: None,
            public: true,
            skip_consent: false,
            web_origins: &origins,
            resource_audiences: &audiences,
            service_roles: &[],
            ..client(&public_id, "spa", &redirects, &logouts)
        };
        conn.db().insert_client(&public).await.unwrap();
        conn.db().insert_client(&client(&quiet_id, "quiet", &[], &[])).await.unwrap();

        let spa = conn.db().find_client("spa").await.unwrap().unwrap();
        let quiet = conn.db().find_client("quiet").await.unwrap().unwrap();

        assert_eq!(spa.redirect_uri_list().unwrap(), redirects);
        assert_eq!(spa.post_logout_uri_list().unwrap(), logouts);
        assert_eq!(spa.web_origin_list().unwrap(), origins);
        assert!(quiet.web_origin_list().unwrap().is_empty(), "migration 0012 defaults to no listed origins");
        assert_eq!(spa.resource_audience_list().unwrap(), audiences);
        assert!(quiet.resource_audience_list().unwrap().is_empty(), "migration 0015 defaults to none");
        assert_eq!((spa.public, spa.secret_hash.is_none(), spa.skip_consent), (true, true, false));
        assert!(quiet.redirect_uri_list().unwrap().is_empty());
        assert!(quiet.post_logout_uri_list().unwrap().is_empty());
    })
    .await;
}

// ---- settings ---------------------------------------------------------------

#[tokio::test]
async fn setting_or_insert_keeps_the_first_value() {
    each_backend(async |store| {
        let mut conn = store.conn().await.unwrap();

        let first = conn.db().setting_or_insert("cookie_key", "first", 1_000).await.unwrap();
        let second = conn.db().setting_or_insert("cookie_key", "second", 1_001).await.unwrap();
        let other = conn.db().setting_or_insert("other_key", "third", 1_002).await.unwrap();

        assert_eq!(first, "first");
        assert_eq!(second, "first");
        assert_eq!(other, "third");
    })
    .await;
}

// ---- transactions -----------------------------------------------------------

#[tokio::test]
async fn transaction_dropped_without_commit_rolls_back() {
    each_backend(async |store| {
        let user = UserFixture::new("sybil");
        let mut tx = store.begin().await.unwrap();
        tx.db().insert_user(&user.row(1_000)).await.unwrap();
        tx.db().set_user_roles(&user.id, &["admin"]).await.unwrap();
        assert!(tx.db().find_user(&user.id).await.unwrap().is_some(), "visible inside the transaction");

        drop(tx);

        let mut conn = store.conn().await.unwrap();
        assert!(conn.db().find_user(&user.id).await.unwrap().is_none());
        assert!(conn.db().user_roles(&user.id).await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn committed_transaction_persists() {
    each_backend(async |store| {
        let user = UserFixture::new("trent");
        let mut tx = store.begin().await.unwrap();
        tx.db().insert_user(&user.row(1_000)).await.unwrap();
        tx.db().set_user_roles(&user.id, &["admin"]).await.unwrap();

        tx.commit().await.unwrap();

        let mut conn = store.conn().await.unwrap();
        assert!(conn.db().find_user(&user.id).await.unwrap().is_some());
        assert_eq!(conn.db().user_roles(&user.id).await.unwrap(), ["admin"]);
    })
    .await;
}

#[tokio::test]
async fn a_session_is_not_created_for_a_stale_credential_or_a_blocked_user() {
    each_backend(async |store| {
        let user = add_user(store, "racer").await;
        let mut conn = store.conn().await.unwrap();
        conn.db().set_password_hash(&user, "new-hash", 1_000).await.unwrap();
        let (id, hash) = (new_id(), new_id());
        let mut session = NewSession {
            id: &id,
            token_hash: &hash,
            user_id: &user,
            auth_time: 1_000,
            now: 1_000,
            expires_at: 2_000,
            ip: "",
            user_agent: "",
            credential: Some("old-hash"),
            amr: "pwd",
        };
        assert!(!conn.db().insert_session(&session).await.unwrap(), "password changed since it was checked");
        session.credential = Some("new-hash");
        conn.db().set_user_blocked(&user, true, 1_000).await.unwrap();
        assert!(!conn.db().insert_session(&session).await.unwrap(), "blocked since");
        conn.db().set_user_blocked(&user, false, 1_000).await.unwrap();
        assert!(conn.db().insert_session(&session).await.unwrap());
    })
    .await;
}
