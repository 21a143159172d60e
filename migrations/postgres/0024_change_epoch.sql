-- Marks every change that an in-memory cache may hold: an access token
-- revoked or deleted, a user's claims or block changed or the user deleted,
-- a client changed or deleted. Triggers, not application code, so no write
-- path can forget to (store::changes):
--   * pg_notify tells every instance's LISTEN connection, on commit and in
--     commit order, to empty its caches;
--   * a transaction-local setting tells the instance that made the change,
--     which empties its own caches right after the commit.
-- No counter row: a row every revocation updates would be a lock that
-- concurrent revocations queue on (and could deadlock on with row locks).
-- Statement-level: a bulk revocation marks once.
create function mark_cached_change() returns trigger language plpgsql as $$
begin
    perform set_config('gatehouse.changed', 'y', true);
    perform pg_notify('gatehouse_changes', 'change');
    return null;
end $$;

create trigger access_tokens_revoked_mark after update of revoked_at on access_tokens
    for each statement execute function mark_cached_change();
create trigger access_tokens_deleted_mark after delete on access_tokens
    for each statement execute function mark_cached_change();
create trigger users_changed_mark
    after update of username, email, email_verified, display_name, blocked on users
    for each statement execute function mark_cached_change();
create trigger users_deleted_mark after delete on users
    for each statement execute function mark_cached_change();
create trigger clients_changed_mark after update on clients
    for each statement execute function mark_cached_change();
create trigger clients_deleted_mark after delete on clients
    for each statement execute function mark_cached_change();
