-- IP allow/deny rules (issue 6, item 5). scope: global | client | role;
-- subject: the client_id or role ('' for global). Ids are never reused
-- (autoincrement), which the rule cache relies on to notice changes.
create table ip_rules (
    id integer primary key autoincrement,
    action text not null check (action in ('allow', 'deny')),
    cidr text not null,
    scope text not null check (scope in ('global', 'client', 'role')),
    subject text not null default '',
    note text not null default '',
    created_at integer not null
);
