-- Every audit row carries the user agent beside the address (issue 15).
-- Rows written before this column existed keep NULL, and their hash is
-- computed without it (see security::audit::row_hash), so the chain of an
-- upgraded database still verifies.
alter table audit_log add column user_agent text;
