-- OAuth 2.0 grants. Codes and refresh tokens are stored as SHA-256 hashes only.
create table authorization_codes (
    id text primary key,
    code_hash text not null unique,
    client_id text not null,
    user_id text not null references users(id) on delete cascade,
    session_id text,
    redirect_uri text not null,
    scope text not null,
    nonce text,
    code_challenge text,
    auth_time integer not null,
    amr text not null,
    created_at integer not null,
    expires_at integer not null,
    used_at integer
);

-- What each user has allowed each client.
create table consents (
    user_id text not null references users(id) on delete cascade,
    client_id text not null,
    scope text not null,
    updated_at integer not null,
    primary key (user_id, client_id)
);

-- Issued access tokens (JWTs) by jti, so they can be revoked and introspected.
create table access_tokens (
    jti text primary key,
    client_id text not null,
    user_id text,
    session_id text,
    code_id text,
    family_id text,
    scope text not null,
    expires_at integer not null,
    revoked_at integer
);
create index access_tokens_code_id on access_tokens(code_id);
create index access_tokens_family_id on access_tokens(family_id);
create index access_tokens_session_id on access_tokens(session_id);

-- Refresh tokens: rotated on every use; a family is every token descended
-- from one grant, revoked together when an old member is replayed.
create table refresh_tokens (
    id text primary key,
    token_hash text not null unique,
    family_id text not null,
    code_id text,
    client_id text not null,
    user_id text not null references users(id) on delete cascade,
    session_id text,
    scope text not null,
    nonce text,
    auth_time integer not null,
    amr text not null,
    created_at integer not null,
    expires_at integer not null,
    family_expires_at integer not null,
    used_at integer,
    revoked_at integer
);
create index refresh_tokens_family_id on refresh_tokens(family_id);
create index refresh_tokens_code_id on refresh_tokens(code_id);
create index refresh_tokens_session_id on refresh_tokens(session_id);
