//! The client credentials grant through `Tokens::grant` (RFC 6749 §4.4), and
//! who may use it (§5.2 `unauthorized_client`).
use super::*;

#[tokio::test]
async fn client_credentials_give_a_confidential_client_a_token_for_itself_rfc_6749_4_4() {
    for w in worlds().await {
        let service = w.client("batch", &["client_credentials"], false).await;

        let tokens = w.grant(&service, TokenRequest::ClientCredentials { scope: None }).await.expect("token");

        assert_eq!((tokens.scope.as_str(), tokens.expires_in), ("profile email api:read", ACCESS_SECS));
        assert!(tokens.id_token.is_none() && tokens.refresh_token.is_none(), "§4.4.3: no refresh token");
        let claims = w.tokens.check_access_token(&tokens.access_token).await.expect("access token");
        assert_eq!((claims["sub"].as_str(), claims["client_id"].as_str()), (Some("batch"), Some("batch")));
        assert_eq!((claims["iat"].as_i64(), claims["exp"].as_i64()), (Some(START), Some(START + ACCESS_SECS)));
        assert!(w.active(&service, &tokens.access_token).await);
    }
}

#[tokio::test]
async fn client_credentials_with_a_scope_the_client_lacks_is_invalid_scope_rfc_6749_5_2() {
    for w in worlds().await {
        let service = w.client("batch", &["client_credentials"], false).await;

        let asked = Some(Scope::words("api:read"));
        let narrow = w.grant(&service, TokenRequest::ClientCredentials { scope: asked }).await.expect("token");
        let bad = Some(Scope::words("api:write"));
        let wider = w.grant(&service, TokenRequest::ClientCredentials { scope: bad }).await;
        let user_only = Some(Scope::words("openid"));
        let openid = w.grant(&service, TokenRequest::ClientCredentials { scope: user_only }).await;

        assert_eq!(narrow.scope, "api:read");
        assert_eq!(refused(wider), ErrorCode::InvalidScope);
        assert_eq!(refused(openid), ErrorCode::InvalidScope);
    }
}

#[tokio::test]
async fn a_client_not_registered_for_a_grant_is_unauthorized_client_rfc_6749_5_2() {
    for w in worlds().await {
        let web = w.client("web", &["authorization_code", "refresh_token"], false).await;
        let service = w.client("batch", &["client_credentials"], false).await;
        let ann = w.user("ann").await;
        let code = w.code(&web, &ann, SCOPE).await;

        let credentials = w.grant(&web, TokenRequest::ClientCredentials { scope: None }).await;
        let redeemed = w.redeem(&service, &code).await;
        let refreshed = w.grant(&service, refresh_request("anything", None)).await;

        assert_eq!(refused(credentials), ErrorCode::UnauthorizedClient);
        assert_eq!(refused(redeemed), ErrorCode::UnauthorizedClient);
        assert_eq!(refused(refreshed), ErrorCode::UnauthorizedClient);
        assert!(w.redeem(&web, &code).await.is_ok(), "the refused attempt did not spend the code");
    }
}
