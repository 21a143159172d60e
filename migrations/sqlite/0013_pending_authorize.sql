-- Authorization requests waiting for the user to sign in (issue 13). The
-- browser carries only `id` (as `/authorize?pending=<id>` in `next`), so a
-- request of any size survives sign-in, the second step, an upstream
-- sign-in and the expired-password page. `params` is the request's
-- parameters as a JSON array of [name, value] pairs, validated again when
-- the request resumes.
create table pending_authorize_requests (
    id text primary key,
    client_id text not null,
    params text not null,
    created_at integer not null,
    expires_at integer not null
);
create index pending_authorize_requests_expiry on pending_authorize_requests(expires_at);
