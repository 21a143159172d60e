-- The audiences (`aud` values of access tokens) for which a client is a
-- resource server: it may introspect other clients' access tokens that name
-- one of them (RFC 7662 §4). A JSON array of strings, like web_origins;
-- empty means the client introspects only its own tokens.
alter table clients add column resource_audiences text not null default '[]';
