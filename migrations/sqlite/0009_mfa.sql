-- Two-factor sign-in. The TOTP secret is sealed with the key-encryption key
-- (it must be readable to check codes, unlike a password). Recovery codes and
-- emailed codes are stored as SHA-256 hashes only.
create table user_mfa (
    user_id text primary key references users(id) on delete cascade,
    -- Set while enrolment waits for its first code, and after.
    totp_secret text,
    totp_confirmed_at integer,
    -- The last time step a code was spent for (RFC 6238 §5.2: no replay).
    totp_last_step integer not null default 0,
    email_enabled_at integer,
    updated_at integer not null
);

create table recovery_codes (
    user_id text not null references users(id) on delete cascade,
    code_hash text not null,
    created_at integer not null,
    used_at integer,
    primary key (user_id, code_hash)
);

-- A sign-in between the password and the second factor (purpose 'mfa'), or
-- between a complete sign-in and the change of an expired password (purpose
-- 'expired'). The browser holds the token in a cookie; the row its hash.
create table mfa_challenges (
    id text primary key,
    purpose text not null default 'mfa',
    token_hash text not null unique,
    user_id text not null references users(id) on delete cascade,
    -- The password hash proved at the first step: the session starts only
    -- while it is still current.
    credential text,
    failures integer not null default 0,
    email_code_hash text,
    email_code_expires_at integer,
    email_tries integer not null default 0,
    emails_sent integer not null default 0,
    created_at integer not null,
    expires_at integer not null,
    used_at integer
);
create index mfa_challenges_user on mfa_challenges(user_id);

-- How each session was authenticated (RFC 8176 values, space-separated).
alter table sessions add column amr text not null default 'pwd';
