//! Store tests for upstream identities and flows, on both backends.
use super::{add_user, each_backend};
use crate::store::{Error, NewFlow, new_id};

#[tokio::test]
async fn an_upstream_account_links_to_one_user_only() {
    each_backend(async |store| {
        let ann = add_user(store, "ann").await;
        let bob = add_user(store, "bob").await;
        let mut conn = store.conn().await.unwrap();
        conn.db().insert_upstream_identity("corp", "s-1", &ann, "ann@corp.example", 1_000).await.unwrap();
        let taken = conn.db().insert_upstream_identity("corp", "s-1", &bob, "", 1_001).await;
        assert!(matches!(taken, Err(Error::Conflict(_))), "{taken:?}");
        conn.db().insert_upstream_identity("google", "s-1", &bob, "", 1_002).await.unwrap();
        let found = conn.db().upstream_identity("corp", "s-1").await.unwrap().unwrap();
        assert_eq!((found.user_id.as_str(), found.email.as_str()), (ann.as_str(), "ann@corp.example"));
        assert_eq!(conn.db().user_upstream_identities(&bob).await.unwrap().len(), 1);
        assert_eq!(conn.db().delete_upstream_identities(&ann, "corp").await.unwrap(), 1);
        assert!(conn.db().upstream_identity("corp", "s-1").await.unwrap().is_none());
        assert!(conn.db().user_upstream_identities(&ann).await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn a_flow_is_taken_once_by_its_own_browser_before_it_expires() {
    each_backend(async |store| {
        let mut conn = store.conn().await.unwrap();
        let id = new_id();
        let flow = NewFlow {
            id: &id,
            purpose: "start",
            key_hash: "state-hash",
            browser_hash: "browser-a",
            provider: "corp",
            secret: "{}",
            next: "/authorize?x=1",
            link_user_id: None,
            now: 1_000,
            expires_at: 1_600,
        };
        conn.db().insert_upstream_flow(&flow).await.unwrap();
        let db = &mut conn.db();
        assert!(db.take_upstream_flow("start", "state-hash", "browser-b", None, 1_001).await.unwrap().is_none());
        assert!(
            db.take_upstream_flow("start", "state-hash", "browser-a", Some("other"), 1_001).await.unwrap().is_none()
        );
        assert!(db.take_upstream_flow("link", "state-hash", "browser-a", None, 1_001).await.unwrap().is_none());
        assert!(db.take_upstream_flow("start", "state-hash", "browser-a", None, 1_600).await.unwrap().is_none());
        assert!(db.peek_upstream_flow("start", "state-hash", "browser-a", 1_001).await.unwrap().is_some());
        let taken = db.take_upstream_flow("start", "state-hash", "browser-a", Some("corp"), 1_001).await.unwrap();
        assert_eq!(taken.unwrap().next, "/authorize?x=1");
        assert!(db.take_upstream_flow("start", "state-hash", "browser-a", None, 1_001).await.unwrap().is_none());
        assert_eq!(
            db.purge(&crate::store::Purge::UpstreamFlows { ended_before: 2_000 }, 10).await.unwrap(),
            0,
            "a taken flow is gone already"
        );
    })
    .await;
}
