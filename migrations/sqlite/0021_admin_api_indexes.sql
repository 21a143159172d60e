-- Indexes for the JSON API's admin lists (issue 16): the audit log filtered
-- by actor, action or time and paged by sequence number (newest first);
-- the outbox paged by creation time; signing keys by creation time. The
-- target filter has audit_log_target (target, id), the actor filter
-- audit_log_actor (actor, id) from 0020.
create index audit_log_by_action on audit_log(action, id);
create index audit_log_by_at on audit_log(at, id);
create index outbox_by_created on outbox(created_at, id);
create index signing_keys_by_created on signing_keys(created_at, id);
