-- Outgoing mail: a durable outbox, written in the same transaction as the
-- change that causes the mail, and sent by a leased worker. The body (text
-- and HTML parts) is sealed with the key-encryption key, because pending
-- messages carry single-use links; it is emptied once the mail is sent.
create table outbox (
    id text primary key,
    message_id text not null unique,
    recipient text not null,
    kind text not null,
    subject text not null,
    body text not null,
    created_at bigint not null,
    attempts bigint not null default 0,
    next_attempt_at bigint not null,
    locked_until bigint not null default 0,
    last_error text,
    sent_at bigint,
    dead_at bigint
);
-- Only unsent rows are ever claimed; sent rows pile up until purged.
create index outbox_due on outbox(next_attempt_at) where sent_at is null and dead_at is null;
create index outbox_recipient on outbox(recipient, kind, created_at);

-- Single-use links sent by mail (confirmation, reset, email change, undo,
-- "this wasn't me"). Only the SHA-256 of the token is stored.
create table mail_links (
    id text primary key,
    token_hash text not null unique,
    user_id text not null references users(id) on delete cascade,
    purpose text not null,
    email text not null default '',
    email_key text not null default '',
    created_at bigint not null,
    expires_at bigint not null,
    used_at bigint
);
create index mail_links_user on mail_links(user_id, purpose);
create index mail_links_email on mail_links(email_key, purpose);

-- Devices (a long-lived cookie) and networks (an IP prefix) a user has signed
-- in from, hashed; a sign-in from neither gets a notice mail.
create table known_devices (
    user_id text not null references users(id) on delete cascade,
    kind text not null,
    value_hash text not null,
    first_seen bigint not null,
    last_seen bigint not null,
    primary key (user_id, kind, value_hash)
);
