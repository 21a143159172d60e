-- Indexes for the janitor's purges (issue 13): each purge finds its rows
-- through one of these instead of scanning the table.
create index authorization_codes_expires on authorization_codes(expires_at);
create index access_tokens_expires on access_tokens(expires_at);
create index refresh_tokens_expires on refresh_tokens(expires_at);
create index refresh_tokens_revoked on refresh_tokens(revoked_at) where revoked_at is not null;
create index mail_links_expires on mail_links(expires_at);
create index mail_links_used on mail_links(used_at) where used_at is not null;
create index known_devices_last_seen on known_devices(last_seen);
create index sessions_expires on sessions(expires_at);
create index sessions_revoked on sessions(revoked_at) where revoked_at is not null;
create index mfa_challenges_expires on mfa_challenges(expires_at);
create index outbox_sent on outbox(sent_at) where sent_at is not null;
