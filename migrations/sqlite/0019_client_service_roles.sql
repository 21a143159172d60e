-- The roles a confidential client's own (client_credentials) tokens carry
-- for the JSON API, as a Keycloak service account has roles: a JSON array of
-- role names, empty for an ordinary relying party.
alter table clients add column service_roles text not null default '[]';
