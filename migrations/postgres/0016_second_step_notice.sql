-- Issue 14: when the owner was told that a right password was followed by a
-- failed or abandoned second step (one notice per challenge).
alter table mfa_challenges add column notified_at bigint;
-- Challenges from before this migration are never reported.
update mfa_challenges set notified_at = created_at;
