//! The refresh token grant through `Tokens::grant`: rotation and replay
//! detection (RFC 6749 §6, RFC 9700 §4.14.2), scope narrowing (RFC 6749 §6).
use super::*;

#[tokio::test]
async fn a_refresh_rotates_the_refresh_token_rfc_9700_4_14_2() {
    for w in worlds().await {
        let rp = w.rp().await;
        let ann = w.user("ann").await;
        let first = w.signed_in(&rp, &ann).await;
        let old = first.refresh_token.expect("refresh token");

        w.clock.advance(60);
        let next = w.grant(&rp, refresh_request(&old, None)).await.expect("refreshed");

        let new = next.refresh_token.expect("a new refresh token");
        assert_ne!(new, old);
        assert_eq!(next.scope, SCOPE);
        assert!(next.id_token.is_some(), "openid is still granted");
        assert!(!w.active(&rp, &old).await, "the old token is spent");
        assert!(w.active(&rp, &new).await);
        let claims = w.tokens.check_access_token(&next.access_token).await.expect("new access token");
        assert_eq!((claims["sub"].as_str(), claims["iat"].as_i64()), (Some(ann.as_str()), Some(START + 60)));
    }
}

#[tokio::test]
async fn a_replayed_refresh_token_revokes_its_whole_family_rfc_9700_4_14_2() {
    for w in worlds().await {
        let rp = w.rp().await;
        let ann = w.user("ann").await;
        let first = w.signed_in(&rp, &ann).await;
        let old = first.refresh_token.expect("refresh token");
        let rotated = w.grant(&rp, refresh_request(&old, None)).await.expect("refreshed");
        let new = rotated.refresh_token.expect("rotated refresh token");

        w.clock.advance(5);
        let replay = w.grant(&rp, refresh_request(&old, None)).await;

        assert_eq!(refused(replay), ErrorCode::InvalidGrant);
        let audited = w.audited("refresh_replayed").await;
        assert_eq!(audited.len(), 1, "{audited:?}");
        assert_eq!((audited[0].target.as_str(), audited[0].at), (ann.as_str(), START + 5));
        let detail: serde_json::Value = serde_json::from_str(&audited[0].detail).expect("detail json");
        assert_eq!((detail["client_id"].as_str(), detail["revoked"].as_u64()), (Some("rp"), Some(2)));
        assert!(!w.active(&rp, &new).await, "the newest token of the family is revoked");
        assert!(!w.active(&rp, &rotated.access_token).await, "and the family's access tokens");
        assert!(!w.active(&rp, &first.access_token).await);
        assert_eq!(refused(w.grant(&rp, refresh_request(&new, None)).await), ErrorCode::InvalidGrant);
    }
}

#[tokio::test]
async fn another_clients_refresh_token_is_invalid_grant_and_stays_unspent_rfc_6749_6() {
    for w in worlds().await {
        let rp = w.rp().await;
        let other = w.client("other", &["authorization_code", "refresh_token"], true).await;
        let ann = w.user("ann").await;
        let token = w.signed_in(&rp, &ann).await.refresh_token.expect("refresh token");

        let stolen = w.grant(&other, refresh_request(&token, None)).await;

        assert_eq!(refused(stolen), ErrorCode::InvalidGrant);
        assert!(w.grant(&rp, refresh_request(&token, None)).await.is_ok(), "its own client still refreshes");
    }
}

#[tokio::test]
async fn a_refresh_may_narrow_the_scope_but_not_widen_it_rfc_6749_6() {
    for w in worlds().await {
        let rp = w.rp().await;
        let ann = w.user("ann").await;
        let token = w.signed_in(&rp, &ann).await.refresh_token.expect("refresh token");

        let narrow = w.grant(&rp, refresh_request(&token, Some("email"))).await.expect("narrower scope");
        let kept = narrow.refresh_token.expect("rotated refresh token");
        // The family keeps its full grant: after narrowing, `openid` may still be asked for.
        let again = w.grant(&rp, refresh_request(&kept, Some("openid"))).await.expect("granted scope");
        let last = again.refresh_token.expect("rotated refresh token");
        let wider = w.grant(&rp, refresh_request(&last, Some("openid profile"))).await;

        assert_eq!(narrow.scope, "email");
        assert!(narrow.id_token.is_none(), "no openid, no ID token");
        let claims = w.tokens.check_access_token(&narrow.access_token).await.expect("access token");
        assert_eq!(claims["scope"].as_str(), Some("email"));
        assert_eq!((again.scope.as_str(), again.id_token.is_some()), ("openid", true));
        let Err(GrantError::OAuth(e)) = wider else { panic!("expected invalid_scope") };
        assert_eq!(
            (e.code, e.description.as_deref()),
            (ErrorCode::InvalidScope, Some("scope profile was not granted"))
        );
    }
}
