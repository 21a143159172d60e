//! The authorization code grant through `Tokens::grant` (RFC 6749 §4.1.2,
//! §4.1.3, RFC 7636 §4.6), and the lifetimes the fixed clock gives tokens.
use super::*;
use crate::oauth::tokens::CODE_REFUSED;

#[tokio::test]
async fn a_code_redeems_once_with_its_verifier_and_redirect_uri_rfc_6749_4_1_3_rfc_7636_4_6() {
    for w in worlds().await {
        let rp = w.rp().await;
        let ann = w.user("ann").await;
        let code = w.code(&rp, &ann, SCOPE).await;

        let tokens = w.redeem(&rp, &code).await.expect("tokens");

        assert_eq!((tokens.token_type, tokens.scope.as_str()), ("Bearer", SCOPE));
        assert!(w.active(&rp, &tokens.access_token).await);
        let claims = w.tokens.check_access_token(&tokens.access_token).await.expect("access token");
        assert_eq!((claims["sub"].as_str(), claims["client_id"].as_str()), (Some(ann.as_str()), Some("rp")));
        let id_token = tokens.id_token.as_deref().expect("an ID token for openid");
        assert_eq!(w.tokens.check_id_token_hint(id_token).expect("our ID token"), (ann.clone(), "rp".to_owned()));
        let refresh = tokens.refresh_token.as_deref().expect("a refresh token for offline_access");
        assert!(w.active(&rp, refresh).await);
    }
}

#[tokio::test]
async fn a_code_needs_the_exact_redirect_uri_it_was_issued_for_rfc_6749_4_1_3() {
    for w in worlds().await {
        let rp = w.rp().await;
        let ann = w.user("ann").await;
        let other = w.code(&rp, &ann, SCOPE).await;
        let missing = w.code(&rp, &ann, SCOPE).await;

        let wrong = w.grant(&rp, code_request(&other, Some("https://rp.example/cb2"), Some(VERIFIER))).await;
        let none = w.grant(&rp, code_request(&missing, None, Some(VERIFIER))).await;

        assert_eq!(refused(wrong), ErrorCode::InvalidGrant);
        assert_eq!(refused(none), ErrorCode::InvalidGrant);
    }
}

#[tokio::test]
async fn a_code_past_its_short_lifetime_is_invalid_grant_rfc_6749_4_1_2() {
    for w in worlds().await {
        let rp = w.rp().await;
        let ann = w.user("ann").await;
        let code = w.code(&rp, &ann, SCOPE).await;

        w.clock.advance(CODE_SECS);
        let late = w.redeem(&rp, &code).await;

        let Err(GrantError::OAuth(e)) = late else { panic!("expected invalid_grant") };
        assert_eq!((e.code, e.description.as_deref()), (ErrorCode::InvalidGrant, Some(CODE_REFUSED)));
    }
}

#[tokio::test]
async fn a_code_just_inside_its_lifetime_still_redeems_rfc_6749_4_1_2() {
    for w in worlds().await {
        let rp = w.rp().await;
        let ann = w.user("ann").await;
        let code = w.code(&rp, &ann, SCOPE).await;

        w.clock.advance(CODE_SECS - 1);

        assert!(w.redeem(&rp, &code).await.is_ok());
    }
}

#[tokio::test]
async fn a_replayed_code_is_invalid_grant_and_revokes_its_tokens_rfc_6749_4_1_2() {
    for w in worlds().await {
        let rp = w.rp().await;
        let ann = w.user("ann").await;
        let code = w.code(&rp, &ann, SCOPE).await;
        let first = w.redeem(&rp, &code).await.expect("first redemption");
        let refresh = first.refresh_token.clone().expect("refresh token");

        w.clock.advance(5);
        let replay = w.redeem(&rp, &code).await;

        assert_eq!(refused(replay), ErrorCode::InvalidGrant);
        assert!(!w.active(&rp, &first.access_token).await, "the access token the code gave is revoked");
        assert!(!w.active(&rp, &refresh).await, "the refresh family the code started is revoked");
        assert_eq!(refused(w.grant(&rp, refresh_request(&refresh, None)).await), ErrorCode::InvalidGrant);
        let audited = w.audited("code_replayed").await;
        assert_eq!(audited.len(), 1, "{audited:?}");
        assert_eq!((audited[0].target.as_str(), audited[0].at), (ann.as_str(), START + 5));
        assert_eq!((audited[0].ip.as_str(), audited[0].request_id.as_str()), ("203.0.113.7", "req-1"));
        let detail: serde_json::Value = serde_json::from_str(&audited[0].detail).expect("detail json");
        assert_eq!((detail["client_id"].as_str(), detail["revoked"].as_u64()), (Some("rp"), Some(2)));
    }
}

#[tokio::test]
async fn a_wrong_or_missing_verifier_is_invalid_grant_rfc_7636_4_6() {
    for w in worlds().await {
        let rp = w.rp().await;
        let ann = w.user("ann").await;
        let wrong_code = w.code(&rp, &ann, SCOPE).await;
        let bare_code = w.code(&rp, &ann, SCOPE).await;
        let another_verifier = "x".repeat(43);

        let wrong = w.grant(&rp, code_request(&wrong_code, Some(CB), Some(&another_verifier))).await;
        let missing = w.grant(&rp, code_request(&bare_code, Some(CB), None)).await;
        let retried = w.redeem(&rp, &wrong_code).await;

        assert_eq!(refused(wrong), ErrorCode::InvalidGrant);
        assert_eq!(refused(missing), ErrorCode::InvalidGrant);
        assert_eq!(refused(retried), ErrorCode::InvalidGrant, "a refused code stays spent: no second guess");
    }
}

#[tokio::test]
async fn a_code_issued_to_another_client_is_invalid_grant_rfc_6749_4_1_3() {
    for w in worlds().await {
        let rp = w.rp().await;
        let other = w.client("other", &["authorization_code"], true).await;
        let ann = w.user("ann").await;
        let code = w.code(&rp, &ann, SCOPE).await;

        assert_eq!(refused(w.redeem(&other, &code).await), ErrorCode::InvalidGrant);
    }
}

#[tokio::test]
async fn an_access_token_expires_its_lifetime_after_the_fixed_clock_rfc_9068_2_2() {
    for w in worlds().await {
        let rp = w.rp().await;
        let ann = w.user("ann").await;
        w.clock.advance(1_000);
        let issued_at = START + 1_000;

        let tokens = w.signed_in(&rp, &ann).await;

        assert_eq!(tokens.expires_in, ACCESS_SECS);
        let claims = w.tokens.check_access_token(&tokens.access_token).await.expect("live access token");
        assert_eq!((claims["iat"].as_i64(), claims["exp"].as_i64()), (Some(issued_at), Some(issued_at + ACCESS_SECS)));
        w.clock.advance(ACCESS_SECS - 1);
        assert!(w.active(&rp, &tokens.access_token).await, "live until exp");
        w.clock.advance(1);
        assert!(!w.active(&rp, &tokens.access_token).await, "dead at exp");
        let check = w.tokens.check_access_token(&tokens.access_token).await;
        assert!(matches!(check, Err(GrantError::OAuth(ref e)) if e.code == ErrorCode::InvalidToken), "{check:?}");
    }
}
