-- Web origins a browser app (CORS) may call /token, /userinfo and /revoke
-- from: a JSON array of "scheme://host[:port]" strings, like redirect_uris.
-- An empty list means: a public client's redirect URI origins; none for a
-- confidential client.
alter table clients add column web_origins text not null default '[]';
