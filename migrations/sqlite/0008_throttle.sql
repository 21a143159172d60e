-- Brute-force defence (issue 6): rate-limit counters and account lockouts.
-- Both are hit with one atomic upsert, so instances sharing the database
-- never lose a count.

-- A fixed window per (bucket, key) that starts at its first hit and ends at
-- `expires_at`; the next hit after that starts a new window.
create table rate_counters (
    bucket text not null,
    key text not null,
    hits integer not null,
    expires_at integer not null,
    primary key (bucket, key)
);
create index rate_counters_expires on rate_counters(expires_at);

-- Failed sign-ins per subject: `user:<id>` for an account, `name:<sha256>`
-- for a login name that has no account (they lock the same way).
create table lockouts (
    subject text primary key,
    failures integer not null,
    window_start integer not null,
    -- How many times in a row the subject was locked (the delay doubles each time).
    level integer not null default 0,
    locked_until integer not null default 0,
    updated_at integer not null
);
create index lockouts_updated on lockouts(updated_at);
