-- Token signing keys. The private key is encrypted with the key-encryption key
-- (AES-256-GCM, the kid as associated data); only its ciphertext is stored.
create table signing_keys (
    id text primary key,
    alg text not null,
    state text not null,
    public_jwk text not null,
    private_key text not null,
    created_at bigint not null,
    activated_at bigint,
    retiring_at bigint,
    retired_at bigint
);
-- At most one `next` and one `current` key, whatever instances race to create them.
create unique index signing_keys_one_per_live_state on signing_keys(state) where state in ('next', 'current');
