-- The JSON API's user list pages by (created_at, id) (keyset), and a
-- user's action history reads the audit log by actor as well as by target
-- (audit_log_target exists since 0006).
create index if not exists users_created on users(created_at, id);
create index if not exists audit_log_actor on audit_log(actor, id);
