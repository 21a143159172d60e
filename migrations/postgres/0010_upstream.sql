-- Sign-in through upstream identity providers (issue 7).

-- Which upstream accounts belong to which user. The provider's subject is
-- stable per provider; the email is what the provider said at linking time,
-- for display only (never used to match accounts).
create table upstream_identities (
    provider text not null,
    subject text not null,
    user_id text not null references users(id) on delete cascade,
    email text not null default '',
    created_at bigint not null,
    last_used_at bigint not null,
    primary key (provider, subject)
);
create index upstream_identities_user on upstream_identities(user_id);

-- Flows between us and a provider, each bound to one browser by a cookie
-- whose hash is `browser_hash`, and used once:
--   purpose 'start': sent to the provider, waiting for the callback
--     (`secret` holds the state, nonce and PKCE verifier as JSON);
--   purpose 'link': a verified identity whose email matched an existing
--     account, waiting for its owner to sign in and confirm (`secret`
--     holds the identity as JSON).
create table upstream_flows (
    id text primary key,
    purpose text not null,
    -- SHA-256 of the `state` parameter ('start'), or of a fresh token ('link').
    key_hash text not null unique,
    browser_hash text not null,
    provider text not null,
    secret text not null,
    next text not null default '',
    -- Set when a signed-in user started a flow from /account to add a link.
    link_user_id text references users(id) on delete cascade,
    created_at bigint not null,
    expires_at bigint not null
);
create index upstream_flows_expiry on upstream_flows(expires_at);

-- The first factor a second-step challenge continues: 'pwd' or 'fed'.
alter table mfa_challenges add column first_factor text not null default 'pwd';
