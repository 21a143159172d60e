//! Store tests for parked authorization requests, on both backends.
use super::each_backend;
use crate::store::NewPending;

#[tokio::test]
async fn a_parked_request_is_found_until_it_expires_and_purged_in_batches() {
    each_backend(async |store| {
        let mut conn = store.conn().await.unwrap();
        let db = &mut conn.db();
        let state = "é".repeat(1024);
        let params = serde_json::to_string(&[["state", state.as_str()], ["client_id", "rp"]]).unwrap();
        for (id, expires_at) in [("a", 1_100), ("b", 1_200), ("c", 1_300)] {
            let p = NewPending { id, client_id: "rp", params: &params, now: 1_000, expires_at };
            db.insert_pending_authorize(&p).await.unwrap();
        }
        let found = db.find_pending_authorize("a", 1_099).await.unwrap().unwrap();
        assert_eq!((found.client_id.as_str(), found.params.as_str(), found.created_at), ("rp", params.as_str(), 1_000));
        assert!(db.find_pending_authorize("a", 1_099).await.unwrap().is_some(), "reading does not use it up");
        assert!(db.find_pending_authorize("a", 1_100).await.unwrap().is_none(), "expired");
        assert!(db.find_pending_authorize("nope", 1_000).await.unwrap().is_none());
        // Only rows expired before the cutoff go, at most `limit` at a time.
        assert_eq!(db.purge_pending_authorize(1_250, 1).await.unwrap(), 1);
        assert_eq!(db.purge_pending_authorize(1_250, 10).await.unwrap(), 1);
        assert_eq!(db.purge_pending_authorize(1_250, 10).await.unwrap(), 0);
        assert!(db.find_pending_authorize("c", 1_250).await.unwrap().is_some());
    })
    .await;
}
