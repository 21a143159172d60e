-- Earlier password hashes (argon2 PHC strings), so a user cannot go back to
-- one of their last `password.history` passwords. `seq` counts per user;
-- only the newest rows are kept.
create table password_history (
    user_id text not null references users(id) on delete cascade,
    seq integer not null,
    password_hash text not null,
    created_at integer not null,
    primary key (user_id, seq)
);
