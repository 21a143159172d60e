//! Store tests for two-step state, on both backends.
use super::{add_user, each_backend};
use crate::store::{NewChallenge, new_id};

#[tokio::test]
async fn a_totp_step_is_spent_once_and_only_forward_rfc_6238_5_2() {
    each_backend(async |store| {
        let user = add_user(store, "tina").await;
        let mut conn = store.conn().await.unwrap();
        assert!(conn.db().set_pending_totp(&user, "sealed-1", 1_000).await.unwrap());
        assert!(!conn.db().spend_totp_step(&user, 50, 1_000).await.unwrap(), "not confirmed yet");
        assert!(!conn.db().confirm_totp(&user, "other", 40, 1_000).await.unwrap(), "only the pending secret");
        assert!(conn.db().confirm_totp(&user, "sealed-1", 40, 1_000).await.unwrap());
        assert!(!conn.db().set_pending_totp(&user, "sealed-2", 1_001).await.unwrap(), "a confirmed app stays");
        assert!(conn.db().spend_totp_step(&user, 41, 1_010).await.unwrap());
        assert!(!conn.db().spend_totp_step(&user, 41, 1_011).await.unwrap(), "the same step twice");
        assert!(!conn.db().spend_totp_step(&user, 40, 1_011).await.unwrap(), "an earlier step");
        let row = conn.db().user_mfa(&user).await.unwrap();
        assert_eq!((row.totp_last_step, row.totp_confirmed_at), (41, Some(1_000)));
        conn.db().clear_mfa(&user).await.unwrap();
        assert!(conn.db().user_mfa(&user).await.unwrap().totp_secret.is_none());
    })
    .await;
}

#[tokio::test]
async fn recovery_codes_are_spent_once_and_replaced_whole() {
    each_backend(async |store| {
        let user = add_user(store, "rolf").await;
        let mut conn = store.conn().await.unwrap();
        let hashes = vec!["h1".to_owned(), "h2".to_owned()];
        conn.db().replace_recovery_codes(&user, &hashes, 1_000).await.unwrap();
        assert!(conn.db().spend_recovery_code(&user, "h1", 1_001).await.unwrap());
        assert!(!conn.db().spend_recovery_code(&user, "h1", 1_002).await.unwrap());
        assert_eq!(conn.db().recovery_codes_left(&user).await.unwrap(), 1);
        conn.db().replace_recovery_codes(&user, &["h3".to_owned()], 1_003).await.unwrap();
        assert!(!conn.db().spend_recovery_code(&user, "h2", 1_004).await.unwrap(), "old set is gone");
        assert_eq!(conn.db().recovery_codes_left(&user).await.unwrap(), 1);
    })
    .await;
}

#[tokio::test]
async fn a_challenge_ends_after_its_failures_or_its_use() {
    each_backend(async |store| {
        let user = add_user(store, "carl").await;
        let mut conn = store.conn().await.unwrap();
        let id = new_id();
        let ch = NewChallenge {
            first_factor: "pwd",
            id: &id,
            purpose: "mfa",
            token_hash: "th",
            user_id: &user,
            credential: None,
            now: 1_000,
            expires_at: 1_600,
        };
        conn.db().insert_challenge(&ch).await.unwrap();
        assert!(conn.db().live_challenge("th", "mfa", 1_600).await.unwrap().is_none(), "expired at its end");
        assert!(conn.db().live_challenge("th", "expired", 1_100).await.unwrap().is_none(), "another purpose");
        for n in 1..=4 {
            assert_eq!(conn.db().fail_challenge(&id, n == 2, 5, 1_100).await.unwrap(), n);
        }
        let live = conn.db().live_challenge("th", "mfa", 1_100).await.unwrap().unwrap();
        assert_eq!((live.failures, live.email_tries), (4, 1));
        assert_eq!(conn.db().fail_challenge(&id, false, 5, 1_100).await.unwrap(), 5);
        assert!(conn.db().live_challenge("th", "mfa", 1_100).await.unwrap().is_none(), "spent by the fifth failure");
        assert!(!conn.db().spend_challenge(&id, 1_100).await.unwrap());
        let purge = crate::store::Purge::MfaChallenges { ended_before: 1_601 };
        assert_eq!(conn.db().purge(&purge, 10).await.unwrap(), 1);
    })
    .await;
}

#[tokio::test]
async fn a_challenges_notice_is_claimed_once_and_abandoned_ones_are_found_until_then() {
    each_backend(async |store| {
        let user = add_user(store, "nell").await;
        let mut conn = store.conn().await.unwrap();
        let (abandoned, upstream) = (new_id(), new_id());
        for (id, hash, first_factor) in [(&abandoned, "ta", "pwd"), (&upstream, "tu", "fed")] {
            let ch = NewChallenge {
                first_factor,
                id,
                purpose: "mfa",
                token_hash: hash,
                user_id: &user,
                credential: None,
                now: 1_000,
                expires_at: 1_600,
            };
            conn.db().insert_challenge(&ch).await.unwrap();
        }
        assert!(conn.db().abandoned_challenges(0, 1_599, 10).await.unwrap().is_empty(), "not expired yet");
        let found = conn.db().abandoned_challenges(0, 1_700, 10).await.unwrap();
        let ids: Vec<&str> = found.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, [abandoned.as_str()], "only a step that followed a password");
        assert!(conn.db().abandoned_challenges(1_600, 1_700, 10).await.unwrap().is_empty(), "older than the lookback");
        // Two instances claiming the same notice: one wins.
        assert!(conn.db().claim_challenge_notice(&abandoned, 1_700).await.unwrap());
        assert!(!conn.db().claim_challenge_notice(&abandoned, 1_701).await.unwrap());
        assert!(conn.db().abandoned_challenges(0, 1_800, 10).await.unwrap().is_empty(), "told once");
    })
    .await;
}
