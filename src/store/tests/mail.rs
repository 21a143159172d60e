//! Store tests for the outbox and mailed links, on both backends.
use super::{add_user, each_backend};
use crate::store::{NewLink, NewOutbox, OutboxDepth, new_id};

fn message<'a>(id: &'a str, message_id: &'a str, now: i64) -> NewOutbox<'a> {
    NewOutbox { id, message_id, recipient: "a@example.com", kind: "reset", subject: "s", body: "sealed", now }
}

#[tokio::test]
async fn outbox_claims_lease_retry_and_dead_letters() {
    each_backend(async |store| {
        let mut conn = store.conn().await.unwrap();
        let (a, b) = (new_id(), new_id());
        conn.db().insert_outbox(&message(&a, "<a@x>", 100)).await.unwrap();
        conn.db().insert_outbox(&message(&b, "<b@x>", 101)).await.unwrap();
        assert!(conn.db().claim_outbox(99, 200).await.unwrap().is_none(), "not due before it was made");
        let first = conn.db().claim_outbox(101, 200).await.unwrap().unwrap();
        assert_eq!((first.id.as_str(), first.attempts), (a.as_str(), 1), "oldest first, attempt counted");
        let second = conn.db().claim_outbox(101, 200).await.unwrap().unwrap();
        assert_eq!(second.id, b, "a leased row is skipped");
        assert!(conn.db().claim_outbox(150, 250).await.unwrap().is_none(), "both leased");
        // A lease that ran out (the worker died) makes the row claimable again.
        let again = conn.db().claim_outbox(200, 300).await.unwrap().unwrap();
        assert_eq!((again.id.as_str(), again.attempts), (a.as_str(), 2));
        // Only the holder of the current lease may write the result back.
        assert!(!conn.db().outbox_sent(&a, 200, 201).await.unwrap(), "that lease ran out and was taken");
        assert!(conn.db().outbox_sent(&a, 300, 201).await.unwrap());
        assert!(conn.db().outbox_failed(&b, 200, "451 try later", Some(500), 201).await.unwrap());
        assert!(conn.db().claim_outbox(499, 600).await.unwrap().is_none(), "backing off; sent rows never come back");
        assert_eq!(conn.db().outbox_depth().await.unwrap(), OutboxDepth { pending: 1, dead: 0 });
        let b_again = conn.db().claim_outbox(500, 600).await.unwrap().unwrap();
        assert_eq!((b_again.id.as_str(), b_again.attempts), (b.as_str(), 2));
        assert!(conn.db().outbox_failed(&b, 600, "550 no such user", None, 502).await.unwrap());
        assert_eq!(conn.db().outbox_depth().await.unwrap(), OutboxDepth { pending: 0, dead: 1 });
        assert!(conn.db().claim_outbox(10_000, 10_100).await.unwrap().is_none(), "dead rows stay dead");
        let sent = conn.db().list_outbox(false, 10).await.unwrap();
        let row = sent.iter().find(|r| r.id == a).unwrap();
        assert_eq!((row.body.as_str(), row.sent_at), ("", Some(201)), "the body is dropped once sent");
        assert_eq!(conn.db().list_outbox(true, 10).await.unwrap().len(), 1, "unsent only");
        // An operator's retry revives the dead letter; a sent row cannot be retried.
        assert!(conn.db().retry_outbox(&b, 600).await.unwrap());
        assert!(!conn.db().retry_outbox(&a, 600).await.unwrap());
        let revived = conn.db().claim_outbox(600, 700).await.unwrap().unwrap();
        assert_eq!((revived.id.as_str(), revived.attempts, revived.dead_at), (b.as_str(), 1, None));
        assert!(!conn.db().retry_outbox(&b, 650).await.unwrap(), "not while a worker is sending it");
        assert_eq!(conn.db().purge_outbox(1_000, true).await.unwrap(), 1, "only the sent row");
    })
    .await;
}

