-- One counter that moves whenever something an in-memory cache may hold
-- changes: an access token revoked or deleted, a user's claims or block
-- changed or the user deleted, a client changed or deleted. Every instance
-- reads it a few times a second and empties its caches when it moves
-- (store::changes), so a revocation through any instance, or the CLI, is
-- seen everywhere within a second. Triggers, not application code, move it,
-- so no write path can forget to.
create table change_epoch (
    id integer primary key check (id = 1),
    n integer not null
);
insert into change_epoch (id, n) values (1, 0);

create trigger access_tokens_revoked_epoch after update of revoked_at on access_tokens
begin update change_epoch set n = n + 1 where id = 1; end;
create trigger access_tokens_deleted_epoch after delete on access_tokens
begin update change_epoch set n = n + 1 where id = 1; end;
create trigger users_changed_epoch
    after update of username, email, email_verified, display_name, blocked on users
begin update change_epoch set n = n + 1 where id = 1; end;
create trigger users_deleted_epoch after delete on users
begin update change_epoch set n = n + 1 where id = 1; end;
create trigger clients_changed_epoch after update on clients
begin update change_epoch set n = n + 1 where id = 1; end;
create trigger clients_deleted_epoch after delete on clients
begin update change_epoch set n = n + 1 where id = 1; end;
