-- The console's dashboard counts sign-ins and failed sign-ins per hour over
-- the last 7 days: by action, then time.
create index audit_log_action_at on audit_log(action, at);
