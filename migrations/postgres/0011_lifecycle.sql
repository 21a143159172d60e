-- Issue 13: revocation that reaches every token.
-- A refresh token granted for `offline_access` outlives the browser session
-- it came from (OIDC Core §11); any other is bound to its session. Tokens
-- issued before this migration were all offline ones.
alter table refresh_tokens add column offline boolean not null default true;
create index refresh_tokens_user_id on refresh_tokens(user_id);
create index access_tokens_user_id on access_tokens(user_id);
create index access_tokens_client_id on access_tokens(client_id);
create index refresh_tokens_client_id on refresh_tokens(client_id);
create index authorization_codes_client_id on authorization_codes(client_id);
create index consents_client_id on consents(client_id);
