-- Tamper-evident audit log of security events. Each row carries the hash of
-- the row before it (prev_hash) and its own hash over prev_hash and its
-- fields, so `gatehouse audit verify` finds an edited, inserted or removed
-- row. The table is append-only in the database too: the triggers below
-- refuse every update and delete (someone with raw DB access can drop them,
-- which is what the hash chain is for).
create table audit_log (
    id integer primary key,
    at integer not null,
    actor text not null,
    target text not null,
    action text not null,
    ip text not null,
    request_id text not null,
    detail text not null,
    prev_hash text not null,
    hash text not null
);
create index audit_log_target on audit_log(target, id);

create trigger audit_log_no_update before update on audit_log
begin
    select raise(abort, 'audit_log is append-only');
end;
create trigger audit_log_no_delete before delete on audit_log
begin
    select raise(abort, 'audit_log is append-only');
end;

-- The head of the chain: the last sequence number and hash. Appends update
-- this one row in their transaction, which serializes them (on SQLite the
-- write lock of BEGIN IMMEDIATE does the same).
create table audit_head (
    id integer primary key check (id = 1),
    seq integer not null,
    hash text not null
);
insert into audit_head (id, seq, hash) values (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- Sign-in attempts on existing accounts, shown to their owner on /account.
-- Pruned after 90 days by the hourly sweeper.
create table login_activity (
    id text primary key,
    user_id text not null references users(id) on delete cascade,
    at integer not null,
    ip text not null,
    user_agent text not null,
    outcome text not null,
    method text not null
);
create index login_activity_user on login_activity(user_id, at);
create index login_activity_at on login_activity(at);