#[tokio::test]
async fn a_renewed_lease_keeps_the_row_and_a_lapsed_one_is_lost_to_the_next_claim() {
    each_backend(async |store| {
        let mut conn = store.conn().await.unwrap();
        let id = new_id();
        conn.db().insert_outbox(&message(&id, "<r@x>", 100)).await.unwrap();
        conn.db().claim_outbox(100, 120).await.unwrap().unwrap();
        // The sender renews before the lease ends: nobody else can claim it.
        assert_eq!(conn.db().renew_outbox(&id, 120, 127).await.unwrap(), Some(127));
        assert!(conn.db().claim_outbox(125, 145).await.unwrap().is_none(), "renewed past the first lease");
        assert_eq!(conn.db().renew_outbox(&id, 127, 125).await.unwrap(), Some(127), "never shortened");
        // A stale lease value (the sender missed its renewals) renews nothing.
        assert_eq!(conn.db().renew_outbox(&id, 120, 140).await.unwrap(), None);
        // Once it lapses, another worker claims it and the old holder loses it.
        let taken = conn.db().claim_outbox(127, 147).await.unwrap().unwrap();
        assert_eq!(taken.attempts, 2);
        assert_eq!(conn.db().renew_outbox(&id, 127, 150).await.unwrap(), None, "the old lease is gone");
        assert!(!conn.db().outbox_sent(&id, 127, 130).await.unwrap());
        assert_eq!(conn.db().renew_outbox(&id, 147, 160).await.unwrap(), Some(160));
        assert!(conn.db().outbox_sent(&id, 160, 150).await.unwrap(), "the holder records under its renewed lease");
        assert_eq!(conn.db().renew_outbox(&id, 0, 170).await.unwrap(), None, "a sent row has no lease to renew");
    })
    .await;
}

#[tokio::test]
async fn concurrent_claims_hand_each_row_to_one_worker() {
    each_backend(async |store| {
        {
            let mut conn = store.conn().await.unwrap();
            for i in 0..20 {
                conn.db().insert_outbox(&message(&new_id(), &format!("<{i}@x>"), 100)).await.unwrap();
            }
        }
        let worker = || async {
            let mut got = Vec::new();
            loop {
                let mut conn = store.conn().await.unwrap();
                match conn.db().claim_outbox(100, 1_000).await {
                    Ok(Some(row)) => got.push(row.id),
                    Ok(None) => break,
                    // SQLite may report a busy database under contention; try again.
                    Err(_) => {}
                }
            }
            got
        };
        // Polled together, so the claims interleave at every await.
        let (a, b, c, d) = tokio::join!(worker(), worker(), worker(), worker());
        let mut all: Vec<String> = [a, b, c, d].into_iter().flatten().collect();
        // On PostgreSQL a worker that lost a race sees "nothing" and stops
        // early (the real worker polls again); claim what is left.
        all.extend(worker().await);
        assert_eq!(all.len(), 20);
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 20, "no row claimed twice");
    })
    .await;
}

#[tokio::test]
async fn a_link_is_spent_once_for_its_purpose_before_it_expires() {
    each_backend(async |store| {
        let user = add_user(store, "linda").await;
        let mut conn = store.conn().await.unwrap();
        let link = |hash: &'static str, purpose: &'static str| NewLink {
            id: "",
            token_hash: hash,
            user_id: "",
            purpose,
            email: "new@example.com",
            email_key: "new@example.com",
            now: 100,
            expires_at: 200,
        };
        for (hash, purpose) in [("h1", "reset"), ("h2", "reset"), ("h3", "email_change")] {
            let id = new_id();
            conn.db().insert_link(&NewLink { id: &id, user_id: &user, ..link(hash, purpose) }).await.unwrap();
        }
        assert!(conn.db().spend_link("h3", "reset", 150).await.unwrap().is_none(), "wrong purpose");
        let spent = conn.db().spend_link("h3", "email_change", 150).await.unwrap().unwrap();
        assert_eq!((spent.user_id.as_str(), spent.email.as_str()), (user.as_str(), "new@example.com"));
        assert!(conn.db().spend_link("h3", "email_change", 150).await.unwrap().is_none(), "single use");
        assert!(conn.db().spend_link("h1", "reset", 200).await.unwrap().is_none(), "expired");
        assert!(conn.db().link_is_live("h2", "reset", 150).await.unwrap());
        // A live link reserves its address against other users only.
        assert!(!conn.db().email_reserved("new@example.com", "email_change", &user, 150).await.unwrap());
        assert!(!conn.db().email_reserved("new@example.com", "email_change", "other", 150).await.unwrap(), "spent");
        assert!(conn.db().email_reserved("new@example.com", "reset", "other", 150).await.unwrap());
        assert!(
            !conn.db().email_reserved("new@example.com", "reset", &user, 150).await.unwrap(),
            "not against its owner"
        );
        assert_eq!(conn.db().count_links_since(&user, "reset", 100).await.unwrap(), 2);
        assert_eq!(conn.db().void_links(&user, "reset", 160).await.unwrap(), 2);
        assert!(!conn.db().link_is_live("h2", "reset", 161).await.unwrap(), "voided");
        // Known devices: the first touch is news, the second is not.
        assert!(!conn.db().has_known(&user).await.unwrap());
        assert!(!conn.db().touch_known(&user, "device", "d1", 100).await.unwrap());
        assert!(conn.db().touch_known(&user, "device", "d1", 200).await.unwrap());
        assert!(conn.db().has_known(&user).await.unwrap());
    })
    .await;
}
